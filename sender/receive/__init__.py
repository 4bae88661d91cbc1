"""The channel receiver's process: late receipts and replies on a receiver bind."""
