"""A Channel's receiver Deployment: one `herald receiver` pod holding a Receiver bind
(with spec.keywordReplies, a Transceiver, or a Receiver and a Transmitter, to answer).

Pure builder (no kopf, kubernetes or redis). The pod gets the channel's SMPP settings
as JSON in its env and the password from the channel's Secret, so an edited Channel,
another Secret or a new password in the same Secret changes the pod template and rolls
the pod. `Recreate`,
not a rolling update: two receivers at once would take two of the carrier's binds.
The Channel owns the Deployment, so deleting the Channel deletes it.
"""

from __future__ import annotations

import hashlib
import json

from controllers.decisions.campaign_jobs import COMPONENT_LABEL, Owner, child_name
from controllers.decisions.campaign_run import channel_policy, smpp_target
from controllers.decisions.pod_spec import (
    Manifest,
    PodSettings,
    container,
    pod_template,
    secret_env,
    smpp_tls_files,
)
from crds.base import API_VERSION, GROUP
from crds.channel import ChannelSpec
from sender.run_config import ReplyTarget

RECEIVER = "receiver"
CHANNEL_LABEL = f"{GROUP}/channel"
TEMPLATE_HASH = f"{GROUP}/template-hash"
"""Annotation: hash of the Deployment's spec as built, to tell when it must be replaced."""
SECRET_VERSION = f"{GROUP}/secret-version"
RECEIVER_GRACE_SECONDS = 30
"""Time to flush what it holds and unbind."""


def receiver_name(channel: str) -> str:
    return child_name(channel, RECEIVER)


def receiver_labels(channel: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "herald",
        "app.kubernetes.io/managed-by": "herald-operator",
        COMPONENT_LABEL: RECEIVER,
        CHANNEL_LABEL: channel if len(channel) <= 63 else receiver_name(channel),
    }


def build_receiver_deployment(owner: Owner, spec: ChannelSpec, pods: PodSettings, *,
                              secret_version: str = "") -> Manifest:
    """The Deployment; `secret_version` (the password Secret's resourceVersion) goes in
    the pod template, so a password changed inside the same Secret rolls the pod, which
    reads it from its env only at start."""
    smpp = smpp_target(spec)
    secret = spec.smpp.password_secret_ref
    tls = smpp_tls_files(spec.smpp)
    env = [
        {"name": "HERALD_CHANNEL_SMPP", "value": smpp.model_dump_json()},
        secret_env("HERALD_SMPP_PASSWORD", secret.name, secret.key),
        *tls.env,
    ]
    answers = reply_target(spec)
    if answers is not None:
        env.insert(1, {"name": "HERALD_CHANNEL_REPLIES", "value": answers.model_dump_json()})
    labels = receiver_labels(owner.name)
    main = container(RECEIVER, ["receiver", "--channel", owner.ref], pods, tls.mounts, env,
                     metrics=True)
    template = pod_template(labels, main, tls.volumes, pods, restart_policy="Always")
    template["spec"]["terminationGracePeriodSeconds"] = RECEIVER_GRACE_SECONDS
    template["metadata"]["annotations"] = {SECRET_VERSION: secret_version}
    deployment_spec = {
        "replicas": 1,
        "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": {k: labels[k] for k in (COMPONENT_LABEL, CHANNEL_LABEL)}},
        "template": template,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": receiver_name(owner.name),
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": {TEMPLATE_HASH: spec_hash(deployment_spec)},
            "ownerReferences": [{
                "apiVersion": API_VERSION, "kind": "Channel", "name": owner.name,
                "uid": owner.uid, "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": deployment_spec,
    }


def reply_target(spec: ChannelSpec) -> ReplyTarget | None:
    """What the receiver answers keyword replies with; None: it answers none."""
    if spec.keyword_replies is None:
        return None
    rates = {a.address: a.messages_per_second for a in spec.smpp.source_addresses or ()
             if a.messages_per_second}
    return ReplyTarget(replies=spec.keyword_replies, source_rates=rates,
                       **channel_policy(spec))


def spec_hash(deployment_spec: Manifest) -> str:
    text = json.dumps(deployment_spec, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def needs_replacing(existing: Manifest | None, desired: Manifest) -> bool:
    """Whether the Deployment found differs from the one built (by the hash it carries)."""
    if existing is None:
        return True
    annotations = existing.get("metadata", {}).get("annotations") or {}
    return bool(annotations.get(TEMPLATE_HASH) != desired["metadata"]["annotations"][TEMPLATE_HASH])
