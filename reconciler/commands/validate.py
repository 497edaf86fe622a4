"""`access validate`: schema and policy checks of the YAML, offline."""

from __future__ import annotations

import json

from reconciler.commands.context import AppContext
from reconciler.commands.formats import TextOrJson as Format
from reconciler.commands.state import load_desired
from reconciler.errors import ValidationErrors
from reconciler.location import Location
from reconciler.policy_loader import load_policies
from reconciler.rules import check_desired


def run(ctx: AppContext, *, fmt: Format = "text") -> int:
    if fmt == "json":
        return _run_json(ctx)
    desired = load_desired(ctx)
    ctx.retain(desired)
    access = desired.access
    findings = check_desired(access, load_policies(ctx.repo), ctx.today)
    for finding in findings:
        where = f"{finding.source}: " if finding.source else ""
        ctx.output.error(f"{where}{finding.severity}: [{finding.code}] {finding.message}")
        ctx.output.annotate(str(finding.severity), finding.source, f"[{finding.code}] {finding.message}")
    if any(f.severity == "error" for f in findings):
        return 1
    people = len(access.people)
    vendors = ", ".join(sorted(access.scope.vendors)) or "no vendors"
    ctx.output.result(
        f"[green]valid[/green]: {len(desired.files.files)} files, {people} people, {access.grant_count} grants"
        f" and {len(access.accounts)} accounts across {vendors}"
        + (f"; {len(access.expired)} expired assignment(s) will be revoked" if access.expired else "")
    )
    return 0


def _run_json(ctx: AppContext) -> int:
    """`--format json`: one document on stdout, valid or not (the exit code says which too)."""
    try:
        desired = load_desired(ctx)
    except ValidationErrors as exc:
        for error in exc.errors:
            ctx.output.annotate("error", str(error.location or ""), error.detail)
        errors = [_located(error.location, error.detail) for error in exc.errors]
        ctx.output.raw(json.dumps({"format_version": 1, "valid": False, "errors": errors}, indent=2) + "\n")
        return 1
    access = desired.access
    findings = check_desired(access, load_policies(ctx.repo), ctx.today)
    for finding in findings:
        ctx.output.annotate(str(finding.severity), finding.source, f"[{finding.code}] {finding.message}")
    valid = not any(f.severity == "error" for f in findings)
    document = {
        "format_version": 1,
        "valid": valid,
        "errors": [],
        "findings": [f.to_json() for f in findings],
        "files": len(desired.files.files),
        "people": len(access.people),
        "grants": access.grant_count,
        "accounts": len(access.accounts),
        "expired": len(access.expired),
        "vendors": sorted(access.scope.vendors),
    }
    ctx.output.raw(json.dumps(document, indent=2) + "\n")
    return 0 if valid else 1


def _located(location: Location | None, message: str) -> dict[str, object]:
    return {
        "file": location.file if location else "",
        "line": location.line if location else 0,
        "message": message,
    }
