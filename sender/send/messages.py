"""From a recipient and its template to the submit_sm PDUs that carry the message.

Render the body with the recipient's variables, compose it with signature and opt-out
text (as the template review showed it), choose GSM-7 or UCS-2, and split a long
message into concatenated parts with a UDH (reference, total, sequence). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from crds.channel import Gsm7Coding, NumberingPlan, SourceAddress, TypeOfNumber
from crds.template import TemplateSpec
from sender.smpp.codes import ESM_UDHI
from sender.smpp.pdu import SubmitSm
from sender.sms import text as sms_text

TON = {t: i for i, t in enumerate(TypeOfNumber)}  # SMPP 3.4 5.2.5 order
NPI = {
    NumberingPlan.UNKNOWN: 0, NumberingPlan.ISDN: 1, NumberingPlan.DATA: 3,
    NumberingPlan.TELEX: 4, NumberingPlan.LAND_MOBILE: 6, NumberingPlan.NATIONAL: 8,
    NumberingPlan.PRIVATE: 9, NumberingPlan.ERMES: 10, NumberingPlan.INTERNET: 14,
    NumberingPlan.WAP_CLIENT_ID: 18,
}  # fmt: skip
GSM7_DATA_CODING = {Gsm7Coding.SMSC_DEFAULT: 0, Gsm7Coding.IA5: 1, Gsm7Coding.LATIN1: 3}
UCS2_DATA_CODING = 8
INTERNATIONAL, ISDN = 1, 1


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
        self.source = source
        self.gsm7_coding = GSM7_DATA_CODING[gsm7_coding]
        self.registered_delivery = 1 if receipts else 0
        self._reference = 0

    def text(self, variables: Mapping[str, str], variant: str = "") -> str:
        """The message as the recipient reads it. Raises sms_text.MissingVariables."""
        spec = self.templates[variant]
        return spec.compose(sms_text.render(spec.body, variables))

    def build(self, phone: str, variables: Mapping[str, str], variant: str = "") -> list[SubmitSm]:
        """The submit_sm PDUs for one recipient: one, or one per concatenated part."""
        text = self.text(variables, variant)
        encoding = sms_text.detect_encoding(text)
        if encoding == sms_text.Encoding.GSM7:
            encode, data_coding = sms_text.encode_gsm7_unpacked, self.gsm7_coding
        else:
            encode, data_coding = sms_text.encode_ucs2, UCS2_DATA_CODING
        parts = sms_text.split_segments(text, encoding)
        payloads = [encode(part) for part in parts]
        esm_class = 0
        if len(payloads) > 1:
            self._reference = (self._reference + 1) % 256
            payloads = sms_text.encode_udh_parts(payloads, self._reference)
            esm_class = ESM_UDHI
        return [
            SubmitSm(
                source_addr_ton=TON[self.source.ton], source_addr_npi=NPI[self.source.npi],
                source_addr=self.source.address,
                dest_addr_ton=INTERNATIONAL, dest_addr_npi=ISDN,
                destination_addr=phone.removeprefix("+"),
                esm_class=esm_class, registered_delivery=self.registered_delivery,
                data_coding=data_coding, short_message=payload,
            )
            for payload in payloads
        ]
