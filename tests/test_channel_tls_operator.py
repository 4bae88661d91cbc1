"""A Channel over mutual TLS, end to end on the local stack: the operator's bind check
reads the CA from a ConfigMap and the client certificate from a kubernetes.io/tls
Secret; the sender Job's pods and the receiver Deployment's pod get both as mounted
files; a campaign is delivered with its receipts. Bad TLS material is a Ready reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from crds.base import API_VERSION
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from sender.simulator.config import SimulatorConfig
from tests.test_campaign_operator import (
    CAMPAIGN,
    NS,
    TIMEOUT,
    campaign_body,
    events_include,
    example,
    inline,
    wait_delivered,
)
from tests.tls_pki import Pki, make_pki

pytestmark = pytest.mark.timeout(180)
CHANNEL = "carrier-a"
TLS = {"caRef": {"name": "smsc-ca"}, "clientCertSecretRef": {"name": "herald-client"},
       "serverName": "smsc.example.com"}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
async def stack(pki: Pki) -> AsyncIterator[Stack]:
    """The simulator serves TLS only, and only to clients with a certificate of the CA."""
    simulator = SimulatorConfig(port=0, receipt_delay_ms=20, seed=7,
                                tls_cert_file=str(pki.cert_file), tls_key_file=str(pki.key_file),
                                tls_client_ca_file=str(pki.ca_file))
    async with running_stack(simulator=simulator) as running:
        yield running


async def apply(stack: Stack, pki: Pki, tls: dict[str, Any], *, ca: bool = True) -> None:
    chain, key = pki.client()
    objects = [example("secret.yaml"),
               {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "herald-client"},
                "stringData": {"tls.crt": chain, "tls.key": key}}]
    if ca:
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "smsc-ca"},
                        "data": {"ca.crt": pki.ca_pem}})
    channel = example("channel.yaml")
    channel["spec"]["smpp"] |= {"host": "127.0.0.1", "port": stack.simulator.port, "tls": tls}
    objects += [channel, example("template.yaml"), example("template-reminder.yaml")]
    for obj in objects:
        await stack.kube.create(obj)


async def condition(stack: Stack, type_: str, until: Any) -> dict[str, Any]:
    async def find() -> dict[str, Any]:
        body = await stack.kube.get(API_VERSION, "Channel", NS, CHANNEL)
        conditions = body.get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == type_), {})
    found: dict[str, Any] = await wait_for(find, timeout=TIMEOUT, until=until,
                                           message=f"Channel {type_} never as expected")
    return found


async def test_a_campaign_goes_over_mutual_tls(stack: Stack, pki: Pki) -> None:
    await apply(stack, pki, TLS)
    ready = await condition(stack, "Ready", lambda c: c.get("status") == "True")
    assert ready["reason"] == "Bound" and "over TLS" in ready["message"]
    verified = await condition(stack, "TLSVerified", bool)
    assert verified["status"] == "True" and "ConfigMap smsc-ca" in verified["message"]
    # The receiver's pod binds with the mounted files too.
    await wait_for(lambda: stack.kube.get(API_VERSION, "Channel", NS, CHANNEL), timeout=TIMEOUT,
                   message="the receiver never bound over TLS",
                   until=lambda c: c.get("status", {}).get("binds", {}).get("receiverBound"))

    await stack.kube.create(campaign_body(audience=inline(60)))
    await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
    done = await wait_delivered(stack, 60)
    assert done["status"]["counters"]["delivered"] == 60
    assert stack.simulator.counters.accepted == 60


async def test_missing_tls_material_and_insecure_skip_verify_say_so(
    stack: Stack, pki: Pki,
) -> None:
    await apply(stack, pki, TLS, ca=False)
    ready = await condition(stack, "Ready", lambda c: c.get("reason") == "TLSSourceNotFound")
    assert ready["status"] == "False"
    assert "ConfigMap smsc-ca (smpp.tls.caRef) not found" in ready["message"]

    await stack.kube.patch(API_VERSION, "Channel", NS, CHANNEL, {"spec": {"smpp": {"tls": {
        "caRef": None, "insecureSkipVerify": True}}}})
    await condition(stack, "Ready", lambda c: c.get("status") == "True")
    verified = await condition(stack, "TLSVerified", lambda c: c.get("status") == "False")
    assert verified["reason"] == "InsecureSkipVerify"
    channel = await stack.kube.get(API_VERSION, "Channel", NS, CHANNEL)
    await events_include(stack, channel, "TLSSourceNotFound", "InsecureSkipVerify")
