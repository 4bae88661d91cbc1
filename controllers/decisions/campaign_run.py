"""A campaign's run configuration (sender.run_config.RunConfig), resolved from its spec.

Pure. The run takes the templates, the channel and the audience settings once, when it
starts: the importer and every sender (a restarted one too) then work from the same
content, whatever is edited later. Which fields are frozen this way, and which still
apply to a running campaign, is decided here and told to the user by an Event.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from controllers.decisions.campaign_jobs import AUDIENCE_FILE, Owner
from crds.campaign import CampaignSpec, CampaignTrigger, QuietHours
from crds.channel import BindMode, ChannelSpec
from crds.template import Category, TemplateSpec
from sender.run_config import (
    AudienceSource,
    ChannelTarget,
    ImportSettings,
    LinkSettings,
    RunConfig,
    SendTimesConfig,
    SmppTarget,
    SuppressionSource,
    TlsTarget,
)
from sender.sms.text import find_links

# Spec fields a run takes once, at its start; edits to them later do not apply. A dotted
# name is a field inside one (the rest of spec.winner applies until the decision).
FROZEN_FIELDS = ("templateRef", "variants", "holdoutPercent", "channels", "audience",
                 "compliance", "trigger", "winner.testPercent", "canary.percent")


def template_names(spec: CampaignSpec) -> dict[str, str]:
    """Variant name ("" without variants) -> Template name."""
    if spec.variants:
        return {v.name: v.template_ref.name for v in spec.variants}
    assert spec.template_ref is not None  # the schema requires one of the two
    return {"": spec.template_ref.name}


def frozen_fields(spec: CampaignSpec) -> dict[str, Any]:
    body = spec.to_api()
    return {name: _field(body, name) for name in FROZEN_FIELDS}


def _field(body: Mapping[str, Any], path: str) -> Any:
    outer, _, inner = path.partition(".")
    value = body.get(outer)
    return value.get(inner) if inner and isinstance(value, Mapping) else value


def frozen_hash(spec: CampaignSpec) -> str:
    text = json.dumps(frozen_fields(spec), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def frozen_changes(spec: CampaignSpec, config: RunConfig) -> list[str]:
    """The frozen fields edited since the run started (empty when none).

    The fields as the run took them are read through today's models first, so a run
    started by an older operator is not reported edited for a field added since (with
    its default) or one taken away."""
    if frozen_hash(spec) == config.frozen_hash:
        return []
    now = frozen_fields(spec)
    then = config.frozen_fields
    body = spec.to_api()
    for name in FROZEN_FIELDS:
        outer, _, inner = name.partition(".")
        holder = body.get(outer) if inner else body
        if not isinstance(holder, dict):
            continue
        if then.get(name) is None:
            holder.pop(inner or outer, None)
        else:
            holder[inner or outer] = then[name]
    with contextlib.suppress(ValidationError):
        then = frozen_fields(CampaignSpec.model_validate(body))
    return [name for name in FROZEN_FIELDS if then.get(name) != now[name]]


def smpp_target(spec: ChannelSpec) -> SmppTarget:
    """The channel's SMPP settings as every process takes them (the password apart)."""
    smpp = spec.smpp
    return SmppTarget(
        host=smpp.host, port=smpp.port, system_id=smpp.system_id,
        tls=None if smpp.tls is None else TlsTarget(
            server_name=smpp.tls.server_name,
            insecure_skip_verify=smpp.tls.insecure_skip_verify),
        system_type=smpp.system_type, mode=smpp.bind_mode.value, window=smpp.window,
        binds=spec.max_binds, max_binds=spec.max_binds,
        enquire_link_interval_seconds=smpp.enquire_link_interval_seconds,
        response_timeout_seconds=smpp.response_timeout_seconds,
        source_addr=smpp.source_addr, source_addresses=smpp.source_addresses or [],
        source_selection=smpp.source_selection, gsm7_coding=smpp.gsm7_coding,
        default_region=spec.default_region, opt_in_keywords=spec.opt_in.keywords,
        keyword_replies=spec.keyword_replies is not None,
    )


def channel_policy(spec: ChannelSpec) -> dict[str, Any]:
    """The fields of sender.run_config.ChannelPolicy: the channel's rate and retries."""
    retry = spec.retry
    return {"rate": spec.rate_limit.messages_per_second, "burst": spec.rate_limit.burst,
            "max_attempts": retry.max_attempts,
            "initial_backoff_seconds": retry.initial_backoff_seconds,
            "max_backoff_seconds": retry.max_backoff_seconds,
            "resend_unknown": retry.resend_unknown,
            "error_overrides": {o.command_status: o.error_class for o in retry.overrides}}


def channel_target(name: str, spec: ChannelSpec) -> ChannelTarget:
    return ChannelTarget(name=name, smpp=smpp_target(spec), fail_over=spec.retry.fail_over,
                         routing=spec.routing, **channel_policy(spec))


def binds_per_unit(spec: ChannelSpec) -> int:
    """Binds one sender unit takes: a transceiver, or a transmitter and a receiver."""
    return 2 if spec.smpp.bind_mode == BindMode.TRANSMITTER_AND_RECEIVER else 1


def receiver_binds(spec: ChannelSpec, receivers: bool) -> int:
    """Binds the channel's receiver takes: one, when receivers are on and the carrier's
    cap leaves senders at least one unit (one bind, or a pair); two when it answers
    keyword replies under bindMode TransmitterAndReceiver (a receiver, a transmitter)."""
    own = 2 if spec.keyword_replies is not None and binds_per_unit(spec) == 2 else 1
    return own if receivers and spec.max_binds - own >= binds_per_unit(spec) else 0


def senders_target(name: str, spec: ChannelSpec, senders: int, receivers: bool, *,
                   endless: bool = False) -> ChannelTarget:
    """The channel as a run's sender pods use it: the binds its cap leaves after the
    receiver's, shared among the pods (each opens at least one; a bind that finds no
    free slot waits for one). `endless`: a trigger Api run, which holds its binds until
    it is cancelled; each pod opens one, leaving the rest to the channel's other
    campaigns (its events come one at a time: one bind's window carries them)."""
    target = channel_target(name, spec)
    free = (spec.max_binds - receiver_binds(spec, receivers)) // binds_per_unit(spec)
    target.smpp.binds = 1 if endless else max(1, free // max(1, senders))
    return target


def send_times(spec: CampaignSpec, templates: Mapping[str, TemplateSpec],
               marketing_quiet_hours: QuietHours | None) -> SendTimesConfig:
    """When the run's messages may go: the schedule's window, and its quiet hours, or
    the operator's default ones when a template is Marketing and the schedule sets none.
    Not frozen: the operator writes it again when the spec changes, and senders take it
    as they run."""
    schedule = spec.schedule
    quiet = schedule.quiet_hours
    if quiet is None and any(t.category == Category.MARKETING for t in templates.values()):
        quiet = marketing_quiet_hours
    return SendTimesConfig(time_zone=schedule.time_zone, window=schedule.send_window,
                           quiet_hours=quiet)


def import_settings(spec: CampaignSpec, recipient_zones: bool = False) -> ImportSettings:
    audience = spec.audience
    if audience is None:  # trigger Api: no import; the settings its events are read with
        return ImportSettings(
            source=AudienceSource(), time_zone=spec.schedule.time_zone,
            default_region=spec.ingest.default_region if spec.ingest else "",
            variants=[(v.name, v.weight) for v in spec.variants or []],
            dedupe=False, respect_opt_outs=spec.compliance.respect_opt_outs,
            recipient_zones=recipient_zones)
    columns = audience.columns
    if audience.inline is not None:
        rows = [{columns.phone: r.phone, **{v.name: v.value for v in r.variables}}
                for r in audience.inline]
        source = AudienceSource(inline=rows)
    elif audience.config_map_ref is not None or audience.secret_ref is not None:
        source = AudienceSource(file=AUDIENCE_FILE, format=audience.format,
                                sheet=audience.sheet, encoding=audience.encoding)
    elif audience.url is not None:
        source = AudienceSource(
            url=audience.url.url,
            headers=audience.url.headers_secret_ref is not None,
            format=audience.format, sheet=audience.sheet, encoding=audience.encoding)
    else:
        source = AudienceSource(redis_key=audience.redis_key or "")
    return ImportSettings(
        source=source, columns=columns, default_region=audience.default_region,
        filter=audience.filter, time_zone=spec.schedule.time_zone,
        variants=[(v.name, v.weight) for v in spec.variants or []],
        dedupe=spec.compliance.dedupe,
        respect_opt_outs=spec.compliance.respect_opt_outs,
        holdout_percent=spec.holdout_percent,
        test_percent=(spec.winner.test_percent if spec.winner else
                      spec.canary.percent if spec.canary else 0),
        recipient_zones=recipient_zones,
        parts=audience.importers,
        suppression_lists=[
            SuppressionSource(name=s.name, column=s.column, url=s.url or "",
                              file="" if s.url else s.name)
            for s in spec.compliance.suppression_lists],
    )


def build_run_config(
    owner: Owner, spec: CampaignSpec, templates: dict[str, TemplateSpec],
    channels: Sequence[tuple[str, ChannelSpec]], receipt_wait_seconds: float, *,
    unavailable: Sequence[str] = (), receivers: bool = True,
    marketing_quiet_hours: QuietHours | None = None, links_base_url: str = "",
) -> RunConfig:
    """Everything the importer and senders need, resolved now and frozen for the run:
    `channels` the campaign's that exist, in its order, `unavailable` those of them
    routing passes over (not Ready)."""
    times = send_times(spec, templates, marketing_quiet_hours)
    return RunConfig(
        campaign={"namespace": owner.namespace, "name": owner.name},
        uid=owner.uid,
        generation=owner.generation,
        frozen_hash=frozen_hash(spec),
        frozen_fields=frozen_fields(spec),
        shards=spec.senders,
        templates=templates,
        channels=[senders_target(name, channel, spec.senders, receivers,
                                 endless=spec.trigger == CampaignTrigger.API)
                  for name, channel in channels],
        unavailable=list(unavailable),
        campaign_rate=spec.rate_limit.messages_per_second if spec.rate_limit else None,
        # Zones are found at import: a run whose send times start per recipient keeps
        # them, one edited to need them later times recipients in schedule.timeZone.
        audience=import_settings(spec, recipient_zones=times.per_recipient),
        frequency_cap=spec.compliance.frequency_cap,
        send_times=times,
        receipt_wait_seconds=receipt_wait_seconds,
        follow=spec.trigger == CampaignTrigger.API,
        links=(LinkSettings(base_url=links_base_url,
                            expire_after_seconds=spec.links.expire_after_seconds)
               if links_base_url and any(find_links(t.body) for t in templates.values())
               else None),
    )
