"""`herald local up` with the real kubectl: the README's four commands send a CSV of one's
own to Completed, `kubectl explain` teaches the API, `kubectl apply` of what a cluster
refuses fails with the cluster's message, all of examples/ applies and its Channel
reaches the simulator as it is written, and `herald local down` from another process
stops it all (exit 0, nothing left running)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from herald.local.kube.client import wait_for
from herald.local.kube.object_writes import merge_patch
from herald.local.kube.server import write_kubeconfig
from herald.local.up import (
    FOUR_COMMANDS,
    SIMULATOR_SERVICE,
    SIMULATOR_SERVICE_PORT,
    unusable_kubeconfig,
)
from herald.local.up_state import UpState
from sender.smpp.tls import SERVICE_ADDRESSES_ENV, service_address
from tests.crd_validation import load_example

REPO = Path(__file__).resolve().parent.parent
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
README = (REPO / "README.md").read_text(encoding="utf-8")
STARTUP = 60.0
TIMEOUT = 90.0

pytestmark = pytest.mark.timeout(300)


def readme_block(after: str, language: str) -> str:
    """The README's first ```language block after the text `after`."""
    start = README.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(README, start)
    assert match, f"no {language} block after {after!r} in README.md"
    return match[1]


@dataclass
class LocalUp:
    process: subprocess.Popen[str]
    kubeconfig: Path
    workdir: Path
    output: list[str]

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None,
                ) -> subprocess.CompletedProcess[str]:
        # PATH: the venv's bin first, where kubectl finds the kubectl-herald plugin.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        result = subprocess.run([str(KUBECTL), *args], cwd=self.workdir, text=True,
                                capture_output=True, timeout=60, input=stdin,
                                env=os.environ | {"KUBECONFIG": str(self.kubeconfig),
                                                  "PATH": path})
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def jsonpath(self, kind: str, name: str, path: str) -> str:
        result = self.kubectl("get", kind, name, "-o", f"jsonpath={path}", check=False)
        return result.stdout if result.returncode == 0 else ""


def _read_banner(process: subprocess.Popen[str], output: list[str]) -> None:
    """Lines of local up's output until its banner's last line (or its exit); the rest
    (its warnings) is read on in the background, so that a full pipe never blocks it."""
    assert process.stdout is not None
    stream = process.stdout
    deadline = time.monotonic() + STARTUP
    for line in stream:
        output.append(line)
        if "stops everything" in line:
            threading.Thread(target=lambda: output.extend(stream), daemon=True).start()
            return
        assert time.monotonic() < deadline, "herald local up printed no banner in time"
    raise AssertionError(f"herald local up exited: {''.join(output)}")


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    assert KUBECTL.exists(), f"{KUBECTL} missing: run `make test` (tools/install_k8s_tools.py)"
    workdir = tmp_path_factory.mktemp("local-up")
    kubeconfig = workdir / ".herald" / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "herald", "local", "up", "--kubeconfig", str(kubeconfig)],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=os.environ | {"PYTHONPATH": str(REPO)})
    output: list[str] = []
    try:
        _read_banner(process, output)
        yield LocalUp(process, kubeconfig, workdir, output)
    finally:
        if process.poll() is None:  # the down test did not stop it: stop it here
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_banner_names_the_kubeconfig_and_the_commands(local_up: LocalUp) -> None:
    banner = "".join(local_up.output)
    assert f"export KUBECONFIG={local_up.kubeconfig}\n" in banner
    commands = readme_block("then, in four commands", "sh").splitlines()
    assert tuple(commands) == FOUR_COMMANDS
    assert "".join(f"  {command}\n" for command in commands) in banner
    state = UpState.read(local_up.kubeconfig)
    assert state is not None and state.pid == local_up.process.pid
    assert local_up.kubeconfig.exists()


async def test_the_readme_sends_my_own_csv_in_four_commands(local_up: LocalUp) -> None:
    (local_up.workdir / "my-list.csv").write_text(readme_block("Save your recipients", "csv"),
                                                  encoding="utf-8")
    (local_up.workdir / "my-campaign.yaml").write_text(readme_block("and this as", "yaml"),
                                                       encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(readme_block("Save your recipients", "csv"))))
    commands = readme_block("then, in four commands", "sh").splitlines()
    assert len(commands) == 4 and commands[-1] == "kubectl get campaigns -w"
    for command in commands[:-1]:
        args = [a.replace("examples/", f"{REPO}/examples/") for a in command.split()[1:]]
        local_up.kubectl(*args)
    watch = subprocess.Popen([str(KUBECTL), "get", "campaigns", "-w"], cwd=local_up.workdir,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=os.environ | {"KUBECONFIG": str(local_up.kubeconfig)})
    try:
        await wait_for(
            lambda: local_up.jsonpath("campaign", "my-campaign",
                                      "{.status.phase} {.status.counters.delivered}"),
            until=lambda seen: seen == f"Completed {len(rows)}", timeout=TIMEOUT,
            message="my-campaign did not complete with every row delivered")
    finally:
        watch.terminate()
        shown, _ = watch.communicate(timeout=30)
    header, *lines = shown.splitlines()
    assert header.split()[:3] == ["NAME", "PHASE", "READY"], shown
    assert any(line.split()[:2] == ["my-campaign", "Completed"] for line in lines), shown
    status = local_up.kubectl("herald", "status", "my-campaign").stdout  # the plugin
    assert "Campaign default/my-campaign: Completed" in status, status
    assert f"100%  sent {len(rows)} of {len(rows)}" in status, status
    logs = re.search(r"their logs are in (\S+)/\.", "".join(local_up.output))
    assert logs, local_up.output
    assert list(Path(logs[1]).glob("*my-campaign-send*.log")), "no sender pod's log"


def test_kubectl_discovers_the_api_as_on_a_cluster(local_up: LocalUp) -> None:
    """Short names, categories and `get all` resolve with no warning or error."""
    for args in (["get", "all"], ["get", "ns"], ["get", "sms"], ["get", "cm", "my-list"],
                 ["api-resources", "--api-group=sms.herald.dev"]):
        result = local_up.kubectl(*args)
        assert "Warning" not in result.stderr, (args, result.stderr)
    assert "campaigns" in local_up.kubectl("api-resources", "--categories=sms").stdout


def test_kubectl_explain_teaches_the_audience(local_up: LocalUp) -> None:
    shown = local_up.kubectl("explain", "campaign.spec.audience").stdout
    assert "KIND:       Campaign" in shown and "FIELD: audience <Object>" in shown
    assert "Recipients; required unless trigger is Api." in shown
    assert re.search(r"^\s+configMapRef\t<Object>", shown, re.M), shown


# A bound, an enum and a CEL rule broken, each in its own manifest (a cluster checks CEL
# only once types and enums are right), and what kubectl prints of the API server's answer
# to each (the Status message, as for any apply of several objects). Then a typo.
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"spec": {"rateLimit": {"messagesPerSecond": 0}}},
     'Error from server (Invalid): error when creating "bad.json": Campaign.sms.herald.dev '
     '"bad-bound" is invalid: spec.rateLimit.messagesPerSecond: Invalid value: 0: '
     "spec.rateLimit.messagesPerSecond in body should be greater than or equal to 1\n"),
    ({"spec": {"schedule": {"concurrencyPolicy": "forbid"}}},
     'Error from server (Invalid): error when creating "bad.json": Campaign.sms.herald.dev '
     '"bad-enum" is invalid: [spec.schedule.concurrencyPolicy: Unsupported value: "forbid": '
     'supported values: "Allow", "Forbid", "Replace", <nil>: Invalid value: "null": some '
     "validation rules were not checked because the object was invalid; correct the existing "
     "errors to complete validation]\n"),
    ({"spec": {"variants": [{"name": "a", "templateRef": {"name": "x"}, "weight": 50},
                            {"name": "b", "templateRef": {"name": "y"}, "weight": 40}]}},
     'Error from server (Invalid): error when creating "bad.json": Campaign.sms.herald.dev '
     '"bad-cel" is invalid: spec: Invalid value: "object": variant weights must sum to 100\n'),
]


def test_kubectl_apply_of_what_a_cluster_refuses_fails_with_its_message(
        local_up: LocalUp) -> None:
    documents = []
    for (patch, _), name in zip(REFUSED, ("bad-bound", "bad-enum", "bad-cel"), strict=True):
        doc = merge_patch(load_example("campaign.yaml"), {"metadata": {"name": name}, **patch})
        documents.append(json.dumps(doc))
    (local_up.workdir / "bad.json").write_text("\n".join(documents), encoding="utf-8")
    result = local_up.kubectl("apply", "-f", "bad.json", check=False)
    assert result.returncode != 0
    assert result.stderr == "".join(message for _, message in REFUSED)
    one = local_up.kubectl("apply", "-f", "-", check=False, stdin=documents[2])
    assert one.stderr == ('The Campaign "bad-cel" is invalid: spec: Invalid value: "object": '
                          "variant weights must sum to 100\n")
    typo = merge_patch(load_example("campaign.yaml"), {"metadata": {"name": "bad-typo"},
                                                       "spec": {"rateLimit": {"mps": 10}}})
    one = local_up.kubectl("apply", "-f", "-", check=False, stdin=json.dumps(typo))
    assert one.stderr == (
        'Error from server (BadRequest): error when creating "STDIN": Campaign in version '
        '"v1alpha1" cannot be handled as a Campaign: strict decoding error: unknown field '
        '"spec.rateLimit.mps"\n')
    listed = local_up.kubectl("get", "campaigns", "-o", "name").stdout
    assert "bad-" not in listed


async def test_all_of_examples_applies_and_its_channel_reaches_the_simulator(
        local_up: LocalUp) -> None:
    channel = load_example("channel.yaml")["spec"]["smpp"]
    assert (channel["host"], channel["port"]) == (SIMULATOR_SERVICE, SIMULATOR_SERVICE_PORT)
    local_up.kubectl("apply", "-f", f"{REPO}/examples/")
    await wait_for(lambda: local_up.jsonpath(
        "channel", "carrier-a", '{.status.conditions[?(@.type=="Ready")].reason}'),
        until=lambda reason: reason == "Bound", timeout=TIMEOUT,
        message="the example Channel did not bind to the simulator")


def test_a_second_local_up_on_the_same_kubeconfig_is_refused(local_up: LocalUp) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "herald", "local", "up", "--kubeconfig", str(local_up.kubeconfig)],
        cwd=REPO, text=True, capture_output=True, timeout=60,
        env=os.environ | {"PYTHONPATH": str(REPO)})
    assert second.returncode == 1
    assert f"process {local_up.process.pid}" in second.stderr and "herald local down" in \
        second.stderr


def test_service_addresses_send_a_name_and_port_elsewhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_ADDRESSES_ENV, "other:1=10.0.0.1:2, herald-simulator:2775="
                                              "127.0.0.1:40123")
    assert service_address("herald-simulator", 2775) == ("127.0.0.1", 40123)
    assert service_address("herald-simulator", 2776) == ("herald-simulator", 2776)
    assert service_address("smsc.example.com", 2775) == ("smsc.example.com", 2775)
    monkeypatch.delenv(SERVICE_ADDRESSES_ENV)
    assert service_address("herald-simulator", 2775) == ("herald-simulator", 2775)


def descendants(pid: int) -> set[int]:
    """The processes under `pid`: its redis-server, pods' processes and theirs."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_herald_local_down_stops_it_all(local_up: LocalUp) -> None:
    started = descendants(local_up.process.pid)
    assert len(started) >= 2, started  # its redis-server and the receiver pod at least
    down = subprocess.run(
        [sys.executable, "-m", "herald", "local", "down", "--kubeconfig",
         str(local_up.kubeconfig)], cwd=REPO, text=True, capture_output=True, timeout=120,
        env=os.environ | {"PYTHONPATH": str(REPO)})
    assert down.returncode == 0, down.stdout + down.stderr
    assert local_up.process.wait(timeout=30) == 0
    assert UpState.read(local_up.kubeconfig) is None
    assert {pid for pid in started if alive(pid)} == set()


def test_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "herald", "local", "up", "--kubeconfig", str(kubeconfig)],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=os.environ | {"PYTHONPATH": str(REPO)})
    output: list[str] = []
    try:
        _read_banner(process, output)
        started = descendants(process.pid)
        assert started, "no redis-server under herald local up"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert UpState.read(kubeconfig) is None
    assert {pid for pid in started if alive(pid)} == set()


def test_local_up_refuses_a_kubeconfig_it_did_not_write(tmp_path: Path) -> None:
    """Before anything starts: someone's own kubeconfig is never replaced."""
    mine = tmp_path / "config"
    mine.write_text("apiVersion: v1\nkind: Config\ncurrent-context: prod\n", encoding="utf-8")
    assert "exists and is not a kubeconfig local up wrote" in (unusable_kubeconfig(mine) or "")
    assert "is a directory" in (unusable_kubeconfig(tmp_path) or "")
    ours = write_kubeconfig(tmp_path / "ours", "http://127.0.0.1:1")
    assert unusable_kubeconfig(ours) is None  # its own, from an earlier run: reused
    assert unusable_kubeconfig(tmp_path / "new" / "kubeconfig") is None


def test_two_kubeconfigs_of_one_folder_keep_two_states(tmp_path: Path) -> None:
    assert UpState.path(tmp_path / "a") != UpState.path(tmp_path / "b")
