"""`herald report`: its figures, charts and summary as tables; the run's timeline on a
real redis-server; then end to end: a campaign sent through the local stack, its page
written by `herald report` and rendered by headless Chromium, whose DOM must carry the
Campaign's status counters and whose screenshot must not be blank."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import sys
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from controllers.decisions.campaign_stats import TimelineMark, next_timeline_mark
from crds.campaign import Counters
from herald.local.demo import audience_csv
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from herald.report import svg
from herald.report.figures import campaign_report, rates, wilson_interval
from herald.report.meanings import error_meaning
from herald.report.page import render_report
from herald.report.summary import parse_window, render_summary, summarize
from sender.store.keys import CampaignKeys
from sender.store.run_store import delete_run
from sender.store.run_timeline import TimelineSample, append_sample, read_timeline
from tests.test_campaign_operator import CAMPAIGN, NS, TIMEOUT, apply_examples, campaign_body
from tests.test_canary import failing
from tests.test_kubectl_plugin import KUBECTL

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


# -- figures ---------------------------------------------------------------------------

@pytest.mark.parametrize("successes, trials, low, high", [
    # Reference values: scipy.stats.binomtest(k, n).proportion_ci(method="wilson").
    pytest.param(81, 263, 0.2553, 0.3662, id="textbook"),
    pytest.param(0, 10, 0.0, 0.2775, id="none"),
    pytest.param(10, 10, 0.7225, 1.0, id="all"),
    pytest.param(1, 2, 0.0945, 0.9055, id="tiny-sample"),
    pytest.param(950, 1000, 0.9347, 0.9619, id="high-ratio"),
    pytest.param(5, 20, 0.1119, 0.4687, id="small"),
])
def test_wilson_interval_matches_known_values(successes: int, trials: int, low: float,
                                              high: float) -> None:
    found = wilson_interval(successes, trials)
    assert found is not None
    assert (round(found[0], 4), round(found[1], 4)) == (low, high)


def test_wilson_interval_of_no_trials_is_none_and_of_nonsense_an_error() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    ninety_nine = wilson_interval(50, 100, z=2.5758293035489)  # 99%, scipy: 0.3753-0.6247
    assert ninety_nine is not None and (round(ninety_nine[0], 4), round(ninety_nine[1], 4)) == (
        0.3753, 0.6247)


T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def counters(sent: int, delivered: int = 0) -> Counters:
    return Counters(sent=sent, delivered=delivered)


def mark(seconds: float, sent: int, moved: bool = True, first: float = 0) -> TimelineMark:
    return TimelineMark(T0 + timedelta(seconds=seconds), (sent, 0, 0, 0), moved,
                        first=T0 + timedelta(seconds=first))


@pytest.mark.parametrize("last, seconds, now_counters, expected", [
    pytest.param(None, 0, counters(0), mark(0, 0, moved=False), id="first-fold"),
    pytest.param(mark(0, 5), 4, counters(9), None, id="too-soon"),
    pytest.param(mark(0, 5), 10, counters(9), mark(10, 9), id="due-and-moving"),
    pytest.param(mark(0, 9), 10, counters(9), mark(10, 9, moved=False), id="one-flat-after"),
    pytest.param(mark(0, 9, moved=False), 60, counters(9), None, id="still-flat"),
    pytest.param(mark(0, 9, moved=False), 60, counters(12), mark(60, 12), id="moves-again"),
    # A long run: 1,100 s of samples, 10 at most: one every 1,100 / 5 s, not every 10 s.
    pytest.param(mark(1000, 5), 1100, counters(9), None, id="long-run-samples-less"),
    pytest.param(mark(1000, 5), 1300, counters(9), mark(1300, 9), id="long-run-due"),
])
def test_the_timeline_samples_at_most_every_interval_while_counters_move(
        last: TimelineMark | None, seconds: float, now_counters: Counters,
        expected: TimelineMark | None) -> None:
    assert next_timeline_mark(last, T0 + timedelta(seconds=seconds), now_counters,
                              every_seconds=10, most=10) == expected


def test_rates_are_per_second_between_samples() -> None:
    timeline = [TimelineSample(100.0, 0, 0, 0, 0), TimelineSample(110.0, 50, 20, 5, 0),
                TimelineSample(110.0, 50, 20, 5, 0),  # same instant: skipped
                TimelineSample(130.0, 50, 44, 6, 1)]
    assert rates(timeline) == {"sent": [(10.0, 5.0), (30.0, 0.0)],
                               "outcomes": [(10.0, 2.5), (30.0, 1.3)]}


@pytest.mark.parametrize("code, meaning", [
    pytest.param("0x00000058", "throttled: over the carrier's rate, slowed down and resent",
                 id="throttled"),
    pytest.param("0x0000000B", "invalid destination address: the number is malformed or the"
                 " SMSC does not serve it", id="bad-destination"),
    pytest.param("0x00000401", "vendor-specific: the carrier's documentation says what it"
                 " means", id="vendor"),
    pytest.param("001", "receipt error; as a GSM MAP error (most carriers pass it on):"
                 " unknown subscriber: the number does not exist", id="receipt-map"),
    pytest.param("777", "the carrier's own receipt error code", id="receipt-other"),
    pytest.param("receipt", "a receipt said undeliverable or rejected, with no error code",
                 id="receipt-without-code"),
    pytest.param("render", "never sent: the template could not be rendered for the recipient",
                 id="not-rendered"),
    pytest.param("0xZZ", "", id="garbage"),
])
def test_error_codes_have_a_meaning(code: str, meaning: str) -> None:
    assert error_meaning(code) == meaning


# -- the charts ------------------------------------------------------------------------

class Elements(HTMLParser):
    """Every element's tag and attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, name: str, value: str | None = None) -> list[dict[str, str]]:
        return [a for _, a in self.found if name in a and (value is None or a[name] == value)]


def test_a_bar_chart_draws_each_bar_to_scale_with_its_interval() -> None:
    chart = Elements(svg.bar_chart("ratios", "ratios", [
        svg.Bar("a", 50.0, low=40.0, high=60.0), svg.Bar("b", 100.0, text="all")], top=100))
    bars = chart.having("data-label")
    assert [(b["data-label"], b["data-value"], b.get("data-low"), b.get("data-high"))
            for b in bars] == [("a", "50", "40", "60"), ("b", "100", None, None)]
    widths = [float(a["width"]) for t, a in chart.found if t == "rect"]
    assert widths[1] == 2 * widths[0] > 0
    assert len(chart.having("class", "interval")) == 1 and "all" in chart.text


@pytest.mark.parametrize("value, top, length, expected", [
    pytest.param(5, 10, 100, 50.0, id="half"),
    pytest.param(5, 0, 100, 0.0, id="no-top"),
    pytest.param(20, 10, 100, 100.0, id="clamped"),
])
def test_scale(value: float, top: float, length: float, expected: float) -> None:
    assert svg.scale(value, top, length) == expected


def test_a_funnel_shows_each_stage_and_its_share_of_the_first() -> None:
    chart = Elements(svg.funnel("funnel", "f", [("audience", 200), ("sent", 150),
                                                ("clicked", 0)]))
    assert [(s["data-stage"], s["data-value"]) for s in chart.having("data-stage")] == [
        ("audience", "200"), ("sent", "150"), ("clicked", "0")]
    assert "150 (75.0%)" in chart.text and "0 (0.0%)" in chart.text


def test_a_line_chart_spans_its_points() -> None:
    chart = Elements(svg.line_chart("rates", "r", [
        svg.Series("sent", [(0.0, 0.0), (10.0, 4.0), (20.0, 2.0)])], width=250, height=150))
    line = chart.having("data-series", "sent")[0]
    assert (line["data-points"], line["data-max"]) == ("3", "4")
    # x from the left edge (50) to the right (250 - 10); the peak at the top (10).
    assert line["points"].split() == ["50.0,100.0", "145.0,10.0", "240.0,55.0"]


# -- the page --------------------------------------------------------------------------

STATUS: dict[str, Any] = {
    "phase": "Completed", "startTime": "2026-12-03T11:00:00Z",
    "counters": {"total": 1000, "sent": 900, "delivered": 800, "failed": 90, "expired": 10,
                 "optedOut": 7, "clicks": 130, "clickers": 120},
    "plan": {"audience": 990, "segments": 990, "estimatedCost": "9.90", "currency": "CNY",
             "channels": [{"name": "a", "currency": "CNY", "countries": [
                 {"country": "CN", "messages": 900, "segments": 900, "estimatedCost": "9.00"},
                 {"country": "HK", "messages": 90, "segments": 90, "estimatedCost": "0.90"}]}]},
    "variants": [{"name": "x", "counters": {"sent": 450, "delivered": 420, "failed": 30,
                                            "clickers": 80}},
                 {"name": "y", "counters": {"sent": 450, "delivered": 380, "failed": 60,
                                            "expired": 10, "clickers": 40}}],
    "channels": [{"name": "a", "counters": {"sent": 900, "delivered": 800}}],
    "topErrors": [{"code": "0x0000000B", "name": "ESME_RINVDSTADR", "count": 60}],
    "errorsByCountry": [{"country": "HK", "failed": 50, "topErrors": [
        {"code": "0x0000000B", "name": "ESME_RINVDSTADR", "count": 45},
        {"code": "001", "count": 5}]}],
}
CAMPAIGN_OBJ = {"metadata": {"namespace": "shop", "name": "sale"}, "status": STATUS}


def test_the_page_is_self_contained_and_its_numbers_are_the_statuss() -> None:
    page = render_report(campaign_report(CAMPAIGN_OBJ, None, "no Redis given", NOW))
    assert not re.search(r"https?:", page), "the page refers to something outside it"
    dom = Elements(page)
    assert {s["data-stage"]: int(s["data-value"]) for s in dom.having("data-stage")} == {
        "audience": 990, "sent": 900, "delivered": 800, "clicked": 120, "opted out": 7}
    delivery = {b["data-label"]: b for b in
                _bars(dom, "variant-delivery")}
    assert float(delivery["x"]["data-value"]) == pytest.approx(100 * 420 / 450)
    assert float(delivery["x"]["data-low"]) < float(delivery["x"]["data-value"]) < float(
        delivery["x"]["data-high"])
    # Clickers over sent (the winner's ClickRatio), not over delivered (80 / 420).
    assert {b["data-label"]: float(b["data-value"]) for b in _bars(dom, "variant-click")} \
        == pytest.approx({"x": 100 * 80 / 450, "y": 100 * 40 / 450}, abs=1e-3)
    assert {c["data-country"]: c["data-messages"] for c in _rows(page, "countries",
                                                                  "data-country")} == {
        "CN": "900", "HK": "90"}
    assert [e["data-count"] for e in _rows(page, "errors", "data-code")] == ["60"]
    assert {(e["data-country"], e["data-code"]): e["data-count"]
            for e in _rows(page, "country-errors", "data-code")} == {
        ("HK", "0x0000000B"): "45", ("HK", "001"): "5"}
    assert "The time series is not available: no Redis given." in "".join(dom.text)


@pytest.mark.parametrize("samples, drawn, note", [
    pytest.param(5, 4, "", id="rates-between-samples"),
    pytest.param(1, 0, "The time series is not available: the run's timeline has fewer than"
                 " two samples.", id="one-sample"),
])
def test_the_rate_chart_needs_two_samples(samples: int, drawn: int, note: str) -> None:
    timeline = [TimelineSample(1000.0 + 10 * i, 40 * i, 30 * i, i, 0) for i in range(samples)]
    dom = Elements(render_report(campaign_report(CAMPAIGN_OBJ, timeline, "", NOW)))
    lines = dom.having("data-series")
    assert [int(line["data-points"]) for line in lines] == ([drawn, drawn] if drawn else [])
    if drawn:
        assert dom.having("data-series", "sent per second")[0]["data-max"] == "4"
    assert note in "".join(dom.text)


def _bars(dom: Elements, chart: str) -> list[dict[str, str]]:
    """The bars of one chart (the elements after its <svg> up to the next one's)."""
    found, inside = [], False
    for tag, attrs in dom.found:
        if tag == "svg":
            inside = attrs.get("data-chart") == chart
        elif inside and "data-label" in attrs:
            found.append(attrs)
    return found


# -- the summary -----------------------------------------------------------------------

@pytest.mark.parametrize("text, window", [
    pytest.param("24h", timedelta(hours=24), id="hours"),
    pytest.param("7d", timedelta(days=7), id="days"),
    pytest.param("30d", timedelta(days=30), id="month"),
    pytest.param("2w", timedelta(weeks=2), id="weeks"),
])
def test_parse_window(text: str, window: timedelta) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["7", "0d", "1y", "-3d", ""])
def test_a_bad_window_says_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 24h, 7d, 30d"):
        parse_window(text)


def campaign(name: str, start: str | None, end: str | None = None, sent: int = 10,
             cost: str | None = "1.50", recurring: bool = False) -> dict[str, Any]:
    return {"kind": "Campaign", "metadata": {"name": name},
            "spec": {"schedule": {"recurrence": {"cron": "0 9 * * *"}} if recurring else {}},
            "status": {"startTime": start, "completionTime": end, "phase": "Completed",
                       "counters": {"sent": sent, "delivered": sent - 1, "failed": 1,
                                    "clicks": 2, "optedOut": 1},
                       "plan": {"estimatedCost": cost, "currency": "CNY"} if cost else {}}}


SUMMARY_NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)  # a Wednesday, ISO week 50


def test_the_summary_counts_each_campaign_once_on_its_day_and_week() -> None:
    view = summarize([
        campaign("mon", "2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z", sent=100),
        campaign("mon-late", "2026-12-07T23:30:00Z", "2026-12-08T00:30:00Z", sent=10),
        campaign("sun", "2026-12-06T10:00:00Z", sent=5, cost=None),
        campaign("ended-in-window", "2026-11-20T10:00:00Z", "2026-12-03T10:00:00Z", sent=1),
        campaign("too-old", "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z", sent=1000),
        campaign("not-started", None),
        campaign("recurring", "2026-12-08T09:00:00Z", sent=1000, recurring=True),
    ], timedelta(days=7), SUMMARY_NOW)
    assert [(r["name"], r["day"]) for r in view["campaigns"]] == [
        ("ended-in-window", "2026-12-03"), ("sun", "2026-12-06"), ("mon", "2026-12-07"),
        ("mon-late", "2026-12-07")]
    assert [(d["period"], d["campaigns"], d["sent"]) for d in view["days"]] == [
        ("2026-12-03", 1, 1), ("2026-12-06", 1, 5), ("2026-12-07", 2, 110)]
    assert [(w["period"], w["sent"]) for w in view["weeks"]] == [
        ("2026-W49", 6), ("2026-W50", 110)]
    totals = view["totals"]
    assert (totals["campaigns"], totals["sent"], totals["failed"], totals["clicks"],
            totals["optedOut"]) == (4, 116, 4, 8, 4)
    assert {k: str(v) for k, v in totals["cost"].items()} == {"CNY": "4.50"}

    page = render_summary("shop", view)
    assert not re.search(r"https?:", page)
    assert [(r["data-period"], r["data-sent"]) for r in _rows(page, "weeks", "data-period")] == [
        ("2026-W49", "6"), ("2026-W50", "110")]
    assert {b["data-label"]: b["data-value"] for b in _bars(Elements(page), "day-sent")} == {
        "2026-12-03": "1", "2026-12-06": "5", "2026-12-07": "110"}
    assert "4.50 CNY" in page


# -- the timeline in Redis -------------------------------------------------------------

async def test_a_full_timeline_keeps_every_other_sample_and_goes_with_the_run(
        redis: Redis) -> None:
    keys = CampaignKeys("shop", "sale")
    firsts = [await append_sample(redis, keys, TimelineSample(100.0 + i, i, i, 0, 0), most=5)
              for i in range(9)]
    assert firsts == [100.0] * 9  # the oldest sample stays: the run's start
    # 0..5 thinned to 0 2 4 5 when the sixth came, then 6; 7 thinned them to 0 4 6 7; 8.
    assert [s.sent for s in await read_timeline(redis, keys)] == [0, 4, 6, 7, 8]
    assert (await read_timeline(redis, keys))[1] == TimelineSample(104.0, 4, 4, 0, 0)
    await redis.rpush(keys.timeline, "from a later version")  # skipped, not a crash
    assert len(await read_timeline(redis, keys)) == 5
    await delete_run(redis, keys, shards=1)
    assert await redis.exists(keys.timeline) == 0


# -- end to end ------------------------------------------------------------------------

BIN = Path(sys.executable).parent
RECIPIENTS = 200


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def run(*command: str, env: dict[str, str] | None = None) -> Ran:
    """A child process, awaited on this loop (the API emulator answers from it)."""
    process = await asyncio.create_subprocess_exec(
        *command, env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
                       **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def chromium(page: Path, workdir: Path, *mode: str) -> Ran:
    """Headless Chromium on the page with no network: every host unresolvable and a
    proxy that refuses, so the page shows only what it carries."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("chromium is not installed: `make test` installs it"
                    " (tools/ensure-chromium.sh)")
    return await run(browser, "--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={workdir / 'chromium'}",
                     "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
                     "--window-size=900,1400", *mode, page.as_uri())


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG (stdlib zlib)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6), (depth, color)
    size = 3 if color == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * size
    rows, previous = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc
                                      else corner)) & 0xFF
        rows.append(bytes(line))
        previous = rows[-1]
    return width, height, rows


@pytest.fixture
async def sent() -> AsyncIterator[Stack]:
    """The example A/B campaign sent to RECIPIENTS numbers, a tenth of them failing, at
    a rate that takes a few seconds, sampled into its timeline every second."""
    async with running_stack(simulator=failing(0.1),
                             config={"timeline_sample_seconds": 1.0}) as stack:
        await apply_examples(stack)
        await stack.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "audience"},
                                 "data": {"recipients.csv": audience_csv(RECIPIENTS)}})
        await stack.kube.create(campaign_body(
            audience={"defaultRegion": "CN", "configMapRef": {"name": "audience"}},
            rateLimit={"messagesPerSecond": 50}))
        await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
        # Receipts may come after Completed: the status is final once none is awaited.
        await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                       until=lambda c: c["status"]["counters"].get("submitted", 0) == 0,
                       message="receipts still awaited")
        yield stack


pytestmark = pytest.mark.timeout(240)


async def test_the_report_page_renders_offline_with_the_campaigns_numbers(
        sent: Stack, tmp_path: Path) -> None:
    stack = sent
    kube_env = {"KUBECONFIG": str(stack.cluster.kubeconfig)}
    page = tmp_path / "report.html"
    wrote = await run(str(BIN / "herald"), "report", CAMPAIGN, "-o", str(page),
                      env=kube_env | {"HERALD_REDIS_URL": stack.redis_url})
    assert wrote.code == 0, wrote.err
    status = (await stack.campaign(NS, CAMPAIGN))["status"]
    html = page.read_text()
    assert not re.search(r"https?:", html), "the page refers to something outside it"

    dumped = await chromium(page, tmp_path, "--dump-dom")
    assert dumped.code == 0, dumped.err[-2000:]
    dom = Elements(dumped.out)
    counters = status["counters"]
    assert {s["data-stage"]: int(s["data-value"]) for s in dom.having("data-stage")} == {
        "audience": status["plan"]["audience"], "sent": counters["sent"],
        "delivered": counters["delivered"], "clicked": counters.get("clickers", 0),
        "opted out": counters.get("optedOut", 0)}
    shown = {key: int(value.replace(",", "")) for key, value in
             re.findall(r'data-counter="(\w+)">([\d,]+)<', dumped.out)}
    assert {k: shown[k] for k in ("sent", "delivered", "failed")} == {
        k: counters[k] for k in ("sent", "delivered", "failed")}
    variants = {row["name"]: row["counters"] for row in status["variants"]}
    assert len(variants) == 2
    assert {r["data-name"]: (int(r["data-sent"]), int(r["data-delivered"]),
                             int(r["data-failed"]))
            for r in _rows(dumped.out, "variants")} == {
        name: (c.get("sent", 0), c.get("delivered", 0), c.get("failed", 0))
        for name, c in variants.items()}
    for bar in _bars(dom, "variant-delivery"):  # the ratio charts are the status's ratios
        c = variants[bar["data-label"]]
        final = c.get("delivered", 0) + c.get("failed", 0) + c.get("expired", 0)
        assert float(bar["data-value"]) == pytest.approx(100 * c["delivered"] / final,
                                                         abs=1e-3)
        assert float(bar["data-low"]) < float(bar["data-value"]) < float(bar["data-high"])
    assert len(_bars(dom, "variant-delivery")) == 2
    assert counters["failed"] > 0 and {e["data-code"]: int(e["data-count"])
                                       for e in _rows(dumped.out, "errors", "data-code")} == {
        e["code"]: e["count"] for e in status["topErrors"]}
    assert {(e["data-country"], e["data-code"]): int(e["data-count"])
            for e in _rows(dumped.out, "country-errors", "data-code")} == {
        (c["country"], e["code"]): e["count"] for c in status["errorsByCountry"]
        for e in c["topErrors"]} != {}  # failures counted by the numbers' country
    assert {(e["data-channel"], e["data-code"]): int(e["data-count"])
            for e in dom.having("data-channel")} == {
        (c["name"], e["code"]): e["count"] for c in status["channels"]
        for e in c["topErrors"]} != {}  # each channel's own, from its counters
    rate = dom.having("data-series", "sent per second")
    assert rate and int(rate[0]["data-points"]) >= 2, "the timeline's rates are drawn"
    assert {c["data-chart"] for c in dom.having("data-chart")} >= {
        "funnel", "variant-delivery", "variant-click", "rates", "channel-sent",
        "country-messages"}

    shot = tmp_path / "report.png"
    taken = await chromium(page, tmp_path, f"--screenshot={shot}")
    assert taken.code == 0 and shot.exists(), taken.err[-2000:]
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (900, 1400)
    colours = {row[i:i + 3] for row in rows[::7] for i in range(0, len(row), 4 * 5)}
    assert len(colours) > 20, "the screenshot is all but blank"

    missing = await run(str(BIN / "herald"), "report", "no-such", env=kube_env)
    assert missing.code == 1
    assert "campaign no-such not found in namespace default" in missing.err


def _rows(html: str, table: str, key: str = "data-name") -> list[dict[str, str]]:
    """The data attributes of one table's rows."""
    found, inside = [], False
    for tag, attrs in Elements(html).found:
        if tag == "table":
            inside = attrs.get("data-table") == table
        elif inside and tag == "tr" and key in attrs:
            found.append(attrs)
    return found


async def test_kubectl_herald_report_without_redis_and_the_summary(
        sent: Stack, tmp_path: Path) -> None:
    stack = sent
    env = {"KUBECONFIG": str(stack.cluster.kubeconfig), "HERALD_REDIS_URL": ""}
    page = tmp_path / "report.html"
    wrote = await run(str(KUBECTL), "herald", "report", CAMPAIGN, "-o", str(page), env=env)
    assert wrote.code == 0, wrote.err
    html = page.read_text()
    assert "The time series is not available: no Redis given" in html
    status = (await stack.campaign(NS, CAMPAIGN))["status"]
    assert f'data-stage="sent" data-value="{status["counters"]["sent"]}"' in html

    away = await run(str(KUBECTL), "herald", "report", CAMPAIGN, "--redis",
                     "redis://127.0.0.1:9/0", env=env)
    assert away.code == 0 and "Redis is not reachable" in away.out

    summary = await run(str(KUBECTL), "herald", "report", "--since", "7d", env=env)
    assert summary.code == 0, summary.err
    totals = _rows(summary.out, "totals", "data-period")
    assert [(r["data-campaigns"], r["data-sent"]) for r in totals] == [
        ("1", str(status["counters"]["sent"]))]
    bad = await run(str(KUBECTL), "herald", "report", "--since", "7y", env=env)
    assert bad.code == 1 and "give hours, days or weeks" in bad.err
    both = await run(str(KUBECTL), "herald", "report", CAMPAIGN, "--since", "7d", env=env)
    assert both.code == 1 and "give a CAMPAIGN, or --since WINDOW" in both.err

