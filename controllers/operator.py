"""The operator process: settings, shared clients, and every controller's handlers.

`herald operator` imports this module and runs kopf; importing it registers the
handlers of every kind.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import kopf

import controllers.template  # noqa: F401  (registers the Template handlers)
from controllers.config import SENSITIVE_WORDS_LABEL
from controllers.kube import Kube, load_client_config
from crds.base import GROUP

FINALIZER = f"{GROUP}/finalizer"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Keep kopf's bookkeeping under Herald's own annotation prefix, so users see
    # whose it is and Argo CD ignores it along with the rest of our metadata.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Only labelled ConfigMaps matter; without this kopf would list and watch every
    # ConfigMap in the cluster and filter on its side.
    settings.watching.label_selectors["configmaps"] = f"{SENSITIVE_WORDS_LABEL}=true"
    memo.kube = Kube(load_client_config())
    # One lock per template serialises its reviews (see controllers.template).
    memo.template_locks = defaultdict(asyncio.Lock)
