"""The evidence pack's tables (pure: records in, CSV text out).

One CSV per question an auditor asks about a period, each with a header row, sorted rows, and fixed
formatting (times as ISO 8601 UTC from the inputs, never the clock), so the same inputs give the
same bytes:

| file | rows |
|---|---|
| `population.csv` | every grant at the period's end: the YAML then and the vendor snapshot nearest the end, with the approval ledger's record |
| `accounts.csv` | every account at the period's end: at the vendor, in the YAML, or both |
| `changes.csv` | every change apply made or held back in the period (the audit trail's entries) |
| `leavers.csv` | people removed from access/people.yaml during the period, and when each vendor deprovisioned them |
| `recertifications.csv` | grants re-approved (a merged `certified:` day) and grants that lapsed in the period |
| `counts.csv` | per vendor: the rows of each table and the snapshot's fingerprint |
| `parameters.csv` | what the pack was made from: period, commits, apply point, audit trail, snapshot, key |

A cell that a spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a
carriage return) is written with a leading `'`: names and reasons come from pull requests and
vendors, and must reach an auditor's spreadsheet as text.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from reconciler.access_rows import Row, Rows, Status
from reconciler.connectors.base import VendorState
from reconciler.ledger import ItemId, Record, Verdict
from reconciler.ledger_state import GRANT
from reconciler.periods import Period, iso_time
from reconciler.records import AccessSet, Person

MANIFEST = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
PUBLIC_KEY = "evidence.pub"
SUMMARY = "summary.html"
README = "VERIFY.txt"

POPULATION_COLUMNS = (
    "vendor", "tenant", "person", "name", "principal", "resource_type", "resource", "entitlement",
    "status", "source", "via", "reason", "expires", "last_certified", "privileged", "approval",
    "landed_in", "landed_at", "pull_request", "pull_request_url", "requested_by", "merged_at",
    "approved_by", "approved_at", "note", "applied_at",
)  # fmt: skip
ACCOUNT_COLUMNS = (
    "vendor", "tenant", "principal", "person", "name", "status", "active", "email", "display_name", "native_id",
)  # fmt: skip
CHANGE_COLUMNS = (
    "time", "record", "run", "kind", "vendor", "action", "tenant", "resource_type", "resource", "entitlement",
    "principal", "person", "before", "basis", "rule", "why", "landed_in", "pull_request", "pull_request_url",
    "requested_by", "approved_by", "approved_at", "outcome", "message", "vendor_ref", "source",
)  # fmt: skip
LEAVER_COLUMNS = (
    "person", "email", "name", "vendor", "removed_in", "removed_at", "pull_request", "approved_by",
    "deprovisioned_at", "hours_to_deprovision", "actions", "outcome", "vendor_ref", "note",
)  # fmt: skip
RECERTIFICATION_COLUMNS = (
    "result", "at", "vendor", "tenant", "resource_type", "resource", "entitlement", "principal", "person",
    "certified", "landed_in", "pull_request", "pull_request_url", "requested_by", "approved_by",
    "approved_at", "rule", "why", "outcome", "vendor_ref",
)  # fmt: skip
COUNT_COLUMNS = (
    "vendor", "population", "in_force", "pending", "not_in_yaml", "indirect", "accounts", "changes",
    "held", "leavers", "recertified", "lapsed", "snapshot_fingerprint",
)  # fmt: skip

_FORMULA = re.compile(r'[,\n]"?[=+\-@\t\r]')  # a cell's first character, quoted or not
_RISKY = ("=", "+", "-", "@", "\t", "\r")
_CERTIFIED = re.compile(r"certified (\S+) → (\S+)")


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A header and the rows, as Python's csv module writes them (lines end in a newline); a cell a
    spreadsheet would take for a formula gets a leading `'`."""
    return csv_lines([columns]) + csv_lines(list(rows))


def csv_lines(rows: Sequence[Sequence[str]]) -> str:
    """The rows as the csv module writes them. Few cells ever hold a comma, a quote or a line break,
    so the lines are joined as they are, and the csv module writes them whenever the text shows one
    (as `render.report.render_csv` does); a cell that starts like a formula is made inert."""
    if not rows:
        return ""
    text = "\n".join(map(",".join, rows)) + "\n"
    plain = not (
        '"' in text
        or "\r" in text
        or text.count(",") != (len(rows[0]) - 1) * len(rows)
        or text.count("\n") != len(rows)
    )
    risky = _FORMULA.search("\n" + text) is not None
    if plain and not risky:
        return text
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([[_inert(cell) for cell in row] for row in rows] if risky else rows)
    return buffer.getvalue()


def _inert(cell: str) -> str:
    return "'" + cell if cell.startswith(_RISKY) else cell


# ---------------------------------------------------------------- population


_SIX = itemgetter(0, 1, 2, 3, 4, 5)  # a row's grant, as the ledger keys it
# vendor, tenant, person, name, principal, resource type, resource, entitlement, status, source, via,
# reason, expires, certified, privileged: the cells a population row takes from its Row as they are.
_HEAD = itemgetter(0, 1, 6, 7, 5, 2, 3, 4, 9, 10, 11, 13, 14, 19, 15)
_NOT_IN_YAML = (Status.NOT_IN_YAML, Status.INDIRECT)


def population(
    rows: Iterable[Row], record_of: Callable[[ItemId], Record | None], point: str, dates: Mapping[str, str]
) -> Iterator[tuple[str, ...]]:
    """Each grant at the period's end with the ledger's record for it (made as they are written)."""
    described: dict[tuple[int, Status], tuple[str, ...]] = {}  # a record's cells, made once
    for row in rows:
        status = row.status
        record = None if status in _NOT_IN_YAML else record_of((GRANT, _SIX(row)))
        key = (id(record), status)
        tail = described.get(key) if not row.github else None
        if tail is None:
            tail = _approval(row, record, point, dates)
            if not row.github:  # (someone with a GitHub login never counts for their own access)
                described[key] = tail
        yield (*_HEAD(row), *tail, row.applied_at)


def _approval(row: Row, record: Record | None, point: str, dates: Mapping[str, str]) -> tuple[str, ...]:
    """approval .. note: what the ledger says of the grant (never the receiver's own approval)."""
    if row.status in (Status.NOT_IN_YAML, Status.INDIRECT):
        why = (
            "held through nesting or a rule at the vendor"
            if row.status is Status.INDIRECT
            else "at the vendor, not in the YAML: drift on a managed resource, or access not managed here"
        )
        return ("none", "", "", "", "", "", "", "", "", why)
    if record is None:
        if not point:
            return ("unknown", "", "", "", "", "", "", "", "", "the approval ledger was not read")
        return (
            "before the ledger", "", "", "", "", "", "", "", "",
            f"in force at the apply point {point[:12]}, before the audit trail's records",
        )  # fmt: skip
    folded = row.github.casefold()
    approvals = [
        (a, t)
        for a, t in zip(record.approvers, record.approved_at, strict=False)
        if a.casefold() != folded or not folded
    ]
    note = record.message if record.verdict is not Verdict.APPROVED else ""
    if record.verdict is Verdict.HELD:
        note = f"held (rule {record.rule}): {record.message}"
    return (
        str(record.verdict), record.commit, dates.get(record.commit, ""),
        str(record.pull) if record.pull is not None else "", record.url, record.author or "", record.merged_at,
        " ".join(a for a, _ in approvals), " ".join(t for _, t in approvals), note,
    )  # fmt: skip


# ---------------------------------------------------------------- accounts


def accounts(
    desired: AccessSet, actual: Mapping[str, VendorState] | None, vendors: Sequence[str]
) -> list[tuple[str, ...]]:
    """Every account at the vendor (matched to a person as the planner matches them: by their login
    override, else by email) and every account the YAML wants that the vendor lacks."""
    people = desired.people
    out: list[tuple[str, ...]] = []
    for vendor in vendors:
        wanted = {(key.tenant, key.principal) for key in desired.accounts_of(vendor)}
        by_login = {
            login.casefold(): p.principal
            for p in people.values()
            for v, login in p.logins
            if v == vendor and login
        }
        seen: set[tuple[str, str]] = set()
        state = actual.get(vendor) if actual is not None else None
        for account in state.accounts if state is not None else ():
            login = (
                dict(account.attributes).get("login", "").casefold()
                if by_login and account.attributes
                else ""
            )
            principal = by_login.get(login, account.principal) if login else account.principal
            person = people.get(principal)
            managed = (account.tenant, principal) in wanted
            seen.add((account.tenant, principal))
            status = "managed" if managed else "not in the YAML"
            row = (
                vendor, account.tenant, account.principal, person.key if person else "",
                person.name if person else "", status, "yes" if account.active else "no", account.email,
                account.display_name, account.native_id,
            )  # fmt: skip
            out.append(row)
        for key, account in desired.accounts_of(vendor).items():
            if (key.tenant, key.principal) in seen:
                continue
            person = people.get(key.principal)
            status = "in the YAML only" if state is not None else "in the YAML (vendor not read)"
            row = (
                vendor, key.tenant, key.principal, person.key if person else "",
                person.name if person else "", status, "yes" if account.active else "no", account.email,
                account.display_name, "",
            )  # fmt: skip
            out.append(row)
    out.sort()
    return out


# ---------------------------------------------------------------- changes


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """An audit trail entry with the record it came from."""

    record: str  # the record's commit id
    sequence: int
    when: str  # the record's time, ISO 8601 UTC
    entry: Mapping[str, Any]

    @property
    def time(self) -> str:
        """The entry's own time (an outcome's), else its record's."""
        found = self.entry.get("time")
        return _utc(found) if isinstance(found, str) and found else self.when


def _utc(text: str) -> str:
    when = iso_time(text)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else text


def in_period(entries: Iterable[TrailEntry], period: Period) -> list[TrailEntry]:
    out = []
    for found in entries:
        when = iso_time(found.time)
        if when is not None and period.contains(when):
            out.append(found)
    return out


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={_text(v)}" for k, v in sorted(value.items()))
    return str(value)


def changes(entries: Sequence[TrailEntry]) -> list[tuple[str, ...]]:
    """Every outcome in the period, and every change held back (once, when first held)."""
    out: list[tuple[str, ...]] = []
    held_seen: set[tuple[str, ...]] = set()
    for found in entries:
        e = found.entry
        kind = e.get("kind")
        if kind == "held":
            identity = tuple(_text(e.get(n)) for n in ("vendor", "action", "tenant", "resource_type", "resource",
                                                     "entitlement", "principal", "rule", "commit"))  # fmt: skip
            if identity in held_seen:
                continue
            held_seen.add(identity)
            row = (
                found.time, found.record, "", "held", _text(e.get("vendor")), _text(e.get("action")),
                _text(e.get("tenant")), _text(e.get("resource_type")), _text(e.get("resource")),
                _text(e.get("entitlement")), _text(e.get("principal")), _text(e.get("person")), "", "held",
                _text(e.get("rule")), _text(e.get("message")), _text(e.get("commit")), _text(e.get("pull")),
                _text(e.get("url")), _text(e.get("author")), "", "", "held", "", "", "",
            )  # fmt: skip
            out.append(row)
        elif kind == "outcome":
            given = e.get("approvals")
            at = (
                " ".join(_text(a.get("at")) for a in given if isinstance(a, dict))
                if isinstance(given, list)
                else ""
            )
            row = (
                found.time, found.record, _text(e.get("run")), "outcome", _text(e.get("vendor")),
                _text(e.get("action")), _text(e.get("tenant")), _text(e.get("resource_type")),
                _text(e.get("resource")), _text(e.get("entitlement")), _text(e.get("principal")),
                _text(e.get("person")), _text(e.get("before")), _text(e.get("basis")), _text(e.get("rule")),
                _text(e.get("why")), _text(e.get("landed_in")), _text(e.get("pull_request")),
                _text(e.get("pull_request_url")), _text(e.get("requested_by")), _text(e.get("approved_by")),
                at, _text(e.get("outcome")), _text(e.get("message")), _text(e.get("vendor_ref")),
                _text(e.get("source")),
            )  # fmt: skip
            out.append(row)
    return out


# ---------------------------------------------------------------- leavers


_DEPROVISION = ("revoke", "deactivate_account")
_DONE = ("applied", "already")


@dataclass(frozen=True, slots=True)
class Removal:
    """Where the ledger saw a leaver's account (or grants) leave the YAML."""

    commit: str
    at: str  # commit date on main
    pull: int | None
    approvers: tuple[str, ...]


def leavers(
    start: Mapping[str, Person],
    end: Mapping[str, Person],
    entries: Sequence[TrailEntry],
    removals: Mapping[tuple[str, str], Removal],
    vendors_of: Mapping[str, Sequence[str]],
) -> list[tuple[str, ...]]:
    """People in people.yaml when the period began and not when it ended, per vendor they had an
    account or access at: the commit that removed them and when apply deprovisioned them.
    `removals`: (principal, vendor) -> the landing that removed their account; `vendors_of`:
    principal -> the vendors where they held something when the period began."""
    gone = sorted((p for principal, p in start.items() if principal not in end), key=lambda p: p.key)
    done: dict[tuple[str, str], list[TrailEntry]] = defaultdict(list)
    for found in entries:
        e = found.entry
        if e.get("kind") == "outcome" and e.get("action") in _DEPROVISION and e.get("outcome") in _DONE:
            done[(str(e.get("principal") or ""), str(e.get("vendor") or ""))].append(found)
    seen_at: dict[str, set[str]] = defaultdict(set)  # principal -> the vendors that deprovisioned them
    for principal, vendor in done:
        seen_at[principal].add(vendor)
    out: list[tuple[str, ...]] = []
    for person in gone:
        principal = person.principal
        vendors = sorted(set(vendors_of.get(principal, ())) | seen_at.get(principal, set()))
        for vendor in vendors or [""]:
            removal = removals.get((principal, vendor))
            seen = sorted(done.get((principal, vendor), []), key=lambda f: f.time)
            last = seen[-1] if seen else None
            deactivation = next(
                (f for f in reversed(seen) if f.entry.get("action") == "deactivate_account"), last
            )
            actions = Counter(str(f.entry.get("action")) for f in seen)
            hours = ""
            if removal is not None and last is not None:
                started, ended = iso_time(removal.at), iso_time(last.time)
                if started is not None and ended is not None:
                    hours = f"{(ended - started).total_seconds() / 3600:.1f}"
            note = "" if seen else "no deprovisioning recorded in the audit trail during the period"
            row = (
                person.key, person.email, person.name, vendor, removal.commit if removal else "",
                removal.at if removal else "", str(removal.pull) if removal and removal.pull else "",
                " ".join(removal.approvers) if removal else "", last.time if last else "", hours,
                ", ".join(f"{n} {a}" for a, n in sorted(actions.items())),
                _text(deactivation.entry.get("outcome")) if deactivation else "",
                _text(deactivation.entry.get("vendor_ref")) if deactivation else "", note,
            )  # fmt: skip
            out.append(row)
    return out


# ---------------------------------------------------------------- recertifications


@dataclass(frozen=True, slots=True)
class Reapproval:
    grant: tuple[str, ...]  # vendor, tenant, resource type, resource, entitlement, principal
    record: Record
    at: str  # when it landed on main


def recertifications(
    reapprovals: Sequence[Reapproval], entries: Sequence[TrailEntry], people: Mapping[str, Person]
) -> list[tuple[str, ...]]:
    """Re-approved grants (an approved `certified:` day landed in the period) and lapsed ones (an
    apply revoked them by policy in the period)."""
    out: list[tuple[str, ...]] = []
    for found in reapprovals:
        record = found.record
        moved = _CERTIFIED.search(record.edit)
        vendor, tenant, rtype, resource, entitlement, principal = found.grant
        person = people.get(principal)
        row = (
            "re-approved", found.at, vendor, tenant, rtype, resource, entitlement, principal,
            person.key if person else "", moved[2] if moved else "", record.commit,
            str(record.pull) if record.pull is not None else "", record.url, record.author or "",
            " ".join(record.approvers), " ".join(record.approved_at), "", "", "", "",
        )  # fmt: skip
        out.append(row)
    for lapse in entries:
        e = lapse.entry
        if e.get("kind") != "outcome" or e.get("basis") != "lapsed":
            continue
        row = (
            "lapsed", lapse.time, _text(e.get("vendor")), _text(e.get("tenant")),
            _text(e.get("resource_type")), _text(e.get("resource")), _text(e.get("entitlement")),
            _text(e.get("principal")), _text(e.get("person")), "", _text(e.get("landed_in")), "", "", "", "",
            "", _text(e.get("rule")), _text(e.get("why")), _text(e.get("outcome")),
            _text(e.get("vendor_ref")),
        )  # fmt: skip
        out.append(row)
    out.sort(key=lambda r: (r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[0]))
    return out


def is_reapproval(record: Record) -> bool:
    return record.verdict is Verdict.APPROVED and _CERTIFIED.search(record.edit) is not None


# ---------------------------------------------------------------- counts, parameters, manifest


@dataclass
class Tables:
    """The pack's tables but the population (written as it is made), and the population's counts."""

    population: Counter[tuple[str, str]] = field(default_factory=Counter)  # (vendor, status) -> rows
    accounts: list[tuple[str, ...]] = field(default_factory=list)
    changes: list[tuple[str, ...]] = field(default_factory=list)
    leavers: list[tuple[str, ...]] = field(default_factory=list)
    recertifications: list[tuple[str, ...]] = field(default_factory=list)
    counts: list[tuple[str, ...]] = field(default_factory=list)
    parameters: list[tuple[str, str]] = field(default_factory=list)


def population_counts(rows: Rows) -> Counter[tuple[str, str]]:
    """(vendor, status) -> rows, from the columns: a line's run at a time."""
    found: Counter[tuple[str, str]] = Counter()
    for run, line in enumerate(rows.lines):
        vendor = line.head[0]
        for status, n in Counter(rows.statuses[rows.run_rows(run)]).items():
            found[vendor, str(status)] += n
    return found


def counts(tables: Tables, vendors: Sequence[str], fingerprints: Mapping[str, str]) -> list[tuple[str, ...]]:
    per: dict[str, Counter[str]] = {v: Counter() for v in vendors}
    for (vendor, status), n in tables.population.items():
        found = per.setdefault(vendor, Counter())
        found["population"] += n
        found[status] += n
    for vendor, n in Counter(map(itemgetter(0), tables.accounts)).items():
        per.setdefault(vendor, Counter())["accounts"] += n
    for row in tables.changes:
        found = per.setdefault(row[4], Counter())
        found["held" if row[3] == "held" else "changes"] += 1
    for row in tables.leavers:
        if row[3]:
            per.setdefault(row[3], Counter())["leavers"] += 1
    for row in tables.recertifications:
        per.setdefault(row[2], Counter())["recertified" if row[0] == "re-approved" else "lapsed"] += 1
    out: list[tuple[str, ...]] = []
    for vendor in sorted(per):
        c = per[vendor]
        row = (
            vendor, str(c["population"]), str(c[str(Status.IN_FORCE)] + c[str(Status.DESIRED)]),
            str(c[str(Status.PENDING)]), str(c[str(Status.NOT_IN_YAML)]), str(c[str(Status.INDIRECT)]),
            str(c["accounts"]), str(c["changes"]), str(c["held"]), str(c["leavers"]), str(c["recertified"]),
            str(c["lapsed"]), fingerprints.get(vendor, ""),
        )  # fmt: skip
        out.append(row)
    return out


def manifest(digests: Mapping[str, str]) -> bytes:
    """`sha256sum`'s format (name -> SHA-256), names sorted: `sha256sum -c --strict SHA256SUMS` checks it."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items())).encode()


def read_manifest(text: bytes) -> dict[str, str] | None:
    """name -> sha256 of a manifest; None when a line is not `<64 hex>  <name>`."""
    found: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        match = re.fullmatch(r"([0-9a-f]{64})  ([^/\\\0]+)", line)
        if match is None or match[2] in found or match[2] in (MANIFEST, SIGNATURE):
            return None
        found[match[2]] = match[1]
    return found


def verify_text(period: str, fingerprint: str) -> str:
    return f"""Evidence pack for {period}, made by `access evidence`.

Every file is listed in SHA256SUMS with its SHA-256; SHA256SUMS.sig is an Ed25519 signature over
SHA256SUMS's exact bytes. The public key's SHA-256 (of its 32 raw bytes) is
{fingerprint}.
Compare evidence.pub with the key committed in the repository (`git show main:policies/evidence.pub`)
or given to you out of band: a copy in the pack proves nothing by itself.

Check it with standard tools:

    sha256sum -c --strict SHA256SUMS
    openssl pkeyutl -verify -pubin -inkey evidence.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig

or with access: `access evidence verify DIR` (the repository's policies/evidence.pub, or --key FILE).
"""
