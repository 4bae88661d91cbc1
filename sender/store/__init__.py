"""The Redis store: every key, the client, the scripts, and each thing Herald keeps in Redis.

Processes and the operator call the store; nothing else builds a key or a client.
"""
