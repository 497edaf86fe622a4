"""`access report`: everyone's current access with its provenance, as CSV or one HTML page.

The evidence for a user access review: per vendor and per person, each grant with the YAML line,
the commit and pull request that wrote it, who approved it and when, the reason, the expiry, when
apply applied it; and the counts of privileged, expiring and unreviewed access.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from reconciler.commands.access_view import View, ViewOptions, build_view
from reconciler.commands.context import AppContext
from reconciler.errors import AccessError
from reconciler.render.report import HtmlPage, Write, write_csv

FORMATS = ("csv", "html")


def pick_format(fmt: str, out: Path | None) -> str:
    chosen = (fmt or (out.suffix.lstrip(".").lower() if out is not None else "") or "csv").lower()
    if chosen == "htm":
        chosen = "html"
    if chosen not in FORMATS:
        raise AccessError(f"--format: {chosen!r} is not one of {', '.join(FORMATS)}")
    return chosen


def run(ctx: AppContext, *, out: Path | None, fmt: str, options: ViewOptions) -> int:
    chosen = pick_format(fmt, out)
    view = build_view(ctx, options)
    ctx.retain(view)
    for note in view.notes:
        ctx.output.info(f"note: {note}")
    if out is None:
        _write(ctx, view, chosen, ctx.output.raw)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        _write(ctx, view, chosen, handle.write)
    people = len(set(view.rows.principals))
    ctx.output.info(f"report written to {out} ({len(view.rows):,} grants of {people:,} people)")
    return 0


def _write(ctx: AppContext, view: View, chosen: str, write: Write) -> None:
    """The report, written a chunk of rows at a time as they are made."""
    if chosen == "csv":
        write_csv(view.rows, write)
        return
    page = HtmlPage(
        view.rows,
        title="Access report",
        generated=f"{ctx.now.isoformat(timespec='seconds')} from {ctx.repo.resolve().name}",
        notes=view.notes,
    )
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:  # the rows, until the strings are known
        page.write_rows(spool.write)
        write(page.head())
        spool.seek(0)
        while block := spool.read(_BLOCK):
            write(block)
    write(page.tail())


_BLOCK = 1 << 22  # characters copied at a time
