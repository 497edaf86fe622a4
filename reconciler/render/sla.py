"""The deprovisioning SLA view of `access report` (pure: rows in, text out): as CSV (`--sla`), and as
a section of the HTML page."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from reconciler.render.escape import html_text
from reconciler.sla import STILL_HELD, SlaRow
from reconciler.usage import moment
from reconciler.vendors import VENDORS, vendor_label

COLUMNS = ("person", "principal", "left_at", "said_by", *(f"{v}_revoked_at" for v in VENDORS), "hours", "sla")


def _cells(row: SlaRow, now: dt.datetime, sla_hours: int) -> tuple[str, ...]:
    hours = row.hours(now)
    per_vendor = tuple(STILL_HELD if v in row.held else row.revoked.get(v, "") for v in VENDORS)
    return (
        row.person, row.principal, row.left_at, row.why, *per_vendor,
        f"{hours:.1f}" if hours is not None else "", row.verdict(now, sla_hours),
    )  # fmt: skip


def sla_csv(rows: Sequence[SlaRow], now: dt.datetime, sla_hours: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_cells(row, now, sla_hours) for row in rows)
    return buffer.getvalue()


def _shown(value: str) -> str:
    when = moment(value)
    return f"{when:%Y-%m-%d %H:%M}" if when is not None else (value or "—")


def sla_html(rows: Sequence[SlaRow], now: dt.datetime, sla_hours: int) -> str:
    """The page's section: one row per leaver, a column per vendor."""
    head = "".join(
        f"<th>{html_text(h)}</th>"
        for h in ("person", "left (UTC)", "said by", *(vendor_label(v) for v in VENDORS), "hours", "SLA")
    )
    body = []
    for row in rows:
        cells = _cells(row, now, sla_hours)
        verdict = cells[-1]
        shown = [
            row.person or row.principal, _shown(row.left_at), row.why,
            *(_shown(c) if c != STILL_HELD else c for c in cells[4 : 4 + len(VENDORS)]), cells[-2] or "—", verdict,
        ]  # fmt: skip
        css = ' class="no"' if verdict == "breached" else ""
        body.append(
            "<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in shown[:-1]) + f"<td{css}>{verdict}</td></tr>"
        )
    table = (
        f'<table class="sla"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        if rows
        else "<p class=muted>nobody has left (the IdP and the HR export say so of no one, and the audit log records no leaver's revocation)</p>"
    )
    return (
        f"<h2>Deprovisioning SLA ({sla_hours} h)</h2>"
        "<p class=muted>When the IdP or HR said each person left, when apply last revoked their access at "
        "each vendor (the audit log), and whether everything went within the SLA.</p>" + table
    )
