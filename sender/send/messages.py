"""From a recipient and its template to the submit_sm PDUs that carry the message.

Render the body with the recipient's variables, compose it with signature and opt-out
text (as the template review showed it), choose the channel's alphabet (GSM-7 septets,
IA5 or Latin-1 octets, by its gsm7Coding) or UCS-2 when the text needs it, and split a
long message into concatenated parts with a UDH (reference, total, sequence). A flash
template's messages are class 0: in the data_coding where GSM 03.38 has a form for it
(GSM-7, UCS-2), else by dest_addr_subunit (IA5 and Latin-1 are SMPP's own codings,
without class bits). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from crds.channel import Gsm7Coding, NumberingPlan, SourceAddress, TypeOfNumber
from crds.template import TemplateSpec
from sender.smpp.codes import ESM_UDHI, NUL, Tag
from sender.smpp.pdu import SubmitSm, encode_tlvs
from sender.sms import text as sms_text
from sender.sms.payloads import ALPHABET, CODINGS, payloads
from sender.sms.text import basic_ascii_septets

TON = {t: i for i, t in enumerate(TypeOfNumber)}  # SMPP 3.4 5.2.5 order
NPI = {
    NumberingPlan.UNKNOWN: 0, NumberingPlan.ISDN: 1, NumberingPlan.DATA: 3,
    NumberingPlan.TELEX: 4, NumberingPlan.LAND_MOBILE: 6, NumberingPlan.NATIONAL: 8,
    NumberingPlan.PRIVATE: 9, NumberingPlan.ERMES: 10, NumberingPlan.INTERNET: 14,
    NumberingPlan.WAP_CLIENT_ID: 18,
}  # fmt: skip
FLASH_SUBUNIT: dict[int, bytes] = {Tag.DEST_ADDR_SUBUNIT: b"\x01"}  # SMPP 3.4 5.3.2.1: MS display
INTERNATIONAL, ISDN = 1, 1
FLASH_SUBUNIT_TLV = encode_tlvs(FLASH_SUBUNIT)
_encode, _GSM7, _flash_coding = CODINGS[sms_text.Encoding.GSM7]  # data_coding 0x00, 0x10
assert _flash_coding is not None
_GSM7_FLASH: int = _flash_coding
_LENGTH = tuple(bytes((n,)) for n in range(256))
"""sm_length octets, one object each, made once."""


_BODY = "\ufdd0"
"""A noncharacter standing for the body while a template's frame is found."""


def _plan(spec: TemplateSpec, frame: tuple[str, str] | None
          ) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """How `MessageBuilder.text` renders a variant without `render` and `compose` for
    each recipient: (the text before the first variable, the variables, the text after
    each), the frame folded into the first and last texts. None (render and compose
    every time) for a template with links or problems, none in its frame, or whose body
    has no text of its own (an empty body composes differently)."""
    pieces = sms_text.plain_pieces(spec.body)
    if frame is None or pieces is None or not "".join(pieces[0]):
        return None
    literals, names = pieces
    if not names:
        return frame[0] + literals[0] + frame[1], (), ()
    rest = (*literals[1:-1], literals[-1] + frame[1])
    return frame[0] + literals[0], names, rest


def _frame(spec: TemplateSpec) -> tuple[str, str] | None:
    """What `spec.compose` puts before and after any non-empty body (signature, opt-out
    text and the gaps, as the template's placement and locale say), found once per
    variant instead of composed for every recipient; None if the template's own text
    holds the stand-in."""
    if _BODY in spec.signature + spec.opt_out_text:
        return None
    before, _, after = spec.compose(_BODY).partition(_BODY)
    return before, after


class MessageBuilder:
    """Builds the PDUs of one campaign's messages; one per sender process."""

    def __init__(
        self,
        templates: Mapping[str, TemplateSpec],
        source: SourceAddress,
        *,
        gsm7_coding: Gsm7Coding = Gsm7Coding.SMSC_DEFAULT,
        receipts: bool = True,
    ) -> None:
        self.templates = dict(templates)
        self._frames = {variant: _frame(spec) for variant, spec in self.templates.items()}
        self._plans = {variant: _plan(spec, self._frames[variant])
                       for variant, spec in self.templates.items()}
        self.source = source
        self.alphabet = ALPHABET[gsm7_coding]
        self._gsm7 = self.alphabet is sms_text.Encoding.GSM7
        self.registered_delivery = 1 if receipts else 0
        self._reference = 0
        self._heads: dict[str, tuple[SourceAddress, bytes]] = {}
        self._middles: dict[int, bytes] = {}
        """By esm_class << 8 | data_coding."""
        self._flash = {variant: spec.flash for variant, spec in self.templates.items()}

    def text(self, variables: Mapping[str, str], variant: str = "",
             links: Mapping[str, str] | None = None) -> str:
        """The message as the recipient reads it, each {link:URL} as links[URL] (its
        short link). Raises sms_text.MissingVariables."""
        plan = self._plans[variant]
        if plan is not None:  # what render and compose give, a third of their time
            first, names, rest = plan
            try:
                if len(names) == 1:  # most templates: one join of three
                    return "".join((first, variables[names[0]], rest[0]))
                pieces = [first]
                for name, literal in zip(names, rest, strict=True):
                    pieces += (variables[name], literal)
                return "".join(pieces)
            except KeyError:
                pass  # render says which are missing
        spec = self.templates[variant]
        body = sms_text.render(spec.body, variables, links)
        frame = self._frames[variant]
        if frame is None or not body:
            return spec.compose(body)
        return frame[0] + body + frame[1]

    def link_targets(self, variant: str = "") -> list[str]:
        """The target URLs of the variant's {link:URL}, in order (none: no links)."""
        return sms_text.find_links(self.templates[variant].body)

    def _encoded(self, variables: Mapping[str, str], variant: str,
                 links: Mapping[str, str] | None) -> tuple[list[bytes], int, int, bytes]:
        """(short_message of each part, esm_class, data_coding, encoded TLVs) of one
        recipient's message; a concatenated one takes the next reference."""
        text = self.text(variables, variant, links)
        encoded = payloads(text, self.alphabet, self._reference + 1)
        data_coding, tlvs = encoded.data_coding, b""
        if self.templates[variant].flash:
            if encoded.flash_coding is None:
                tlvs = FLASH_SUBUNIT_TLV
            else:
                data_coding = encoded.flash_coding
        esm_class = 0
        if len(encoded.parts) > 1:  # each long message a reference of its own
            self._reference = (self._reference + 1) % 256
            esm_class = ESM_UDHI
        return encoded.parts, esm_class, data_coding, tlvs

    def build(self, phone: str, variables: Mapping[str, str], variant: str = "",
              source: SourceAddress | None = None,
              links: Mapping[str, str] | None = None) -> list[SubmitSm]:
        """The submit_sm PDUs for one recipient: one, or one per concatenated part, from
        `source` (the address chosen from the channel's pool), else the builder's, its
        links the short links `links` maps their targets to. What `bodies` encodes
        (tests/test_message_bodies.py compares them); the sender sends those."""
        source = source or self.source
        parts, esm_class, data_coding, tlvs = self._encoded(variables, variant, links)
        return [
            SubmitSm(
                source_addr_ton=TON[source.ton], source_addr_npi=NPI[source.npi],
                source_addr=source.address,
                dest_addr_ton=INTERNATIONAL, dest_addr_npi=ISDN,
                destination_addr=phone.removeprefix("+"),
                esm_class=esm_class, registered_delivery=self.registered_delivery,
                data_coding=data_coding, short_message=payload,
                tlvs=FLASH_SUBUNIT if tlvs else {},
            )
            for payload in parts
        ]

    def bodies(self, phone: str, variables: Mapping[str, str], variant: str = "",
               source: SourceAddress | None = None,
               links: Mapping[str, str] | None = None) -> list[bytes]:
        """The encoded bodies of `build`'s PDUs, byte for byte (the header is the bind's,
        with the sequence number, when it writes them), spliced from bytes made once per
        source address and per (esm_class, data_coding): no SubmitSm per message, which
        with its encoding cost 1.9 us of build's 3.3 (bench/README.md)."""
        source = source or self.source
        head = self._heads.get(source.address)
        if head is None or (head[0] is not source and (  # one object per address, mostly
                head[0].ton != source.ton or head[0].npi != source.npi)):
            head = self._heads[source.address] = (source, self._head(source))
        text = self.text(variables, variant, links)
        septets = basic_ascii_septets(text) if self._gsm7 else None
        tlvs = b""
        if septets is not None:  # payloads' own fast path, without its tuple: 1.31 -> 0.88 us
            parts, data_coding = [septets], (_GSM7_FLASH if self._flash[variant] else _GSM7)
        else:
            encoded = payloads(text, self.alphabet, self._reference + 1)
            parts, data_coding = encoded.parts, encoded.data_coding
            if self._flash[variant]:
                if encoded.flash_coding is None:
                    tlvs = FLASH_SUBUNIT_TLV
                else:
                    data_coding = encoded.flash_coding
        if len(parts) == 1:
            middle = self._middles.get(data_coding)
            if middle is None:
                middle = self._middles[data_coding] = self._middle(0, data_coding)
            return [b"".join((head[1], phone.removeprefix("+").encode("latin-1"), middle,
                              _LENGTH[len(parts[0])], parts[0], tlvs))]
        self._reference = (self._reference + 1) % 256  # each long message its own
        middle = self._middles.get(ESM_UDHI << 8 | data_coding)
        if middle is None:
            middle = self._middles[ESM_UDHI << 8 | data_coding] = self._middle(
                ESM_UDHI, data_coding)
        start = head[1] + phone.removeprefix("+").encode("latin-1") + middle
        return [b"".join((start, _LENGTH[len(payload)], payload, tlvs)) for payload in parts]

    @staticmethod
    def _head(source: SourceAddress) -> bytes:
        """A body up to destination_addr: service_type (empty), the source's TON, NPI
        and address, the destination's TON and NPI."""
        return b"".join((NUL, bytes((TON[source.ton], NPI[source.npi])),
                         source.address.encode("latin-1"), NUL,
                         bytes((INTERNATIONAL, ISDN))))

    def _middle(self, esm_class: int, data_coding: int) -> bytes:
        """From destination_addr's NUL to sm_length: esm_class, protocol_id and
        priority_flag, schedule_delivery_time and validity_period (empty),
        registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id."""
        return b"".join((NUL, bytes((esm_class, 0, 0)), NUL, NUL,
                         bytes((self.registered_delivery, 0, data_coding, 0))))
