"""A trigger Api campaign's decisions without I/O: opening to events, its token, its
ingest settings kept in step, following senders, cancel closing the API first."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from controllers.decisions import reasons
from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.campaign_run import build_run_config, template_names
from controllers.decisions.campaign_trigger import NO_TOKEN, TokenSeen, ingest_run
from controllers.decisions.campaign_world import CampaignWorld, JobSeen, RunSeen, TemplateSeen
from crds.campaign import Campaign, CampaignStatus, Counters
from crds.template import Template
from sender.ingest_run import token_digest
from tests.test_campaign_plan import CHANNEL_SPEC, CHANNELS, NOW, SETTINGS, example, ready

TOKEN = "t0ken-of-the-order-shipped-campaign"


def campaign(status: CampaignStatus | None = None, **spec: Any) -> Campaign:
    body = example("campaign-order-shipped.yaml")
    body["metadata"] |= {"namespace": "shop", "uid": "uid-1", "generation": 1}
    body["spec"] |= spec
    return Campaign.model_validate(body).model_copy(
        update={"status": status or CampaignStatus()})


TEMPLATES = {"order-shipped": TemplateSeen(
    spec=Template.model_validate(example("template-order-shipped.yaml")).spec, approved=True)}
GOOD = TokenSeen(token=TOKEN, ref=("order-shipped-ingest", "token"))


def run_of(c: Campaign, counters: Counters | None = None, **fields: Any) -> RunSeen:
    meta = c.metadata
    owner = Owner(meta.namespace or "", meta.name, meta.uid or "", meta.generation or 0)
    templates = {v: TEMPLATES[t].spec for v, t in template_names(c.spec).items()}
    config = build_run_config(owner, c.spec, templates, [("carrier-a", CHANNEL_SPEC)], 10.0)
    return RunSeen(config=config, counters=counters or Counters(), **fields)


def world(**fields: Any) -> CampaignWorld:
    defaults: dict[str, Any] = {"now": NOW, "templates": TEMPLATES, "channels": CHANNELS,
                                "token": GOOD}
    return CampaignWorld(**(defaults | fields))


C = campaign()
OPEN = run_of(C, import_done=True)
OPEN = dataclasses.replace(OPEN, ingest=ingest_run(C.spec, OPEN.config, GOOD))


@pytest.mark.parametrize("world_, phase, reason", [
    pytest.param(world(token=TokenSeen(missing="Secret order-shipped-ingest not found")),
                 "Pending", reasons.INGEST_TOKEN_NOT_FOUND, id="no-secret"),
    pytest.param(world(token=TokenSeen(token="short")), "Pending",
                 reasons.INGEST_TOKEN_NOT_FOUND, id="token-too-short"),
    pytest.param(world(templates={}), "Pending", reasons.TEMPLATE_NOT_FOUND, id="no-template"),
    pytest.param(world(channels={}), "Pending", reasons.CHANNEL_NOT_FOUND, id="no-channel"),
    pytest.param(world(), "Running", reasons.ACCEPTING_EVENTS, id="opens"),
    pytest.param(world(run=OPEN), "Running", reasons.ACCEPTING_EVENTS, id="taking-events"),
    # Nothing posted yet is not "no valid recipients": the campaign waits for events.
    pytest.param(world(run=OPEN, sender_job=JobSeen(active=1)), "Running",
                 reasons.ACCEPTING_EVENTS, id="nothing-posted-yet"),
    pytest.param(world(run=OPEN, token=TokenSeen(missing="Secret x not found")), "Running",
                 reasons.INGEST_TOKEN_NOT_FOUND, id="token-deleted-while-running"),
])
def test_trigger_phases(world_: CampaignWorld, phase: str, reason: str) -> None:
    assert ready(plan_campaign(C, world_, SETTINGS)) == (phase, reason)


def test_it_opens_without_an_importer_and_its_senders_follow() -> None:
    plan = plan_campaign(C, world(), SETTINGS)
    actions = plan.actions
    assert actions.create == ()  # no importer Job
    assert actions.open_trigger
    assert actions.write_run is not None and actions.write_run.follow
    ingest = actions.write_ingest
    assert ingest is not None
    assert ingest.token_sha256 == token_digest(TOKEN)  # the digest, never the token
    assert TOKEN not in ingest.model_dump_json()
    assert TOKEN not in actions.write_run.model_dump_json()
    assert (ingest.default_region, ingest.max_queued, ingest.shards) == ("CN", 50000, 1)
    assert ingest.rate_per_second == 200  # the campaign's rateLimit, below the channel's
    assert ingest.required == {"": ["name", "order", "eta"]}
    assert "POST /v1/namespaces/shop/campaigns/order-shipped/messages" in (
        plan.status.message or "")


def test_once_open_it_runs_a_following_sender_job() -> None:
    plan = plan_campaign(C, world(run=OPEN), SETTINGS)
    (job,) = plan.actions.create
    assert job["metadata"]["name"] == "order-shipped-send"
    assert plan.actions.write_ingest is None  # in step already


def test_a_start_time_ahead_waits_before_taking_events() -> None:
    later = campaign(schedule={"startTime": "2026-12-01T00:00:00Z"})
    plan = plan_campaign(later, world(), SETTINGS)
    assert ready(plan) == ("Scheduled", reasons.SCHEDULED)
    assert not plan.actions.open_trigger and plan.actions.write_ingest is None


def test_outside_its_send_window_it_takes_events_and_holds_its_senders() -> None:
    night = campaign(schedule={"timeZone": "Asia/Shanghai",
                               "sendWindow": {"start": "09:00", "end": "10:00"}})
    plan = plan_campaign(night, world(), SETTINGS)
    assert ready(plan) == ("Running", reasons.ACCEPTING_EVENTS)
    assert plan.actions.open_trigger  # posts are queued while the window is shut
    run = run_of(night, import_done=True)
    run = dataclasses.replace(run, ingest=ingest_run(night.spec, run.config, GOOD))
    plan = plan_campaign(night, world(run=run), SETTINGS)
    (job,) = plan.actions.create
    assert job["spec"]["suspend"] is True


@pytest.mark.parametrize("edit, field, value", [
    pytest.param({"ingest": {"tokenSecretRef": {"name": "order-shipped-ingest"},
                             "maxQueued": 10}}, "max_queued", 10, id="queue-bound"),
    pytest.param({"rateLimit": {"messagesPerSecond": 50}}, "rate_per_second", 50, id="rate"),
])
def test_live_edits_reach_the_ingest_pods(edit: dict[str, Any], field: str, value: int) -> None:
    edited = campaign(**edit)
    plan = plan_campaign(edited, world(run=OPEN, sender_job=JobSeen(active=1)), SETTINGS)
    assert plan.actions.write_ingest is not None
    assert getattr(plan.actions.write_ingest, field) == value
    assert plan.status.edits_not_applied == []


def test_a_rotated_token_is_written_and_a_deleted_one_lets_nobody_in() -> None:
    rotated = TokenSeen(token="another-token-0123456789", ref=GOOD.ref)
    plan = plan_campaign(C, world(run=OPEN, token=rotated), SETTINGS)
    assert plan.actions.write_ingest is not None
    assert plan.actions.write_ingest.token_sha256 == token_digest("another-token-0123456789")
    plan = plan_campaign(C, world(run=OPEN, token=TokenSeen(missing="gone")), SETTINGS)
    assert plan.actions.write_ingest is not None
    assert plan.actions.write_ingest.token_sha256 == NO_TOKEN


def test_an_interrupted_opening_is_finished() -> None:
    """The operator stopped after writing the run and before opening it."""
    plan = plan_campaign(C, world(run=run_of(C)), SETTINGS)
    assert plan.actions.open_trigger and plan.actions.write_ingest is not None
    assert plan.actions.create == ()


def test_cancel_closes_the_api_before_counting_anything_cancelled() -> None:
    cancelled = campaign(cancel=True)
    running = world(run=OPEN, sender_job=JobSeen(active=1))
    plan = plan_campaign(cancelled, running, SETTINGS)
    assert plan.actions.close_ingest
    assert not plan.actions.cancel_remaining and plan.actions.sender_suspend is None
    closed = dataclasses.replace(running, run=dataclasses.replace(OPEN, ingest_closed=True))
    plan = plan_campaign(cancelled, closed, SETTINGS)
    assert not plan.actions.close_ingest and plan.actions.sender_suspend is True
    gone = dataclasses.replace(closed, sender_job=JobSeen(suspended=True))
    assert plan_campaign(cancelled, gone, SETTINGS).actions.cancel_remaining


def test_a_token_wait_rechecks_soon() -> None:
    plan = plan_campaign(C, world(token=TokenSeen(missing="x")), SETTINGS)
    assert plan.requeue_after_seconds <= 10.0
    assert plan.events and plan.events[0].type == "Warning"
