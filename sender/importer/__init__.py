"""The importer pod's process: read the audience, clean it, shard it into Redis."""
