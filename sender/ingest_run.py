"""What the ingest process needs of a trigger Api campaign, as the operator writes it to
Redis (sender.store.ingest_queue): the contract between the two, like sender.run_config
for the Job pods. Pure data, so the operator's decisions may build it."""

from __future__ import annotations

import functools
import hashlib

from pydantic import BaseModel, Field

from crds.channel import Routing
from sender.sms.lanes import Lanes
from sender.sms.routing import Route, Router


class IngestChannel(BaseModel):
    """One channel of the run, as events are routed to it."""

    name: str
    routing: Routing = Field(default_factory=Routing)
    available: bool = True
    """False: routing passes over it (RunConfig.unavailable)."""


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
    channels: list[IngestChannel] = Field(default_factory=list)
    """The run's channels in the campaign's order; each event goes to the lane of its
    shard and of the first available one that serves its number (sender.sms.lanes).
    Empty (written before runs were routed): one channel, every number."""

    @property
    def lanes(self) -> Lanes:
        return Lanes(self.shards, max(1, len(self.channels)))

    @functools.cached_property
    def router(self) -> Router | None:
        """None when every number takes the one channel."""
        if len(self.channels) <= 1 and not any(
                c.routing.countries or c.routing.prefixes or c.routing.carriers
                for c in self.channels):
            return None
        return Router([Route.of(c.name, c.routing.countries, c.routing.prefixes,
                                c.routing.carriers) for c in self.channels],
                      [c.name for c in self.channels if not c.available], waits=True)
