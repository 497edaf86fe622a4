"""`access report`: everyone's current access with its provenance, as CSV or one HTML page.

The evidence for a user access review: per vendor and per person, each grant with the YAML line,
the commit and pull request that wrote it, who approved it and when, the reason, the expiry, when
apply applied it; and the counts of privileged, expiring and unreviewed access.
"""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path

from reconciler.commands.access_view import View, ViewOptions, build_view
from reconciler.commands.context import AppContext
from reconciler.errors import AccessError
from reconciler.periods import Instant
from reconciler.render.report import render_csv, render_html

FORMATS = ("csv", "html")


def pick_format(fmt: str, out: Path | None) -> str:
    chosen = (fmt or (out.suffix.lstrip(".").lower() if out is not None else "") or "csv").lower()
    if chosen == "htm":
        chosen = "html"
    if chosen not in FORMATS:
        raise AccessError(f"--format: {chosen!r} is not one of {', '.join(FORMATS)}")
    return chosen


def run(
    ctx: AppContext, *, out: Path | None, fmt: str, options: ViewOptions, at: Instant | None = None
) -> int:
    chosen = pick_format(fmt, out)
    view = build_view(ctx, options) if at is None else _view_at(ctx, options, at)
    ctx.retain(view)
    if chosen == "html":
        when = ctx.now.isoformat(timespec="seconds") if at is None else f"as of {at.iso()}"
        text = render_html(
            view.rows,
            title="Access report",
            generated=f"{when} from {ctx.repo.resolve().name}",
            notes=view.notes,
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


def _view_at(ctx: AppContext, options: ViewOptions, at: Instant) -> View:
    """`--at`: the report as of a point in time (`reconciler/commands/access_at.py`)."""
    from reconciler.commands.access_at import build_view_at

    return build_view_at(ctx, options, at).view
