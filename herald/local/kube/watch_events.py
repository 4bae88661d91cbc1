"""
The emulator's change log and the watch events made from it: each committed write is a
Change under its resourceVersion; a watch sees it as ADDED, MODIFIED or DELETED as its
selection says, and BOOKMARKs carry a version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import kmock

from herald.local.kube.object_writes import Body


@dataclasses.dataclass(frozen=True)
class Change:
    """One committed write, kept so that a watch can start from any version."""
    revision: int
    resource: kmock.resource
    type: str  # ADDED, MODIFIED, DELETED
    obj: Body  # the new state; for DELETED, the last state under the deletion's version
    old: Body | None  # the state before; None for ADDED


def seen_as(change: Change, selected: Callable[[Body], bool]) -> Body | None:
    """The event a watch with this selection sees: objects can enter or leave it."""
    was = change.old is not None and selected(change.old)
    now = change.type != "DELETED" and selected(change.obj)
    event_type = "MODIFIED" if was and now else "ADDED" if now else "DELETED" if was else None
    return {"type": event_type, "object": change.obj} if event_type else None


def bookmark(type_meta: Body, revision: int, *, initial_events_end: bool = False) -> Body:
    """A BOOKMARK event: an empty object of the watched kind, carrying a version."""
    meta: Body = {"resourceVersion": str(revision)}
    if initial_events_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"type": "BOOKMARK", "object": {**type_meta, "metadata": meta}}
