"""`access evidence`: a signed evidence pack for an audit period; `verify` and `keygen`.

`access evidence --period 2026-Q3 --out DIR` writes the tables of `reconciler/evidence.py` (the
population at the period's end, the changes, leavers, recertifications, counts and parameters),
one HTML summary, `SHA256SUMS` (every file's SHA-256) and `SHA256SUMS.sig` (Ed25519 over it, with
`ACCESS_EVIDENCE_SIGNING_KEY`), and a copy of the public key. The same period and inputs give the
same bytes: rows sorted, times only from the inputs, the pack's time is the period's end.

Sources, all read as the gate reads them: main's first-parent history (the commit in force at the
period's start and end), the audit trail `refs/access/audit` (verified first: a trail that does not
verify makes no evidence), the approval ledger at the end (`ledger_at.answers_at`), and the stored
vendor snapshot nearest the end (`refs/access/snapshots/`, or `--state DIR`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import git
from nacl.signing import SigningKey, VerifyKey

from reconciler import evidence, evidence_key
from reconciler.commands.access_at import Then, ViewAt, build_view_at, then
from reconciler.commands.access_view import ViewOptions
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source
from reconciler.errors import AccessError
from reconciler.history_at import CommitAt, commit_at, commit_date, desired_at
from reconciler.ledger import ItemId, Record
from reconciler.ledger_at import Trail, read_trail
from reconciler.ledger_state import ACCOUNT_ITEM, GRANT
from reconciler.ledger_view import Answers
from reconciler.periods import Period, end_of, iso_time
from reconciler.records import Person
from reconciler.render.evidence import render_summary

TABLES = ("population.csv", "accounts.csv", "changes.csv", "leavers.csv", "recertifications.csv",
          "counts.csv", "parameters.csv")  # fmt: skip
PACK = frozenset(
    (*TABLES, evidence.SUMMARY, evidence.README, evidence.PUBLIC_KEY, evidence.MANIFEST, evidence.SIGNATURE)
)


# ---------------------------------------------------------------- keys


def signing_key(ctx: AppContext, source: Source) -> tuple[SigningKey, VerifyKey, str]:
    """The private key, the public key auditors will check with, and where that public key is."""
    if source.sandbox:
        from reconciler import sandbox

        key = evidence_key.sandbox_key(sandbox.state_dir(ctx.repo))
        return key, key.verify_key, "the sandbox's own key"
    key = evidence_key.key_from_env(ctx.env)
    public, where = public_key(ctx, None, source)
    if bytes(public) != bytes(key.verify_key):
        raise AccessError(
            f"{evidence_key.KEY_ENV} is not the private half of {where} (key {evidence_key.fingerprint(public)[:16]}): "
            "an auditor could not verify the pack; commit the public half of the key in use "
            "(`access evidence keygen` makes a new pair)"
        )
    return key, public, where


def public_key(ctx: AppContext, key_file: Path | None, source: Source) -> tuple[VerifyKey, str]:
    if key_file is None and source.sandbox:
        from reconciler import sandbox

        return evidence_key.sandbox_key(sandbox.state_dir(ctx.repo)).verify_key, "the sandbox's own key"
    path = key_file if key_file is not None else ctx.repo / evidence_key.PUBLIC_KEY_FILE
    shown = str(path) if key_file is not None else str(evidence_key.PUBLIC_KEY_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessError(
            f"{shown}: cannot read the evidence public key ({exc.strerror}); commit the public half of the "
            "signing key there (`access evidence keygen`), or give it with --key FILE"
        ) from None
    return evidence_key.parse_public(text, where=shown), shown


def keygen(ctx: AppContext, public_out: Path | None) -> int:
    key = evidence_key.generate()
    pem = evidence_key.public_pem(key.verify_key)
    if public_out is not None:
        public_out.parent.mkdir(parents=True, exist_ok=True)
        public_out.write_text(pem, encoding="utf-8")
        ctx.output.info(f"public key written to {public_out}")
    ctx.output.raw(
        f"# The private key: store it as the secret {evidence_key.KEY_ENV} (never commit it).\n"
        f"{evidence_key.KEY_ENV}={evidence_key.private_text(key)}\n"
        f"# The public key (SHA-256 {evidence_key.fingerprint(key.verify_key)}): commit it as "
        f"{evidence_key.PUBLIC_KEY_FILE}; auditors verify packs with it.\n{pem}"
    )
    return 0


# ---------------------------------------------------------------- the pack


def run(ctx: AppContext, *, period: Period, out: Path, options: ViewOptions) -> int:
    key, public, where = signing_key(ctx, options.source)  # before anything slow: a missing key fails fast
    if period.end_at > ctx.now:
        ctx.output.warn(
            f"{period.label} has not ended (it ends {period.end.isoformat()}): the pack shows what is known "
            "now, and the same command run after the period's end will give a different pack"
        )
    _check_out(out)
    trail, repo = read_trail(ctx, options.source, strict=True)
    at = end_of(period)
    start = _start(
        ctx, repo, period, commit_at(repo, at.at) if repo is not None else None
    )  # (its people only)
    loaded = then(ctx, at)
    found = build_view_at(ctx, options, at, loaded=loaded, trail=(trail, repo))
    ctx.retain(found.view)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = evidence_key.fingerprint(public)
    digests, tables = _write_tables(out, period, found, loaded, start, fingerprint)
    digests[evidence.PUBLIC_KEY] = _write(out / evidence.PUBLIC_KEY, evidence_key.public_pem(public))
    digests[evidence.README] = _write(out / evidence.README, evidence.verify_text(period.label, fingerprint))
    summary = render_summary(
        title=f"Access evidence {period.label} ({period})", parameters=tables.parameters, counts=tables.counts,
        changes=tables.changes, leavers=tables.leavers, recertifications=tables.recertifications, files=dict(digests),
    )  # fmt: skip
    digests[evidence.SUMMARY] = _write(out / evidence.SUMMARY, summary)
    manifest = evidence.manifest(digests)
    (out / evidence.MANIFEST).write_bytes(manifest)
    (out / evidence.SIGNATURE).write_bytes(evidence_key.sign(key, manifest))
    for note in found.view.notes:
        ctx.output.info(f"note: {note}")
    ctx.output.result(
        f"evidence for {period.label} ({period}) written to {out}: {len(found.view.rows):,} grants, "
        f"{len(tables.accounts):,} accounts, {len(tables.changes):,} changes, {len(tables.leavers):,} leaver rows, "
        f"{len(tables.recertifications):,} recertifications; signed with {where} (key {fingerprint[:16]})"
    )
    return 0


def _write_tables(
    out: Path, period: Period, found: ViewAt, loaded: Then, start: Start, fingerprint: str
) -> tuple[dict[str, str], evidence.Tables]:
    """The CSV files (the population written as it is made); each file's SHA-256, and the tables."""
    view, trail = found.view, found.trail
    answers = view.answers or Answers()
    desired = view.desired.access
    held, approved = answers.held, answers.records

    def record_of(item: ItemId) -> Record | None:
        return held.get(item) or approved.get(item)

    digests: dict[str, str] = {}
    rows = evidence.population(view.rows, record_of, answers.point, answers.dates)
    digests["population.csv"] = write_csv(out / "population.csv", evidence.POPULATION_COLUMNS, rows)
    entries = [
        evidence.TrailEntry(record.id, record.sequence, _iso(record.when), entry)
        for record in trail.records
        for entry in record.entries
    ]
    during = evidence.in_period(entries, period)
    gone = {p for p in start.people if p not in desired.people}
    vendors = tuple(sorted(desired.scope.vendors | set((view.actual or {}).keys())))
    tables = evidence.Tables(population=evidence.population_counts(view.rows))
    tables.accounts = evidence.accounts(desired, view.actual, vendors)
    tables.changes = evidence.changes(during)
    tables.leavers = evidence.leavers(
        start.people, desired.people, during, _removals(loaded, answers, gone),
        {p: start.vendors.get(p, ()) for p in gone},
    )  # fmt: skip
    tables.recertifications = evidence.recertifications(
        _reapprovals(loaded, answers, period), during, desired.people
    )
    fingerprints = {v: s.fingerprint for v, s in (view.actual or {}).items()}
    tables.counts = evidence.counts(tables, vendors, fingerprints)
    tables.parameters = _parameters(period, found, trail, start.commit, during, fingerprint, view.notes)
    for name, columns, table in (
        ("accounts.csv", evidence.ACCOUNT_COLUMNS, tables.accounts),
        ("changes.csv", evidence.CHANGE_COLUMNS, tables.changes),
        ("leavers.csv", evidence.LEAVER_COLUMNS, tables.leavers),
        ("recertifications.csv", evidence.RECERTIFICATION_COLUMNS, tables.recertifications),
        ("counts.csv", evidence.COUNT_COLUMNS, tables.counts),
        ("parameters.csv", ("name", "value"), tables.parameters),
    ):
        digests[name] = write_csv(out / name, columns, table)
    return digests, tables


def write_csv(
    path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]], *, batch: int = 20_000
) -> str:
    """`evidence.csv_text` written to `path` a batch of rows at a time (a million rows never sit in
    memory as one text); returns the file's SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:

        def put(text: str) -> None:
            data = text.encode("utf-8")
            digest.update(data)
            handle.write(data)

        put(evidence.csv_lines([columns]))
        pending: list[Sequence[str]] = []
        for row in rows:
            pending.append(row)
            if len(pending) == batch:
                put(evidence.csv_lines(pending))
                pending = []
        if pending:
            put(evidence.csv_lines(pending))
    return digest.hexdigest()


def _write(path: Path, text: str) -> str:
    data = text.encode("utf-8")
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _check_out(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise AccessError(f"--out {out}: not a directory")
    others = sorted(p.name for p in out.iterdir() if p.name not in PACK)
    if others:
        raise AccessError(
            f"--out {out}: holds files that are not part of an evidence pack ({', '.join(others[:3])}); "
            "choose an empty or new directory"
        )
    for name in PACK:
        (out / name).unlink(missing_ok=True)


def _iso(when: int) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Start:
    """The repository when the period began: who was in people.yaml, and where each had an account."""

    commit: CommitAt | None
    people: Mapping[str, Person]
    vendors: Mapping[str, tuple[str, ...]]  # principal -> vendors


def _start(ctx: AppContext, repo: git.Repo | None, period: Period, end: CommitAt | None) -> Start:
    """Main's commit just before the period and its people (who could leave during it); the rest of
    its desired state is dropped at once. The end's commit itself: nobody left."""
    before = period.start_at - dt.timedelta(seconds=1)
    commit = commit_at(repo, before) if repo is not None else None
    if repo is None or commit is None or (end is not None and end.sha == commit.sha):
        return Start(commit, {}, {})
    access = desired_at(ctx, repo, commit.sha, before.date()).desired.access
    vendors: dict[str, list[str]] = {}
    for vendor in sorted(access.scope.vendors):
        for account in access.accounts_of(vendor):
            vendors.setdefault(account.principal, []).append(vendor)
    return Start(commit, dict(access.people), {p: tuple(v) for p, v in vendors.items()})


def _removals(loaded: Then, answers: Answers, gone: set[str]) -> dict[tuple[str, str], evidence.Removal]:
    """(principal, vendor) -> the landing whose approved edit removed the leaver's account there."""
    found: dict[tuple[str, str], evidence.Removal] = {}
    if not gone:
        return found
    for (kind, key), history in sorted(answers.history.items()):
        principal = key[2] if kind == ACCOUNT_ITEM else key[5] if kind == GRANT else ""
        if principal not in gone:
            continue
        for record in history:
            if not record.edit.startswith("- ") or not record.commit:
                continue
            slot = (principal, key[0])
            if slot in found and (kind == GRANT or found[slot].at <= _date(loaded, record.commit)):
                continue  # an account's removal wins over a grant's; the earliest landing otherwise
            found[slot] = evidence.Removal(
                record.commit, _date(loaded, record.commit), record.pull, record.approvers
            )
    return found


def _reapprovals(loaded: Then, answers: Answers, period: Period) -> list[evidence.Reapproval]:
    out: list[evidence.Reapproval] = []
    for (kind, key), history in sorted(answers.history.items()):
        if kind != GRANT:
            continue
        for record in history:
            if not evidence.is_reapproval(record):
                continue
            at = record.merged_at or _date(loaded, record.commit)
            when = iso_time(at)
            if when is not None and period.contains(when):
                out.append(evidence.Reapproval(key, record, at))
    return out


def _date(loaded: Then, sha: str) -> str:
    try:
        return commit_date(loaded.repo, sha)
    except ValueError:
        return ""


def _parameters(
    period: Period,
    found: ViewAt,
    trail: Trail,
    start: CommitAt | None,
    during: list[evidence.TrailEntry],
    fingerprint: str,
    notes: tuple[str, ...],
) -> list[tuple[str, str]]:
    from reconciler.version import package_version

    stamp = int(period.end_at.timestamp())
    in_period = sorted({e.record for e in during})
    last = [r for r in trail.records if r.when <= stamp]
    rows: list[tuple[str, str]] = [
        ("period", period.label),
        ("start", period.start_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("end", period.end_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("generated_at", period.end_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("access_version", package_version()),
        ("repository", trail.repository),
        ("main_at_start", start.sha if start is not None else ""),
        ("main_at_start_date", start.date if start is not None else ""),
        ("main_at_end", found.commit.sha),
        ("main_at_end_date", found.commit.date),
        ("apply_point", trail.point.sha if trail.point is not None else ""),
        ("audit_trail_head", trail.head or ""),
        ("audit_records", str(len(trail.records))),
        ("audit_records_in_period", str(len(in_period))),
        ("audit_last_record_by_end", last[-1].id if last else ""),
        ("snapshot", found.snapshot.label if found.snapshot is not None else ""),
        ("snapshot_day", found.snapshot.day if found.snapshot is not None else ""),
        ("snapshot_commit", found.snapshot.commit if found.snapshot is not None else ""),
        (
            "leavers_from",
            "people in access/people.yaml at main_at_start and not at main_at_end (no HR feed is read)",
        ),
        ("signing_key_sha256", fingerprint),
    ]
    rows += [("note", note) for note in notes]
    return rows


# ---------------------------------------------------------------- verify


def verify(ctx: AppContext, directory: Path, *, key_file: Path | None, source: Source) -> int:
    """One line: ✓ every file matches the signed manifest, or ✗ the first file or signature that
    does not."""

    def fail(line: str) -> int:
        ctx.output.raw(f"✗ {line}\n")
        return 1

    manifest_path, signature_path = directory / evidence.MANIFEST, directory / evidence.SIGNATURE
    if not manifest_path.is_file():
        return fail(f"{manifest_path}: missing: not an evidence pack, or its manifest was removed")
    text = manifest_path.read_bytes()
    listed = evidence.read_manifest(text)
    if listed is None:
        return fail(f"{manifest_path}: not a manifest of `<sha256>  <file>` lines: it was edited")
    if not signature_path.is_file():
        return fail(f"{signature_path}: missing: the pack is not signed, or its signature was removed")
    public, where = public_key(ctx, key_file, source)
    fingerprint = evidence_key.fingerprint(public)
    if not evidence_key.verifies(public, text, signature_path.read_bytes()):
        return fail(
            f"{signature_path}: the signature does not verify with {where} (key {fingerprint[:16]}): "
            f"{evidence.MANIFEST} was changed after signing, or it was signed with another key"
        )
    for name, digest in sorted(listed.items()):
        path = directory / name
        if not path.is_file():
            return fail(f"{path}: missing (listed in {evidence.MANIFEST})")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return fail(
                f"{path}: its SHA-256 is not the one signed in {evidence.MANIFEST}: the file was changed"
            )
    extra = sorted(
        p.name
        for p in directory.iterdir()
        if p.name not in listed and p.name not in (evidence.MANIFEST, evidence.SIGNATURE)
    )
    if extra:
        return fail(f"{directory / extra[0]}: not listed in {evidence.MANIFEST}: added after signing")
    ctx.output.raw(
        f"✓ {directory}: {len(listed)} files match {evidence.MANIFEST}, signed by {where} (key {fingerprint[:16]})\n"
    )
    return 0
