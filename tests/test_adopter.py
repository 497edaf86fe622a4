"""A company adopts access from a release, and what `access init` writes runs as written.

The release is this checkout's wheel, served with its dependencies (downloaded from the package
registry, hash-checked against requirements.lock) by a PEP 503 index on loopback. In a fresh git
repository outside the checkout, an administrator installs access from that index, runs `access
init` (which pins the release as the index serves it), imports the (simulated) vendors, commits and
sets the first apply point. Then the first pull request: every `run:` step of the written
validate, plan and apply workflows runs as Actions would run it (bash -eo pipefail, the Actions
environment variables, `${{ }}` expressions and `if:` conditions evaluated, pip pointed at the
loopback index by PIP_INDEX_URL), with the vendors served by `access sandbox serve` and GitHub by
its simulator: validated, planned and commented, approved, merged, applied, recorded.

Skipped, saying why, when git is missing or the dependency wheels cannot be downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from reconciler.render.markdown import COMMENT_MARKER
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.serve import serve
from reconciler.version import __version__
from tests.conftest import ROOT
from tests.package_index import serve_directory, write_simple_index

pytestmark = [pytest.mark.loopback, pytest.mark.adopter]

REPOSITORY = "acme/access"
TODAY = "2026-11-23"
APPLY_POINT_KEY = "adopter-test-apply-point-key-0123456789abcdef"
BIN = "Scripts" if os.name == "nt" else "bin"
# What the runner lacks but the test needs: the vendors are the sandbox's simulators, on loopback.
# Concur is left out: the sandbox has one Concur app, whose refresh token rotates on each use, where
# a company has two (the read and the write set, each with its own token).
VENDOR_HOSTS = (
    "PROCORE_API_URL",
    "PROCORE_LOGIN_URL",
    "PINGONE_API_URL",
    "PINGONE_AUTH_URL",
    "ACCESS_ALLOW_HOSTS",
)


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: int = 300) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _pip_env(index: str) -> dict[str, str]:
    """pip sees only the loopback index: no configuration files, no find-links, no extra index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env |= {
        "PIP_INDEX_URL": index,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    return env


@dataclass(frozen=True)
class Release:
    index: str  # the simple index URL
    wheel: Path


def _dependency_wheels(cache: Path) -> None:
    """The release lock's wheels from the package registry (hash-checked), cached between runs."""
    marker = cache / ".complete"
    if marker.is_file():
        return
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--require-hashes", "--no-deps",
         "--only-binary", ":all:", "--dest", str(cache), "-r", str(ROOT / "requirements.lock")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(
            f"the dependency wheels could not be downloaded from the package registry: {done.stderr[-500:]}"
        )
    marker.write_text("", encoding="utf-8")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the adopter's repository is a git repository")
    work = tmp_path_factory.mktemp("release")
    # The wheel, built from the files git tracks (what a release's checkout holds).
    source = work / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source)],
         cwd=work, env=dict(os.environ))  # fmt: skip
    (wheel,) = dist.glob(f"access_reconciler-{__version__}-*.whl")
    lock_hash = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"access-adopter-wheels-{lock_hash}"
    cache.mkdir(exist_ok=True)
    _dependency_wheels(cache)
    files = work / "files"
    shutil.copytree(cache, files, ignore=shutil.ignore_patterns(".complete"))
    shutil.copy2(wheel, files / wheel.name)
    write_simple_index(files, work / "index")
    with serve_directory(work / "index") as url:
        yield Release(f"{url}/simple/", wheel)


def _venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / BIN


@pytest.fixture(scope="module")
def laptop(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The administrator's machine: access installed from the index, as the docs say."""
    bin_dir = _venv(tmp_path_factory.mktemp("laptop") / "venv")
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", f"access-reconciler=={__version__}"],
         cwd=bin_dir, env=_pip_env(release.index))  # fmt: skip
    return bin_dir


# ---------------------------------------------------------------- a GitHub Actions runner, in small


_CONTEXT = re.compile(r"(?<![\w.'])([a-z_][\w-]*(?:\.[\w*-]+)+)")
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class JobRun:
    result: str = "success"
    outputs: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


@dataclass
class Runner:
    """Runs a workflow's jobs in `needs` order and their `run:` steps with bash, as Actions does:
    each job on a fresh runner (a new clone of `origin`, an empty RUNNER_TEMP), artifacts carried
    between jobs by upload-artifact and download-artifact."""

    origin: Path
    home: Path
    env: dict[str, str]  # the runner's environment: PATH to a fresh Python, GITHUB_*, ...
    secrets: dict[str, str]
    variables: dict[str, str]
    checkout: str = "main"  # what actions/checkout checks out
    workspace: Path = Path()
    event: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, JobRun] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def lookup(self, path: str) -> Any:
        head, *rest = path.split(".")
        roots: dict[str, Any] = {
            "github": {
                "token": DEFAULT_TOKEN, "repository": REPOSITORY, "ref": self.env["GITHUB_REF"],
                "run_id": self.env["GITHUB_RUN_ID"], "run_attempt": "1", "event": self.event,
                "workspace": str(self.workspace),
            },
            "secrets": self.secrets, "vars": self.variables, "steps": self.steps,
            "needs": {k: {"outputs": v.outputs, "result": v.result} for k, v in self.jobs.items()},
            "runner": {"temp": self.env["RUNNER_TEMP"]},
        }  # fmt: skip
        value: Any = roots[head]
        previous = head
        for key in rest:
            if previous in ("secrets", "vars", "outputs"):  # unset: an empty string, as on GitHub
                value = value.get(key, "")
            else:
                assert isinstance(value, dict) and key in value, f"unknown context {path}"
                value = value[key]
            previous = key
        return value

    def evaluate(self, expression: str) -> Any:
        """The GitHub expressions the written workflows use: contexts, literals, ==, !=, !, &&, ||,
        cancelled(), success(), always()."""
        literals: list[str] = []

        def keep(match: re.Match[str]) -> str:
            literals.append(match[1])
            return f"__literal{len(literals) - 1}__"

        code = re.sub(r"'([^']*)'", keep, expression)
        code = code.replace("&&", " and ").replace("||", " or ")
        code = re.sub(r"!(?!=)", " not ", code)
        code = code.replace("cancelled()", "False").replace("success()", "True").replace("always()", "True")
        code = code.replace("hashFiles(", "_hash(")
        code = _CONTEXT.sub(lambda m: f"_ctx({m[1]!r})", code)
        code = re.sub(r"__literal(\d+)__", lambda m: repr(literals[int(m[1])]), code)

        def hash_files(pattern: str) -> str:
            return "present" if any(self.workspace.glob(pattern)) else ""

        names = {"_ctx": self.lookup, "_hash": hash_files}
        return eval(code, {"__builtins__": {}}, names)  # the workflow's own expressions, nothing else

    def expand(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: str(self.evaluate(m[1])), text)

    def condition(self, value: Any) -> bool:
        if value is None:
            return True
        text = str(value).strip()
        inner = _EXPRESSION.fullmatch(text)
        return bool(self.evaluate(inner[1] if inner else text))

    def run_workflow(self, path: Path) -> dict[str, JobRun]:
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.jobs = {}
        artifacts = self.home / "artifacts"
        shutil.rmtree(artifacts, ignore_errors=True)
        pending = dict(workflow["jobs"])
        while pending:
            job_id, job = next(
                (j, spec) for j, spec in pending.items()
                if all(n in self.jobs for n in ([spec["needs"]] if isinstance(spec.get("needs"), str) else spec.get("needs", [])))
            )  # fmt: skip
            del pending[job_id]
            assert "uses" not in job, f"{path.name}: {job_id} calls another workflow"
            run = self.jobs[job_id] = JobRun()
            if not self.condition(job.get("if")):
                run.result = "skipped"
                continue
            self.steps = {}
            self._fresh_runner(job_id)
            self._run_job(path.name, job_id, job, run)
        return self.jobs

    def _fresh_runner(self, job_id: str) -> None:
        job_dir = self.home / "jobs" / job_id
        shutil.rmtree(job_dir, ignore_errors=True)
        self.workspace = job_dir / "work"
        git.Repo.clone_from(str(self.origin), self.workspace, no_checkout=True)
        (job_dir / "temp").mkdir()
        self.env |= {"RUNNER_TEMP": str(job_dir / "temp"), "GITHUB_WORKSPACE": str(self.workspace)}

    def _artifact(self, uses: str, options: dict[str, Any]) -> None:
        """upload-artifact copies its paths under the artifact's name; download-artifact back."""
        store = self.home / "artifacts" / self.expand(str(options["name"]))
        if uses.startswith("actions/upload-artifact@"):
            for line in self.expand(str(options["path"])).splitlines():
                source = (
                    Path(line.strip()) if Path(line.strip()).is_absolute() else self.workspace / line.strip()
                )
                if line.strip() and source.is_file():
                    target = store / (source.name if Path(line.strip()).is_absolute() else line.strip())
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
        else:
            destination = Path(self.expand(str(options.get("path", self.workspace))))
            shutil.copytree(store, destination, dirs_exist_ok=True)

    def _run_job(self, workflow: str, job_id: str, job: dict[str, Any], run: JobRun) -> None:
        for number, step in enumerate(job["steps"]):
            step_id = step.get("id", f"step{number}")
            if run.result == "failure" and "if" not in step:
                continue
            if not self.condition(step.get("if")):
                continue
            uses = step.get("uses", "")
            if uses:
                if uses.startswith("actions/checkout@"):
                    if re.fullmatch(r"[0-9a-f]{40}", self.checkout):  # a pull request's commit
                        self.git("fetch", "--quiet", "origin", self.checkout)
                    self.git("checkout", "--quiet", "--force", "--detach", self.checkout)
                elif "-artifact@" in uses:
                    self._artifact(uses, step.get("with") or {})
                # setup-python: the runner's fresh Python is on PATH.
                continue
            output = Path(self.env["RUNNER_TEMP"]) / f"output-{job_id}-{step_id}"
            output.write_text("", encoding="utf-8")
            env = {**self.env, "GITHUB_OUTPUT": str(output)}
            env |= {k: self.expand(str(v)) for k, v in (step.get("env") or {}).items()}
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.workspace, env=env, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            outputs = dict(
                line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines() if "=" in line
            )
            outcome = "success" if done.returncode == 0 else "failure"
            self.steps[step_id] = {"outputs": outputs, "outcome": outcome}
            name = step.get("name", step_id)
            run.log.append(
                f"--- {workflow} {job_id}: {name} (exit {done.returncode})\n{done.stdout}{done.stderr}"
            )
            if done.returncode != 0 and not step.get("continue-on-error"):
                run.result = "failure"
        run.outputs = {k: self.expand(str(v)) for k, v in (job.get("outputs") or {}).items()}

    def git(self, *args: str) -> str:
        return str(git.Repo(self.workspace).git.execute(["git", *args]))


def _passed(jobs: dict[str, JobRun]) -> None:
    logs = "\n".join(line for job in jobs.values() for line in job.log)
    assert all(job.result in ("success", "skipped") for job in jobs.values()), logs


# ---------------------------------------------------------------- the walk


@pytest.fixture
def vendors(laptop: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """`access sandbox serve` from the release: the vendors on loopback, and how to reach them."""
    where = tmp_path / "vendors"
    where.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env |= {"ACCESS_TODAY": TODAY, "PATH": f"{laptop}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        [str(laptop / "access"), "sandbox", "serve"], cwd=where, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    found: dict[str, str] = {}
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        while "ACCESS_ALLOW_HOSTS" not in found and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                found[key] = value
        assert "ACCESS_ALLOW_HOSTS" in found, "access sandbox serve printed no settings"
        yield found
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()


def _secrets(served: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The environments' secrets and the repository variables, as docs/adopting.md sets them, with
    the simulated vendors' credentials (the read and the write sets alike)."""
    secrets = {"ACCESS_APPLY_POINT_KEY": APPLY_POINT_KEY}
    for name in ("PROCORE_CLIENT_ID", "PROCORE_CLIENT_SECRET", "PINGONE_CLIENT_ID", "PINGONE_CLIENT_SECRET"):
        vendor, rest = name.split("_", 1)
        secrets[name] = secrets[f"{vendor}_READ_{rest}"] = served[name]
    variables = {
        k: served.get(k, "") for k in ("PROCORE_COMPANY_ID", "PINGONE_ENVIRONMENT_ID", "CONCUR_COMPANY_ID")
    }
    return secrets, variables


def test_a_company_adopts_a_release_and_its_first_pull_request_is_validated_planned_approved_and_applied(
    release: Release, laptop: Path, vendors: dict[str, str], tmp_path: Path
) -> None:
    started = time.monotonic()
    github = GitHubSimulator(REPOSITORY)
    with serve(github.handle) as api:
        admin_env = {
            **_pip_env(release.index), **vendors, "ACCESS_TODAY": TODAY, "GITHUB_REPOSITORY": REPOSITORY,
            "PATH": f"{laptop}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path / "admin"),
            "GIT_CONFIG_GLOBAL": os.devnull,
        }  # fmt: skip
        # 1. An empty repository, scaffolded and imported by the administrator.
        company = tmp_path / "company"
        repo = git.Repo.init(company, initial_branch="main")
        with repo.config_writer() as config:
            config.set_value("user", "name", "Hana Admin").set_value("user", "email", "hana@acme.example")
        _run(["access", "init"], cwd=company, env=admin_env)
        written = sorted(p.name for p in (company / ".github" / "workflows").glob("*.yml"))
        assert written == [
            "access-request.yml",
            "apply.yml",
            "drift.yml",
            "plan.yml",
            "recertify.yml",
            "validate.yml",
        ]
        lock = (company / "requirements-access.lock").read_text(encoding="utf-8")
        wheel_hash = hashlib.sha256(release.wheel.read_bytes()).hexdigest()
        assert f"access-reconciler=={__version__} \\\n    --hash=sha256:{wheel_hash}" in lock
        _run(["access", "import", "--vendor", "procore", "--vendor", "pingone"], cwd=company, env=admin_env)
        assert not (company / "access" / "concur.yaml").exists()
        # Approvals count from people access/people.yaml knows by GitHub login (docs/adopting.md).
        people = company / "access" / "people.yaml"
        text = people.read_text(encoding="utf-8")
        for name, login in (("Carol Okafor", "cokafor"), ("Heidi Brandt", "hbrandt")):
            assert f"name: {name}}}" in text
            text = text.replace(f"name: {name}}}", f"name: {name}, github: {login}}}")
        people.write_text(text, encoding="utf-8")
        _run(["access", "validate"], cwd=company, env=admin_env)
        assert "No changes" in _run(["access", "plan", "--detailed-exitcode"], cwd=company, env=admin_env)
        repo.git.add(all=True)
        adopted = repo.index.commit("Adopt access").hexsha
        origin = tmp_path / "origin.git"
        git.Repo.init(origin, bare=True, initial_branch="main")
        repo.create_remote("origin", str(origin))
        repo.git.push("origin", "main")
        github.direct_push(adopted, author="hana")
        # 2. The first apply point, as an administrator sets it once.
        _run(["access", "apply-point", "set", adopted], cwd=company, env={**admin_env, "ACCESS_APPLY_POINT_KEY": APPLY_POINT_KEY})  # fmt: skip
        repo.git.push("origin", "+refs/access/applied:refs/access/applied")

        # 3. A pull request: one line gives mike.chen the Contractor Leads group.
        repo.git.checkout("-b", "mike/contractor-leads")
        pingone = company / "access" / "pingone.yaml"
        text = pingone.read_text(encoding="utf-8")
        assert "Contractor Leads: [oscar.reyes]" in text
        pingone.write_text(
            text.replace("Contractor Leads: [oscar.reyes]", "Contractor Leads: [oscar.reyes, mike.chen]")
        )
        repo.index.add(["access/pingone.yaml"])
        author = git.Actor("Carol Okafor", "carol@acme.example")
        head = repo.index.commit("Give mike Contractor Leads", author=author, committer=author).hexsha
        repo.git.push("origin", "mike/contractor-leads", f"{head}:refs/pull/1/head")
        number = github.create_pull(
            "carol", head, title="Give mike Contractor Leads", head_ref="mike/contractor-leads"
        )

        # The runner: a fresh Python that has nothing installed; each job clones origin anew.
        python_bin = _venv(tmp_path / "runner" / "python")
        runner_env = {
            **_pip_env(release.index), "PATH": f"{python_bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path / "runner" / "home"), "GIT_CONFIG_GLOBAL": os.devnull, "CI": "true",
            "GITHUB_ACTIONS": "true", "GITHUB_API_URL": api, "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_EVENT_PATH": str(tmp_path / "runner" / "event.json"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "runner" / "summary.md"),
            "GITHUB_ENV": str(tmp_path / "runner" / "env"),
            "ACCESS_TODAY": TODAY, **{k: vendors[k] for k in VENDOR_HOSTS},
        }  # fmt: skip
        secrets, variables = _secrets(vendors)
        runner = Runner(origin, tmp_path / "runner", runner_env, secrets, variables)
        workflows = company / ".github" / "workflows"

        def on(event_name: str, ref: str, checkout: str, payload: dict[str, Any]) -> None:
            runner.env |= {"GITHUB_EVENT_NAME": event_name, "GITHUB_REF": ref}
            runner.checkout, runner.event = checkout, payload
            Path(runner.env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload), encoding="utf-8")

        pull = {
            "number": number,
            "pull_request": {
                "number": number,
                "head": {"sha": head, "repo": {"full_name": REPOSITORY}},
            },
            "repository": {"default_branch": "main"},
        }
        # validate.yml: the pull request's own code (its merge commit; here its head).
        on("pull_request", f"refs/pull/{number}/merge", head, pull)
        _passed(runner.run_workflow(workflows / "validate.yml"))
        # plan.yml: the default branch's code, the pull request's YAML as data; ONE comment.
        on("pull_request_target", "refs/heads/main", "origin/main", pull)
        _passed(runner.run_workflow(workflows / "plan.yml"))
        (comment,) = [c.body for c in github.comments_on(number) if COMMENT_MARKER in c.body]
        assert "| `+` | mike.chen | group Contractor Leads |" in comment, comment
        assert "mike.chen" in Path(runner.env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")

        # 4. Approved by someone other than the author, merged.
        github.review(number, "hbrandt", "APPROVED")
        repo.git.checkout("main")
        repo.git.merge("--no-ff", "mike/contractor-leads", "-m", f"Merge pull request #{number}")
        merged = repo.head.commit.hexsha
        repo.git.push("origin", "main")
        github.merge(number, merged, merged_by="hbrandt")

        # apply.yml on the push to main: applied, the audit trail and the apply point recorded.
        on("push", "refs/heads/main", "origin/main", {"ref": "refs/heads/main", "after": merged})
        jobs = runner.run_workflow(workflows / "apply.yml")
        _passed(jobs)
        log = "\n".join(jobs["apply"].log)
        assert "mike.chen" in log and "Contractor Leads" in log, log
        assert jobs["record"].result == "success", "\n".join(jobs["record"].log)
        pushed = git.Repo(origin)
        assert pushed.git.rev_parse("refs/access/applied^{commit}") == merged
        assert pushed.git.rev_parse("--verify", "refs/access/audit")

    # 5. The vendors now hold what the YAML says.
    after = _run(["access", "plan", "--detailed-exitcode"], cwd=company, env=admin_env)
    assert "No changes" in after
    assert time.monotonic() - started < 120
