"""Replies (MO messages): whose number they come from, and whether they opt out or in.

Pure. The source address of a deliver_sm is written as the SMSC likes: international
digits (TON 1), national digits (TON 2, `13800138000`), `+` or `00` prefixed, or digits
with TON 0 that may be either. A reply must land on the same E.164 number the campaign
sent to, or a STOP never matches the recipient; so the number is read with its TON and
the channel's default region, by phonenumbers where it is not plainly international.

Opting out is always on (TD, 退订, STOP and the other keywords of OPT_OUT_KEYWORDS);
opting back in by reply only where the Channel lists keywords for it (optIn.keywords).
What a keyword is answered with (spec.keywordReplies) is `KeywordAnswers`: HELP and the
business's own keywords by their folded text, the opt-out and opt-in confirmations by
the kind of reply.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from crds.channel import KEYWORD_MAX, KeywordReplies
from crds.channel import OPT_OUT_KEYWORDS as _OPT_OUT_KEYWORDS

OPT_OUT_KEYWORDS = frozenset(_OPT_OUT_KEYWORDS)
"""As the API lists them (crds.channel), where the schema refuses a keyword that is one."""
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
    answered: bool = False
    """The channel answers keyword replies (spec.keywordReplies): replies are passed on
    to its receiver; else none is kept (a reply's number and text stay out of Redis)."""

    @classmethod
    def of(cls, default_region: str, opt_in_keywords: list[str], answered: bool = False
           ) -> ReplyRules:
        return cls(default_region, frozenset(fold(k) for k in opt_in_keywords), answered)


@dataclass(frozen=True)
class Reply:
    number: str | None
    """E.164, or None when the source is no phone number (an alphanumeric sender)."""
    kind: ReplyKind
    keyword: str
    """The reply's text, folded, when it is a keyword; else empty."""
    text: str = ""
    """The reply's text, folded, when it is short enough to be a keyword of any kind
    (KEYWORD_MAX); else empty: nothing to answer."""


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
        return Reply(number, ReplyKind.OPT_OUT, folded, folded)
    if folded in rules.opt_in_keywords:
        return Reply(number, ReplyKind.OPT_IN, folded, folded)
    return Reply(number, ReplyKind.OTHER, "", folded if 0 < len(folded) <= KEYWORD_MAX else "")


@dataclass(frozen=True)
class Answer:
    """What a keyword reply is answered with."""

    text: str
    label: str = ""
    """Recorded on the number (a custom keyword's label); empty: none."""


@dataclass(frozen=True)
class KeywordAnswers:
    """A channel's answers to keywords (spec.keywordReplies), by folded keyword."""

    by_keyword: dict[str, Answer]
    """HELP's keywords and the custom ones."""
    opt_out: str = ""
    """The opt-out confirmation; empty: none."""
    opt_in: str = ""
    """The opt-in confirmation; empty: none."""

    @classmethod
    def of(cls, replies: KeywordReplies | None) -> KeywordAnswers:
        if replies is None:
            return cls({})
        answers: dict[str, Answer] = {}
        # setdefault: of two keywords that fold alike (refused, and reported by the
        # KeywordReplies condition), the first listed answers, HELP's before custom.
        if replies.help is not None:
            for keyword in replies.help.keywords:
                answers.setdefault(fold(keyword), Answer(replies.help.reply))
        for custom in replies.custom:
            answers.setdefault(fold(custom.keyword), Answer(custom.reply, custom.label))
        return cls(answers, replies.opt_out_reply, replies.opt_in_reply)

    def answer(self, kind: ReplyKind, text: str) -> Answer | None:
        """The answer to a reply of `kind` whose folded text is `text`; None: none."""
        if kind == ReplyKind.OPT_OUT:
            return Answer(self.opt_out) if self.opt_out else None
        if kind == ReplyKind.OPT_IN:
            return Answer(self.opt_in) if self.opt_in else None
        return self.by_keyword.get(text)


def keyword_collisions(replies: KeywordReplies | None, opt_in_keywords: list[str]
                       ) -> list[str]:
    """Keywords of a channel that read the same once folded, as the replies are read:
    each a message naming where it is defined. The schema refuses plain duplicates (in
    any ASCII case); this also finds full-width forms, punctuation and an opt-out
    keyword spelled another way (ＳＴＯＰ, "help!")."""
    places: list[tuple[str, str]] = [(k, "optIn.keywords") for k in opt_in_keywords]
    if replies is not None:
        if replies.help is not None:
            places += [(k, "keywordReplies.help.keywords") for k in replies.help.keywords]
        places += [(c.keyword, "keywordReplies.custom") for c in replies.custom]
    seen: dict[str, tuple[str, str]] = {}
    problems = []
    for keyword, place in places:
        folded = fold(keyword)
        if not folded:
            problems.append(f"{keyword!r} ({place}) is no keyword: nothing is left once"
                            " case, width and punctuation are folded")
        elif folded in OPT_OUT_KEYWORDS:
            problems.append(f"{keyword!r} ({place}) reads as the opt-out keyword"
                            f" {folded!r}, which always opts out")
        elif folded in seen:
            first, where = seen[folded]
            problems.append(f"{keyword!r} ({place}) reads as {first!r} ({where})")
        else:
            seen[folded] = (keyword, place)
    return problems


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
