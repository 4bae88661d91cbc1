"""The sender pod's process: one shard of a campaign, Redis in, SMPP out."""
