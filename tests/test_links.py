"""Tracked links: {link:URL} in a template, a short link per recipient, `herald links`.

The decisions as tables: codes, targets, rendering, the review (a link that is not
http(s) rejects, the segment count is the short link's), bots, the A/B winner on click
ratio, the status fold. Then end to end on a real redis-server: a campaign with a link
sent by the real sender to the simulator, the short links read back from the delivered
texts and followed over real HTTP through a running `herald links`: a browser's clicks
count (two by one recipient: two clicks, one clicker), a link preview's and a HEAD are
redirected but not counted, an expired link is 410, an unknown one 404.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from controllers.config import parse_links_base_url
from controllers.decisions import reasons
from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.campaign_run import build_run_config
from controllers.decisions.campaign_stats import breakdowns
from controllers.decisions.campaign_winner import Arm, arms_of, decide_winner
from controllers.decisions.template_review import TemplateWorld, review_template
from crds.base import API_VERSION
from crds.campaign import CampaignSpec, Winner, WinnerMetric, WinnerReason
from crds.template import TemplateSpec, TemplateStatus
from herald.cli import parser
from herald.local.kube.client import wait_for
from sender.links.bots import counts_as_click, is_bot
from sender.links.process import serving
from sender.run_config import LinkSettings
from sender.send.process import run_shard
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.sms import links as sms_links
from sender.sms import text as sms_text
from sender.sms.links import GONE_SECONDS, LinkRecord
from sender.store.client import Redis
from sender.store.keys import CampaignKeys, short_link
from sender.store.links import Click, read_clicks, read_link
from sender.store.transitions import read_counters
from tests.run_configs import fill_shard, run_config
from tests.test_campaign_plan import CHANNEL_SPEC
from tests.test_template_review import NOW

BASE = "https://go.example.test"
TARGET = "https://shop.example/spring-sale?utm_source=sms&utm_campaign=spring-2027"
BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
           " (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
           " Chrome/120.0.0.0 Mobile Safari/537.36")
WHATSAPP = "WhatsApp/2.23.20.0 A"
IMESSAGE = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML,"
            " like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot"
            " Twitterbot/1.0")


# -- codes and targets -------------------------------------------------------------------

def test_a_code_is_eight_base62_characters_from_the_whole_space() -> None:
    assert sms_links.new_code(lambda n: 0) == "00000000"
    assert sms_links.new_code(lambda n: n - 1) == "zzzzzzzz"
    assert sms_links.CODE_SPACE == 62 ** 8 > 2 ** 47
    codes = {sms_links.new_code() for _ in range(2000)}
    assert len(codes) == 2000 and all(sms_links.is_code(c) for c in codes)
    assert not sms_links.is_code("healthz") and not sms_links.is_code("abc-defg")
    assert sms_links.short_link(BASE + "/", "aB3dE5gH") == BASE + "/aB3dE5gH"
    assert len(sms_links.sample_link(BASE)) == len(BASE) + 1 + sms_links.CODE_LENGTH


@pytest.mark.parametrize("url, problem", [
    pytest.param("https://shop.example/a?b=1#c", None, id="https"),
    pytest.param("http://shop.example", None, id="http"),
    pytest.param("ftp://shop.example/file", "is not an http(s) URL", id="ftp"),
    pytest.param("javascript:alert(1)", "is not an http(s) URL", id="javascript"),
    pytest.param("shop.example/sale", "is not an http(s) URL", id="no-scheme"),
    pytest.param("https:///path", "has no host", id="no-host"),
    pytest.param("https://shop.example/a b", "spaces", id="space"),
    pytest.param("https://shop.example/" + "a" * 2100, "at most 2048", id="too-long"),
])
def test_a_links_target_is_an_http_url(url: str, problem: str | None) -> None:
    found = sms_links.target_problem(url)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize("text, ok", [
    pytest.param("https://go.example.com", True, id="host"),
    pytest.param("https://example.com/l/", True, id="path"),
    pytest.param("", True, id="none"),
    pytest.param("go.example.com", False, id="no-scheme"),
    pytest.param("https://go.example.com/?x=1", False, id="query"),
])
def test_the_operator_refuses_a_base_url_that_cannot_be_one(text: str, ok: bool) -> None:
    if ok:
        assert parse_links_base_url(text) == text.rstrip("/")
    else:
        with pytest.raises(ValueError, match="HERALD_LINKS_BASE_URL"):
            parse_links_base_url(text)


def test_a_record_round_trips_and_a_foreign_value_is_none() -> None:
    record = sms_links.LinkRecord("shop/spring", "0/1-0", "a", "carrier-a",
                                  sms_links.url_id(TARGET), 1_800_000_000)
    assert sms_links.LinkRecord.decode(record.encode()) == record
    assert sms_links.LinkRecord.decode("garbage") is None


# -- rendering -------------------------------------------------------------------------

def test_links_are_placeholders_of_their_own() -> None:
    body = "Hi {name}: {link:https://a.example/x} or {link:https://b.example} {link:https://a.example/x}"
    assert sms_text.find_variables(body) == ["name"]
    assert sms_text.find_links(body) == ["https://a.example/x", "https://b.example"]
    shorts = {"https://a.example/x": "https://go/A", "https://b.example": "https://go/B"}
    assert (sms_text.render(body, {"name": "Ann"}, shorts)
            == "Hi Ann: https://go/A or https://go/B https://go/A")
    with pytest.raises(sms_text.MissingVariables, match=r"link:https://b\.example"):
        sms_text.render(body, {"name": "Ann"}, {"https://a.example/x": "https://go/A"})
    assert sms_text.malformed_placeholders("see {link:}") == [
        "'{link:}': a link needs its target, as in {link:https://…}"]
    assert sms_text.find_variables("{link}") == ["link"]  # a variable named link


# -- review ----------------------------------------------------------------------------

def review(body: str, base: str = BASE) -> TemplateStatus:
    spec = TemplateSpec.model_validate({"category": "Notification", "body": body})
    return review_template(spec, 1, TemplateStatus(), TemplateWorld(links_base_url=base),
                           NOW).status


def test_the_segment_count_is_the_short_links_not_the_targets() -> None:
    body = ("Spring sale: 20% off everything until Sunday. "
            + "{link:" + TARGET + "/" + "x" * 150 + "}")
    status = review(body)
    assert status.phase == "Approved", status.findings
    assert status.preview == body.split("{")[0] + sms_links.sample_link(BASE)
    assert (status.characters, status.segments) == (len(status.preview), 1)
    long = sms_text.count_segments(sms_text.render(body, {}, {TARGET + "/" + "x" * 150:
                                                             TARGET + "/" + "x" * 150}))
    assert long.segments == 2  # what it would cost sent as it is


@pytest.mark.parametrize("body, base, reason, says", [
    pytest.param("Go {link:ftp://shop.example/x}", BASE, reasons.BAD_LINK,
                 "is not an http(s) URL", id="not-http"),
    pytest.param("Go {link:shop.example}", BASE, reasons.BAD_LINK, "is not an http(s) URL",
                 id="no-scheme"),
    pytest.param("Go {link:https://shop.example}", "", reasons.LINKS_NOT_CONFIGURED,
                 "links.baseUrl", id="no-links-domain"),
])
def test_a_bad_link_rejects_the_template_saying_why(body: str, base: str, reason: str,
                                                    says: str) -> None:
    status = review(body, base)
    assert status.phase == "Rejected"
    (finding,) = [f for f in status.findings if f.reason == reason]
    assert says in finding.message
    ready = status.conditions[0]
    assert (ready.status, ready.reason) == ("False", reasons.REJECTED)
    assert says in ready.message


def test_the_run_carries_links_only_when_a_template_has_some() -> None:
    spec = CampaignSpec.model_validate({
        "templateRef": {"name": "t"}, "channels": [{"name": "carrier-a"}],
        "audience": {"inline": [{"phone": "+8613800138000"}]},
        "links": {"expireAfterSeconds": 7200}})
    owner = Owner(namespace="shop", name="spring", uid="u", generation=1)
    linked = {"": TemplateSpec.model_validate({"category": "Notification",
                                               "body": "{link:https://a.example}"})}
    plain = {"": TemplateSpec.model_validate({"category": "Notification", "body": "Hi"})}
    channels = [("carrier-a", CHANNEL_SPEC)]
    run = build_run_config(owner, spec, linked, channels, 1.0, links_base_url=BASE)
    assert run.links is not None
    assert (run.links.base_url, run.links.expire_after_seconds) == (BASE, 7200)
    assert build_run_config(owner, spec, plain, channels, 1.0, links_base_url=BASE).links is None


@pytest.mark.parametrize("links, days, deleted", [
    pytest.param(None, 8, True, id="no-links-retention"),
    pytest.param(30 * 86400, 8, False, id="links-keep-the-keys"),
    pytest.param(30 * 86400, 30, False, id="until-their-gone-day-ends"),
    pytest.param(30 * 86400, 32, True, id="then-deleted"),
    pytest.param(3600, 8, True, id="short-links-retention-rules"),
])
def test_a_campaigns_keys_outlive_its_links(links: int | None, days: int,
                                             deleted: bool) -> None:
    """Clicks count into the campaign's keys: they stay while its links answer."""
    import dataclasses
    from datetime import timedelta

    from controllers.decisions.campaign_plan import plan_campaign
    from controllers.decisions.campaign_world import JobSeen
    from crds.campaign import Counters
    from tests.test_campaign_plan import NOW as PLAN_NOW
    from tests.test_campaign_plan import SETTINGS, campaign, run_of, world

    c = campaign()
    sent = Counters(total=100, delivered=100, sent=100)
    run = run_of(c, sent, import_done=True)
    if links is not None:
        run = dataclasses.replace(run, config=run.config.model_copy(update={
            "links": LinkSettings(base_url=BASE, expire_after_seconds=links)}))
    completed = plan_campaign(c, world(run=run, sender_job=JobSeen(complete=True)), SETTINGS)
    assert completed.status.completion_time == PLAN_NOW
    later = plan_campaign(campaign(status=completed.status), world(
        run=run, now=PLAN_NOW + timedelta(days=days)), SETTINGS)
    assert later.delete_run is deleted


def test_the_presend_plan_counts_the_short_link() -> None:
    """A link whose target alone would make the message two segments plans one."""
    from tests.test_campaign_presend import config, plan, routed
    body = "Spring sale, 20% off: {link:" + TARGET + "/" + "x" * 150 + "}"
    run = config(("cmcc", 10, "SmscDefault"), templates={"": body})
    fields = routed(cmcc={"CN": 100})
    assert plan(run, fields, {}).segments == 200  # no links domain in the run: as it is
    linked = run.model_copy(update={"links": LinkSettings(base_url=BASE)})
    assert plan(linked, fields, {}).segments == 100


# -- bots ------------------------------------------------------------------------------

@pytest.mark.parametrize("agent, bot", [
    pytest.param(BROWSER, False, id="iphone-safari"),
    pytest.param(ANDROID, False, id="android-chrome"),
    pytest.param(WHATSAPP, True, id="whatsapp-preview"),
    pytest.param(IMESSAGE, True, id="imessage-preview"),
    pytest.param("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                 True, id="facebook"),
    pytest.param("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", True,
                 id="slack"),
    pytest.param("TelegramBot (like TwitterBot)", True, id="telegram"),
    pytest.param("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", True,
                 id="skype"),
    pytest.param("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                 True, id="googlebot"),
    pytest.param("Viber/19.0", True, id="viber"),
    pytest.param("", True, id="no-agent"),
])
def test_link_previews_and_crawlers_are_bots(agent: str, bot: bool) -> None:
    assert is_bot(agent) is bot


@pytest.mark.parametrize("method, headers, counted", [
    pytest.param("GET", {"User-Agent": BROWSER}, True, id="browser-get"),
    pytest.param("HEAD", {"User-Agent": BROWSER}, False, id="head"),
    pytest.param("GET", {"User-Agent": BROWSER, "Sec-Purpose": "prefetch"}, False,
                 id="prefetch"),
    pytest.param("GET", {"User-Agent": WHATSAPP}, False, id="preview"),
    pytest.param("GET", {}, False, id="no-agent"),
])
def test_what_counts_as_a_click(method: str, headers: dict[str, str], counted: bool) -> None:
    assert counts_as_click(method, headers) is counted


# -- winner and status -------------------------------------------------------------------

CLICK_POLICY = Winner.model_validate({"testPercent": 10, "minSamplePerVariant": 100,
                                      "metric": "ClickRatio"})


@pytest.mark.parametrize("fields, variant, reason", [
    pytest.param({"variant:a:sent": 1000, "variant:a:clickers": 40,
                  "variant:b:sent": 1000, "variant:b:clickers": 90}, "b",
                 WinnerReason.SIGNIFICANT, id="most-clickers-win"),
    pytest.param({"variant:a:sent": 1000, "variant:a:clickers": 41, "variant:a:clicks": 400,
                  "variant:b:sent": 1000, "variant:b:clickers": 40}, "",
                 WinnerReason.FALLBACK, id="clicks-are-not-clickers"),
    pytest.param({"variant:a:sent": 50, "variant:a:clickers": 40,
                  "variant:b:sent": 1000, "variant:b:clickers": 90}, "",
                 WinnerReason.FALLBACK, id="too-few-sent"),
])
def test_the_click_ratio_winner(fields: dict[str, int], variant: str,
                                reason: WinnerReason) -> None:
    arms = arms_of(fields, ["a", "b"], WinnerMetric.CLICK_RATIO)
    assert [(a.sample, a.count) for a in arms] == [
        (fields.get(f"variant:{v}:sent", 0), fields.get(f"variant:{v}:clickers", 0))
        for v in "ab"]
    decision = decide_winner(arms, CLICK_POLICY, NOW)
    assert (decision.variant, decision.reason) == (variant, reason)
    if reason == WinnerReason.SIGNIFICANT:
        assert "clicked" in decision.message


def test_a_click_ratio_decision_names_clicks() -> None:
    decision = decide_winner([Arm("a", 500, 100), Arm("b", 500, 20)], CLICK_POLICY, NOW)
    assert decision.message.startswith("a wins") and "20.0% against b 4.0% clicked" in (
        decision.message)


def test_clicks_fold_per_variant_and_channel() -> None:
    fields = {"variant:a:total": 3, "variant:a:delivered": 3, "variant:a:clicks": 4,
              "variant:a:clickers": 2, "channel:carrier-a:clicks": 4,
              "channel:carrier-a:clickers": 2}
    (a,) = breakdowns(fields, "variant")
    assert (a.counters.clicks, a.counters.clickers, a.counters.queued) == (4, 2, 0)
    (carrier,) = breakdowns(fields, "channel")
    assert (carrier.counters.clicks, carrier.counters.clickers) == (4, 2)


# -- end to end --------------------------------------------------------------------------

LINK_RE = re.compile(re.escape(BASE) + r"/([0-9A-Za-z]{8})")


class Clock:
    def __init__(self) -> None:
        import time
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def links(redis: Redis) -> AsyncIterator[tuple[str, Clock]]:
    clock = Clock()
    async with serving(redis, "127.0.0.1", 0, clock=clock) as port:
        yield f"http://127.0.0.1:{port}", clock


async def follow(server: str, code: str, agent: str | None, method: str = "GET"
                 ) -> tuple[int, dict[str, Any]]:
    headers = {"User-Agent": agent} if agent is not None else {}
    async with aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as session, \
            session.request(method, f"{server}/{code}", headers=headers,
                            allow_redirects=False) as response:
        body = await response.json() if response.content_type == "application/json" else {}
        return response.status, {"location": response.headers.get("Location"),
                                 "cache": response.headers.get("Cache-Control"), **body}


async def test_clicks_through_the_real_redirect_server(
        redis: Redis, links: tuple[str, Clock]) -> None:
    """Sent by the sender to the simulator, followed over HTTP: a browser's clicks
    count, a preview's and a HEAD redirect uncounted, expired 410, unknown 404."""
    server, clock = links
    keys = CampaignKeys("shop", "spring")
    body = "Spring sale, code {code}: " + "{link:" + TARGET + "}"
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=5, window=0,
                                         seed=3)) as smsc:
        run = run_config("shop", "spring", port=smsc.port, body=body,
                         links={"base_url": BASE, "expire_after_seconds": 3600})
        await fill_shard(redis, keys, 3, "+861380013")
        figures = await run_shard(run, 0, redis, "herald")
        assert figures["submitted"] == 3
        await wait_for(lambda: len(smsc.accepted) >= 3, timeout=20, message="three sent")
        texts = sorted(m.text for m in smsc.accepted)
    codes = [match.group(1) for text in texts if (match := LINK_RE.search(text))]
    assert len(set(codes)) == 3, texts  # one short link per recipient, in place of TARGET
    assert all(TARGET not in text for text in texts)
    record = await read_link(redis, codes[0])
    assert record is not None and record.campaign == keys.ref and record.channel == "carrier-a"
    assert await redis.ttl(short_link(codes[0])) > 3600 + GONE_SECONDS - 60

    # One recipient clicks twice in a browser: two clicks, one clicker.
    for _ in range(2):
        status, answer = await follow(server, codes[0], BROWSER)
        assert (status, answer["location"], answer["cache"]) == (302, TARGET, "no-store")
    # A WhatsApp preview of another's, an iMessage preview and a HEAD: redirected, not counted.
    assert (await follow(server, codes[1], WHATSAPP))[0] == 302
    assert (await follow(server, codes[1], IMESSAGE))[0] == 302
    assert (await follow(server, codes[2], BROWSER, "HEAD"))[0] == 302
    assert (await follow(server, codes[2], None))[0] == 302  # no User-Agent

    counters = await read_counters(redis, keys)
    assert (counters.clicks, counters.clickers) == (2, 1)
    assert (counters.total, counters.queued) == (3, 0)  # clicks are no state
    fields = {str(k): int(v) for k, v in (await redis.hgetall(keys.counters)).items()}
    (channel,) = breakdowns(fields, "channel")
    assert (channel.name, channel.counters.clicks, channel.counters.clickers) == (
        "carrier-a", 2, 1)
    assert record is not None
    first = await read_clicks(redis, keys, record.message)
    assert first is not None and first[1] == 2 and abs(first[0] - clock.now) < 2
    assert await read_clicks(redis, keys, "0/none") is None

    # An Android browser on the second recipient's: now two clickers.
    assert (await follow(server, codes[1], ANDROID))[0] == 302
    counters = await read_counters(redis, keys)
    assert (counters.clicks, counters.clickers) == (3, 2)

    status, answer = await follow(server, "zzzzzzzz", BROWSER)
    assert (status, answer["error"]) == (404, "LinkNotFound")
    assert (await follow(server, "not-a-code", BROWSER))[0] == 404
    clock.now += 3600 + 60  # past the deadline: Gone, and no click counted
    status, answer = await follow(server, codes[0], BROWSER)
    assert (status, answer["error"]) == (410, "LinkExpired")
    assert "expired at" in answer["message"]
    assert (await read_counters(redis, keys)).clicks == 3
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server}/healthz") as health:
            assert health.status == 200
        async with session.get(f"{server}/robots.txt") as robots:
            assert "Disallow: /" in await robots.text()


# -- the operator ------------------------------------------------------------------------

def linked_template(name: str, body: str) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Template", "metadata": {"name": name},
            "spec": {"category": "Notification", "body": body,
                     "variables": [{"name": "name"}]}}


@pytest.mark.timeout(180)
async def test_clicks_reach_the_campaigns_status_per_variant_and_channel() -> None:
    """The operator end to end (herald.local.stack) with a links domain: an A/B campaign
    with a link in each variant's template is sent; its recipients' short links, read
    from the simulator, are clicked through `herald links`; the Campaign's status counts
    the clicks and clickers, in all and per variant and channel. A template with an ftp
    link is rejected, saying why."""
    from herald.local.stack import running_stack
    from sender.store.client import connect
    from tests.test_campaign_operator import TIMEOUT, apply_examples, inline

    async with running_stack(config={"links_base_url": BASE}) as stack:
        await apply_examples(stack)
        kube = stack.kube
        for name, body in (("sale-a", "A {name}: {link:https://shop.example/a}"),
                           ("sale-b", "B {name}: {link:https://shop.example/b}"),
                           ("bad-link", "C {name}: {link:ftp://shop.example/c}")):
            await kube.create(linked_template(name, body))
        await kube.create({
            "apiVersion": API_VERSION, "kind": "Campaign", "metadata": {"name": "spring"},
            "spec": {"variants": [{"name": "a", "templateRef": {"name": "sale-a"}, "weight": 50},
                                  {"name": "b", "templateRef": {"name": "sale-b"}, "weight": 50}],
                     "channels": [{"name": "carrier-a"}], "audience": inline(10)}})
        await stack.wait_for_phase("default", "spring", "Completed", timeout=TIMEOUT)
        texts = [m.text for m in stack.simulator.accepted]
        by_variant: dict[str, list[str]] = {"A": [], "B": []}
        for text in texts:
            match = LINK_RE.search(text)
            assert match is not None, text
            by_variant[text[0]].append(match.group(1))
        assert len(texts) == 10 and by_variant["A"] and by_variant["B"], texts

        redis = connect(stack.redis_url)
        try:
            async with serving(redis, "127.0.0.1", 0) as port:
                server = f"http://127.0.0.1:{port}"
                a, b = by_variant["A"][0], by_variant["B"][0]
                for code, agent in ((a, BROWSER), (a, BROWSER), (b, WHATSAPP), (b, ANDROID)):
                    status, answer = await follow(server, code, agent)
                    assert status == 302
                    assert answer["location"] == ("https://shop.example/a" if code == a
                                                  else "https://shop.example/b")
        finally:
            await redis.aclose()

        def clicks(status: dict[str, Any]) -> dict[str, tuple[int, int]]:
            rows = {"": status.get("counters", {})}
            rows |= {f"variant {v['name']}": v["counters"] for v in status.get("variants", [])}
            rows |= {f"channel {c['name']}": c["counters"] for c in status.get("channels", [])}
            return {k: (c.get("clicks", 0), c.get("clickers", 0)) for k, c in rows.items()}

        done = await wait_for(lambda: stack.campaign("default", "spring"), timeout=TIMEOUT,
                              message="clicks not in the status",
                              until=lambda c: clicks(c.get("status", {})).get("") == (3, 2))
        assert clicks(done["status"]) == {"": (3, 2), "variant a": (2, 1),
                                          "variant b": (1, 1), "channel carrier-a": (3, 2)}

        rejected = await wait_for(
            lambda: kube.get(API_VERSION, "Template", "default", "bad-link"), timeout=TIMEOUT,
            message="bad-link not rejected",
            until=lambda t: t.get("status", {}).get("phase") == "Rejected")
        (finding,) = rejected["status"]["findings"]
        assert finding["reason"] == "BadLink" and "not an http(s) URL" in finding["message"]


# -- the chart ---------------------------------------------------------------------------

def test_the_chart_runs_herald_links_behind_a_service_and_tells_the_operator() -> None:
    """links.enabled: one `herald links` Deployment and Service (port 80), a policy
    letting phones in, and the operator told the base URL (so the review accepts
    links); off by default: none of it, and templates with links are rejected."""
    from tests.test_chart import env_of, only, render, selects
    full = render("full")
    deployment = only(full, "Deployment", "herald-links")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    args = parser().parse_args(container["args"])
    assert (args.run.__name__, args.port) == ("run_links", 8080)
    env = {e["name"]: e for e in container["env"]}
    assert env["HERALD_REDIS_URL"] == env_of(full)["HERALD_REDIS_URL"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = only(full, "Service", "herald-links")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert selects({"matchLabels": service["spec"]["selector"]},
                   deployment["spec"]["template"]["metadata"]["labels"])
    policy = only(full, "NetworkPolicy", "herald-links")
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    assert env_of(full)["HERALD_LINKS_BASE_URL"]["value"] == "https://go.example.com"
    default = render("default")
    assert not [d for d in default if d["metadata"]["name"].endswith("-links")]
    assert "HERALD_LINKS_BASE_URL" not in env_of(default)


@pytest.mark.parametrize("flags, complaint", [
    pytest.param(("--set", "links.enabled=true"), "links.enabled needs links.baseUrl",
                 id="no-base-url"),
    pytest.param(("--set", "links.enabled=true", "--set", "links.baseUrl=go.example.com"),
                 "baseUrl", id="no-scheme"),
    pytest.param(("--set", "links.enabled=true", "--set",
                  "links.baseUrl=https://go.example.com/?x=1"), "baseUrl", id="query"),
])
def test_the_chart_refuses_links_without_a_usable_base_url(flags: tuple[str, ...],
                                                           complaint: str) -> None:
    from tests.test_chart import test_values_schema_refuses_bad_values
    test_values_schema_refuses_bad_values(flags, complaint)


def test_the_links_bench_prints_the_report() -> None:
    """bench/links.py: every request redirected by each side, Herald's browser clicks
    all counted and its previews none. No timing is asserted."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, str(repo / "bench" / "links.py"), "--requests", "200",
         "--concurrency", "4", "--links", "300", "--warmup", "20"], cwd=repo,
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["requests"], report["concurrency"], report["links"]) == (200, 4, 300)
    for side in ("herald", "bots", "redis", "floor"):
        assert report[side]["statuses"] == {"302": 200}, report
        assert {"requests_per_s", "p50_ms", "p99_ms"} <= report[side].keys()
    assert (report["herald"]["clicks"], report["bots"]["clicks"]) == (200, 0)
    assert report["ratio_to_redis"] > 0 and report["ratio_to_floor"] > 0


async def test_links_and_clicks_on_redis_cluster(redis_cluster: Any) -> None:
    """On a Redis Cluster the records spread over slots (a pipeline of plain SETs) and
    a click is one script on its campaign's tag: the same code works there."""
    from sender.send.link_codes import LinkCodes
    from sender.store.client import connect
    from sender.store.links import ClickCounter, read_target

    redis = connect(redis_cluster.url)
    try:
        keys = CampaignKeys("shop", "cluster-spring")
        codes = LinkCodes(redis, keys, "carrier-a",
                          LinkSettings(base_url=BASE, expire_after_seconds=3600),
                          {"": [TARGET]})
        links = await codes.assign([(f"0/{i}-0", "") for i in range(50)])
        found = [LINK_RE.search(link_set[TARGET]) for link_set in links if link_set]
        assert len({m.group(1) for m in found if m}) == 50
        counter = ClickCounter(redis)
        record: LinkRecord | None = None
        for match in found[:3]:
            assert match is not None
            record = await read_link(redis, match.group(1))
            assert record is not None and await read_target(redis, record) == TARGET
            assert (await counter.count(record, 1_800_000_000)).first
        assert record is not None
        assert (await counter.count(record, 1_800_000_001)) == Click(first=False, count=2)
        counters = await read_counters(redis, keys)
        assert (counters.clicks, counters.clickers) == (4, 3)
    finally:
        await redis.aclose()


def test_the_campaign_plan_decides_a_click_ratio_winner_from_the_counters() -> None:
    """Through the plan, as the operator runs it: the test's clickers per variant, from
    the counters hash, choose the winner (here the one delivering less)."""
    import dataclasses

    from controllers.decisions.campaign_plan import plan_campaign
    from tests.test_ab_winner import TESTED, after_test
    from tests.test_campaign_plan import SETTINGS

    c, run, w = after_test({"metric": "ClickRatio"}, done_ago=60)
    clicked = TESTED | {"variant:discount:sent": 100, "variant:reminder:sent": 100,
                        "variant:discount:clickers": 5, "variant:reminder:clickers": 30}
    plan = plan_campaign(c, dataclasses.replace(w, run=dataclasses.replace(
        run, fields=clicked)), SETTINGS)
    decided = plan.actions.write_run
    assert decided is not None and decided.winner is not None
    assert (decided.winner.variant, decided.winner.reason) == ("reminder",
                                                               WinnerReason.SIGNIFICANT)
    assert [(a.name, a.sample, a.count) for a in decided.winner.arms] == [
        ("discount", 100, 5), ("reminder", 100, 30)]
