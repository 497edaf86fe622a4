"""The self-hosted pieces: the Kubernetes manifests against the Kubernetes JSON Schemas (bundled by
kubernetes-validate, so offline), the CronJob's script, the Dockerfile and the hash-pinned lock."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
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


def _pod() -> dict[str, Any]:
    cronjob = next(doc for _, doc in documents() if doc["kind"] == "CronJob")
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def test_the_cronjob_runs_as_non_root_with_the_secret_and_a_valid_script() -> None:
    by_kind = {doc["kind"]: doc for _, doc in documents()}
    secret = by_kind["Secret"]
    pod = _pod()
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert by_kind["CronJob"]["spec"]["concurrencyPolicy"] == "Forbid"
    shell = shutil.which("sh")
    assert shell is not None
    for each in [*pod["initContainers"], *pod["containers"]]:
        subprocess.run([shell, "-n", "-c", each["args"][0]], check=True)
    script = container["args"][0]
    assert "access plan --detailed-exitcode" in script and "access apply" in script
    # The scheduled run's other work: the day's snapshot kept, reminders and the leavers pull request,
    # none of which may turn a good apply run into a failed one.
    assert "--snapshot-out /work/snapshot" in script and "access snapshots keep /work/snapshot" in script
    after_apply = script[script.index("access apply") :]
    assert "access notify || echo" in after_apply and "access leavers || echo" in after_apply
    assert after_apply.rstrip().endswith('exit "$status"')
    # Every secret the run needs is a key of the Secret, never a literal in the CronJob.
    literal = {e["name"] for e in container["env"]}
    assert not literal & {
        "GITHUB_TOKEN",
        "PROCORE_CLIENT_SECRET",
        "PINGONE_CLIENT_SECRET",
        "CONCUR_CLIENT_SECRET",
    }
    assert {"GITHUB_TOKEN", "PROCORE_CLIENT_SECRET", "CONCUR_REFRESH_TOKEN"} <= set(secret["stringData"])


def test_every_container_is_locked_down_and_asks_for_resources() -> None:
    pod = _pod()
    assert pod["automountServiceAccountToken"] is False
    for container in [*pod["initContainers"], *pod["containers"]]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    # Only the lease container can talk to the Kubernetes API, and only about one Lease (and pods).
    mounts = {
        c["name"]: {m["name"] for m in c["volumeMounts"]}
        for c in [*pod["initContainers"], *pod["containers"]]
    }
    assert [name for name, used in mounts.items() if "kube-api-access" in used] == ["lease"]
    role = next(doc for _, doc in documents() if doc["kind"] == "Role")
    assert {(tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]} == {
        (("leases",), ("get", "update")), (("leases",), ("create",)), (("pods",), ("get",)),
    }  # fmt: skip


def test_state_that_must_outlive_a_run_is_on_the_persistent_volume() -> None:
    pod = _pod()
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    state = next(v for v in pod["volumes"] if v["name"] == "state")
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "state")
    assert state["persistentVolumeClaim"]["claimName"] == "access-state"
    assert env["ACCESS_STATE_DIR"] == mount  # journal, lock, audit log (reconciler/commands/apply.py)
    assert env["CONCUR_TOKEN_STORE"] == "file" and env["CONCUR_TOKEN_FILE"].startswith(f"{mount}/")
    script = container["args"][0]
    assert "--audit-log" not in script  # the audit log's default is <state dir>/audit.jsonl
    assert 'git push --quiet origin "refs/access/audit:refs/access/audit"' in script  # a fast-forward only


def test_git_authenticates_to_github_only_through_a_credential_helper(tmp_path: Path) -> None:
    """A private repository: every later clone, fetch and push gets the token from the helper, which
    answers for https://github.com alone and never puts the token on a command line."""
    container = _pod()["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"] if "value" in e}
    assert "GITHUB_TOKEN" not in container["args"][0] and "extraheader" not in container["args"][0]
    git_env = {k: v for k, v in env.items() if k.startswith("GIT_CONFIG_")}
    run_env = {**os.environ, **git_env, "GITHUB_TOKEN": "ghs_canary", "HOME": str(tmp_path)}
    asked = "protocol=https\nhost=github.com\npath=your-org/access.git\n\n"
    done = subprocess.run(
        ["git", "credential", "fill"], input=asked, capture_output=True, text=True, env=run_env, check=True
    )
    assert "username=x-access-token\npassword=ghs_canary\n" in done.stdout
    elsewhere = subprocess.run(
        ["git", "-c", "credential.interactive=never", "credential", "fill"],
        input="protocol=https\nhost=evil.example\n\n", capture_output=True, text=True,
        env={**run_env, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"},
    )  # fmt: skip
    assert "ghs_canary" not in elsewhere.stdout


def test_commits_the_run_makes_name_the_bot_not_the_pods_user_at_hostname(tmp_path: Path) -> None:
    """The leavers pull request's commit and the kept snapshots are commits made in the pod, which has
    no git config: the CronJob names who makes them, as the workflow's `git config user.name` does."""
    container = _pod()["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    identity = {k: v for k, v in env.items() if k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))}
    pod_env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))}
    pod_env |= {
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        **identity,
    }
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], env=pod_env, check=True)
    subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "leavers"], env=pod_env, check=True
    )
    made = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%an <%ae> / %cn <%ce>"],
        env=pod_env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert (
        made
        == "access-bot <access-bot@users.noreply.github.com> / access-bot <access-bot@users.noreply.github.com>"
    )


# ---------------------------------------------------------------- the Lease, against a fake kubectl

FAKE_KUBECTL = r"""#!/usr/bin/env python3
import json, os, re, sys
path = os.environ["FAKE_K8S"]
state = json.load(open(path))
args = sys.argv[1:]
state.setdefault("calls", []).append(args)

def save():
    json.dump(state, open(path, "w"))

def render(obj, template):
    def value(match):
        found = obj
        for key in match.group(1).split("."):
            found = found.get(key, "") if isinstance(found, dict) else ""
        return str(found)
    return re.sub(r"\{\.([^}]*)\}", value, template)

def fail(message):
    save()
    print(message, file=sys.stderr)
    sys.exit(1)

template = args[args.index("-o") + 1].removeprefix("jsonpath=") if "-o" in args else ""
if args[:2] == ["get", "lease"]:
    if state.get("lease") is None:
        fail('Error from server (NotFound): leases.coordination.k8s.io "access-apply" not found')
    sys.stdout.write(render(state["lease"], template))
elif args[:2] == ["get", "pod"]:
    phase = state["pods"].get(args[2])
    if phase is None:
        fail(f'Error from server (NotFound): pods "{args[2]}" not found')
    sys.stdout.write(phase)
elif args[0] == "create":
    if state.get("lease") is not None:
        fail('Error from server (AlreadyExists): leases.coordination.k8s.io "access-apply" already exists')
    obj = json.load(sys.stdin)
    obj["metadata"]["resourceVersion"] = "1"
    state["lease"] = obj
elif args[0] == "replace":
    obj = json.load(sys.stdin)
    current = state["lease"]
    if state.pop("race", None):  # another pod takes it between our get and our replace
        current["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
        current["spec"]["holderIdentity"] = "racer"
        state["pods"]["racer"] = "Running"
    if obj["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
        fail("Error from server (Conflict): Operation cannot be fulfilled on leases.coordination.k8s.io")
    obj["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
    state["lease"] = obj
save()
"""

ME = "access-drift-29000000-abcde"


def lease(holder: str, renewed: str = "2999-01-01T00:00:00.000000Z", version: str = "7") -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "access-apply", "resourceVersion": version},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 3900, "renewTime": renewed},
    }  # fmt: skip


def take_lease(
    tmp_path: Path, state: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL, encoding="utf-8")
    kubectl.chmod(0o755)
    store = tmp_path / "k8s.json"
    store.write_text(json.dumps({"pods": {}, **state}), encoding="utf-8")
    script = _pod()["initContainers"][0]["args"][0].replace("/tmp/error", str(tmp_path / "error"))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "POD_NAME": ME,
        "FAKE_K8S": str(store),
    }
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, check=False)
    return done, json.loads(store.read_text(encoding="utf-8"))


def test_the_first_run_creates_the_lease(tmp_path: Path) -> None:
    done, state = take_lease(tmp_path, {"lease": None})
    assert done.returncode == 0, done.stderr
    assert (
        state["lease"]["spec"]["holderIdentity"] == ME
        and state["lease"]["spec"]["leaseDurationSeconds"] == 3900
    )
    assert done.stdout.strip() == f"lease access-apply taken by {ME}"


def test_a_lease_held_by_a_running_apply_refuses_to_start(tmp_path: Path) -> None:
    done, state = take_lease(
        tmp_path, {"lease": lease("access-drift-1-other"), "pods": {"access-drift-1-other": "Running"}}
    )
    assert done.returncode == 1
    assert done.stderr.startswith("another apply holds the lease access-apply: pod access-drift-1-other")
    assert state["lease"] == lease("access-drift-1-other")  # untouched


@pytest.mark.parametrize(
    ("pods", "renewed"),
    [
        ({"access-drift-1-other": "Succeeded"}, "2999-01-01T00:00:00.000000Z"),  # finished
        ({"access-drift-1-other": "Failed"}, "2999-01-01T00:00:00.000000Z"),
        ({}, "2999-01-01T00:00:00.000000Z"),  # its pod is gone
        ({"access-drift-1-other": "Running"}, "2020-01-01T00:00:00.000000Z"),  # past any job's deadline
    ],
)
def test_a_lease_whose_holder_ended_is_taken_over(tmp_path: Path, pods: dict[str, str], renewed: str) -> None:
    done, state = take_lease(tmp_path, {"lease": lease("access-drift-1-other", renewed), "pods": pods})
    assert done.returncode == 0, done.stderr
    assert state["lease"]["spec"]["holderIdentity"] == ME
    assert (
        state["lease"]["metadata"]["resourceVersion"] == "8"
    )  # replaced with the version read: no blind write


def test_two_pods_taking_a_free_lease_at_once_leave_one_holder(tmp_path: Path) -> None:
    done, state = take_lease(
        tmp_path,
        {"lease": lease("access-drift-1-other"), "pods": {"access-drift-1-other": "Succeeded"}, "race": True},
    )
    assert done.returncode == 1  # the racer won; this pod looked again and saw it running
    assert "pod racer" in done.stderr and state["lease"]["spec"]["holderIdentity"] == "racer"


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
