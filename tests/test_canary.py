"""spec.canary and spec.autoPause: a canary share goes first and the rest only if its
failure and opt-out ratios stay within the thresholds; the whole run pauses itself when
they pass them; a person resumes by setting spec.paused to true, then false. The pure
judgement, the plan's steps, and the run through the operator, judged by what the
simulator received."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from controllers.decisions import reasons
from controllers.decisions.campaign_guard import (
    figures_of,
    judge,
    judge_auto_pause,
    judge_canary,
    may_resume,
)
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.campaign_world import JobSeen, RunSeen
from crds.base import API_VERSION, ConditionStatus, find_condition
from crds.campaign import (
    AutoPause,
    Campaign,
    CampaignStatus,
    Canary,
    Counters,
    GuardFigures,
    GuardResult,
    GuardStatus,
)
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from sender.send.process import load_run
from sender.simulator.config import OutcomeWeights, SimulatorConfig
from sender.sms.variants import TestGroupPicker
from sender.store.client import connect
from sender.store.keys import OPT_OUT_SET
from sender.store.run_store import write_run
from tests.test_campaign_operator import (
    CAMPAIGN,
    NS,
    TIMEOUT,
    apply_examples,
    campaign_body,
    counters_add_up,
    events_include,
    inline,
    wait_delivered,
)
from tests.test_campaign_plan import NOW, SETTINGS, campaign, ready, run_of, world

# -- the judgement ---------------------------------------------------------------------


def seen(final: int = 0, failed: int = 0, sent: int = 0, opted_out: int | None = None
         ) -> GuardFigures:
    return GuardFigures(final=final, failed=failed, sent=sent, opted_out=opted_out)


@pytest.mark.parametrize("figures, max_failure, max_opt_out, minimum, reason", [
    pytest.param(seen(100, 10, 100), 10, None, 1, "", id="at-the-threshold-passes"),
    pytest.param(seen(100, 11, 100), 10, None, 1, reasons.FAILURE_RATIO_EXCEEDED,
                 id="above-trips"),
    pytest.param(seen(1000, 101, 1000), 10, None, 1, reasons.FAILURE_RATIO_EXCEEDED,
                 id="10.1-percent-trips"),
    pytest.param(seen(2, 1, 2), 20, None, 100, "", id="too-few-to-judge"),
    pytest.param(seen(100, 30, 100), 20, None, 100, reasons.FAILURE_RATIO_EXCEEDED,
                 id="enough-to-judge"),
    pytest.param(seen(100, 100, 100), 100, None, 1, "", id="100-never-trips"),
    pytest.param(seen(100, 1, 100), 0, None, 1, reasons.FAILURE_RATIO_EXCEEDED,
                 id="0-any-failure-trips"),
    pytest.param(seen(100, 0, 100, 6), 10, 5, 1, reasons.OPT_OUT_RATIO_EXCEEDED,
                 id="opt-outs-trip"),
    pytest.param(seen(100, 0, 100, 5), 10, 5, 1, "", id="opt-outs-at-the-threshold"),
    pytest.param(seen(100, 0, 100, 60), 10, None, 1, "", id="opt-outs-not-judged"),
    pytest.param(seen(100, 0, 100, None), 10, 5, 1, "", id="opt-outs-not-counted"),
    pytest.param(seen(100, 0, 40, 30), 10, 5, 50, "", id="opt-outs-too-few-accepted"),
    pytest.param(seen(100, 50, 100, 50), 10, 5, 1, reasons.FAILURE_RATIO_EXCEEDED,
                 id="failures-said-first"),
])
def test_judge(figures: GuardFigures, max_failure: int, max_opt_out: int | None,
               minimum: int, reason: str) -> None:
    verdict = judge(figures, max_failure, max_opt_out, minimum)
    assert (verdict.tripped, verdict.reason) == (bool(reason), reason)
    assert f"maxFailurePercent {max_failure}" in verdict.message


def test_the_figures_count_failed_and_expired_over_final_outcomes() -> None:
    counters = Counters(total=100, delivered=60, failed=20, expired=10, submitted=10,
                        unknown=3, sent=97)
    f = figures_of(counters, 4)
    assert (f.final, f.failed, f.failure_ratio, f.sent, f.opted_out, f.opt_out_ratio) == (
        90, 30, "33.3%", 97, 4, "4.1%")
    # Since a resume: only what came after it.
    later = figures_of(counters.model_copy(update={"delivered": 160, "sent": 197}), 4, f)
    assert (later.final, later.failed, later.sent, later.opted_out) == (100, 0, 100, 0)
    assert figures_of(Counters(), None).failure_ratio is None


CANARY = Canary(percent=10, holdSeconds=60, maxFailurePercent=10, maxOptOutPercent=5)


@pytest.mark.parametrize("figures, result, reason", [
    pytest.param(seen(100, 30, 100, 0), GuardResult.FAILED, reasons.FAILURE_RATIO_EXCEEDED,
                 id="failures"),
    pytest.param(seen(100, 5, 100, 10), GuardResult.FAILED, reasons.OPT_OUT_RATIO_EXCEEDED,
                 id="opt-outs"),
    pytest.param(seen(100, 5, 100, 1), GuardResult.PASSED, reasons.CANARY_PASSED,
                 id="within"),
    pytest.param(seen(0, 0, 100, 0), GuardResult.FAILED, reasons.NO_FINAL_OUTCOME,
                 id="no-receipt-at-all"),
    pytest.param(seen(1, 1, 1, 0), GuardResult.FAILED, reasons.FAILURE_RATIO_EXCEEDED,
                 id="a-small-canary-is-judged-on-what-it-has"),
])
def test_judge_canary(figures: GuardFigures, result: GuardResult, reason: str) -> None:
    decision = judge_canary(figures, CANARY, NOW, 3)
    assert (decision.result, decision.reason, decision.generation) == (result, reason, 3)
    assert decision.figures == figures and decision.decision_time == NOW
    assert decision.message.startswith(f"canary {result.value.lower()}")


def test_auto_pause_trips_only_over_its_thresholds() -> None:
    policy = AutoPause(maxFailurePercent=20, minMessages=100)
    assert judge_auto_pause(seen(99, 99, 99), policy, NOW, 1) is None
    assert judge_auto_pause(seen(100, 20, 100), policy, NOW, 1) is None
    trip = judge_auto_pause(seen(100, 21, 100), policy, NOW, 1)
    assert trip is not None and trip.result == GuardResult.FAILED
    assert trip.reason == reasons.FAILURE_RATIO_EXCEEDED and "21 of 100" in trip.message


@pytest.mark.parametrize("paused, generation, resumes", [
    pytest.param(True, 4, True, id="paused-after"),
    pytest.param(True, 3, False, id="paused-before"),
    pytest.param(False, 5, False, id="not-paused"),
])
def test_a_person_takes_the_pause_over_with_paused_set_after_it(
    paused: bool, generation: int, resumes: bool,
) -> None:
    pause = GuardStatus(result=GuardResult.FAILED, generation=3)
    assert may_resume(pause, paused, generation) is resumes


# -- the plan's steps ------------------------------------------------------------------

SPEC = {"percent": 10, "holdSeconds": 60, "maxFailurePercent": 10}
SENT_BADLY = Counters(total=1000, delivered=70, failed=30, sent=100, awaiting_winner=900)
SENT_WELL = Counters(total=1000, delivered=98, failed=2, sent=100, awaiting_winner=900)


def canary_sent(counters: Counters, done_ago: int = 60, generation: int = 1,
                **spec: Any) -> tuple[Campaign, RunSeen, Any]:
    c = campaign(generation=generation, canary=SPEC, **spec)
    run = run_of(c, counters, import_done=True)
    job = JobSeen(complete=True, completion_time=NOW - timedelta(seconds=done_ago))
    return c, run, world(run=run, sender_job=job)


def condition(plan: Any, type_: str) -> tuple[str, str]:
    found = find_condition(plan.status.conditions, type_)
    assert found is not None, type_
    return found.status, found.reason


def test_the_canary_share_is_split_at_import_and_fixed_for_the_run() -> None:
    _c, run, _ = canary_sent(SENT_WELL)
    assert run.config.audience.test_percent == 10 and run.config.lanes.rest
    edited = campaign(canary=SPEC | {"percent": 20})
    assert "canary.percent" in plan_campaign(edited, world(run=run), SETTINGS
                                             ).status.edits_not_applied


def test_the_judgement_waits_for_hold_seconds() -> None:
    c, _run, w = canary_sent(SENT_BADLY, done_ago=30)
    plan = plan_campaign(c, w, SETTINGS)
    assert ready(plan) == ("Running", reasons.AWAITING_CANARY)
    assert plan.actions.write_run is None and plan.actions.create == ()
    assert plan.status.canary is not None and plan.status.canary.result is None
    assert plan.status.canary.decision_time == NOW + timedelta(seconds=30)
    assert condition(plan, "CanaryFailed") == (ConditionStatus.UNKNOWN, reasons.AWAITING_CANARY)
    assert 1.0 <= plan.requeue_after_seconds <= 30.0


def test_a_canary_within_its_thresholds_sends_the_rest_with_their_own_variants() -> None:
    c, run, w = canary_sent(SENT_WELL)
    plan = plan_campaign(c, w, SETTINGS)
    decided = plan.actions.write_run
    assert decided is not None and decided.canary is not None
    assert decided.canary.result == GuardResult.PASSED and plan.actions.create == ()
    assert reasons.CANARY_PASSED in [e.reason for e in plan.events]
    after = dataclasses.replace(run, config=decided)
    plan = plan_campaign(c.model_copy(update={"status": plan.status}),
                         dataclasses.replace(w, run=after), SETTINGS)
    (job,) = plan.actions.create
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "--rest"
    assert plan.actions.hand_rest == ""  # each entry keeps its own variant
    assert ready(plan) == ("Running", reasons.SENDING)
    assert condition(plan, "CanaryFailed") == (ConditionStatus.FALSE, reasons.CANARY_PASSED)
    assert condition(plan, "AutoPaused") == (ConditionStatus.FALSE, reasons.WITHIN_THRESHOLDS)


def failed_canary(generation: int = 1) -> tuple[Campaign, RunSeen, Any, CampaignStatus]:
    c, run, w = canary_sent(SENT_BADLY, generation=generation)
    plan = plan_campaign(c, w, SETTINGS)
    decided = plan.actions.write_run
    assert decided is not None and decided.canary is not None
    failed = dataclasses.replace(run, config=decided)
    return c, failed, dataclasses.replace(w, run=failed), plan.status


def test_a_failed_canary_pauses_the_campaign_without_writing_spec() -> None:
    c, run, w, status = failed_canary()
    assert run.config.canary is not None
    assert (run.config.canary.result, run.config.canary.reason) == (
        GuardResult.FAILED, reasons.FAILURE_RATIO_EXCEEDED)
    plan = plan_campaign(c.model_copy(update={"status": status}), w, SETTINGS)
    assert ready(plan) == ("Paused", reasons.CANARY_FAILED)
    assert plan.actions.create == () and plan.actions.hand_rest is None
    assert condition(plan, "CanaryFailed") == (ConditionStatus.TRUE,
                                               reasons.FAILURE_RATIO_EXCEEDED)
    assert condition(plan, "AutoPaused") == (ConditionStatus.TRUE, reasons.CANARY_FAILED)
    (event,) = [e for e in plan.events if e.reason == reasons.CANARY_FAILED]
    assert event.type == "Warning"
    assert "30 of 100" in event.message and "30.0%" in event.message
    assert "900 messages not sent" in event.message and "spec.paused" in event.message


def test_paused_set_after_the_failure_takes_it_over_and_false_sends_the_rest() -> None:
    _c, run, w, status = failed_canary(generation=1)
    # spec.paused true from before the failure (the same generation) does not resume.
    same = campaign(generation=1, canary=SPEC, paused=True)
    plan = plan_campaign(same.model_copy(update={"status": status}), w, SETTINGS)
    assert plan.actions.write_run is None and ready(plan)[1] == reasons.CANARY_FAILED
    # Set after: it takes the pause over, in the run's config.
    paused = campaign(generation=2, canary=SPEC, paused=True)
    plan = plan_campaign(paused.model_copy(update={"status": status}), w, SETTINGS)
    assert ready(plan) == ("Paused", reasons.PAUSED)
    taken = plan.actions.write_run
    assert taken is not None and taken.canary is not None and taken.canary.resumed
    assert plan.actions.create == ()  # still paused, by spec.paused now
    later = dataclasses.replace(w, run=dataclasses.replace(run, config=taken))
    still = plan_campaign(paused.model_copy(update={"status": plan.status}), later, SETTINGS)
    assert ready(still) == ("Paused", reasons.PAUSED)
    resumed = campaign(generation=3, canary=SPEC, paused=False)
    plan = plan_campaign(resumed.model_copy(update={"status": still.status}), later, SETTINGS)
    (job,) = plan.actions.create
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "--rest"
    assert plan.actions.hand_rest == "" and ready(plan) == ("Running", reasons.SENDING)
    assert condition(plan, "CanaryFailed")[0] == ConditionStatus.TRUE  # it did fail
    assert condition(plan, "AutoPaused") == (ConditionStatus.FALSE, reasons.RESUMED)


def test_an_opt_out_judgement_waits_for_the_opt_outs() -> None:
    spec = SPEC | {"maxOptOutPercent": 5}
    c = campaign(canary=spec)
    run = run_of(c, SENT_WELL, import_done=True)
    job = JobSeen(complete=True, completion_time=NOW - timedelta(seconds=60))
    plan = plan_campaign(c, world(run=run, sender_job=job), SETTINGS)
    assert plan.actions.write_run is None and ready(plan)[1] == reasons.AWAITING_CANARY
    counted = dataclasses.replace(run, guard_opt_outs=6)
    plan = plan_campaign(c, world(run=counted, sender_job=job), SETTINGS)
    decided = plan.actions.write_run
    assert decided is not None and decided.canary is not None
    assert decided.canary.reason == reasons.OPT_OUT_RATIO_EXCEEDED
    assert decided.canary.figures.opt_out_ratio == "6.0%"


def test_cancelling_a_failed_canary_cancels_the_rest() -> None:
    _c, _run, w, status = failed_canary()
    cancelled = campaign(canary=SPEC, cancel=True)
    plan = plan_campaign(cancelled.model_copy(update={"status": status}), w, SETTINGS)
    assert plan.actions.cancel_remaining and ready(plan)[1] == reasons.CANCELLING


def test_an_operator_restart_keeps_a_failed_canary_paused() -> None:
    c, _run, w, _status = failed_canary()
    # Restarted with the status lost: the run's config in Redis holds the judgement.
    plan = plan_campaign(c, w, SETTINGS)
    assert ready(plan) == ("Paused", reasons.CANARY_FAILED)
    assert plan.actions.create == () and plan.actions.write_run is None
    assert plan.status.canary is not None and plan.status.canary.result == GuardResult.FAILED


async def test_the_rest_senders_refuse_until_the_canary_passed_or_a_person_resumed(
    redis: aioredis.Redis,
) -> None:
    _c, run, _w, _status = failed_canary()
    config = run.config
    ref = f"{config.campaign.namespace}/{config.campaign.name}"
    await write_run(redis, config)
    with pytest.raises(SystemExit, match="no winner or passed canary"):
        await load_run(redis, ref, 0, rest=0)
    assert config.canary is not None
    resumed = config.model_copy(update={"canary": config.canary.model_copy(
        update={"resumed": True})})
    await write_run(redis, resumed)
    assert (await load_run(redis, ref, 0, rest=0)).rest_released


def test_the_plan_of_a_canary_campaign_waits_hold_seconds_before_the_rest() -> None:
    def eta(**spec: Any) -> Any:
        c = campaign(dryRun=True, **spec)
        run = run_of(c, Counters(total=100, queued=100), import_done=True)
        plan = plan_campaign(c, world(run=run), SETTINGS).status.plan
        assert plan is not None and plan.eta is not None
        return plan.eta

    assert eta(canary=SPEC | {"holdSeconds": 600}) - eta() == timedelta(seconds=600)


AUTO = {"maxFailurePercent": 20, "minMessages": 100}
RUNNING = JobSeen(parallelism=1, active=1)


def auto_run(counters: Counters, **spec: Any) -> tuple[Campaign, RunSeen, Any]:
    c = campaign(autoPause=AUTO, **spec)
    run = run_of(c, counters, import_done=True)
    return c, run, world(run=run, sender_job=RUNNING)


def test_auto_pause_suspends_the_senders_when_the_run_goes_badly() -> None:
    few = Counters(total=1000, delivered=40, failed=50, sent=90, queued=910)
    c, _run, w = auto_run(few)
    plan = plan_campaign(c, w, SETTINGS)  # 90 final: too few to judge
    assert ready(plan) == ("Running", reasons.SENDING) and plan.actions.sender_suspend is None
    assert condition(plan, "AutoPaused") == (ConditionStatus.FALSE, reasons.WITHIN_THRESHOLDS)
    bad = Counters(total=1000, delivered=70, failed=30, sent=100, queued=900)
    c, _run, w = auto_run(bad)
    plan = plan_campaign(c, w, SETTINGS)
    assert ready(plan) == ("Paused", reasons.AUTO_PAUSED)
    assert plan.actions.sender_suspend is True
    tripped = plan.actions.write_run
    assert tripped is not None and tripped.auto_pause is not None
    assert plan.status.auto_pause == tripped.auto_pause
    assert condition(plan, "AutoPaused") == (ConditionStatus.TRUE,
                                             reasons.FAILURE_RATIO_EXCEEDED)
    (event,) = [e for e in plan.events if e.reason == reasons.AUTO_PAUSED]
    assert event.type == "Warning" and "30 of 100" in event.message


def test_a_campaign_that_finished_is_not_held_paused() -> None:
    bad = Counters(total=1000, delivered=700, failed=300, sent=1000)
    c, run, w = auto_run(bad)
    tripped = plan_campaign(c, w, SETTINGS).actions.write_run
    assert tripped is not None and tripped.auto_pause is not None
    # The senders finished before the suspension reached them: Completed, not held.
    done = dataclasses.replace(w, run=dataclasses.replace(run, config=tripped),
                               sender_job=JobSeen(complete=True))
    plan = plan_campaign(c, done, SETTINGS)
    assert ready(plan) == ("Completed", reasons.COMPLETED)
    assert condition(plan, "AutoPaused") == (ConditionStatus.FALSE, reasons.FINISHED)
    assert plan.status.auto_pause == tripped.auto_pause  # what happened stays told


def test_auto_pause_trips_on_opt_outs() -> None:
    well = Counters(total=1000, delivered=100, sent=100, queued=900)
    c = campaign(autoPause=AUTO | {"maxOptOutPercent": 5})
    run = run_of(c, well, import_done=True)
    counted = plan_campaign(c, world(run=dataclasses.replace(run, guard_opt_outs=5),
                                     sender_job=RUNNING), SETTINGS)
    assert ready(counted) == ("Running", reasons.SENDING)  # 5%: at the threshold
    plan = plan_campaign(c, world(run=dataclasses.replace(run, guard_opt_outs=6),
                                  sender_job=RUNNING), SETTINGS)
    assert ready(plan) == ("Paused", reasons.AUTO_PAUSED) and plan.actions.sender_suspend
    assert plan.status.auto_pause is not None
    assert plan.status.auto_pause.reason == reasons.OPT_OUT_RATIO_EXCEEDED
    assert plan.status.auto_pause.figures.opt_out_ratio == "6.0%"
    # Without a threshold the count is not judged (the handler does not even read it).
    plain = campaign(autoPause=AUTO)
    plan = plan_campaign(plain, world(run=dataclasses.replace(run, guard_opt_outs=60),
                                      sender_job=RUNNING), SETTINGS)
    assert ready(plan) == ("Running", reasons.SENDING)


def test_a_resumed_auto_pause_judges_only_what_came_after() -> None:
    bad = Counters(total=1000, delivered=70, failed=30, sent=100, queued=900)
    c, run, w = auto_run(bad)
    tripped = plan_campaign(c, w, SETTINGS)
    config = tripped.actions.write_run
    assert config is not None
    held = dataclasses.replace(run, config=config)
    suspended = dataclasses.replace(w, run=held, sender_job=JobSeen(suspended=True))
    again = plan_campaign(c.model_copy(update={"status": tripped.status}), suspended, SETTINGS)
    assert ready(again) == ("Paused", reasons.AUTO_PAUSED) and again.actions.write_run is None
    paused = campaign(generation=2, autoPause=AUTO, paused=True)
    taken = plan_campaign(paused, suspended, SETTINGS).actions.write_run
    assert taken is not None and taken.auto_pause is not None and taken.auto_pause.resumed
    assert taken.auto_pause_since is not None and taken.auto_pause_since.final == 100
    # Resumed: 60 more delivered, none failed: 0 of 60 since, within (and too few).
    better = bad.model_copy(update={"delivered": 130, "sent": 160, "queued": 840})
    resumed = campaign(generation=3, autoPause=AUTO)
    after = dataclasses.replace(w, run=dataclasses.replace(run, config=taken, counters=better),
                                sender_job=JobSeen(suspended=True))
    plan = plan_campaign(resumed, after, SETTINGS)
    assert ready(plan) == ("Running", reasons.SENDING) and plan.actions.sender_suspend is False
    assert condition(plan, "AutoPaused") == (ConditionStatus.FALSE, reasons.RESUMED)


# -- through the operator --------------------------------------------------------------

AUDIENCE = 400
PERCENT = 20
E164 = [f"+86138{i:08d}" for i in range(AUDIENCE)]
IN_CANARY = {n for n in E164 if TestGroupPicker(PERCENT)(n)}


def failing(share: float) -> SimulatorConfig:
    """A simulator whose receipts say undeliverable for `share` of the messages."""
    return SimulatorConfig(port=0, receipt_delay_ms=20, seed=7, outcomes=OutcomeWeights(
        delivered=1 - share, undeliverable=share))


@pytest.fixture
async def failing_30() -> AsyncIterator[Stack]:
    async with running_stack(simulator=failing(0.3)) as running:
        await apply_examples(running)
        yield running


@pytest.fixture
async def delivering() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        await apply_examples(running)
        yield running


def destinations(stack: Stack) -> list[str]:
    return ["+" + m.destination.lstrip("+") for m in stack.simulator.accepted]


def ready_reason(reason: str) -> Any:
    return lambda c: any(x["type"] == "Ready" and x["reason"] == reason
                         for x in c.get("status", {}).get("conditions", []))


def conditions(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in body["status"]["conditions"]}


async def event_message(stack: Stack, body: dict[str, Any], reason: str) -> str:
    events = await wait_for(lambda: stack.kube.events_for(body), timeout=TIMEOUT,
                            message=f"no {reason} Event",
                            until=lambda es: any(e["reason"] == reason for e in es))
    (event,) = [e for e in events if e["reason"] == reason]
    assert event["type"] == ("Normal" if reason == reasons.CANARY_PASSED else "Warning")
    return str(event["message"])


async def patch_spec(stack: Stack, spec: dict[str, Any]) -> None:
    await stack.kube.patch(API_VERSION, "Campaign", NS, CAMPAIGN, {"spec": spec})


@pytest.mark.timeout(240)
async def test_a_failing_canary_pauses_after_its_share_and_a_person_sends_the_rest(
    failing_30: Stack,
) -> None:
    stack = failing_30
    await stack.kube.create(campaign_body(audience=inline(AUDIENCE), canary={
        "percent": PERCENT, "holdSeconds": 3, "maxFailurePercent": 10}))
    paused = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT + 30,
                            until=ready_reason(reasons.CANARY_FAILED),
                            message="the canary never failed")
    status = paused["status"]
    assert status["phase"] == "Paused"
    # Only the canary share went, each number once.
    sent = destinations(stack)
    assert sorted(sent) == sorted(IN_CANARY) and 0 < len(IN_CANARY) < AUDIENCE // 2
    canary = status["canary"]
    figures = canary["figures"]
    assert (canary["result"], canary["reason"]) == ("Failed", reasons.FAILURE_RATIO_EXCEEDED)
    # Judged on what had a final outcome: a receipt later than holdSeconds is left out.
    assert 0 < figures["final"] <= len(IN_CANARY) == figures["sent"]
    assert figures["failed"] * 100 > 10 * figures["final"]
    assert status["counters"]["awaitingWinner"] == AUDIENCE - len(IN_CANARY)
    held = conditions(paused)
    assert held["CanaryFailed"]["status"] == "True"
    assert (held["AutoPaused"]["status"], held["AutoPaused"]["reason"]) == (
        "True", reasons.CANARY_FAILED)
    message = await event_message(stack, paused, reasons.CANARY_FAILED)
    said = (f"{figures['failed']} of {figures['final']} messages with a final outcome"
            f" failed or expired ({figures['failureRatio']}, maxFailurePercent 10)")
    assert said in message and f"{AUDIENCE - len(IN_CANARY)} messages not sent" in message
    assert len(destinations(stack)) == len(IN_CANARY)  # it stays paused
    # An operator restart keeps it so: the judgement is in the run's config in Redis.
    await stack.stop_operator()
    await stack.start_operator()

    # A person takes the pause over, then resumes: the rest goes, once each.
    await patch_spec(stack, {"paused": True})
    await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                   until=ready_reason(reasons.PAUSED), message="paused never took over")
    assert len(destinations(stack)) == len(IN_CANARY)
    await patch_spec(stack, {"paused": False})
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT + 30)
    sent = destinations(stack)
    assert sorted(sent) == sorted(E164)
    done = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                          until=lambda c: c["status"]["counters"].get("submitted", 1) == 0,
                          message="receipts not in")
    counters_add_up(done["status"])
    assert done["status"]["counters"].get("awaitingWinner", 0) == 0
    after = conditions(done)
    assert after["CanaryFailed"]["status"] == "True" and done["status"]["canary"]["resumed"]
    events = await events_include(stack, done, reasons.CANARY_FAILED, "Completed")
    assert events.count(reasons.CANARY_FAILED) == 1
    assert (after["AutoPaused"]["status"], after["AutoPaused"]["reason"]) == (
        "False", reasons.FINISHED)


@pytest.mark.timeout(240)
async def test_a_passing_canary_sends_the_whole_audience(delivering: Stack) -> None:
    stack = delivering
    await stack.kube.create(campaign_body(audience=inline(AUDIENCE), canary={
        "percent": PERCENT, "holdSeconds": 3, "maxFailurePercent": 10,
        "maxOptOutPercent": 5}))
    await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                   until=ready_reason(reasons.AWAITING_CANARY), message="never awaited")
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT + 30)
    done = await wait_delivered(stack, AUDIENCE)
    assert sorted(destinations(stack)) == sorted(E164)
    canary = done["status"]["canary"]
    assert (canary["result"], canary["reason"]) == ("Passed", reasons.CANARY_PASSED)
    assert 0 < canary["figures"]["final"] <= len(IN_CANARY) == canary["figures"]["sent"]
    assert canary["figures"]["failed"] == 0 and canary["figures"]["optedOut"] == 0
    passed = conditions(done)
    assert (passed["CanaryFailed"]["status"], passed["CanaryFailed"]["reason"]) == (
        "False", reasons.CANARY_PASSED)
    assert passed["AutoPaused"]["status"] == "False"
    await events_include(stack, done, reasons.AWAITING_CANARY, reasons.CANARY_PASSED,
                         "Completed")
    assert "canary passed" in await event_message(stack, done, reasons.CANARY_PASSED)


@pytest.mark.timeout(240)
async def test_a_canary_whose_recipients_opt_out_fails(delivering: Stack) -> None:
    stack = delivering
    await stack.kube.create(campaign_body(audience=inline(AUDIENCE), canary={
        "percent": PERCENT, "holdSeconds": 10, "maxOptOutPercent": 5}))
    await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                   until=ready_reason(reasons.AWAITING_CANARY), message="never awaited")
    # A third of the canary share replies 退订 while the judgement waits.
    stopping = sorted(IN_CANARY)[::3]
    for number in stopping:
        stack.simulator.inject_mo(number.lstrip("+"), "Herald", "退订")
    client = connect(stack.redis_url)
    try:
        await wait_for(lambda: client.smismember(OPT_OUT_SET, stopping), timeout=TIMEOUT,
                       until=all, message="the replies were not taken")
    finally:
        await client.aclose()
    paused = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                            until=ready_reason(reasons.CANARY_FAILED),
                            message="the canary never failed")
    canary = paused["status"]["canary"]
    assert canary["reason"] == reasons.OPT_OUT_RATIO_EXCEEDED
    assert canary["figures"]["optedOut"] == len(stopping)
    assert canary["figures"]["sent"] == len(IN_CANARY)
    assert sorted(destinations(stack)) == sorted(IN_CANARY)
    message = await event_message(stack, paused, reasons.CANARY_FAILED)
    assert f"{len(stopping)} of {len(IN_CANARY)} accepted opted out" in message


@pytest.mark.timeout(240)
async def test_auto_pause_stops_a_failing_run_and_a_person_resumes_it(
    failing_30: Stack,
) -> None:
    stack = failing_30
    await stack.kube.create(campaign_body(
        audience=inline(AUDIENCE), rateLimit={"messagesPerSecond": 20},
        autoPause={"maxFailurePercent": 10, "minMessages": 40}))
    paused = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                            until=ready_reason(reasons.AUTO_PAUSED),
                            message="the run never paused itself")
    assert paused["status"]["phase"] == "Paused"
    await wait_for(lambda: stack.kube.get("batch/v1", "Job", NS, f"{CAMPAIGN}-send"),
                   timeout=TIMEOUT, message="sender pods still running",
                   until=lambda j: j["spec"].get("suspend") and not j["status"].get("active"))
    during = len(destinations(stack))
    assert 40 <= during < AUDIENCE
    trip = paused["status"]["autoPause"]
    assert (trip["result"], trip["reason"]) == ("Failed", reasons.FAILURE_RATIO_EXCEEDED)
    assert trip["figures"]["final"] >= 40
    assert trip["figures"]["failed"] * 100 > 10 * trip["figures"]["final"]
    held = conditions(paused)["AutoPaused"]
    assert (held["status"], held["reason"]) == ("True", reasons.FAILURE_RATIO_EXCEEDED)
    message = await event_message(stack, paused, reasons.AUTO_PAUSED)
    assert "maxFailurePercent 10" in message and "spec.paused" in message
    assert len(destinations(stack)) == during

    # The carrier is fixed; a person resumes: the rest goes, judged afresh.
    stack.simulator.configure({"outcomes": {"delivered": 1.0, "undeliverable": 0.0}})
    await patch_spec(stack, {"paused": True})
    await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                   until=ready_reason(reasons.PAUSED), message="paused never took over")
    await patch_spec(stack, {"paused": False})
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT + 30)
    assert sorted(destinations(stack)) == sorted(E164)
    assert done["status"]["autoPause"]["resumed"]
    assert (conditions(done)["AutoPaused"]["status"],
            conditions(done)["AutoPaused"]["reason"]) == ("False", reasons.FINISHED)


@pytest.mark.timeout(240)
async def test_auto_pause_counts_the_runs_opt_outs_and_pauses_on_them() -> None:
    async with running_stack(config={"opt_out_count_seconds": 1.0}) as stack:
        await apply_examples(stack)
        await stack.kube.create(campaign_body(
            audience=inline(AUDIENCE), rateLimit={"messagesPerSecond": 20},
            autoPause={"maxFailurePercent": 100, "maxOptOutPercent": 5, "minMessages": 40}))
        await wait_delivered(stack, 60)
        # A third of those sent so far reply 退订.
        stopping = sorted(set(destinations(stack)))[:60:3]
        for number in stopping:
            stack.simulator.inject_mo(number.lstrip("+"), "Herald", "退订")
        paused = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                                until=ready_reason(reasons.AUTO_PAUSED),
                                message="the run never paused itself")
        trip = paused["status"]["autoPause"]
        assert trip["reason"] == reasons.OPT_OUT_RATIO_EXCEEDED
        assert trip["figures"]["optedOut"] * 100 > 5 * trip["figures"]["sent"]
        assert trip["figures"]["optedOut"] <= len(stopping)
        await wait_for(lambda: stack.kube.get("batch/v1", "Job", NS, f"{CAMPAIGN}-send"),
                       timeout=TIMEOUT, message="sender pods still running",
                       until=lambda j: j["spec"].get("suspend") and not j["status"].get("active"))
        assert len(destinations(stack)) < AUDIENCE
