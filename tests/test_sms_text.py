"""sender.sms.text: GSM 03.38 tables, segment counting and splitting, template variables."""

import pickle
import random

import pytest

from sender.sms.text import (
    GSM7_BASIC,
    GSM7_BASIC_TABLE,
    GSM7_EXTENSION,
    GSM7_EXTENSION_TABLE,
    MULTI_SEGMENT_UNITS,
    SINGLE_SEGMENT_UNITS,
    Encoding,
    MalformedTemplate,
    MissingVariables,
    SegmentCount,
    basic_ascii_septets,
    count_segments,
    detect_encoding,
    encode_gsm7_unpacked,
    encode_ucs2,
    encode_udh_parts,
    encoded_length,
    find_variables,
    malformed_placeholders,
    render,
    split_segments,
)

GSM7, UCS2 = Encoding.GSM7, Encoding.UCS2
SMILE = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16
ZH_OTP = "【Brand】您的验证码是123456，回T退订"  # 24 characters


# --- tables ---------------------------------------------------------------------------------


def test_table_sizes():
    assert len(GSM7_BASIC_TABLE) == 128
    assert len(GSM7_BASIC) == 127  # 0x1B is the escape, not a character
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize("char, encoded", [
    pytest.param("@", b"\x00", id="at-is-0x00"),
    pytest.param("£", b"\x01", id="pound"),
    pytest.param("$", b"\x02", id="dollar-is-0x02"),
    pytest.param("Ç", b"\x09", id="capital-c-cedilla"),
    pytest.param("\n", b"\x0a", id="line-feed"),
    pytest.param("\r", b"\x0d", id="carriage-return"),
    pytest.param("Δ", b"\x10", id="delta"),
    pytest.param("_", b"\x11", id="underscore"),
    pytest.param("\u03a9", b"\x15", id="greek-omega"),
    pytest.param("Ξ", b"\x1a", id="xi"),
    pytest.param("É", b"\x1f", id="capital-e-acute"),
    pytest.param("¤", b"\x24", id="currency-sign-is-0x24"),
    pytest.param("¡", b"\x40", id="inverted-exclamation-is-0x40"),
    pytest.param("Ä", b"\x5b", id="a-umlaut-where-ascii-has-bracket"),
    pytest.param("§", b"\x5f", id="section"),
    pytest.param("¿", b"\x60", id="inverted-question-where-ascii-has-backtick"),
    pytest.param("à", b"\x7f", id="a-grave-is-last"),
    pytest.param("\f", b"\x1b\x0a", id="form-feed"),
    pytest.param("^", b"\x1b\x14", id="caret"),
    pytest.param("{", b"\x1b\x28", id="left-brace"),
    pytest.param("}", b"\x1b\x29", id="right-brace"),
    pytest.param("\\", b"\x1b\x2f", id="backslash"),
    pytest.param("[", b"\x1b\x3c", id="left-bracket"),
    pytest.param("~", b"\x1b\x3d", id="tilde"),
    pytest.param("]", b"\x1b\x3e", id="right-bracket"),
    pytest.param("|", b"\x1b\x40", id="pipe"),
    pytest.param("€", b"\x1b\x65", id="euro"),
])  # fmt: skip
def test_gsm7_code(char, encoded):
    assert encode_gsm7_unpacked(char) == encoded


def test_basic_table_encodes_to_its_index():
    table = GSM7_BASIC_TABLE.replace("\x1b", "")
    assert encode_gsm7_unpacked(table) == bytes(b for b in range(128) if b != 0x1B)


def test_tables_agree_with_aiosmpplib():
    """An independent transcription of 3GPP TS 23.038 (only read here, never used)."""
    codec = pytest.importorskip("aiosmpplib.codec")
    basic = {code: c for code, c in enumerate(GSM7_BASIC_TABLE) if code != 0x1B}
    assert basic == codec.GSM_BASIC_DECODE_MAP
    assert {code: c for c, code in GSM7_EXTENSION_TABLE.items()} == codec.GSM_EXTENDED_DECODE_MAP
    alphabet = "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))
    assert encode_gsm7_unpacked(alphabet) == codec.GSM7BitCodec().encode(alphabet)[0]


# --- encoding detection and lengths --------------------------------------------------------


@pytest.mark.parametrize("text, encoding, units", [
    pytest.param("", GSM7, 0, id="empty"),
    pytest.param("Hello, world!", GSM7, 13, id="ascii"),
    pytest.param("@$_\r\n", GSM7, 5, id="ascii-at-other-codes"),
    pytest.param("Price: 5€ [sale] {now} ^~|\\", GSM7, 27 + 9, id="extension-chars-count-2"),
    pytest.param("\f", GSM7, 2, id="form-feed-is-extension"),
    pytest.param("Señor Müller, Øre, Æble, ßÉ", GSM7, 27, id="latin-in-basic"),
    pytest.param("ΔΦΓΛΩΠΨΣΘΞ", GSM7, 10, id="greek-in-basic"),
    pytest.param("FAÇADE", GSM7, 6, id="capital-c-cedilla-gsm"),
    pytest.param("façade", UCS2, 6, id="small-c-cedilla-forces-ucs2"),
    pytest.param("Señor García", UCS2, 12, id="i-acute-forces-ucs2"),
    pytest.param("ìèéùò", GSM7, 5, id="graves-and-e-acute-gsm"),
    pytest.param("say `hi`", UCS2, 8, id="backtick-forces-ucs2"),
    pytest.param("a\tb", UCS2, 3, id="tab-forces-ucs2"),
    pytest.param("\x1b", UCS2, 1, id="raw-escape-forces-ucs2"),
    pytest.param("\x7f", UCS2, 1, id="delete-forces-ucs2"),
    pytest.param("\x00", UCS2, 1, id="nul-forces-ucs2"),
    pytest.param("ñ" * 20 + "\x00", UCS2, 21, id="nul-after-latin-forces-ucs2"),
    pytest.param("ñ" * 20 + "ç", UCS2, 21, id="foreign-char-after-latin-prefix"),
    pytest.param("ñ" * 20 + "€[", GSM7, 24, id="extension-after-latin-prefix"),
    pytest.param("5 \u2126", UCS2, 3, id="ohm-sign-is-not-omega"),
    pytest.param("Ωmega €5 ", GSM7, 10, id="non-ascii-gsm-with-extension"),
    pytest.param("€ ç", UCS2, 3, id="extension-char-in-ucs2-counts-1"),
    pytest.param(ZH_OTP, UCS2, 24, id="chinese"),
    pytest.param(f"Hi {SMILE}", UCS2, 5, id="emoji-counts-2"),
    pytest.param("\U0001f1e8\U0001f1f3", UCS2, 4, id="flag-is-two-astral-chars"),
    pytest.param("\ud83d", UCS2, 1, id="lone-surrogate-counts-1"),
])  # fmt: skip
def test_detect_and_length(text, encoding, units):
    assert detect_encoding(text) == encoding
    assert encoded_length(text, encoding) == units


@pytest.mark.parametrize("text, encoding, units", [
    pytest.param("abc", UCS2, 3, id="gsm-text-as-ucs2"),
    pytest.param("€€", UCS2, 2, id="euro-as-ucs2-counts-1"),
    pytest.param(SMILE, UCS2, 2, id="emoji"),
])  # fmt: skip
def test_encoded_length_forced(text, encoding, units):
    assert encoded_length(text, encoding) == units


@pytest.mark.parametrize("call", [
    pytest.param(lambda: encoded_length("façade", GSM7), id="encoded-length"),
    pytest.param(lambda: count_segments("façade", GSM7), id="count-segments"),
    pytest.param(lambda: split_segments("façade", GSM7), id="split-segments"),
    pytest.param(lambda: encode_gsm7_unpacked("façade"), id="encode"),
])  # fmt: skip
def test_forcing_gsm7_on_foreign_text_raises(call):
    with pytest.raises(ValueError, match=r"'ç' \(U\+00E7\) is not in the GSM 03.38 alphabet"):
        call()


# --- segment counts ------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    pytest.param("", SegmentCount(GSM7, 0, 0, 1, 160), id="empty-is-one-segment"),
    pytest.param("Hello", SegmentCount(GSM7, 5, 5, 1, 160), id="ascii"),
    pytest.param("a" * 160, SegmentCount(GSM7, 160, 160, 1, 160), id="gsm7-160-is-1"),
    pytest.param("a" * 161, SegmentCount(GSM7, 161, 161, 2, 153), id="gsm7-161-is-2"),
    pytest.param("a" * 306, SegmentCount(GSM7, 306, 306, 2, 153), id="gsm7-306-is-2"),
    pytest.param("a" * 307, SegmentCount(GSM7, 307, 307, 3, 153), id="gsm7-307-is-3"),
    pytest.param("€" * 80, SegmentCount(GSM7, 80, 160, 1, 160), id="80-euros-is-1"),
    pytest.param("€" * 81, SegmentCount(GSM7, 81, 162, 2, 153), id="81-euros-is-2"),
    pytest.param("a" * 159 + "€", SegmentCount(GSM7, 160, 161, 2, 153),
                 id="extension-pushes-past-160"),
    pytest.param("a" * 152 + "€" + "a" * 152, SegmentCount(GSM7, 305, 306, 3, 153),
                 id="escape-at-boundary-costs-a-segment"),
    pytest.param("ñ" * 161, SegmentCount(GSM7, 161, 161, 2, 153), id="non-ascii-gsm7"),
    pytest.param("`" + "a" * 69, SegmentCount(UCS2, 70, 70, 1, 70), id="backtick-70-is-1"),
    pytest.param("`" + "a" * 70, SegmentCount(UCS2, 71, 71, 2, 67), id="backtick-71-is-2"),
    pytest.param(ZH_OTP, SegmentCount(UCS2, 24, 24, 1, 70), id="chinese-otp"),
    pytest.param("验" * 70, SegmentCount(UCS2, 70, 70, 1, 70), id="chinese-70-is-1"),
    pytest.param("验" * 71, SegmentCount(UCS2, 71, 71, 2, 67), id="chinese-71-is-2"),
    pytest.param("验" * 134, SegmentCount(UCS2, 134, 134, 2, 67), id="chinese-134-is-2"),
    pytest.param("验" * 135, SegmentCount(UCS2, 135, 135, 3, 67), id="chinese-135-is-3"),
    pytest.param(SMILE * 35, SegmentCount(UCS2, 35, 70, 1, 70), id="35-emoji-is-1"),
    pytest.param(SMILE * 36, SegmentCount(UCS2, 36, 72, 2, 67), id="36-emoji-is-2"),
    pytest.param("a" * 66 + SMILE + "a" * 66, SegmentCount(UCS2, 133, 134, 3, 67),
                 id="surrogate-at-boundary-costs-a-segment"),
])  # fmt: skip
def test_count_segments(text, expected):
    assert count_segments(text) == expected


@pytest.mark.parametrize("text, encoding, expected", [
    pytest.param("a" * 100, UCS2, SegmentCount(UCS2, 100, 100, 2, 67), id="gsm-text-as-ucs2"),
    pytest.param("€" * 70, UCS2, SegmentCount(UCS2, 70, 70, 1, 70), id="euros-as-ucs2"),
    pytest.param("€" * 70, GSM7, SegmentCount(GSM7, 70, 140, 1, 160), id="euros-as-gsm7"),
])  # fmt: skip
def test_count_segments_forced(text, encoding, expected):
    assert count_segments(text, encoding) == expected


# --- splitting -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, encoding, lengths", [
    pytest.param("", None, [0], id="empty-is-one-part"),
    pytest.param("a" * 160, None, [160], id="gsm7-single"),
    pytest.param("a" * 161, None, [153, 8], id="gsm7-two"),
    pytest.param("a" * 459, None, [153, 153, 153], id="gsm7-exactly-three"),
    pytest.param("€" * 80, None, [80], id="euros-single"),
    pytest.param("€" * 81, None, [76, 5], id="euros-76-per-part"),
    pytest.param("a" * 152 + "€" + "a" * 10, None, [152, 11], id="escape-not-split"),
    pytest.param("a" * 151 + "€" + "a" * 10, None, [152, 10], id="escape-fits-exactly"),
    pytest.param("a" * 161, UCS2, [67, 67, 27], id="gsm-text-forced-ucs2"),
    pytest.param("验" * 71, None, [67, 4], id="chinese-two"),
    pytest.param(SMILE * 36, None, [33, 3], id="emoji-33-per-part"),
    pytest.param("a" * 66 + SMILE + "a" * 4, None, [66, 5], id="surrogate-not-split"),
    pytest.param("a" * 65 + SMILE + "a" * 4, None, [66, 4], id="surrogate-fits-exactly"),
])  # fmt: skip
def test_split_segments(text, encoding, lengths):
    parts = split_segments(text, encoding)
    assert [len(part) for part in parts] == lengths
    assert "".join(parts) == text


@pytest.mark.parametrize("text", [
    pytest.param("Hello", id="short"),
    pytest.param("x" * 1600, id="ten-gsm-segments"),
    pytest.param("[]" * 200, id="all-extension"),
    pytest.param(("a€" * 400)[:777], id="alternating-extension"),
    pytest.param((ZH_OTP * 20)[:300], id="chinese"),
    pytest.param((SMILE + "ok") * 100, id="emoji-and-latin"),
    pytest.param(SMILE * 200, id="all-emoji"),
    pytest.param("Olá 👋 " * 40, id="portuguese-with-emoji"),
])  # fmt: skip
def test_split_joins_back(text):
    parts = split_segments(text)
    assert "".join(parts) == text
    assert len(parts) == count_segments(text).segments


def _reference_split(text: str, encoding: Encoding) -> list[str]:
    """Character-by-character greedy split, the obvious way; the module's must agree."""
    if encoded_length(text, encoding) <= SINGLE_SEGMENT_UNITS[encoding]:
        return [text]
    limit = MULTI_SEGMENT_UNITS[encoding]
    parts, current, used = [], "", 0
    for char in text:
        cost = encoded_length(char, encoding)
        if used + cost > limit:
            parts.append(current)
            current, used = "", 0
        current += char
        used += cost
    return [*parts, current]


ALPHABETS = [
    pytest.param("abc XYZ 0189.,!?@$_\n", id="ascii-gsm"),
    pytest.param("abcde€[]{}^~|\\\f", id="ascii-with-extension"),
    pytest.param("aeñÑÇüΩΔ€[", id="latin-greek-gsm"),
    pytest.param("aeç`€ñ", id="latin-forcing-ucs2"),
    pytest.param("验证码ab1，", id="chinese"),
    pytest.param(f"ab{SMILE}\U0001f44d验", id="emoji-mix"),
    pytest.param(f"{SMILE}a", id="emoji-heavy"),
]


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_split_properties_on_random_text(alphabet):
    rng = random.Random(f"sms-text-{alphabet}")
    for _ in range(60):
        text = "".join(rng.choices(alphabet, k=rng.randrange(0, 700)))
        count = count_segments(text)
        parts = split_segments(text)
        assert "".join(parts) == text
        assert count.segments == len(parts)
        assert count.units == sum(encoded_length(part, count.encoding) for part in parts)
        assert all(encoded_length(p, count.encoding) <= count.units_per_segment for p in parts)
        assert parts == _reference_split(text, count.encoding)
        encode = encode_gsm7_unpacked if count.encoding == GSM7 else encode_ucs2
        per_unit = 1 if count.encoding == GSM7 else 2
        assert len(b"".join(map(encode, parts))) == count.units * per_unit


# --- encoders and UDH ----------------------------------------------------------------------


@pytest.mark.parametrize("text, encoded", [
    pytest.param("", b"", id="empty"),
    pytest.param("Hi @ $5", b"Hi \x00 \x025", id="at-and-dollar-remapped"),
    pytest.param("5€ [x]", b"5\x1b\x65 \x1b\x3cx\x1b\x3e", id="extension-escaped"),
    pytest.param("¿Qué?", b"\x60Qu\x05?", id="spanish"),
    pytest.param("€€[[\f", b"\x1b\x65\x1b\x65\x1b\x3c\x1b\x3c\x1b\x0a", id="repeated-extension"),
])  # fmt: skip
def test_encode_gsm7_unpacked(text, encoded):
    assert encode_gsm7_unpacked(text) == encoded


@pytest.mark.parametrize("text, encoded", [
    pytest.param("A", b"\x00A", id="ascii"),
    pytest.param("验", b"\x9a\x8c", id="chinese"),
    pytest.param(f"A{SMILE}", b"\x00A\xd8\x3d\xde\x00", id="surrogate-pair"),
])  # fmt: skip
def test_encode_ucs2(text, encoded):
    assert encode_ucs2(text) == encoded


@pytest.mark.parametrize("parts, reference, encoded", [
    pytest.param([b"abc"], 0, [b"\x05\x00\x03\x00\x01\x01abc"], id="one-part"),
    pytest.param([b"ab", b"cd", b"e"], 0xA7, [
        b"\x05\x00\x03\xa7\x03\x01ab",
        b"\x05\x00\x03\xa7\x03\x02cd",
        b"\x05\x00\x03\xa7\x03\x03e",
    ], id="three-parts"),
    pytest.param([b""] * 255, 255, None, id="255-parts-allowed"),
])  # fmt: skip
def test_encode_udh_parts(parts, reference, encoded):
    result = encode_udh_parts(parts, reference)
    if encoded is not None:
        assert result == encoded
    assert [r[:6] for r in result] == [
        bytes((5, 0, 3, reference, len(parts), seq)) for seq in range(1, len(parts) + 1)
    ]


@pytest.mark.parametrize("parts, reference, message", [
    pytest.param([b"x"] * 256, 1, "1..255 parts, not 256", id="too-many-parts"),
    pytest.param([], 1, "1..255 parts, not 0", id="no-parts"),
    pytest.param([b"x"], -1, "reference -1 is outside", id="negative-reference"),
    pytest.param([b"x"], 256, "reference 256 is outside", id="reference-too-big"),
])  # fmt: skip
def test_encode_udh_parts_rejects(parts, reference, message):
    with pytest.raises(ValueError, match=message):
        encode_udh_parts(parts, reference)


# --- template variables --------------------------------------------------------------------


@pytest.mark.parametrize("body, names", [
    pytest.param("No variables", [], id="none"),
    pytest.param("Hi {name}, code {code}", ["name", "code"], id="two"),
    pytest.param("{b}{a}{b}{a}", ["b", "a"], id="unique-in-first-use-order"),
    pytest.param("{_x1} {X_2}", ["_x1", "X_2"], id="underscore-and-digits"),
    pytest.param("{{literal}} {real}", ["real"], id="escaped-braces-not-a-variable"),
    pytest.param("{{{name}}}", ["name"], id="variable-inside-literal-braces"),
    pytest.param("{1abc} { name} {ok}", ["ok"], id="malformed-skipped"),
    pytest.param("【{brand}】验证码{code}", ["brand", "code"], id="chinese-text"),
])  # fmt: skip
def test_find_variables(body, names):
    assert find_variables(body) == names


@pytest.mark.parametrize("body, values, rendered", [
    pytest.param("Plain", {}, "Plain", id="no-variables"),
    pytest.param("Hi {name}!", {"name": "Ana"}, "Hi Ana!", id="one"),
    pytest.param("{a}{b}{a}", {"a": "1", "b": "2"}, "121", id="repeated"),
    pytest.param("{{literal}}", {}, "{literal}", id="escaped-braces"),
    pytest.param("{{{name}}}", {"name": "x"}, "{x}", id="variable-in-literal-braces"),
    pytest.param("a }} b {{", {}, "a } b {", id="lone-escapes"),
    pytest.param("{v}", {"v": "{other}"}, "{other}", id="value-not-reinterpreted"),
    pytest.param("{v}", {"v": ""}, "", id="empty-value"),
    pytest.param("{a}", {"a": "1", "unused": "2"}, "1", id="extra-values-ignored"),
    pytest.param("【{brand}】您的验证码是{code}", {"brand": "Brand", "code": "123456"},
                 "【Brand】您的验证码是123456", id="chinese"),
])  # fmt: skip
def test_render(body, values, rendered):
    assert render(body, values) == rendered


@pytest.mark.parametrize("body, values, missing", [
    pytest.param("{a}", {}, ("a",), id="one"),
    pytest.param("{b} {a} {b} {c}", {"c": "x"}, ("b", "a"), id="unique-in-order"),
])  # fmt: skip
def test_render_missing(body, values, missing):
    with pytest.raises(MissingVariables) as caught:
        render(body, values)
    assert caught.value.names == missing
    assert str(caught.value) == "missing template variables: " + ", ".join(missing)
    assert isinstance(caught.value, ValueError)
    assert pickle.loads(pickle.dumps(caught.value)).names == missing


def test_render_malformed_raises():
    with pytest.raises(MalformedTemplate) as caught:
        render("Hi {1abc} {name}", {})  # malformed wins over missing
    assert caught.value.problems == (
        "'{1abc}': a variable name starts with a letter or underscore",
    )


@pytest.mark.parametrize("body, problems", [
    pytest.param("Hi {name}, {{ok}}", [], id="well-formed"),
    pytest.param("{1abc}", ["'{1abc}': a variable name starts with a letter or underscore"],
                 id="leading-digit"),
    pytest.param("{ name}", ["'{ name}': spaces are not allowed inside a placeholder"],
                 id="leading-space"),
    pytest.param("{first name}", ["'{first name}': spaces are not allowed inside a placeholder"],
                 id="inner-space"),
    pytest.param("{}", ["'{}': empty placeholder; write {{}} for literal braces"], id="empty"),
    pytest.param("{first-name}",
                 ["'{first-name}': a variable name uses only letters A-Z and a-z, digits and "
                  "underscore"], id="hyphen"),
    pytest.param("{名字}",
                 ["'{名字}': a variable name uses only letters A-Z and a-z, digits and underscore"],
                 id="non-ascii-name"),
    pytest.param("Hi {name", ["'{name': no closing '}'; write {{ for a brace"], id="unclosed"),
    pytest.param("{a{b}", ["'{a': no closing '}'; write {{ for a brace"], id="unclosed-then-ok"),
    pytest.param("{" + "x" * 30,
                 ["'{xxxxxxxxxxxxxxxxxxx…': no closing '}'; write {{ for a brace"],
                 id="long-fragment-cut"),
    pytest.param("a} b", ["'}' at offset 1 closes nothing; write }} for a brace"],
                 id="stray-close"),
    pytest.param("{{a}", ["'}' at offset 3 closes nothing; write }} for a brace"],
                 id="escaped-open-then-stray-close"),
    pytest.param("{1} and {", [
        "'{1}': a variable name starts with a letter or underscore",
        "'{': no closing '}'; write {{ for a brace",
    ], id="two-problems"),
])  # fmt: skip
def test_malformed_placeholders(body, problems):
    assert malformed_placeholders(body) == problems


# --- IA5 and Latin-1, a channel's other alphabets ----------------------------------------


@pytest.mark.parametrize("text, encoding, units, segments", [
    pytest.param("x" * 140, Encoding.LATIN1, 140, 1, id="latin1-140-fits"),
    pytest.param("é" * 141, Encoding.LATIN1, 141, 2, id="latin1-141-spills"),
    pytest.param("x" * 269, Encoding.LATIN1, 269, 3, id="latin1-134-per-part"),
    pytest.param("[" * 80, Encoding.IA5, 160, 1, id="ia5-extension-counts-twice"),
    pytest.param("[" * 81, Encoding.IA5, 162, 2, id="ia5-extension-spills"),
    pytest.param("`" * 160, Encoding.IA5, 160, 1, id="ia5-backtick-is-one"),
])
def test_other_alphabets_count(text: str, encoding: Encoding, units: int, segments: int) -> None:
    count = count_segments(text, encoding)
    assert (count.units, count.segments) == (units, segments)
    parts = split_segments(text, encoding)
    assert "".join(parts) == text and len(parts) == segments


def test_an_ia5_part_never_ends_inside_an_extension_pair() -> None:
    text = "x" * 152 + "[" + "y" * 10
    parts = split_segments(text, Encoding.IA5)
    assert parts[0] == "x" * 152  # 152 + 2 would pass 153: the bracket goes to part 2


@pytest.mark.parametrize("text, alphabet, detected", [
    pytest.param("Hello", Encoding.IA5, Encoding.IA5, id="ascii-in-ia5"),
    pytest.param("Café", Encoding.IA5, Encoding.UCS2, id="accent-not-ia5"),
    pytest.param("Café ÿ", Encoding.LATIN1, Encoding.LATIN1, id="latin1"),
    pytest.param("5€", Encoding.LATIN1, Encoding.UCS2, id="euro-not-latin1"),
    pytest.param("5€", Encoding.GSM7, Encoding.GSM7, id="euro-gsm7"),
])
def test_detect_encoding_in_an_alphabet(text: str, alphabet: Encoding, detected: Encoding) -> None:
    assert detect_encoding(text, alphabet) == detected


# --- the common case's fast path -------------------------------------------------------------

BASIC_ASCII = sorted(c for c in GSM7_BASIC if c.isascii())


@pytest.mark.parametrize("text, fast", [
    pytest.param("Your code is 2468 @shop_now: 50% off!", True, id="basic-ascii"),
    pytest.param("", True, id="empty"),
    pytest.param("x" * 160, True, id="one-full-segment"),
    pytest.param("x" * 161, False, id="two-segments"),
    pytest.param("price [50%]", False, id="extension-character"),
    pytest.param("`tick`", False, id="ascii-not-gsm7"),
    pytest.param("café", False, id="not-ascii"),
])
def test_basic_ascii_septets(text: str, fast: bool) -> None:
    """The septets of one basic-table ASCII segment, as encode_gsm7_unpacked gives them;
    None for anything else (the general path handles it)."""
    assert basic_ascii_septets(text) == (encode_gsm7_unpacked(text) if fast else None)


def test_basic_ascii_septets_of_every_basic_character() -> None:
    texts = ["".join(random.Random(seed).choices(BASIC_ASCII, k=seed % 161))
             for seed in range(300)] + ["".join(BASIC_ASCII)]
    for text in texts:
        assert basic_ascii_septets(text) == encode_gsm7_unpacked(text)
