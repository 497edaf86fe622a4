"""The pull-request comment: summary first, findings, a collapsible section per vendor and a
per-person view. Stays readable (and under GitHub's comment limit) at thousands of changes.

Every string that comes from the YAML or a vendor (names, resources, reasons, messages, file names)
passes `render.escape` on its way in: a pull request's text is shown, never rendered as markup."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import groupby
from operator import attrgetter

from reconciler.changes import Plan, Severity
from reconciler.render.escape import html_text, md_code, md_text
from reconciler.render.words import SIGNS, explain, per_person, person_line, shown_seats, target, who
from reconciler.vendors import vendor_label

COMMENT_MARKER = "<!-- access-plan -->"
MAX_CHARS = 60_000  # GitHub rejects comments over 65,536 characters
_VENDOR = attrgetter("vendor")
_ICONS = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}  # noqa: RUF001


def render_markdown(plan: Plan, *, title: str = "access plan", max_chars: int = MAX_CHARS) -> str:
    head = [COMMENT_MARKER, f"### {md_text(title)}", "", f"**{md_text(plan.summary_line())}**", ""]
    if plan.vendors:
        per_vendor = Counter(map(_VENDOR, plan.changes))
        counts = [
            f"{md_text(vendor_label(v))}: {per_vendor[v]} change{'s' if per_vendor[v] != 1 else ''}"
            for v in plan.vendors
        ]
        head += [" · ".join(counts), ""]
    footer = [f"<sub>changes hash {md_code(plan.changes_hash[:16])} · desired {md_code(plan.desired_digest[:12])}"
              + (f" · commit {md_code(plan.git_commit[:12])}" if plan.git_commit else "") + "</sub>"]  # fmt: skip
    # The body's lines are rendered only as far as a comment can hold them (a plan that onboards
    # 10,000 people has 130,000 changes, of which a comment shows a few hundred); the rest are counted.
    body: list[str] = []
    size = len("\n".join(head + footer))  # the whole text's length so far
    lines = _body(plan) if size <= max_chars else iter(())
    for line in lines:
        body.append(line)
        size += len(line) + 1
        if size > max_chars:
            break
    if size <= max_chars:
        return "\n".join(head + body + footer) + "\n"
    # Too long for a comment: keep the head, cut the body at a line, point at the artifact.
    kept: list[str] = []
    size = len("\n".join(head + footer)) + 200
    for line in body:
        if size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    if kept and kept[-1].startswith("|"):
        kept.append("")
    note = (f"_The plan is too long for one comment: {_body_lines(plan) - len(kept)} more lines are in the JSON"
            " plan artifact of this run._")  # fmt: skip
    closing = (
        ["</details>"]
        if sum(1 for k in kept if k.startswith("<details")) > sum(1 for k in kept if k == "</details>")
        else []
    )
    return "\n".join(head + kept + closing + ["", note, ""] + footer) + "\n"


def _body(plan: Plan) -> Iterator[str]:
    """The body's lines, one at a time (`_body_lines` counts them without rendering them)."""
    seats = shown_seats(plan)
    if seats:
        yield from [
            "#### Seats",
            "",
            "| | active now | create | re-enable | deactivate | after | budget | licence (identities) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in seats:
            budget = "" if s.budget is None else f"{s.budget}" + (" ⚠️" if s.after > s.budget else "")
            licence = "" if s.licensed is None else f"{s.licensed} ({s.held_after} after)"
            yield (
                f"| {md_text(vendor_label(s.vendor))} | {s.active} | {s.create} | {s.reactivate} | {s.deactivate} "
                f"| {s.after} | {budget} | {licence} |"
            )
        yield ""
    errors = [f for f in plan.findings if f.severity is not Severity.INFO]
    if errors:
        yield from ["#### Findings", ""]
        for finding in errors:
            where = f"{md_code(finding.source)} " if finding.source else ""
            hint = f" — {md_text(finding.hint, code_spans=True)}" if finding.hint else ""
            yield (
                f"- {_ICONS[finding.severity]} **{md_text(finding.code)}** {where}{md_text(finding.message, code_spans=True)}{hint}"
            )
        yield ""
    for vendor, group in groupby(plan.changes, key=_VENDOR):
        changes = list(group)
        label = html_text(vendor_label(vendor))  # in a raw HTML block: HTML's escaping, not markdown's
        yield from [
            f"<details open><summary><b>{label}</b> ({len(changes)})</summary>"
            if len(plan.changes) <= 30
            else f"<details><summary><b>{label}</b> ({len(changes)})</summary>",
            "",
            "| | who | what | why | approvers |",
            "|---|---|---|---|---|",
        ]
        for change in changes:
            approvers = ", ".join(plan.approvers.get(change.id, ()))
            yield (
                f"| `{SIGNS[change.action]}` | {md_text(who(change))} | {md_text(target(change))} "
                f"| {md_text(explain(change))} | {md_text(approvers)} |"
            )
        yield from ["", "</details>", ""]
    if plan.changes:
        yield from ["<details><summary><b>By person</b></summary>", ""]
        yield from (f"- {md_text(person_line(p, cs))}" for p, cs in per_person(plan.changes).items())
        yield from ["", "</details>", ""]
    infos = [f for f in plan.findings if f.severity is Severity.INFO]
    if infos:
        yield from [f"<details><summary>Notes ({len(infos)})</summary>", ""]
        yield from (f"- {_ICONS[f.severity]} {md_text(f.message, code_spans=True)}" for f in infos)
        yield from ["", "</details>", ""]


def _body_lines(plan: Plan) -> int:
    """How many lines `_body` yields."""
    errors = sum(1 for f in plan.findings if f.severity is not Severity.INFO)
    infos = len(plan.findings) - errors
    seats = len(shown_seats(plan))
    vendors = sum(1 for _ in groupby(plan.changes, key=_VENDOR))
    people = len(set(map(who, plan.changes)))
    return (
        (errors + 3 if errors else 0)
        + (seats + 5 if seats else 0)
        + 7 * vendors
        + len(plan.changes)
        + (people + 5 if plan.changes else 0)
        + (infos + 5 if infos else 0)
    )
