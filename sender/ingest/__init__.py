"""`herald ingest`: the HTTP API taking events of trigger Api campaigns."""
