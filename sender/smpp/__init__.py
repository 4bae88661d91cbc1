"""SMPP 3.4: the PDU codec, command and error codes, the framed stream, binds and the bind check."""
