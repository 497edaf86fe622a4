"""`access report` as CSV, and as one self-contained HTML page (pure: rows in, text out).

The HTML page carries no external asset: inline CSS and script, the rows as JSON in the page with
each distinct string stored once (a column of a million grants repeats a few thousand names), a
per-vendor summary, counts of privileged, expiring and unreviewed access, and a table that sorts
by any column, filters by text and by those counts, and pages through the rows. A view can be
linked: `report.html#q=judy&vendor=procore&unrev=1&sort=resource&dir=desc`.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from operator import add, getitem, itemgetter

from reconciler.access_rows import Row, Status
from reconciler.origin import Origin
from reconciler.render.escape import html_text, script_json

COLUMNS: tuple[str, ...] = (
    "vendor", "tenant", "person", "name", "principal", "resource_type", "resource", "entitlement",
    "status", "source", "via", "reason", "expires", "privileged", "expiring", "commit", "committed_at",
    "pull_request", "requested_by", "merged_at", "approved_by", "approved_at", "reviewed", "applied_at",
    "last_certified", "last_sign_in",
)  # fmt: skip


# The cells a row takes as they are, in COLUMNS order: vendor .. privileged (status is a StrEnum: a
# str, written as its value).
_HEAD = itemgetter(0, 1, 6, 7, 5, 2, 3, 4, 9, 10, 11, 13, 14, 15)


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


def table(rows: Sequence[Row]) -> Iterator[tuple[str, ...]]:
    """Each row's cells, in COLUMNS order, made in C: the cells that come from who wrote the line are
    worked out once per origin (a million rows share a few hundred commits); only a person who
    approved their own pull request gets cells of their own (their approval never counts)."""
    origins = list(map(itemgetter(17), rows))
    distinct = dict(zip(map(id, origins), origins, strict=True))
    shared = {key: _tails(origin, "") for key, origin in distinct.items()}
    tails = list(map(shared.__getitem__, map(id, origins)))
    approvers = {
        key: frozenset(login.casefold() for login, _ in origin.pull.approvals)
        for key, origin in distinct.items()
        if origin is not None and origin.pull is not None and origin.pull.approvals
    }
    if approvers:
        for i in compress(range(len(rows)), map(approvers.__contains__, map(id, origins))):
            github = rows[i].github
            if github and github.casefold() in approvers[id(origins[i])]:
                tails[i] = _tails(origins[i], github)
    expiring = map(getitem, tails, map(itemgetter(16), rows))
    return map(add, map(add, map(_HEAD, rows), expiring), map(itemgetter(18, 19, 20), rows))


def _tails(origin: Origin | None, beneficiary: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """expiring .. reviewed, for a grant not expiring soon and for one that is."""
    cells = _origin_cells(origin, beneficiary)
    return ("", *cells), ("yes", *cells)


def render_csv(rows: Sequence[Row]) -> str:
    """CSV as Python's csv module writes it, lines ending in a newline. Its writer quotes a field
    that holds a comma, a quote or a line break; few ever do, so the lines are joined as they are,
    and the csv module writes them whenever the text shows one (or a carriage return) anywhere."""
    header = ",".join(COLUMNS) + "\n"
    body = "\n".join(map(",".join, table(rows)))  # each row's cells made and dropped in turn
    if (
        '"' in body
        or "\r" in body
        or body.count(",") != (len(COLUMNS) - 1) * len(rows)
        or body.count("\n") != max(len(rows) - 1, 0)
    ):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(table(rows))
        return header + buffer.getvalue()
    return "".join((header, body, "\n")) if rows else header  # one copy of the text, not two


def _data(cells_of: Sequence[tuple[str, ...]]) -> str:
    """The page's rows as JSON: each distinct string once (numbered in order of first appearance),
    each row a list of those numbers: `{"columns":[..],"strings":[..],"rows":[[..],..]}`."""
    number: defaultdict[str, str] = defaultdict()
    number.default_factory = lambda: str(len(number))  # a new string gets the next number
    numbers = map(number.__getitem__, chain.from_iterable(cells_of))
    rows = "],[".join(map(",".join, zip(*[numbers] * len(COLUMNS), strict=True)))
    head = json.dumps({"columns": list(COLUMNS), "strings": list(number)}, separators=(",", ":"))
    listed = ("[", rows, "]") if cells_of else ()
    return "".join((script_json(head[:-1]), ',"rows":[', *listed, "]}"))


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


def summarize(cells_of: Sequence[tuple[str, ...]]) -> list[Summary]:
    """Per vendor: grants, people, privileged, expiring, unreviewed, not in the YAML, pending.

    Counted a vendor's run of rows at a time (rows come sorted by vendor; sorting them again by
    vendor keeps that order and costs one pass)."""
    rows = sorted(cells_of, key=itemgetter(0))

    def column(name: str) -> list[str]:
        return list(map(itemgetter(COLUMNS.index(name)), rows))

    principal, privileged, expiring = column("principal"), column("privileged"), column("expiring")
    reviewed, status = column("reviewed"), column("status")
    found = []
    start = 0
    for vendor, n in sorted(Counter(map(itemgetter(0), rows)).items()):
        run = slice(start, start + n)
        start += n
        found.append(
            Summary(
                vendor, n, len(set(principal[run])), n - privileged[run].count(""), expiring[run].count("yes"),
                reviewed[run].count("no"), status[run].count(Status.NOT_IN_YAML), status[run].count(Status.PENDING),
            )
        )  # fmt: skip
    return found


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


def render_html(
    rows: Sequence[Row],
    *,
    title: str,
    generated: str,
    notes: Sequence[str] = (),
    unused: tuple[int, int] | None = None,
    sections: str = "",
) -> str:
    """The page; `unused`: (days, accounts not signed in for that long), a card; `sections`: more
    HTML after the access table (the deprovisioning SLA view), made by its own renderer."""
    cells_of = list(table(rows))
    summary_html, totals = _summary_table(summarize(cells_of))
    grants, privileged, expiring, unreviewed, drift, pending = totals
    data = _data(cells_of)
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
    return (
        _PAGE.replace("__TITLE__", html_text(title))
        .replace("__GENERATED__", html_text(generated))
        .replace("__NOTES__", note_html)
        .replace("__CARDS__", cards)
        .replace("__SUMMARY__", summary_html)
        .replace("__DATA__", data)
        .replace("__SECTIONS__", sections)
    )


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
__SECTIONS__
<script type="application/json" id="data">__DATA__</script>
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
