"""Replies (MO messages): whose number they come from, and whether they opt out or in.

Pure. The source address of a deliver_sm is written as the SMSC likes: international
digits (TON 1), national digits (TON 2, `13800138000`), `+` or `00` prefixed, or digits
with TON 0 that may be either. A reply must land on the same E.164 number the campaign
sent to, or a STOP never matches the recipient; so the number is read with its TON and
the channel's default region, by phonenumbers where it is not plainly international.

Opting out is always on (TD, 退订, STOP and the other keywords of OPT_OUT_KEYWORDS);
opting back in by reply only where the Channel lists keywords for it (optIn.keywords).
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

OPT_OUT_KEYWORDS = frozenset({
    "td", "t", "退订", "退定", "tuiding",
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout",
})  # fmt: skip
_STRIP = string.punctuation + "。，！？、；：“”‘’（）【】《》 \t\r\n\u3000"
_SEPARATORS = str.maketrans("", "", " -.()/\u00a0")

TON_INTERNATIONAL, TON_NATIONAL = 1, 2


class ReplyKind(StrEnum):
    OPT_OUT = "OptOut"
    OPT_IN = "OptIn"
    OTHER = "Other"


@dataclass(frozen=True)
class ReplyRules:
    """What a channel makes of replies."""

    default_region: str = ""
    """ISO 3166 alpha-2 region for source numbers in national format."""
    opt_in_keywords: frozenset[str] = frozenset()
    """Folded keywords that opt a number back in; empty: replies cannot opt in."""

    @classmethod
    def of(cls, default_region: str, opt_in_keywords: list[str]) -> ReplyRules:
        return cls(default_region, frozenset(fold(k) for k in opt_in_keywords))


@dataclass(frozen=True)
class Reply:
    number: str | None
    """E.164, or None when the source is no phone number (an alphanumeric sender)."""
    kind: ReplyKind
    keyword: str
    """The reply's text, folded, when it is a keyword; else empty."""


def fold(text: str) -> str:
    """Text as keywords compare: NFKC (full-width to ASCII), case-folded, trimmed."""
    return unicodedata.normalize("NFKC", text).casefold().strip(_STRIP)


def is_opt_out(text: str) -> bool:
    """Whether a reply asks to stop messages: TD, T, 退订, STOP, ... in any case or width."""
    return fold(text) in OPT_OUT_KEYWORDS


def reply_text(payload: bytes, data_coding: int) -> str:
    """A reply's text: UCS-2 when data_coding says 8, else the bytes as Latin-1 (the
    SMSC's GSM-7, unpacked, reads the same for the ASCII of the keywords)."""
    if data_coding == 8:
        return payload.decode("utf-16-be", "replace")
    return payload.decode("latin-1")


def read_reply(source_addr: str, ton: int, text: str, rules: ReplyRules) -> Reply:
    """Who replied and what the reply asks for."""
    number = mo_number(source_addr, ton, rules.default_region)
    folded = fold(text)
    if folded in OPT_OUT_KEYWORDS:
        return Reply(number, ReplyKind.OPT_OUT, folded)
    if folded in rules.opt_in_keywords:
        return Reply(number, ReplyKind.OPT_IN, folded)
    return Reply(number, ReplyKind.OTHER, "")


def mo_number(source_addr: str, ton: int, default_region: str = "") -> str | None:
    """The E.164 number of a reply's source address, or None when it is not a number
    (or is national with no region to read it in).

    International (TON 1, a `+` or an `00` prefix) is taken as it is written. National
    (TON 2) and unknown (TON 0) are read by phonenumbers in the default region, which
    also recognises the region's own country code written without `+` (`8613800138000`
    in CN); an unknown-TON number the region does not make valid is taken as
    international digits.
    """
    digits = source_addr.strip().translate(_SEPARATORS)
    international = ton == TON_INTERNATIONAL or digits.startswith("+")
    if digits.startswith("00") and ton != TON_NATIONAL:
        digits, international = digits[2:], True
    digits = digits.removeprefix("+")
    if not digits.isdigit() or not digits.isascii():
        return None
    if international:
        return "+" + digits
    if not default_region:  # national digits need a region; unknown ones are most often
        return None if ton == TON_NATIONAL else "+" + digits  # international in practice
    try:
        number = phonenumbers.parse(digits, default_region)
    except phonenumbers.NumberParseException:
        return None if ton == TON_NATIONAL else "+" + digits
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if ton == TON_NATIONAL or phonenumbers.is_valid_number(number):
        return e164  # national is national, valid or not (a test range, a new prefix)
    return "+" + digits
