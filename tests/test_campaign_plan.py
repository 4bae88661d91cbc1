"""Campaign decisions without I/O: the phase machine, its children and its Events."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from controllers.decisions import campaign_stats as stats
from controllers.decisions import reasons
from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.campaign_plan import (
    finished,
    plan_campaign,
    reconcile_due,
    requeue_after,
)
from controllers.decisions.campaign_run import build_run_config, senders_target, template_names
from controllers.decisions.campaign_stats import Sample, delivery_ratio
from controllers.decisions.campaign_world import (
    CampaignPlan,
    CampaignWorld,
    ChannelSeen,
    JobSeen,
    PlanSettings,
    RunSeen,
    TemplateSeen,
)
from controllers.decisions.pod_spec import PodSettings
from crds.base import find_condition
from crds.campaign import Campaign, CampaignStatus, Counters
from crds.channel import Channel
from crds.template import Template
from herald.local.demo import column_value

EXAMPLES = Path(__file__).parent.parent / "examples"
# 12:00 in Shanghai: inside the example's 09:00-21:00 window.
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
SETTINGS = PlanSettings(pods=PodSettings(image="herald:test", redis_url="redis://redis:6379/0"))


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return body


def campaign(status: CampaignStatus | None = None, generation: int = 1, **spec: Any) -> Campaign:
    body = example("campaign.yaml")
    body["metadata"] |= {"namespace": "default", "uid": "uid-1", "generation": generation}
    body["spec"] |= spec
    found = Campaign.model_validate(body)
    return found.model_copy(update={"status": status or CampaignStatus()})


TEMPLATES = {
    name: TemplateSeen(spec=Template.model_validate(example(file)).spec, approved=True)
    for name, file in [("double-eleven", "template.yaml"),
                       ("double-eleven-reminder", "template-reminder.yaml")]
}
CHANNEL_SPEC = Channel.model_validate(example("channel.yaml")).spec
CHANNELS = {"carrier-a": ChannelSeen(spec=CHANNEL_SPEC, ready=True)}


def run_of(c: Campaign, counters: Counters | None = None, **fields: Any) -> RunSeen:
    meta = c.metadata
    owner = Owner(meta.namespace or "", meta.name, meta.uid or "", meta.generation or 0)
    templates = {v: TEMPLATES[t].spec for v, t in template_names(c.spec).items()}
    config = build_run_config(owner, c.spec, templates, [("carrier-a", CHANNEL_SPEC)], 10.0)
    return RunSeen(config=config, counters=counters or Counters(total=100, queued=100),
                   **fields)


def world(**fields: Any) -> CampaignWorld:
    defaults: dict[str, Any] = {"now": NOW, "templates": TEMPLATES, "channels": CHANNELS}
    return CampaignWorld(**(defaults | fields))


def ready(plan: CampaignPlan) -> tuple[str, str]:
    condition = find_condition(plan.status.conditions, "Ready")
    assert condition is not None
    return str(plan.status.phase), condition.reason


C = campaign()
IMPORTED = run_of(C, import_done=True)
SENT = Counters(total=100, delivered=90, failed=5, expired=5)


@pytest.mark.parametrize("campaign_, world_, phase, reason", [
    pytest.param(C, world(templates={}), "Pending", reasons.TEMPLATE_NOT_FOUND,
                 id="no-template"),
    pytest.param(C, world(templates=TEMPLATES | {"double-eleven": dataclasses.replace(
        TEMPLATES["double-eleven"], approved=False, reason="AwaitingApproval")}),
                 "Pending", reasons.TEMPLATE_NOT_APPROVED, id="template-not-approved"),
    pytest.param(C, world(channels={}), "Pending", reasons.CHANNEL_NOT_FOUND, id="no-channel"),
    pytest.param(campaign(audience={"inline": [{"phone": "+8613800138000"}],
                          "filter": "vars.city == "}), world(), "Pending",
                 reasons.INVALID_FILTER, id="filter-not-cel"),
    pytest.param(campaign(audience={"inline": [{"phone": "+8613800138000"}],
                          "filter": 'vars.age > "30"', "columns": {"variables": [
                              {"name": "age", "value": "age", "type": "Int"}]}}), world(),
                 "Pending", reasons.INVALID_FILTER, id="filter-type-error"),
    pytest.param(campaign(compliance={"respectOptOuts": False}), world(), "Pending",
                 reasons.OPT_OUTS_REQUIRED, id="marketing-must-respect-opt-outs"),
    pytest.param(campaign(compliance={"respectOptOuts": False}), world(templates={
        name: dataclasses.replace(seen, spec=seen.spec.model_copy(
            update={"category": "Verification"})) for name, seen in TEMPLATES.items()}),
                 "Importing", reasons.IMPORTING, id="verification-may-ignore-opt-outs"),
    pytest.param(C, world(channels={"carrier-a": ChannelSeen(
        CHANNEL_SPEC, ready=False, reason="SecretNotFound")}), "Pending",
                 reasons.CHANNEL_NOT_READY, id="channel-not-ready"),
    pytest.param(campaign(schedule={"startTime": "2026-12-01T00:00:00Z"}), world(),
                 "Scheduled", reasons.SCHEDULED, id="start-time-ahead"),
    pytest.param(C, world(now=datetime(2026, 11, 23, 15, 0, tzinfo=UTC)), "Scheduled",
                 reasons.OUTSIDE_SEND_WINDOW, id="night-in-shanghai"),
    pytest.param(campaign(schedule={"timeZone": "Mars/Olympus"}), world(), "Pending",
                 reasons.INVALID_SCHEDULE, id="unknown-time-zone"),
    # The example's templates are Marketing: the install's quiet hours (21:00-08:00)
    # leave a 22:00-23:00 window no minute, unless the campaign sets quiet hours off.
    pytest.param(campaign(schedule={"timeZone": "Asia/Shanghai", "sendWindow": {
        "start": "22:00", "end": "23:00"}}), world(), "Pending", reasons.INVALID_SCHEDULE,
                 id="window-inside-default-quiet-hours"),
    pytest.param(campaign(schedule={"timeZone": "Asia/Shanghai", "sendWindow": {
        "start": "22:00", "end": "23:00"}, "quietHours": {"start": "00:00", "end": "00:00"}}),
                 world(), "Scheduled", reasons.OUTSIDE_SEND_WINDOW, id="quiet-hours-off"),
    pytest.param(C, world(), "Importing", reasons.IMPORTING, id="starts"),
    pytest.param(C, world(run=run_of(C), import_job=JobSeen(failed=True, message="x")),
                 "Failed", reasons.IMPORT_FAILED, id="import-failed"),
    pytest.param(C, world(run=run_of(C, Counters(total=3, invalid=3), import_done=True)),
                 "Failed", reasons.NO_VALID_RECIPIENTS, id="nobody-to-send-to"),
    pytest.param(C, world(run=IMPORTED), "Running", reasons.SENDING, id="sending"),
    pytest.param(campaign(paused=True), world(run=IMPORTED, sender_job=JobSeen(active=2)),
                 "Paused", reasons.PAUSED, id="paused"),
    pytest.param(C, world(run=IMPORTED, sender_job=JobSeen(failed=True)), "Failed",
                 reasons.SENDERS_FAILED, id="senders-failed"),
    pytest.param(C, world(run=run_of(C, SENT, import_done=True),
                          sender_job=JobSeen(complete=True)),
                 "Completed", reasons.COMPLETED, id="completed"),
    pytest.param(campaign(cancel=True), world(), "Cancelled", reasons.CANCELLED,
                 id="cancelled-before-start"),
    pytest.param(campaign(cancel=True), world(run=IMPORTED, sender_job=JobSeen(active=1)),
                 "Cancelled", reasons.CANCELLING, id="cancelling"),
    pytest.param(C, world(run=IMPORTED, sender_job=JobSeen(parallelism=2, active=2),
                          last_progress=NOW - timedelta(minutes=10)),
                 "Running", reasons.NO_PROGRESS, id="stalled"),
])
def test_phase_and_ready_reason(campaign_: Campaign, world_: CampaignWorld, phase: str,
                                reason: str) -> None:
    assert ready(plan_campaign(campaign_, world_, SETTINGS)) == (phase, reason)


def test_start_writes_the_run_then_creates_the_importer() -> None:
    plan = plan_campaign(C, world(), SETTINGS)
    assert plan.actions.write_run is not None
    run = plan.actions.write_run
    assert run.shards == 2 and [c.name for c in run.channels] == ["carrier-a"]
    assert set(plan.actions.write_run.templates) == {"discount", "reminder"}
    assert plan.actions.write_run.audience.source.inline is not None
    assert [job["metadata"]["name"] for job in plan.actions.create] == ["double-eleven-2026-import"]


def test_the_run_holds_every_channel_and_routing_passes_over_one_not_ready() -> None:
    three = campaign(channels=[{"name": "carrier-a"}, {"name": "carrier-b"},
                               {"name": "carrier-c"}])
    channels = {"carrier-a": ChannelSeen(CHANNEL_SPEC, ready=False, reason="BindFailed"),
                "carrier-b": ChannelSeen(CHANNEL_SPEC, ready=True)}  # carrier-c: not found
    plan = plan_campaign(three, world(channels=channels), SETTINGS)
    run = plan.actions.write_run
    assert run is not None
    assert [c.name for c in run.channels] == ["carrier-a", "carrier-b"]
    assert run.unavailable == ["carrier-a"]
    assert "carrier-a passed over, not Ready" in (plan.status.message or "")


def test_a_channel_whose_failover_after_is_zero_is_never_passed_over_even_at_the_start(
        ) -> None:
    two = campaign(channels=[{"name": "carrier-a"}, {"name": "carrier-b"}])
    never = CHANNEL_SPEC.model_copy(update={
        "retry": CHANNEL_SPEC.retry.model_copy(update={"failover_after_seconds": 0})})
    channels = {"carrier-a": ChannelSeen(never, ready=False, reason="BindFailed"),
                "carrier-b": ChannelSeen(CHANNEL_SPEC, ready=True)}
    run = plan_campaign(two, world(channels=channels), SETTINGS).actions.write_run
    assert run is not None and run.unavailable == []


def test_the_sender_job_holds_every_channel_of_the_run() -> None:
    two = campaign(channels=[{"name": "carrier-a"}, {"name": "carrier-b"}])
    ready = ChannelSeen(CHANNEL_SPEC, ready=True)
    meta = two.metadata
    config = build_run_config(
        Owner(meta.namespace or "", meta.name, meta.uid or ""), two.spec,
        {v: TEMPLATES[t].spec for v, t in template_names(two.spec).items()},
        [("carrier-a", CHANNEL_SPEC), ("carrier-b", CHANNEL_SPEC)], 10.0)
    run = RunSeen(config=config, counters=Counters(total=10, queued=10), import_done=True)
    plan = plan_campaign(two, world(channels={"carrier-a": ready, "carrier-b": ready}, run=run),
                         SETTINGS)
    [job] = plan.actions.create
    env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"HERALD_SMPP_PASSWORD", "HERALD_SMPP_PASSWORD_1"} <= env


@pytest.mark.parametrize("spec, job, suspend, parallelism", [
    pytest.param({}, None, False, 2, id="created-running"),
    pytest.param({"paused": True}, None, True, 2, id="created-paused"),
    pytest.param({"paused": True}, JobSeen(parallelism=2), True, None, id="pause"),
    pytest.param({}, JobSeen(suspended=True, parallelism=2), False, None, id="resume"),
    pytest.param({"senders": 1}, JobSeen(parallelism=2), None, 1, id="fewer-senders"),
    pytest.param({"senders": 8}, JobSeen(parallelism=2), None, None, id="capped-by-shards"),
])
def test_sender_job_follows_paused_and_senders(
        spec: dict[str, Any], job: JobSeen | None, suspend: bool | None,
        parallelism: int | None) -> None:
    plan = plan_campaign(campaign(**spec), world(run=IMPORTED, sender_job=job), SETTINGS)
    if job is None:
        (created,) = plan.actions.create
        assert created["spec"]["suspend"] is suspend
        assert created["spec"]["parallelism"] == parallelism
    else:
        assert plan.actions.create == ()
        assert plan.actions.sender_suspend is suspend
        assert plan.actions.sender_parallelism == parallelism


def test_sender_job_spec() -> None:
    (job,) = plan_campaign(C, world(run=IMPORTED), SETTINGS).actions.create
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "sms.herald.dev/v1alpha1", "kind": "Campaign",
        "name": "double-eleven-2026", "uid": "uid-1", "controller": True,
        "blockOwnerDeletion": True}]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001,
                                      "runAsGroup": 10001,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert container["args"] == ["send", "--campaign", "default/double-eleven-2026"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"name": "HERALD_SMPP_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "carrier-a-smpp", "key": "password"}}} in container["env"]


def test_import_job_mounts_a_configmap_audience() -> None:
    c = campaign(audience={"configMapRef": {"name": "people", "key": "list.csv"}})
    (job,) = plan_campaign(c, world(), SETTINGS).actions.create
    pod = job["spec"]["template"]["spec"]
    assert {"name": "audience", "configMap": {"name": "people", "items": [
        {"key": "list.csv", "path": "audience.csv"}]}} in pod["volumes"]
    assert pod["containers"][0]["args"] == ["import", "--campaign", "default/double-eleven-2026"]


def test_cancel_stops_jobs_then_marks_the_rest() -> None:
    c = campaign(cancel=True)
    running = plan_campaign(c, world(run=IMPORTED, sender_job=JobSeen(active=2)), SETTINGS)
    assert running.actions.sender_suspend is True and not running.actions.cancel_remaining
    # Each step starts from the status the one before wrote, as the handler's do.
    c = campaign(cancel=True, status=running.status)
    stopping = plan_campaign(c, world(run=IMPORTED, sender_job=JobSeen(suspended=True,
                                                                      active=1)), SETTINGS)
    assert stopping.actions.sender_suspend is None and not stopping.actions.cancel_remaining
    c = campaign(cancel=True, status=stopping.status)
    stopped = plan_campaign(c, world(run=IMPORTED, sender_job=JobSeen(suspended=True)),
                            SETTINGS)
    assert stopped.actions.cancel_remaining
    # A finished importer Job is left alone: only Jobs at work are suspended.
    finished_import = plan_campaign(c, world(run=IMPORTED, import_job=JobSeen(complete=True),
                                             sender_job=JobSeen(suspended=True)), SETTINGS)
    assert finished_import.actions.cancel_remaining and not finished_import.actions.suspend_import
    done = plan_campaign(c, world(run=dataclasses.replace(IMPORTED, cancel_done=True),
                                  sender_job=JobSeen(suspended=True)), SETTINGS)
    assert ready(done) == ("Cancelled", reasons.CANCELLED)
    assert done.status.completion_time == NOW


# A finished campaign of 10,000 rows: 9,084 sent, nothing left awaiting a receipt.
FINISHED = Counters(total=10_000, invalid=900, opted_out=16, delivered=9_000, failed=50,
                    expired=34, sent=9_084, segments_submitted=12_105)


def test_printer_columns_read_right_on_a_completed_campaign() -> None:
    """`kubectl get campaigns` shows what was sent, not what still awaits a receipt
    (which reads "0" once every receipt is in)."""
    plan = plan_campaign(C, world(run=run_of(C, FINISHED, import_done=True),
                                  sender_job=JobSeen(complete=True)), SETTINGS)
    body = campaign(status=plan.status).to_api()
    cells = {c["name"]: column_value(body, c["jsonPath"]) for c in Campaign.PRINTER_COLUMNS
             if c["name"] != "Age"}
    assert cells == {"Phase": "Completed", "Ready": "True", "Progress": "100", "Sent": "9084",
                     "Delivered": "9000", "Failed": "50", "Delivery": "99.1%",
                     "Awaiting": "0", "Reason": reasons.COMPLETED,
                     # The plan of a run without import counters, through an unpriced channel
                     "Cost": "<none>", "Currency": "<none>", "ETA": "2026-11-23T04:00:00Z"}
    assert plan.status.message == ("sent 9,084 messages (12,105 segments): 9,000 delivered,"
                                   " 50 failed, 34 expired")


@pytest.mark.parametrize("counters, ratio", [
    pytest.param(Counters(total=10), None, id="none-final-yet"),
    pytest.param(Counters(total=10, submitted=10, sent=10), None, id="all-awaiting-receipts"),
    pytest.param(Counters(total=10, delivered=3, submitted=7, sent=10), "100.0%",
                 id="awaiting-ones-left-out"),
    pytest.param(Counters(total=10, delivered=3, unknown=7), "100.0%",
                 id="unknown-ones-left-out"),
    pytest.param(Counters(total=10, delivered=6, failed=2, expired=2), "60.0%",
                 id="failed-and-expired-count"),
    pytest.param(Counters(total=3, delivered=2, failed=1), "66.7%", id="one-decimal"),
])
def test_delivery_ratio_is_delivered_over_final_outcomes(counters: Counters,
                                                         ratio: str | None) -> None:
    assert delivery_ratio(counters) == ratio


def test_status_is_stable_and_events_fire_once() -> None:
    first = plan_campaign(C, world(run=IMPORTED), SETTINGS)
    assert [e.reason for e in first.events] == [reasons.SENDING]
    later = world(run=IMPORTED, sender_job=JobSeen(parallelism=2, active=2),
                  now=NOW + timedelta(seconds=5), previous=Sample(NOW, 0))
    second = plan_campaign(campaign(status=first.status), later, SETTINGS)
    assert second.events == ()
    assert second.status.conditions == first.status.conditions  # no transition time moved
    third = plan_campaign(campaign(status=second.status), later, SETTINGS)
    assert third.status == second.status


def test_final_phase_stays_and_counters_keep_folding() -> None:
    completed = plan_campaign(C, world(run=run_of(C, SENT, import_done=True),
                                       sender_job=JobSeen(complete=True)), SETTINGS)
    late = Counters(total=100, delivered=95, failed=5)
    after = plan_campaign(campaign(status=completed.status, cancel=True),
                          world(run=run_of(C, late, import_done=True)), SETTINGS)
    assert ready(after) == ("Completed", reasons.COMPLETED)
    assert after.status.counters == late and after.events == ()


def test_redis_keys_go_after_the_retention() -> None:
    completed = plan_campaign(C, world(run=run_of(C, SENT, import_done=True),
                                       sender_job=JobSeen(complete=True)), SETTINGS)
    kept = plan_campaign(campaign(status=completed.status), world(
        run=run_of(C, SENT, import_done=True), now=NOW + timedelta(days=6)), SETTINGS)
    gone = plan_campaign(campaign(status=completed.status), world(
        run=run_of(C, SENT, import_done=True), now=NOW + timedelta(days=8)), SETTINGS)
    assert (kept.delete_run, gone.delete_run) == (False, True)


def test_a_run_of_a_deleted_namesake_is_reset() -> None:
    other = dataclasses.replace(IMPORTED, config=IMPORTED.config.model_copy(
        update={"uid": "uid-0"}))
    plan = plan_campaign(C, world(run=other), SETTINGS)
    assert plan.reset_run and plan.actions.write_run is not None
    assert reasons.RUN_RESET in [e.reason for e in plan.events]


def test_edits_while_running_say_what_applies() -> None:
    first = plan_campaign(C, world(run=IMPORTED), SETTINGS)
    edited = campaign(status=first.status, generation=2, audience={"inline": [
        {"phone": "+8613800138001"}]}, rateLimit={"messagesPerSecond": 10})
    plan = plan_campaign(edited, world(run=IMPORTED, sender_job=JobSeen(parallelism=2)),
                         SETTINGS)
    (warning,) = [e for e in plan.events if e.reason == reasons.EDIT_NOT_APPLIED]
    assert warning.type == "Warning" and warning.message.startswith("audience changed")
    assert plan.actions.write_run is not None and plan.actions.write_run.campaign_rate == 10
    assert plan.status.edits_not_applied == ["audience"]  # status repeats the Event
    assert first.status.edits_not_applied == []


def test_statistics_fold_from_the_counters_hash() -> None:
    fields = {"variant:discount:total": 60, "variant:discount:delivered": 50,
              "variant:reminder:total": 40, "channel:carrier-a:delivered": 50,
              "error:0x0000000B": 3, "error:0x00000045": 7, "drop:InvalidNumber": 4,
              "suppress:Duplicate": 2}
    run = run_of(C, Counters(total=106, invalid=4, suppressed=2, delivered=50, queued=50),
                 import_done=True, fields=fields)
    status = plan_campaign(C, world(run=run, previous=Sample(NOW - timedelta(seconds=10), 0),
                                    sender_job=JobSeen(parallelism=2)), SETTINGS).status
    assert [(b.name, b.counters.delivered, b.counters.queued) for b in status.variants] == [
        ("discount", 50, 10), ("reminder", 0, 40)]
    assert [(e.code, e.name, e.count) for e in status.top_errors] == [
        ("0x00000045", "ESME_RSUBMITFAIL", 7), ("0x0000000B", "ESME_RINVDSTADR", 3)]
    assert [(r.reason, r.count) for r in status.invalid_reasons] == [
        ("Duplicate", 2), ("InvalidNumber", 4)]
    assert (status.progress_percent, status.delivery_ratio, status.submit_rate_per_second) == (
        50, "100.0%", 5)


@pytest.mark.parametrize("counters, degraded", [
    pytest.param(Counters(total=1000, delivered=900, failed=100), False, id="ten-percent"),
    pytest.param(Counters(total=1000, delivered=700, failed=200, expired=100), True,
                 id="thirty-percent"),
    pytest.param(Counters(total=10, delivered=5, failed=5), False, id="too-few-to-tell"),
])
def test_degraded_when_failures_cross_the_threshold(counters: Counters, degraded: bool) -> None:
    plan = plan_campaign(C, world(run=run_of(C, counters, import_done=True)), SETTINGS)
    condition = find_condition(plan.status.conditions, "Degraded")
    assert condition is not None and (condition.status == "True") is degraded


@pytest.mark.parametrize("max_binds, senders, receivers, per_pod, endless", [
    pytest.param(4, 2, True, 1, False, id="receiver-takes-one"),
    pytest.param(4, 2, False, 2, False, id="no-receiver"),
    pytest.param(1, 1, True, 1, False, id="one-bind-no-receiver"),
    pytest.param(3, 8, True, 1, False, id="more-pods-than-binds"),
    pytest.param(9, 2, True, 4, False, id="split"),
    # A trigger Api run never ends: it leaves the channel's other campaigns their binds.
    pytest.param(9, 2, True, 1, True, id="trigger-api-one-a-pod"),
])
def test_sender_pods_share_the_binds_the_receiver_leaves(
    max_binds: int, senders: int, receivers: bool, per_pod: int, endless: bool
) -> None:
    spec = CHANNEL_SPEC.model_copy(update={"max_binds": max_binds})
    target = senders_target("carrier-a", spec, senders, receivers, endless=endless)
    assert (target.smpp.binds, target.smpp.max_binds) == (per_pod, max_binds)


# -- when a campaign wants its next reconcile -----------------------------------------------

def status_ready(reason: str, completed_ago: timedelta | None = None) -> CampaignStatus:
    """A status whose Ready condition has `reason`; its phase is left Pending on purpose:
    decisions must read the condition, not the phase."""
    return CampaignStatus.model_validate({
        "conditions": [{"type": "Ready", "status": "True" if reason == "Completed" else "False",
                        "reason": reason, "lastTransitionTime": NOW.isoformat()}],
        "completionTime": (NOW - completed_ago).isoformat() if completed_ago else None})


@pytest.mark.parametrize("status, expected", [
    pytest.param(CampaignStatus(), 1.0, id="new"),
    pytest.param(status_ready(reasons.SENDING), 1.0, id="sending"),
    pytest.param(status_ready(reasons.CANCELLING), 1.0, id="cancelling-is-not-finished"),
    pytest.param(status_ready(reasons.COMPLETED, timedelta(seconds=30)), 5.0,
                 id="completed-receipts-settling"),
    pytest.param(status_ready(reasons.COMPLETED, timedelta(hours=1)), 60.0,
                 id="completed-long-ago"),
    pytest.param(status_ready(reasons.NO_VALID_RECIPIENTS), 60.0, id="failed-without-time"),
    pytest.param(status_ready(reasons.CANCELLED, timedelta(minutes=11)), 60.0, id="cancelled"),
])
def test_finished_campaigns_are_reconciled_less_often(status: CampaignStatus,
                                                      expected: float) -> None:
    assert requeue_after(status, NOW) == expected


@pytest.mark.parametrize("wake_in, expected", [
    pytest.param(timedelta(hours=8), 30.0, id="window-opens-tonight"),
    pytest.param(timedelta(seconds=12), 12.0, id="starts-soon"),
    pytest.param(timedelta(seconds=-5), 1.0, id="already-due"),
])
def test_waiting_campaigns_wake_when_their_time_comes(wake_in: timedelta,
                                                      expected: float) -> None:
    assert requeue_after(status_ready(reasons.SCHEDULED), NOW, NOW + wake_in) == expected


def test_a_closed_window_plans_its_wake_up() -> None:
    night = NOW.replace(hour=16)  # 00:00 in Shanghai, outside the example's 09:00-21:00
    plan = plan_campaign(C, world(now=night), SETTINGS)
    assert ready(plan)[1] == reasons.OUTSIDE_SEND_WINDOW
    assert plan.requeue_after_seconds == 30.0


@pytest.mark.parametrize("reason, phase", [
    pytest.param(reasons.COMPLETED, "Completed", id="completed"),
    pytest.param(reasons.SENDERS_FAILED, "Failed", id="senders-failed"),
    pytest.param(reasons.CANCELLED, "Cancelled", id="cancelled"),
    pytest.param(reasons.CANCELLING, None, id="cancelling"),
    pytest.param(reasons.PAUSED, None, id="paused"),
])
def test_finished_is_read_from_the_ready_condition(reason: str, phase: str | None) -> None:
    found = finished(status_ready(reason))
    assert (found.value if found else None) == phase


@pytest.mark.parametrize("generation, observed, due_at, expected", [
    pytest.param(1, 1, None, True, id="first-tick"),
    pytest.param(1, 1, 100.0, False, id="not-yet"),
    pytest.param(1, 1, 99.0, True, id="due"),
    pytest.param(2, 1, 160.0, True, id="spec-changed-wakes-it"),
    pytest.param(1, None, 160.0, True, id="no-status-yet"),
])
def test_a_timer_tick_reconciles_only_when_due(generation: int, observed: int | None,
                                               due_at: float | None, expected: bool) -> None:
    body = {"metadata": {"generation": generation},
            "status": {"observedGeneration": observed} if observed else {}}
    assert reconcile_due(body, due_at, now=99.5) is expected


def test_each_channel_breakdown_has_its_own_top_errors() -> None:
    fields = {"channel:a:total": 10, "channel:a:failed": 4, "channel:a:error:0x0000000B": 3,
              "channel:a:error:069": 1, "channel:b:total": 5, "error:0x0000000B": 3,
              "variant:x:total": 15}
    a, b = stats.breakdowns(fields, "channel")
    assert [(e.code, e.name, e.count) for e in a.top_errors] == [
        ("0x0000000B", "ESME_RINVDSTADR", 3), ("069", "", 1)]
    assert (a.counters.failed, b.top_errors) == (4, [])
    (x,) = stats.breakdowns(fields, "variant")
    assert x.top_errors == []


@pytest.mark.parametrize("fields, shown", [
    pytest.param({}, [], id="no-failures"),
    pytest.param({"country:CN:error:0x0000000B": 3, "country:CN:error:069": 4,
                  "country:HK:error:069": 1, "channel:a:error:069": 5, "error:069": 5},
                 [("CN", 7, [("069", 4), ("0x0000000B", 3)]), ("HK", 1, [("069", 1)])],
                 id="most-failed-first-with-their-codes"),
    pytest.param({f"country:C{chr(65 + i)}:error:001": 1 + i for i in range(12)},
                 [(f"C{chr(65 + i)}", 1 + i, [("001", 1 + i)]) for i in range(11, 1, -1)],
                 id="ten-countries-shown"),
    pytest.param({"country:GB:error:001": 0}, [], id="a-count-gone-to-zero"),
])
def test_errors_by_country(fields: dict[str, int],
                           shown: list[tuple[str, int, list[tuple[str, int]]]]) -> None:
    assert [(c.country, c.failed, [(e.code, e.count) for e in c.top_errors])
            for c in stats.errors_by_country(fields)] == shown
