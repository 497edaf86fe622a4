"""`access apply`: re-sync, refuse a stale plan, apply the changes, report each one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.markup import escape

from reconciler.changes import Change, Plan
from reconciler.commands.context import AppContext
from reconciler.commands.plan import plan_from
from reconciler.commands.state import Source, load_desired, open_connectors, sync_all
from reconciler.connectors.base import ChangeResult, Outcome
from reconciler.errors import AccessError, RefusedError, StalePlanError
from reconciler.executor import execute
from reconciler.render.words import SIGNS, target, who
from reconciler.vendors import vendor_label

_OUTCOME_STYLE = {
    Outcome.APPLIED: "green",
    Outcome.ALREADY: "dim",
    Outcome.FAILED: "bold red",
    Outcome.SKIPPED: "yellow",
}


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
            f"the plan is stale: the actual state at {names} changed since it was made; run `access plan` again"
        )


def run(ctx: AppContext, *, plan_file: Path | None, source: Source) -> int:
    saved = _read_plan(plan_file) if plan_file is not None else None
    return asyncio.run(_apply(ctx, saved, source))


def _read_plan(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessError(f"{path}: cannot read the plan file ({exc.strerror})") from None
    return Plan.loads(text)


async def _apply(ctx: AppContext, saved: Plan | None, source: Source) -> int:
    desired = load_desired(ctx)
    vendors = tuple(sorted(desired.access.scope.vendors))
    async with open_connectors(ctx, source, vendors, writable=True) as connectors:
        actual = await sync_all(ctx, connectors, desired.access)
        live = plan_from(ctx, desired, actual).plan
        if saved is not None:
            check_fresh(saved, live)
        plan = saved or live
        if plan.errors:
            raise RefusedError(
                "refusing to apply: the plan has policy errors:\n" + "\n".join(f"  {f.message}" for f in plan.errors)
            )
        if not plan.changes:
            ctx.output.result("No changes. The vendors match the YAML.")
            return 0
        ctx.output.info(f"applying {len(plan.changes)} change(s) to {source.describe()}")

        def report(change: Change, result: ChangeResult) -> None:
            style = _OUTCOME_STYLE[result.outcome]
            message = f" — {escape(result.message)}" if result.message else ""
            ctx.output.result(
                f"[{style}]{result.outcome:>7}[/{style}] {SIGNS[change.action]} {escape(vendor_label(change.vendor))}"
                f" {escape(who(change))}: {escape(target(change))}{message}"
            )

        results = await execute(plan.changes, connectors, on_result=report)
    failed = [r for _, r in results if r.outcome is Outcome.FAILED]
    applied = sum(1 for _, r in results if r.outcome is Outcome.APPLIED)
    already = sum(1 for _, r in results if r.outcome is Outcome.ALREADY)
    skipped = sum(1 for _, r in results if r.outcome is Outcome.SKIPPED)
    ctx.output.result(
        f"[bold]Apply: {applied} applied, {already} already in place, {skipped} skipped, {len(failed)} failed.[/bold]"
    )
    return 1 if failed else 0
