"""Tracked links: `{link:https://…}` in a template becomes a short link per recipient.

    {link:https://shop.example/sale}  ->  https://go.example/3kT9xQ2b

The short link is the operator's base URL (chart `links.baseUrl`, which the platform
team owns) and a code of CODE_LENGTH base62 characters drawn at random for each
recipient and link: 62^8 (about 2^47.6) codes, so one recipient's code tells nothing of
another's and guessing one takes some 10^14 tries. `herald links` redirects a code to its
target and counts the click (sender.links). The code's record (campaign, message, variant,
channel, target, deadline) is in Redis (sender.store.links), written before the message
is sent.

A link's length in the message is the short link's, whatever the target's: the template
review counts segments with `sample_link`. Targets are literal http(s) URLs; a target
with variables would be a per-recipient long URL, which is what the short link replaces.

Pure and standard library only: the template review (controllers) and the sender use it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

CODE_LENGTH = 8
CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CODE_SPACE = len(CODE_ALPHABET) ** CODE_LENGTH
SAMPLE_CODE = "aB3dE5gH"
"""The code the template review's preview shows: as long as every code, all GSM-7."""
TARGET_MAX = 2048
"""Longest target URL: what browsers and most servers take."""
GONE_SECONDS = 86400
"""How long an expired link's record is kept, for a clear 410 rather than a 404."""
FIELD_SEPARATOR = "\x1f"  # ASCII unit separator: in no name, key or URL id


def new_code(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A random code of CODE_LENGTH base62 characters (from the OS's CSPRNG)."""
    number = randbelow(CODE_SPACE)
    chars = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[digit])
    return "".join(chars)


def is_code(text: str) -> bool:
    """Whether text could be a code (a request path that is not one is not looked up)."""
    return len(text) == CODE_LENGTH and all(c in CODE_ALPHABET for c in text)


def short_link(base_url: str, code: str) -> str:
    """The link a recipient reads: base URL, a slash, the code."""
    return f"{base_url.rstrip('/')}/{code}"


def sample_link(base_url: str) -> str:
    """A short link as long as every real one, for previews and segment counts."""
    return short_link(base_url, SAMPLE_CODE)


def target_problem(url: str) -> str | None:
    """Why `url` cannot be a link's target (None: it can): an absolute http(s) URL with
    a host, at most TARGET_MAX characters."""
    if len(url) > TARGET_MAX:
        return f"{url[:40]}…: a link's target is at most {TARGET_MAX} characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"{url!r} is not a URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{url!r} is not an http(s) URL: a link's target starts with https:// or http://"
    if not parts.hostname:
        return f"{url!r} has no host"
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        return f"{url!r} contains spaces or control characters; percent-encode them"
    return None


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be the short links' base (None: it can): http(s), a host, and
    no query or fragment (the code is appended after a slash)."""
    problem = target_problem(url)
    if problem is not None:
        return problem
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        return f"{url!r}: the base URL of short links has no query or fragment"
    return None


def url_id(url: str) -> str:
    """A short stable name of a target URL, which a link's record carries instead of the
    URL (the campaign's table maps it back: sender.store.links)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class LinkRecord:
    """What a code stands for: whose link it is and where it goes until when."""

    campaign: str
    """The campaign, namespace/name."""
    message: str
    """The recipient's message key in the campaign's state hash (sender.sms.states)."""
    variant: str
    channel: str
    target: str
    """url_id of the target URL."""
    deadline: int
    """Unix time after which the link is expired (410 Gone)."""

    def encode(self) -> str:
        return FIELD_SEPARATOR.join((self.campaign, self.message, self.variant, self.channel,
                                     self.target, str(self.deadline)))

    @classmethod
    def decode(cls, value: str) -> LinkRecord | None:
        """The record of a stored value; None for a value that is not one."""
        fields = value.split(FIELD_SEPARATOR)
        if len(fields) != 6 or not fields[5].isdigit():
            return None
        campaign, message, variant, channel, target, deadline = fields
        return cls(campaign, message, variant, channel, target, int(deadline))
