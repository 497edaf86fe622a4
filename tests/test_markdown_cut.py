"""The pull-request comment renders only the lines it can hold, and says exactly what it left out.

`render_markdown` stops rendering once the comment is full (a plan that onboards 10,000 people
has 130,000 changes) and counts the rest. The comment must be exactly what rendering every line
and then cutting gives: that earlier implementation is kept here as the reference.
"""

from __future__ import annotations

from itertools import groupby

import pytest

from reconciler.changes import Action, Change, Finding, Plan, Severity, change_id
from reconciler.render.escape import html_text, md_code, md_text
from reconciler.render.markdown import _ICONS, COMMENT_MARKER, render_markdown
from reconciler.render.words import SIGNS, explain, per_person, person_line, target, who
from reconciler.vendors import vendor_label


def reference(plan: Plan, *, title: str = "access plan", max_chars: int = 60_000) -> str:
    head = [COMMENT_MARKER, f"### {md_text(title)}", "", f"**{md_text(plan.summary_line())}**", ""]
    if plan.vendors:
        counts = []
        for vendor in plan.vendors:
            n = sum(1 for c in plan.changes if c.vendor == vendor)
            counts.append(f"{md_text(vendor_label(vendor))}: {n} change{'s' if n != 1 else ''}")
        head += [" · ".join(counts), ""]
    errors = [f for f in plan.findings if f.severity is not Severity.INFO]
    infos = [f for f in plan.findings if f.severity is Severity.INFO]
    body: list[str] = []
    if errors:
        body += ["#### Findings", ""]
        for finding in errors:
            where = f"{md_code(finding.source)} " if finding.source else ""
            hint = f" — {md_text(finding.hint, code_spans=True)}" if finding.hint else ""
            body.append(
                f"- {_ICONS[finding.severity]} **{md_text(finding.code)}** {where}{md_text(finding.message, code_spans=True)}{hint}"
            )
        body.append("")
    for vendor, group in groupby(plan.changes, key=lambda c: c.vendor):
        changes = list(group)
        body += [
            f"<details open><summary><b>{html_text(vendor_label(vendor))}</b> ({len(changes)})</summary>"
            if len(plan.changes) <= 30
            else f"<details><summary><b>{html_text(vendor_label(vendor))}</b> ({len(changes)})</summary>",
            "",
            "| | who | what | why | approvers |",
            "|---|---|---|---|---|",
        ]
        for change in changes:
            approvers = ", ".join(plan.approvers.get(change.id, ()))
            body.append(
                f"| `{SIGNS[change.action]}` | {md_text(who(change))} | {md_text(target(change))} "
                f"| {md_text(explain(change))} | {md_text(approvers)} |"
            )
        body += ["", "</details>", ""]
    if plan.changes:
        body += ["<details><summary><b>By person</b></summary>", ""]
        body += [f"- {md_text(person_line(p, cs))}" for p, cs in per_person(plan.changes).items()]
        body += ["", "</details>", ""]
    if infos:
        body += [f"<details><summary>Notes ({len(infos)})</summary>", ""]
        body += [f"- {_ICONS[f.severity]} {md_text(f.message, code_spans=True)}" for f in infos]
        body += ["", "</details>", ""]
    footer = [f"<sub>changes hash {md_code(plan.changes_hash[:16])} · desired {md_code(plan.desired_digest[:12])}"
                  + (f" · commit {md_code(plan.git_commit[:12])}" if plan.git_commit else "") + "</sub>"]  # fmt: skip
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


def _plan(changes: int, findings: int, infos: int) -> Plan:
    made = []
    for i in range(changes):
        vendor, rtype, ent = [("concur", "role", "member"), ("pingone", "group", "member"),
                              ("procore", "project", "Project Engineer")][i * 3 // max(changes, 1)]  # fmt: skip
        action = [Action.GRANT, Action.REVOKE, Action.CREATE_ACCOUNT, Action.UPDATE][i % 4]
        principal = f"user{i % 7}@harbor.example"
        made.append(
            Change(change_id(vendor, action, "", rtype, f"R|{i % 5}", ent, principal), vendor, action, "",
                   principal, rtype, f"R|{i % 5}", ent, before="old" if action is Action.UPDATE else "",
                   person=f"user{i % 7}" if i % 3 else "", source=f"access/x.yaml:{i}", note="why\nnot")
        )  # fmt: skip
    found = [Finding(Severity.WARNING, "code", f"warning {i}", source="a.yaml:1") for i in range(findings)]
    found += [Finding(Severity.INFO, "note", f"info {i}") for i in range(infos)]
    return Plan(
        changes=tuple(made), findings=tuple(found), vendors=("concur", "pingone", "procore"),
        desired_digest="d" * 64, approvers={c.id: ("1 of x: @a", "2 of y|z: @b") for c in made[::2]},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "findings", "infos"), [(0, 0, 0), (0, 2, 3), (3, 1, 0), (40, 0, 2), (400, 3, 3)]
)
def test_the_comment_is_what_rendering_everything_then_cutting_gives(
    changes: int, findings: int, infos: int
) -> None:
    plan = _plan(changes, findings, infos)
    whole = len(reference(plan, max_chars=10**9))
    limits = {10**9, whole, whole - 1, whole + 1, 60_000, 5_000, 2_000, 1_000, 600, 300, 0}
    limits |= set(range(max(whole - 400, 0), whole + 5, 7))
    for limit in sorted(limits):
        assert render_markdown(plan, title="t", max_chars=limit) == reference(
            plan, title="t", max_chars=limit
        ), limit
