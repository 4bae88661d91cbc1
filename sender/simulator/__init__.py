"""The SMPP 3.4 simulator: an SMSC for tests, demos and anyone testing an SMPP client."""
