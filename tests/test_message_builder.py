"""sender.send.messages: a variant's text as the template composes it, found once."""

from __future__ import annotations

import pytest

from crds.channel import SourceAddress
from crds.template import Category, SignaturePlacement, TemplateSpec
from sender.send.messages import MessageBuilder
from sender.sms import text as sms_text


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


@pytest.mark.parametrize("body", [
    "Hi {a}, {b}!", "{a}{b}", "{a} then {a}", "No variables", "{{braces}} {a} }}", "{a}{b}{c}",
])
@pytest.mark.parametrize("values", [
    pytest.param({"a": "Ann", "b": "Bo", "c": "Cy"}, id="all"),
    pytest.param({"a": "", "b": "", "c": ""}, id="empty"),
])
def test_text_is_render_then_compose(body: str, values: dict[str, str]) -> None:
    """However many variables (the builder joins a variant's pieces found once), the text
    is the body rendered, then composed; an empty one composes as an empty body does."""
    spec = TemplateSpec(category=Category.MARKETING, body=body, signature="[Shop]",
                        opt_out_text="STOP", signature_placement=SignaturePlacement.SUFFIX)
    builder = MessageBuilder({"": spec}, SourceAddress(address="Herald"))
    assert builder.text(values) == spec.compose(sms_text.render(body, values))


@pytest.mark.parametrize("body", ["Hi {a}, {b}!", "{b}", "x {a}{b}{c}"])
def test_a_missing_variable_is_named(body: str) -> None:
    spec = TemplateSpec(category=Category.MARKETING, body=body)
    builder = MessageBuilder({"": spec}, SourceAddress(address="Herald"))
    with pytest.raises(sms_text.MissingVariables) as raised:
        builder.text({"a": "Ann"})
    assert "b" in str(raised.value)
