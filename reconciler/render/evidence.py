"""The evidence pack's summary page: one self-contained HTML file (pure: tables in, text out).

No script and no external asset: the parameters, the counts per vendor, what changed (by action and
basis), what was held back, the lapsed grants, the leavers, and the files with their SHA-256. Every
value is escaped (`render.escape.html_text`): names and reasons come from pull requests and vendors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from reconciler.evidence import CHANGE_COLUMNS, COUNT_COLUMNS, LEAVER_COLUMNS, RECERTIFICATION_COLUMNS
from reconciler.render.escape import html_text

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}code{font-size:.92em}
p.note{color:#555}
"""


def _table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], numeric: frozenset[int] = frozenset()
) -> str:
    if not rows:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{html_text(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{html_text(cell)}</td>' if i in numeric else f"<td>{html_text(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pick(columns: Sequence[str], wanted: Sequence[str], rows: Sequence[Sequence[str]]) -> list[list[str]]:
    index = [columns.index(name) for name in wanted]
    return [[row[i] for i in index] for row in rows]


def render_summary(
    *,
    title: str,
    parameters: Sequence[Sequence[str]],
    counts: Sequence[Sequence[str]],
    changes: Sequence[Sequence[str]],
    leavers: Sequence[Sequence[str]],
    recertifications: Sequence[Sequence[str]],
    files: Mapping[str, str],
) -> str:
    """The page; `files`: name -> sha256 of the pack's other files."""
    kinds = Counter(
        (
            row[CHANGE_COLUMNS.index("action")],
            row[CHANGE_COLUMNS.index("basis")],
            row[CHANGE_COLUMNS.index("outcome")],
        )
        for row in changes
    )
    by_kind = [[a, b, o, str(n)] for (a, b, o), n in sorted(kinds.items())]
    held = [row for row in changes if row[CHANGE_COLUMNS.index("kind")] == "held"]
    lapsed = [row for row in recertifications if row[0] == "lapsed"]
    reapproved = len(recertifications) - len(lapsed)
    held_cols = (
        "time",
        "vendor",
        "action",
        "resource",
        "entitlement",
        "principal",
        "rule",
        "why",
        "landed_in",
    )
    lapsed_cols = ("at", "vendor", "resource", "entitlement", "principal", "rule", "why", "outcome")
    leaver_cols = (
        "person",
        "vendor",
        "removed_at",
        "pull_request",
        "deprovisioned_at",
        "hours_to_deprovision",
        "note",
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html_text(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html_text(title)}</h1>",
        "<h2>Parameters</h2>",
        _table(("name", "value"), parameters),
        "<h2>Per vendor</h2>",
        _table(COUNT_COLUMNS, counts, frozenset(range(1, len(COUNT_COLUMNS) - 1))),
        f"<h2>Changes in the period ({len(changes) - len(held)} made, {len(held)} held back)</h2>",
        _table(("action", "basis", "outcome", "count"), by_kind, frozenset({3})),
        "<h2>Held back by the approval gate</h2>",
        _table(held_cols, _pick(CHANGE_COLUMNS, held_cols, held)),
        f"<h2>Recertification: {reapproved} re-approved, {len(lapsed)} lapsed</h2>",
        _table(lapsed_cols, _pick(RECERTIFICATION_COLUMNS, lapsed_cols, lapsed)),
        "<h2>Leavers</h2>",
        _table(leaver_cols, _pick(LEAVER_COLUMNS, leaver_cols, leavers)),
        "<h2>Files</h2>",
        _table(("file", "sha256"), [[name, digest] for name, digest in sorted(files.items())]),
        '<p class="note">Check the pack: <code>sha256sum -c --strict SHA256SUMS</code> and the signature '
        "(VERIFY.txt), or <code>access evidence verify DIR</code>.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
