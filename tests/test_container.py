"""The container image, built and run for real with podman (no Docker daemon or registry needed).

The base is made from Debian's packages (mmdebstrap: python3, venv and git; ../shared/containers.md)
and passed as the Dockerfile's BASE; then `.ci/container-test` runs `--version`, `validate` and
`plan --sandbox` in the image on a repository mounted from the host and owned by another uid, as the
release workflow does with docker before it pushes. Skipped, saying why, without podman (or, for a
base image, mmdebstrap and root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.container

BASE = "localhost/debian-python:bookworm"
IMAGE = "localhost/access:test"
# cgroupfs and runc: crun refuses this kind of machine's hybrid cgroups; the default process limits
# cannot be set here, so each run lowers them.
PODMAN = ["podman", "--cgroup-manager=cgroupfs", "--runtime", "runc"]
RUN_OPTIONS = ["--network", "host", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def _podman(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False)


def _base_image(tmp_path: Path) -> None:
    if _podman("image", "exists", BASE).returncode == 0:
        return
    if shutil.which("mmdebstrap") is None or os.geteuid() != 0:
        pytest.skip(
            f"no base image {BASE}, and mmdebstrap (as root) is needed to make one from Debian's packages"
        )
    tarball = tmp_path / "base.tar"
    made = subprocess.run(
        ["mmdebstrap", "--variant=minbase", "--include=python3,python3-venv,git,ca-certificates", "bookworm",
         str(tarball)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    imported = _podman("import", str(tarball), BASE)
    assert imported.returncode == 0, imported.stderr


def test_the_image_builds_from_the_lock_and_runs_version_validate_and_plan_on_a_mounted_repository(
    tmp_path: Path,
) -> None:
    if shutil.which("podman") is None:
        pytest.skip(
            "podman is not installed (apt-get install podman runc mmdebstrap; .ci/run does it as root)"
        )
    _base_image(tmp_path)
    started = time.monotonic()
    mounts = ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"] if CA_BUNDLE.is_file() else []
    built = _podman(
        "build",
        "--network",
        "host",
        *mounts,
        "--build-arg",
        f"BASE={BASE}",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=900,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    build_seconds = time.monotonic() - started
    smoke = subprocess.run(
        ["bash", str(ROOT / ".ci" / "container-test"), IMAGE],
        env={**os.environ, "ENGINE": " ".join(PODMAN), "RUN_OPTIONS": " ".join(RUN_OPTIONS)},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert smoke.stdout.rstrip().endswith("3 passed, 0 failed")
    assert build_seconds < 300, f"the image took {build_seconds:.0f} s to build"
