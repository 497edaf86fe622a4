"""`access cleanup` (scheduled): ONE pull request that deletes expired assignments from the YAML, so
git stays the truth, and that warns, in the same place, about assignments expiring soon (the
`expiry_warnings` window of policies/). Run again, it updates that pull request: never a second.

Apply already revokes expired access without approval (a restore); this only tidies the YAML.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any

from reconciler.commands.branch_pr import Target, base_snapshot, load_at, publish
from reconciler.commands.context import AppContext
from reconciler.commands.formats import TextOrJson
from reconciler.loader import DesiredFiles
from reconciler.normalize import is_expired
from reconciler.policy_loader import load_policies
from reconciler.render.escape import md_code, md_text
from reconciler.yaml_edit import diff_sections, remove_member

BRANCH = "access-cleanup/expired"
TITLE = "Remove expired access from the YAML"


@dataclass(frozen=True, slots=True)
class Assignment:
    file: str
    path: tuple[str, ...]  # the resource's path in the file
    member: str
    expires: dt.date | dt.datetime
    line: str  # file:line, for people


def assignments(files: DesiredFiles) -> list[Assignment]:
    """Every member line that carries `expires`, in every vendor section."""
    found: list[Assignment] = []
    for source in files.files:
        model, doc = source.model, source.document

        def add(path: tuple[str, ...], members: dict[str, Any], doc: Any = doc) -> None:
            for member, options in members.items():
                for option in options if isinstance(options, list) else [options]:
                    expires = getattr(option, "expires", None)
                    if expires is not None:
                        where = str(doc.location((*path, member)))
                        found.append(Assignment(doc.file, path, member, expires, where))
                        break

        if model.procore is not None:
            for company, section in model.procore.companies.items():
                for project, resource in section.projects.items():
                    add(("procore", "companies", company, "projects", project), resource.members)
        if model.concur is not None:
            for role, group in model.concur.roles.items():
                add(("concur", "roles", role), group.members)
        if model.pingone is not None:
            for group_name, group in model.pingone.groups.items():
                add(("pingone", "groups", group_name), group.members)
            for role_name, role_resource in model.pingone.roles.items():
                add(("pingone", "roles", role_name), role_resource.members)
    return found


def _json(a: Assignment) -> dict[str, Any]:
    return {
        "line": a.line,
        "member": a.member,
        "resource": list(a.path[1:]),
        "expires": a.expires.isoformat(),
    }


def run(ctx: AppContext, *, target: Target, fmt: TextOrJson = "text") -> int:
    """With `fmt` json, stdout is one document: the pull request (or null), what expired, what expires soon."""
    if fmt == "json":
        ctx = replace(ctx, output=replace(ctx.output, out=ctx.output.err))
    outcome: dict[str, Any] = {"pull_request": None, "expired": [], "expiring": []}
    code = _run(ctx, target, outcome)
    if fmt == "json":
        ctx.output.raw(json.dumps(outcome, indent=2, ensure_ascii=False) + "\n")
    return code


def _run(ctx: AppContext, target: Target, outcome: dict[str, Any]) -> int:
    now = ctx.now
    with base_snapshot(ctx, target) as snapshot:
        before = load_at(ctx, snapshot.root)
        window = load_policies(snapshot.root).expiry_warnings.within_days
        found = assignments(before.files)
        expired = [a for a in found if is_expired(a.expires, ctx.today, now)]
        soon = [
            a for a in found
            if a not in expired and (_day(a.expires) - ctx.today).days <= window
        ]  # fmt: skip
        outcome["expired"], outcome["expiring"] = [_json(a) for a in expired], [_json(a) for a in soon]
        if not expired and not soon:
            ctx.output.result("nothing expired or expiring: no pull request needed")
            return 0
        texts: dict[str, str] = {}
        for a in expired:
            text = texts.get(a.file) or (snapshot.root / a.file).read_text(encoding="utf-8")
            texts[a.file] = remove_member(text, a.file, a.path, a.member)
        if texts:
            load_at(ctx, snapshot.root, texts)  # the result must still load
        body = _body(snapshot.root, texts, expired, soon, ctx.today)
        if not texts:
            ctx.output.result(
                "nothing expired; expiring soon: " + ", ".join(f"{a.member} ({a.line})" for a in soon)
            )
            return 0
        pull, created = publish(
            ctx, snapshot, target, branch=BRANCH, files=texts,
            message=f"{TITLE}\n\n" + "\n".join(f"{a.member}: {a.line}, expired {a.expires}" for a in expired),
            title=TITLE, body=body,
        )  # fmt: skip
    ctx.output.result(f"{'opened' if created else 'updated'} pull request #{pull.number}: {pull.html_url}")
    outcome["pull_request"] = {
        "number": pull.number,
        "url": pull.html_url,
        "created": created,
        "branch": BRANCH,
    }
    return 0


def _day(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _body(
    root: Any, texts: dict[str, str], expired: list[Assignment], soon: list[Assignment], today: dt.date
) -> str:
    lines = [
        f"Assignments whose `expires` has passed (as of {today}); apply has already revoked them, so "
        "this only makes the YAML say so. Approve and merge to tidy up.",
        "",
    ]
    for a in expired:
        lines.append(f"- {_where(a)}: expired {a.expires}")
    lines += diff_sections(root, texts)
    if soon:
        lines += [
            "",
            "### Expiring soon",
            "",
            "Extend `expires` (with a reason) in a pull request of its own if still needed:",
            "",
        ]
        for a in sorted(soon, key=lambda x: str(x.expires)):
            lines.append(f"- {_where(a)}: expires {a.expires}")
    return "\n".join(lines)


def _where(a: Assignment) -> str:
    """'`access/pingone.yaml:21` grace under roles / Environment Admin', its YAML text escaped."""
    return f"{md_code(a.line)} {md_text(a.member)} under {md_text(' / '.join(a.path[1:]))}"
