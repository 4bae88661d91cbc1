"""An SMS text as the short_message payloads of its submit_sm PDUs.

One place for what campaign messages (sender.send.messages) and keyword answers
(sender.receive.answers, another process) both need: the alphabet each channel coding
sends text in, the data_coding of each alphabet, and the split into concatenated parts
with their user data headers. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from crds.channel import Gsm7Coding
from sender.sms import text as sms_text

ALPHABET = {Gsm7Coding.SMSC_DEFAULT: sms_text.Encoding.GSM7, Gsm7Coding.IA5: sms_text.Encoding.IA5,
            Gsm7Coding.LATIN1: sms_text.Encoding.LATIN1}
"""The alphabet each channel coding sends text in (UCS-2 when the text needs more)."""
CODINGS: dict[sms_text.Encoding, tuple[Callable[[str], bytes], int, int | None]] = {
    sms_text.Encoding.GSM7: (sms_text.encode_gsm7_unpacked, 0x00, 0x10),
    sms_text.Encoding.IA5: (sms_text.encode_ia5, 0x01, None),
    sms_text.Encoding.LATIN1: (sms_text.encode_latin1, 0x03, None),
    sms_text.Encoding.UCS2: (sms_text.encode_ucs2, 0x08, 0x18),
}
"""Encoder, data_coding, and data_coding of a class-0 (flash) message where one exists
(GSM 03.38 section 4: 0x1X, alphabet in bits 3-2, class in bits 1-0)."""


_GSM7 = sms_text.Encoding.GSM7  # enum attribute lookups are slow in 3.11


class Payloads(NamedTuple):  # a tuple: built once per message, on the hot path
    parts: list[bytes]
    """One short_message per PDU, each concatenated part with its UDH."""
    data_coding: int
    flash_coding: int | None
    """The data_coding of the same alphabet as a class-0 message; None: there is none."""

    @property
    def concatenated(self) -> bool:
        """Whether the parts carry a UDH (esm_class UDHI)."""
        return len(self.parts) > 1


def payloads(text: str, alphabet: sms_text.Encoding, reference: int) -> Payloads:
    """`text` in `alphabet` (UCS-2 when it needs more), split into its parts, which
    carry `reference` (modulo 256) as their concatenation reference when there are
    several."""
    if alphabet == _GSM7:
        septets = sms_text.basic_ascii_septets(text)
        if septets is not None:  # the common case, a third of the time of the rest
            return Payloads([septets], *CODINGS[_GSM7][1:])
    encoding = sms_text.detect_encoding(text, alphabet)
    encode, data_coding, flash_coding = CODINGS[encoding]
    parts = [encode(part) for part in sms_text.split_segments(text, encoding)]
    if len(parts) > 1:
        parts = sms_text.encode_udh_parts(parts, reference % 256)
    return Payloads(parts, data_coding, flash_coding)
