"""What the ingest process needs of a trigger Api campaign, as the operator writes it to
Redis (sender.store.ingest_queue): the contract between the two, like sender.run_config
for the Job pods. Pure data, so the operator's decisions may build it."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field


def token_digest(token: str) -> str:
    """What the operator writes to Redis for a bearer token: its hex SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class IngestRun(BaseModel):
    """What the ingest process needs of a campaign taking events; written by the operator."""

    token_sha256: str
    """Hex SHA-256 of the bearer token (the token itself never leaves its Secret)."""
    shards: int = Field(ge=1)
    default_region: str = ""
    variants: list[tuple[str, int]] = Field(default_factory=list)
    required: dict[str, list[str]] = Field(default_factory=dict)
    """By variant ("" without variants), the variables its template uses."""
    max_queued: int = Field(ge=1)
    retention_seconds: int = Field(ge=1)
    rate_per_second: int = Field(ge=1)
    """The campaign's send rate (its rateLimit, else its channel's), for Retry-After."""
    recipient_zones: bool = False
    """Give each message its number's own time zone (field z, as the importer does),
    for quiet hours and per-recipient send windows (RunConfig.audience.recipient_zones)."""
