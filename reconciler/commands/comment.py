"""`access comment` and `access drift`: the plan where people see it on GitHub.

- `access comment` keeps ONE comment on a pull request with the plan (markdown: findings, changes,
  who can approve each): a preview for reviewers, **never an input to the approval gate**, which
  recomputes what the pull request asked for from git (see `reconciler/gate.py`). Run again after a
  push, it updates that comment in place, or leaves it untouched when the plan is the same. Only a
  comment written by the workflow's own account is reused (`ACCESS_PLAN_COMMENT_AUTHORS`, default
  `github-actions[bot]`), so a look-alike planted by someone else is never edited.
- `access drift` keeps ONE open issue (label `access-drift`) with the plan while the vendors differ
  from the YAML, and closes it, with a comment, once they match again.

Both read the plan from a plan file (`--plan`, written by `access plan --out`) or plan themselves,
and talk to GitHub through `reconciler.github_api` with `GITHUB_API_URL`, `GITHUB_REPOSITORY` and
`GITHUB_TOKEN` as GitHub Actions sets them. The pull request (number and head commit) comes from
`--pr`/`--head` or from the event file GitHub Actions names in `GITHUB_EVENT_PATH`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from rich.markup import escape

from reconciler import drift
from reconciler.changes import CauseKind, Plan
from reconciler.commands.context import AppContext
from reconciler.commands.plan import make_plan
from reconciler.commands.state import Source
from reconciler.errors import AccessError, ConfigError
from reconciler.github_api import GitHubClient, GitHubSettings, Issue, IssueComment, Upsert
from reconciler.render.escape import md_text
from reconciler.render.markdown import COMMENT_MARKER, render_markdown

GITHUB_COMMENT_LIMIT = 65_536  # characters GitHub accepts in a comment or an issue body
DRIFT_TITLE = "Access drift: the vendors differ from access/"
DRIFT_LABEL = "access-drift"
COMMENT_AUTHORS_ENV = "ACCESS_PLAN_COMMENT_AUTHORS"
DEFAULT_COMMENT_AUTHORS = ("github-actions[bot]",)
PREVIEW_NOTE = (
    "<sub>A preview for reviewers. What gets applied is decided at merge from git and your reviews: "
    "the changes this pull request's head asks for, approved on its final commit.</sub>"
)


def comment_authors(env: Mapping[str, str]) -> frozenset[str]:
    """Whose plan comments `access comment` may update (its own account's)."""
    raw = env.get(COMMENT_AUTHORS_ENV, "")
    names = [n.strip() for n in raw.split(",") if n.strip()] or list(DEFAULT_COMMENT_AUTHORS)
    return frozenset(n.casefold() for n in names)


class Posted(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # a newer commit or a closed pull request: nothing written


@dataclass(frozen=True, slots=True)
class PullTarget:
    number: int
    head_sha: str | None  # None: take the pull request's current head from the API


@dataclass(frozen=True, slots=True)
class CommentOutcome:
    posted: Posted
    pull: int
    head_sha: str
    comment: IssueComment | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class DriftOutcome:
    action: str  # "created" | "updated" | "unchanged" | "closed" | "none"
    issue: Issue | None


# ---------------------------------------------------------------- inputs


def _event(env: Mapping[str, str]) -> dict[str, Any] | None:
    path = env.get("GITHUB_EVENT_PATH", "").strip()
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"GITHUB_EVENT_PATH={path}: cannot read the event file ({exc.strerror})") from None
    except ValueError:
        raise ConfigError(f"GITHUB_EVENT_PATH={path}: the event file is not JSON") from None
    return data if isinstance(data, dict) else None


def pull_target(env: Mapping[str, str], *, pr: int | None, head: str | None) -> PullTarget:
    """The pull request to comment on: `--pr`/`--head`, else the `pull_request` of the Actions event."""
    event = _event(env)
    pull = event.get("pull_request") if event else None
    event_number = int(pull["number"]) if isinstance(pull, dict) and "number" in pull else None
    event_head = None
    if isinstance(pull, dict) and isinstance(pull.get("head"), dict):
        event_head = pull["head"].get("sha") or None
    number = pr if pr is not None else event_number
    if number is None:
        raise ConfigError(
            "which pull request? Pass --pr N, or run in a `pull_request` workflow (GITHUB_EVENT_PATH "
            "names an event with a pull_request)"
        )
    if head is None and number == event_number:
        head = event_head
    return PullTarget(number, head)


def read_plan_file(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessError(
            f"{path}: cannot read the plan file ({exc.strerror}); write it with `access plan --out {path}`"
        ) from None
    return Plan.loads(text)


def obtain_plan(ctx: AppContext, plan_file: Path | None, source: Source) -> Plan:
    if plan_file is not None:
        if source.sandbox or source.state_dir is not None:
            raise AccessError("--plan and --sandbox/--state are alternatives: a plan file is already planned")
        return read_plan_file(plan_file)
    return asyncio.run(make_plan(ctx, source)).plan


# ---------------------------------------------------------------- the plan comment


def comment_body(plan: Plan, head_sha: str) -> str:
    """The plan as markdown for reviewers, under GitHub's limit."""
    room = GITHUB_COMMENT_LIMIT - len(PREVIEW_NOTE) - 16
    markdown = render_markdown(plan, title=f"access plan for {head_sha[:7]}", max_chars=min(room, 60_000))
    return f"{markdown}\n{PREVIEW_NOTE}\n"


def _is_plan_comment(comment: IssueComment, trusted: frozenset[str]) -> bool:
    return COMMENT_MARKER in comment.body and (comment.user or "").casefold() in trusted


async def post_plan_comment(
    client: GitHubClient, plan: Plan, target: PullTarget, *, trusted: frozenset[str]
) -> CommentOutcome:
    pull = await client.get_pull(target.number)
    head = target.head_sha or pull.head_sha
    note = "" if target.head_sha else f"planned for the pull request's current head {head[:7]}"
    if pull.state != "open":
        return CommentOutcome(
            Posted.SKIPPED, pull.number, head, None, f"pull request #{pull.number} is closed"
        )
    if pull.head_sha != head:
        return CommentOutcome(
            Posted.SKIPPED, pull.number, head, None,
            f"the pull request moved on to {pull.head_sha[:7]} since {head[:7]}: its own run comments",
        )  # fmt: skip
    body = comment_body(plan, head)
    ours = [c for c in await client.issue_comments(pull.number) if _is_plan_comment(c, trusted)]
    if not ours:
        created = await client.create_comment(pull.number, body)
        return CommentOutcome(Posted.CREATED, pull.number, head, created, note)
    latest = ours[-1]  # keep the newest one current
    if latest.body == body:
        return CommentOutcome(Posted.UNCHANGED, pull.number, head, latest, note)
    return CommentOutcome(
        Posted.UPDATED, pull.number, head, await client.update_comment(latest.id, body), note
    )


def run_comment(
    ctx: AppContext,
    *,
    plan_file: Path | None,
    source: Source,
    pr: int | None,
    head: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    target = pull_target(ctx.env, pr=pr, head=head)
    settings = GitHubSettings.from_env(ctx.env)  # before planning: fail fast on settings
    plan = obtain_plan(ctx, plan_file, source)

    async def go() -> CommentOutcome:
        async with GitHubClient(settings, writable=True, transport=transport) as client:
            return await post_plan_comment(client, plan, target, trusted=comment_authors(ctx.env))

    outcome = asyncio.run(go())
    if outcome.note:
        ctx.output.info(escape(outcome.note))
    where = f" {escape(outcome.comment.html_url)}" if outcome.comment else ""
    ctx.output.result(f"plan comment on pull request #{outcome.pull} {outcome.posted}{where}")
    ctx.output.result(plan.summary_line())
    return 1 if plan.errors else 0


# ---------------------------------------------------------------- the drift issue


def drift_body(plan: Plan) -> str:
    intro = (
        "The vendors differ from `access/` on the default branch: access was changed in a vendor's own "
        "admin UI, or assignments expired. The scheduled `access apply` restores what the YAML says "
        "(revocations and expiries need no approval); to keep access that was granted by hand, merge "
        "the pull request `access adopt` opens for it (or add it to `access/` in a pull request). This "
        "issue is updated by the drift workflow and closed when the vendors match again.\n\n"
    )
    causes = causes_section(plan)
    return (
        intro
        + causes
        + render_markdown(
            plan, title="access drift", max_chars=GITHUB_COMMENT_LIMIT - len(intro) - len(causes) - 500
        )
    )


MAX_CAUSE_ROWS = 200


def causes_section(plan: Plan) -> str:
    """Who made each difference, where the vendor records it: a table of the drift (markdown)."""
    if plan.causes is None:
        if not drift.items(plan):
            return ""
        return "_Who made these differences was not asked (the plan was made from a snapshot)._\n\n"
    if not plan.causes:
        return ""
    people = drift.people_of(plan)
    order = {CauseKind.OUT_OF_BAND: 0, CauseKind.ACCESS: 1, CauseKind.UNKNOWN: 2}
    rows = sorted(plan.causes, key=lambda c: (order[c.kind], c.vendor, c.principal, c.resource))
    out_of_band = sum(1 for c in rows if c.kind is CauseKind.OUT_OF_BAND)
    lines = [
        "#### Who made it",
        "",
        f"{out_of_band} of {len(rows)} difference(s) were made outside access/ by someone the vendor names.",
        "",
        "| who holds it | what | made by | when | how |",
        "|---|---|---|---|---|",
    ]
    for c in rows[:MAX_CAUSE_ROWS]:
        who = people.get(c.principal) or c.principal
        if c.kind is CauseKind.UNKNOWN:
            made, at, how = c.note, "", ""
        else:
            made = drift.actor_text(c) if c.kind is CauseKind.OUT_OF_BAND else f"access ({c.actor})"
            at, how = drift.when(c.at), c.action
        lines.append(
            f"| {md_text(who)} | {md_text(drift.what(c))} | {md_text(made)} | {md_text(at)} | {md_text(how)} |"
        )
    if len(rows) > MAX_CAUSE_ROWS:
        lines.append(f"\n_{len(rows) - MAX_CAUSE_ROWS} more are in the plan file (`causes`)._")
    return "\n".join(lines) + "\n\n"


async def report_drift(client: GitHubClient, plan: Plan, *, closing_note: str) -> DriftOutcome:
    if plan.has_changes:
        issue, upsert = await client.upsert_issue(DRIFT_TITLE, drift_body(plan), label=DRIFT_LABEL)
        action = {Upsert.CREATED: "created", Upsert.UPDATED: "updated", Upsert.UNCHANGED: "unchanged"}[upsert]
        return DriftOutcome(action, issue)
    existing = await client.find_issue(title=DRIFT_TITLE, label=DRIFT_LABEL)
    if existing is None:
        return DriftOutcome("none", None)
    return DriftOutcome("closed", await client.close_issue(existing.number, comment=closing_note))


def run_drift(
    ctx: AppContext,
    *,
    plan_file: Path | None,
    source: Source,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    settings = GitHubSettings.from_env(ctx.env)  # before planning: fail fast on settings
    plan = obtain_plan(ctx, plan_file, source)
    commit = f" at {plan.git_commit[:12]}" if plan.git_commit else ""
    note = f"No drift on {ctx.today.isoformat()}{commit}: the vendors match `access/`. Closing."

    async def go() -> DriftOutcome:
        async with GitHubClient(settings, writable=True, transport=transport) as client:
            return await report_drift(client, plan, closing_note=note)

    outcome = asyncio.run(go())
    if outcome.issue is None:
        ctx.output.result("No drift, and no open drift issue.")
    elif outcome.action == "closed":
        ctx.output.result(f"No drift: closed issue #{outcome.issue.number} {outcome.issue.html_url}")
    else:
        ctx.output.result(f"Drift: issue #{outcome.issue.number} {outcome.action} {outcome.issue.html_url}")
        ctx.output.result(plan.summary_line())
    return 1 if plan.errors else 0
