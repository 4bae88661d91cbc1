"""Spec fields whose effect no other test proved, or proved only on settings built by
hand (tests/field_effects.py names the test of each field): each test here starts from
the spec, through the run the operator writes, to what reaches the SMSC or comes back.
What a bind and its submits carry, the window, the response timeout, coding, bind mode,
retries, opt-outs and rates the senders keep, the server name a certificate is checked
for, how the receiver reads replies, the Secret keys and CA a channel names; what
recipients read, who gets which template, the send window, the Secrets an importer
mounts, an approval's note.

Real processes throughout: redis-server, the SMPP simulator over TCP (behind a relay
that keeps the bytes Herald sends), the local stack; the operator's decisions on worlds
built by hand. Runs are sent by `run_shard`, as a sender pod sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import trustme

from controllers.channel import bind_settings
from controllers.decisions import reasons
from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.campaign_run import build_run_config
from controllers.decisions.campaign_world import AudienceSeen, ChannelSeen, TemplateSeen
from controllers.decisions.receiver_deployment import build_receiver_deployment
from controllers.decisions.template_review import TemplateWorld, review_template
from crds.base import API_VERSION, find_condition
from crds.campaign import CampaignSpec
from crds.channel import ChannelSpec, SourceAddress
from crds.template import TemplateSpec, TemplateStatus
from herald.local.kube.client import wait_for
from herald.local.kube.object_writes import merge_patch
from herald.local.redis import RedisServer
from herald.local.stack import SMPP_PASSWORD, Stack
from sender.importer.process import run_import
from sender.receive.process import load_settings
from sender.run_config import RunConfig, TlsMaterial
from sender.send.messages import MessageBuilder
from sender.send.process import run_shard
from sender.simulator.config import SimulatorConfig, with_account
from sender.simulator.records import decode_text
from sender.simulator.server import Simulator
from sender.smpp.codes import HEADER, CommandId
from sender.smpp.pdu import BindTransmitter, SubmitSm
from sender.smpp.probe import probe_bind
from sender.smpp.stream import FrameBuffer
from sender.sms.replies import ReplyKind, read_reply
from sender.sms.variants import VariantPicker
from sender.store.keys import OPT_OUT_SET, CampaignKeys
from sender.store.run_store import write_run
from sender.store.transitions import read_counters
from tests.crd_validation import load_example, validate
from tests.run_configs import fill_shard
from tests.test_campaign_operator import (
    CAMPAIGN,
    NS,
    TIMEOUT,
    campaign_body,
    example,
    inline,
    wait_delivered,
)
from tests.test_campaign_plan import NOW, SETTINGS, campaign, world
from tests.test_channel_tls_operator import condition, pki, stack
from tests.test_smpp_tls import Tap
from tests.tls_pki import Pki

__all__ = ["pki", "stack"]  # the local stack over mutual TLS, and its certificates

KEYS = CampaignKeys("shop", "gaps")
OWNER = Owner(KEYS.namespace, KEYS.name, "uid-gaps", 1)
CODE = TemplateSpec.model_validate({"category": "Notification", "body": "Your code is {code}.",
                                    "variables": [{"name": "code"}]})


@pytest.fixture
async def smsc() -> AsyncIterator[Simulator]:
    """Accounts herald and herald-b (password herald); receipts at once."""
    config = with_account(SimulatorConfig(port=0, receipt_delay_ms=5, seed=5), "herald-b",
                          "herald")
    async with Simulator(config) as sim:
        yield sim


def channel_spec(port: int, **smpp: Any) -> ChannelSpec:
    """The example Channel on 127.0.0.1:`port` with one bind, `smpp` set over its smpp."""
    body = example("channel.yaml")["spec"]
    body["smpp"] |= {"host": "127.0.0.1", "port": port, **smpp}
    return ChannelSpec.model_validate(body | {"maxBinds": 1})


def code_run(channel: ChannelSpec, **campaign: Any) -> RunConfig:
    """The operator's run of a one-shard Notification campaign over `channel`."""
    spec = CampaignSpec.model_validate({
        "templateRef": {"name": "code"}, "channels": [{"name": "carrier-a"}],
        "audience": {"inline": []}, "senders": 1} | campaign)
    return build_run_config(OWNER, spec, {"": CODE}, [("carrier-a", channel)], 0.0)


# -- Channel: what reaches the SMSC, and what comes back ------------------------------------

def herald_wrote(tap: Tap) -> tuple[list[BindTransmitter], list[SubmitSm]]:
    """The binds (any mode: one layout) and submits Herald sent through `tap`."""
    binds, submits = [], []
    for frame in FrameBuffer().feed(bytes(tap.sent)):
        _, command, _, sequence = HEADER.unpack_from(frame)
        if command in (CommandId.BIND_TRANSCEIVER, CommandId.BIND_TRANSMITTER,
                       CommandId.BIND_RECEIVER):
            binds.append(BindTransmitter.decode_body(frame, sequence, 0))
        elif command == CommandId.SUBMIT_SM:
            submits.append(SubmitSm.decode_body(frame, sequence, 0))
    return binds, submits


ALPHANUMERIC, INTERNATIONAL, NATIONAL, UNKNOWN, ISDN = 5, 1, 2, 0, 1
SET = {"systemId": "herald-b", "systemType": "VMA",
       "sourceAddr": {"address": "10690000", "ton": "National", "npi": "ISDN"}}


# Each row: smpp fields over the example's; the bind's (system_id, system_type), and
# each submit's (source_addr, ton, npi), as read off the wire.
@pytest.mark.parametrize("smpp, bind, source", [
    pytest.param({}, ("herald", ""), ("Herald", ALPHANUMERIC, UNKNOWN), id="example"),
    pytest.param(SET, ("herald-b", "VMA"), ("10690000", NATIONAL, ISDN), id="each-set"),
    pytest.param({"sourceAddr": None, "sourceAddresses": [SET["sourceAddr"]]}, ("herald", ""),
                 ("10690000", NATIONAL, ISDN), id="pool-of-one"),
])
async def test_binds_and_submits_carry_the_channels_smpp_settings(
    redis: aioredis.Redis, smsc: Simulator, smpp: dict[str, Any],
    bind: tuple[str, str], source: tuple[str, int, int],
) -> None:
    await fill_shard(redis, KEYS, 3, "+8613800")
    async with Tap(smsc.port) as tap:
        await run_shard(code_run(channel_spec(tap.port, **smpp)), 0, redis, "herald")
    binds, submits = herald_wrote(tap)
    assert {(b.system_id, b.system_type) for b in binds} == {bind}
    assert len(submits) == 3
    assert {(s.source_addr, s.source_addr_ton, s.source_addr_npi) for s in submits} == {source}
    assert {m.source for m in smsc.accepted} == {source[0]}


# Each row: the channel's smpp.window against an SMSC that refuses a sixth submit
# awaiting its response; whether it refused any.
@pytest.mark.parametrize("window, refused", [
    pytest.param(5, False, id="within-the-smscs-window"),
    pytest.param(20, True, id="over-it"),
])
async def test_a_bind_keeps_at_most_window_submits_unanswered(
    redis: aioredis.Redis, window: int, refused: bool,
) -> None:
    config = SimulatorConfig(port=0, latency_ms=20, window=5, receipt_delay_ms=5, seed=5)
    async with Simulator(config) as sim:
        await fill_shard(redis, KEYS, 60, "+8613800")
        await run_shard(code_run(channel_spec(sim.port, window=window)), 0, redis, "herald")
    assert (sim.counters.window_exceeded > 0) is refused
    assert len({m.destination for m in sim.accepted}) == 60  # refused ones went again


# Each row: responseTimeoutSeconds against an SMSC that answers each submit after 3 s;
# the messages counted unknown and submitted.
@pytest.mark.parametrize("timeout, unknown, submitted", [
    pytest.param(1, 4, 0, id="answers-after-the-timeout-are-unknown"),
    pytest.param(6, 0, 4, id="answers-within-it-count"),
])
async def test_a_submit_unanswered_past_the_timeout_is_counted_unknown(
    redis: aioredis.Redis, timeout: int, unknown: int, submitted: int,
) -> None:
    async with Simulator(SimulatorConfig(port=0, latency_ms=3000, seed=5)) as sim:
        await fill_shard(redis, KEYS, 4, "+8613800")
        run = code_run(channel_spec(sim.port, responseTimeoutSeconds=timeout))
        run.receipts = False  # no receipt to settle an unknown one later
        await run_shard(run, 0, redis, "herald")
    counters = await read_counters(redis, KEYS)
    assert (counters.unknown, counters.submitted) == (unknown, submitted)


SYSTEM_ERROR = {"rules": [{"prefix": "86138", "outcome": "error", "status": "ESME_RSYSERR"}]}
NO_WAIT = {"initialBackoffSeconds": 0}


# Each row: the Channel's spec over the example's (smpp merged), the Campaign's, what the
# SMSC does; what the sender did with four numbers, one of them opted out.
@pytest.mark.parametrize("channel, campaign, smsc_does, did", [
    pytest.param({}, {}, {}, {"data_coding": {0}, "binds": {"Transceiver": 1}, "submits": 3},
                 id="example"),
    pytest.param({"smpp": {"gsm7Coding": "IA5"}}, {}, {}, {"data_coding": {1}}, id="ia5"),
    pytest.param({"smpp": {"gsm7Coding": "Latin1"}}, {}, {}, {"data_coding": {3}},
                 id="latin1"),
    pytest.param({"smpp": {"bindMode": "TransmitterAndReceiver"}, "maxBinds": 2}, {}, {},
                 {"binds": {"Transmitter": 1, "Receiver": 1}}, id="bind-pair"),
    pytest.param({"retry": {"maxAttempts": 2, **NO_WAIT}}, {}, SYSTEM_ERROR,
                 {"submits": 6, "failed": 3}, id="two-attempts"),
    pytest.param({"retry": {"overrides": [{"commandStatus": 8, "errorClass": "Permanent"}],
                            **NO_WAIT}}, {}, SYSTEM_ERROR, {"submits": 3, "failed": 3},
                 id="system-error-made-permanent"),
    pytest.param({}, {"compliance": {"respectOptOuts": False}}, {},
                 {"submits": 4, "opted_out": 0}, id="opt-outs-not-respected"),
])
async def test_a_channels_sending_settings_reach_its_senders(
    redis: aioredis.Redis, smsc: Simulator, channel: dict[str, Any],
    campaign: dict[str, Any], smsc_does: dict[str, Any], did: dict[str, Any],
) -> None:
    """From the spec, through the run the operator writes, to what `run_shard` sends."""
    smsc.configure(smsc_does)
    await fill_shard(redis, KEYS, 4, "+8613800")
    await redis.sadd(OPT_OUT_SET, "+861380000000003")
    spec = channel_spec(smsc.port, **channel.get("smpp", {})).to_api()
    spec = spec | {key: value for key, value in channel.items() if key != "smpp"}
    await run_shard(code_run(ChannelSpec.model_validate(spec), **campaign), 0, redis,
                    "herald")
    counters = await read_counters(redis, KEYS)
    done = {"data_coding": {m.data_coding for m in smsc.accepted},
            "binds": dict(smsc.binds_by_mode), "submits": smsc.counters.submits,
            "failed": counters.failed, "opted_out": counters.opted_out}
    assert {key: done[key] for key in did} == did


# Each row: the Channel's and the Campaign's rate limits; a lower bound on the time the
# SMSC took to accept eleven messages (ten intervals at the lower rate: 0.5 s, 1 s).
@pytest.mark.parametrize("channel_rate, campaign_rate, at_least", [
    pytest.param(20, None, 0.35, id="channel-20-per-second"),
    pytest.param(2000, 10, 0.7, id="campaign-10-per-second"),
])
async def test_the_channel_and_campaign_rates_pace_the_sender(
    redis: aioredis.Redis, smsc: Simulator, channel_rate: int, campaign_rate: int | None,
    at_least: float,
) -> None:
    await fill_shard(redis, KEYS, 11, "+8613800")
    spec = channel_spec(smsc.port).to_api()
    spec["rateLimit"] = {"messagesPerSecond": channel_rate, "burst": 1}
    cap = {"rateLimit": {"messagesPerSecond": campaign_rate}} if campaign_rate else {}
    await run_shard(code_run(ChannelSpec.model_validate(spec), **cap), 0, redis, "herald")
    accepted = sorted(m.timestamp for m in smsc.accepted)
    assert len(accepted) == 11 and accepted[-1] - accepted[0] >= at_least


@pytest.fixture
async def smsc_example_com(tmp_path: Path) -> AsyncIterator[tuple[Simulator, str]]:
    """An SMSC serving TLS with a certificate for smsc.example.com alone (not 127.0.0.1,
    where it listens), and the CA that signed it."""
    ca = trustme.CA()
    issued = ca.issue_cert("smsc.example.com")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    config = SimulatorConfig(port=0, tls_cert_file=str(cert), tls_key_file=str(key))
    async with Simulator(config) as sim:
        yield sim, ca.cert_pem.bytes().decode()


# Each row: the Channel's tls.serverName; the operator's bind check.
@pytest.mark.parametrize("server_name, reason", [
    pytest.param("smsc.example.com", "Bound", id="the-certificates-name"),
    pytest.param("", "CertificateNotTrusted", id="empty-checks-smpp-host"),
])
async def test_a_channel_checks_the_smscs_certificate_for_its_server_name(
    smsc_example_com: tuple[Simulator, str], server_name: str, reason: str,
) -> None:
    sim, ca_pem = smsc_example_com
    spec = channel_spec(sim.port, tls={"serverName": server_name})
    result = await probe_bind(bind_settings(spec, "herald", TlsMaterial(ca_pem=ca_pem)))
    assert result.reason == reason, result.message


# Each row: the Channel's defaultRegion and optIn over the example's; a reply (source,
# TON, text); whom it is from and what it asks, as the receiver pod reads it with the
# settings its Deployment gives it.
@pytest.mark.parametrize("channel, reply, read", [
    pytest.param({"defaultRegion": "CN"}, ("13800138000", NATIONAL, "STOP"),
                 ("+8613800138000", ReplyKind.OPT_OUT), id="national-stop-in-cn"),
    pytest.param({"defaultRegion": ""}, ("13800138000", NATIONAL, "STOP"),
                 (None, ReplyKind.OPT_OUT), id="national-stop-without-region"),
    pytest.param({"optIn": {"keywords": ["订阅"]}}, ("8613800138000", INTERNATIONAL, "订阅"),
                 ("+8613800138000", ReplyKind.OPT_IN), id="opt-in-keyword"),
    pytest.param({}, ("8613800138000", INTERNATIONAL, "订阅"),
                 ("+8613800138000", ReplyKind.OTHER), id="no-opt-in-keywords"),
])
def test_the_receiver_reads_replies_by_the_channels_region_and_keywords(
    monkeypatch: pytest.MonkeyPatch, channel: dict[str, Any], reply: tuple[str, int, str],
    read: tuple[str | None, ReplyKind],
) -> None:
    spec = ChannelSpec.model_validate(example("channel.yaml")["spec"] | channel)
    deployment = build_receiver_deployment(Owner("shop", "carrier-a", "uid-c"), spec,
                                           SETTINGS.pods)
    (pod_container,) = deployment["spec"]["template"]["spec"]["containers"]
    for env in pod_container["env"]:  # the password (valueFrom its Secret) as the example's
        monkeypatch.setenv(env["name"], env.get("value", "s3cr3t"))
    rules = load_settings().replies
    found = read_reply(*reply, rules)
    assert (found.number, found.kind) == read


async def test_a_channel_reads_the_secret_keys_it_names(stack: Stack, pki: Pki) -> None:
    """The password under a key of its own in a Secret of its own, the CA bundle in a
    Secret (caRef kind Secret) under a key of its own: the operator's bind check, the
    receiver's pod and the senders' pods each read them there."""
    chain, key = pki.client()
    objects = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "smsc-login"},
         "stringData": {"smpp-password": SMPP_PASSWORD}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "smsc-trust"},
         "stringData": {"bundle.pem": pki.ca_pem}},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
         "metadata": {"name": "herald-client"}, "stringData": {"tls.crt": chain, "tls.key": key}}]
    channel = example("channel.yaml")
    channel["spec"]["smpp"] |= {
        "host": "127.0.0.1", "port": stack.simulator.port,
        "passwordSecretRef": {"name": "smsc-login", "key": "smpp-password"},
        "tls": {"caRef": {"kind": "Secret", "name": "smsc-trust", "key": "bundle.pem"},
                "clientCertSecretRef": {"name": "herald-client"}}}
    for obj in [*objects, channel, example("template.yaml"), example("template-reminder.yaml")]:
        await stack.kube.create(obj)

    ready = await condition(stack, "Ready", lambda c: c.get("status") == "True")
    assert ready["reason"] == "Bound" and "over TLS" in ready["message"]
    verified = await condition(stack, "TLSVerified", bool)
    assert "Secret smsc-trust key 'bundle.pem'" in verified["message"]
    await wait_for(lambda: stack.kube.get(API_VERSION, "Channel", NS, "carrier-a"),
                   timeout=TIMEOUT, message="the receiver never bound",
                   until=lambda c: c.get("status", {}).get("binds", {}).get("receiverBound"))
    await stack.kube.create(campaign_body(audience=inline(30)))
    await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
    done = await wait_delivered(stack, 30)
    assert done["status"]["counters"]["delivered"] == 30 == stack.simulator.counters.accepted


# -- Template: what recipients read ---------------------------------------------------------

# Each row: template fields; the text the review previews and the sender sends.
@pytest.mark.parametrize("fields, text", [
    pytest.param({"locale": "zh-CN", "signature": "【Herald】", "optOutText": "回T退订",
                  "body": "{name}您好，包裹已到。"}, "【Herald】王小明您好，包裹已到。回T退订",
                 id="prefix-signature-chinese-runs-on"),
    pytest.param({"locale": "en-US", "signature": "[Herald]", "optOutText": "STOP to end",
                  "body": "Hi {name}"}, "[Herald] Hi 王小明 STOP to end", id="english-spaced"),
    pytest.param({"locale": "en", "signature": "- Herald", "signaturePlacement": "Suffix",
                  "optOutText": "STOP to end", "body": "Hi {name}"},
                 "Hi 王小明 STOP to end - Herald", id="suffix-signature"),
    pytest.param({"locale": "ja-JP", "signature": "【Herald】", "body": "{name}様"},
                 "【Herald】王小明様", id="japanese-runs-on-without-opt-out"),
])
def test_recipients_read_what_the_preview_shows(
    fields: dict[str, str], text: str,
) -> None:
    spec = TemplateSpec.model_validate({
        "category": "Notification", "variables": [{"name": "name", "example": "王小明"}],
        **fields})
    preview = review_template(spec, 1, TemplateStatus(), TemplateWorld(), NOW).status.preview
    [pdu] = MessageBuilder({"": spec}, SourceAddress(address="Herald")).build(
        "+8613800138000", {"name": "王小明"})
    assert (preview, decode_text(pdu.short_message, pdu.data_coding)) == (text, text)


def test_an_approvals_note_cannot_be_rewritten() -> None:
    """The note stays as the reviewer wrote it with the approval, for the audit trail."""
    approval = load_example("templateapproval.yaml")
    assert approval["spec"]["note"]
    rewritten = merge_patch(approval, {"spec": {"note": "nobody checked this"}})
    assert validate(rewritten) == []  # a new approval may say anything...
    errors = validate(rewritten, old=approval)  # ...an existing one not something else
    assert any("an approval is immutable" in e for e in errors), errors


# -- Campaign: who gets what ----------------------------------------------------------------

@pytest.fixture
def importer_env(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """`herald import` finds the session's redis-server, as its pod's env would say."""
    monkeypatch.setenv("HERALD_REDIS_URL", redis_server.url)


def notification(body: str, *variables: str) -> TemplateSeen:
    return TemplateSeen(spec=TemplateSpec.model_validate({
        "category": "Notification", "body": body,
        "variables": [{"name": name} for name in variables]}), approved=True)


TEMPLATES = {"greeting": notification("Hi {name}, your code is {code}.", "name", "code"),
             "letter-a": notification("Plan A: {code}", "code"),
             "letter-b": notification("Plan B: {code}", "code")}
GREETING = {"variants": None, "templateRef": {"name": "greeting"}}


async def sent_by_campaign(redis: aioredis.Redis, sim: Simulator,
                           **spec: Any) -> dict[str, str]:
    """The example Campaign with `spec` over it and one sender, as the operator starts it;
    its importer and its sender run: what each number received."""
    channels = {"carrier-a": ChannelSeen(channel_spec(sim.port), ready=True)}
    # The plan's clock is NOW, the sender's the real one: no window for it to be shut.
    spec.setdefault("schedule", {"timeZone": "Asia/Shanghai"})
    plan = plan_campaign(campaign(senders=1, **spec),
                         world(templates=TEMPLATES, channels=channels), SETTINGS)
    run = plan.actions.write_run
    assert run is not None, plan.status
    await write_run(redis, run)
    await run_import(CampaignKeys(run.campaign.namespace, run.campaign.name).ref)
    await run_shard(run, 0, redis, "herald")
    return {m.destination: m.text for m in sim.accepted}


def recipient(phone: str, **variables: str) -> dict[str, Any]:
    return {"phone": phone,
            "variables": [{"name": name, "value": value} for name, value in variables.items()]}


# Each row: the audience; what each number received.
@pytest.mark.parametrize("audience, received", [
    pytest.param({"inline": [recipient("+8613800138000", name="王小明", code="A1")]},
                 {"8613800138000": "Hi 王小明, your code is A1."}, id="inline-e164"),
    pytest.param({"defaultRegion": "CN", "inline": [
        recipient("138 0013 8001", name="李华", code="B2")]},
                 {"8613800138001": "Hi 李华, your code is B2."}, id="national-in-cn"),
    pytest.param({"defaultRegion": "US", "inline": [
        recipient("(415) 555-2671", name="Ann", code="C3")]},
                 {"14155552671": "Hi Ann, your code is C3."}, id="national-in-us"),
    pytest.param({"inline": [recipient("138 0013 8001", name="李华", code="B2"),
                             recipient("+8613800138002", name="张伟", code="D4")]},
                 {"8613800138002": "Hi 张伟, your code is D4."}, id="national-without-region"),
    pytest.param({"defaultRegion": "CN", "filter": 'vars.city == "上海"', "inline": [
        recipient("13800138003", name="王", code="E5", city="上海"),
        recipient("13800138004", name="李", code="F6", city="北京")]},
                 {"8613800138003": "Hi 王, your code is E5."}, id="filter-over-vars"),
])
async def test_the_audience_decides_who_gets_what(
    redis: aioredis.Redis, smsc: Simulator, importer_env: None,
    audience: dict[str, Any], received: dict[str, str],
) -> None:
    assert await sent_by_campaign(redis, smsc, audience=audience, **GREETING) == received


async def test_each_variant_sends_the_template_it_names(
    redis: aioredis.Redis, smsc: Simulator, importer_env: None,
) -> None:
    phones = [f"+86138001380{i:02d}" for i in range(20)]
    sent = await sent_by_campaign(redis, smsc, variants=[
        {"name": "a", "templateRef": {"name": "letter-a"}, "weight": 50},
        {"name": "b", "templateRef": {"name": "letter-b"}, "weight": 50}],
        audience={"inline": [recipient(p, code=f"C{i}") for i, p in enumerate(phones)]})
    pick = VariantPicker([("a", 50), ("b", 50)])
    assert {pick(p) for p in phones} == {"a", "b"}
    assert sent == {p[1:]: f"Plan {pick(p).upper()}: C{i}" for i, p in enumerate(phones)}


# -- Campaign: when -------------------------------------------------------------------------

OPENS_TODAY = "opens 2026-11-23T13:00:00+08:00"  # NOW is Monday 12:00 in Shanghai


# Each row: the send window (in Asia/Shanghai); the Ready reason at Monday noon there,
# and the message of a closed window.
@pytest.mark.parametrize("window, reason, message", [
    pytest.param({"start": "11:00", "end": "13:00"}, reasons.IMPORTING, None, id="open"),
    pytest.param({"start": "13:00", "end": "21:00"}, reasons.OUTSIDE_SEND_WINDOW,
                 f"outside the send window 13:00-21:00 Asia/Shanghai; {OPENS_TODAY}",
                 id="start-after-noon"),
    pytest.param({"start": "09:00", "end": "11:30"}, reasons.OUTSIDE_SEND_WINDOW,
                 "outside the send window 09:00-11:30 Asia/Shanghai;"
                 " opens 2026-11-24T09:00:00+08:00", id="end-before-noon"),
    pytest.param({"days": ["Saturday", "Sunday"]}, reasons.OUTSIDE_SEND_WINDOW,
                 "outside the send window 09:00-21:00 Asia/Shanghai;"
                 " opens 2026-11-28T09:00:00+08:00", id="weekends-only"),
    pytest.param({"days": ["Monday"]}, reasons.IMPORTING, None, id="mondays"),
    # Per recipient, the senders hold each message (tests/test_recipient_windows.py):
    # the operator starts the run whatever the hour in Shanghai.
    pytest.param({"start": "13:00", "end": "21:00", "timeZoneSource": "Recipient"},
                 reasons.IMPORTING, None, id="recipient-zone-is-the-senders"),
])
def test_the_send_window_opens_from_start_to_end_on_its_days(
    window: dict[str, Any], reason: str, message: str | None,
) -> None:
    c = campaign(schedule={"timeZone": "Asia/Shanghai", "sendWindow": window})
    ready = find_condition(plan_campaign(c, world(), SETTINGS).status.conditions, "Ready")
    assert ready is not None and ready.reason == reason
    if message is not None:
        assert ready.message == message


# -- Campaign: the importer's files ---------------------------------------------------------

# Each row: the audience; a volume of the importer's pod, mounted in its container.
@pytest.mark.parametrize("audience, volume", [
    pytest.param({"secretRef": {"name": "vip", "key": "vip.xlsx"}},
                 {"name": "audience", "secret": {"secretName": "vip", "items": [
                     {"key": "vip.xlsx", "path": "audience.csv"}]}}, id="secret-key"),
    pytest.param({"url": {"url": "https://crm.example/list.csv",
                          "headersSecretRef": {"name": "crm-token"}}},
                 {"name": "url-headers", "secret": {"secretName": "crm-token"}},
                 id="url-headers-secret"),
])
def test_the_importer_mounts_the_secret_the_audience_names(
    audience: dict[str, Any], volume: dict[str, Any],
) -> None:
    seen = AudienceSeen(frozenset({"vip.xlsx"})) if "secretRef" in audience else None
    c = campaign(audience={"defaultRegion": "CN", **audience})
    (job,) = plan_campaign(c, world(audience=seen), SETTINGS).actions.create
    pod = job["spec"]["template"]["spec"]
    assert volume in pod["volumes"]
    assert volume["name"] in {m["name"] for m in pod["containers"][0]["volumeMounts"]}
