"""spec.winner: the test group goes by weight, the winner is chosen by a two-proportion
test (or the fallback, or by hand) once its receipts had time to come, and the rest of
the audience gets the winner: the pure decision, the plan's steps, the import's split,
and the whole run through the operator, judged by what the simulator received."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from controllers.decisions import reasons
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.campaign_winner import Arm, decide_winner, two_proportion_p
from controllers.decisions.campaign_world import JobSeen
from crds.base import API_VERSION
from crds.campaign import ColumnMapping, Counters, Winner, WinnerReason
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from sender.importer.shards import import_audience
from sender.simulator.config import Outcome, PrefixRule, SimulatorConfig
from sender.sms.states import Transition, message_key
from sender.sms.variants import HoldoutPicker, TestGroupPicker, VariantPicker
from sender.store.ab_opt_outs import opted_out_since
from sender.store.client import connect
from sender.store.keys import OPT_OUT_LOG, OPT_OUT_SET, CampaignKeys
from sender.store.run_store import cancel_remaining, hand_rest_over
from sender.store.transitions import StateStore, read_counters
from tests.test_campaign_operator import (
    CAMPAIGN,
    NS,
    TIMEOUT,
    apply_examples,
    campaign_body,
    counters_add_up,
    events_include,
    inline,
    stack,
    wait_delivered,
)
from tests.test_campaign_plan import NOW, SETTINGS, campaign, ready, run_of, world

__all__ = ["stack"]  # the fixture: the local stack with the examples applied

# -- the decision ----------------------------------------------------------------------


def arms(*figures: tuple[int, int]) -> list[Arm]:
    """(sample, delivered) per variant, named a, b, c..."""
    return [Arm("abcdefghij"[i], sample, count) for i, (sample, count) in enumerate(figures)]


def policy(**fields: Any) -> Winner:
    return Winner.model_validate({"testPercent": 10, "minSamplePerVariant": 100} | fields)


@pytest.mark.parametrize("given, settings, variant, reason, p_value", [
    pytest.param(arms((200, 190), (200, 120)), {}, "a", WinnerReason.SIGNIFICANT, "<0.0001",
                 id="significant"),
    pytest.param(arms((200, 120), (200, 190)), {}, "b", WinnerReason.SIGNIFICANT, "<0.0001",
                 id="significant-second"),
    pytest.param(arms((100, 60), (100, 50)), {}, "", WinnerReason.FALLBACK, "0.1552",
                 id="not-significant-keep-weights"),
    pytest.param(arms((100, 50), (100, 60)), {"fallback": "FirstVariant"}, "a",
                 WinnerReason.FALLBACK, "0.1552", id="not-significant-first-variant"),
    pytest.param(arms((100, 60), (100, 50)), {"confidencePercent": 80}, "a",
                 WinnerReason.SIGNIFICANT, "0.1552", id="significant-at-lower-confidence"),
    pytest.param(arms((150, 100), (150, 80)), {"confidencePercent": 95}, "a",
                 WinnerReason.SIGNIFICANT, "0.0184", id="at-95"),
    pytest.param(arms((150, 100), (150, 80)), {"confidencePercent": 99}, "",
                 WinnerReason.FALLBACK, "0.0184", id="not-at-99"),
    pytest.param(arms((1000, 990), (99, 10)), {}, "", WinnerReason.FALLBACK, None,
                 id="min-sample-not-met"),
    pytest.param(arms((1000, 990), (99, 10)), {"minSamplePerVariant": 99}, "a",
                 WinnerReason.SIGNIFICANT, "<0.0001", id="min-sample-met"),
    pytest.param(arms((200, 150), (200, 150)), {}, "", WinnerReason.FALLBACK, "1.0000",
                 id="tie"),
    pytest.param(arms((200, 150), (200, 150)), {"fallback": "FirstVariant"}, "a",
                 WinnerReason.FALLBACK, "1.0000", id="tie-first-variant"),
    pytest.param(arms((200, 200), (200, 200)), {}, "", WinnerReason.FALLBACK, "1.0000",
                 id="both-perfect"),
    pytest.param(arms((0, 0), (0, 0)), {"minSamplePerVariant": 1}, "", WinnerReason.FALLBACK,
                 None, id="zero-counts"),
    pytest.param(arms((200, 190), (200, 120)), {"manual": "b"}, "b", WinnerReason.MANUAL,
                 None, id="manual-overrides-the-test"),
    pytest.param(arms((0, 0), (0, 0)), {"manual": "a"}, "a", WinnerReason.MANUAL, None,
                 id="manual-without-figures"),
    # Best against each other arm, Bonferroni: beating c is not enough when b is close.
    pytest.param(arms((300, 270), (300, 255), (300, 150)), {}, "", WinnerReason.FALLBACK,
                 "0.1282", id="three-arms-runner-up-close"),
    pytest.param(arms((300, 270), (300, 200), (300, 150)), {}, "a", WinnerReason.SIGNIFICANT,
                 "<0.0001", id="three-arms-clear"),
    # OptOutRatio: (accepted, opted out); the fewest opt-outs win.
    pytest.param(arms((1000, 60), (1000, 20)), {"metric": "OptOutRatio"}, "b",
                 WinnerReason.SIGNIFICANT, "<0.0001", id="opt-out-lowest-wins"),
    pytest.param(arms((1000, 22), (1000, 20)), {"metric": "OptOutRatio"}, "",
                 WinnerReason.FALLBACK, "0.7551", id="opt-out-not-significant"),
    pytest.param(arms((1000, 0), (1000, 0)), {"metric": "OptOutRatio"}, "",
                 WinnerReason.FALLBACK, "1.0000", id="opt-out-none-at-all"),
])
def test_decide_winner(given: list[Arm], settings: dict[str, Any], variant: str,
                       reason: WinnerReason, p_value: str | None) -> None:
    decision = decide_winner(given, policy(**settings), NOW)
    assert (decision.variant, decision.reason, decision.p_value) == (variant, reason, p_value)
    assert [a.name for a in decision.arms] == [a.name for a in given]
    assert decision.decision_time == NOW and decision.message


def test_the_figures_say_sample_count_and_ratio() -> None:
    decision = decide_winner(arms((200, 190), (0, 0)), policy(minSamplePerVariant=1), NOW)
    a, b = decision.arms
    assert (a.sample, a.count, a.ratio) == (200, 190, "95.0%")
    assert (b.sample, b.count, b.ratio) == (0, 0, None)


@pytest.mark.parametrize("x, y", [((100, 50), (100, 60)), ((37, 3), (1000, 400)),
                                  ((500, 499), (500, 480))])
def test_the_p_value_is_symmetric_and_in_range(x: tuple[int, int], y: tuple[int, int]
                                               ) -> None:
    a, b = Arm("a", *x), Arm("b", *y)
    assert two_proportion_p(a, b) == pytest.approx(two_proportion_p(b, a))
    assert 0.0 <= two_proportion_p(a, b) <= 1.0


# -- the plan's steps ------------------------------------------------------------------

WINNER = {"testPercent": 20, "decideAfterSeconds": 60, "minSamplePerVariant": 50}
# The test group sent: discount 100 delivered of 100, reminder 40 of 100; 800 wait.
TESTED = {"variant:discount:total": 500, "variant:discount:delivered": 100,
          "variant:reminder:total": 500, "variant:reminder:delivered": 40,
          "variant:reminder:failed": 60, "variant:discount:awaitingWinner": 400,
          "variant:reminder:awaitingWinner": 400}
COUNTERS = Counters(total=1000, delivered=140, failed=60, awaiting_winner=800)


def after_test(spec: dict[str, Any] | None = None, done_ago: int = 30, **status: Any) -> Any:
    c = campaign(winner=WINNER | (spec or {}))
    run = run_of(c, COUNTERS, import_done=True, fields=TESTED)
    job = JobSeen(complete=True, completion_time=NOW - timedelta(seconds=done_ago))
    return c, run, world(run=run, sender_job=job)


def test_the_decision_waits_for_decide_after_seconds() -> None:
    c, run, w = after_test(done_ago=30)
    assert run.config.streams == 2 * run.config.shards
    plan = plan_campaign(c, w, SETTINGS)
    assert ready(plan) == ("Running", reasons.AWAITING_WINNER)
    assert plan.actions.write_run is None and plan.actions.create == ()
    assert plan.status.winner is not None and plan.status.winner.reason is None
    assert plan.status.winner.decision_time == NOW + timedelta(seconds=30)
    assert 1.0 <= plan.requeue_after_seconds <= 30.0
    assert plan.status.progress_percent == 20  # the rest is not progress

    c, run, w = after_test(done_ago=60)
    plan = plan_campaign(c, w, SETTINGS)
    decided = plan.actions.write_run
    assert decided is not None and decided.winner is not None
    assert (decided.winner.variant, decided.winner.reason) == ("discount",
                                                               WinnerReason.SIGNIFICANT)
    assert plan.status.winner == decided.winner
    assert [e.reason for e in plan.events].count(reasons.WINNER_CHOSEN) == 1


def test_the_decision_is_made_once_and_the_rest_goes_to_its_own_job() -> None:
    c, run, w = after_test(done_ago=60)
    decided = plan_campaign(c, w, SETTINGS).actions.write_run
    assert decided is not None and decided.winner is not None
    # Restarted, status lost, the figures moved: the run's config holds the decision.
    later = dataclasses.replace(run, config=decided, fields=TESTED | {
        "variant:reminder:delivered": 100, "variant:reminder:failed": 0})
    plan = plan_campaign(c, world(run=later, sender_job=w.sender_job,
                                  now=NOW + timedelta(hours=1)), SETTINGS)
    rewritten = plan.actions.write_run  # the send times, as for any run: not the winner
    assert rewritten is None or rewritten.winner == decided.winner
    assert plan.status.winner == decided.winner
    (job,) = plan.actions.create
    assert job["metadata"]["name"] == f"{c.metadata.name}-send-winner"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "--rest"
    assert plan.actions.hand_rest == "discount"
    assert ready(plan) == ("Running", reasons.SENDING)
    # The winner's Job runs, then completes: the campaign with it.
    running = world(run=later, sender_job=w.sender_job, winner_job=JobSeen(parallelism=2),
                    now=NOW + timedelta(hours=1))
    plan = plan_campaign(c.model_copy(update={"status": plan.status}), running, SETTINGS)
    assert plan.actions.create == () and plan.actions.hand_rest is None
    assert reasons.WINNER_CHOSEN not in [e.reason for e in plan.events]
    done = dataclasses.replace(running, winner_job=JobSeen(complete=True))
    assert ready(plan_campaign(c, done, SETTINGS)) == ("Completed", reasons.COMPLETED)


def test_an_opt_out_decision_waits_for_the_test_groups_opt_outs() -> None:
    c, run, w = after_test({"metric": "OptOutRatio"}, done_ago=60)
    sent = TESTED | {"variant:discount:sent": 100, "variant:reminder:sent": 100}
    unread = dataclasses.replace(run, fields=sent)
    plan = plan_campaign(c, dataclasses.replace(w, run=unread), SETTINGS)
    assert ready(plan) == ("Running", reasons.AWAITING_WINNER)
    assert plan.actions.write_run is None and plan.requeue_after_seconds == 1.0
    read = dataclasses.replace(unread, test_opt_outs={"discount": 30, "reminder": 2})
    decided = plan_campaign(c, dataclasses.replace(w, run=read), SETTINGS).actions.write_run
    assert decided is not None and decided.winner is not None
    assert (decided.winner.variant, decided.winner.reason) == ("reminder",
                                                               WinnerReason.SIGNIFICANT)
    assert [(a.sample, a.count) for a in decided.winner.arms] == [(100, 30), (100, 2)]


def test_the_test_share_is_fixed_for_the_run_and_the_rest_of_winner_is_not() -> None:
    c, _, w = after_test(done_ago=30)
    first = plan_campaign(c, w, SETTINGS)
    edited = campaign(status=first.status, generation=2, winner=WINNER | {
        "testPercent": 30, "manual": "reminder"})
    plan = plan_campaign(edited, w, SETTINGS)
    assert plan.status.edits_not_applied == ["winner.testPercent"]
    decided = plan.actions.write_run  # the manual pick applies: decided at once
    assert decided is not None and decided.winner is not None
    assert decided.winner.reason == WinnerReason.MANUAL


def test_a_manual_winner_is_chosen_without_waiting() -> None:
    c, _, w = after_test({"manual": "reminder"}, done_ago=0)
    plan = plan_campaign(c, w, SETTINGS)
    decided = plan.actions.write_run
    assert decided is not None and decided.winner is not None
    assert (decided.winner.variant, decided.winner.reason) == ("reminder", WinnerReason.MANUAL)


def test_the_fallback_keeping_weights_sends_each_its_own() -> None:
    c, run, w = after_test({"minSamplePerVariant": 1000}, done_ago=60)
    decided = plan_campaign(c, w, SETTINGS).actions.write_run
    assert decided is not None and decided.winner is not None
    assert decided.winner.reason == WinnerReason.FALLBACK and decided.rest_variant is None
    later = dataclasses.replace(run, config=decided)
    plan = plan_campaign(c, world(run=later, sender_job=w.sender_job), SETTINGS)
    assert plan.actions.hand_rest == ""


def test_cancel_while_awaiting_the_winner_counts_the_rest_cancelled() -> None:
    c, _, w = after_test(done_ago=30)
    waiting = plan_campaign(c, w, SETTINGS).status
    assert waiting.winner is not None and waiting.winner.decision_time is not None
    c = c.model_copy(update={"spec": c.spec.model_copy(update={"cancel": True}),
                             "status": waiting})
    plan = plan_campaign(c, w, SETTINGS)
    assert plan.actions.cancel_remaining
    # The wait ends without a winner, and status.winner says so instead of a time.
    assert plan.status.winner is not None and plan.status.winner.reason is None
    assert plan.status.winner.decision_time is None
    assert "ended before the winner was chosen" in plan.status.winner.message


# -- the import's split ----------------------------------------------------------------

KEYS = CampaignKeys("shop", "ab")
NUMBERS = [f"+86139{i:08d}" for i in range(4000)]


def test_the_test_group_is_its_share_of_the_audience_independent_of_the_rest() -> None:
    holdout, test = HoldoutPicker(20), TestGroupPicker(10, 20)
    kept = [n for n in NUMBERS if not holdout(n)]
    in_test = [n for n in kept if test(n)]
    assert abs(len(in_test) / len(NUMBERS) - 0.10) < 0.015  # of the whole audience
    variant = VariantPicker([("a", 50), ("b", 50)])
    split = Counter(variant(n) for n in in_test)
    assert abs(split["a"] - split["b"]) < 0.2 * len(in_test)


async def test_the_import_puts_the_rest_in_streams_of_its_own(redis: aioredis.Redis) -> None:
    rows = [{"phone": n} for n in NUMBERS[:2000]]
    report = await import_audience(redis, KEYS, rows, shards=2, columns=ColumnMapping(),
                                   default_region="CN", variants=[("a", 50), ("b", 50)],
                                   holdout_percent=10, test_percent=20)
    test = TestGroupPicker(20, 10)
    held = HoldoutPicker(10)
    streams = [{f["n"] for _, f in cast(list[tuple[str, dict[str, str]]],
                                        await redis.xrange(KEYS.shard(i)))} for i in range(4)]
    first, rest = streams[0] | streams[1], streams[2] | streams[3]
    assert first == {n for n in NUMBERS[:2000] if not held(n) and test(n)}
    assert rest == {n for n in NUMBERS[:2000] if not held(n) and not test(n)}
    counters = await read_counters(redis, KEYS)
    assert counters.awaiting_winner == len(rest) and counters.queued == len(first)
    assert report.queued == len(first) + len(rest)
    # Handed to the winner once: every total under it, however often it is asked.
    assert await hand_rest_over(redis, KEYS, "a")
    assert not await hand_rest_over(redis, KEYS, "b")
    fields = {k: int(v) for k, v in (await redis.hgetall(KEYS.counters)).items()}
    counters = await read_counters(redis, KEYS)
    assert counters.awaiting_winner == 0 and counters.queued == len(first) + len(rest)
    variant = VariantPicker([("a", 50), ("b", 50)])
    b_tested = sum(1 for n in first if variant(n) == "b")
    assert fields["variant:b:total"] == b_tested
    assert fields["variant:a:total"] == len(first) + len(rest) - b_tested


async def test_cancelling_before_the_decision_cancels_the_rest_as_its_own(
    redis: aioredis.Redis,
) -> None:
    rows = [{"phone": n} for n in NUMBERS[:1000]]
    await import_audience(redis, KEYS, rows, shards=2, columns=ColumnMapping(),
                          default_region="CN", variants=[("a", 50), ("b", 50)], test_percent=30)
    cancelled = await cancel_remaining(redis, KEYS, 4, rest_from=2)
    counters = await read_counters(redis, KEYS)
    assert cancelled == counters.cancelled == 1000
    assert counters.awaiting_winner == counters.queued == 0
    fields = {k: int(v) for k, v in (await redis.hgetall(KEYS.counters)).items()}
    for variant in ("a", "b"):
        assert fields[f"variant:{variant}:total"] == fields[f"variant:{variant}:cancelled"]


async def test_opt_outs_count_who_stopped_after_their_message(redis: aioredis.Redis) -> None:
    rows = [{"phone": n} for n in NUMBERS[:40]]
    await import_audience(redis, KEYS, rows, shards=1, columns=ColumnMapping(),
                          default_region="CN", variants=[("a", 50), ("b", 50)], test_percent=50)
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(KEYS.shard(0)))
    # The ways each message went, in turn: accepted (and a receipt), refused at submit,
    # skipped as opted out, still queued.
    paths = [["S", "s:id"], ["S", "s:id", "D"], ["S", "s:id", "F:001"], ["S", "F:0x0000000B"],
             ["O"], ["S", "s:id", "E"], []]
    moves, stopped, expected = [], [], Counter[str]()
    for i, (entry_id, fields) in enumerate(entries):
        path = paths[i % len(paths)]
        state = path[-1] if path else ""
        moves += [Transition(message_key(0, entry_id), to, fields["v"]) for to in path]
        if i % 2 == 0:  # every other one replied STOP: after the test began, or long before
            late = i % 4 == 0
            stopped.append((fields["n"], 2000.0 if late else 500.0))
            if late and state in ("s:id", "D", "F:001", "E"):
                expected[fields["v"]] += 1
    await StateStore(redis, KEYS).apply(moves)
    for number, at in stopped:
        await redis.sadd(OPT_OUT_SET, number)
        await redis.hset(OPT_OUT_LOG, number, f"out {at:.0f} default/carrier-a TD")
    assert await opted_out_since(redis, KEYS, 1, since=1000.0) == dict(expected)
    assert sum(expected.values()) > 0


# -- through the operator --------------------------------------------------------------

VARIANTS = [("discount", 50), ("reminder", 50)]
AUDIENCE = 400
TEST_PERCENT = 50
E164 = [f"+86138{i:08d}" for i in range(AUDIENCE)]
IN_TEST = {n for n in E164 if TestGroupPicker(TEST_PERCENT)(n)}
ARM = {n: VariantPicker(VARIANTS)(n) for n in E164}
# The simulator fails every test message of the reminder arm, delivers the others.
FAILING = [PrefixRule(prefix=n, outcome=Outcome.UNDELIVERABLE)
           for n in sorted(IN_TEST) if ARM[n] == "reminder"]


@pytest.fixture
async def failing_reminders() -> AsyncIterator[Stack]:
    config = SimulatorConfig(port=0, receipt_delay_ms=20, seed=7, rules=FAILING)
    async with running_stack(simulator=config) as running:
        await apply_examples(running)
        yield running


def received(stack: Stack) -> dict[str, list[str]]:
    """The simulator's record: each destination's messages, as texts (long ones whole)."""
    texts: dict[str, list[str]] = {}
    for record in stack.simulator.accepted:
        if record.concat is None:
            texts.setdefault("+" + record.destination.lstrip("+"), []).append(record.text)
    for long in stack.simulator.reassembled():
        texts.setdefault("+" + long.destination.lstrip("+"), []).append(long.text)
    return texts


DISCOUNT, REMINDER = "会员专享", "今晚24点过期"  # words of each example template


@pytest.mark.timeout(180)
async def test_a_winner_campaign_sends_the_rest_the_winner(failing_reminders: Stack) -> None:
    stack = failing_reminders
    await stack.kube.create(campaign_body(audience=inline(AUDIENCE), winner={
        "testPercent": TEST_PERCENT, "decideAfterSeconds": 10, "minSamplePerVariant": 50}))
    waiting = await stack.wait_for_phase(NS, CAMPAIGN, "Running", timeout=TIMEOUT)
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT + 30)
    done = await wait_delivered(stack, AUDIENCE - len(FAILING))
    status = done["status"]
    winner = status["winner"]
    assert (winner["variant"], winner["reason"], winner["pValue"]) == (
        "discount", "Significant", "<0.0001"), winner
    arms_ = {a["name"]: a for a in winner["arms"]}
    assert arms_["reminder"]["count"] == 0 and arms_["reminder"]["sample"] == len(FAILING)
    assert arms_["discount"]["ratio"] == "100.0%"
    await events_include(stack, waiting, "AwaitingWinner", "WinnerChosen", "Completed")

    texts = received(stack)
    assert set(texts) == set(E164) and all(len(t) == 1 for t in texts.values())  # once each
    for number, (text,) in texts.items():
        sent_as = ARM[number] if number in IN_TEST else "discount"
        assert (DISCOUNT in text, REMINDER in text) == (sent_as == "discount",
                                                        sent_as == "reminder"), number
    assert {ARM[n] for n in IN_TEST} == {"discount", "reminder"}

    counters = status["counters"]
    assert counters.get("awaitingWinner", 0) == 0
    counters_add_up(status)
    rows = {v["name"]: v["counters"] for v in status["variants"]}
    assert rows["reminder"]["total"] == len(FAILING) == rows["reminder"]["failed"]
    assert rows["discount"]["total"] == AUDIENCE - len(FAILING) == rows["discount"]["delivered"]
    jobs = {j["metadata"]["name"] for j in await stack.kube.list("batch/v1", "Job", NS)}
    assert {f"{CAMPAIGN}-send", f"{CAMPAIGN}-send-winner"} <= jobs


def ready_reason(reason: str) -> Any:
    return lambda c: any(x["type"] == "Ready" and x["reason"] == reason
                         for x in c.get("status", {}).get("conditions", []))


@pytest.mark.timeout(180)
async def test_an_operator_restart_while_awaiting_the_winner_decides_once(
    failing_reminders: Stack,
) -> None:
    stack = failing_reminders
    await stack.kube.create(campaign_body(audience=inline(AUDIENCE), winner={
        "testPercent": TEST_PERCENT, "decideAfterSeconds": 10, "minSamplePerVariant": 50}))
    await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                   until=ready_reason(reasons.AWAITING_WINNER), message="never awaited")
    await stack.stop_operator()
    await stack.start_operator()
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT + 30)
    assert done["status"]["winner"]["variant"] == "discount"
    events = await events_include(stack, done, "WinnerChosen", "Completed")
    assert events.count("WinnerChosen") == 1
    texts = received(stack)
    assert set(texts) == set(E164) and all(len(t) == 1 for t in texts.values())


@pytest.mark.timeout(180)
async def test_the_fewest_opt_outs_win_with_opt_out_ratio(stack: Stack) -> None:
    await stack.kube.create(campaign_body(audience=inline(AUDIENCE), winner={
        "testPercent": TEST_PERCENT, "decideAfterSeconds": 10, "minSamplePerVariant": 50,
        "metric": "OptOutRatio"}))
    await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                   until=ready_reason(reasons.AWAITING_WINNER), message="never awaited")
    # A third of the discount arm's test group replies 退订 while the decision waits.
    stopping = sorted(n for n in IN_TEST if ARM[n] == "discount")[::3]
    for number in stopping:
        stack.simulator.inject_mo(number.lstrip("+"), "Herald", "退订")
    client = connect(stack.redis_url)
    try:
        await wait_for(lambda: client.smismember(OPT_OUT_SET, stopping), timeout=TIMEOUT,
                       until=all, message="the replies were not taken")
    finally:
        await client.aclose()
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT + 30)
    winner = done["status"]["winner"]
    assert (winner["variant"], winner["reason"], winner["metric"]) == (
        "reminder", "Significant", "OptOutRatio"), winner
    arms_ = {a["name"]: a for a in winner["arms"]}
    assert arms_["discount"]["count"] == len(stopping) and arms_["reminder"]["count"] == 0
    texts = received(stack)
    assert all(len(t) == 1 for t in texts.values())
    for number in set(E164) - IN_TEST:
        (text,) = texts[number]
        assert REMINDER in text and DISCOUNT not in text, number


def test_pausing_the_rest_suspends_the_winners_job() -> None:
    c, run, w = after_test(done_ago=60)
    decided = plan_campaign(c, w, SETTINGS).actions.write_run
    assert decided is not None
    later = dataclasses.replace(run, config=decided)
    paused = campaign(paused=True, winner=WINNER)
    plan = plan_campaign(paused, world(run=later, sender_job=w.sender_job,
                                       winner_job=JobSeen(parallelism=2)), SETTINGS)
    assert ready(plan) == ("Paused", reasons.PAUSED)
    assert plan.actions.sender_suspend is True and plan.actions.patch_winner_job


@pytest.mark.timeout(180)
async def test_cancelling_while_awaiting_the_winner_cancels_the_rest(stack: Stack) -> None:
    await stack.kube.create(campaign_body(audience=inline(AUDIENCE), winner={
        "testPercent": TEST_PERCENT, "decideAfterSeconds": 600}))
    waiting = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                             until=ready_reason(reasons.AWAITING_WINNER),
                             message="never awaited")
    rest = waiting["status"]["counters"]["awaitingWinner"]
    assert rest == AUDIENCE - len(IN_TEST)
    await stack.kube.patch(API_VERSION, "Campaign", NS, CAMPAIGN, {"spec": {"cancel": True}})
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Cancelled", timeout=TIMEOUT)
    done = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                          until=ready_reason(reasons.CANCELLED), message="not cancelled")
    counters = done["status"]["counters"]
    assert counters["cancelled"] == rest and counters.get("awaitingWinner", 0) == 0
    counters_add_up(done["status"])
    assert set(received(stack)) == IN_TEST  # the rest never went
    winner = done["status"]["winner"]
    assert "reason" not in winner and "decisionTime" not in winner
    assert winner["message"] == "the campaign ended before the winner was chosen"
