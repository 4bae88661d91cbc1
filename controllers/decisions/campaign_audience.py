"""Whether a campaign's audience can be imported, decided before its importer Job exists.

Pure. A ConfigMap or Secret that does not exist, or lacks the key, leaves the importer
pod waiting on its volume for good (a kubelet retries a missing volume without end) and
the campaign at "importing the audience: 0 rows so far"; an encoding Python does not
know fails every import attempt. Both are said at once, as the Ready reason, and the
campaign waits for the object or a spec change. What only the file's content tells (its
format, its encoding when Auto, its header) is the importer's to say (ImportFailed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controllers.decisions import reasons
from controllers.decisions.campaign_world import AudienceSeen
from crds.campaign import AUTO_ENCODING, Audience, SuppressionList
from sender.run_config import text_codec

SHOWN_KEYS = 10
"""Keys an AudienceNotFound message lists at most."""
RECHECK_SECONDS = 5.0
"""How often a campaign waiting for its audience's ConfigMap or Secret looks again (one
API read each time; a spec change wakes it at once)."""


@dataclass(frozen=True)
class AudienceProblem:
    reason: str
    message: str


def audience_problem(audience: Audience, seen: AudienceSeen | None) -> AudienceProblem | None:
    """What stops the audience from being imported, or None. `seen` None: not looked at
    (an inline, URL or Redis audience, or a test that does not care)."""
    if audience.encoding != AUTO_ENCODING and text_codec(audience.encoding) is None:
        return AudienceProblem(reasons.UNKNOWN_ENCODING, (
            f"audience.encoding {audience.encoding!r} is not a text encoding Python knows;"
            " use Auto or a codec name such as gb18030, big5, utf-16 or cp1252"))
    ref = audience.config_map_ref or audience.secret_ref
    if ref is None or seen is None:
        return None
    kind = "ConfigMap" if audience.config_map_ref is not None else "Secret"
    if seen.keys is None:
        return AudienceProblem(reasons.AUDIENCE_NOT_FOUND, (
            f"waiting for {kind} {ref.name} (audience key {ref.key!r}): it does not exist"))
    if ref.key not in seen.keys:
        keys = sorted(seen.keys)
        shown = ", ".join(repr(k) for k in keys[:SHOWN_KEYS]) or "no keys"
        if len(keys) > SHOWN_KEYS:
            shown += f" and {len(keys) - SHOWN_KEYS} more"
        return AudienceProblem(reasons.AUDIENCE_NOT_FOUND, (
            f"waiting for key {ref.key!r} in {kind} {ref.name}: it has {shown}"))
    return None


def suppression_problem(lists: list[SuppressionList], seen: Mapping[str, AudienceSeen]
                        ) -> AudienceProblem | None:
    """A suppression list whose ConfigMap, Secret or key is missing, or None."""
    for item in lists:
        ref = item.config_map_ref or item.secret_ref
        found = seen.get(item.name)
        if ref is None or found is None:
            continue
        kind = "ConfigMap" if item.config_map_ref is not None else "Secret"
        if found.keys is None:
            return AudienceProblem(reasons.SUPPRESSION_LIST_NOT_FOUND, (
                f"waiting for {kind} {ref.name} (suppression list {item.name}, key"
                f" {ref.key!r}): it does not exist"))
        if ref.key not in found.keys:
            keys = ", ".join(repr(k) for k in sorted(found.keys)[:SHOWN_KEYS]) or "no keys"
            return AudienceProblem(reasons.SUPPRESSION_LIST_NOT_FOUND, (
                f"waiting for key {ref.key!r} in {kind} {ref.name} (suppression list"
                f" {item.name}): it has {keys}"))
    return None
