"""`access report` as CSV, and as one self-contained HTML page (pure: rows in, text out a chunk at a
time, to whatever `write` the caller gives: the report is never whole in memory).

The HTML page carries no external asset: inline CSS and script, the rows as JSON in the page with
each distinct string stored once (a column of a million grants repeats a few thousand names), a
per-vendor summary, counts of privileged, expiring and unreviewed access, and a table that sorts
by any column, filters by text and by those counts, and pages through the rows. A view can be
linked: `report.html#q=judy&vendor=procore&unrev=1&sort=resource&dir=desc`.

A row's cells come in parts, each shared by many rows: its line's (vendor, tenant), its person's
(person, name, principal), its line's and status's (resource type .. expiring), its approval
record's (commit .. reviewed, for the receiver), its applied time, its line's last certification,
its account's last sign-in. Each part is written out (as CSV, or as the page's string numbers)
once, when first met; a row is then seven lookups, and a chunk of rows one join.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, itemgetter, mul
from typing import Any

from reconciler.access_rows import Chunk, Rows, Status
from reconciler.origin import Origin
from reconciler.render.escape import html_text, script_json

COLUMNS: tuple[str, ...] = (
    "vendor", "tenant", "person", "name", "principal", "resource_type", "resource", "entitlement",
    "status", "source", "via", "reason", "expires", "privileged", "expiring", "commit", "committed_at",
    "pull_request", "requested_by", "merged_at", "approved_by", "approved_at", "reviewed", "applied_at",
    "last_certified", "last_sign_in",
)  # fmt: skip

Write = Callable[[str], object]
_STATUSES = {status: number for number, status in enumerate(Status)}
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


# A part's key: a line's number (parts 0 and 5), a principal (1), a line's number and a status's
# packed (2), a record's id, or its id and the receiver's login (3), a time (4), an account: its
# line's (vendor, tenant) number and its principal (6).
Key = Any
LAST = 6  # the last part: its text ends the row


class _Parts:
    """Each row's parts (see the module's docstring) as keys, a chunk at a time, and each part's
    cells. A record's cells are the same for every row it explains, except for a person who
    approved their own pull request: their approval never counts, so their rows get cells of their
    own (keyed by the record and their login)."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.origins: dict[int, Origin | None] = {}
        self.approvers: dict[int, frozenset[str]] = {}  # record -> its approvers, folded
        self.folded = {p: who.github.casefold() for p, who in rows.people.items() if who.github}
        places: dict[tuple[str, str], int] = {}
        self.place_of = [places.setdefault(line.head[:2], len(places)) for line in rows.lines]
        self.places = list(places)  # (vendor, tenant) by number

    def tails(self, origins: Sequence[Origin | None], principals: Sequence[str]) -> list[Key]:
        """Each row's record, as the key of its cells."""
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

    def tail_cells(self, key: Key) -> tuple[str, ...]:
        if isinstance(key, tuple):
            return _origin_cells(self.origins[key[0]], key[1])
        return _origin_cells(self.origins[key], "")

    def keys(self, chunk: Chunk) -> list[list[Key]]:
        """The chunk's rows' parts, as keys: line, principal, line and status, record, time, line,
        account."""
        lines = chunk.lines
        statuses = map(_STATUSES.__getitem__, chunk.statuses)
        with_status = list(map(add, map(mul, lines, repeat(len(_STATUSES))), statuses))
        return [
            lines,
            chunk.principals,
            with_status,
            self.tails(chunk.origins, chunk.principals),
            chunk.applied,
            lines,
            list(zip(map(self.place_of.__getitem__, lines), chunk.principals, strict=True)),
        ]

    def cells(self, part: int, key: Key) -> Sequence[str]:
        """The cells of one part, in COLUMNS order."""
        if part == 0:
            return self.rows.lines[key].head[:2]
        if part == 1:
            who = self.rows.people[key]
            return (who.key, who.name, key)
        if part == 2:
            line = self.rows.lines[key // len(_STATUSES)]
            status = _STATUS_OF[key % len(_STATUSES)]
            return (*line.head[2:], status, line.source, line.via, line.reason, line.expires, line.privileged,
                    "yes" if line.expiring else "")  # fmt: skip
        if part == 3:
            return self.tail_cells(key)
        if part == 4:
            return (key,)
        if part == 5:
            return (self.rows.lines[key].certified,)
        vendor, tenant = self.places[key[0]]
        return (self.rows.sign_in((vendor, tenant, key[1])),)


def _contains(within: frozenset[str], login: str) -> bool:
    return login in within


_STATUS_OF = list(Status)


class _Text:
    """Rows as text, a chunk at a time: each part's text for every row, laid out row by row, and
    joined. A part's text (`cells_text` of its cells) is made when the part is first met, in the
    order of the rows and columns it is first met in (the page numbers its strings so)."""

    def __init__(self, parts: _Parts, cells_text: Callable[[int, Sequence[str]], str]) -> None:
        self.parts = parts
        self.cells_text = cells_text
        self.made: tuple[dict[Key, str], ...] = tuple({} for _ in range(LAST + 1))

    def rows(self, chunk: Chunk) -> str:
        parts = self.parts.keys(chunk)
        texts: list[list[str] | None] = []
        first: list[tuple[int, int, Key]] = []  # (row, part, key) of each part met first here
        for part, (keys, made) in enumerate(zip(parts, self.made, strict=True)):
            try:
                texts.append(list(map(made.__getitem__, keys)))
            except KeyError:
                texts.append(None)
                new = set(keys).difference(made)
                at = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))  # first rows
                first += zip(map(at.__getitem__, new), repeat(part), new)
        first.sort(key=_ROW_AND_PART)
        for _, part, key in first:
            self.made[part][key] = self.cells_text(part, self.parts.cells(part, key))
        text = [""] * (len(parts) * len(chunk.lines))
        for part, (keys, made, done) in enumerate(zip(parts, self.made, texts, strict=True)):
            text[part :: len(parts)] = done if done is not None else list(map(made.__getitem__, keys))
        return "".join(text)


_ROW_AND_PART = itemgetter(0, 1)


_QUOTED = re.compile('[,"\r\n]')  # a cell holding one of these is written by the csv module


def _csv_cells(part: int, cells: Sequence[str]) -> str:
    """Cells as Python's csv module writes them, each followed by a comma (the last part by the
    line's end). Few cells need quoting: those are written by the csv module itself."""
    if any(map(_QUOTED.search, cells)):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(["", *cells])
        text = buffer.getvalue()[1:-1]
    else:
        text = ",".join(cells)
    return text + ("\n" if part == LAST else ",")


def write_csv(rows: Rows, write: Write) -> None:
    """The rows as CSV, a header line and a line per row, each ending in a newline."""
    write(",".join(COLUMNS) + "\n")
    text = _Text(_Parts(rows), _csv_cells)
    for chunk in rows.chunks():
        write(text.rows(chunk))


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
    parts = _Parts(rows)
    unreviewed: dict[Key, bool] = {}
    counts: dict[str, list[int]] = {}
    people: dict[str, set[str]] = {}
    for number, line in enumerate(rows.lines):
        run = rows.run_rows(number)
        principals, statuses = rows.principals[run], rows.statuses[run]
        tails = parts.tails(rows.origins[run], principals)
        for key in set(tails).difference(unreviewed):
            unreviewed[key] = parts.tail_cells(key)[-1] == "no"
        n = len(principals)
        found = counts.setdefault(line.head[0], [0] * 6)
        for i, value in enumerate((
            n, n if line.privileged else 0, n if line.expiring else 0, sum(map(unreviewed.__getitem__, tails)),
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
        self.number: dict[str, int] = {}  # each distinct string, numbered in order of first appearance

    def write_rows(self, write: Write) -> None:
        """The rows, as lists of their strings' numbers, separated by commas."""
        number = self.number

        def cells_text(part: int, cells: Sequence[str]) -> str:
            text = ",".join([str(number.setdefault(cell, len(number))) for cell in cells])
            return (",[" + text + ",") if part == 0 else text + ("]" if part == LAST else ",")

        text = _Text(_Parts(self.rows), cells_text)
        for i, chunk in enumerate(self.rows.chunks()):
            made = text.rows(chunk)
            write(made[1:] if i == 0 else made)  # (the first row follows no other)

    def head(self) -> str:
        """The page up to its rows (after `write_rows`: the strings they number)."""
        data = json.dumps({"columns": list(COLUMNS), "strings": list(self.number)}, separators=(",", ":"))
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
