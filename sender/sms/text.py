"""SMS text rules: the GSM 03.38 alphabet, segment counting and splitting, template variables.

One SMS carries 140 bytes of user data. In the GSM 7-bit default alphabet (3GPP TS 23.038)
that is 160 septets; the extension table's characters (^ { } \\ [ ~ ] | € and form feed)
are sent as ESC + code and cost two septets. Any other character forces UCS-2 (UTF-16-BE):
70 code units, and a character outside the BMP (most emoji) is a surrogate pair of two.
A longer message goes out as concatenated parts, each led by a 6-byte user data header
(UDH), which leaves 153 septets or 67 units per part. A part never ends inside an escape
pair or a surrogate pair, so a part may hold only 152 septets or 66 units; that is why
segments are counted by splitting, not by dividing, whenever such pairs occur. National
language shift tables (Turkish, Portuguese, Indian scripts) are not used: few carriers do.

Used by the template reviewer (controllers) and the SMPP sender, so: standard library only.
"""

import codecs
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

ESCAPE = 0x1B
"""Septet that switches the next septet to the extension table."""

# Index == septet code. 0x1B is the escape, not a character; it is kept in the string
# (as U+001B) only so that indexes line up, and excluded from GSM7_BASIC below.
GSM7_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00: 0x09 is capital Ç; small ç is not in the alphabet
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10: Greek capitals (U+0394...), not look-alikes such as Ω U+2126
    " !\"#¤%&'()*+,-./"  # 0x20: 0x24 is ¤, not $ (which is 0x02)
    "0123456789:;<=>?"  # 0x30
    "¡ABCDEFGHIJKLMNO"  # 0x40: ¡ where ASCII has @
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50
    "¿abcdefghijklmno"  # 0x60: ¿ where ASCII has a backtick, so ` forces UCS-2
    "pqrstuvwxyzäöñüà"  # 0x70
)
GSM7_EXTENSION_TABLE: Mapping[str, int] = MappingProxyType(
    {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
     "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
)  # fmt: skip
"""Characters sent as ESC + code: two septets each."""

GSM7_BASIC: frozenset[str] = frozenset(GSM7_BASIC_TABLE) - {chr(ESCAPE)}
GSM7_EXTENSION: frozenset[str] = frozenset(GSM7_EXTENSION_TABLE)
_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION

# ASCII text, the common case, is checked as bytes: bytes.translate deletes a set of bytes
# in C, several times faster than scanning the str with a frozenset or a regex.
_ASCII_GSM7_BASIC = bytes(sorted(ord(c) for c in GSM7_BASIC if c.isascii()))
_ASCII_GSM7_EXTENSION = bytes(sorted(ord(c) for c in GSM7_EXTENSION if c.isascii()))

# Other text is turned into a "form" by a C charmap codec: one byte per character, basic
# code c as byte c + 1 and extension code c as byte 0x80 | c (so every byte above 0x80 is an
# extension character). The + 1 is there because codecs.charmap_build only builds its fast
# map when byte 0 decodes to U+0000; a form holding byte 0 came from U+0000, not GSM-7.
_FORM_BYTE = {c: code + 1 for code, c in enumerate(GSM7_BASIC_TABLE) if code != ESCAPE} | {
    c: 0x80 | code for c, code in GSM7_EXTENSION_TABLE.items()
}
_FORM_CHAR = {byte: c for c, byte in _FORM_BYTE.items()} | {0: "\x00"}
_GSM7_FORM_MAP = codecs.charmap_build(
    "".join(_FORM_CHAR.get(byte, "\ufffe") for byte in range(256))  # U+FFFE: byte unused
)
_FORM_NOT_EXTENSION = bytes(range(0x81))
_FORM_TO_SEPTETS = bytes(byte - 1 if 0 < byte <= 0x80 else byte for byte in range(256))
_FORM_ESCAPES = {0x80 | code: bytes((ESCAPE, code)) for code in GSM7_EXTENSION_TABLE.values()}
# The commonest message of all, ASCII of the basic table in one segment, goes from str to
# septets in three C calls (basic_ascii_septets); other bytes are never looked up.
_ASCII_TO_SEPTETS = bytes(GSM7_BASIC_TABLE.index(chr(byte)) if chr(byte) in GSM7_BASIC else 0
                          for byte in range(256))


class Encoding(StrEnum):
    """Values equal crds.template.Encoding's, so status fields take them as they are.

    GSM7, IA5 and LATIN1 are the alphabets a channel may send in (its gsm7Coding);
    text with a character its alphabet lacks goes as UCS2.
    """

    GSM7 = "GSM7"
    UCS2 = "UCS2"
    IA5 = "IA5"
    """ASCII octets (SMPP data_coding 1). The SMSC sends them on as GSM-7, so limits and
    the double cost of the extension characters are GSM-7's."""
    LATIN1 = "Latin1"
    """ISO-8859-1 octets (data_coding 3): 140 per SMS, 134 per concatenated part."""


_GSM7, _UCS2 = Encoding.GSM7, Encoding.UCS2  # enum attribute lookups are slow in 3.11
_IA5, _LATIN1 = Encoding.IA5, Encoding.LATIN1
ALPHABETS = (_GSM7, _IA5, _LATIN1)
SINGLE_SEGMENT_UNITS: Mapping[Encoding, int] = MappingProxyType(
    {_GSM7: 160, _UCS2: 70, _IA5: 160, _LATIN1: 140})
MULTI_SEGMENT_UNITS: Mapping[Encoding, int] = MappingProxyType(
    {_GSM7: 153, _UCS2: 67, _IA5: 153, _LATIN1: 134}
)  # 140 bytes less the 6-byte concatenation UDH


def _gsm7_form(text: str) -> bytes | None:
    """Text as form bytes (see _FORM_BYTE), or None if a character is not GSM-7."""
    form = codecs.charmap_encode(text, "ignore", _GSM7_FORM_MAP)[0]
    return form if len(form) == len(text) and 0 not in form else None


def _not_gsm7(text: str) -> ValueError:
    bad = next(c for c in text if c not in _GSM7_ALL)
    return ValueError(f"{bad!r} (U+{ord(bad):04X}) is not in the GSM 03.38 alphabet")


def _gsm7_extension_count(text: str) -> int | None:
    """Number of extension characters in text, or None if text is not all GSM-7."""
    if text.isascii():  # O(1) in CPython: the string knows it is ASCII
        rest = text.encode("ascii").translate(None, _ASCII_GSM7_BASIC)
        if not rest:
            return 0
        return None if rest.translate(None, _ASCII_GSM7_EXTENSION) else len(rest)
    if not _GSM7_ALL.issuperset(text[:16]):  # UCS-2 text usually shows it early: skip the codec
        return None
    form = _gsm7_form(text)
    return None if form is None else len(form.translate(None, _FORM_NOT_EXTENSION))


def _extension_count(text: str) -> int:
    count = _gsm7_extension_count(text)
    if count is None:
        raise _not_gsm7(text)
    return count


def _surrogate_pair_count(text: str) -> int:
    """Characters outside the BMP, which UTF-16 sends as two units."""
    if text.isascii():
        return 0
    # "utf-16" (with its 2-byte BOM) takes a C fast path that "utf-16-be" does not;
    # surrogatepass lets a stray lone surrogate count as the one unit it would be.
    return len(text.encode("utf-16", "surrogatepass")) // 2 - 1 - len(text)


def _ia5_pair_count(text: str) -> int:
    """ASCII characters of the GSM-7 extension table, which cost two septets on the air."""
    if not text.isascii():
        bad = next(c for c in text if not c.isascii())
        raise ValueError(f"{bad!r} (U+{ord(bad):04X}) is not in IA5 (ASCII)")
    octets = text.encode("ascii")
    return len(octets) - len(octets.translate(None, _ASCII_GSM7_EXTENSION))


def _pair_count(text: str, encoding: Encoding) -> int:
    """Characters that cost two units: extension characters or astral characters."""
    if encoding == _GSM7:
        return _extension_count(text)
    if encoding == _UCS2:
        return _surrogate_pair_count(text)
    if encoding == _IA5:
        return _ia5_pair_count(text)
    text.encode("latin-1")  # raises UnicodeEncodeError (a ValueError) if it cannot carry it
    return 0


def carries(text: str, alphabet: Encoding) -> bool:
    """Whether every character of text is in the alphabet (UCS2 carries everything)."""
    if alphabet == _GSM7:
        return _gsm7_extension_count(text) is not None
    if alphabet == _IA5:
        return text.isascii()
    if alphabet == _LATIN1:
        return max(text, default="\0") <= "\xff"
    return True


def detect_encoding(text: str, alphabet: Encoding = _GSM7) -> Encoding:
    """The alphabet (GSM7 by default) if it carries every character of text, else UCS2."""
    if alphabet == _GSM7:  # the hot path, as it was
        return _UCS2 if _gsm7_extension_count(text) is None else _GSM7
    return alphabet if carries(text, alphabet) else _UCS2


def uncarried(text: str, alphabet: Encoding) -> str:
    """The characters of text the alphabet lacks, each once, in order of appearance."""
    return "".join(dict.fromkeys(c for c in text if not carries(c, alphabet)))


def encoded_length(text: str, encoding: Encoding) -> int:
    """Septets (extension characters count 2) or UTF-16 code units (astral count 2).

    Raises ValueError for GSM7 when text has a character outside the alphabet.
    """
    return len(text) + _pair_count(text, encoding)


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    characters: int
    """Code points, as the user sees them (an emoji is 1)."""
    units: int
    """Septets (GSM7) or UTF-16 code units (UCS2) of the whole text."""
    segments: int
    """Concatenated-SMS parts: what the carrier bills and the rate limiter charges."""
    units_per_segment: int
    """160/70 for a single segment; 153/67 once the UDH is needed (a part may hold one less)."""


# A frozen dataclass costs ~0.8 us to build; its values repeat across messages and it is
# immutable, so sharing cached instances is safe and ~6x cheaper.
_segment_count = lru_cache(maxsize=4096)(SegmentCount)


def _measure(text: str, encoding: Encoding | None) -> tuple[Encoding, int]:
    """The encoding (detected unless given) and the number of characters costing 2 units."""
    if encoding is not None:
        return encoding, _pair_count(text, encoding)
    return _measure_gsm7(text)


def _measure_gsm7(text: str) -> tuple[Encoding, int]:
    extensions = _gsm7_extension_count(text)
    if extensions is None:
        return _UCS2, _surrogate_pair_count(text)
    return _GSM7, extensions


def count_segments(text: str, encoding: Encoding | None = None) -> SegmentCount:
    """Encoding, length and segments of text; encoding forces one (GSM7 may raise ValueError).

    Empty text is 1 segment: a submit_sm with an empty short_message is still sent, billed
    and rate limited as one message. Rejecting empty bodies is the template reviewer's job.
    """
    encoding, pairs = _measure(text, encoding)
    units = len(text) + pairs
    single = SINGLE_SEGMENT_UNITS[encoding]
    if units <= single:
        return _segment_count(encoding, len(text), units, 1, single)
    per_part = MULTI_SEGMENT_UNITS[encoding]
    # A pair may not fit at the end of a part: then only splitting gives the exact count.
    segments = len(_part_ends(text, encoding, per_part)) if pairs else -(-units // per_part)
    return _segment_count(encoding, len(text), units, segments, per_part)


def split_segments(text: str, encoding: Encoding | None = None) -> list[str]:
    """The parts of text, one per segment; "".join(parts) == text.

    An escape pair or surrogate pair never straddles two parts. Single-segment text
    (including "") is returned as one part. Forcing GSM7 on non-GSM text raises ValueError.
    """
    encoding, pairs = _measure(text, encoding)
    if len(text) + pairs <= SINGLE_SEGMENT_UNITS[encoding]:
        return [text]
    per_part = MULTI_SEGMENT_UNITS[encoding]
    if not pairs:
        return [text[start : start + per_part] for start in range(0, len(text), per_part)]
    ends = _part_ends(text, encoding, per_part)
    return [text[start:end] for start, end in zip([0, *ends], ends, strict=False)]


def _part_ends(text: str, encoding: Encoding, limit: int) -> list[int]:
    """End index of each part, each as long as fits in limit units: greedy is fewest parts."""
    if encoding == _GSM7:
        form = _gsm7_form(text)
        if form is None:
            raise _not_gsm7(text)

        def pairs_in(start: int, end: int) -> int:
            return len(form[start:end].translate(None, _FORM_NOT_EXTENSION))
    elif encoding == _IA5:

        def pairs_in(start: int, end: int) -> int:
            return _ia5_pair_count(text[start:end])
    elif encoding == _LATIN1:

        def pairs_in(start: int, end: int) -> int:
            return 0
    else:

        def pairs_in(start: int, end: int) -> int:
            return _surrogate_pair_count(text[start:end])

    ends: list[int] = []
    start = 0
    while start < len(text):
        end = min(start + limit, len(text))
        excess = end - start + pairs_in(start, end) - limit
        while excess > 0:
            # Dropping k characters frees between k and 2k units, so the longest prefix that
            # fits is at least ceil(excess / 2) shorter: jump that far, not one at a time.
            end -= (excess + 1) // 2
            excess = end - start + pairs_in(start, end) - limit
        ends.append(end)
        start = end
    return ends


def encode_udh_parts(parts: Sequence[bytes], reference: int) -> list[bytes]:
    """Prefix each encoded part with the concatenation UDH: 05 00 03 ref total seq.

    IEI 0x00 (8-bit reference) keeps the header at 6 bytes, which the 153/67 limits assume.
    Part sizes are not checked: with unpacked GSM-7 the SMSC packs septets after us.
    """
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"concatenation reference {reference} is outside 0..255")
    if not 1 <= len(parts) <= 0xFF:
        raise ValueError(f"a concatenated SMS has 1..255 parts, not {len(parts)}")
    total = len(parts)
    return [bytes((5, 0, 3, reference, total, seq)) + part for seq, part in enumerate(parts, 1)]


def basic_ascii_septets(text: str) -> bytes | None:
    """encode_gsm7_unpacked(text) when text is one GSM-7 segment of ASCII characters of
    the basic table (no escapes, no split: what most campaign messages are); else None."""
    if len(text) > 160 or not text.isascii():
        return None
    octets = text.encode("ascii")
    if octets.translate(None, _ASCII_GSM7_BASIC):
        return None
    return octets.translate(_ASCII_TO_SEPTETS)


def encode_gsm7_unpacked(text: str) -> bytes:
    """One septet per byte (SMPP data_coding 0); extension characters as 0x1B + code."""
    form = _gsm7_form(text)
    if form is None:
        raise _not_gsm7(text)
    septets = form.translate(_FORM_TO_SEPTETS)  # extension bytes are left as they are
    for form_byte in set(form.translate(None, _FORM_NOT_EXTENSION)):
        septets = septets.replace(bytes((form_byte,)), _FORM_ESCAPES[form_byte])
    return septets


def encode_ia5(text: str) -> bytes:
    """ASCII octets (SMPP data_coding 1). Raises UnicodeEncodeError outside ASCII."""
    return text.encode("ascii")


def encode_latin1(text: str) -> bytes:
    """ISO-8859-1 octets (SMPP data_coding 3). Raises UnicodeEncodeError outside it."""
    return text.encode("latin-1")


def encode_ucs2(text: str) -> bytes:
    """UTF-16-BE, as SMPP data_coding 8 expects; astral characters become surrogate pairs."""
    return text.encode("utf-16-be")


# Template variables: {name} is filled per recipient; {{ and }} are literal braces. Names are
# ASCII like crds.template.VARIABLE_NAME_PATTERN, since they are keys of contact data.
# {link:URL} is a tracked link (sender.sms.links): filled with the recipient's short link.
LINK_PREFIX = "link:"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME_CHARS_RE = re.compile(r"[A-Za-z0-9_]+")
# {{, }}, {inner}, an unclosed "{..." up to the next brace, or a stray "}".
_TOKEN_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|(\{[^{}]*)|\}")
_EXCERPT_MAX = 20


class TemplateError(ValueError):
    """A body that cannot be rendered."""


class MissingVariables(TemplateError):
    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(names)  # args == (names,), so the exception pickles
        self.names = names

    def __str__(self) -> str:
        return "missing template variables: " + ", ".join(self.names)


class MalformedTemplate(TemplateError):
    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "malformed placeholders: " + "; ".join(self.problems)


@dataclass(frozen=True)
class _ParsedBody:
    literals: tuple[str, ...]
    """Text around the placeholders, braces unescaped: one more than names."""
    names: tuple[str, ...]
    """Placeholder names in order, repeats kept; a link's is "link:URL"."""
    problems: tuple[str, ...]
    links: tuple[str, ...] = ()
    """Target URLs of the {link:URL} placeholders, unique, in order of first use."""


def _placeholder_problem(inner: str) -> str:
    if not inner:
        return "empty placeholder; write {{}} for literal braces"
    if any(c.isspace() for c in inner):
        return "spaces are not allowed inside a placeholder"
    if not _NAME_CHARS_RE.fullmatch(inner):
        return "a variable name uses only letters A-Z and a-z, digits and underscore"
    return "a variable name starts with a letter or underscore"


def _excerpt(fragment: str) -> str:
    return fragment if len(fragment) <= _EXCERPT_MAX else fragment[:_EXCERPT_MAX] + "…"


@lru_cache(maxsize=256)  # the sender renders one body for every recipient of a campaign
def _parse(body: str) -> _ParsedBody:
    if "{" not in body and "}" not in body:
        return _ParsedBody((body,), (), ())
    literals: list[str] = []
    names: list[str] = []
    problems: list[str] = []
    pending: list[str] = []  # literal text since the last placeholder
    position = 0
    for match in _TOKEN_RE.finditer(body):
        pending.append(body[position : match.start()])
        position = match.end()
        token, inner, unclosed = match.group(), match.group(1), match.group(2)
        if token in ("{{", "}}"):
            pending.append(token[0])
        elif inner is not None and (_NAME_RE.fullmatch(inner)
                                    or (inner.startswith(LINK_PREFIX) and inner != LINK_PREFIX)):
            literals.append("".join(pending))
            pending = []
            names.append(inner)
        elif inner == LINK_PREFIX:
            problems.append("'{link:}': a link needs its target, as in {link:https://…}")
        elif inner is not None:
            problems.append(f"{_excerpt(token)!r}: {_placeholder_problem(inner)}")
        elif unclosed is not None:
            problems.append(f"{_excerpt(unclosed)!r}: no closing '}}'; write {{{{ for a brace")
        else:
            offset = match.start()
            problems.append(f"'}}' at offset {offset} closes nothing; write }}}} for a brace")
    pending.append(body[position:])
    literals.append("".join(pending))
    links = tuple(dict.fromkeys(n[len(LINK_PREFIX):] for n in names if n[0] == "l"
                                and n.startswith(LINK_PREFIX)))
    return _ParsedBody(tuple(literals), tuple(names), tuple(problems), links)


def plain_pieces(body: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(literals, names) of a body whose placeholders are all variables (no {link:URL},
    nothing malformed): `render` of it is literals[0] + values[names[0]] + literals[1]
    + ..., for whoever renders one body many times without its checks. None otherwise."""
    parsed = _parse(body)
    if parsed.problems or parsed.links:
        return None
    return parsed.literals, parsed.names


def find_variables(body: str) -> list[str]:
    """Variable names used in body, unique, in order of first use (malformed ones and
    links skipped)."""
    return [n for n in dict.fromkeys(_parse(body).names) if not n.startswith(LINK_PREFIX)]


def find_links(body: str) -> list[str]:
    """Target URLs of the body's {link:URL} placeholders, unique, in order of first use."""
    return list(_parse(body).links)


def malformed_placeholders(body: str) -> list[str]:
    """One "'fragment': reason" per brace that is not {name}, {{ or }}; empty if none."""
    return list(_parse(body).problems)


def render(body: str, values: Mapping[str, str],
           links: Mapping[str, str] | None = None) -> str:
    """Body with each {name} replaced by values[name] (inserted as is), each {link:URL}
    by links[URL] (the recipient's short link), and {{ }} unescaped.

    Raises MalformedTemplate before MissingVariables (a link without its short link is
    missing as "link:URL"); extra values are ignored.
    """
    parsed = _parse(body)
    if parsed.problems:
        raise MalformedTemplate(parsed.problems)
    if parsed.links:
        values = {**values, **{LINK_PREFIX + url: short for url, short in (links or {}).items()}}
    pieces = [parsed.literals[0]]
    # One pass, as it is once per recipient: the names missing are gathered only when
    # one is.
    for name, literal in zip(parsed.names, parsed.literals[1:], strict=True):
        if name not in values:
            raise MissingVariables(tuple(dict.fromkeys(
                name for name in parsed.names if name not in values)))
        pieces += (values[name], literal)
    return "".join(pieces)
