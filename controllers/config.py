"""Operator configuration, from the environment the Deployment sets."""

from __future__ import annotations

import os
from dataclasses import dataclass

from crds.template import Category

# ConfigMaps with this label hold sensitive words, one per line in any data key.
# Those in the operator's namespace apply everywhere; others to their own namespace.
SENSITIVE_WORDS_LABEL = "sms.herald.dev/sensitive-words"


@dataclass(frozen=True)
class OperatorConfig:
    namespace: str
    """Namespace the operator runs in."""
    manual_review_categories: frozenset[Category]
    """Template categories that always need a TemplateApproval, whatever spec.review says."""

    @classmethod
    def from_env(cls) -> OperatorConfig:
        return cls(
            namespace=os.environ.get("HERALD_NAMESPACE", "herald"),
            manual_review_categories=parse_categories(
                os.environ.get("HERALD_MANUAL_REVIEW_CATEGORIES", "")
            ),
        )


def parse_categories(text: str) -> frozenset[Category]:
    """"Marketing,Notification" -> the categories; an unknown name fails the start, loudly."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return frozenset(Category(name) for name in names)
    except ValueError as exc:
        known = ", ".join(c.value for c in Category)
        raise ValueError(f"HERALD_MANUAL_REVIEW_CATEGORIES: {exc}; known: {known}") from exc


CONFIG = OperatorConfig.from_env()
