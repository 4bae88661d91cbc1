"""The pre-send plan (controllers.decisions.campaign_presend), pure: cost by channel and
country, segments by variant and coding, and the ETA through send windows; then the
dry run as the campaign plan decides it (Planned, no sender Job, then the same run sent)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.decisions import reasons
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.campaign_presend import PlanInputs, finish_time, presend_plan
from controllers.decisions.campaign_world import JobSeen
from crds.base import find_condition
from crds.campaign import Campaign, CampaignStatus, Counters, PresendPlan, QuietHours, SendWindow
from crds.channel import PooledSourceAddress, Pricing
from herald.local.demo import column_value
from sender.run_config import RunConfig, SendTimesConfig
from tests.test_campaign_plan import (
    CHANNELS,
    NOW,
    SETTINGS,
    campaign,
    run_of,
    world,
)

SHORT = "Your code is {code}."  # one GSM-7 segment
LONG = "x" * 200  # two GSM-7 segments (153 a part)
CHINESE = "您好" * 40  # 80 UCS-2 characters: two segments (67 a part)


def config(*channels: tuple[str, int, str], templates: dict[str, str] | None = None,
           variants: list[tuple[str, int]] | None = None) -> RunConfig:
    """A run over `channels` (name, rate, gsm7Coding) with `templates` by variant."""
    return RunConfig.model_validate({
        "campaign": {"namespace": "default", "name": "c"}, "uid": "u", "generation": 1,
        "frozen_hash": "h", "shards": 1,
        "templates": {v: {"category": "Notification", "body": body}
                      for v, body in (templates or {"": SHORT}).items()},
        "channels": [{"name": name, "rate": rate, "smpp": {
            "host": "smsc", "port": 2775, "system_id": "herald", "gsm7_coding": coding,
            "source_addr": {"address": "Herald"}}} for name, rate, coding in channels],
        "audience": {"source": {"inline": []}, "variants": variants or []},
    })


def pricing(currency: str, default: str | None = None, **countries: str) -> Pricing:
    return Pricing.model_validate({
        "currency": currency, "pricePerSegment": default,
        "countries": [{"country": c, "pricePerSegment": p} for c, p in countries.items()]})


def routed(**channels: dict[str, int]) -> dict[str, int]:
    """The counters hash of an import: per channel, messages by country."""
    fields: dict[str, int] = {}
    for name, countries in channels.items():
        fields[f"channel:{name}:total"] = sum(countries.values())
        fields |= {f"channel:{name}:country:{c}": n for c, n in countries.items()}
    fields["imported"] = sum(fields[f"channel:{n}:total"] for n in channels)
    return fields


def plan(run: RunConfig, fields: dict[str, int], prices: dict[str, Pricing | None],
         rate: int | None = None, times: SendTimesConfig | None = None) -> PresendPlan:
    return presend_plan(run, fields, fields.get("imported", 0) + 7, PlanInputs(
        basis=NOW, campaign_rate=rate, send_times=times or SendTimesConfig(), pricing=prices))


def costs(p: PresendPlan) -> dict[str, Any]:
    return {c.name: (c.segments, c.estimated_cost, c.currency, c.unpriced_countries,
                     {r.country: r.estimated_cost for r in c.countries}) for c in p.channels}


ONE = config(("cmcc", 100, "SmscDefault"))
TWO = config(("cmcc", 100, "SmscDefault"), ("intl", 50, "SmscDefault"))


def pooled(*limits: int | None) -> RunConfig:
    """ONE, sending from a pool of long codes with these messagesPerSecond each."""
    channel = ONE.channels[0]
    smpp = channel.smpp.model_copy(update={"source_addr": None, "source_addresses": [
        PooledSourceAddress(address=f"+1415555000{i}", messages_per_second=limit)
        for i, limit in enumerate(limits)]})
    return ONE.model_copy(update={"channels": [channel.model_copy(update={"smpp": smpp})]})


@pytest.mark.parametrize("run, fields, prices, total, currency, channels", [
    pytest.param(ONE, routed(cmcc={"CN": 100}), {"cmcc": pricing("CNY", CN="0.045")},
                 "4.50", "CNY", {"cmcc": (100, "4.50", "CNY", [], {"CN": "4.50"})},
                 id="one-channel-one-country"),
    pytest.param(config(("cmcc", 100, "SmscDefault"), templates={"": LONG}),
                 routed(cmcc={"CN": 100}), {"cmcc": pricing("CNY", CN="0.045")},
                 "9.00", "CNY", {"cmcc": (200, "9.00", "CNY", [], {"CN": "9.00"})},
                 id="two-segment-template-costs-twice"),
    pytest.param(TWO, routed(cmcc={"CN": 60}, intl={"HK": 10, "US": 30}),
                 {"cmcc": pricing("CNY", CN="0.03"), "intl": pricing("CNY", "0.05", HK="0.08")},
                 "4.10", "CNY",
                 {"cmcc": (60, "1.80", "CNY", [], {"CN": "1.80"}),
                  "intl": (40, "2.30", "CNY", [], {"HK": "0.80", "US": "1.50"})},
                 id="per-channel-and-country-with-a-default-price"),
    pytest.param(TWO, routed(cmcc={"CN": 60}, intl={"HK": 10, "US": 30}),
                 {"cmcc": pricing("CNY", CN="0.03"), "intl": pricing("CNY", HK="0.08")},
                 "2.60", "CNY",
                 {"cmcc": (60, "1.80", "CNY", [], {"CN": "1.80"}),
                  "intl": (40, "0.80", "CNY", ["US"], {"HK": "0.80", "US": None})},
                 id="an-unpriced-country-is-listed-and-left-out"),
    pytest.param(TWO, routed(cmcc={"CN": 60}, intl={"US": 40}),
                 {"cmcc": pricing("CNY", CN="0.03"), "intl": pricing("USD", "0.0075")},
                 None, None,
                 {"cmcc": (60, "1.80", "CNY", [], {"CN": "1.80"}),
                  "intl": (40, "0.30", "USD", [], {"US": "0.30"})},
                 id="two-currencies-no-total"),
    pytest.param(TWO, routed(cmcc={"CN": 60}, intl={"US": 40}),
                 {"cmcc": pricing("CNY", CN="0.03"), "intl": None},
                 "1.80", "CNY",
                 {"cmcc": (60, "1.80", "CNY", [], {"CN": "1.80"}),
                  "intl": (40, None, None, [], {"US": None})},
                 id="a-channel-without-pricing"),
    pytest.param(TWO, routed(cmcc={"CN": 100}),
                 {"cmcc": pricing("CNY", CN="0.00001"), "intl": pricing("CNY", "1")},
                 "0.001", "CNY",
                 {"cmcc": (100, "0.001", "CNY", [], {"CN": "0.001"}),
                  "intl": (0, "0.00", "CNY", [], {})},
                 id="fractions-of-a-cent-and-an-idle-channel"),
])
def test_cost_per_channel_and_country(run: RunConfig, fields: dict[str, int],
                                      prices: dict[str, Pricing | None], total: str | None,
                                      currency: str | None, channels: dict[str, Any]) -> None:
    p = plan(run, fields, prices)
    assert (p.estimated_cost, p.currency) == (total, currency)
    assert costs(p) == channels
    assert p.audience == p.messages == fields["imported"]
    assert p.rows == fields["imported"] + 7
    assert p.segments == sum(c.segments for c in p.channels)


AB = {"a": SHORT, "b": LONG}


@pytest.mark.parametrize("run, fields, variants, segments", [
    pytest.param(config(("cmcc", 100, "SmscDefault"), templates=AB,
                        variants=[("a", 50), ("b", 50)]),
                 routed(cmcc={"CN": 100}) | {"variant:a:total": 40, "variant:b:total": 60},
                 {"a": (40, 1, 40), "b": (60, 2, 120)}, 160, id="variants-of-one-and-two"),
    pytest.param(config(("cmcc", 100, "SmscDefault"), templates=AB,
                        variants=[("a", 50), ("b", 50)]),
                 routed(cmcc={"CN": 80}) | {"variant:a:total": 40, "variant:b:total": 40,
                                            "variant:holdout:total": 20},
                 {"a": (40, 1, 40), "b": (40, 2, 80)}, 120, id="the-holdout-is-no-variant"),
    pytest.param(config(("gsm", 100, "SmscDefault"), ("latin", 100, "Latin1"),
                        templates={"": "é" * 150}),
                 routed(gsm={"CN": 10}, latin={"CN": 10}), {}, 30,
                 id="segments-on-each-channels-coding"),  # GSM-7: 1, Latin-1: 2 (140)
    pytest.param(config(("cmcc", 100, "SmscDefault"), templates={"": CHINESE}),
                 routed(cmcc={"CN": 5}), {}, 10, id="ucs2"),
])
def test_segments_per_variant(run: RunConfig, fields: dict[str, int],
                              variants: dict[str, tuple[int, int, int]], segments: int) -> None:
    p = plan(run, fields, {})
    assert {v.name: (v.messages, v.segments_per_message, v.segments)
            for v in p.variants} == variants
    assert p.segments == segments
    assert p.estimated_cost is None


def test_a_run_imported_before_countries_were_counted_is_unpriced_but_planned() -> None:
    fields = {"imported": 50, "channel:cmcc:total": 50}
    p = plan(ONE, fields, {"cmcc": pricing("CNY", CN="0.03")})
    assert (p.messages, p.segments, p.channels[0].unpriced_countries) == (50, 50, ["ZZ"])
    assert "unpriced: cmcc ZZ" in p.message


SHANGHAI_DAY = SendTimesConfig(time_zone="Asia/Shanghai",
                               window=SendWindow(start="09:00", end="21:00"))


@pytest.mark.parametrize("run, fields, rate, times, rate_seen, eta", [
    pytest.param(ONE, routed(cmcc={"CN": 1000}), None, None, 100,
                 NOW + timedelta(seconds=10), id="the-channels-rate"),
    pytest.param(ONE, routed(cmcc={"CN": 1000}), 20, None, 20,
                 NOW + timedelta(seconds=50), id="the-campaigns-rate-below"),
    pytest.param(TWO, routed(cmcc={"CN": 1000}, intl={"US": 100}), None, None, 150,
                 NOW + timedelta(seconds=10), id="each-channel-at-its-own-rate"),
    pytest.param(TWO, routed(cmcc={"CN": 100}, intl={"US": 1000}), None, None, 150,
                 NOW + timedelta(seconds=20), id="the-slow-channel-decides"),
    pytest.param(TWO, routed(cmcc={"CN": 1000}), None, None, 100,
                 NOW + timedelta(seconds=10), id="an-idle-channel-adds-no-rate"),
    pytest.param(pooled(1, 4), routed(cmcc={"CN": 1000}), None, None, 5,
                 NOW + timedelta(seconds=200), id="a-pool-of-limited-addresses-is-slower"),
    pytest.param(pooled(1, None), routed(cmcc={"CN": 1000}), None, None, 100,
                 NOW + timedelta(seconds=10), id="an-unlimited-address-of-the-pool"),
    pytest.param(ONE, routed(cmcc={"CN": 1000}), None, SHANGHAI_DAY, 100,
                 NOW + timedelta(seconds=10), id="inside-the-window"),  # NOW: 12:00 there
    pytest.param(ONE, routed(cmcc={"CN": 30 * 3600 * 100}), None, SHANGHAI_DAY, 100,
                 # 30 h of sending from Monday 12:00: 9 h Monday, 12 h Tuesday, 9 h
                 # Wednesday from 09:00: done at 18:00 there
                 datetime(2026, 11, 25, 10, 0, tzinfo=UTC), id="across-two-nights"),
])
def test_eta(run: RunConfig, fields: dict[str, int], rate: int | None,
             times: SendTimesConfig | None, rate_seen: int, eta: datetime) -> None:
    p = plan(run, fields, {}, rate=rate, times=times)
    assert (p.segments_per_second, p.eta) == (rate_seen, eta)


NEW_YORK_NIGHT = SendTimesConfig(time_zone="America/New_York",
                                 window=SendWindow(start="00:00", end="03:00"))


@pytest.mark.parametrize("times, start, seconds, eta", [
    pytest.param(SHANGHAI_DAY, datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 7200,
                 # 20:00 in Shanghai: one hour before the window closes, one after 09:00
                 datetime(2026, 11, 24, 2, 0, tzinfo=UTC), id="closing-overnight"),
    pytest.param(SHANGHAI_DAY, datetime(2026, 11, 23, 14, 0, tzinfo=UTC), 60,
                 datetime(2026, 11, 24, 1, 1, tzinfo=UTC), id="starting-while-closed"),
    pytest.param(SendTimesConfig(time_zone="Asia/Shanghai", window=SendWindow(
                     start="09:00", end="21:00", days=["Monday"])),
                 datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 7200,  # Monday 20:00
                 datetime(2026, 11, 30, 2, 0, tzinfo=UTC), id="a-week-to-the-next-monday"),
    pytest.param(NEW_YORK_NIGHT, datetime(2026, 11, 1, 4, 0, tzinfo=UTC), 3.5 * 3600,
                 # 00:00 EDT; the clock goes back at 02:00: 00:00-03:00 lasts four hours
                 datetime(2026, 11, 1, 7, 30, tzinfo=UTC), id="dst-ends-a-longer-night"),
    pytest.param(NEW_YORK_NIGHT, datetime(2026, 3, 8, 5, 0, tzinfo=UTC), 2.5 * 3600,
                 # 00:00 EST; 02:00 is skipped: the window lasts two hours, so half an
                 # hour is left for 00:00 EDT the next night (04:00 UTC), done 04:30
                 datetime(2026, 3, 9, 4, 30, tzinfo=UTC), id="dst-starts-a-shorter-night"),
    pytest.param(SendTimesConfig(time_zone="Asia/Shanghai", quiet_hours=QuietHours()),
                 datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 7200,  # 20:00, quiet at 21:00
                 datetime(2026, 11, 24, 1, 0, tzinfo=UTC), id="quiet-hours-in-the-zone"),
    pytest.param(SendTimesConfig(time_zone="Asia/Shanghai",
                                 window=SendWindow(start="22:00", end="23:00"),
                                 quiet_hours=QuietHours()),
                 datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 60, None, id="never-opens"),
])
def test_finish_time_steps_through_the_window(times: SendTimesConfig, start: datetime,
                                              seconds: float, eta: datetime | None) -> None:
    assert finish_time(times.rules(), times.time_zone, start, int(seconds)) == eta


# -- the dry run, as the campaign plan decides it ---------------------------------------

PRICED = {name: dataclasses.replace(seen, spec=seen.spec.model_copy(update={
    "pricing": pricing("CNY", CN="0.045")})) for name, seen in CHANNELS.items()}
DRY = campaign(dryRun=True)
IMPORTED_FIELDS = routed(**{"carrier-a": {"CN": 80}}) | {
    "variant:discount:total": 48, "variant:reminder:total": 32}


def dry_world(c: Any = DRY, **fields: Any) -> Any:
    run = run_of(c, Counters(total=100, invalid=20, queued=80), import_done=True,
                 fields=IMPORTED_FIELDS)
    return world(run=run, **({"channels": PRICED} | fields))


def test_a_dry_run_stops_at_the_plan() -> None:
    p = plan_campaign(DRY, dry_world(), SETTINGS)
    ready = find_condition(p.status.conditions, "Ready")
    assert ready is not None
    assert (p.status.phase, ready.reason) == ("Planned", reasons.DRY_RUN)
    assert p.actions.create == ()  # no sender Job
    plan_ = p.status.plan
    assert plan_ is not None
    assert (plan_.rows, plan_.audience, plan_.messages) == (100, 80, 80)
    assert {v.name: v.messages for v in plan_.variants} == {"discount": 48, "reminder": 32}
    assert plan_.currency == "CNY" and plan_.estimated_cost is not None
    assert plan_.eta is not None and plan_.time == NOW
    assert "set spec.dryRun to false" in ready.message
    assert [e.reason for e in p.events] == [reasons.DRY_RUN]
    assert p.requeue_after_seconds > 1  # nothing moves until the spec does


def test_the_plan_is_stable_from_one_reconcile_to_the_next() -> None:
    first = plan_campaign(DRY, dry_world(), SETTINGS)
    later = dry_world(now=NOW + timedelta(minutes=5))
    again = plan_campaign(DRY.model_copy(update={"status": first.status}), later, SETTINGS)
    assert again.status == first.status
    assert again.events == ()


def test_dry_run_false_sends_the_imported_run_and_counts_the_eta_from_then() -> None:
    planned = plan_campaign(DRY, dry_world(), SETTINGS).status
    go = campaign(status=planned, generation=2, dryRun=False)
    later = NOW + timedelta(hours=1)
    p = plan_campaign(go, dry_world(go, now=later), SETTINGS)
    assert p.status.phase == "Running"
    assert [job["metadata"]["name"] for job in p.actions.create] == ["double-eleven-2026-send"]
    assert not any("import" in job["metadata"]["name"] for job in p.actions.create)
    assert p.status.plan is not None and planned.plan is not None
    assert planned.plan.eta is not None
    assert p.status.plan.time == later
    assert p.status.plan.eta == planned.plan.eta + timedelta(hours=1)
    same = {"time": NOW, "eta": planned.plan.eta, "message": planned.plan.message}
    assert p.status.plan.model_copy(update=same) == planned.plan
    assert p.status.edits_not_applied == []  # dryRun applies live


def test_dry_run_set_once_sending_started_changes_nothing() -> None:
    running = plan_campaign(campaign(), dry_world(campaign()), SETTINGS).status
    late = campaign(status=running, generation=2, dryRun=True)
    p = plan_campaign(late, dry_world(late, sender_job=JobSeen(parallelism=2, active=2)),
                      SETTINGS)
    assert p.status.phase == "Running"


def test_a_finished_campaign_keeps_its_plan() -> None:
    running = plan_campaign(campaign(), dry_world(campaign()), SETTINGS).status
    assert running.plan is not None
    done = campaign(status=running)
    p = plan_campaign(done, dry_world(done, sender_job=JobSeen(complete=True)), SETTINGS)
    assert p.status.phase == "Completed"
    final = plan_campaign(done.model_copy(update={"status": p.status}), dry_world(
        done, now=NOW + timedelta(hours=2), sender_job=JobSeen(complete=True),
        channels=CHANNELS), SETTINGS)  # the pricing went: the plan made stays
    assert final.status.plan == running.plan


def test_no_plan_before_the_import_is_done() -> None:
    run = run_of(DRY, import_done=False)
    p = plan_campaign(DRY, world(run=run), SETTINGS)
    assert p.status.phase == "Importing" and p.status.plan is None
    assert CampaignStatus().plan is None


def test_kubectl_get_shows_cost_and_eta() -> None:
    p = plan_campaign(DRY, dry_world(), SETTINGS)
    body = campaign(status=p.status).to_api()
    cells = {c["name"]: column_value(body, c["jsonPath"]) for c in Campaign.PRINTER_COLUMNS}
    assert (cells["Phase"], cells["Reason"]) == ("Planned", reasons.DRY_RUN)
    assert (cells["Cost"], cells["Currency"], cells["ETA"]) == (
        "3.60", "CNY", "2026-11-23T04:00:01Z")  # 80 CN segments at 0.045


def test_a_dry_run_imports_outside_the_send_window_and_its_eta_waits_for_it() -> None:
    night = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    p = plan_campaign(DRY, world(now=night), SETTINGS)
    assert p.status.phase == "Importing"
    assert any("import" in job["metadata"]["name"] for job in p.actions.create)
    planned = plan_campaign(DRY, dry_world(now=night), SETTINGS).status
    assert planned.phase == "Planned" and planned.plan is not None
    # 80 segments at 1,000/s once the example's window opens at 09:00 there
    assert planned.plan.eta == datetime(2026, 11, 24, 1, 0, 1, tzinfo=UTC)


def test_a_winner_campaign_waits_for_its_decision_between_test_group_and_rest() -> None:
    run = config(("cmcc", 10, "SmscDefault"), templates=AB, variants=[("a", 50), ("b", 50)])
    run.audience.test_percent, run.audience.holdout_percent = 10, 20
    fields = routed(cmcc={"CN": 800}) | {"variant:a:total": 400, "variant:b:total": 400}
    p = presend_plan(run, fields, 1000, PlanInputs(
        basis=NOW, campaign_rate=None, send_times=SendTimesConfig(), pricing={},
        winner_wait_seconds=3600))
    # 1,200 segments at 10/s: 120 s; the test group (10 of the 80% not held out) 15 s,
    # an hour's wait, then 105 s
    assert p.eta == NOW + timedelta(seconds=120 + 3600)
