"""An Event a decision asks the I/O shell to post."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Event:
    """One Kubernetes Event. `Warning` only when something is unhealthy."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str
