"""`herald links`: the short-link redirect server of tracked links (sender.sms.links)."""
