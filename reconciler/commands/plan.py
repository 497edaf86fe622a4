"""`access plan`: sync actual state, diff it against the YAML, show the changes."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler import drift, event_loop
from reconciler.canonical import aliases_of, canonical_access
from reconciler.catalog_check import check_names
from reconciler.changes import Plan
from reconciler.commands.causes import causes_of
from reconciler.commands.context import AppContext
from reconciler.commands.formats import PlanFormat as Format
from reconciler.commands.state import Desired, Source, load_desired, open_connectors, sync_all
from reconciler.connectors.base import Connector, VendorState
from reconciler.connectors.memory import MemoryConnector
from reconciler.console import write_chunks
from reconciler.errors import AccessError, ValidationErrors
from reconciler.git_repo import head_commit
from reconciler.lapse import lapse_findings, lapsed
from reconciler.leavers import settle
from reconciler.leaving import leaving
from reconciler.loader import ACCESS_DIR
from reconciler.planner import build_plan
from reconciler.policy_loader import load_policies
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from reconciler.resources import data_dir
from reconciler.rules import check_plan, plan_options, sort_findings
from reconciler.rules import seats as seat_rules
from reconciler.rules.aliases import alias_findings, canonical_policies
from reconciler.scrub import scrub, scrubbable
from reconciler.snapshot import convert, is_current, write_state
from reconciler.snapshot_reading import SnapshotReading
from reconciler.vendors import VENDORS


@dataclass(frozen=True, slots=True, repr=False)
class Planned:
    desired: Desired
    actual: dict[str, VendorState]
    plan: Plan

    def __repr__(self) -> str:  # never the records: see reconciler.event_loop
        return f"Planned({self.plan.summary_line()!r})"


async def make_plan(ctx: AppContext, source: Source, snapshot_out: Path | None = None) -> Planned:
    # A snapshot is read in a second process while this one loads the YAML (every vendor's there
    # may be: which ones the plan needs, the YAML says).
    snapshots = None
    if source.state_dir is not None:
        snapshots = SnapshotReading.start(source.state_dir, ctx.vendors or VENDORS)
    try:
        desired = load_desired(ctx, keep_files=False)  # the plan needs their digest only
        vendors = tuple(sorted(desired.access.scope.vendors))
        async with open_connectors(ctx, source, vendors, writable=False, snapshots=snapshots) as connectors:
            actual = await sync_all(ctx, connectors, desired.access)
            if snapshot_out is not None:  # what was read, as `access sync --out` writes it
                for state in actual.values():
                    ctx.output.info(f"{state.vendor}: snapshot written to {write_state(snapshot_out, state)}")
            planned = plan_from(ctx, desired, actual)
            if source.state_dir is None:  # a snapshot cannot say who made anything, nor read a licence
                planned = replace(
                    planned, plan=await with_licences(connectors, await with_causes(connectors, planned.plan))
                )
            warn_budget(ctx, connectors, planned.plan)
            if source.state_dir is not None:
                convert_older(ctx, source.state_dir, connectors)
    finally:
        if snapshots is not None:
            snapshots.stop()
    return planned


def convert_older(ctx: AppContext, directory: Path, connectors: Mapping[str, Connector]) -> None:
    """A snapshot in an older format is rewritten in today's once it has been read (issue #26: the
    old format reads three times slower), with a message; one that cannot be rewritten is only said."""
    for vendor, connector in sorted(connectors.items()):
        if isinstance(connector, MemoryConnector) and not is_current(directory / f"{vendor}.json"):
            ctx.output.info(convert(directory, connector.state))


async def with_causes(connectors: Mapping[str, Connector], plan: Plan) -> Plan:
    """`plan` with who made each drifted grant or account (`reconciler.drift`), and findings
    saying so."""
    causes = await causes_of(connectors, drift.items(plan))
    more = drift.findings(causes, drift.people_of(plan))
    return replace(plan, causes=tuple(causes), findings=tuple(sort_findings([*plan.findings, *more])))


async def with_licences(connectors: Mapping[str, Connector], plan: Plan) -> Plan:
    """`plan` with the identities each vendor's licence allows, where its connector can read it."""
    readers = {
        vendor: reader
        for vendor, connector in connectors.items()
        if vendor in plan.vendors and (reader := getattr(connector, "licence", None)) is not None
    }
    if not readers:
        return plan
    found = await asyncio.gather(*(reader() for reader in readers.values()))
    licensed = seat_rules.with_licences(
        plan, {v: (f.users, f.note) for v, f in zip(readers, found, strict=True)}
    )
    return replace(licensed, findings=tuple(sort_findings(licensed.findings)))


def warn_budget(ctx: AppContext, connectors: Mapping[str, Connector], plan: Plan) -> None:
    """Connectors that know their vendor's rate budget warn when applying would exceed it."""
    per_vendor: Counter[str] | None = None
    for vendor, connector in connectors.items():
        check = getattr(connector, "budget_warning", None)
        if check is None:
            continue
        per_vendor = per_vendor or Counter(c.vendor for c in plan.changes)
        message = check(per_vendor[vendor])
        if message:
            ctx.output.info(f"[yellow]warning[/yellow]: {message}")


def plan_from(ctx: AppContext, desired: Desired, actual: dict[str, VendorState]) -> Planned:
    """The plan, its names checked and its policies applied. The YAML and the policies are keyed
    the way the vendors spell resources first (`reconciler.canonical`: a Procore project named by
    id is its name), so rules and approvers see one name, however the YAML writes it."""
    aliases = aliases_of(actual)
    access = canonical_access(desired.access, aliases)
    if access is not desired.access:
        desired = replace(desired, access=access)
    errors = check_names(access, actual)
    if errors:
        raise ValidationErrors(errors)
    written = load_policies(ctx.repo)
    policies = canonical_policies(written, aliases)
    wanted, _ = lapsed(ctx.repo, access, policies, ctx.today)  # lines nobody re-approved in time
    wanted, left = leaving(ctx.repo, wanted, actual, policies, ctx.today)  # as the IdP says in this run
    plan = build_plan(
        wanted,
        actual,
        today=ctx.today,
        options=plan_options(policies),
        desired_digest=desired.files.digest,
        git_commit=head_commit(ctx.repo),
    )
    plan = settle(check_plan(plan, access, policies, ctx.today), left, policies.leavers)
    more = [*alias_findings(written, aliases), *lapse_findings(ctx.repo, access, policies, ctx.today)]
    if more:
        plan = replace(plan, findings=tuple(sort_findings([*plan.findings, *more])))
    return Planned(desired, actual, plan)


def render(plan: Plan, fmt: Format) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan)


def run(
    ctx: AppContext,
    *,
    source: Source,
    out: Path | None,
    fmt: Format,
    detailed_exitcode: bool,
    snapshot_out: Path | None = None,
) -> int:
    if source.sandbox and not (ctx.repo / ACCESS_DIR).is_dir():
        # Trying it out (`pip install access-reconciler && access plan --sandbox`): plan the example
        # repository the package ships, in a temporary copy, against a fresh sandbox.
        with tempfile.TemporaryDirectory(prefix="access-example-") as tmp:
            example = data_dir("example")
            for part in ("access", "policies"):
                if (example / part).is_dir():
                    shutil.copytree(example / part, Path(tmp) / part)
            ctx.output.info("no access/ directory here: planning the example repository against the sandbox")
            return run(
                replace(ctx, repo=Path(tmp)),
                source=source,
                out=out,
                fmt=fmt,
                detailed_exitcode=detailed_exitcode,
                snapshot_out=snapshot_out,
            )
    if snapshot_out is not None and source.state_dir is not None:
        raise AccessError("--snapshot-out keeps what the vendors said: not with --state (that is a snapshot)")
    planned = event_loop.run(make_plan(ctx, source, snapshot_out))
    ctx.retain(planned)
    plan = planned.plan
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            # The file and --format json from one making of the text, a few megabytes at a time.
            for piece in scrubbable(plan.chunks()):
                write_chunks(handle.write, scrub(piece))
                if fmt == "json":
                    ctx.output.raw(piece)  # (scrubbed there)
        ctx.output.info(f"plan written to {out}")
    elif fmt == "json":
        for piece in scrubbable(plan.chunks()):
            ctx.output.raw(piece)
    if fmt == "text":
        ctx.output.result(render_text(plan))
    elif fmt != "json":
        ctx.output.raw(render(plan, fmt))
    for finding in plan.findings:
        if finding.source:  # on the pull request's diff, in GitHub Actions
            ctx.output.annotate(str(finding.severity), finding.source, f"[{finding.code}] {finding.message}")
    if plan.errors:
        return 1
    if detailed_exitcode and plan.has_changes:
        return 2
    return 0
