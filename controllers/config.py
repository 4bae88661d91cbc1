"""Operator configuration, from the environment the Deployment sets."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from controllers.decisions.pod_spec import PodSettings
from crds.campaign import CLOCK_PATTERN, QuietHours
from crds.template import Category
from sender.sms.links import base_url_problem

# ConfigMaps with this label hold sensitive words, one per line in any data key.
# Those in the operator's namespace apply everywhere; others to their own namespace.
SENSITIVE_WORDS_LABEL = "sms.herald.dev/sensitive-words"


@dataclass(frozen=True)
class OperatorConfig:
    namespace: str
    """Namespace the operator runs in."""
    manual_review_categories: frozenset[Category]
    """Template categories that always need a TemplateApproval, whatever spec.review says."""
    redis_url: str = "redis://herald-redis:6379/0"
    """Herald's Redis, for the operator and (unless pod_redis_url says otherwise) its pods."""
    redis_password: str = field(default="", repr=False)
    pod_redis_url: str = ""
    """The Redis URL the importer and sender pods use, if not redis_url."""
    pod_redis_secret: str = ""
    """Secret (key `password`) in each campaign's namespace with the Redis password."""
    image: str = "ghcr.io/herald-sms/herald:latest"
    """The image of the importer and sender pods (the operator's own)."""
    image_pull_secrets: tuple[str, ...] = ()
    """Pull secrets the pods name (each must exist in the campaign's namespace)."""
    retention_seconds: int = 7 * 24 * 3600
    """A finished campaign's Redis keys are deleted this long after it finished."""
    receipt_wait_seconds: float = 10.0
    """How long a sender waits for receipts after its last submit."""
    channel_recheck_seconds: float = 300.0
    """How often a Channel's Secret and bind are checked again."""
    stall_seconds: int = 300
    degraded_failure_percent: int = 20
    opt_out_count_seconds: float = 60.0
    """How often the opt-outs of a campaign with spec.autoPause.maxOptOutPercent are
    counted (a scan of its run's queues in Redis) while it sends."""
    timeline_sample_seconds: float = 10.0
    """How often at most a running campaign's counters are sampled into its run's
    timeline in Redis (the rate charts of `herald report`); less often once a run is
    long, so that at most 4,320 samples span all of it (sender.store.run_timeline)."""
    channel_receivers: bool = True
    """Keep a receiver Deployment per Channel (late receipts, replies). Off for carriers
    that allow no extra bind: receipts then come only while senders run."""
    marketing_quiet_hours: QuietHours | None = field(default_factory=QuietHours)
    """Quiet hours of campaigns with a Marketing template that set none of their own
    (recipient-local); None: none."""
    links_base_url: str = ""
    """The base URL of tracked links' short links (`herald links` serves it); "": the
    install has none, and templates with {link:URL} are rejected."""

    def pod_settings(self) -> PodSettings:
        return PodSettings(image=self.image, redis_url=self.pod_redis_url or self.redis_url,
                           redis_password_secret=self.pod_redis_secret,
                           image_pull_secrets=self.image_pull_secrets)

    @classmethod
    def from_env(cls) -> OperatorConfig:
        env = os.environ.get
        return cls(
            namespace=env("HERALD_NAMESPACE", "herald"),
            manual_review_categories=parse_categories(
                env("HERALD_MANUAL_REVIEW_CATEGORIES", "")
            ),
            redis_url=env("HERALD_REDIS_URL", cls.redis_url),
            redis_password=env("HERALD_REDIS_PASSWORD", ""),
            pod_redis_url=env("HERALD_POD_REDIS_URL", ""),
            pod_redis_secret=env("HERALD_POD_REDIS_SECRET", ""),
            image=env("HERALD_IMAGE", cls.image),
            image_pull_secrets=tuple(
                name.strip() for name in env("HERALD_IMAGE_PULL_SECRETS", "").split(",")
                if name.strip()),
            retention_seconds=int(env("HERALD_RETENTION_SECONDS", cls.retention_seconds)),
            receipt_wait_seconds=float(env("HERALD_RECEIPT_WAIT_SECONDS",
                                           cls.receipt_wait_seconds)),
            channel_recheck_seconds=float(env("HERALD_CHANNEL_RECHECK_SECONDS",
                                              cls.channel_recheck_seconds)),
            stall_seconds=int(env("HERALD_STALL_SECONDS", cls.stall_seconds)),
            timeline_sample_seconds=float(env("HERALD_TIMELINE_SAMPLE_SECONDS",
                                              cls.timeline_sample_seconds)),
            channel_receivers=env("HERALD_CHANNEL_RECEIVERS", "true").lower() != "false",
            degraded_failure_percent=int(env("HERALD_DEGRADED_FAILURE_PERCENT",
                                             cls.degraded_failure_percent)),
            opt_out_count_seconds=float(env("HERALD_OPT_OUT_COUNT_SECONDS",
                                            cls.opt_out_count_seconds)),
            marketing_quiet_hours=parse_quiet_hours(
                env("HERALD_MARKETING_QUIET_HOURS", "21:00-08:00")),
            links_base_url=parse_links_base_url(env("HERALD_LINKS_BASE_URL", "")),
        )


def parse_links_base_url(text: str) -> str:
    """"https://go.example" -> it; "" -> none; a URL that cannot be one fails the start,
    loudly."""
    text = text.strip()
    if text:
        problem = base_url_problem(text)
        if problem is not None:
            raise ValueError(f"HERALD_LINKS_BASE_URL: {problem}")
    return text.rstrip("/")


def parse_quiet_hours(text: str) -> QuietHours | None:
    """"21:00-08:00" -> those quiet hours; "" or "None" -> none; anything else fails the
    start, loudly."""
    text = text.strip()
    if text in ("", "None"):
        return None
    start, _, end = text.partition("-")
    if not (re.match(CLOCK_PATTERN, start) and re.match(CLOCK_PATTERN, end)):
        raise ValueError(f"HERALD_MARKETING_QUIET_HOURS: {text!r} is not HH:MM-HH:MM"
                         " (e.g. 21:00-08:00) or None")
    return QuietHours(start=start, end=end)


def parse_categories(text: str) -> frozenset[Category]:
    """"Marketing,Notification" -> the categories; an unknown name fails the start, loudly."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return frozenset(Category(name) for name in names)
    except ValueError as exc:
        known = ", ".join(c.value for c in Category)
        raise ValueError(f"HERALD_MANUAL_REVIEW_CATEGORIES: {exc}; known: {known}") from exc

