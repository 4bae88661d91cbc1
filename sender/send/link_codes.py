"""The short links of a read batch's messages: a fresh code per recipient and link,
claimed in Redis before the messages are built (sender.sms.links, sender.store.links).

A message sent again (after a restart, or failed over to another channel's lane) gets new
codes: the old ones stay valid until they expire and count for the same recipient.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from sender.run_config import LinkSettings
from sender.sms.links import LinkRecord, new_code, short_link, url_id
from sender.store.client import Redis
from sender.store.keys import CampaignKeys
from sender.store.links import claim_links, register_targets

MAX_CLAIMS = 5
"""Rounds of drawing again for codes already taken (one in some 10^7 even with 10^7
links out): past it something else is wrong."""


class LinkCodes:
    """Hands out one campaign lane's short links."""

    def __init__(self, redis: Redis, campaign: CampaignKeys, channel: str,
                 settings: LinkSettings, targets: Mapping[str, Sequence[str]],
                 clock: Callable[[], float] = time.time,
                 draw: Callable[[], str] = new_code) -> None:
        self._redis = redis
        self._campaign = campaign
        self._channel = channel
        self._settings = settings
        self._targets = {variant: list(urls) for variant, urls in targets.items() if urls}
        """Target URLs by variant, of the variants with links."""
        self._ids = {url: url_id(url) for urls in self._targets.values() for url in urls}
        """Each target's id in the run's table (a hash of it: once, not per message)."""
        self._clock = clock
        self._draw = draw
        self._registered = False
        self.claimed = 0

    def needed(self, variant: str) -> bool:
        return variant in self._targets

    async def assign(self, messages: Sequence[tuple[str, str]]
                     ) -> list[dict[str, str] | None]:
        """For each (message key, variant): its links, target URL -> short link (None
        for a variant without links)."""
        if not self._registered:
            await register_targets(self._redis, self._campaign,
                                   {target: url for url, target in self._ids.items()})
            self._registered = True
        deadline = int(self._clock()) + self._settings.expire_after_seconds
        wanted: list[tuple[int, str, LinkRecord]] = []
        for index, (key, variant) in enumerate(messages):
            for url in self._targets.get(variant, ()):
                wanted.append((index, url, LinkRecord(
                    self._campaign.ref, key, variant, self._channel, self._ids[url],
                    deadline)))
        codes = [self._draw() for _ in wanted]
        todo = list(range(len(wanted)))
        for _ in range(MAX_CLAIMS):
            written = await claim_links(self._redis, [(codes[i], wanted[i][2]) for i in todo])
            todo = [i for i, ok in zip(todo, written, strict=True) if not ok]
            if not todo:
                break
            for i in todo:
                codes[i] = self._draw()
        else:
            raise RuntimeError(f"{len(todo)} short-link codes still taken after"
                               f" {MAX_CLAIMS} draws")
        self.claimed += len(wanted)
        links: list[dict[str, str] | None] = [
            {} if self.needed(variant) else None for _, variant in messages]
        for (index, url, _), code in zip(wanted, codes, strict=True):
            found = links[index]
            assert found is not None
            found[url] = short_link(self._settings.base_url, code)
        return links
