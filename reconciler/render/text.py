"""The terminal view: grouped by vendor, then by person; rich markup, returned as a string."""

from __future__ import annotations

from itertools import groupby

from rich.markup import escape

from reconciler.changes import Action, Plan, Severity
from reconciler.render.words import (
    SIGNS,
    explain,
    per_person,
    person_line,
    seats_line,
    shown_seats,
    target,
    who,
)
from reconciler.vendors import vendor_label

_STYLE = {"+": "green", "-": "red", "~": "yellow"}
_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def render_text(plan: Plan, *, people: bool = True) -> str:
    lines: list[str] = []
    for vendor, vendor_changes in groupby(plan.changes, key=lambda c: c.vendor):
        lines.append(f"[bold]{escape(vendor_label(vendor))}[/bold]")
        for change in vendor_changes:
            sign = SIGNS[change.action]
            why = explain(change)
            approvers = plan.approvers.get(change.id)
            line = (
                f"  [{_STYLE[sign]}]{sign} {escape(who(change))}: {escape(target(change))}[/{_STYLE[sign]}]"
            )
            if change.action is Action.CREATE_ACCOUNT:
                line = f"  [{_STYLE[sign]}]{sign} {escape(who(change))}: create {escape(target(change))}[/]"
            elif change.action is Action.DEACTIVATE_ACCOUNT:
                line = (
                    f"  [{_STYLE[sign]}]{sign} {escape(who(change))}: deactivate {escape(target(change))}[/]"
                )
            if why:
                line += f"  [dim]({escape(why)})[/dim]"
            if approvers:
                line += f"  [dim]approve: {escape(', '.join(approvers))}[/dim]"
            lines.append(line)
        lines.append("")
    seats = shown_seats(plan)
    if seats:
        lines.append("[bold]Seats[/bold] (active accounts)")
        lines += [f"  {escape(seats_line(s))}" for s in seats]
        lines.append("")
    if plan.findings:
        lines.append("[bold]Findings[/bold]")
        for finding in plan.findings:
            style = _SEVERITY_STYLE[finding.severity]
            where = f"{finding.source}: " if finding.source else ""
            hint = f" [dim]→ {escape(finding.hint)}[/dim]" if finding.hint else ""
            lines.append(f"  [{style}]{finding.severity}[/{style}] {escape(where + finding.message)}{hint}")
        lines.append("")
    if people and plan.changes:
        lines.append("[bold]By person[/bold]")
        for person, person_changes in per_person(plan.changes).items():
            lines.append("  " + escape(person_line(person, person_changes)))
        lines.append("")
    lines.append(f"[bold]{escape(plan.summary_line())}[/bold]")
    return "\n".join(lines)
