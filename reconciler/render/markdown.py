"""The pull-request comment: summary first, findings, a collapsible section per vendor and a
per-person view. Stays readable (and under GitHub's comment limit) at thousands of changes."""

from __future__ import annotations

from itertools import groupby

from reconciler.changes import Plan, Severity
from reconciler.render.words import SIGNS, explain, per_person, person_line, target, who
from reconciler.vendors import vendor_label

COMMENT_MARKER = "<!-- access-plan -->"
MAX_CHARS = 60_000  # GitHub rejects comments over 65,536 characters
_ICONS = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}  # noqa: RUF001


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, *, title: str = "access plan", max_chars: int = MAX_CHARS) -> str:
    head = [COMMENT_MARKER, f"### {title}", "", f"**{plan.summary_line()}**", ""]
    if plan.vendors:
        counts = []
        for vendor in plan.vendors:
            n = sum(1 for c in plan.changes if c.vendor == vendor)
            counts.append(f"{vendor_label(vendor)}: {n} change{'s' if n != 1 else ''}")
        head += [" · ".join(counts), ""]
    errors = [f for f in plan.findings if f.severity is not Severity.INFO]
    infos = [f for f in plan.findings if f.severity is Severity.INFO]
    body: list[str] = []
    if errors:
        body += ["#### Findings", ""]
        for finding in errors:
            where = f"`{finding.source}` " if finding.source else ""
            hint = f" — {finding.hint}" if finding.hint else ""
            body.append(f"- {_ICONS[finding.severity]} **{finding.code}** {where}{finding.message}{hint}")
        body.append("")
    for vendor, group in groupby(plan.changes, key=lambda c: c.vendor):
        changes = list(group)
        body += [
            f"<details open><summary><b>{vendor_label(vendor)}</b> ({len(changes)})</summary>"
            if len(plan.changes) <= 30
            else f"<details><summary><b>{vendor_label(vendor)}</b> ({len(changes)})</summary>",
            "",
            "| | who | what | why | approvers |",
            "|---|---|---|---|---|",
        ]
        for change in changes:
            approvers = ", ".join(plan.approvers.get(change.id, ()))
            body.append(
                f"| `{SIGNS[change.action]}` | {_cell(who(change))} | {_cell(target(change))} "
                f"| {_cell(explain(change))} | {_cell(approvers)} |"
            )
        body += ["", "</details>", ""]
    if plan.changes:
        body += ["<details><summary><b>By person</b></summary>", ""]
        body += [f"- {person_line(p, cs)}" for p, cs in per_person(plan.changes).items()]
        body += ["", "</details>", ""]
    if infos:
        body += [f"<details><summary>Notes ({len(infos)})</summary>", ""]
        body += [f"- {_ICONS[f.severity]} {f.message}" for f in infos]
        body += ["", "</details>", ""]
    footer = [f"<sub>changes hash `{plan.changes_hash[:16]}` · desired `{plan.desired_digest[:12]}`"
              + (f" · commit `{plan.git_commit[:12]}`" if plan.git_commit else "") + "</sub>"]  # fmt: skip
    text = "\n".join(head + body + footer)
    if len(text) <= max_chars:
        return text + "\n"
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
    note = (f"_The plan is too long for one comment: {len(body) - len(kept)} more lines are in the JSON plan "
            "artifact of this run._")  # fmt: skip
    closing = (
        ["</details>"]
        if sum(1 for k in kept if k.startswith("<details")) > sum(1 for k in kept if k == "</details>")
        else []
    )
    return "\n".join(head + kept + closing + ["", note, ""] + footer) + "\n"
