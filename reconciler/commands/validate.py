"""`access validate`: schema and policy checks of the YAML, offline."""

from __future__ import annotations

from reconciler.commands.context import AppContext
from reconciler.commands.state import load_desired
from reconciler.policy_loader import load_policies
from reconciler.rules import check_desired


def run(ctx: AppContext) -> int:
    desired = load_desired(ctx)
    access = desired.access
    findings = check_desired(access, load_policies(ctx.repo), ctx.today)
    for finding in findings:
        where = f"{finding.source}: " if finding.source else ""
        ctx.output.error(f"{where}{finding.severity}: [{finding.code}] {finding.message}")
    if any(f.severity == "error" for f in findings):
        return 1
    people = len(access.people)
    vendors = ", ".join(sorted(access.scope.vendors)) or "no vendors"
    ctx.output.result(
        f"[green]valid[/green]: {len(desired.files.files)} files, {people} people, {len(access.grants)} grants"
        f" and {len(access.accounts)} accounts across {vendors}"
        + (f"; {len(access.expired)} expired assignment(s) will be revoked" if access.expired else "")
    )
    return 0
