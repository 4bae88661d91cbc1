"""`herald export`: a campaign run's per-recipient results, as CSV or Parquet, to a file,
a PVC path or an S3-compatible URL (sender.export.process)."""
