"""Channel decisions without I/O: Secret and bind outcomes to Ready, status and Events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from controllers.decisions import reasons
from controllers.decisions.channel_plan import (
    ActivitySeen,
    ChannelWorld,
    SecretSeen,
    SourceSeen,
    TlsSeen,
    binds_up_result,
    measured_rate,
    plan_channel,
)
from crds.base import find_condition
from crds.channel import (
    Channel,
    ChannelSpec,
    ChannelStatus,
    KeywordReplies,
    PooledSourceAddress,
    Pricing,
)
from sender.smpp.probe import ProbeResult

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SPEC = Channel.model_validate(yaml.safe_load(
    (Path(__file__).parent.parent / "examples" / "channel.yaml").read_text())).spec
GOOD = SecretSeen(found=True, has_key=True, password_length=6)
BOUND = ProbeResult(True, "Bound", "bound to smsc:2775 as herald (Transceiver)")


@pytest.mark.parametrize("secret, probe, ready, reason", [
    pytest.param(SecretSeen(found=False), None, "False", reasons.SECRET_NOT_FOUND,
                 id="no-secret"),
    pytest.param(SecretSeen(found=True), None, "False", reasons.SECRET_KEY_MISSING,
                 id="no-key"),
    pytest.param(SecretSeen(found=True, has_key=True, password_length=12), None, "False",
                 reasons.PASSWORD_TOO_LONG, id="password-over-8"),
    pytest.param(GOOD, ProbeResult(False, "ConnectFailed", "cannot connect"), "False",
                 "ConnectFailed", id="smsc-down"),
    pytest.param(GOOD, ProbeResult(False, "BindRefused", "ESME_RINVPASWD"), "False",
                 "BindRefused", id="wrong-password"),
    pytest.param(GOOD, BOUND, "True", reasons.BOUND, id="bound"),
])
def test_ready_follows_secret_and_bind(secret, probe, ready, reason) -> None:
    decision = plan_channel(SPEC, 1, ChannelStatus(), ChannelWorld(NOW, secret, probe))
    condition = find_condition(decision.status.conditions, "Ready")
    assert condition is not None and (condition.status, condition.reason) == (ready, reason)
    (event,) = decision.events
    assert event.reason == reason and event.type == ("Normal" if ready == "True" else "Warning")
    if ready == "False":
        assert decision.status.last_error is not None
        assert decision.status.last_error.reason == reason


def test_a_passing_recheck_writes_nothing_new() -> None:
    first = plan_channel(SPEC, 1, ChannelStatus(), ChannelWorld(NOW, GOOD, BOUND))
    again = plan_channel(SPEC, 1, first.status,
                         ChannelWorld(NOW + timedelta(minutes=5), GOOD, BOUND))
    assert again.status == first.status and again.events == ()



def test_a_sample_between_checks_updates_binds_and_rate_only() -> None:
    checked = plan_channel(SPEC, 1, ChannelStatus(), ChannelWorld(NOW, GOOD, BOUND)).status
    sample = ChannelWorld(NOW + timedelta(seconds=5), secret=None,
                          activity=ActivitySeen(bound=3, receiver_bound=1,
                                                messages_per_second=480))
    decision = plan_channel(SPEC, 2, checked, sample)
    assert decision.events == ()
    assert decision.status.conditions == checked.conditions
    assert decision.status.observed_generation == 1  # generation 2 is not checked yet
    assert decision.status.binds is not None
    assert (decision.status.binds.bound, decision.status.binds.receiver_bound) == (3, 1)
    assert decision.status.measured_messages_per_second == 480


def test_binds_up_stand_for_the_probe() -> None:
    decision = plan_channel(SPEC, 1, ChannelStatus(),
                            ChannelWorld(NOW, GOOD, binds_up_result(SPEC, 2)))
    ready = find_condition(decision.status.conditions, "Ready")
    assert ready is not None and (ready.status, ready.reason) == ("True", reasons.BOUND)


@pytest.mark.parametrize("samples, rate", [
    pytest.param([], None, id="none"),
    pytest.param([(0.0, 10)], None, id="one"),
    pytest.param([(0.0, 0), (60.0, 30_000)], 500, id="steady"),
    pytest.param([(0.0, 5), (5.0, 5)], 0, id="idle"),
    pytest.param([(0.0, 100), (10.0, 0)], 0, id="totals-reset"),
    pytest.param([(3.0, 0), (3.0, 10)], None, id="same-instant"),
])
def test_measured_rate(samples: list[tuple[float, int]], rate: int | None) -> None:
    assert measured_rate(samples) == rate


def test_a_check_by_binds_up_after_a_probe_is_no_change() -> None:
    probed = plan_channel(SPEC, 1, ChannelStatus(), ChannelWorld(NOW, GOOD, BOUND))
    again = plan_channel(SPEC, 1, probed.status, ChannelWorld(
        NOW + timedelta(minutes=5), GOOD, binds_up_result(SPEC, 2)))
    assert again.events == () and again.status == probed.status


def tls_spec(**tls: object) -> ChannelSpec:
    body = SPEC.to_api()
    body["smpp"]["tls"] = tls
    return ChannelSpec.model_validate(body)


CA_REF = {"kind": "ConfigMap", "name": "smsc-ca"}
CLIENT = {"name": "herald-client"}


# Each row: the TLS spec, what was read, the Ready reason (and a word of its message).
@pytest.mark.parametrize("tls, seen, probe, reason, says", [
    pytest.param({"caRef": CA_REF}, TlsSeen(ca=SourceSeen(found=False)), None,
                 reasons.TLS_SOURCE_NOT_FOUND, "ConfigMap smsc-ca", id="ca-configmap-missing"),
    pytest.param({"caRef": CA_REF}, TlsSeen(ca=SourceSeen(True, ("ca.crt",))), None,
                 reasons.TLS_KEY_MISSING, "no key 'ca.crt'", id="ca-key-missing"),
    pytest.param({"clientCertSecretRef": CLIENT},
                 TlsSeen(client_cert=SourceSeen(True, ("tls.key",))), None,
                 reasons.TLS_KEY_MISSING, "Secret herald-client", id="client-key-missing"),
    pytest.param({"caRef": CA_REF}, TlsSeen(ca=SourceSeen(True)),
                 ProbeResult(False, reasons.CERTIFICATE_NOT_TRUSTED, "does not verify"),
                 reasons.CERTIFICATE_NOT_TRUSTED, "does not verify", id="ca-does-not-verify"),
    pytest.param({}, TlsSeen(), ProbeResult(False, reasons.TLS_HANDSHAKE_FAILED, "a TLS port?"),
                 reasons.TLS_HANDSHAKE_FAILED, "TLS port", id="handshake-failed"),
    pytest.param({"caRef": CA_REF}, TlsSeen(ca=SourceSeen(True)), BOUND, reasons.BOUND,
                 "over TLS", id="bound-over-tls"),
])
def test_tls_problems_are_ready_reasons(tls, seen, probe, reason, says) -> None:
    decision = plan_channel(tls_spec(**tls), 1, ChannelStatus(),
                            ChannelWorld(NOW, GOOD, probe, tls=seen))
    ready = find_condition(decision.status.conditions, "Ready")
    assert ready is not None and ready.reason == reason and says in ready.message
    verified = find_condition(decision.status.conditions, "TLSVerified")
    assert verified is not None and verified.status == "True"


def test_insecure_skip_verify_is_a_warning_condition_once() -> None:
    spec = tls_spec(insecureSkipVerify=True)
    first = plan_channel(spec, 1, ChannelStatus(), ChannelWorld(NOW, GOOD, BOUND))
    verified = find_condition(first.status.conditions, "TLSVerified")
    assert verified is not None
    assert (verified.status, verified.reason) == ("False", reasons.INSECURE_SKIP_VERIFY)
    assert [(e.type, e.reason) for e in first.events] == [
        ("Normal", reasons.BOUND), ("Warning", reasons.INSECURE_SKIP_VERIFY)]
    again = plan_channel(spec, 1, first.status, ChannelWorld(NOW, GOOD, BOUND))
    assert again.events == ()


def test_plain_tcp_has_no_tls_condition_and_dropping_tls_removes_it() -> None:
    with_tls = plan_channel(tls_spec(), 1, ChannelStatus(), ChannelWorld(NOW, GOOD, BOUND))
    assert find_condition(with_tls.status.conditions, "TLSVerified") is not None
    plain = plan_channel(SPEC, 2, with_tls.status, ChannelWorld(NOW, GOOD, BOUND))
    assert find_condition(plain.status.conditions, "TLSVerified") is None


def routing_spec(**routing: object) -> ChannelSpec:
    return SPEC.model_copy(update={"routing": SPEC.routing.model_copy(update=routing)})


@pytest.mark.parametrize("routing, status, says", [
    pytest.param({"countries": ["CN"], "carriers": ["China Mobile", "中国联通"]}, "True",
                 "every country and carrier", id="known"),
    pytest.param({"countries": ["CN", "XX"]}, "False", "no numbers for: XX", id="not-a-country"),
    pytest.param({"carriers": ["Chna Mobile"]}, "False", "does not know", id="carrier-typo"),
])
def test_routing_names_what_can_match_nothing(routing: dict[str, list[str]], status: str,
                                              says: str) -> None:
    decision = plan_channel(routing_spec(**routing), 1, ChannelStatus(),
                            ChannelWorld(NOW, GOOD, BOUND))
    valid = find_condition(decision.status.conditions, "RoutingValid")
    assert valid is not None and valid.status == status and says in valid.message
    warned = [e for e in decision.events if e.reason == reasons.UNKNOWN_ROUTING_TARGET]
    assert len(warned) == (status == "False")
    ready = find_condition(decision.status.conditions, "Ready")
    assert ready is not None and ready.status == "True"  # a warning, not a failure
    again = plan_channel(routing_spec(**routing), 1, decision.status,
                         ChannelWorld(NOW, GOOD, BOUND))
    assert not [e for e in again.events if e.reason == reasons.UNKNOWN_ROUTING_TARGET]


def pool_spec(*countries: list[str]) -> ChannelSpec:
    smpp = SPEC.smpp.model_copy(update={"source_addr": None, "source_addresses": [
        PooledSourceAddress(address=f"+1415555000{i}", countries=c)
        for i, c in enumerate(countries)]})
    return SPEC.model_copy(update={"smpp": smpp})


@pytest.mark.parametrize("spec, status, says", [
    pytest.param(pool_spec(["US", "CA"], ["GB"]), "True", "every country", id="known"),
    pytest.param(pool_spec(["US"], ["UK"]), "False", "+14155550001: countries phonenumbers"
                 " has no numbers for: UK", id="uk-for-gb"),
])
def test_a_pool_names_its_countries_that_match_nothing(spec: ChannelSpec, status: str,
                                                       says: str) -> None:
    decision = plan_channel(spec, 1, ChannelStatus(), ChannelWorld(NOW, GOOD, BOUND))
    valid = find_condition(decision.status.conditions, "SourceAddressesValid")
    assert valid is not None and valid.status == status and says in valid.message
    warned = [e for e in decision.events if e.reason == reasons.UNKNOWN_SOURCE_COUNTRY]
    assert len(warned) == (status == "False")
    ready = find_condition(decision.status.conditions, "Ready")
    assert ready is not None and ready.status == "True"  # a warning, not a failure


@pytest.mark.parametrize("countries, status, says", [
    pytest.param(["CN", "GB"], "True", "every country", id="known"),
    pytest.param(["CN", "UK"], "False", "countries phonenumbers has no numbers for: UK",
                 id="uk-for-gb"),
])
def test_pricing_names_its_countries_that_match_nothing(countries: list[str], status: str,
                                                        says: str) -> None:
    spec = SPEC.model_copy(update={"pricing": Pricing.model_validate({
        "currency": "USD", "countries": [{"country": c, "pricePerSegment": "0.01"}
                                         for c in countries]})})
    decision = plan_channel(spec, 1, ChannelStatus(), ChannelWorld(NOW, GOOD, BOUND))
    valid = find_condition(decision.status.conditions, "PricingValid")
    assert valid is not None and valid.status == status and says in valid.message
    warned = [e for e in decision.events if e.reason == reasons.UNKNOWN_PRICING_COUNTRY]
    assert len(warned) == (status == "False")
    ready = find_condition(decision.status.conditions, "Ready")
    assert ready is not None and ready.status == "True"  # a warning, not a failure
    unpriced = plan_channel(SPEC.model_copy(update={"pricing": None}), 2, decision.status,
                            ChannelWorld(NOW, GOOD, BOUND))
    assert find_condition(unpriced.status.conditions, "PricingValid") is None


def test_a_pool_without_countries_has_no_pool_condition() -> None:
    with_countries = plan_channel(pool_spec(["CN"]), 1, ChannelStatus(),
                                  ChannelWorld(NOW, GOOD, BOUND))
    plain = plan_channel(pool_spec([], []), 2, with_countries.status,
                         ChannelWorld(NOW, GOOD, BOUND))
    assert find_condition(plain.status.conditions, "SourceAddressesValid") is None


def test_no_countries_or_carriers_no_routing_condition() -> None:
    with_routing = plan_channel(routing_spec(countries=["CN"]), 1, ChannelStatus(),
                                ChannelWorld(NOW, GOOD, BOUND))
    plain = plan_channel(SPEC, 2, with_routing.status, ChannelWorld(NOW, GOOD, BOUND))
    assert find_condition(plain.status.conditions, "RoutingValid") is None


def keywords(replies: dict[str, object], **spec: object) -> ChannelSpec:
    return SPEC.model_copy(update={
        "keyword_replies": KeywordReplies.model_validate(replies), **spec})


@pytest.mark.parametrize("spec, receivers, status, reason, says", [
    pytest.param(SPEC, True, None, None, "", id="none-configured"),
    pytest.param(keywords({"help": {"reply": "Acme"}}), True, "True", reasons.ANSWERING,
                 "receiver answers", id="answering"),
    pytest.param(keywords({"help": {"keywords": ["HELP", "ＨＥＬＰ"], "reply": "Acme"}}), True,
                 "False", reasons.DUPLICATE_KEYWORD, "'ＨＥＬＰ' (keywordReplies.help.keywords)"
                 " reads as 'HELP'", id="full-width-duplicate"),
    pytest.param(keywords({"custom": [{"keyword": "ＴＤ", "reply": "?"}]}), True, "False",
                 reasons.DUPLICATE_KEYWORD, "opt-out keyword 'td'", id="full-width-opt-out"),
    pytest.param(keywords({"help": {"reply": "Acme"}}), False, "False", reasons.NO_RECEIVER,
                 "the operator runs no channel receivers", id="receivers-off"),
    pytest.param(keywords({"help": {"reply": "Acme"}}, max_binds=1), True, "False",
                 reasons.NO_RECEIVER, "maxBinds leaves it no bind", id="no-bind-left"),
])
def test_keyword_replies_say_whether_they_are_answered(
    spec: ChannelSpec, receivers: bool, status: str | None, reason: str | None, says: str
) -> None:
    world = ChannelWorld(NOW, GOOD, BOUND, receivers=receivers)
    decision = plan_channel(spec, 1, ChannelStatus(), world)
    found = find_condition(decision.status.conditions, "KeywordReplies")
    if status is None:
        assert found is None
        return
    assert found is not None and (found.status, found.reason) == (status, reason)
    assert says in found.message
    warnings = [e for e in decision.events if e.reason == reason]
    assert len(warnings) == (1 if status == "False" else 0)
    again = plan_channel(spec, 1, decision.status, world)  # no change: no second Event
    assert not [e for e in again.events if e.reason == reason]
