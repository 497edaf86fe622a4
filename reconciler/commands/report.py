"""`access report`: everyone's current access with its provenance, as CSV or one HTML page.

The evidence for a user access review: per vendor and per person, each grant with the YAML line,
the commit and pull request that wrote it, who approved it and when, the reason, the expiry, when
apply applied it; and the counts of privileged, expiring and unreviewed access.
"""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path

from reconciler.access_rows import Status
from reconciler.commands.access_view import View, ViewOptions, build_view
from reconciler.commands.context import AppContext
from reconciler.commands.sla_view import SlaView, sla_view
from reconciler.errors import AccessError
from reconciler.render.report import render_csv, render_html
from reconciler.render.sla import sla_csv, sla_html
from reconciler.usage import AccountIndex, unused_accounts, unused_threshold

FORMATS = ("csv", "html")


def pick_format(fmt: str, out: Path | None) -> str:
    chosen = (fmt or (out.suffix.lstrip(".").lower() if out is not None else "") or "csv").lower()
    if chosen == "htm":
        chosen = "html"
    if chosen not in FORMATS:
        raise AccessError(f"--format: {chosen!r} is not one of {', '.join(FORMATS)}")
    return chosen


def run(ctx: AppContext, *, out: Path | None, fmt: str, options: ViewOptions, sla: bool = False) -> int:
    chosen = pick_format(fmt, out)
    view = build_view(ctx, options)
    ctx.retain(view)
    leavers = sla_view(ctx, view, options)
    if sla:
        return _sla_only(ctx, leavers, out)
    unused = _unused(ctx, view)
    if unused is not None:
        ctx.output.info(f"{unused[1]:,} account(s) unused for {unused[0]}+ days (no sign-in since)")
    if chosen == "html":
        text = render_html(
            view.rows,
            title="Access report",
            generated=f"{ctx.now.isoformat(timespec='seconds')} from {ctx.repo.resolve().name}",
            notes=view.notes,
            unused=unused,
            sections=sla_html(leavers.rows, ctx.now, leavers.sla_hours) if leavers is not None else "",
        )
    else:
        text = render_csv(view.rows)
    for note in view.notes:
        ctx.output.info(f"note: {note}")
    if out is None:
        ctx.output.raw(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        people = len(set(map(attrgetter("principal"), view.rows)))
        ctx.output.info(f"report written to {out} ({len(view.rows):,} grants of {people:,} people)")
    return 0


def _unused(ctx: AppContext, view: View) -> tuple[int, int] | None:
    """(days, the accounts holding access that have not signed in for that long), where the vendors
    were read; the days are the smallest `unused_days` of the recertification rules, else 90."""
    if view.actual is None:
        return None
    days = unused_threshold(rule.unused_days for rule in view.policies.recertification.values())
    held = (r for r in view.rows if r.status in (Status.IN_FORCE, Status.NOT_IN_YAML))
    keys = map(attrgetter("vendor", "tenant", "principal"), held)
    index = AccountIndex(view.actual.values())
    return days, unused_accounts(keys, index, view.desired.access.people, ctx.today, days)


def _sla_only(ctx: AppContext, leavers: SlaView | None, out: Path | None) -> int:
    """`--sla`: the deprovisioning SLA view alone, as CSV."""
    if leavers is None:
        raise AccessError(
            "--sla: no `leavers` policy in policies/ (it sets sla_hours); see docs/lifecycle.md"
        )
    text = sla_csv(leavers.rows, ctx.now, leavers.sla_hours)
    if out is None:
        ctx.output.raw(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        ctx.output.info(f"SLA view written to {out} ({len(leavers.rows):,} leaver(s))")
    return 0
