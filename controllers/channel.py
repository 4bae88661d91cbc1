"""kopf handlers for Channel: resolve the password Secret, keep the receiver, check a
bind, report binds and throughput.

Create, update, resume and a timer run one reconcile under a per-channel lock. The
timer samples the channel's activity in Redis every 5 seconds (binds up, submits) for
status; every HERALD_CHANNEL_RECHECK_SECONDS (30 while not Ready) it also checks the
Secret and a bind, so a carrier that comes back or a Secret that is fixed turns the
channel Ready without anyone touching it. Once the Secret resolves, the channel's
receiver Deployment is kept (controllers.decisions.receiver_deployment). The decision is
`channel_plan.plan_channel`. Deleting a Channel waits while campaigns that have not
finished still use it, and says so in its status; then it removes the receiver and
the channel's Redis keys.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from redis.exceptions import RedisError

from controllers import metrics
from controllers.context import OperatorContext
from controllers.decisions import reasons
from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.campaign_plan import FINISHED
from controllers.decisions.campaign_run import receiver_binds, smpp_target
from controllers.decisions.campaign_world import ChannelSeen
from controllers.decisions.channel_plan import (
    ActivitySeen,
    ChannelWorld,
    SecretSeen,
    SourceSeen,
    TlsSeen,
    binds_up_result,
    measured_rate,
    plan_channel,
    secret_problem,
    tls_problem,
)
from controllers.decisions.events import Event
from controllers.decisions.receiver_deployment import (
    build_receiver_deployment,
    needs_replacing,
    receiver_name,
)
from controllers.decisions.status import merge_patch_diff
from controllers.template import post_events
from crds.base import GROUP, VERSION, ConditionStatus, find_condition
from crds.channel import CaSourceKind, Channel, ChannelSpec
from sender.run_config import TlsMaterial
from sender.smpp.bind import BindSettings
from sender.smpp.probe import ProbeResult, probe_bind
from sender.store.channel_activity import BindSlot, forget_channel, read_activity
from sender.store.keys import ChannelKeys

logger = logging.getLogger(__name__)

CHANNELS = (GROUP, VERSION, Channel.PLURAL)
SAMPLE_SECONDS = 5.0
NOT_READY_RECHECK_SECONDS = 30.0
RATE_WINDOW_SECONDS = 60.0
CAMPAIGNS = (GROUP, VERSION, "campaigns")

ChannelIndex = kopf.Index[tuple[str, str], ChannelSeen]


@kopf.index(*CHANNELS)
def channels_seen(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], ChannelSeen] | None:
    """(namespace, name) -> the channel's spec and readiness, for campaigns."""
    try:
        channel = Channel.model_validate(body)
    except ValueError:
        return None  # not valid against the models: campaigns see it as missing
    ready = find_condition(channel.status.conditions, "Ready")
    return {(namespace or "", name): ChannelSeen(
        spec=channel.spec,
        ready=ready is not None and ready.status == ConditionStatus.TRUE
        and ready.observed_generation == channel.metadata.generation,
        reason=ready.reason if ready else "NotChecked",
        message=ready.message if ready else "the operator has not checked it yet",
        not_ready_since=(ready.last_transition_time if ready is not None
                         and ready.status != ConditionStatus.TRUE else None),
    )}


@kopf.index(*CAMPAIGNS)
def campaigns_by_channel(
    namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], str]:
    """(namespace, channel) -> names of campaigns that have not finished and list it."""
    conditions = status.get("conditions") or ()
    ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    if ready.get("reason") in FINISHED:
        return {}
    return {(namespace or "", str(c.get("name"))): name for c in spec.get("channels", [])}


def read_password(data: dict[str, str] | None, key: str) -> tuple[SecretSeen, str]:
    if data is None:
        return SecretSeen(found=False), ""
    text = _decoded(data.get(key))
    if text is None:  # absent, or not base64 text
        return SecretSeen(found=True), ""
    password = text.strip()
    return SecretSeen(found=True, has_key=True, password_length=len(password)), password


def bind_settings(spec: ChannelSpec, password: str,
                  tls: TlsMaterial | None = None) -> BindSettings:
    """The bind check's settings: the channel's own, with timeouts short enough that a
    check answers within one reconcile."""
    return smpp_target(spec).bind_settings(
        password, tls, connect_timeout=10.0,
        response_timeout=min(spec.smpp.response_timeout_seconds, 10))


async def read_tls(context: OperatorContext, namespace: str,
                   spec: ChannelSpec) -> tuple[TlsSeen, TlsMaterial]:
    """The CA bundle and client certificate the channel's TLS names, from the API."""
    tls = spec.smpp.tls
    if tls is None:
        return TlsSeen(), TlsMaterial()
    ca_seen = cert_seen = None
    ca_pem = cert_pem = key_pem = ""
    if tls.ca_ref is not None:
        ref = tls.ca_ref
        if ref.kind == CaSourceKind.CONFIG_MAP:
            data = await context.core.config_map(namespace, ref.name)
            text = data.get(ref.key) if data is not None else None
        else:
            secret = await context.core.secret(namespace, ref.name)
            data = secret.data if secret is not None else None
            text = _decoded(data.get(ref.key)) if data is not None else None
        ca_seen = SourceSeen(found=data is not None,
                             missing_keys=() if text or data is None else (ref.key,))
        ca_pem = text or ""
    if tls.client_cert_secret_ref is not None:
        secret = await context.core.secret(namespace, tls.client_cert_secret_ref.name)
        data = secret.data if secret is not None else {}
        cert_pem, key_pem = (_decoded(data.get("tls.crt")) or "",
                             _decoded(data.get("tls.key")) or "")
        cert_seen = SourceSeen(
            found=secret is not None,
            missing_keys=tuple(k for k, v in (("tls.crt", cert_pem), ("tls.key", key_pem))
                               if not v))
    return TlsSeen(ca_seen, cert_seen), TlsMaterial(ca_pem, cert_pem, key_pem)


def _decoded(value: str | None) -> str | None:
    """A Secret value as text; None when absent or not valid base64 text."""
    if value is None:
        return None
    try:
        return base64.b64decode(value).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


async def reconcile_channel_now(namespace: str, name: str, memo: Any, *, check: bool) -> None:
    """Sample the channel's activity; with `check`, also resolve its Secret, keep its
    receiver Deployment and check a bind. Write status if it changed."""
    context: OperatorContext = memo.context
    async with context.channel_locks[(namespace, name)]:
        body = await context.kube.get(Channel.PLURAL, namespace, name)
        if body is None or body.get("metadata", {}).get("deletionTimestamp"):
            return
        channel = Channel.model_validate(body)
        activity = await observe_activity(memo, namespace, name)
        seen: SecretSeen | None = None
        tls_seen = TlsSeen()
        probe = None
        if check:
            context.channel_checked[(namespace, name)] = time.monotonic()
            ref = channel.spec.smpp.password_secret_ref
            secret = await context.core.secret(namespace, ref.name)
            seen, password = read_password(secret.data if secret else None, ref.key)
            tls_seen, material = await read_tls(context, namespace, channel.spec)
            if (secret is not None and secret_problem(channel.spec, seen) is None
                    and tls_problem(channel.spec, tls_seen) is None):
                await keep_receiver(memo, channel, body, secret.version)
                checked = channel.status.observed_generation == channel.metadata.generation
                if checked and activity is not None and activity.bound:
                    probe = binds_up_result(channel.spec, activity.bound)
                else:
                    probe = await check_bind(memo, channel, password, material)
        decision = plan_channel(channel.spec, channel.metadata.generation, channel.status,
                                ChannelWorld(datetime.now(UTC), seen, probe, activity,
                                             tls_seen, context.config.channel_receivers))
        patch = merge_patch_diff(dict(body.get("status") or {}), decision.status.to_api())
        if patch:
            await context.kube.patch_status(Channel.PLURAL, namespace, name, patch)
            metrics.STATUS_WRITES.labels("Channel").inc()
        metrics.export_channel(f"{namespace}/{name}", decision.status)
        post_events(body, decision.events)


async def observe_activity(memo: Any, namespace: str, name: str) -> ActivitySeen | None:
    """Binds up and the submit rate over the last minute, from what the pods note in Redis."""
    context: OperatorContext = memo.context
    try:
        activity = await read_activity(context.redis, ChannelKeys(namespace, name), time.time())
    except (RedisError, OSError) as error:
        logger.warning("channel %s/%s: cannot read its activity in Redis: %s",
                       namespace, name, error)
        return None
    samples = context.channel_samples[(namespace, name)]
    samples.append((activity.at, activity.submitted))
    while samples and samples[0][0] < activity.at - RATE_WINDOW_SECONDS:
        samples.popleft()
    return ActivitySeen(activity.bound, activity.receiver_bound, measured_rate(samples))


async def check_bind(memo: Any, channel: Channel, password: str,
                     tls: TlsMaterial) -> ProbeResult:
    """One bind to the SMSC, in a slot of the channel's bind cap like any other bind:
    when every slot is taken, binds are up, which says as much as the check would."""
    context: OperatorContext = memo.context
    meta = channel.metadata
    slot = BindSlot(context.redis, ChannelKeys(meta.namespace or "", meta.name),
                    "probe/operator", channel.spec.max_binds)
    if not await slot.try_acquire():
        return binds_up_result(channel.spec, channel.spec.max_binds)
    try:
        return await probe_bind(bind_settings(channel.spec, password, tls))
    finally:
        await slot.release()


def wants_receiver(memo: Any, spec: ChannelSpec) -> bool:
    """A receiver takes one of the carrier's binds: only when at least one is left."""
    context: OperatorContext = memo.context
    return receiver_binds(spec, context.config.channel_receivers) > 0


async def keep_receiver(memo: Any, channel: Channel, body: kopf.Body | dict[str, Any],
                        secret_version: str) -> None:
    """Create the channel's receiver Deployment, or replace it when the channel or its
    Secret changed; delete it when the channel no longer wants one. A refusal (RBAC,
    quota) is logged and posted, not raised: the channel's status must still be written."""
    context: OperatorContext = memo.context
    meta = channel.metadata
    owner = Owner(meta.namespace or "", meta.name, meta.uid or "")
    try:
        if not wants_receiver(memo, channel.spec):
            await context.deployments.delete(owner.namespace, receiver_name(owner.name))
            return
        desired = build_receiver_deployment(owner, channel.spec, context.config.pod_settings(),
                                            secret_version=secret_version)
        existing = await context.deployments.get(owner.namespace, receiver_name(owner.name))
        if needs_replacing(existing, desired):
            await context.deployments.apply(desired, existing)
    except ApiException as error:
        message = (f"cannot keep the receiver Deployment {receiver_name(owner.name)}:"
                   f" {error.status} {error.reason}")
        logger.warning("channel %s: %s", owner.ref, message)
        post_events(body, [Event("Warning", reasons.RECEIVER_FAILED, message)])


@kopf.on.resume(*CHANNELS, id="check-on-resume")
@kopf.on.create(*CHANNELS, id="check-on-create")
@kopf.on.update(*CHANNELS, id="check-on-update", field="spec")
async def reconcile_channel(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    await reconcile_channel_now(namespace or "", name, memo, check=True)


@kopf.timer(*CHANNELS, id="recheck", interval=SAMPLE_SECONDS, initial_delay=SAMPLE_SECONDS)
async def recheck_channel(
    namespace: str | None, name: str, status: kopf.Status, memo: Any, **_: Any
) -> None:
    """Sample binds and throughput every few seconds. Check the Secret and a bind again
    every HERALD_CHANNEL_RECHECK_SECONDS; a channel that is not Ready, every 30 seconds
    at most, so a fixed Secret or a carrier back up shows soon."""
    context: OperatorContext = memo.context
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions", []))
    interval = context.config.channel_recheck_seconds
    if not ready:
        interval = min(interval, NOT_READY_RECHECK_SECONDS)
    last = context.channel_checked.get((namespace or "", name), 0.0)
    await reconcile_channel_now(namespace or "", name, memo,
                                check=time.monotonic() - last >= interval)


@kopf.on.delete(*CHANNELS, id="wait-for-campaigns")  # type: ignore[arg-type]
async def release_channel(
    namespace: str | None, name: str, body: kopf.Body, memo: Any,
    campaigns_by_channel: kopf.Index[tuple[str, str], str], **_: Any,
) -> None:
    """Hold the deletion while unfinished campaigns list this channel."""
    context: OperatorContext = memo.context
    async with context.channel_locks[(namespace or "", name)]:  # no reconcile half-way
        await _release_channel(namespace or "", name, body, memo, campaigns_by_channel)


async def _release_channel(namespace: str, name: str, body: kopf.Body, memo: Any,
                           campaigns_by_channel: kopf.Index[tuple[str, str], str]) -> None:
    context: OperatorContext = memo.context
    users = sorted(set(campaigns_by_channel.get((namespace, name), ())))
    if users:
        message = (f"deletion waits for campaigns that use this channel: {', '.join(users)};"
                   " cancel or finish them")[:256]
        if body.get("status", {}).get("message") != message:  # once per change, not per retry
            await context.kube.patch_status(Channel.PLURAL, namespace, name,
                                         {"message": message})
            kopf.event(body, type="Warning", reason=reasons.CHANNEL_IN_USE, message=message)
        raise kopf.TemporaryError(message, delay=10)
    # The Deployment is the Channel's (ownerReferences), but a cluster's garbage
    # collector takes its time; the receiver's bind should go now. Its keys go once it
    # has unbound (else its last heartbeat could write them again).
    await context.deployments.delete(namespace, receiver_name(name))
    keys = ChannelKeys(namespace, name)
    if (await read_activity(context.redis, keys, time.time())).receiver_bound:
        raise kopf.TemporaryError("waiting for the channel receiver to unbind", delay=1)
    await forget_channel(context.redis, keys)
    context.channel_checked.pop((namespace, name), None)
    context.channel_samples.pop((namespace, name), None)
    metrics.forget_channel(f"{namespace}/{name}")
