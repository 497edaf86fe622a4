"""`access audit verify|show`: check the audit trail in git (`refs/access/audit`) and read it.

`verify` walks the chain from its first record and prints one line: `✓` with the count and the
time span, exit 0; or `✗` naming the first record that fails and why, exit 1. `show` prints the
entries of a chain that verifies (who asked for what, who approved it, what happened), as text or
JSON. The key is `ACCESS_APPLY_POINT_KEY` (the sandbox's own with `--sandbox`); the repository the
trail is signed for is `GITHUB_REPOSITORY` (the sandbox's simulated GitHub repository), or
`--repository`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reconciler import apply_point, audit_trail, sandbox
from reconciler.commands.context import AppContext
from reconciler.commands.formats import TextOrJson
from reconciler.commands.state import Source
from reconciler.git_repo import open_repo
from reconciler.github_local import with_repository


@dataclass(frozen=True, slots=True)
class Trail:
    """What a trail command reads with: the key and the repository identity."""

    key: bytes
    repository: str


def trail_settings(ctx: AppContext, source: Source, repository: str | None = None) -> Trail:
    """The signing key and repository identity for `source` (what the apply wiring should use too);
    `repository` overrides the identity (a trail written before a rename)."""
    if source.sandbox:
        key = apply_point.sandbox_key(sandbox.state_dir(ctx.repo))
    else:
        key = apply_point.key_from_env(ctx.env)
    if repository is not None:
        return Trail(key, audit_trail.normal_repository(repository))
    github = sandbox.github_file(ctx.repo) if source.sandbox else None
    env = ctx.env if github is not None else with_repository(ctx.env, ctx.repo).env
    return Trail(key, audit_trail.repository_identity(env, github))


def _no_trail(source: Source) -> str:
    if source.sandbox:
        return f"✗ {audit_trail.REF}: no audit records yet (a sandbox apply writes them)"
    return (
        f"✗ {audit_trail.REF}: no audit records here. Fetch them first (refs/access/* are not cloned): "
        f"git fetch origin {audit_trail.REF}:{audit_trail.REF}"
    )


def verify(ctx: AppContext, source: Source, *, expect: str | None, repository: str | None) -> int:
    trail = trail_settings(ctx, source, repository)
    found = audit_trail.verify(open_repo(ctx.repo), trail.key, trail.repository, expect=expect)
    if found.head is None:
        ctx.output.raw(_no_trail(source) + "\n")
        return 1
    if found.problem is not None:
        ctx.output.raw(f"✗ {found.problem}\n")
        if found.count:
            ctx.output.info(f"the {found.count} records before it verify ({_span(found)})")
        return 1
    plural = "record" if found.count == 1 else "records"
    ctx.output.raw(f"✓ {audit_trail.REF}: {found.count} {plural}, chain intact, {_span(found)}\n")
    ctx.output.info(
        f"head {found.head} (note it: `access audit verify --expect {found.head[:12]}` catches a ref moved back)"
    )
    return 0


def _span(found: audit_trail.Verification) -> str:
    assert found.first is not None and found.last is not None
    return f"{audit_trail.iso(found.first)}\u2013{audit_trail.iso(found.last)}"  # an en dash


def show(ctx: AppContext, source: Source, *, fmt: TextOrJson, repository: str | None) -> int:
    trail = trail_settings(ctx, source, repository)
    repo = open_repo(ctx.repo)
    chain = audit_trail.records(repo, trail.key, trail.repository)
    if fmt == "json":
        document = {
            "format_version": 1,
            "ref": audit_trail.REF,
            "repository": trail.repository,
            "records": [
                {"id": r.id, "sequence": r.sequence, "run": r.run, "time": r.time, "entries": list(r.entries)}
                for r in chain
            ],
        }
        ctx.output.raw(json.dumps(document, indent=2, sort_keys=False) + "\n")
        return 0
    if not chain:
        ctx.output.raw(_no_trail(source).removeprefix("✗ ") + "\n")
        return 1
    lines: list[str] = []
    for record in chain:
        count = len(record.entries)
        lines.append(
            f"record {record.sequence}  {record.time}  run {record.run}  "
            f"{count} {'entry' if count == 1 else 'entries'}  ({record.id[:12]})"
        )
        lines += [f"  {describe(entry)}" for entry in record.entries]
    ctx.output.raw("\n".join(lines) + "\n")
    ctx.output.info(f"{len(chain)} records, chain verified")
    return 0


def describe(entry: dict[str, Any]) -> str:
    """One entry as a line: what changed, what happened, on whose request and approval."""

    def text(name: str) -> str:
        value = entry.get(name)
        return "" if value is None else str(value)

    what = " ".join(
        part
        for part in (
            text("action"),
            text("vendor"),
            text("resource"),
            text("entitlement"),
            "→",
            text("person") or text("principal"),
        )
        if part
    )
    if not text("action"):  # not a line `reconciler.audit.entry` made: show it as it is
        return json.dumps(entry, sort_keys=True)
    line = f"{text('time')}  {what}: {text('outcome') or '?'}"
    basis = text("basis")
    pull = entry.get("pull_request")
    if pull is not None:
        line += f"; PR #{pull}"
        if text("requested_by"):
            line += f" by {text('requested_by')}"
    approvals = entry.get("approvals")
    if isinstance(approvals, list) and approvals:
        who = ", ".join(
            f"{a.get('login')} ({a.get('at')})" if isinstance(a, dict) else str(a) for a in approvals
        )
        line += f"; approved by {who}"
    elif basis:
        line += f"; {basis}"
    return line
