"""`access comment` and `access drift` against the GitHub simulator (in process and on loopback)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Awaitable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import SecretStr

from reconciler import cli, sandbox
from reconciler.changes import Plan
from reconciler.commands import comment as comment_cmd
from reconciler.commands.context import AppContext
from reconciler.commands.plan import make_plan
from reconciler.commands.state import Source
from reconciler.console import Output
from reconciler.errors import ConfigError
from reconciler.github_api import GitHubClient, GitHubSettings
from reconciler.render.escape import md_text
from reconciler.render.markdown import COMMENT_MARKER
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.github import API, DEFAULT_TOKEN, GitHubSimulator, fake_sha
from reconciler.simulators.serve import serve
from reconciler.vendors import VENDORS
from tests.github_markdown import pings, text_of, to_html

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
REPO = "harborbuild/access"
TRUSTED = frozenset({"github-actions[bot]"})
CANARY = "ghs_canary-do-not-print-0123456789abcdef"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture(scope="module")
def sandbox_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The example access/ planned against the seeded sandbox (it has changes: the seed drifts)."""
    repo = tmp_path_factory.mktemp("plan") / "repo"
    shutil.copytree(ROOT / "access", repo / "access")
    if (ROOT / "policies").is_dir():
        shutil.copytree(ROOT / "policies", repo / "policies")
    sandbox.reset(repo, VENDORS)
    ctx = AppContext(repo=repo, output=Output(quiet=True), env={"ACCESS_TODAY": "2026-11-23"})
    plan = asyncio.run(make_plan(ctx, Source(sandbox=True))).plan
    assert plan.changes, "the sandbox seed is expected to differ from the example access/"
    return plan


# A pull request's text that would pass for markup: a fake approval with a ping, an image, a link, an
# image link, a table row of its own and a heading on a line of its own.
FAKE = (
    "**approved by @glin-sec** <img src=x onerror=alert(1)> [click](https://evil.example) "
    "![x](https://evil.example/x.png) | fake | row |\n# Heading"
)


def _quoted(text: str) -> str:
    """`text` as a double-quoted YAML scalar."""
    return json.dumps(text)


@pytest.fixture(scope="module")
def hostile_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The example access/ with FAKE as a person's key (in the security team), as the `reason:` of
    oscar's VPN line and of grace's Environment Admin line (a privileged rule's finding quotes it),
    planned against the seeded sandbox."""
    repo = tmp_path_factory.mktemp("hostile") / "repo"
    shutil.copytree(ROOT / "access", repo / "access")
    shutil.copytree(ROOT / "policies", repo / "policies")
    people = repo / "access" / "people.yaml"
    text = people.read_text(encoding="utf-8")
    text = text.replace(
        "\nteams:\n", f"  {_quoted(FAKE)}: {{email: mallory@harborbuild.example, name: M}}\n\nteams:\n"
    )
    text = text.replace(
        "security: {description: Security and compliance}",
        f"security: {{description: Security and compliance, members: [{_quoted(FAKE)}]}}",
    )
    people.write_text(text, encoding="utf-8")
    pingone = repo / "access" / "pingone.yaml"
    text = pingone.read_text(encoding="utf-8")
    text = text.replace(
        "VPN: [site-engineering, it-admins]",
        f"VPN: [site-engineering, it-admins, {{oscar: {{reason: {_quoted(FAKE)}}}}}]",
    )
    text = text.replace("reason: SEC-1042}", f"reason: {_quoted(FAKE)}}}")
    pingone.write_text(text, encoding="utf-8")
    sandbox.reset(repo, VENDORS)
    ctx = AppContext(repo=repo, output=Output(quiet=True), env={"ACCESS_TODAY": "2026-11-23"})
    return asyncio.run(make_plan(ctx, Source(sandbox=True))).plan


@pytest.fixture
def sim() -> GitHubSimulator:
    return GitHubSimulator(REPO)


def client(sim: GitHubSimulator, token: str = DEFAULT_TOKEN) -> GitHubClient:
    owner, _, name = REPO.partition("/")
    settings = GitHubSettings(api_url=API, owner=owner, repo=name, token=SecretStr(token))
    return GitHubClient(settings, writable=True, transport=SimulatorTransport(sim.handle))


async def post(sim: GitHubSimulator, plan: Plan, number: int, head: str | None) -> comment_cmd.CommentOutcome:
    async with client(sim) as gh:
        return await comment_cmd.post_plan_comment(
            gh, plan, comment_cmd.PullTarget(number, head), trusted=TRUSTED
        )


def plan_comments(sim: GitHubSimulator, number: int) -> list[str]:
    return [c.body for c in sim.comments_on(number) if COMMENT_MARKER in c.body]


# ---------------------------------------------------------------- the plan comment


def test_one_comment_is_created_then_updated_in_place_on_every_push(
    sim: GitHubSimulator, sandbox_plan: Plan
) -> None:
    first = fake_sha("pr-1")
    number = sim.create_pull("cokafor", first, title="Give carol the VPN")

    created = run(post(sim, sandbox_plan, number, first))
    assert created.posted is comment_cmd.Posted.CREATED
    again = run(post(sim, sandbox_plan, number, first))
    assert again.posted is comment_cmd.Posted.UNCHANGED  # same plan: not edited, approvals stay valid
    assert again.comment is not None and created.comment is not None
    assert again.comment.updated_at == created.comment.updated_at

    second = fake_sha("pr-1 second push")
    sim.push(number, second)
    updated = run(post(sim, sandbox_plan, number, second))
    assert updated.posted is comment_cmd.Posted.UPDATED
    assert updated.comment is not None and updated.comment.id == created.comment.id

    bodies = plan_comments(sim, number)
    assert len(bodies) == 1
    body = bodies[0]
    assert f"access plan for {second[:7]}" in body
    assert sandbox_plan.summary_line() in body
    assert comment_cmd.PREVIEW_NOTE in body
    assert "access-plan-record" not in body, "the comment carries nothing the gate reads"


def test_a_look_alike_comment_by_someone_else_is_never_edited(
    sim: GitHubSimulator, sandbox_plan: Plan
) -> None:
    head = fake_sha("pr-lookalike")
    number = sim.create_pull("mallory", head)
    sim.add_token("ghp_mallory", "mallory")

    async def plant() -> None:
        async with client(sim, "ghp_mallory") as gh:
            await gh.create_comment(number, f"{COMMENT_MARKER}\nnothing to see here")

    run(plant())
    outcome = run(post(sim, sandbox_plan, number, head))
    assert outcome.posted is comment_cmd.Posted.CREATED
    by_user = {c.user: c.body for c in sim.comments_on(number)}
    assert by_user["mallory"].endswith("nothing to see here")
    assert comment_cmd.PREVIEW_NOTE in by_user["github-actions[bot]"]


def test_an_outdated_run_does_not_overwrite_the_newer_plan(sim: GitHubSimulator, sandbox_plan: Plan) -> None:
    old = fake_sha("pr-old")
    number = sim.create_pull("cokafor", old)
    sim.push(number, fake_sha("pr-newer"))
    outcome = run(post(sim, sandbox_plan, number, old))
    assert outcome.posted is comment_cmd.Posted.SKIPPED
    assert "moved on" in outcome.note
    assert sim.comments_on(number) == []


def test_a_closed_pull_request_gets_no_comment(sim: GitHubSimulator, sandbox_plan: Plan) -> None:
    head = fake_sha("pr-closed")
    number = sim.create_pull("cokafor", head)
    sim.close_pull(number)
    assert run(post(sim, sandbox_plan, number, head)).posted is comment_cmd.Posted.SKIPPED
    assert sim.comments_on(number) == []


def test_without_a_head_the_pull_requests_current_head_is_planned(
    sim: GitHubSimulator, sandbox_plan: Plan
) -> None:
    head = fake_sha("pr-nohead")
    number = sim.create_pull("cokafor", head)
    outcome = run(post(sim, sandbox_plan, number, None))
    assert outcome.posted is comment_cmd.Posted.CREATED and outcome.head_sha == head
    assert f"access plan for {head[:7]}" in plan_comments(sim, number)[0]


def test_the_pull_request_comes_from_the_actions_event(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "a" * 40}}}), encoding="utf-8")
    env = {"GITHUB_EVENT_PATH": str(event)}
    assert comment_cmd.pull_target(env, pr=None, head=None) == comment_cmd.PullTarget(7, "a" * 40)
    assert comment_cmd.pull_target(env, pr=9, head=None) == comment_cmd.PullTarget(9, None)  # not the event's
    push_event = tmp_path / "push.json"
    push_event.write_text(json.dumps({"ref": "refs/heads/main"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="--pr"):
        comment_cmd.pull_target({"GITHUB_EVENT_PATH": str(push_event)}, pr=None, head=None)


@pytest.mark.parametrize("render", ["comment", "drift issue"])
def test_the_yamls_text_reads_as_written_and_makes_no_markup_of_its_own(
    hostile_plan: Plan, render: str
) -> None:
    """FAKE, as a name, a reason and in a finding, through the real comment (or drift issue) and a
    CommonMark + GFM renderer: no bold, image, link, heading or table cell of its own, nobody pinged,
    and the words still there for the reviewer to read."""
    markdown = (
        comment_cmd.comment_body(hostile_plan, fake_sha("hostile"))
        if render == "comment"
        else comment_cmd.drift_body(hostile_plan)
    )
    rendered = to_html(markdown)
    assert not re.search(r"<(img|a|h1|h2|del|s|em)\b", rendered), "no image, link, heading or emphasis"
    strong = re.findall(r"<strong>(.*?)</strong>", rendered)
    assert set(strong) <= {hostile_plan.summary_line(), *(f.code for f in hostile_plan.findings)}, strong
    rows = re.findall(r"<tr>(.*?)</tr>", rendered, re.S)
    seats = [r for r in rows if r.count("<t") == 8]  # the seats table: a vendor per row, numbers
    assert seats and all(re.match(r"\s*<t[hd]>(|SAP Concur|PingOne|Procore)</t[hd]>", r) for r in seats), (
        seats
    )
    rows = [r for r in rows if r not in seats]
    assert rows and {row.count("<t") for row in rows} == {5}, "every row keeps the five columns"
    assert pings(rendered) == [], "nobody is pinged, not even the approvers a pull request's policies name"
    visible = text_of(rendered)
    flat = FAKE.replace("\n", " ")
    who = [text_of(r.split("</td>")[1]).strip() for r in rows if "<td>" in r]
    assert who.count(flat) >= 4, "the person's key, in full, in each of their rows"
    assert f"access/pingone.yaml:14; {flat}" in visible, "oscar's reason, as written"
    assert f"has reason {FAKE!r}" in visible, "the privileged rule's finding quotes it"
    assert f"- {flat}: + " in markdown.replace(md_text(FAKE), flat), "the per-person line starts with the key"


def test_a_huge_plan_still_fits_one_comment(sandbox_plan: Plan) -> None:
    template = sandbox_plan.changes[0]
    changes = tuple(
        replace(template, id=f"c{i}", principal=f"user{i}@example.com", person=f"User {i}")
        for i in range(3000)
    )
    big = replace(sandbox_plan, changes=changes, approvers={})
    body = comment_cmd.comment_body(big, "b" * 40)
    assert len(body) <= comment_cmd.GITHUB_COMMENT_LIMIT
    assert "**Plan: 3000 accounts to create.**" in body


# ---------------------------------------------------------------- the drift issue


def test_drift_opens_one_issue_updates_it_and_closes_it_when_gone(
    sim: GitHubSimulator, sandbox_plan: Plan
) -> None:
    async def report(plan: Plan) -> comment_cmd.DriftOutcome:
        async with client(sim) as gh:
            return await comment_cmd.report_drift(gh, plan, closing_note="No drift: closing.")

    opened = run(report(sandbox_plan))
    assert opened.action == "created" and opened.issue is not None
    assert opened.issue.title == comment_cmd.DRIFT_TITLE
    assert comment_cmd.DRIFT_LABEL in opened.issue.labels
    assert sandbox_plan.summary_line() in opened.issue.body
    assert run(report(sandbox_plan)).action == "unchanged"

    fewer = replace(sandbox_plan, changes=sandbox_plan.changes[:1])
    updated = run(report(fewer))
    assert updated.action == "updated" and updated.issue is not None
    assert updated.issue.number == opened.issue.number

    closed = run(report(replace(sandbox_plan, changes=())))
    assert closed.action == "closed" and closed.issue is not None and closed.issue.state == "closed"
    assert [c.body for c in sim.comments_on(opened.issue.number)] == ["No drift: closing."]
    assert run(report(replace(sandbox_plan, changes=()))).action == "none"

    reopened = run(report(sandbox_plan))  # drift again later: a new issue, the closed one stays closed
    assert reopened.action == "created" and reopened.issue is not None
    assert reopened.issue.number != opened.issue.number


# ---------------------------------------------------------------- the commands, on loopback HTTP


@pytest.fixture
def served(sim: GitHubSimulator) -> Iterator[str]:
    with serve(sim.handle) as base_url:
        yield base_url


@pytest.mark.loopback
def test_access_comment_and_drift_commands_over_http(
    sim: GitHubSimulator,
    served: str,
    sandbox_plan: Plan,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(sandbox_plan.dumps(), encoding="utf-8")
    head = fake_sha("pr-cli")
    number = sim.create_pull("cokafor", head)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"pull_request": {"number": number, "head": {"sha": head}}}), encoding="utf-8"
    )
    monkeypatch.setenv("GITHUB_API_URL", served)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.chdir(tmp_path)

    for expected in ("created", "unchanged"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["comment", "--plan", str(plan_file)])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert f"plan comment on pull request #{number} {expected}" in out
    assert len(plan_comments(sim, number)) == 1

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["drift", "--plan", str(plan_file)])
    assert exit_info.value.code == 0
    assert "Drift: issue #" in capsys.readouterr().out
    assert [i.title for i in sim.repo().issues.values() if i.state == "open"] == [comment_cmd.DRIFT_TITLE]


@pytest.mark.loopback
def test_a_bad_token_fails_clearly_and_is_never_printed(
    sim: GitHubSimulator,
    served: str,
    sandbox_plan: Plan,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(sandbox_plan.dumps(), encoding="utf-8")
    number = sim.create_pull("cokafor", fake_sha("pr-canary"))
    monkeypatch.setenv("GITHUB_API_URL", served)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    for argv in (
        ["comment", "--plan", str(plan_file), "--pr", str(number)],
        ["drift", "--plan", str(plan_file)],
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 1
        captured = capsys.readouterr()
        assert "GITHUB_TOKEN" in captured.err
        assert CANARY not in captured.out + captured.err
    assert sim.comments_on(number) == []


def test_missing_settings_and_files_are_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["comment", "--plan", str(tmp_path / "nope.json"), "--pr", "1"])
    assert exit_info.value.code == 1
    assert "cannot read the plan file" in capsys.readouterr().err
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["drift", "--plan", str(tmp_path / "nope.json")])
    assert exit_info.value.code == 1
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err
