"""A trigger Api campaign's side of the plan: its token, and the ingest settings the
`herald ingest` pods take from Redis (sender.ingest_run.IngestRun).

Pure. Such a campaign has no audience and no importer: the operator opens its run
(streams, the senders' group, the import marked done) and writes its IngestRun, and its
senders follow their streams until the campaign is cancelled. The ingest pods never
read the Kubernetes API: the operator reads the token's Secret and gives them its
SHA-256 only, again every TOKEN_RECHECK_SECONDS, so a rotated or deleted token holds
within that time.
"""

from __future__ import annotations

from dataclasses import dataclass

from crds.campaign import CampaignSpec
from sender.ingest_run import IngestChannel, IngestRun, token_digest
from sender.run_config import RunConfig
from sender.sms.text import find_variables

TOKEN_RECHECK_SECONDS = 10.0
"""How often a running trigger campaign's token Secret is read again."""
MIN_TOKEN_CHARS = 16
NO_TOKEN = ""
"""The digest written while the token is missing: no SHA-256 equals it, so the ingest
pods take no token at all."""


@dataclass(frozen=True)
class TokenSeen:
    """The token Secret of a trigger campaign, as the handler read it."""

    token: str | None = None
    """The key's text; None when the Secret or its key is missing."""
    missing: str = ""
    """Why it is None: which Secret or key is not there."""
    ref: tuple[str, str] = ("", "")
    """The Secret and key it was read from (an edited reference is read at once)."""

    def __repr__(self) -> str:  # never in a log
        return f"TokenSeen(present={self.token is not None}, missing={self.missing!r})"


def messages_path(namespace: str, name: str) -> str:
    return f"/v1/namespaces/{namespace}/campaigns/{name}/messages"


def token_problem(seen: TokenSeen | None) -> str | None:
    """Why the token cannot be used, None when it can."""
    if seen is None or seen.token is None:
        return seen.missing if seen is not None and seen.missing else "not read yet"
    if len(seen.token.strip()) < MIN_TOKEN_CHARS:
        return f"it is shorter than {MIN_TOKEN_CHARS} characters"
    return None


def ingest_run(spec: CampaignSpec, config: RunConfig, seen: TokenSeen | None) -> IngestRun:
    """What the ingest pods need of the campaign now: the token's digest (NO_TOKEN while
    it cannot be used), where and how its events are queued, and its bounds."""
    assert spec.ingest is not None  # trigger Api (the schema's rule)
    digest = (token_digest(seen.token.strip())
              if seen is not None and seen.token is not None and token_problem(seen) is None
              else NO_TOKEN)
    channel_rate = sum(c.rate for c in config.channels if c.name not in config.unavailable)
    rate = config.campaign_rate or channel_rate
    return IngestRun(
        token_sha256=digest,
        shards=config.shards,
        default_region=spec.ingest.default_region,
        variants=config.audience.variants,
        required={variant: find_variables(template.body)
                  for variant, template in config.templates.items()},
        max_queued=spec.ingest.max_queued,
        retention_seconds=spec.ingest.retention_seconds,
        rate_per_second=max(1, min(rate, channel_rate)),
        recipient_zones=config.audience.recipient_zones,
        channels=[IngestChannel(name=c.name, routing=c.routing,
                                available=c.name not in config.unavailable)
                  for c in config.channels],
    )
