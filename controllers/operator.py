"""The operator process: settings, shared clients, and every controller's handlers.

`herald operator` imports this module and runs kopf; importing it registers the
handlers of every kind.
"""

from __future__ import annotations

from typing import Any

import kopf

import controllers.campaign
import controllers.campaign_run
import controllers.channel
import controllers.template  # noqa: F401  (registers the Template handlers)
from controllers.campaign import plan_settings
from controllers.config import SENSITIVE_WORDS_LABEL, OperatorConfig
from controllers.context import OperatorContext, utc_now
from controllers.kube import CoreKube, Deployments, Kube, load_client_config
from crds.base import GROUP
from sender.store.client import connect

FINALIZER = f"{GROUP}/finalizer"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Keep kopf's bookkeeping under Herald's own annotation prefix, so users see
    # whose it is and Argo CD ignores it along with the rest of our metadata.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    # kopf keeps a copy of the spec it last handled in an annotation; a Campaign's
    # audience may list phone numbers, which have no business in annotations.
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration", ignored_fields=["spec.audience"]
    )
    # Only labelled ConfigMaps matter; without this kopf would list and watch every
    # ConfigMap in the cluster and filter on its side.
    settings.watching.label_selectors["configmaps"] = f"{SENSITIVE_WORDS_LABEL}=true"
    # Likewise only Herald's own Jobs.
    settings.watching.label_selectors["jobs"] = "app.kubernetes.io/managed-by=herald-operator"
    # The harness may hand a config in through the memo; a pod reads its environment.
    config = memo.get("config") or OperatorConfig.from_env()
    api_client = load_client_config()
    memo.context = OperatorContext(
        config=config, plan_settings=plan_settings(config),
        redis=connect(config.redis_url, config.redis_password or None),
        kube=Kube(api_client), core=CoreKube(api_client), deployments=Deployments(api_client),
        clock=memo.get("clock") or utc_now)


@kopf.on.cleanup()
async def close_clients(memo: kopf.Memo, **_: Any) -> None:
    await memo.context.redis.aclose()
