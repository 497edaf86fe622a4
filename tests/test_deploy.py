"""The self-hosted pieces: the Kubernetes manifests against the Kubernetes JSON Schemas (bundled by
kubernetes-validate, so offline), the CronJob's script, the Dockerfile and the hash-pinned lock."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"  # the oldest release the manifests promise to work on (CronJob timeZone is GA in 1.27)


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found.append((f"{path.name}:{doc['kind']}", doc))
    return found


@pytest.mark.parametrize(("name", "doc"), documents(), ids=[n for n, _ in documents()])
def test_manifest_is_valid_against_the_kubernetes_schema(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any unknown or wrong field


def test_a_misspelt_field_is_caught_by_the_same_validation() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    cronjob = next(doc for _, doc in documents() if doc["kind"] == "CronJob")
    cronjob["spec"]["concurencyPolicy"] = cronjob["spec"].pop("concurrencyPolicy")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, K8S_VERSION, strict=True)


def test_the_cronjob_runs_as_non_root_with_the_secret_and_a_valid_script() -> None:
    by_kind = {doc["kind"]: doc for _, doc in documents()}
    secret = by_kind["Secret"]
    pod = by_kind["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert by_kind["CronJob"]["spec"]["concurrencyPolicy"] == "Forbid"
    script = container["args"][0]
    assert "access plan --detailed-exitcode" in script and "access apply" in script
    shell = shutil.which("sh")
    assert shell is not None
    subprocess.run([shell, "-n", "-c", script], check=True)
    # Every secret the run needs is a key of the Secret, never a literal in the CronJob.
    literal = {e["name"] for e in container["env"]}
    assert not literal & {
        "GITHUB_TOKEN",
        "PROCORE_CLIENT_SECRET",
        "PINGONE_CLIENT_SECRET",
        "CONCUR_CLIENT_SECRET",
    }
    assert {"GITHUB_TOKEN", "PROCORE_CLIENT_SECRET", "CONCUR_REFRESH_TOKEN"} <= set(secret["stringData"])


def test_dockerfile_is_slim_non_root_and_installs_only_the_hash_pinned_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    # The base is a build argument whose default is the published slim image, pinned by digest.
    (default,) = re.findall(r"^ARG BASE=(\S+)$", dockerfile, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", default)
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert bases and all(base == "${BASE}" for base in bases)
    final = dockerfile[dockerfile.rindex("\nFROM ") :]
    assert re.search(r"^USER 10001", final, re.MULTILINE)
    # Into a virtual environment, from the lock alone: the dependencies, then the wheel built from it.
    installs = re.findall(r"pip install (.*)", final)
    assert installs == [
        "--require-hashes --no-deps -r /tmp/requirements.lock \\",
        "--no-deps /tmp/dist/access_reconciler-*.whl && rm -rf /tmp/dist",
    ]
    assert "python3 -m venv /opt/access" in final and "PATH=/opt/access/bin:$PATH" in final
    build = dockerfile[: dockerfile.rindex("\nFROM ")]
    assert re.findall(r"pip (?:install|wheel) (.*)", build) == [
        "--require-hashes --no-deps -r requirements.lock",
        "--no-deps --no-build-isolation --wheel-dir /dist .",
    ]


def test_the_image_lets_git_read_the_repository_mounted_at_its_working_directory() -> None:
    """`docker run -v "$PWD:/repo"` mounts a repository owned by another uid: without safe.directory
    for the mount point, git refuses it and every command that reads git fails."""
    final = (ROOT / "Dockerfile").read_text(encoding="utf-8").rsplit("\nFROM ", 1)[1]
    (workdir,) = re.findall(r"^WORKDIR (\S+)", final, re.MULTILINE)
    assert f"git config --system --add safe.directory {workdir}" in final
    assert "safe.directory '*'" not in final and "safe.directory *" not in final


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {
        m.group(1).lower().replace("_", "-").replace(".", "-")
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.MULTILINE)
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {
        re.split(r"[<>=!~ \[]", dep)[0].lower().replace("_", "-").replace(".", "-")
        for dep in project["dependencies"]
    }
    assert wanted <= pinned, f"not in requirements.lock: {sorted(wanted - pinned)}"
    entries = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock.split("\n", 2)[2])
    assert all("--hash=sha256:" in entry for entry in entries if "==" in entry)
