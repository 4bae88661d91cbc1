"""MessageBuilder.bodies, the submit_sm bodies the sender writes, spliced from bytes made
once per source address and per (esm_class, data_coding): byte for byte what the codec
encodes of `build`'s SubmitSm PDUs, for every kind of message a campaign sends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crds.channel import (
    Gsm7Coding,
    NumberingPlan,
    PooledSourceAddress,
    SourceAddress,
    TypeOfNumber,
)
from crds.template import Category, SignaturePlacement, TemplateSpec
from sender.send.messages import MessageBuilder
from sender.smpp.codes import ESM_UDHI, CommandId
from sender.smpp.pdu import SubmitSm, decode, encode_frame

PROPERTY = settings(max_examples=300, deadline=None, database=None, derandomize=True)

TEMPLATES = {
    "": TemplateSpec(category=Category.NOTIFICATION, body="Your code is {code}"),
    "long": TemplateSpec(category=Category.MARKETING, body="Hi {name}! " + "Sale on now. " * 20,
                         signature="[Shop]", opt_out_text="Reply STOP to opt out",
                         signature_placement=SignaturePlacement.SUFFIX),
    "zh": TemplateSpec(category=Category.MARKETING, body="{name}您好，本周全场八折",
                       signature="【品牌】", opt_out_text="回T退订", locale="zh-CN"),
    "flash": TemplateSpec(category=Category.NOTIFICATION, body="Alert: {name}", flash=True),
    "flash-long": TemplateSpec(category=Category.NOTIFICATION, flash=True,
                               body="Alert {name} " + "é" * 200),
    "link": TemplateSpec(category=Category.MARKETING, body="{name}, see {link:https://x.example/a}"),
}
VARIANTS = sorted(TEMPLATES)

_TEXT = st.text(st.sampled_from(
    "abcXYZ 0189.,!?@_-"  # basic ASCII (the septets' fast path)
    "€{}[]~^|\\"  # GSM-7's extension table (escapes)
    "éüñÇ"  # in GSM-7's and Latin-1's tables, not IA5's
    "€ĀŁ"  # not Latin-1
    "你好😀"  # UCS-2 only (and a surrogate pair)
), max_size=400)
_SOURCES = st.builds(
    PooledSourceAddress, address=st.sampled_from(["Herald", "Shop", "12345"]),
    ton=st.sampled_from(list(TypeOfNumber)), npi=st.sampled_from(list(NumberingPlan))
) | st.builds(  # a long code: more characters than an alphanumeric ID may have
    PooledSourceAddress, address=st.just("447700900123"),
    ton=st.sampled_from([t for t in TypeOfNumber if t != TypeOfNumber.ALPHANUMERIC]),
    npi=st.sampled_from(list(NumberingPlan)))
_MESSAGE = st.tuples(
    st.from_regex(r"\A\+?[1-9][0-9]{6,14}\Z"),  # phone
    st.sampled_from(VARIANTS), _TEXT, st.none() | _SOURCES)


def _pair(coding: Gsm7Coding, receipts: bool) -> tuple[MessageBuilder, MessageBuilder]:
    """Two builders alike: one for `build`, one for `bodies` (each keeps its reference)."""
    source = SourceAddress(address="Herald", ton=TypeOfNumber.ALPHANUMERIC)
    return (MessageBuilder(TEMPLATES, source, gsm7_coding=coding, receipts=receipts),
            MessageBuilder(TEMPLATES, source, gsm7_coding=coding, receipts=receipts))


def _same(old: MessageBuilder, new: MessageBuilder, phone: str, variant: str, text: str,
          source: SourceAddress | None) -> list[SubmitSm]:
    variables = {"code": text, "name": text}
    links = {"https://x.example/a": "https://h.example/Ab3"} if variant == "link" else None
    pdus = old.build(phone, variables, variant, source, links)
    bodies = new.bodies(phone, variables, variant, source, links)
    assert bodies == [pdu.encode_body() for pdu in pdus]
    for sequence, (pdu, body) in enumerate(zip(pdus, bodies, strict=True), start=1):
        pdu.sequence_number = sequence  # the frame the bind writes
        frame = encode_frame(CommandId.SUBMIT_SM, 0, sequence, body)
        assert frame == pdu.encode()
        assert decode(frame) == pdu
    return pdus


@PROPERTY
@given(coding=st.sampled_from(list(Gsm7Coding)), receipts=st.booleans(),
       messages=st.lists(_MESSAGE, min_size=1, max_size=8))
def test_bodies_are_the_codecs_encoding_of_build(coding: Gsm7Coding, receipts: bool,
                                                 messages: list[tuple[str, str, str,
                                                                      SourceAddress | None]]
                                                 ) -> None:
    old, new = _pair(coding, receipts)
    for phone, variant, text, source in messages:
        _same(old, new, phone, variant, text, source)


def test_every_kind_of_message_alike() -> None:
    """The cases one at a time, each checked to be what it is meant to be."""
    pool = [PooledSourceAddress(address="Shop", ton=TypeOfNumber.ALPHANUMERIC),
            # the same address with another TON/NPI: its own head, not the first's
            PooledSourceAddress(address="Shop", ton=TypeOfNumber.NATIONAL,
                                npi=NumberingPlan.NATIONAL),
            PooledSourceAddress(address="447700900123", ton=TypeOfNumber.INTERNATIONAL,
                                npi=NumberingPlan.ISDN)]
    for coding in Gsm7Coding:
        for receipts in (True, False):
            old, new = _pair(coding, receipts)
            for source in (None, *pool, pool[0]):
                kinds = {variant: _same(old, new, "+8613800000001", variant, "Ann", source)
                         for variant in VARIANTS}
                assert len(kinds["long"]) > 1 and len(kinds["flash-long"]) > 1
                assert all(p.esm_class == ESM_UDHI for p in kinds["long"])
                assert kinds["zh"][0].data_coding == 0x08
                assert kinds["flash"][0].data_coding in (0x10, 0x01, 0x03)
                assert all(p.registered_delivery == int(receipts) for p in kinds[""])
                assert kinds[""][0].source_addr == (source or old.source).address


def test_concatenation_references_wrap_alike() -> None:
    """Past 256 long messages the reference wraps: both builders number them the same."""
    old, new = _pair(Gsm7Coding.SMSC_DEFAULT, True)
    references = set()
    for index in range(300):
        pdus = _same(old, new, f"+44770090{index:04d}", "long", str(index), None)
        references.add(pdus[0].short_message[3])  # UDH: 05 00 03 ref total seq
    assert len(references) == 256
