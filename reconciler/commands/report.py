"""`access report`: everyone's current access with its provenance, as CSV or one HTML page.

The evidence for a user access review: per vendor and per person, each grant with the YAML line,
the commit and pull request that wrote it, who approved it and when, the reason, the expiry, when
apply applied it; and the counts of privileged, expiring and unreviewed access.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
from itertools import compress, repeat
from pathlib import Path
from typing import TextIO

from reconciler.access_rows import Rows, Status
from reconciler.commands.access_view import View, ViewOptions, build_view
from reconciler.commands.context import AppContext
from reconciler.commands.sla_view import SlaView, sla_view
from reconciler.errors import AccessError
from reconciler.periods import Instant
from reconciler.render.report import HtmlPage, Write, write_csv
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


def run(
    ctx: AppContext,
    *,
    out: Path | None,
    fmt: str,
    options: ViewOptions,
    sla: bool = False,
    at: Instant | None = None,
) -> int:
    chosen = pick_format(fmt, out)
    view = build_view(ctx, options) if at is None else _view_at(ctx, options, at)
    ctx.retain(view)
    leavers = sla_view(ctx, view, options)
    if sla:
        return _sla_only(ctx, leavers, out)
    generated = ctx.now.isoformat(timespec="seconds") if at is None else f"as of {at.iso()}"
    for note in view.notes:
        ctx.output.info(f"note: {note}")
    unused = _unused(view, ctx.today if at is None else at.day)
    if unused is not None:
        ctx.output.info(f"{unused[1]:,} account(s) unused for {unused[0]}+ days (no sign-in since)")
    sections = sla_html(leavers.rows, ctx.now, leavers.sla_hours) if leavers is not None else ""
    if out is None:
        _write(ctx, view, chosen, ctx.output.raw, generated, unused, sections)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        _write(ctx, view, chosen, handle.write, generated, unused, sections, file=handle)
    people = len(view.rows.people)  # (every principal of the rows)
    ctx.output.info(f"report written to {out} ({len(view.rows):,} grants of {people:,} people)")
    return 0


def _write(
    ctx: AppContext,
    view: View,
    chosen: str,
    write: Write,
    generated: str,
    unused: tuple[int, int] | None = None,
    sections: str = "",
    file: TextIO | None = None,
) -> None:
    """The report, written a chunk of rows at a time as they are made (to `write`: `file`'s, if
    given, whose bytes then take the page's rows as they are)."""
    if chosen == "csv":
        write_csv(view.rows, write)
        return
    page = HtmlPage(
        view.rows,
        title="Access report",
        generated=f"{generated} from {ctx.repo.resolve().name}",
        notes=view.notes,
        unused=unused,
        sections=sections,
    )
    with tempfile.TemporaryFile() as spool:  # the rows (UTF-8), until the strings are known
        page.write_rows(lambda text: spool.write(text.encode()))
        write(page.head())
        spool.seek(0)
        if file is not None:  # a file: the bytes copied, not decoded and encoded again
            file.flush()
            shutil.copyfileobj(spool, file.buffer, _BLOCK)
        else:
            text = io.TextIOWrapper(spool, encoding="utf-8")
            while block := text.read(_BLOCK):
                write(block)
            text.detach()  # (the spool is closed by its own `with`)
    write(page.tail())


_BLOCK = 1 << 22  # bytes (characters) copied at a time


_HELD = (Status.IN_FORCE, Status.NOT_IN_YAML)


def _unused(view: View, today: dt.date) -> tuple[int, int] | None:
    """(days, the accounts holding access that have not signed in for that long), where the vendors
    were read; the days are the smallest `unused_days` of the recertification rules, else 90."""
    if view.actual is None:
        return None
    index = AccountIndex(view.actual.values())
    if not any(map(index.knows, view.actual)):
        return None  # no vendor read says when its accounts signed in (Concur; an older snapshot)
    days = unused_threshold(rule.unused_days for rule in view.policies.recertification.values())
    return days, unused_accounts(_held_accounts(view.rows), index, view.desired.access.people, today, days)


def _held_accounts(rows: Rows) -> set[tuple[str, str, str]]:
    """(vendor, tenant, principal) of every account that holds access, a line's run at a time."""
    found: set[tuple[str, str, str]] = set()
    for number, line in enumerate(rows.lines):
        run = rows.run_rows(number)
        vendor, tenant = line.head[:2]
        holders = compress(rows.principals[run], map(_HELD.__contains__, rows.statuses[run]))
        found.update(zip(repeat(vendor), repeat(tenant), holders))
    return found


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


def _view_at(ctx: AppContext, options: ViewOptions, at: Instant) -> View:
    """`--at`: the report as of a point in time (`reconciler/commands/access_at.py`)."""
    from reconciler.commands.access_at import build_view_at

    return build_view_at(ctx, options, at).view
