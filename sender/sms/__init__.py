"""SMS rules without I/O: GSM-7/UCS-2 text and segments, phone numbers, receipts and
replies, message states."""
