"""`access import`: read what the vendors have and write it as YAML under access/.

Reads every account and assignment of each vendor (not only what the YAML lists), merges it into the
files of access/ (creating them when missing) and checks that the result loads. Read-only at the
vendors, like `plan`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

from reconciler.commands.context import AppContext
from reconciler.commands.formats import TextOrJson
from reconciler.commands.progress import reading
from reconciler.commands.state import Source, open_connectors
from reconciler.connectors.base import Connector, VendorState
from reconciler.connectors.memory import MemoryConnector
from reconciler.connectors.procore_connector import ProcoreConnector
from reconciler.connectors.registry import plugin
from reconciler.errors import AccessError, ConfigError, ValidationErrors
from reconciler.event_loop import run as run_coroutine
from reconciler.import_writer import AccessTree
from reconciler.importer import ImportInput, draft_import
from reconciler.loader import ACCESS_DIR, DesiredFiles, read_files
from reconciler.normalize import normalize
from reconciler.records import AccessSet, Scope
from reconciler.snapshot import read_state
from reconciler.vendors import VENDORS

_WHOLE = {"procore": ("project",), "concur": ("role",), "pingone": ("group", "role")}


def import_scope(vendor: str, existing: Scope, tenants: tuple[str, ...]) -> Scope:
    """Everything the vendor has, plus the YAML's spelling of what it already lists."""
    mine = existing.for_vendor(vendor)
    return Scope(
        vendors=frozenset({vendor}),
        tenants=mine.tenants | {(vendor, t) for t in tenants},
        resources=mine.resources,
        all_of=mine.all_of | {(vendor, t, rt) for t in tenants for rt in _WHOLE[vendor]},
    )


def _tenants(vendor: str, connector: Connector) -> tuple[str, ...]:
    if isinstance(connector, ProcoreConnector):
        return connector.api.settings.companies
    if isinstance(connector, MemoryConnector):
        state = connector.state
        found = {a.tenant for a in state.accounts} | {g.tenant for g in state.grants}
        return tuple(sorted(found)) or ("",)
    return ("",)


async def _company_names(connector: Connector, tenants: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(connector, ProcoreConnector) or not tenants:
        return {}
    try:
        companies = await connector.api.companies(tenants[0])
    except AccessError:
        return {}
    return {str(c["id"]): str(c["name"]) for c in companies if str(c.get("id")) in tenants and c.get("name")}


def _existing(ctx: AppContext) -> tuple[DesiredFiles | None, AccessSet]:
    if not (ctx.repo / ACCESS_DIR).is_dir():
        return None, AccessSet.empty()
    files = read_files(ctx.repo)
    return files, normalize(files, today=ctx.today, now=ctx.now)


def _section_authority(files: DesiredFiles | None) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for source in files.files if files else ():
        for vendor in VENDORS:
            section = getattr(source.model, vendor)
            if section is not None and "authoritative" in section.model_fields_set:
                found[vendor] = section.authoritative
    return found


def _configured(ctx: AppContext, source: Source) -> tuple[str, ...]:
    """--vendor, else every vendor the source can reach; live vendors without settings are skipped."""
    if ctx.vendors:
        return ctx.vendors
    if source.state_dir is not None:
        found = tuple(v for v in VENDORS if (source.state_dir / f"{v}.json").exists())
        if not found:
            raise AccessError(
                f"{source.state_dir}: no snapshot files (procore.json, concur.json, pingone.json)"
            )
        return found
    if source.sandbox:
        return VENDORS
    configured: list[str] = []
    missing: list[str] = []
    for vendor in VENDORS:
        try:
            connector = plugin(vendor).from_env(ctx.env, writable=False)
        except ConfigError as exc:
            missing.append(exc.message)
            continue
        asyncio.run(connector.aclose())
        configured.append(vendor)
    if not configured:
        raise ConfigError(
            "\n".join(missing)
            + "\n(set one vendor's variables, use --state DIR for a snapshot, or --sandbox)"
        )
    for vendor in VENDORS:
        if vendor not in configured:
            ctx.output.info(f"{vendor}: not configured, skipped (pass --vendor {vendor} to insist)")
    return tuple(configured)


async def _read(
    ctx: AppContext, source: Source, vendors: tuple[str, ...], existing: AccessSet
) -> tuple[dict[str, VendorState], dict[str, str]]:
    actual: dict[str, VendorState] = {}
    names: dict[str, str] = {}
    if source.state_dir is not None:  # a snapshot holds everything it was synced with
        for vendor in vendors:
            state = read_state(source.state_dir, vendor)
            if state is None:
                raise AccessError(f"{source.state_dir}: no snapshot for {vendor} ({vendor}.json)")
            actual[vendor] = state
        return actual, names
    async with (
        open_connectors(ctx, source, vendors, writable=False) as connectors,
        reading(ctx.output, ctx.env, connectors, "reading") as finished,
    ):
        for vendor, connector in connectors.items():
            tenants = _tenants(vendor, connector)
            scope = import_scope(vendor, existing.scope, tenants)
            actual[vendor] = await connector.sync(scope)
            names.update(await _company_names(connector, tenants))
            finished(vendor)
    return actual, names


def run(ctx: AppContext, *, source: Source, infer_teams: bool, fmt: TextOrJson = "text") -> int:
    if fmt == "json":  # stdout is the JSON document alone; the lines people read go to stderr
        ctx = replace(ctx, output=replace(ctx.output, out=ctx.output.err))
    files, existing = _existing(ctx)
    vendors = _configured(ctx, source)
    actual, company_names = run_coroutine(_read(ctx, source, vendors, existing))  # no repr of the states
    tree = AccessTree.load(ctx.repo)
    taken = frozenset(p.key for p in existing.people.values()) | _team_names(files)
    draft = draft_import(
        ImportInput(
            actual=actual,
            existing=existing,
            taken=taken,
            section_authority=_section_authority(files),
            company_names=company_names,
            infer_teams=infer_teams,
        )
    )
    draft = replace(draft, people=sorted(draft.people, key=lambda p: p.key))
    tree.apply(draft)
    written = tree.write()
    for path in written:
        counts = tree.counts.get(path, {})
        summary = ", ".join(f"{n} {what}" for what, n in counts.items()) or "sections added"
        ctx.output.result(f"{_relative(path, ctx.repo)}: {summary}")
    if not written:
        ctx.output.result("access/ already matches the vendors: nothing to write")
    for note in [*draft.notes, *tree.notes]:
        ctx.output.info(f"[yellow]note[/yellow]: {note}")
    try:
        normalize(read_files(ctx.repo), today=ctx.today, now=ctx.now)
    except ValidationErrors as exc:
        raise AccessError(
            f"{exc.message}\nthe imported YAML does not load: fix the lines above (a team and an imported"
            " line may disagree), then run `access validate`"
        ) from None
    which = f" --vendor {' --vendor '.join(vendors)}" if ctx.vendors else ""
    how = " --sandbox" if source.sandbox else f" --state {source.state_dir}" if source.state_dir else ""
    ctx.output.info(f"next: `access validate`, then `access plan{which}{how}` should show no changes")
    if fmt == "json":
        document = {
            "vendors": list(vendors),
            "written": [
                {"file": _relative(path, ctx.repo), "counts": dict(tree.counts.get(path, {}))}
                for path in written
            ],
            "notes": [*draft.notes, *tree.notes],
        }
        ctx.output.raw(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 0


def _team_names(files: DesiredFiles | None) -> frozenset[str]:
    return frozenset(name for source in (files.files if files else ()) for name in source.model.teams)


def _relative(path: Path, repo: Path) -> str:
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return str(path)
