"""Which requests are not a person clicking: link previews, crawlers, prefetches.

Messaging apps fetch a link to draw its preview (WhatsApp, iMessage as
facebookexternalhit and Twitterbot, Telegram, Slack, Skype...), and mail and chat
scanners follow links before anyone reads them. Those are redirected like anyone, but not
counted. The list is CrawlerDetect's (the `crawlerdetect` package, a port of the
maintained PHP library's patterns, some 1,500 crawlers), with a few link-preview fetchers
it misses; a request without a User-Agent, or one a browser marks as a prefetch
(Sec-Purpose / Purpose: prefetch), is not counted either.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from crawlerdetect import CrawlerDetect

PREVIEW_FETCHERS = ("viber", "iframely", "embedly", "skypeuripreview")
"""Link-preview fetchers CrawlerDetect 0.4 does not know (lower case, as substrings)."""

_DETECTOR = CrawlerDetect()


@lru_cache(maxsize=4096)  # a campaign's clickers use a few hundred distinct agents
def is_bot(user_agent: str) -> bool:
    """Whether a User-Agent is a crawler or link previewer (an empty one is)."""
    agent = user_agent.strip()
    if not agent:
        return True
    lowered = agent.lower()
    if any(name in lowered for name in PREVIEW_FETCHERS):
        return True
    return bool(_DETECTOR.isCrawler(agent))


def is_prefetch(headers: Mapping[str, str]) -> bool:
    """A browser's speculative fetch, which no one has clicked yet."""
    purpose = (headers.get("Sec-Purpose") or headers.get("Purpose") or "").lower()
    return "prefetch" in purpose or "preview" in purpose


def counts_as_click(method: str, headers: Mapping[str, str]) -> bool:
    """A GET by a person: not a HEAD, not a bot, not a prefetch."""
    return (method == "GET" and not is_prefetch(headers)
            and not is_bot(headers.get("User-Agent", "")))
