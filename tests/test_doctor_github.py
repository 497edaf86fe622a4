"""`access doctor --github` against the GitHub simulator on loopback: a repository set up as the gate
needs passes every check; each thing set up wrong fails its own line, saying what to change.

The clone's origin is a bare repository reached through its github.com URL (git's `insteadOf`), so
the repository comes from the origin remote and the apply point from a real `git ls-remote`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pytest

from reconciler import apply_point, gate
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.serve import serve
from tests.conftest import ROOT
from tests.helpers import run_cli
from tests.test_github_local import fake_gh

pytestmark = pytest.mark.loopback

REPO = "harborbuild/access"
URL = f"https://github.com/{REPO}.git"
KEY = "0123456789abcdef" * 4
PULL_REQUEST: dict[str, Any] = {
    "type": "pull_request",
    "parameters": {
        "required_approving_review_count": 1,
        "dismiss_stale_reviews_on_push": True,
        "require_code_owner_review": True,
        "require_last_push_approval": True,
        "required_review_thread_resolution": False,
        "allowed_merge_methods": ["merge", "squash", "rebase"],
    },
}
STATUS_CHECKS: dict[str, Any] = {
    "type": "required_status_checks",
    "parameters": {
        "strict_required_status_checks_policy": True,
        "do_not_enforce_on_create": False,
        "required_status_checks": [{"context": "plan"}, {"context": "validate"}],
    },
}
GOOD_RULES = [PULL_REQUEST, STATUS_CHECKS, {"type": "non_fast_forward"}, {"type": "deletion"}]
POLICY_FILES = ", ".join(f"policies/{p.name}" for p in sorted((ROOT / "policies").glob("*.yaml")))
CODEOWNERS = "* @harborbuild/maintainers\n/.github/ @harborbuild/security\n/policies/ @harborbuild/security\n"


def workflow_secrets() -> set[str]:
    """Every secret the shipped workflows name (the fixture sets all of them in both environments)."""
    text = "".join(p.read_text() for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    return set(re.findall(r"secrets\.([A-Z0-9_]+)", text)) - {"GITHUB_TOKEN"}


@dataclass
class Setup:
    sim: GitHubSimulator
    work: git.Repo
    origin: Path
    capsys: pytest.CaptureFixture[str]

    def doctor(self, *args: str) -> tuple[int, list[str], str]:
        code, out, err = run_cli(
            self.capsys, "--repo", str(self.work.working_dir), "doctor", "--github", *args
        )
        return code, out.splitlines(), err

    def line(self, name: str) -> str:
        _, lines, _ = self.doctor()
        found = [line for line in lines if line[2:].startswith(f"github: {name}: ")]
        assert len(found) == 1, lines
        return found[0]

    def ruleset(self, rules: list[dict[str, Any]], **options: Any) -> int:
        return self.sim.settings.add_ruleset(REPO, "protect main", rules, **options)

    def sign(self, sha: str, key: str = KEY, repository: str = REPO) -> None:
        gate.record_apply_point(self.work, sha, key.encode(), repository)
        self.work.git.push("--force", "origin", f"{apply_point.REF}:{apply_point.REF}")


@pytest.fixture
def setup(
    git_repo: Callable[..., git.Repo],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Setup]:
    seed = git_repo("seed")
    origin = tmp_path / "origin.git"
    git.Repo.clone_from(seed.working_dir, origin, bare=True)
    work = git.Repo.clone_from(str(origin), tmp_path / "work")
    with work.config_writer() as config:
        config.set_value(f'url "{origin}"', "insteadOf", URL)
    work.git.remote("set-url", "origin", URL)
    sim = GitHubSimulator(REPO)
    for name in ("access-read", "access-apply"):
        sim.settings.add_environment(REPO, name, branches=["main"])
        for secret in workflow_secrets():
            sim.secrets.put(REPO, secret, environment=name)
    sim.settings.add_ruleset(REPO, "protect main", GOOD_RULES)
    sim.put_file(".github/CODEOWNERS", CODEOWNERS)
    done = Setup(sim, work, origin, capsys)
    done.sign(work.head.commit.hexsha)
    with serve(sim.handle) as url:
        for name, value in {
            "GITHUB_API_URL": url,
            "GITHUB_TOKEN": DEFAULT_TOKEN,
            "ACCESS_APPLY_POINT_KEY": KEY,
        }.items():
            monkeypatch.setenv(name, value)
        yield done


# ---------------------------------------------------------------- everything set up


def test_a_repository_set_up_as_the_gate_needs_passes_every_check(setup: Setup) -> None:
    code, lines, err = setup.doctor()
    assert code == 0, lines
    sha = setup.work.head.commit.hexsha[:12]
    assert lines == [
        f"✓ github: repository: {REPO} (from the origin remote), token from GITHUB_TOKEN; default branch main",
        "✓ github: environment access-read: only main may deploy to it",
        "✓ github: environment access-apply: only main may deploy to it",
        lines[3],
        lines[4],
        "✓ github: main: pull request required: every change arrives as a pull request (ruleset 'protect main')",
        "✓ github: main: approvals: at least 1 approval before merging (ruleset 'protect main')",
        "✓ github: main: stale approvals dismissed: a push dismisses earlier approvals (ruleset 'protect main')",
        "✓ github: main: last push approved: someone other than the last pusher approves the final head "
        "(ruleset 'protect main')",
        "✓ github: main: up to date before merging: branches must be up to date and pass plan, validate "
        "(ruleset 'protect main')",
        "✓ github: main: force pushes blocked: main's history cannot be rewritten (ruleset 'protect main')",
        "✓ github: main: deletion blocked: main cannot be deleted (ruleset 'protect main')",
        "✓ github: CODEOWNERS: policies/ is owned by @harborbuild/security (.github/CODEOWNERS:3), whose review "
        "is required",
        f"✓ github: apply point: {sha} 'example access' on main, signed for {REPO}; signature valid",
    ]
    assert re.match(r"✓ github: secrets of access-read: all \d+ secrets its jobs use are set: ", lines[3])
    assert "PROCORE_READ_CLIENT_SECRET" in lines[3] and "ACCESS_APPLY_POINT_KEY" not in lines[3]
    assert re.match(
        r"✓ github: secrets of access-apply: all \d+ secrets its jobs use are set: ACCESS_APPLY_POINT_KEY",
        lines[4],
    )
    assert "refs/access/*: rulesets protect branches and tags only" in err
    assert err.rstrip().endswith("14 passed, 0 failed")


def test_json_has_every_check(setup: Setup) -> None:
    code, lines, _ = setup.doctor("--format", "json")
    document = json.loads("\n".join(lines))
    assert code == 0 and document["ok"] is True and document["failed"] == 0 and document["passed"] == 14
    assert document["checks"][1] == {
        "area": "github", "check": "environment access-read", "ok": True,
        "detail": "only main may deploy to it",
    }  # fmt: skip
    assert document["notes"][0].startswith("refs/access/*")
    setup.sim.settings.remove_environment(REPO, "access-read")
    code, lines, _ = setup.doctor("--format", "json")
    document = json.loads("\n".join(lines))
    assert code == 1 and document["ok"] is False and document["failed"] == 1
    assert [c["check"] for c in document["checks"] if not c["ok"]] == ["environment access-read"]


# ---------------------------------------------------------------- the repository and the token


def test_no_token_and_no_gh_fails_saying_how_to_log_in(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    code, lines, _ = setup.doctor()
    assert code == 1
    assert lines == [
        "✗ github: repository: GITHUB_TOKEN is not set; in a workflow, give it with "
        "`env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`; locally, `gh auth login` is enough: access asks "
        "`gh auth token`"
    ]


def test_the_token_of_gh_is_used_when_github_token_is_unset(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    fake_gh(tmp_path / "bin", monkeypatch, DEFAULT_TOKEN)
    line = setup.line("repository")
    assert (
        line
        == f"✓ github: repository: {REPO} (from the origin remote), token from gh auth token; default branch main"
    )


def test_a_wrong_token_fails_the_repository_check(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrongwrongwrongwrongwrongwrong0000")
    code, lines, _ = setup.doctor()
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("✗ github: repository: GitHub: authentication failed (Bad credentials)")
    assert "ghp_wrong" not in lines[0]


def test_an_answer_that_is_not_githubs_fails_one_line_and_the_rest_still_runs(setup: Setup) -> None:
    setup.sim.faults.add("garbage", match="GET /repos/harborbuild/access/environments")
    code, lines, _ = setup.doctor()
    assert code == 1
    (failed,) = [line for line in lines if line.startswith("✗")]
    assert failed.startswith("✗ github: reachable: github: 127.0.0.1:") and "with an HTML page" in failed
    assert "not a list of environments" in failed
    assert lines[-1].startswith("✓ github: apply point: ")  # git, not the API: still checked


# ---------------------------------------------------------------- environments


def test_a_missing_environment_fails(setup: Setup) -> None:
    setup.sim.settings.remove_environment(REPO, "access-apply")
    code, lines, _ = setup.doctor()
    assert code == 1
    assert (
        "✗ github: environment access-apply: does not exist: create it (Settings > Environments), then set "
        "Deployment branches and tags to 'Selected branches and tags' with the one branch rule main"
    ) in lines
    assert not any("secrets of access-apply" in line for line in lines)  # one cause, one line


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "any branch may deploy to it, so a workflow pushed to any branch gets its secrets: set Deployment "
             "branches and tags to 'Selected branches and tags' with the one branch rule main"),
        ({"protected_branches": True}, "every protected branch may deploy to it, not only main: set Deployment "
         "branches and tags to 'Selected branches and tags' with the one branch rule main"),
        ({"branches": ["main", "release/*"]}, "release/* may deploy to it too: remove it, keep only main"),
        ({"branches": ["main", "tag:v*", "dev"]}, "tag v*, dev may deploy to it too: remove them, keep only main"),
        ({"branches": ["ma*"]}, "main may not deploy to it (allowed: ma*): set Deployment branches and tags "
         "to 'Selected branches and tags' with the one branch rule main"),
    ],
)  # fmt: skip
def test_an_environment_other_branches_may_deploy_to_fails(
    setup: Setup, options: dict[str, Any], expected: str
) -> None:
    setup.sim.settings.add_environment(REPO, "access-read", **options)
    assert setup.line("environment access-read") == f"✗ github: environment access-read: {expected}"


def test_environments_the_token_cannot_read_fail_saying_which_token_can(setup: Setup) -> None:
    setup.sim.settings.deny("environments")
    line = setup.line("environment access-apply")
    assert line.startswith("✗ github: environment access-apply: the token cannot read environments (")
    assert "use a repository administrator's token" in line


# ---------------------------------------------------------------- secrets


def test_a_missing_secret_fails_naming_it_and_the_workflow(setup: Setup) -> None:
    setup.sim.secrets.remove(REPO, "ACCESS_APPLY_POINT_KEY", environment="access-apply")
    assert setup.line("secrets of access-apply") == (
        "✗ github: secrets of access-apply: missing ACCESS_APPLY_POINT_KEY (used by .github/workflows/apply.yml): "
        "add them as secrets of the access-apply environment (Settings > Environments > access-apply)"
    )


def test_a_secret_any_branch_can_read_fails_even_when_the_job_would_get_it(setup: Setup) -> None:
    setup.sim.secrets.remove(REPO, "PROCORE_CLIENT_SECRET", environment="access-apply")
    setup.sim.secrets.put(REPO, "PROCORE_CLIENT_SECRET")  # a repository secret
    setup.sim.secrets.remove(REPO, "PINGONE_CLIENT_SECRET", environment="access-apply")
    setup.sim.secrets.share_organization_secret(REPO, "PINGONE_CLIENT_SECRET")
    assert setup.line("secrets of access-apply") == (
        "✗ github: secrets of access-apply: PINGONE_CLIENT_SECRET, PROCORE_CLIENT_SECRET are set for the whole "
        "repository or organization, where a workflow on any branch can read them: move them to the "
        "access-apply environment"
    )


def test_only_the_vendors_access_manages_need_their_secrets(setup: Setup) -> None:
    (Path(setup.work.working_dir) / "access" / "concur.yaml").unlink()
    for name in ("access-read", "access-apply"):
        for secret in [s for s in workflow_secrets() if s.startswith("CONCUR_")]:
            setup.sim.secrets.remove(REPO, secret, environment=name)
    line = setup.line("secrets of access-apply")
    assert line.startswith("✓ github: secrets of access-apply: all ") and "CONCUR" not in line


# ---------------------------------------------------------------- the default branch


def _default_branch_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line[2:].startswith("github: main: ")]


def test_no_ruleset_and_no_protection_fails_every_branch_check(setup: Setup) -> None:
    setup.sim.settings.rulesets.clear()
    _, lines, _ = setup.doctor()
    where = "a branch ruleset on main (Settings > Rules > Rulesets; target ~DEFAULT_BRANCH)"
    assert _default_branch_lines(lines) == [
        f"✗ github: main: pull request required: changes can be pushed to main without a pull request: add {where} "
        "with 'Require a pull request before merging'",
        f"✗ github: main: approvals: no approval is required to merge into main: set 'Required approvals' to 1 or "
        f"more in {where}",
        "✗ github: main: stale approvals dismissed: approvals survive new pushes: turn on 'Dismiss stale pull "
        "request approvals when new commits are pushed'",
        "✗ github: main: last push approved: whoever pushes last can merge their own push: turn on 'Require "
        "approval of the most recent reviewable push'",
        "✗ github: main: up to date before merging: no status check is required on main: require the plan and "
        f"validate checks, with 'Require branches to be up to date before merging', in {where}",
        f"✗ github: main: force pushes blocked: main can be force-pushed: turn on 'Block force pushes' in {where}",
        f"✗ github: main: deletion blocked: main can be deleted: turn on 'Restrict deletions' in {where}",
    ]
    assert (
        "✗ github: CODEOWNERS: policies/ is owned by @harborbuild/security (.github/CODEOWNERS:3), but their "
        "review is not required: turn on 'Require review from Code Owners' in the main ruleset"
    ) in lines


def test_classic_branch_protection_counts_as_well(setup: Setup) -> None:
    setup.sim.settings.rulesets.clear()
    setup.sim.settings.protect(REPO, "main", {
        "required_status_checks": {"strict": True, "contexts": ["plan"], "checks": [{"context": "plan", "app_id": None}]},
        "enforce_admins": {"enabled": True},
        "required_pull_request_reviews": {
            "dismiss_stale_reviews": True, "require_code_owner_reviews": True,
            "required_approving_review_count": 2, "require_last_push_approval": True,
        },
        "allow_force_pushes": {"enabled": False},
        "allow_deletions": {"enabled": False},
    })  # fmt: skip
    code, lines, _ = setup.doctor()
    assert code == 0, lines
    branch = _default_branch_lines(lines)
    assert len(branch) == 7 and all(line.endswith("(branch protection)") for line in branch)
    assert "✓ github: main: approvals: at least 2 approvals before merging (branch protection)" in branch


@pytest.mark.parametrize(
    ("parameter", "check", "expected"),
    [
        ("required_approving_review_count", "approvals", "no approval is required to merge into main"),
        ("dismiss_stale_reviews_on_push", "stale approvals dismissed", "approvals survive new pushes"),
        ("require_last_push_approval", "last push approved", "whoever pushes last can merge their own push"),
    ],
)
def test_each_pull_request_setting_left_off_fails_its_own_line(
    setup: Setup, parameter: str, check: str, expected: str
) -> None:
    setup.sim.settings.rulesets.clear()
    rule = {
        "type": "pull_request",
        "parameters": {**PULL_REQUEST["parameters"], parameter: 0 if "count" in parameter else False},
    }
    setup.ruleset([rule, STATUS_CHECKS, {"type": "non_fast_forward"}, {"type": "deletion"}])
    code, lines, _ = setup.doctor()
    assert code == 1
    failed = [line for line in lines if line.startswith("✗")]
    assert len(failed) == 1 and failed[0].startswith(f"✗ github: main: {check}: {expected}")


def test_required_checks_without_up_to_date_branches_fail(setup: Setup) -> None:
    setup.sim.settings.rulesets.clear()
    lax = {
        "type": "required_status_checks",
        "parameters": {**STATUS_CHECKS["parameters"], "strict_required_status_checks_policy": False},
    }
    setup.ruleset([PULL_REQUEST, lax, {"type": "non_fast_forward"}, {"type": "deletion"}])
    assert setup.line("main: up to date before merging") == (
        "✗ github: main: up to date before merging: plan, validate are required, but a branch may merge without "
        "being up to date (its plan is then not of what merges): turn on 'Require branches to be up to date "
        "before merging'"
    )


@pytest.mark.parametrize(
    ("dropped", "check", "expected"),
    [
        ("non_fast_forward", "force pushes blocked", "main can be force-pushed"),
        ("deletion", "deletion blocked", "main can be deleted"),
    ],
)
def test_force_pushes_or_deletion_allowed_fail(setup: Setup, dropped: str, check: str, expected: str) -> None:
    setup.sim.settings.rulesets.clear()
    setup.ruleset([r for r in GOOD_RULES if r["type"] != dropped])
    assert setup.line(f"main: {check}").startswith(f"✗ github: main: {check}: {expected}: turn on")


def test_a_ruleset_in_evaluate_mode_enforces_nothing_and_says_so(setup: Setup) -> None:
    setup.sim.settings.rulesets.clear()
    setup.ruleset([{"type": "non_fast_forward"}, {"type": "deletion"}])
    setup.sim.settings.add_ruleset(
        REPO, "reviews (trial)", [PULL_REQUEST, STATUS_CHECKS], enforcement="evaluate"
    )
    line = setup.line("main: approvals")
    assert line.endswith(
        "; ruleset 'reviews (trial)' has it but is in evaluate mode: set its enforcement to Active"
    ), line
    assert setup.line("main: deletion blocked").startswith("✓")


def test_a_ruleset_on_other_branches_does_not_count(setup: Setup) -> None:
    setup.sim.settings.rulesets.clear()
    setup.ruleset(GOOD_RULES, include=["refs/heads/release/*"])
    assert setup.line("main: pull request required").startswith("✗")


def test_an_organization_ruleset_counts_and_is_named_so(setup: Setup) -> None:
    setup.sim.settings.rulesets.clear()
    setup.sim.settings.add_ruleset(
        REPO, "org baseline", GOOD_RULES, organization="harborbuild", include=["~ALL"]
    )
    assert setup.line("main: deletion blocked") == (
        "✓ github: main: deletion blocked: main cannot be deleted (organization ruleset 'org baseline')"
    )


# ---------------------------------------------------------------- CODEOWNERS


@pytest.mark.parametrize(
    ("location", "text", "expected"),
    [
        (None, "", "there is none on main: add .github/CODEOWNERS with a line such as `/policies/ "
                   "@your-org/security`, and turn on 'Require review from Code Owners'"),
        (".github/CODEOWNERS", "/docs/ @harborbuild/docs\n", f".github/CODEOWNERS leaves {POLICY_FILES}, "
         "policies/new-policy.yaml without an owner: add a line such as `/policies/ @your-org/security` after "
         "the others"),
        ("CODEOWNERS", "/policies/ @harborbuild/security\npolicies/a*.yaml\n", "CODEOWNERS leaves "
         "policies/approvers.yaml without an owner"),
    ],
)  # fmt: skip
def test_codeowners_that_do_not_cover_policies_fail(
    setup: Setup, location: str | None, text: str, expected: str
) -> None:
    setup.sim.repo().files.pop(".github/CODEOWNERS")
    if location is not None:
        setup.sim.put_file(location, text)
    assert setup.line("CODEOWNERS").startswith(f"✗ github: CODEOWNERS: {expected}")


def test_the_codeowners_access_init_writes_fails_until_its_placeholder_is_replaced(setup: Setup) -> None:
    from reconciler.init_files import CODEOWNERS as WRITTEN

    setup.sim.put_file(".github/CODEOWNERS", WRITTEN)
    assert setup.line("CODEOWNERS") == (
        "✗ github: CODEOWNERS: policies/ is owned by @your-org/security, the placeholder `access init` wrote: "
        "replace it in .github/CODEOWNERS with the team that owns access policy"
    )
    setup.sim.put_file(".github/CODEOWNERS", WRITTEN.replace("@your-org/security", "@harborbuild/security"))
    assert setup.line("CODEOWNERS").startswith(
        "✓ github: CODEOWNERS: policies/ is owned by @harborbuild/security"
    )


def test_codeowners_is_read_from_docs_too(setup: Setup) -> None:
    setup.sim.repo().files.pop(".github/CODEOWNERS")
    setup.sim.put_file("docs/CODEOWNERS", "/policies/ @harborbuild/security\n")
    assert setup.line("CODEOWNERS").startswith(
        "✓ github: CODEOWNERS: policies/ is owned by @harborbuild/security (docs/CODEOWNERS:1)"
    )


# ---------------------------------------------------------------- the apply point


def test_no_apply_point_on_origin_fails_saying_how_to_set_the_first(setup: Setup) -> None:
    setup.work.git.push("origin", f":{apply_point.REF}")
    assert setup.line("apply point") == (
        "✗ github: apply point: refs/access/applied does not exist on origin: an administrator sets the first one, "
        "`ACCESS_APPLY_POINT_KEY=... access apply-point set <commit in force>` then "
        "`git push origin +refs/access/applied:refs/access/applied` (docs/approval.md)"
    )


def test_an_apply_point_signed_with_another_key_fails(setup: Setup) -> None:
    setup.sign(setup.work.head.commit.hexsha, key="another key, 32 characters long!")
    line = setup.line("apply point")
    assert line.startswith("✗ github: apply point: refs/access/applied (")
    assert f"is not signed with ACCESS_APPLY_POINT_KEY for {REPO}" in line


def test_without_the_key_the_point_is_checked_for_its_repository_only(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACCESS_APPLY_POINT_KEY")
    assert setup.line("apply point").endswith(
        f"signed for {REPO}; signature not checked: ACCESS_APPLY_POINT_KEY is not set here (a secret of access-apply)"
    )
    setup.sign(setup.work.head.commit.hexsha, repository="harborbuild/access-staging")
    assert setup.line("apply point") == (
        f"✗ github: apply point: refs/access/applied is signed for harborbuild/access-staging, not {REPO}: it was "
        "copied from another repository; an administrator re-signs it with `access apply-point set <commit>`"
    )


def test_an_apply_point_off_the_default_branch_fails(setup: Setup) -> None:
    work = setup.work
    work.git.checkout("-b", "side")
    (Path(work.working_dir) / "side.txt").write_text("side\n")
    work.index.add(["side.txt"])
    side = work.index.commit("side commit").hexsha
    work.git.push("origin", "side")
    setup.sign(side)
    line = setup.line("apply point")
    assert line.startswith(
        f"✗ github: apply point: its commit {side[:12]} is not on main: main's history was rewritten"
    )


def test_the_point_on_origin_is_judged_and_the_local_one_left_as_it_was(setup: Setup) -> None:
    """An administrator's signed but unpushed point stays; doctor reports what origin has."""
    work = setup.work
    setup.sign(work.head.commit.hexsha, repository="harborbuild/other")  # what origin has
    gate.record_apply_point(work, work.head.commit.hexsha, KEY.encode(), REPO)  # local, not pushed
    mine = work.git.rev_parse(apply_point.REF)
    line = setup.line("apply point")
    assert line.startswith("✗ github: apply point: refs/access/applied (") and "harborbuild/other" not in line
    assert work.git.rev_parse(apply_point.REF) == mine


# ---------------------------------------------------------------- a master repository


def test_a_master_repository_is_checked_on_master(setup: Setup) -> None:
    setup.sim.repo().default_branch = "master"
    code, lines, _ = setup.doctor()
    assert code == 1
    assert lines[0].endswith("default branch master")
    assert (
        "✗ github: environment access-read: master may not deploy to it (allowed: main): set Deployment "
        "branches and tags to 'Selected branches and tags' with the one branch rule master"
    ) in lines
    assert "✓ github: master: deletion blocked: master cannot be deleted (ruleset 'protect main')" in lines
