"""`herald local up`: the local stack in the foreground, for your own kubectl.

It starts what `herald demo` and the tests run on (herald.local.stack): a Kubernetes
API (the emulator, which validates writes as a cluster does), a redis-server, the SMPP
simulator, the local Job and Deployment runners, and Herald's operator; writes a
kubeconfig for it; and runs until Ctrl-C, SIGTERM or `herald local down` from another
shell, then stops all of it.

The example Channel reaches the simulator as it is written: its `herald-simulator:2775`
is, in a cluster, a Service; here SERVICE_ADDRESSES_ENV sends it to the simulator's
port, for the operator's bind check and for every pod the runners start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import yaml

from herald.local.kube.server import EMULATOR_CONTEXT, write_kubeconfig
from herald.local.stack import running_stack
from herald.local.up_state import UpState, running
from sender.simulator.config import SimulatorConfig
from sender.smpp.tls import SERVICE_ADDRESSES_ENV

# The SMSC the example Channel names (examples/channel.yaml): a Service in a cluster.
SIMULATOR_SERVICE = "herald-simulator"
SIMULATOR_SERVICE_PORT = 2775


# The README's four commands ("Try it with your own kubectl"; a test holds them equal).
# Not all of examples/: its trigger Api campaign would hold the channel's binds.
FOUR_COMMANDS = (
    "kubectl apply -f examples/",
    "kubectl create configmap my-list --from-file=recipients.csv=my-list.csv",
    "kubectl apply -f my-campaign.yaml",
    "kubectl get campaigns -w",
)


def banner(kubeconfig: Path, server: str, simulator_port: int, pods: Path) -> str:
    commands = "\n".join(f"  {command}" for command in FOUR_COMMANDS)
    return f"""\
Herald's local stack is up: a Kubernetes API at {server}, a redis-server, the SMPP
simulator ({SIMULATOR_SERVICE}:{SIMULATOR_SERVICE_PORT}, at 127.0.0.1:{simulator_port}), \
local Job runners and Herald's operator.

Kubeconfig: {kubeconfig}

  export KUBECONFIG={kubeconfig}
{commands}

(my-list.csv and my-campaign.yaml, a Campaign with audience.configMapRef my-list: see
README.md, "Try it with your own kubectl".) Jobs' pods run as processes here, with no Pod
objects for kubectl logs: their logs are in {pods}/.
Ctrl-C here, or `herald local down` in another shell, stops everything."""


async def serve(kubeconfig: Path, *, smpp_port: int = 0) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    simulator = SimulatorConfig(port=smpp_port, receipt_delay_ms=20)
    async with running_stack(simulator=simulator) as stack:
        # After the operator's start: kopf sets SIGINT and SIGTERM handlers of its own,
        # which would stop the operator alone and leave the rest running.
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        assert stack.operator is not None  # started by running_stack
        stack.operator.task.add_done_callback(lambda _: stop.set())  # it died: stop all
        service = f"{SIMULATOR_SERVICE}:{SIMULATOR_SERVICE_PORT}"
        os.environ[SERVICE_ADDRESSES_ENV] = f"{service}=127.0.0.1:{stack.simulator.port}"
        write_kubeconfig(kubeconfig, stack.cluster.url)
        state = UpState(os.getpid(), stack.cluster.url, str(kubeconfig))
        state.write()
        try:
            print(banner(kubeconfig, stack.cluster.url, stack.simulator.port,
                         stack.jobs.workdir), flush=True)
            await stop.wait()
            print("Stopping the local stack ...", flush=True)
        finally:
            state.remove()
    print("Stopped.", flush=True)
    return 0


def main(kubeconfig: Path, smpp_port: int = 0) -> int:
    if (other := running(kubeconfig)) is not None:
        print(f"herald local up: already running for {kubeconfig} (process {other.pid},"
              f" {other.server}); `herald local down` stops it", file=sys.stderr)
        return 1
    problem = unusable_kubeconfig(kubeconfig)
    if problem:
        print(f"herald local up: {problem}", file=sys.stderr)
        return 1
    return asyncio.run(serve(kubeconfig.absolute(), smpp_port=smpp_port))


def unusable_kubeconfig(kubeconfig: Path) -> str | None:
    """Why local up may not write `kubeconfig` (None: it may), checked before anything
    starts: a file that is not a kubeconfig it wrote is someone's, not to be replaced."""
    if kubeconfig.is_dir():
        return f"{kubeconfig} is a directory; give a file path"
    if kubeconfig.exists():
        try:
            current = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            current = None
        if not (isinstance(current, dict) and current.get("current-context") == EMULATOR_CONTEXT):
            return (f"{kubeconfig} exists and is not a kubeconfig local up wrote: it would be"
                    " replaced; give another --kubeconfig")
    try:
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create {kubeconfig.parent}: {error.strerror}"
    if not os.access(kubeconfig.parent, os.W_OK):
        return f"cannot write in {kubeconfig.parent}"
    return None
