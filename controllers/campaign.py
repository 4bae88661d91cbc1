"""kopf handlers for Campaign: observe, plan (controllers.decisions.campaign_plan), apply.

One timer per campaign, every second, runs the whole reconcile when the plan asked for
it (every second while the campaign runs, less often once it finished: see
campaign_plan.requeue_after, and at once after a spec change): it reads what kopf's
indexes hold (templates, channels, the campaign's Jobs) and the run in Redis (one
round trip), plans, applies what the plan says (create-if-absent, patches), and writes
status only when it differs. That bounds status writes to one per second per
campaign, whatever the send rate; counters fold from Redis, never per message. It is
level-based, so an operator restart simply carries on: the run is in Redis and the
Jobs in the API, nothing is re-imported or resent.

The timer puts kopf's finalizer on every Campaign; the delete handler uses it to
remove the campaign's Redis keys (its Jobs go with it by their ownerReferences).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from redis.exceptions import RedisError

from controllers import metrics
from controllers.campaign_recurrence import RunIndex, delete_runs, reconcile_recurring
from controllers.channel import ChannelIndex
from controllers.config import OperatorConfig
from controllers.context import OperatorContext
from controllers.decisions.campaign_export import EXPORTER
from controllers.decisions.campaign_guard import canary_due, canary_run, holds, may_resume
from controllers.decisions.campaign_jobs import (
    COMPONENT_LABEL,
    IMPORTER,
    SENDER,
    STAGE_LABEL,
    WINNER,
    Owner,
    import_job_name,
    sender_job_name,
)
from controllers.decisions.campaign_plan import finished, plan_campaign, reconcile_due
from controllers.decisions.campaign_run import template_names
from controllers.decisions.campaign_stats import Sample, next_timeline_mark, sent
from controllers.decisions.campaign_trigger import TOKEN_RECHECK_SECONDS, TokenSeen
from controllers.decisions.campaign_winner import decision_due
from controllers.decisions.campaign_world import (
    FOLD_SECONDS,
    AudienceSeen,
    CampaignPlan,
    CampaignWorld,
    JobSeen,
    PlanSettings,
    RunSeen,
    TemplateSeen,
)
from controllers.decisions.status import merge_patch_diff
from controllers.template import post_events
from crds.base import GROUP, VERSION, ConditionStatus, find_condition
from crds.campaign import Audience, Campaign, ObjectKeyReference, WinnerMetric
from crds.template import Template
from sender.run_config import RunConfig
from sender.store.ab_opt_outs import opted_out_since
from sender.store.final_records import compact_run
from sender.store.ingest_queue import close_ingest, open_trigger_run, write_ingest
from sender.store.keys import CampaignKeys
from sender.store.run_store import (
    cancel_remaining,
    delete_run,
    hand_rest_over,
    read_run,
    write_run,
)
from sender.store.run_timeline import TIMELINE_MAX, TimelineSample, append_sample
from sender.store.waiting_room import next_opening

logger = logging.getLogger(__name__)

CAMPAIGNS = (GROUP, VERSION, Campaign.PLURAL)
FOLD_INTERVAL = FOLD_SECONDS  # at most one status write per campaign per interval

TemplateIndex = kopf.Index[tuple[str, str], TemplateSeen]
JobIndex = kopf.Index[tuple[str, str, str], JobSeen]


@kopf.index(GROUP, VERSION, Template.PLURAL)
def templates_seen(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], TemplateSeen] | None:
    """(namespace, name) -> the template's spec and whether it may be sent now."""
    try:
        template = Template.model_validate(body)
    except ValueError:
        return None
    ready = find_condition(template.status.conditions, "Ready")
    approved = (ready is not None and ready.status == ConditionStatus.TRUE
                and template.status.observed_generation == template.metadata.generation
                and template.status.content_hash == template.spec.content_hash())
    return {(namespace or "", name): TemplateSeen(
        spec=template.spec, approved=approved,
        reason=ready.reason if ready is not None else "NotReviewed")}


@kopf.index("batch", "v1", "jobs", labels={"app.kubernetes.io/managed-by": "herald-operator"})
def campaign_jobs(
    namespace: str | None, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str, str], JobSeen]:
    """(namespace, campaign, importer|sender|winner|exporter) -> the Job as last seen
    (winner: the sender Job of a winner campaign's rest; exporter: spec.export's)."""
    owners = [o for o in meta.get("ownerReferences", [])
              if o.get("kind") in ("Campaign", "CampaignRun")]
    labels = meta.get("labels", {})
    component = labels.get(COMPONENT_LABEL, "")
    if not owners or component not in (IMPORTER, SENDER, EXPORTER):
        return {}
    if component == SENDER and labels.get(STAGE_LABEL) == WINNER:
        component = WINNER
    completed = status.get("completionTime")
    conditions = {c.get("type"): c for c in status.get("conditions", [])
                  if c.get("status") == "True"}
    failed = conditions.get("Failed")
    return {(namespace or "", owners[0]["name"], component): JobSeen(
        suspended=bool(spec.get("suspend")),
        parallelism=spec.get("parallelism"),
        active=int(status.get("active") or 0),
        complete="Complete" in conditions,
        failed=failed is not None,
        message=str(failed.get("message", "")) if failed else "",
        completion_time=(datetime.fromisoformat(completed.replace("Z", "+00:00"))
                         if completed else None),
    )}


def plan_settings(config: OperatorConfig) -> PlanSettings:
    return PlanSettings(
        pods=config.pod_settings(),
        degraded_failure_percent=config.degraded_failure_percent,
        stall_seconds=config.stall_seconds,
        retention_seconds=config.retention_seconds,
        receipt_wait_seconds=config.receipt_wait_seconds,
        channel_receivers=config.channel_receivers,
        marketing_quiet_hours=config.marketing_quiet_hours,
        links_base_url=config.links_base_url,
    )


async def observe_campaign(
    campaign: Campaign, memo: Any, templates: TemplateIndex, channels: ChannelIndex,
    jobs: JobIndex, now: datetime,
) -> CampaignWorld:
    """Everything the plan needs: indexes (no API calls) and one Redis round trip."""
    context: OperatorContext = memo.context
    namespace, name = campaign.metadata.namespace or "", campaign.metadata.name

    def one(index: Any, key: Any) -> Any:
        found = list(index.get(key, ()))
        return found[0] if found else None

    template_seen = {t: seen for t in set(template_names(campaign.spec).values())
                     if (seen := one(templates, (namespace, t))) is not None}
    channel_seen = {c.name: seen for c in campaign.spec.channels
                    if (seen := one(channels, (namespace, c.name))) is not None}
    state = await read_run(context.redis, CampaignKeys(namespace, name))
    audience = None
    suppression: dict[str, AudienceSeen] = {}
    if state.config is None and campaign.spec.audience is not None:
        # before the run: its importer pod would wait on a missing one
        audience = await audience_seen(context, namespace, campaign.spec.audience)
        for item in campaign.spec.compliance.suppression_lists:
            found = await keys_seen(context, namespace, item.config_map_ref, item.secret_ref)
            if found is not None:
                suppression[item.name] = found
    run = None
    if state.config is not None:
        opens = (await next_opening(context.redis, CampaignKeys(namespace, name),
                                    state.config.streams)
                 if state.counters.waiting else None)
        run = RunSeen(config=state.config, counters=state.counters, fields=state.fields,
                      next_window=(datetime.fromtimestamp(opens, UTC) if opens is not None
                                   else None),
                      import_done=state.import_done, import_error=state.import_error,
                      cancel_done=state.cancel_done, ingest=state.ingest,
                      ingest_closed=state.ingest_closed, export=state.export,
                      export_error=state.export_error,
                      test_opt_outs=await _test_opt_outs(context, campaign, state.config,
                                                         one(jobs, (namespace, name, SENDER)),
                                                         now),
                      guard_opt_outs=await _guard_opt_outs(context, campaign, state.config,
                                                           one(jobs, (namespace, name, SENDER)),
                                                           now))
    previous, last_progress = context.campaign_samples.get((namespace, name), (None, None))
    return CampaignWorld(
        now=now, templates=template_seen, channels=channel_seen, run=run, audience=audience,
        suppression=suppression, token=await token_seen(context, campaign),
        import_job=one(jobs, (namespace, name, IMPORTER)),
        sender_job=one(jobs, (namespace, name, SENDER)),
        winner_job=one(jobs, (namespace, name, WINNER)),
        export_job=one(jobs, (namespace, name, EXPORTER)),
        previous=previous, last_progress=last_progress,
    )


async def token_seen(context: OperatorContext, campaign: Campaign) -> TokenSeen | None:
    """A trigger Api campaign's token, read again every TOKEN_RECHECK_SECONDS (kept in
    the context between reads); None for other campaigns."""
    ingest = campaign.spec.ingest
    if ingest is None:
        return None
    key = (campaign.metadata.namespace or "", campaign.metadata.name)
    ref = ingest.token_secret_ref
    read_at, seen = context.ingest_tokens.get(key, (None, None))
    if (seen is not None and read_at is not None and seen.ref == (ref.name, ref.key)
            and time.monotonic() - read_at < TOKEN_RECHECK_SECONDS):
        return seen
    secret = await context.core.secret(key[0], ref.name)
    if secret is None:
        seen = TokenSeen(missing=f"Secret {ref.name} not found", ref=(ref.name, ref.key))
    elif ref.key not in secret.data:
        seen = TokenSeen(missing=f"Secret {ref.name} has no key {ref.key}",
                         ref=(ref.name, ref.key))
    else:
        token = base64.b64decode(secret.data[ref.key]).decode("utf-8", "replace")
        seen = TokenSeen(token=token, ref=(ref.name, ref.key))
    context.ingest_tokens[key] = (time.monotonic(), seen)
    return seen


async def _test_opt_outs(context: OperatorContext, campaign: Campaign, config: RunConfig,
                         test_job: JobSeen | None, now: datetime) -> dict[str, int] | None:
    """A winner campaign's test opt-outs by variant, read once its OptOutRatio decision is
    due (the plan decides then; one scan of the test group's streams), else None."""
    policy = campaign.spec.winner
    if (policy is None or policy.metric != WinnerMetric.OPT_OUT_RATIO
            or campaign.spec.cancel or finished(campaign.status) is not None
            or config.winner is not None or not config.lanes.rest
            or test_job is None or not test_job.complete
            or now < decision_due(policy, test_job.completion_time, now)):
        return None
    since = campaign.status.start_time
    keys = CampaignKeys(campaign.metadata.namespace or "", campaign.metadata.name)
    return await opted_out_since(context.redis, keys, config.lanes.first,
                                 since.timestamp() if since is not None else 0.0)


async def _guard_opt_outs(context: OperatorContext, campaign: Campaign, config: RunConfig,
                          first_job: JobSeen | None, now: datetime) -> int | None:
    """The run's opt-outs for spec.canary and spec.autoPause (RunSeen.guard_opt_outs):
    the canary share's, read once its judgement is due; the whole run's for autoPause,
    read again every config.opt_out_count_seconds (kept in the context), and at once when a
    person takes its pause over (the resume takes them as its baseline)."""
    spec = campaign.spec
    if spec.cancel or finished(campaign.status) is not None:
        return None
    keys = CampaignKeys(campaign.metadata.namespace or "", campaign.metadata.name)
    since = campaign.status.start_time
    start = since.timestamp() if since is not None else 0.0
    if canary_run(config) and not config.rest_released and config.canary is None:
        policy = spec.canary
        if (policy is None or policy.max_opt_out_percent is None or first_job is None
                or not first_job.complete
                or now < canary_due(policy, first_job.completion_time, now)):
            return None
        return sum((await opted_out_since(context.redis, keys, config.lanes.first,
                                          start)).values())
    policy_auto = spec.auto_pause
    if policy_auto is None or policy_auto.max_opt_out_percent is None:
        return None
    key = (keys.namespace, keys.name)
    read_at, count = context.guard_opt_outs.get(key, (None, 0))
    last = config.auto_pause
    taken_over = (last is not None and holds(last)
                  and may_resume(last, spec.paused, campaign.metadata.generation))
    every = context.config.opt_out_count_seconds
    if read_at is None or time.monotonic() - read_at >= every or taken_over:
        count = sum((await opted_out_since(context.redis, keys, config.streams,
                                           start)).values())
        context.guard_opt_outs[key] = (time.monotonic(), count)
    return count


async def audience_seen(context: OperatorContext, namespace: str, audience: Audience,
                        ) -> AudienceSeen | None:
    """The keys of the ConfigMap or Secret the audience names (None: it names none, or
    the operator may not read it, in which case the importer pod finds out)."""
    return await keys_seen(context, namespace, audience.config_map_ref, audience.secret_ref)


async def keys_seen(context: OperatorContext, namespace: str,
                    config_map: ObjectKeyReference | None, secret_ref: ObjectKeyReference | None,
                    ) -> AudienceSeen | None:
    """The keys of the ConfigMap or Secret named (None: neither is, or the operator may
    not read it)."""
    try:
        if config_map is not None:
            keys = await context.core.config_map_keys(namespace, config_map.name)
        elif secret_ref is not None:
            secret = await context.core.secret(namespace, secret_ref.name)
            keys = frozenset(secret.data) if secret is not None else None
        else:
            return None
    except ApiException as error:
        if error.status != 403:
            raise
        logger.warning("cannot read the audience of a campaign in %s: %s", namespace,
                       error.reason)
        return None
    return AudienceSeen(keys=keys)


async def apply_campaign_plan(campaign: Campaign, plan: CampaignPlan, world: CampaignWorld,
                              memo: Any) -> None:
    """Do what the plan says, in an order that survives a crash between any two steps."""
    context: OperatorContext = memo.context
    namespace, name = campaign.metadata.namespace or "", campaign.metadata.name
    keys = CampaignKeys(namespace, name)
    if plan.actions.close_ingest:  # before anything is counted cancelled
        await close_ingest(context.redis, keys)
    if plan.reset_run and world.run is not None:
        await delete_run(context.redis, keys, world.run.config.streams)
    if plan.actions.write_run is not None:  # before the Jobs that read it
        await write_run(context.redis, plan.actions.write_run)
    if plan.actions.open_trigger:
        config = plan.actions.write_run or (world.run.config if world.run else None)
        assert config is not None
        await open_trigger_run(context.redis, keys, config.streams)
    if plan.actions.write_ingest is not None:  # once the streams are there
        await write_ingest(context.redis, keys, plan.actions.write_ingest)
    if plan.actions.hand_rest is not None:  # before the winner's senders
        await hand_rest_over(context.redis, keys, plan.actions.hand_rest)
    for child in plan.actions.create:
        if await context.core.create_job(child):
            logger.info("created Job %s/%s", namespace, child["metadata"]["name"])
    owner = Owner(namespace, name, campaign.metadata.uid or "")
    if plan.actions.suspend_import:
        await context.core.patch_job(namespace, import_job_name(owner), {"spec": {"suspend": True}})
    sender_patch = _sender_patch(plan)
    if sender_patch:
        await context.core.patch_job(
            namespace, sender_job_name(owner, plan.actions.patch_winner_job), sender_patch)
    if plan.actions.cancel_remaining and world.run is not None:
        config = world.run.config
        count = await cancel_remaining(
            context.redis, keys, config.streams,
            rest_from=config.lanes.first if config.lanes.rest else None,
            rest_variant=config.rest_variant,
            channels=[config.channel_of(lane).name for lane in range(config.streams)])
        logger.info("campaign %s/%s: %d messages counted cancelled", namespace, name, count)
    if plan.delete_run and world.run is not None:
        await delete_run(context.redis, keys, world.run.config.streams)


def _sender_patch(plan: CampaignPlan) -> dict[str, Any] | None:
    spec: dict[str, Any] = {}
    if plan.actions.sender_suspend is not None:
        spec["suspend"] = plan.actions.sender_suspend
    if plan.actions.sender_parallelism is not None:
        spec["parallelism"] = plan.actions.sender_parallelism
    return {"spec": spec} if spec else None


def remember_sample(memo: Any, key: tuple[str, str], world: CampaignWorld) -> None:
    """Keep this fold's sent count for the next fold's rate and the stall check."""
    context: OperatorContext = memo.context
    if world.run is None:
        return
    count = sent(world.run.counters)
    previous, last_progress = context.campaign_samples.get(key, (None, None))
    if previous is None or count != previous.sent or last_progress is None:
        last_progress = world.now
    context.campaign_samples[key] = (Sample(world.now, count), last_progress)


async def sample_timeline(context: OperatorContext, key: tuple[str, str], plan: CampaignPlan,
                          world: CampaignWorld) -> None:
    """Append this fold's counters to the run's timeline when one is due (at most every
    timeline_sample_seconds, while they move): `herald report` draws its rates."""
    if plan.delete_run or plan.reset_run:
        context.timeline_marks.pop(key, None)  # its timeline went with the run
        return
    if world.run is None:
        return
    mark = next_timeline_mark(context.timeline_marks.get(key), world.now, world.run.counters,
                              context.config.timeline_sample_seconds, TIMELINE_MAX)
    if mark is None:
        return
    first = await append_sample(context.redis, CampaignKeys(*key),
                                TimelineSample(mark.at.timestamp(), *mark.values))
    context.timeline_marks[key] = dataclasses.replace(
        mark, first=datetime.fromtimestamp(first, UTC))  # after a restart: the run's start


COMPACT_BUDGET = 20_000
"""Stream entries a lane's compaction reads per reconcile (one a second while a run
sends): above one sender's msg/s, so the records keep up with the sending."""


async def compact_final(context: OperatorContext, key: tuple[str, str], plan: CampaignPlan,
                        world: CampaignWorld) -> None:
    """Move the run's final messages to their compact records (sender.store.final_records):
    ~30 bytes a recipient in Redis instead of ~180, once each is final."""
    if plan.delete_run or plan.reset_run or world.run is None or not world.run.import_done:
        return
    await compact_run(context.redis, CampaignKeys(*key), world.run.config.streams,
                      COMPACT_BUDGET, whole=finished(plan.status) is not None)


REDIS_RETRY_SECONDS = 2


@kopf.timer(*CAMPAIGNS, id="reconcile", interval=FOLD_INTERVAL)  # type: ignore[arg-type]
async def reconcile_campaign(
    body: kopf.Body, memo: Any, templates_seen: TemplateIndex, channels_seen: ChannelIndex,
    campaign_jobs: JobIndex, runs_of_campaigns: RunIndex, **_: Any,
) -> None:
    if (body.get("spec", {}).get("schedule") or {}).get("recurrence"):
        await reconcile_recurring(body, memo, runs_of_campaigns)  # its runs do the work
        return
    await reconcile_one(body, memo, Campaign.PLURAL, templates_seen, channels_seen,
                        campaign_jobs)


async def reconcile_one(
    body: kopf.Body, memo: Any, plural: str, templates_seen: TemplateIndex,
    channels_seen: ChannelIndex, campaign_jobs: JobIndex,
) -> None:
    """Observe, plan, apply and write status for a Campaign, or a CampaignRun (`plural`),
    which reads as a Campaign (its spec is one, and its scheduledTime is not used)."""
    context: OperatorContext = memo.context
    if body.get("metadata", {}).get("deletionTimestamp"):
        return
    key = (body.get("metadata", {}).get("namespace") or "", body.get("metadata", {})["name"])
    if not reconcile_due(body, context.campaign_due.get(key), time.monotonic()):
        return  # a finished campaign: no Redis read until it asks for one (plan)
    campaign = Campaign.model_validate(body)
    now = context.clock()
    try:
        world = await observe_campaign(campaign, memo, templates_seen, channels_seen,
                                       campaign_jobs, now)
        plan = plan_campaign(campaign, world, context.plan_settings)
        await apply_campaign_plan(campaign, plan, world, memo)
        await sample_timeline(context, key, plan, world)
        await compact_final(context, key, plan, world)
    except (RedisError, OSError) as error:
        # Redis away (a failover, a restart): try again soon, not after kopf's default
        # 60 s backoff for a failed timer.
        raise kopf.TemporaryError(f"Redis: {error}", delay=REDIS_RETRY_SECONDS) from error
    patch = merge_patch_diff(dict(body.get("status") or {}), plan.status.to_api())
    if patch:
        await context.kube.patch_status(plural, campaign.metadata.namespace or "",
                                        campaign.metadata.name, patch)
        context.status_writes[(campaign.metadata.namespace or "", campaign.metadata.name)] += 1
        metrics.STATUS_WRITES.labels("Campaign").inc()
    metrics.export_campaign(f"{campaign.metadata.namespace}/{campaign.metadata.name}", plan.status)
    post_events(body, plan.events)
    remember_sample(memo, (campaign.metadata.namespace or "", campaign.metadata.name), world)
    context.campaign_due[key] = time.monotonic() + plan.requeue_after_seconds


@kopf.on.delete(*CAMPAIGNS, id="forget-run")  # type: ignore[arg-type]
async def forget_campaign(namespace: str | None, name: str, memo: Any, body: kopf.Body,
                          runs_of_campaigns: RunIndex, **_: Any) -> None:
    """The Campaign is going: delete its run from Redis (its Jobs go by ownerReferences),
    and a recurring one's runs (the garbage collector would; the local stack has none)."""
    await delete_runs(body, memo, runs_of_campaigns)
    await forget_run(namespace, name, memo)


async def forget_run(namespace: str | None, name: str, memo: Any) -> None:
    """Delete a Campaign's or CampaignRun's run from Redis, and what the operator keeps."""
    context: OperatorContext = memo.context
    keys = CampaignKeys(namespace or "", name)
    state = await read_run(context.redis, keys)
    if state.config is not None:
        await delete_run(context.redis, keys, state.config.streams)
    context.campaign_samples.pop((namespace or "", name), None)
    context.campaign_due.pop((namespace or "", name), None)
    context.ingest_tokens.pop((namespace or "", name), None)
    context.guard_opt_outs.pop((namespace or "", name), None)
    context.timeline_marks.pop((namespace or "", name), None)
    metrics.forget_campaign(f"{namespace}/{name}")
