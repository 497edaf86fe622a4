"""`access report` as CSV, and as one self-contained HTML page (pure: rows in, text out a chunk at a
time, to whatever `write` the caller gives: the report is never whole in memory).

The HTML page carries no external asset: inline CSS and script, the rows as JSON in the page with
each distinct string stored once (a column of a million grants repeats a few thousand names), a
per-vendor summary, counts of privileged, expiring and unreviewed access, and a table that sorts
by any column, filters by text and by those counts, and pages through the rows. A view can be
linked: `report.html#q=judy&vendor=procore&unrev=1&sort=resource&dir=desc`.

A row's cells come in four parts, each shared by many rows: its line's place (vendor, tenant), its
person's (person, name, principal), the middle (resource type .. last certified: its line's, its
status's, its approval record's for the receiver, its applied time) and its account's last sign-in.
Each part is written out (as CSV, or as the page's string numbers) once, when first met, those
first met in a chunk of rows together; a row is then four lookups for its parts and four for their
text, and a chunk of rows one join (`_Layout`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, compress, filterfalse, repeat
from operator import add, eq, is_, itemgetter, mul, ne, or_, sub
from typing import Any, Protocol

from reconciler.access_rows import CHUNK, Rows, Status
from reconciler.origin import Origin
from reconciler.render.escape import html_text, script_json

COLUMNS: tuple[str, ...] = (
    "vendor", "tenant", "person", "name", "principal", "resource_type", "resource", "entitlement",
    "status", "source", "via", "reason", "expires", "privileged", "expiring", "commit", "committed_at",
    "pull_request", "requested_by", "merged_at", "approved_by", "approved_at", "reviewed", "applied_at",
    "last_certified", "last_sign_in",
)  # fmt: skip

Write = Callable[[str], object]
_NOBODY: frozenset[str] = frozenset()


def _origin_cells(origin: Origin | None, beneficiary: str) -> tuple[str, ...]:
    """commit .. approved_at, and reviewed: who wrote the line and who approved it (never the
    person receiving the access)."""
    if origin is None:
        return ("", "", "", "", "", "", "", "no")
    pull = origin.pull
    approvals = pull.approvers_for(beneficiary) if pull is not None else ()
    approvers = " ".join(login for login, _ in approvals)
    return (
        origin.commit.sha,
        origin.commit.date,
        str(pull.number) if pull else "",
        (pull.author or "") if pull else "",
        pull.merged_at if pull else "",
        approvers,
        " ".join(at for _, at in approvals),
        "yes" if approvers else "no",
    )


Key = Any  # a record's id, or its id and the receiver's login (see `_Records.keys`)


class _Records:
    """Each row's approval record as the key of its cells. A record's cells are the same for every
    row it explains, except for a person who approved their own pull request: their approval never
    counts, so their rows get cells of their own (keyed by the record and their login)."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.origins: dict[int, Origin | None] = {}
        self.approvers: dict[int, frozenset[str]] = {}  # record -> its approvers, folded
        self._folded: dict[str, str] | None = None

    @property
    def folded(self) -> dict[str, str]:
        """principal -> their GitHub login, folded (made when a record with approvals is first met)."""
        if self._folded is None:
            people = self.rows.people
            self._folded = {p: who.github.casefold() for p, who in people.items() if who.github}
        return self._folded

    def keys(self, origins: Sequence[Origin | None], principals: Sequence[str]) -> list[Key]:
        ids = list(map(id, origins))
        new = set(ids).difference(self.origins)
        if new:
            objects = dict(zip(ids, origins, strict=True))
            for key in new:
                origin = self.origins[key] = objects[key]
                if origin is not None and origin.pull is not None and origin.pull.approvals:
                    self.approvers[key] = frozenset(login.casefold() for login, _ in origin.pull.approvals)
        keys: list[Key] = ids
        if self.approvers:
            approvers = map(self.approvers.get, ids, repeat(_NOBODY))
            mine = list(map(_contains, approvers, map(self.folded.get, principals, repeat(""))))
            people = self.rows.people
            for i in compress(range(len(keys)), mine):
                keys[i] = (ids[i], people[principals[i]].github)
        return keys

    def own(self, origin: Origin | None, principals: Sequence[str]) -> bool:
        """Whether any of these receivers approved the pull request of `origin` (see `keys`)."""
        if origin is None or origin.pull is None or not origin.pull.approvals:
            return False
        approvers = frozenset(login.casefold() for login, _ in origin.pull.approvals)
        return not approvers.isdisjoint(map(self.folded.get, principals, repeat("")))

    def cells(self, key: Key) -> tuple[str, ...]:
        if isinstance(key, tuple):
            return _origin_cells(self.origins[key[0]], key[1])
        return _origin_cells(self.origins[key], "")


def _contains(within: frozenset[str], login: str) -> bool:
    return login in within


class _Format(Protocol):
    """How cells become text: `start` and `end` begin and end a row; `texts` writes each tuple of
    cells joined by commas, given in the order the rows show them first (the page numbers each
    string it has not met before in that order)."""

    start: str
    end: str
    ordered: bool  # whether `texts` must be given the cells in the order the rows show them

    def texts(self, cells: list[tuple[str, ...]]) -> list[str]: ...


class _Csv:
    """Cells as Python's csv module writes them. Few cells need quoting: those are written by the
    csv module itself."""

    start, end = "", "\n"
    ordered = False

    def texts(self, cells: list[tuple[str, ...]]) -> list[str]:
        texts = list(map(",".join, cells))
        if _FORMULA.search("," + ",".join(texts)):  # (a comma inside a cell may match: then checked per cell)
            cells = [tuple(map(_inert, part)) for part in cells]
            texts = list(map(",".join, cells))
        whole = "".join(texts)  # most often no cell needs quoting: all are checked at once
        if whole.count(",") == sum(map(len, cells)) - len(cells) and not _QUOTED.search(whole):
            return texts
        return self._quoted(cells, texts)

    def _quoted(self, cells: list[tuple[str, ...]], texts: list[str]) -> list[str]:
        commas = map(ne, map(str.count, texts, repeat(",")), map(sub, map(len, cells), repeat(1)))
        quoted = list(map(or_, commas, map(bool, map(_QUOTED.search, texts))))  # a comma: one more
        for i in compress(range(len(texts)), quoted):
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow(["", *cells[i]])
            texts[i] = buffer.getvalue()[1:-1]
        return texts


_QUOTED = re.compile('["\r\n]')  # a cell holding one of these, or a comma, is written by the csv module
# A cell a spreadsheet would run as a formula (names, reasons and logins come from pull requests and
# vendors) is written with a leading `'`, as the evidence pack's are (docs/audit.md, "Spreadsheets").
_FORMULA = re.compile(r",[=+\-@\t\r]")
_RISKY = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: str) -> str:
    return "'" + cell if cell.startswith(_RISKY) else cell


class _Layout:
    """The rows as text, a chunk at a time in the order shown. A row is four parts: its place's
    cells (vendor, tenant), its person's (person, name, principal), the middle (resource type ..
    last certified: its line's, status's, approval record's and applied time's) and its account's
    last sign-in. Each row's middle is numbered once, in the order the rows were made, by the first
    row that has it (a line's rows share one middle unless their status, record or time differ):
    a chunk of rows is then four lookups a row for its parts, four for their texts, and one join.
    The text of a place, person, middle or sign-in is made once, when first met in the order the
    rows are shown, those met in a chunk together (`_Format.texts`)."""

    def __init__(self, rows: Rows, form: _Format) -> None:
        self.rows = rows
        self.form = form
        self.records = _Records(rows)
        self.middle: list[int] = []  # per row, in the order made: the first row of its middle
        self.sign_in: list[str] = []  # per row, in the order made: its account's last sign-in
        self.distinct: list[int] = []  # each middle (its first row), in the order made
        places: dict[tuple[str, str], int] = {}
        self.place_of = [places.setdefault(line.head[:2], len(places)) for line in rows.lines]  # by run
        self.place_cells = list(places)
        principals, statuses, origins, applied = rows.principals, rows.statuses, rows.origins, rows.applied
        for number, line in enumerate(rows.lines):
            run = rows.run_rows(number)
            first, size = run.start, run.stop - run.start
            if not size:
                continue
            who = principals[run]
            self.sign_in += rows.sign_in.many(line.head[0], line.head[1], who)
            said, records, times = statuses[run], origins[run], applied[run]
            alike = records.count(records[0]) == size and times.count(times[0]) == size
            if alike and not self.records.own(records[0], who):  # one record and time: by status
                if said.count(said[0]) == size:
                    self.middle += repeat(first, size)
                    self.distinct.append(first)
                else:  # (statuses by identity: an enum member hashes in Python)
                    by_status: dict[int, int] = {}
                    self.middle += map(by_status.setdefault, map(id, said), range(first, run.stop))
                    self.distinct += by_status.values()
            else:
                keys = zip(map(id, said), self.records.keys(records, who), times, strict=True)
                by_key: dict[tuple[int, Key, str], int] = {}
                self.middle += map(by_key.setdefault, keys, range(first, run.stop))
                self.distinct += by_key.values()
        self.places: list[str | None] = [None] * len(rows.lines)  # by run: its place's text
        self.middles: list[str | None] = [None] * len(principals)  # by middle (its first row): its text
        self.persons: dict[str, str] = {}
        self.sign_ins: dict[str, str] = {}
        self.complete = False  # whether every text is made (`make_all`)

    def make_all(self) -> None:
        """Every place's, person's, middle's and sign-in's text, made now, together (for a format
        whose texts need no order: then `chunks` only looks them up)."""
        assert not self.form.ordered
        places = list(range(len(self.place_cells)))
        persons = list(self.rows.people)
        sign_ins = list(dict.fromkeys(self.sign_in))
        who = list(self.rows.people.values())
        cells = [
            *self.place_cells,
            *zip(map(_KEY, who), map(_NAME, who), persons, strict=True),
            *map(self._middle_cells, self.distinct),
            *zip(sign_ins),
        ]
        self._store(places, persons, self.distinct, sign_ins, self.form.texts(cells))
        self.complete = True

    def chunks(self, start: int = 0, stop: int | None = None, size: int = CHUNK) -> Iterator[str]:
        """The text of the rows shown from `start` to `stop` (all by default), `size` at a time."""
        line_of, principals = self.rows.line_of, self.rows.principals
        stop = len(self.rows.order) if stop is None else stop
        for at in range(start, stop, size):
            rows = self.rows.order[at : min(at + size, stop)].tolist()
            keys = (
                list(map(line_of.__getitem__, rows)),
                list(map(principals.__getitem__, rows)),
                list(map(self.middle.__getitem__, rows)),
                list(map(self.sign_in.__getitem__, rows)),
            )
            texts = self._texts(keys)
            missing = [False] * 4 if self.complete else [None in column for column in texts]
            if any(missing):
                self._make(keys, texts)
                texts = [self._column(i, keys[i]) if missing[i] else texts[i] for i in range(4)]
            text: list[str | None] = [None] * (4 * len(rows))
            text[0::4], text[1::4], text[2::4], text[3::4] = texts
            yield "".join(text)  # type: ignore[arg-type]

    def _texts(self, keys: tuple[list[int], list[str], list[int], list[str]]) -> list[list[str | None]]:
        return [
            self._column(0, keys[0]),
            self._column(1, keys[1]),
            self._column(2, keys[2]),
            self._column(3, keys[3]),
        ]

    def _column(self, part: int, keys: list[Any]) -> list[str | None]:
        """The texts of one part (a place 0, a person 1, a middle 2, a sign-in 3) of each row;
        None where not made yet."""
        if part == 0:
            return list(map(self.places.__getitem__, keys))
        if part == 1:
            return list(map(self.persons.get, keys))
        if part == 2:
            return list(map(self.middles.__getitem__, keys))
        return list(map(self.sign_ins.get, keys))

    def _make(
        self, keys: tuple[list[int], list[str], list[int], list[str]], texts: list[list[str | None]]
    ) -> None:
        """The texts of the places, people, middles and sign-ins first met in this chunk, made
        together (in the order they are met, row then column, for a format that numbers them)."""
        first = _first if self.form.ordered else _fresh
        places: list[int] = []
        place_rows: list[int] = []
        if None in texts[0]:
            runs, place_rows = first(keys[0], texts[0])
            places, at = first(list(map(self.place_of.__getitem__, runs)), [None] * len(runs))
            place_rows = list(map(place_rows.__getitem__, at))
        persons, person_rows = first(keys[1], texts[1]) if None in texts[1] else ([], [])
        middles, middle_rows = first(keys[2], texts[2]) if None in texts[2] else ([], [])
        sign_ins, sign_in_rows = first(keys[3], texts[3]) if None in texts[3] else ([], [])
        who = list(map(self.rows.people.__getitem__, persons))
        cells = [
            *map(self.place_cells.__getitem__, places),
            *zip(map(_KEY, who), map(_NAME, who), persons, strict=True),
            *map(self._middle_cells, middles),
            *zip(sign_ins),
        ]
        if self.form.ordered:
            # Each one's place in the chunk: its row * 4 + its column (a place 0, a person 1, a
            # middle 2, a sign-in 3).
            at = [*_at(place_rows, 0), *_at(person_rows, 1), *_at(middle_rows, 2), *_at(sign_in_rows, 3)]
            order = sorted(range(len(at)), key=at.__getitem__)
            made = dict(zip(order, self.form.texts(list(map(cells.__getitem__, order))), strict=True))
            texts_made = list(map(made.__getitem__, range(len(at))))  # in the order of `at`
        else:
            texts_made = self.form.texts(cells)
        self._store(places, persons, middles, sign_ins, texts_made)

    def _store(
        self, places: list[int], persons: list[str], middles: list[int], sign_ins: list[str], made: list[str]
    ) -> None:
        """Keep the texts `made` for these places, persons, middles and sign-ins, in that order."""
        texts_made = made
        start = len(places)
        for place, text in zip(places, texts_made[:start], strict=True):
            for run in compress(range(len(self.place_of)), map(eq, self.place_of, repeat(place))):
                self.places[run] = f"{self.form.start}{text},"
        self.persons.update(
            zip(persons, map(add, texts_made[start : start + len(persons)], repeat(",")), strict=True)
        )
        start += len(persons)
        for middle, text in zip(middles, texts_made[start : start + len(middles)], strict=True):
            self.middles[middle] = text + ","
        start += len(middles)
        self.sign_ins.update(zip(sign_ins, map(add, texts_made[start:], repeat(self.form.end)), strict=True))

    def _middle_cells(self, row: int) -> tuple[str, ...]:
        """resource type .. last certified, of the middle first met at `row` (in the order made)."""
        rows = self.rows
        line = rows.lines[rows.line_of[row]]
        record = self.records.keys([rows.origins[row]], [rows.principals[row]])[0]
        return (
            *line.head[2:], rows.statuses[row], line.source, line.via, line.reason, line.expires,
            line.privileged, "yes" if line.expiring else "", *self.records.cells(record), rows.applied[row],
            line.certified,
        )  # fmt: skip


_KEY = itemgetter(0)
_NAME = itemgetter(2)  # a Person's name


def _at(rows: list[int], column: int) -> Iterator[int]:
    return map(add, map(mul, rows, repeat(4)), repeat(column))


def _fresh(keys: list[Any], texts: list[str | None]) -> tuple[list[Any], list[int]]:
    """The keys that have no text yet, each once (and, unlike `_first`, not where each is first:
    every position is 0)."""
    found = list(dict.fromkeys(compress(keys, map(is_, texts, repeat(None)))))
    return found, [0] * len(found)


def _first(keys: list[Any], texts: list[str | None]) -> tuple[list[Any], list[int]]:
    """The keys that have no text yet, each once, in the order first met, and where each is first."""
    at = list(compress(range(len(keys)), map(is_, texts, repeat(None))))
    picked = list(map(keys.__getitem__, at))
    first = dict(zip(reversed(picked), reversed(at), strict=True))  # the last written: the first met
    found = list(dict.fromkeys(picked))
    return found, list(map(first.__getitem__, found))


def write_csv(rows: Rows, write: Write) -> None:
    """The rows as CSV, a header line and a line per row, each ending in a newline."""
    lines = CsvLines(rows)
    write(lines.header)
    lines.write(write, 0, len(lines))


class CsvLines:
    """The rows' CSV lines, every text they are made of made first: any range of the rows is then
    written by lookups alone, the same bytes whichever process writes it, in any order (the caller
    may write the halves in two processes)."""

    header = ",".join(COLUMNS) + "\n"

    def __init__(self, rows: Rows) -> None:
        self.layout = _Layout(rows, _Csv())
        self.layout.make_all()

    def __len__(self) -> int:
        return len(self.layout.rows)

    def write(self, write: Write, start: int, stop: int) -> None:
        """The lines of the rows shown from `start` to `stop`."""
        for text in self.layout.chunks(start, stop):
            write(text)


@dataclass(frozen=True, slots=True)
class Summary:
    vendor: str
    grants: int
    people: int
    privileged: int
    expiring: int
    unreviewed: int
    not_in_yaml: int
    pending: int


def summarize(rows: Rows) -> list[Summary]:
    """Per vendor: grants, people, privileged, expiring, unreviewed, not in the YAML, pending;
    counted a line's run of rows at a time."""
    records = _Records(rows)
    unreviewed: dict[Key, bool] = {}
    counts: dict[str, list[int]] = {}
    people: dict[str, set[str]] = {}
    for number, line in enumerate(rows.lines):
        run = rows.run_rows(number)
        principals, statuses, origins = rows.principals[run], rows.statuses[run], rows.origins[run]
        n = len(principals)
        if n and origins.count(origins[0]) == n and not records.own(origins[0], principals):
            tails = records.keys(origins[:1], principals[:1])  # one record, the same cells for all
            weight = n
        else:
            tails, weight = records.keys(origins, principals), 1
        for key in set(tails).difference(unreviewed):
            unreviewed[key] = records.cells(key)[-1] == "no"
        found = counts.setdefault(line.head[0], [0] * 6)
        for i, value in enumerate((
            n, n if line.privileged else 0, n if line.expiring else 0,
            weight * sum(map(unreviewed.__getitem__, tails)),
            statuses.count(Status.NOT_IN_YAML), statuses.count(Status.PENDING),
        )):  # fmt: skip
            found[i] += value
        people.setdefault(line.head[0], set()).update(principals)
    return [
        Summary(vendor, grants, len(people[vendor]), privileged, expiring, unreviewed_, drift, pending)
        for vendor, (grants, privileged, expiring, unreviewed_, drift, pending) in sorted(counts.items())
    ]


def _summary_table(summaries: Sequence[Summary]) -> tuple[str, list[int]]:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "vendor",
            "grants",
            "people",
            "privileged",
            "expiring",
            "unreviewed",
            "not in the YAML",
            "pending",
        )
    )
    body = []
    totals = [0] * 6
    for s in summaries:
        values = (s.grants, s.people, s.privileged, s.expiring, s.unreviewed, s.not_in_yaml, s.pending)
        body.append(
            f"<tr><td>{html_text(s.vendor)}</td>" + "".join(f"<td>{v:,}</td>" for v in values) + "</tr>"
        )
        for i, v in enumerate((s.grants, s.privileged, s.expiring, s.unreviewed, s.not_in_yaml, s.pending)):
            totals[i] += v
    return (
        f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>',
        totals,
    )


class _Strings:
    """The page's cells: each distinct string numbered when first met, a cell written as its number."""

    start, end = ",[", "]"
    ordered = True

    def __init__(self) -> None:
        self.number: dict[str, str] = {}  # string -> its number, as text

    def texts(self, cells: list[tuple[str, ...]]) -> list[str]:
        number = self.number
        new = list(filterfalse(number.__contains__, dict.fromkeys(chain.from_iterable(cells))))
        number.update(zip(new, map(str, range(len(number), len(number) + len(new))), strict=True))
        return list(map(",".join, map(partial(map, number.__getitem__), cells)))


class HtmlPage:
    """The page, for a caller that writes it a chunk at a time. Its data lists each distinct string
    before the rows that number them, and a string is numbered when first met: so the caller takes
    the rows first (`write_rows`, to a file of its own), then writes `head`, those rows, and `tail`."""

    def __init__(
        self,
        rows: Rows,
        *,
        title: str,
        generated: str,
        notes: Sequence[str] = (),
        unused: tuple[int, int] | None = None,
        sections: str = "",
    ) -> None:
        """`unused`: (days, accounts not signed in for that long), a card; `sections`: more HTML after
        the access table (the deprovisioning SLA view), made by its own renderer."""
        self.rows = rows
        summary_html, totals = _summary_table(summarize(rows))
        grants, privileged, expiring, unreviewed, drift, pending = totals
        note_html = "".join(f"<p class=note>{html_text(n)}</p>" for n in notes)
        cards = "".join(
            f'<div class="card {cls}"><b>{value:,}</b><span>{label}</span></div>'
            for cls, value, label in (
                ("", grants, "grants"),
                ("warn", privileged, "privileged"),
                ("warn", expiring, "expiring soon"),
                ("bad", unreviewed, "unreviewed"),
                ("bad", drift, "not in the YAML"),
                ("", pending, "pending"),
                *((("warn", unused[1], f"accounts unused {unused[0]}+ days"),) if unused is not None else ()),
            )
        )
        self.before, self.after = (
            page.replace("__TITLE__", html_text(title))
            .replace("__GENERATED__", html_text(generated))
            .replace("__NOTES__", note_html)
            .replace("__CARDS__", cards)
            .replace("__SUMMARY__", summary_html)
            .replace("__SECTIONS__", sections)
            for page in _PAGE.split("__DATA__", 1)
        )
        self.strings = _Strings()  # each distinct string, numbered in order of first appearance

    def write_rows(self, write: Write) -> None:
        """The rows, as lists of their strings' numbers, separated by commas."""
        for i, text in enumerate(_Layout(self.rows, self.strings).chunks()):
            write(text[1:] if i == 0 else text)  # (the first row follows no other)

    def head(self) -> str:
        """The page up to its rows (after `write_rows`: the strings they number)."""
        data = json.dumps(
            {"columns": list(COLUMNS), "strings": list(self.strings.number)}, separators=(",", ":")
        )
        return self.before + script_json(data[:-1]) + ',"rows":['

    def tail(self) -> str:
        return "]}" + self.after


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d232a;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.muted,.note{color:#59636e}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.card{background:#fff;border:1px solid #d1d9e0;
border-radius:8px;padding:10px 16px;min-width:120px}.card b{display:block;font-size:22px}
.card.warn b{color:#9a6700}.card.bad b{color:#cf222e}table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #d1d9e0;padding:4px 8px;text-align:left;white-space:nowrap}
th{background:#f0f3f6;position:sticky;top:0}table.summary td{text-align:right}
table.summary td:first-child{text-align:left}#grid th{cursor:pointer;user-select:none}
#grid th.asc::after{content:" \\25B2"}#grid th.desc::after{content:" \\25BC"}
.controls{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin:8px 0}
input[type=search]{padding:4px 8px;width:280px}.wrap{overflow:auto;max-height:70vh;border:1px solid #d1d9e0}
tr.s-drift td{background:#fff1f0}tr.s-pending td{background:#fff8e5}td.no{color:#cf222e;font-weight:600}
</style></head><body>
<h1>__TITLE__</h1><div class="muted">generated __GENERATED__</div>__NOTES__
<div class="cards">__CARDS__</div>
<h2>Per vendor</h2>__SUMMARY__
<h2>Access</h2>
<div class="controls">
<input type="search" id="q" placeholder="filter: any text (person, resource, PR, approver...)">
<select id="vendor"><option value="">all vendors</option></select>
<select id="status"><option value="">any status</option></select>
<label><input type="checkbox" id="priv"> privileged</label>
<label><input type="checkbox" id="exp"> expiring</label>
<label><input type="checkbox" id="unrev"> unreviewed</label>
<span id="count" class="muted"></span>
<button id="prev">&larr;</button><button id="next">&rarr;</button>
</div>
<div class="wrap"><table id="grid"><thead><tr id="head"></tr></thead><tbody id="body"></tbody></table></div>
__SECTIONS__<script type="application/json" id="data">__DATA__</script>
<script>
(function(){
"use strict";
var D=JSON.parse(document.getElementById("data").textContent),S=D.strings,C=D.columns,R=D.rows;
var col={};C.forEach(function(c,i){col[c]=i;});
var PAGE=200,page=0,sortCol=-1,sortDir=1,view=R;
var show=["vendor","person","name","resource_type","resource","entitlement","status","source","via","reason",
"expires","privileged","pull_request","requested_by","approved_by","approved_at","reviewed","last_certified","applied_at","last_sign_in","commit"];
var head=document.getElementById("head"),body=document.getElementById("body");
show.forEach(function(c){var th=document.createElement("th");th.textContent=c.replace(/_/g," ");
th.dataset.col=col[c];th.addEventListener("click",function(){var i=+th.dataset.col;
if(sortCol===i){sortDir=-sortDir;}else{sortCol=i;sortDir=1;}apply();});head.appendChild(th);});
function fill(id,c){var seen={},sel=document.getElementById(id);R.forEach(function(r){seen[S[r[col[c]]]]=1;});
Object.keys(seen).sort().forEach(function(v){var o=document.createElement("option");o.value=o.textContent=v;
sel.appendChild(o);});sel.addEventListener("change",apply);}
fill("vendor","vendor");fill("status","status");
["priv","exp","unrev"].forEach(function(id){document.getElementById(id).addEventListener("change",apply);});
var timer;document.getElementById("q").addEventListener("input",function(){clearTimeout(timer);timer=setTimeout(apply,150);});
document.getElementById("prev").addEventListener("click",function(){if(page>0){page--;draw();}});
document.getElementById("next").addEventListener("click",function(){if((page+1)*PAGE<view.length){page++;draw();}});
function apply(){
var q=document.getElementById("q").value.toLowerCase(),v=document.getElementById("vendor").value,
st=document.getElementById("status").value,pr=document.getElementById("priv").checked,
ex=document.getElementById("exp").checked,un=document.getElementById("unrev").checked;
var hit=null;if(q){hit=S.map(function(s){return s.toLowerCase().indexOf(q)>=0;});}
view=R.filter(function(r){
if(v&&S[r[col.vendor]]!==v)return false;if(st&&S[r[col.status]]!==st)return false;
if(pr&&!S[r[col.privileged]])return false;if(ex&&S[r[col.expiring]]!=="yes")return false;
if(un&&S[r[col.reviewed]]!=="no")return false;
if(hit){for(var i=0;i<r.length;i++){if(hit[r[i]])return true;}return false;}return true;});
if(sortCol>=0){view=view.slice().sort(function(a,b){var x=S[a[sortCol]],y=S[b[sortCol]];
return x<y?-sortDir:x>y?sortDir:0;});}
Array.prototype.forEach.call(head.children,function(th){th.className=+th.dataset.col===sortCol?(sortDir>0?"asc":"desc"):"";});
page=0;draw();}
function draw(){
var start=page*PAGE,end=Math.min(view.length,start+PAGE),frag=document.createDocumentFragment();
for(var i=start;i<end;i++){var r=view[i],tr=document.createElement("tr"),s=S[r[col.status]];
tr.className=s==="not in the YAML"?"s-drift":s==="pending"?"s-pending":"";
show.forEach(function(c){var td=document.createElement("td"),t=S[r[col[c]]];
if(c==="commit")t=t.slice(0,10);if(c==="pull_request"&&t)t="#"+t;if(c==="reviewed"&&t==="no")td.className="no";
td.textContent=t;tr.appendChild(td);});frag.appendChild(tr);}
body.textContent="";body.appendChild(frag);
document.getElementById("count").textContent=(view.length?(start+1)+"\\u2013"+end+" of ":"0 of ")+
view.length.toLocaleString()+" grants"+(view.length<R.length?" (filtered from "+R.length.toLocaleString()+")":"");}
function fromHash(){var h={};location.hash.replace(/^#/,"").split("&").forEach(function(kv){
if(!kv)return;var i=kv.indexOf("=");h[decodeURIComponent(i<0?kv:kv.slice(0,i))]=i<0?"1":decodeURIComponent(kv.slice(i+1));});
if(h.q)document.getElementById("q").value=h.q;if(h.vendor)document.getElementById("vendor").value=h.vendor;
if(h.status)document.getElementById("status").value=h.status;
["priv","exp","unrev"].forEach(function(id){document.getElementById(id).checked=h[id]==="1";});
if(h.sort&&col[h.sort]!==undefined){sortCol=col[h.sort];sortDir=h.dir==="desc"?-1:1;}}
fromHash();apply();
})();
</script></body></html>
"""
