"""`access apply`: re-sync, refuse a stale plan, check the safety limits and the approval gate,
then apply what may be applied, journaled and audited, one apply at a time.

Order of events (nothing is written to a vendor before the last check):
1. take the apply lock (a second apply is refused with who holds it);
2. sync, re-plan, compare with a saved plan (stale → refused);
3. safety limits: mass revocation, suspiciously empty vendors (each names its override flag);
4. the approval gate (see `reconciler/gate.py`): changes not approved are held back;
5. resume: changes an interrupted apply finished (journal) are not repeated;
6. execute, with every outcome written to the journal and the audit log as it arrives;
7. move the apply point when nothing was held. Exit 1 if anything was held back or failed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from rich.markup import escape

from reconciler import audit_trail, gate
from reconciler.audit import AUDIT_FILE, AuditLog, change_fields, entry
from reconciler.changes import Change, Plan, change_identity
from reconciler.commands.context import AppContext
from reconciler.commands.plan import plan_from
from reconciler.commands.state import (
    Desired,
    Source,
    load_desired,
    open_connectors,
    state_dir,
    sync_all,
)
from reconciler.connectors.base import ChangeResult, Connector, Outcome, VendorState
from reconciler.durable import GroupSync
from reconciler.errors import AccessError, RefusedError, StalePlanError
from reconciler.executor import execute
from reconciler.gate import Decision
from reconciler.journal import Journal, interrupted_run
from reconciler.leaving import departures
from reconciler.ledger import Record, Verdict
from reconciler.loader import FileCache
from reconciler.lock import apply_lock
from reconciler.normalize import PeopleMemo
from reconciler.policy_loader import load_policies
from reconciler.render.words import SIGNS, target, who
from reconciler.rules.limits import check_limits, suspicious_empty
from reconciler.vendors import vendor_label

COUNTS_FILE = "sync-counts.json"
# Test hook: after this many outcomes are journaled, stop dead (the event loop blocks) so that a
# test can kill -9 the process between changes. Never set outside tests.
HANG_AFTER_ENV = "ACCESS_TEST_HANG_AFTER"

_OUTCOME_STYLE = {
    Outcome.APPLIED: "green",
    Outcome.ALREADY: "dim",
    Outcome.FAILED: "bold red",
    Outcome.SKIPPED: "yellow",
}


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    allow_mass_revocation: bool = False
    allow_empty_vendor: bool = False
    audit_log: Path | None = None
    fmt: str = "text"  # "json": the results as one JSON document on stdout, the lines on stderr
    dry_run: bool = False  # print the ledger's verdict for every change; write nothing


def check_fresh(saved: Plan, live: Plan) -> None:
    """Refuse a plan made against a different YAML or a vendor state that has moved since."""
    if saved.desired_digest and saved.desired_digest != live.desired_digest:
        raise StalePlanError(
            "the plan is stale: the YAML in access/ changed since it was made; run `access plan` again"
        )
    moved = [v for v in saved.vendors if saved.fingerprints.get(v) != live.fingerprints.get(v)]
    if moved:
        names = ", ".join(vendor_label(v) for v in moved)
        raise StalePlanError(
            f"the plan is stale: the actual state at {names} changed since it was made;"
            " run `access plan` again"
        )


def with_live_accounts(saved: Plan, live: Plan) -> Plan:
    """The saved plan acting on the accounts the fresh sync matched: `account_id` is outside the
    plan file's changes_hash, so an id in a plan file is never trusted."""
    ids = {change_identity(c): c.account_id for c in live.changes}
    changes = tuple(replace(c, account_id=ids.get(change_identity(c), "")) for c in saved.changes)
    return replace(saved, changes=changes)


def run(
    ctx: AppContext, *, plan_file: Path | None, source: Source, options: ApplyOptions | None = None
) -> int:
    saved = _read_plan(plan_file) if plan_file is not None else None
    directory = state_dir(ctx, source)
    if options is not None and options.fmt == "json":
        ctx = replace(ctx, output=replace(ctx.output, out=ctx.output.err))
    with apply_lock(directory):
        return asyncio.run(_apply(ctx, saved, source, options or ApplyOptions(), directory))


def _read_plan(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessError(f"{path}: cannot read the plan file ({exc.strerror})") from None
    return Plan.loads(text)


# ---------------------------------------------------------------- safety limits


def _previous_counts(directory: Path, desired: Desired) -> dict[str, int]:
    """Accounts seen by the last apply's sync, or expected by the YAML, whichever is larger."""
    expected = Counter(key.vendor for key in desired.access.accounts)
    try:
        recorded = json.loads((directory / COUNTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = {}
    vendors = set(expected) | {k for k, v in recorded.items() if isinstance(v, int)}
    return {v: max(expected.get(v, 0), int(recorded.get(v, 0) or 0)) for v in vendors}


def _record_counts(directory: Path, actual: Mapping[str, VendorState]) -> None:
    counts = {v: len(s.accounts) for v, s in actual.items() if s.accounts}
    if not counts:
        return
    path = directory / COUNTS_FILE
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    path.write_text(json.dumps({**previous, **counts}, sort_keys=True) + "\n", encoding="utf-8")


def _check_safety(
    ctx: AppContext,
    plan: Plan,
    desired: Desired,
    actual: Mapping[str, VendorState],
    options: ApplyOptions,
    directory: Path,
) -> None:
    limits = load_policies(ctx.repo).limits
    refusals: list[str] = []
    if not options.allow_empty_vendor:
        current = {v: len(s.accounts) for v, s in actual.items()}
        refusals += suspicious_empty(_previous_counts(directory, desired), current, limits)
    if not options.allow_mass_revocation:
        refusals += check_limits(plan, {v: len(s.grants) for v, s in actual.items()}, limits)
    if refusals:
        raise RefusedError(
            "refusing to apply (nothing was changed):\n" + "\n".join(f"  {r}" for r in refusals)
        )


# ---------------------------------------------------------------- output


def _line(change: Change) -> str:
    return (
        f"{SIGNS[change.action]} {escape(vendor_label(change.vendor))} {escape(who(change))}: "
        f"{escape(target(change))}"
    )


def _report_gate(ctx: AppContext, report: gate.GateReport, *, verbose: bool = False) -> None:
    pulls = ", ".join(f"#{n}" for n in report.pulls) or "none"
    ctx.output.info(
        f"approval gate: {len(report.landings)} landing(s) changing the desired state since "
        f"{report.since[:12]} ({gate.APPLIED_REF}); merged pull requests: {pulls}"
    )
    if report.note:
        ctx.output.info(f"approval gate: {escape(report.note)}")
    shown = {d.record for d in report.held}
    for decision in report.decisions if verbose else report.held:
        if decision.allowed:
            ctx.output.result(
                f"[green]{'would':>7}[/green] {_line(decision.change)}{_approval_note(decision)}"
            )
            continue
        _held_lines(ctx, _line(decision.change), decision.record)
    for record in report.carried:
        if record not in shown:
            _held_lines(ctx, escape(record.edit), record)


def _held_lines(ctx: AppContext, line: str, record: Record) -> None:
    ctx.output.result(f"[bold yellow]   held[/bold yellow] {line}")
    ctx.output.result(f"         [yellow]rule {escape(record.rule)}:[/yellow] {escape(record.message)}")
    if record.could_approve:
        ctx.output.result(f"         could approve: {escape(record.could_approve)}")


def _approval_note(decision: Decision | None) -> str:
    if decision is None:
        return ""
    record = decision.record
    if record.verdict is Verdict.APPROVED and record.pull is not None:
        return f" [dim](PR #{record.pull}, approved by {escape(', '.join(record.approvers))})[/dim]"
    if record.verdict is Verdict.NOT_REQUIRED:
        where = f" in PR #{record.pull}" if record.pull is not None else ""
        return f" [dim](removal{where}; no approver rule covers it)[/dim]"
    if record.verdict is Verdict.RESTORES:
        return " [dim](restores approved state)[/dim]"
    if record.verdict in (Verdict.EXPIRED, Verdict.LAPSED, Verdict.LEFT):
        return f" [dim]({escape(record.message)})[/dim]"
    return ""


def results_json(results: list[tuple[Change, ChangeResult]], held: int, apply_point: str | None) -> str:
    """`apply --format json`: each change's outcome, and the totals."""
    counts = Counter(str(r.outcome) for _, r in results)
    document = {
        "format_version": 1,
        "totals": {o.value: counts.get(o.value, 0) for o in Outcome} | {"held": held},
        "apply_point": apply_point,
        "results": [
            {
                "id": change.id,
                **change_fields(change),
                "outcome": str(result.outcome),
                "message": result.message,
                "vendor_ref": result.vendor_ref,
            }
            for change, result in results
        ],
    }
    return json.dumps(document, indent=2) + "\n"


# ---------------------------------------------------------------- apply


async def _apply(
    ctx: AppContext, saved: Plan | None, source: Source, options: ApplyOptions, directory: Path
) -> int:
    parsed: FileCache = {}  # HEAD's files and people, for the gate's reading of older commits
    people = PeopleMemo()
    desired = load_desired(ctx, cache=parsed, people=people)
    people.compact(parsed)
    vendors = tuple(sorted(desired.access.scope.vendors))
    factory = gate.github_client_factory(ctx, source)
    if factory is None:
        ctx.output.info(
            "approval gate: off (a sandbox without a GitHub simulator; `access demo` shows the gate at work)"
        )
    key = gate.signing_key(ctx, source) if factory is not None else b""
    async with open_connectors(ctx, source, vendors, writable=not options.dry_run) as connectors:
        actual = await sync_all(ctx, connectors, desired.access)
        live = plan_from(ctx, desired, actual).plan
        left = departures(actual, load_policies(ctx.repo), ctx.today, desired.access.people.values())
        if saved is not None:
            check_fresh(saved, live)
        if live.errors:
            raise RefusedError(
                "refusing to apply: the plan has policy errors:\n"
                + "\n".join(f"  {f.message}" for f in live.errors)
            )
        report: gate.GateReport | None = None
        plan = with_live_accounts(saved, live) if saved is not None else live
        repository = gate.repository_identity(ctx, source) if factory is not None else ""
        if factory is not None:
            report = await gate.evaluate(
                ctx, live, actual, factory, key, repository, desired.access, parsed=(parsed, people)
            )
            plan = replace(live, changes=report.approved_plan.changes)
            _report_gate(ctx, report, verbose=options.dry_run)
        decisions = report.decision_of() if report is not None else {}
        if options.dry_run:
            return _dry_run(ctx, plan, report)
        _check_safety(ctx, plan, desired, actual, options, directory)
        if report is not None:
            _check_trail(ctx, report, key, repository)
        _record_counts(directory, actual)
        allowed = [c for c in plan.changes if c.id not in decisions or decisions[c.id].allowed]
        held = len(report.held) if report is not None else 0
        results = await _execute(ctx, plan, allowed, decisions, connectors, directory, options, left)

    trail = (
        _append_trail(ctx, report, results, decisions, key, repository, plan, left)
        if report is not None
        else ""
    )
    advanced = report is not None and gate.advance(ctx, report, key, repository, trail or report.audit)
    if report is not None and not advanced and report.since != report.head and not report.may_advance:
        unmerged = bool(report.landings) and bool(report.landings[-1].unmerged)
        why = report.note or (
            "HEAD is on an unmerged pull request's branch" if unmerged else "some facts could not be read"
        )
        ctx.output.info(f"apply point stays at {report.since[:12]}: {why}")
    elif advanced and report is not None:
        carried = len(report.carried)
        ctx.output.info(
            f"apply point {gate.APPLIED_REF} moved to {report.head[:12]} (signed"
            + (f"; {carried} held edit(s) carried" if carried else "")
            + ")"
        )
    if options.fmt == "json":
        ctx.output.raw(results_json(results, held, report.head if advanced and report else None))
    if not plan.changes and not held:
        if report is not None and report.carried:
            ctx.output.result(
                f"[bold]No changes to apply; {len(report.carried)} edit(s) of the YAML are held (above).[/bold]"
            )
            return 1
        ctx.output.result("No changes. The vendors match the YAML.")
        return 0
    counts = Counter(r.outcome for _, r in results)
    failed = counts[Outcome.FAILED]
    ctx.output.result(
        f"[bold]Apply: {counts[Outcome.APPLIED]} applied, {counts[Outcome.ALREADY]} already in place, "
        f"{counts[Outcome.SKIPPED]} skipped, {failed} failed"
        + (f", {held} held back for approval" if held else "")
        + ".[/bold]"
    )
    return 1 if failed or held or (report is not None and report.carried) else 0


def _check_trail(ctx: AppContext, report: gate.GateReport, key: bytes, repository: str) -> None:
    """The audit trail must verify (and hold the head the apply point recorded) before any write:
    a run whose records could not be appended would leave no durable trace."""
    repo = gate.open_repo(ctx.repo)
    found = audit_trail.verify(
        repo, key, audit_trail.normal_repository(repository), expect=report.audit or None
    )
    if report.audit and found.head is None:
        raise RefusedError(
            f"the apply point records the audit trail's head {report.audit[:12]}, but {audit_trail.REF} is "
            f"missing here: fetch it (git fetch origin {audit_trail.REF}:{audit_trail.REF}) before apply"
        )
    if found.head is not None and not found.intact:
        raise RefusedError(f"refusing to apply: the audit trail does not verify: {found.problem}")


def _append_trail(
    ctx: AppContext,
    report: gate.GateReport,
    results: list[tuple[Change, ChangeResult]],
    decisions: Mapping[str, Decision],
    key: bytes,
    repository: str,
    plan: Plan,
    left: Mapping[str, tuple[str, str]],
) -> str:
    """This run's decisions, appended to `refs/access/audit`: every outcome with its approval,
    every held change, and every item the ledger approved since the apply point."""
    now = dt.datetime.now(dt.UTC)
    run_id = f"{now:%Y%m%dT%H%M%S}-{report.head[:12]}"
    entries: list[dict[str, object]] = [
        {
            "kind": "outcome",
            **entry(
                change,
                result,
                decisions.get(change.id),
                run=run_id,
                commit=plan.git_commit,
                at=now,
                left=left,
            ),
        }
        for change, result in results
    ]
    entries += [{"kind": "held", **change_fields(d.change), **d.record.to_json()} for d in report.held]
    if report.ledger is not None:
        entries += [
            {"kind": "approval", "item": [kind, list(key_)], **record.to_json()}
            for (kind, key_), record in sorted(report.ledger.records.items())
        ]
    if not entries:
        return ""
    repo = gate.open_repo(ctx.repo)
    head = audit_trail.append(
        repo, key, audit_trail.normal_repository(repository), entries, run=run_id, when=int(now.timestamp())
    )
    ctx.output.info(f"audit trail {audit_trail.REF} → {head[:12]} ({len(entries)} entries)")
    return head


def _dry_run(ctx: AppContext, plan: Plan, report: gate.GateReport | None) -> int:
    """`apply --dry-run`: the verdicts are printed; nothing is written, the point does not move."""
    held = len(report.held) if report is not None else 0
    carried = len(report.carried) if report is not None else 0
    if report is None:
        for change in plan.changes:
            ctx.output.result(f"[green]{'would':>7}[/green] {_line(change)} [dim](ungated sandbox)[/dim]")
    ctx.output.result(
        f"[bold]Dry run: {len(plan.changes)} change(s) would be applied, {held} held back"
        + (f", {carried} held edit(s) of the YAML" if carried else "")
        + "; nothing was written.[/bold]"
    )
    return 1 if held or carried else 0


async def _execute(
    ctx: AppContext,
    plan: Plan,
    allowed: list[Change],
    decisions: Mapping[str, Decision],
    connectors: Mapping[str, Connector],
    directory: Path,
    options: ApplyOptions,
    left: Mapping[str, tuple[str, str]],
) -> list[tuple[Change, ChangeResult]]:
    if not allowed:
        return []
    interrupted = interrupted_run(directory / "journal.jsonl")
    journal = Journal.begin(
        directory,
        commit=plan.git_commit,
        changes_hash=plan.changes_hash,
        resumes=interrupted.run if interrupted else None,
    )
    audit = AuditLog(options.audit_log or directory / AUDIT_FILE, journal.run, plan.git_commit, left=left)
    hang_after = int(ctx.env.get(HANG_AFTER_ENV, "0") or 0)
    todo: list[Change] = []
    results: list[tuple[Change, ChangeResult]] = []
    for change in allowed:
        done = interrupted.finished.get(change_identity(change)) if interrupted else None
        if done is None:
            todo.append(change)
            continue
        journal.resumed(change, done)
        results.append((change, ChangeResult(change.id, done.outcome, "finished by the interrupted apply")))
        ctx.output.result(
            f"[dim]   done[/dim] {_line(change)}"
            f" [dim](finished by interrupted apply {done.run}; not repeated)[/dim]"
        )
    if interrupted:
        ctx.output.info(f"resuming interrupted apply {interrupted.run} (started {interrupted.started})")
    ctx.output.info(f"applying {len(todo)} change(s)")

    def sync_both() -> None:
        journal.sync()
        audit.sync()

    durable = GroupSync(sync_both)

    async def report(change: Change, result: ChangeResult) -> None:
        results.append((change, result))
        journal.record(change, result, sync=False)
        audit.write(change, result, decisions.get(change.id), sync=False)
        durable.wrote()
        if hang_after and len(results) >= hang_after:  # the test hook: on disk, then stop dead
            sync_both()
            sys.stderr.write(f"test hook: hanging after {hang_after} outcomes\n")
            sys.stderr.flush()
            time.sleep(60)
        await durable.flushed()  # on disk before going on; fsynced off the event loop, batched
        style = _OUTCOME_STYLE[result.outcome]
        message = f" — {escape(result.message)}" if result.message else ""
        note = _approval_note(decisions.get(change.id))
        ctx.output.result(f"[{style}]{result.outcome:>7}[/{style}] {_line(change)}{message}{note}")

    try:
        await execute(todo, connectors, on_result=report)
    finally:
        audit.close()
    journal.finish(dict(Counter(str(r.outcome) for _, r in results)))
    ctx.output.info(f"audit log: {audit.path} ({audit.count} entries); journal: {journal.path}")
    return results
