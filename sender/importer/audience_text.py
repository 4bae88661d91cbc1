"""Text encodings of CSV audience files: which one a file is in, and decoding it as it streams.

`choose_encoding` looks at the file's first SAMPLE_BYTES only. With audience.encoding
Auto:

1. a byte order mark names the encoding (UTF-8, UTF-16 or UTF-32, either byte order);
   without one, NUL bytes between the letters tell UTF-16 or UTF-32, and which byte
   order reads the CSV's digits and commas;
2. else UTF-8, when the lines of the sample that hold non-ASCII bytes mostly decode as
   UTF-8 (so one corrupt line does not turn a UTF-8 file into mojibake; it is counted
   Undecodable instead);
3. else, when the sample reads as mostly common characters of Chinese (GB18030, Big5),
   Japanese (Shift_JIS) or Korean (EUC-KR) in one of their encodings, that one; when in
   several (a few lines of GBK are valid EUC-KR, and the other way round),
   charset-normalizer's pick among those. Its statistics alone need more text than a
   short list has: on five rows of Big5 names it says cp1252;
4. else charset-normalizer's guess among DETECTED.

Ties between equally good guesses go to the earlier in DETECTED.

A named encoding (a Python codec name) is used as it is. Either way the file fails
(AudienceError) when nothing fits or when most lines of the sample cannot be decoded
in the encoding chosen: a wrong audience.encoding, not a few broken rows.

Decoding is incremental (`decode_chunks`, `adecode_chunks`): memory is one chunk, never
the file. Each byte the encoding cannot decode becomes UNDECODABLE, a lone surrogate no
decoder produces from valid input, and decoding resumes at the next byte, so the line
break after a bad byte still ends its row; the CSV reader turns a record holding
UNDECODABLE into an UndecodableRow, which is counted invalid and never sent.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import charset_normalizer

from crds.campaign import AUTO_ENCODING
from sender.importer.audience_rows import AudienceError
from sender.run_config import text_codec

SAMPLE_BYTES = 64 * 1024
"""What encoding detection and the sanity check read of a file."""
UNDECODABLE = "\udcff"
ERRORS = "herald.undecodable"
"""The codec error handler that puts UNDECODABLE in place of each undecodable byte."""

_BOMS = (  # UTF-32 LE before UTF-16 LE: its mark starts with the other's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

DETECTED = (
    "utf_8", "gb18030", "cp950", "big5", "cp932", "cp949",
    "utf_16_le", "utf_16_be", "utf_32_le", "utf_32_be",
    "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
    "cp1258", "cp874", "koi8_r",
)
"""The encodings Auto tells apart, in order of preference between equally good guesses:
Chinese first (GB18030 reads every GBK and GB2312 file), then the rest of East Asia,
UTF-16 and UTF-32 without a byte order mark, and the Windows code pages."""


def _undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return UNDECODABLE, error.start + 1


codecs.register_error(ERRORS, _undecodable)


def bom_encoding(sample: bytes) -> str | None:
    return next((name for bom, name in _BOMS if sample.startswith(bom)), None)


def choose_encoding(sample: bytes, declared: str, where: str) -> str:
    """The codec to decode the file that starts with `sample` (its first SAMPLE_BYTES)."""
    if declared != AUTO_ENCODING:
        codec = text_codec(declared)
        if codec is None:
            raise AudienceError(f"audience.encoding {declared!r} is not a text encoding"
                                " Python knows (e.g. gb18030, big5, utf-16, or Auto)")
        if codec == "utf-8" and sample.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
        hint = "; is audience.encoding right? Auto detects it"
    else:
        codec = (bom_encoding(sample) or _wide(sample) or _utf8(sample)
                 or _detected(sample, where))
        hint = "; set audience.encoding to the file's encoding"
    bad, lines = undecodable_lines(sample, codec)
    if bad and bad * 2 > lines:
        raise AudienceError(f"{where}: {bad} of its first {lines} lines cannot be decoded"
                            f" as {codec}{hint}")
    return codec


def undecodable_lines(sample: bytes, codec: str) -> tuple[int, int]:
    """(lines with undecodable bytes, non-blank lines) of `sample` decoded as `codec`; a
    character cut off at the end of the sample does not count."""
    text = codecs.getincrementaldecoder(codec)(errors=ERRORS).decode(sample, final=False)
    lines = [line for line in text.replace("\r", "\n").split("\n") if line.strip()]
    return sum(UNDECODABLE in line for line in lines), len(lines)


WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


def _wide(sample: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte order mark: the one in which the sample decodes
    with the most ASCII characters (a CSV's commas, digits and line ends)."""
    if sample.count(0) * 8 <= len(sample):
        return None

    def ascii_share(codec: str) -> float:
        try:
            text = codecs.getincrementaldecoder(codec)().decode(sample, final=False)
        except UnicodeDecodeError:
            return -1.0
        return sum(char.isascii() for char in text) / max(1, len(text))

    best = max(WIDE, key=ascii_share)
    return best if ascii_share(best) > 0 else None


def _utf8(sample: bytes) -> str | None:
    valid = invalid = 0
    lines = sample.split(b"\n")
    if len(sample) == SAMPLE_BYTES and len(lines) > 1:
        lines.pop()  # cut off by the sample's end
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            invalid += 1
        else:
            valid += 1
    return "utf-8" if valid >= invalid else None


def _detected(sample: bytes, where: str) -> str:
    plausible = [codec for codec in CJK if _common_share(sample, codec) >= COMMON_SHARE]
    if len(plausible) == 1:
        return codecs.lookup(plausible[0]).name
    name = _normalizer_guess(sample, plausible or list(DETECTED))
    if name is None and plausible:
        name = plausible[0]
    if name is None:
        raise AudienceError(f"{where} is in no text encoding Herald can tell (is it a text"
                            " file?); set audience.encoding to its encoding")
    return codecs.lookup(name).name


def _normalizer_guess(sample: bytes, candidates: list[str]) -> str | None:
    matches = list(charset_normalizer.from_bytes(sample, cp_isolation=candidates))
    if not matches:
        return None
    best = min((m.percent_chaos, -m.percent_coherence) for m in matches)
    tied = [m.encoding for m in matches if (m.percent_chaos, -m.percent_coherence) == best]
    return min(tied, key=lambda e: DETECTED.index(e) if e in DETECTED else len(DETECTED))


CJK = ("gb18030", "cp950", "cp932", "cp949")
"""The East Asian double-byte encodings, in the order of DETECTED."""
COMMON_SHARE = 0.8
"""Share of a sample's non-ASCII characters that must be common ones of the script for
an East Asian encoding to be plausible. Names in the right one score 0.95 to 1; Big5
read as GB18030 0.2 to 0.7, Cyrillic 0.4 at most."""


def _common_share(sample: bytes, codec: str) -> float:
    """Share of the non-ASCII characters of `sample`, decoded strictly as `codec`, that
    are common characters of its script (0 when it does not decode)."""
    try:
        text = codecs.getincrementaldecoder(codec)().decode(sample, final=False)
    except UnicodeDecodeError:
        return 0.0
    chars = [char for char in text if not char.isascii()]
    if not chars:
        return 0.0
    return sum(_common(char, codec) for char in chars) / len(chars)


def _common(char: str, codec: str) -> bool:
    """Whether `char` is punctuation, a full-width form or a character of the first
    (most frequent) level of `codec`'s national standard: GB 2312 level 1 for GB18030,
    Big5's frequent characters for CP950, JIS X 0208 level 1 and kana for CP932, the
    Hangul of KS X 1001 for CP949."""
    point = ord(char)
    if 0x3000 <= point <= 0x303F or 0xFF00 <= point <= 0xFFEF:
        return True
    if codec == "cp932" and 0x3040 <= point <= 0x30FF:
        return True
    if codec == "cp949":
        return 0xAC00 <= point <= 0xD7A3 and len(char.encode("euc_kr", "ignore")) == 2
    national = {"gb18030": "gb2312", "cp950": "big5", "cp932": "cp932"}[codec]
    code = char.encode(national, "ignore")
    if len(code) != 2:
        return False
    value = code[0] << 8 | code[1]
    if codec == "gb18030":
        return 0xB0A1 <= value <= 0xD7FE or 0xA1A1 <= value <= 0xA3FE
    if codec == "cp950":
        return 0xA440 <= value <= 0xC67E or 0xA140 <= value <= 0xA3BF
    return 0x889F <= value <= 0x9872


def decode_chunks(chunks: Iterable[bytes], codec: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(codec)(errors=ERRORS)
    for chunk in chunks:
        yield decoder.decode(chunk)
    yield decoder.decode(b"", final=True)


async def adecode_chunks(chunks: AsyncIterable[bytes], codec: str) -> AsyncIterator[str]:
    decoder = codecs.getincrementaldecoder(codec)(errors=ERRORS)
    async for chunk in chunks:
        yield decoder.decode(chunk)
    yield decoder.decode(b"", final=True)
