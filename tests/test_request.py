"""`access request`: the one-line YAML change on a new branch, pushed, and its pull request opened
with the plan preview; and the issue form -> pull request workflow, replayed against the simulator.

A real git repository with a bare origin; the GitHub simulator served on loopback sees what was
pushed to that origin (its `branch_source`), as GitHub sees a push.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import git
import pytest
import yaml

from reconciler import cli, gate
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.github_git import git_branches
from reconciler.simulators.serve import serve
from tests.conftest import ROOT
from tests.github_markdown import pings, text_of, to_html
from tests.test_workflows import REPO, Runner, _codes, github, runner

__all__ = ["github", "runner"]


@pytest.fixture
def origin_repo(git_repo: Callable[..., git.Repo], tmp_path: Path) -> tuple[git.Repo, Path]:
    repo = git_repo("work")
    origin = tmp_path / "origin.git"
    git.Repo.clone_from(repo.working_dir, origin, bare=True)
    repo.create_remote("origin", str(origin))
    repo.git.fetch("origin")
    return repo, origin


@pytest.fixture
def hub(origin_repo: tuple[git.Repo, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubSimulator]:
    sim = GitHubSimulator(REPO)
    sim.branch_source = git_branches(origin_repo[1])
    with serve(sim.handle) as url:
        monkeypatch.setenv("GITHUB_API_URL", url)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
        yield sim


def access(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--repo", str(repo), *args])
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def diff_lines(origin: Path, branch: str) -> list[str]:
    out = git.Repo(origin).git.diff("--unified=0", f"main...{branch}")
    return [line for line in out.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_a_request_opens_a_pull_request_whose_only_diff_is_the_one_line(
    origin_repo: tuple[git.Repo, Path], hub: GitHubSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, origin = origin_repo
    work = Path(repo.working_dir)
    code, out, err = access(capsys, work, "request", "judy", "Pier 7 Retrofit", "Project Engineer",
                            "--reason", "PROC-412", "--no-sync")  # fmt: skip
    assert code == 0, err
    (pull,) = hub.repo().pulls.values()
    assert f"opened pull request #{pull.number}: " in out
    assert pull.head_ref == "access-request/judy-procore-pier-7-retrofit-project-engineer"
    assert diff_lines(origin, pull.head_ref) == [
        "+          judy: {template: Project Engineer, reason: PROC-412}"
    ]
    assert (
        pull.commits == [git.Repo(origin).commit(pull.head_ref).hexsha] and pull.head_sha == pull.commits[0]
    )
    assert pull.title == "Access request: judy → Procore project Pier 7 Retrofit as Project Engineer"
    body = pull.body or ""
    assert (
        "### plan preview" in body and "| `+` | judy | project Pier 7 Retrofit as Project Engineer |" in body
    )
    # The preview names who can approve (dan owns Pier 7 Retrofit) without pinging them: the names come
    # from the YAML, so a word joiner after the `@` keeps GitHub from reading a mention.
    assert "@\u2060dwhitfield" in body and "@dwhitfield" not in body
    assert "planned against the YAML before this change" in body
    # The user's checkout is untouched: still on main, nothing changed.
    assert repo.active_branch.name == "main" and not repo.is_dirty(untracked_files=True)

    # Asking again updates the same pull request (the branch is recreated from main and pushed).
    code, out, _ = access(capsys, work, "request", "judy", "Pier 7 Retrofit", "Project Engineer",
                          "--reason", "PROC-413", "--no-sync")  # fmt: skip
    assert code == 0 and f"updated pull request #{pull.number}" in out
    assert len(hub.repo().pulls) == 1
    assert diff_lines(origin, pull.head_ref) == [
        "+          judy: {template: Project Engineer, reason: PROC-413}"
    ]
    assert hub.repo().pulls[pull.number].head_sha == git.Repo(origin).commit(pull.head_ref).hexsha


# The issue form's reason (anyone who may open an issue writes it): a fake approval with a ping, an
# image, a link, a table row, a backtick fence and a heading.
FAKE_REASON = (
    "**approved by @glin-sec** <img src=x onerror=alert(1)> [click](https://evil.example) "
    "![x](https://evil.example/x.png) | fake | row | ``` \n# Heading"
)


def test_a_requests_description_shows_the_reason_as_written_and_nothing_else(
    origin_repo: tuple[git.Repo, Path], hub: GitHubSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    work = Path(origin_repo[0].working_dir)
    code, _, err = access(capsys, work, "request", "judy", "Pier 7 Retrofit", "Project Engineer",
                          "--reason", FAKE_REASON, "--no-sync")  # fmt: skip
    assert code == 0, err
    (pull,) = hub.repo().pulls.values()
    rendered = to_html(pull.body or "")
    strong = re.findall(r"<strong>(.*?)</strong>", rendered)
    assert strong[:2] == ["Judy Alvarez", "Procore project Pier 7 Retrofit as Project Engineer"]
    assert not any("approved" in s for s in strong), strong
    assert not re.search(r"<(img|a|h1|h2|em|s)\b", rendered), "no image, link, heading or emphasis of its own"
    assert {row.count("<t") for row in re.findall(r"<tr>(.*?)</tr>", rendered, re.S)} == {5}
    assert pings(rendered) == []
    flat = FAKE_REASON.replace("\n", " ")
    assert f"reason: {flat}" in text_of(rendered), "the reason, as written, on one line"
    (diff,) = re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", rendered, re.S)
    assert text_of(diff).startswith("+          judy: {template: Project Engineer, reason: "), (
        "the YAML line stays in its code block"
    )


def test_a_privileged_request_gets_an_expiry_and_needs_a_ticket(
    origin_repo: tuple[git.Repo, Path], hub: GitHubSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, origin = origin_repo
    work = Path(repo.working_dir)
    code, _, err = access(
        capsys, work, "request", "mike", "Environment Admin", "--reason", "because", "--no-sync"
    )
    assert (
        code == 1 and "PingOne role Environment Admin is privileged: --reason 'because' does not match" in err
    )
    assert not hub.repo().pulls
    code, _, err = access(
        capsys, work, "request", "mike", "Environment Admin", "--reason", "SEC-77", "--no-sync"
    )
    assert code == 0, err
    (pull,) = hub.repo().pulls.values()
    # ACCESS_TODAY is 2026-11-23; policies' admin-roles rule: at most 90 days.
    assert diff_lines(origin, pull.head_ref) == [
        "+      mike: {scope: environment, expires: 2027-02-21, reason: SEC-77}"
    ]


def test_a_flow_list_member_is_appended_on_its_line(
    origin_repo: tuple[git.Repo, Path], hub: GitHubSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, origin = origin_repo
    code, _, err = access(capsys, Path(repo.working_dir), "request", "cokafor", "VPN", "--no-sync")
    assert code == 0, err
    (pull,) = hub.repo().pulls.values()
    assert diff_lines(origin, pull.head_ref) == [
        "-    VPN: [site-engineering, it-admins]",
        "+    VPN: [site-engineering, it-admins, carol]",
    ]


def test_unknown_people_and_resources_are_one_clear_line(
    origin_repo: tuple[git.Repo, Path], hub: GitHubSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    work = Path(origin_repo[0].working_dir)
    code, _, err = access(capsys, work, "request", "judie", "VPN", "--no-sync")
    assert code == 1 and "no person 'judie' in access/people.yaml (did you mean 'judy'?)" in err
    code, _, err = access(capsys, work, "request", "judy", "Pier 8", "Project Engineer", "--no-sync")
    assert code == 1 and "no project, role or group 'Pier 8' in access/" in err
    code, _, err = access(capsys, work, "request", "judy", "Pier 7 Retrofit", "--no-sync")
    assert code == 1 and "needs a permission template" in err
    code, _, err = access(capsys, work, "request", "alice", "Pier 7 Retrofit", "Engineer", "--no-sync")
    assert (
        code == 1
        and "alice is already listed under procore.companies.562949953421312.projects.Pier 7 Retrofit" in err
    )
    assert not hub.repo().pulls


def form_body(values: dict[str, str]) -> str:
    """The issue body GitHub writes for a submitted form: `### <label>`, a blank line, the value."""
    form = yaml.safe_load((ROOT / ".github/ISSUE_TEMPLATE/access-request.yml").read_text(encoding="utf-8"))
    parts = []
    for field in form["body"]:
        if field["type"] == "markdown":
            continue
        parts.append(f"### {field['attributes']['label']}\n\n{values.get(field['id']) or '_No response_'}")
    return "\n\n".join(parts)


def test_the_issue_form_becomes_a_pull_request_through_the_workflow(
    runner: Runner, github: tuple[GitHubSimulator, str]
) -> None:
    sim = github[0]
    origin = runner.workspace.parent / "origin.git"
    git.Repo.clone_from(runner.workspace, origin, bare=True)
    git.Repo(runner.workspace).create_remote("origin", str(origin))
    sim.branch_source = git_branches(origin)
    body = form_body({"person": "judy", "resource": "Pier 7 Retrofit", "entitlement": "Project Engineer",
                      "reason": "PROC-500"})  # fmt: skip
    number = sim.open_issue("Access request", body, ["access-request"], author="jalvarez")
    runner.set_event({
        "action": "opened",
        "issue": {"number": number, "body": body, "user": {"login": "jalvarez"},
                  "labels": [{"name": "access-request"}]},
        "repository": {"default_branch": "main"},
    })  # fmt: skip
    runs = runner.run_workflow("access-request.yml")
    assert _codes(runs) == [("request", 0)], [r.output for r in runs]
    (pull,) = sim.repo().pulls.values()
    assert diff_lines(origin, pull.head_ref) == [
        "+          judy: {template: Project Engineer, reason: PROC-500}"
    ]
    assert f"requested in #{number} by @jalvarez" in (pull.body or "")
    commit = git.Repo(origin).commit(pull.head_ref)
    assert commit.author.name == "jalvarez"  # who asked; the committer is the workflow's bot
    assert "\nRequested-by: jalvarez" in str(commit.message)  # so the gate never counts her approval
    assert gate.commit_people(git.Repo(origin), f"{pull.head_ref}~1", pull.head_ref)[1] == {"jalvarez"}
    (comment,) = sim.comments_on(number)
    assert f"#{pull.number}" in comment.body and comment.user == "github-actions[bot]"
    assert json.loads(runner.event.read_text(encoding="utf-8"))["issue"]["number"] == number


def test_expiry_cleanup_updates_one_pull_request(
    origin_repo: tuple[git.Repo, Path],
    hub: GitHubSimulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ivan's Eastside Depot line expired on 2026-10-31; grace's Environment Admin lapses 2026-12-15."""
    repo, origin = origin_repo
    work = Path(repo.working_dir)
    code, out, err = access(capsys, work, "cleanup")
    assert code == 0, err
    (pull,) = hub.repo().pulls.values()
    assert f"opened pull request #{pull.number}" in out and pull.head_ref == "access-cleanup/expired"
    assert diff_lines(origin, pull.head_ref) == [
        "-          ivan: {template: Project Engineer, expires: 2026-10-31, reason: PROC-298}"
    ]
    assert "### Expiring soon" in (
        pull.body or ""
    ) and "grace under roles / Environment Admin: expires 2026-12-15" in (pull.body or "")

    # The next scheduled run, a month later: grace's line has expired too. The same pull request.
    monkeypatch.setenv("ACCESS_TODAY", "2026-12-20")
    code, out, err = access(capsys, work, "cleanup")
    assert code == 0 and f"updated pull request #{pull.number}" in out, err
    assert len(hub.repo().pulls) == 1
    assert diff_lines(origin, pull.head_ref) == [
        "-      grace: {scope: environment, expires: 2026-12-15, reason: SEC-1042}",
        "-          ivan: {template: Project Engineer, expires: 2026-10-31, reason: PROC-298}",
    ]
    updated = hub.repo().pulls[pull.number]
    assert updated.head_sha == git.Repo(origin).commit(pull.head_ref).hexsha
    assert (
        "grace" in (updated.body or "") and "heidi" not in (updated.body or "").split("### Expiring soon")[0]
    )


def test_the_cleanup_description_shows_the_yamls_names_as_written(
    origin_repo: tuple[git.Repo, Path], hub: GitHubSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A project named like markup, whose expired line the cleanup pull request lists and diffs."""
    repo, _ = origin_repo
    work = Path(repo.working_dir)
    name = "**approved by @glin-sec** <img src=x> [x](https://evil.example) | fake | #12"
    procore = work / "access" / "procore.yaml"
    procore.write_text(
        procore.read_text(encoding="utf-8").replace("Eastside Depot:", f"{json.dumps(name)}:"),
        encoding="utf-8",
    )
    repo.index.add(["access/procore.yaml"])
    repo.index.commit("a project named like markup")
    repo.git.push("origin", "main")
    code, _, err = access(capsys, work, "cleanup")
    assert code == 0, err
    (pull,) = hub.repo().pulls.values()
    rendered = to_html(pull.body or "")
    assert not re.search(r"<(img|a|strong|h1|table)\b", rendered) and pings(rendered) == []
    assert f"ivan under companies / 562949953421312 / projects / {name}: expired 2026-10-31" in text_of(
        rendered
    )
    (diff,) = re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", rendered, re.S)
    assert (
        text_of(diff).strip()
        == "-          ivan: {template: Project Engineer, expires: 2026-10-31, reason: PROC-298}"
    )
