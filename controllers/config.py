"""Operator configuration, from the environment the Deployment sets."""

from __future__ import annotations

import os
from dataclasses import dataclass

# ConfigMaps with this label hold sensitive words, one per line in any data key.
# Those in the operator's namespace apply everywhere; others to their own namespace.
SENSITIVE_WORDS_LABEL = "sms.herald.dev/sensitive-words"


@dataclass(frozen=True)
class OperatorConfig:
    namespace: str
    """Namespace the operator runs in."""

    @classmethod
    def from_env(cls) -> OperatorConfig:
        return cls(
            namespace=os.environ.get("HERALD_NAMESPACE", "herald"),
        )


CONFIG = OperatorConfig.from_env()
