"""Channel decisions without I/O: Secret and bind outcomes to Ready, status and Events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from controllers import reasons
from controllers.channel_plan import ChannelWorld, SecretSeen, plan_channel
from crds.base import find_condition
from crds.channel import Channel, ChannelStatus
from sender.smpp_probe import ProbeResult

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SPEC = Channel.model_validate(yaml.safe_load(
    (Path(__file__).parent.parent / "examples" / "channel.yaml").read_text())).spec
GOOD = SecretSeen(found=True, has_key=True, password_length=6)
BOUND = ProbeResult(True, "Bound", "bound to smsc:2775 as herald (Transceiver)")


@pytest.mark.parametrize("secret, probe, ready, reason", [
    pytest.param(SecretSeen(found=False), None, "False", reasons.SECRET_NOT_FOUND,
                 id="no-secret"),
    pytest.param(SecretSeen(found=True), None, "False", reasons.SECRET_KEY_MISSING,
                 id="no-key"),
    pytest.param(SecretSeen(found=True, has_key=True, password_length=12), None, "False",
                 reasons.PASSWORD_TOO_LONG, id="password-over-8"),
    pytest.param(GOOD, ProbeResult(False, "ConnectFailed", "cannot connect"), "False",
                 "ConnectFailed", id="smsc-down"),
    pytest.param(GOOD, ProbeResult(False, "BindRefused", "ESME_RINVPASWD"), "False",
                 "BindRefused", id="wrong-password"),
    pytest.param(GOOD, BOUND, "True", reasons.BOUND, id="bound"),
])
def test_ready_follows_secret_and_bind(secret, probe, ready, reason) -> None:
    decision = plan_channel(SPEC, 1, ChannelStatus(), ChannelWorld(NOW, secret, probe))
    condition = find_condition(decision.status.conditions, "Ready")
    assert condition is not None and (condition.status, condition.reason) == (ready, reason)
    (event,) = decision.events
    assert event.reason == reason and event.type == ("Normal" if ready == "True" else "Warning")
    if ready == "False":
        assert decision.status.last_error is not None
        assert decision.status.last_error.reason == reason


def test_a_passing_recheck_writes_nothing_new() -> None:
    first = plan_channel(SPEC, 1, ChannelStatus(), ChannelWorld(NOW, GOOD, BOUND))
    again = plan_channel(SPEC, 1, first.status,
                         ChannelWorld(NOW + timedelta(minutes=5), GOOD, BOUND))
    assert again.status == first.status and again.events == ()

