"""sender.send.messages: a variant's text as the template composes it, found once."""

from __future__ import annotations

import pytest

from crds.channel import SourceAddress
from crds.template import Category, SignaturePlacement, TemplateSpec
from sender.send.messages import MessageBuilder


@pytest.mark.parametrize("signature, opt_out, locale, placement", [
    pytest.param("【Brand】", "回T退订", "zh-CN", SignaturePlacement.PREFIX, id="zh-prefix"),
    pytest.param("[Shop]", "Reply STOP to opt out", "en", SignaturePlacement.SUFFIX,
                 id="en-suffix"),
    pytest.param("", "STOP", "en", SignaturePlacement.PREFIX, id="no-signature"),
    pytest.param("[Shop]", "", "en", SignaturePlacement.SUFFIX, id="no-opt-out"),
    pytest.param("", "", "ja", SignaturePlacement.PREFIX, id="neither"),
])
@pytest.mark.parametrize("body, value", [
    pytest.param("Hi {name}, 20% off", "Bob", id="text-around"),
    pytest.param("{name}", "Bob", id="variable-alone"),
    pytest.param("{name}", "", id="empty-body"),
])
def test_text_is_the_templates_composition(signature: str, opt_out: str, locale: str,
                                           placement: SignaturePlacement, body: str,
                                           value: str) -> None:
    spec = TemplateSpec(category=Category.MARKETING, body=body, signature=signature,
                        opt_out_text=opt_out, locale=locale, signature_placement=placement)
    builder = MessageBuilder({"": spec}, SourceAddress(address="Herald"))
    assert builder.text({"name": value}) == spec.compose(body.replace("{name}", value))
