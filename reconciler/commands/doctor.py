"""`access doctor`: check in one read-only run that each configured vendor is set up right.

One line per check, ✓ or ✗; a ✗ says what to do. Exit 1 when any check fails. Nothing is written
at a vendor: the clients are read-only, as for `plan` (Concur's token refresh is the one POST, and
a rotated refresh token is saved as `plan` would).
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from reconciler.commands.context import AppContext
from reconciler.connectors import concur_shapes, pingone_shapes
from reconciler.connectors.answers import read
from reconciler.connectors.base import Connector
from reconciler.connectors.concur import ConcurConnector, ConcurPlugin
from reconciler.connectors.pingone import PingOneConnector
from reconciler.connectors.procore_connector import ProcoreConnector
from reconciler.connectors.registry import plugin
from reconciler.errors import AccessError, ConfigError, VendorError
from reconciler.loader import ACCESS_DIR, read_files
from reconciler.normalize import normalize
from reconciler.records import AccessSet
from reconciler.vendors import VENDORS

# What the Concur connector calls: Identity and Spend reads for sync, User Provisioning for apply.
CONCUR_SCOPES = (
    "identity.user.core.read",
    "identity.user.enterprise.read",
    "spend.user.general.read",
    "spend.user.general.writeonly",
    "user.provision.read",
    "user.provision.write",
)


@dataclass(frozen=True, slots=True)
class Check:
    vendor: str
    name: str
    ok: bool
    detail: str  # what was found (✓) or what to do (✗)

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.vendor}: {self.name}: {self.detail}"


Report = Callable[[Check], None]


def _closest(name: str, choices: list[str]) -> str:
    found = difflib.get_close_matches(name, choices, n=2, cutoff=0.5)
    return f" (closest: {', '.join(found)})" if found else ""


# -- Procore --------------------------------------------------------------------------------------------


async def check_procore(connector: ProcoreConnector, desired: AccessSet, report: Report) -> None:
    api = connector.api
    configured = api.settings.companies
    try:
        visible = await api.companies(configured[0])
    except VendorError as exc:
        report(Check("procore", "credentials", False, f"{exc.message}; check PROCORE_CLIENT_ID/SECRET"))
        return
    names = {str(c["id"]): c.get("name") or "" for c in visible}
    listed = ", ".join(f"{n} ({i})" for i, n in sorted(names.items())) or "none"
    report(Check("procore", "credentials", True, f"token accepted; the app is installed in: {listed}"))
    for company in configured:
        if company in names:
            report(Check("procore", f"company {company}", True, f"{names[company]}: the app is installed"))
        else:
            report(
                Check("procore", f"company {company}", False,
                      "not visible to the app: install it there (Company Admin > App Management),"
                      " or remove the id from PROCORE_COMPANY_ID")
            )  # fmt: skip
    managed = sorted({t for v, t in desired.scope.tenants if v == "procore"})
    for company in managed:
        if company not in configured:
            report(
                Check("procore", f"company {company}", False,
                      "managed in access/ but not in PROCORE_COMPANY_ID: add it there")
            )  # fmt: skip
    for company in (c for c in managed if c in configured and c in names):
        await _check_projects(connector, company, desired, report)


async def _check_projects(
    connector: ProcoreConnector, company: str, desired: AccessSet, report: Report
) -> None:
    projects = await connector.api.projects(company)
    by_key = {str(p["id"]): p for p in projects} | {p.get("name") or "": p for p in projects}
    wanted = sorted(
        k.resource for k in desired.scope.resources if k.vendor == "procore" and k.tenant == company
    )
    for name in wanted:
        project = by_key.get(name)
        label = f"project {name}"
        if project is None:
            report(
                Check(
                    "procore",
                    label,
                    False,
                    f"no such project in company {company}{_closest(name, list(by_key))}",
                )
            )
            continue
        try:
            members = await connector.api.project_users(company, project["id"])
        except VendorError as exc:
            if exc.status != 403:
                raise
            report(
                Check("procore", label, False,
                      "its Directory is closed to the app: enable the Directory tool on the project and add"
                      " the project to the app's Permitted Projects (App Management)")
            )  # fmt: skip
            continue
        report(Check("procore", label, True, f"Directory tool readable ({len(members)} members)"))


# -- SAP Concur -----------------------------------------------------------------------------------------


class _TokenRecorder(httpx.AsyncBaseTransport):
    """Keeps the token endpoint's last answer (scopes, geolocation) for the checks, once the connector
    has read it (`token`: a body it could not read never gets that far)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.answer = b'{"access_token": ""}'  # none yet

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/oauth2/v0/token"):
            await response.aread()
            if response.status_code == 200:
                self.answer = response.content
        return response

    @property
    def token(self) -> concur_shapes.Token:
        return concur_shapes.TOKEN.adapter.validate_json(self.answer)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def check_concur(connector: ConcurConnector, recorder: _TokenRecorder, report: Report) -> None:
    configured = connector.settings.geolocation.rstrip("/")
    try:
        await connector.auth.fetch()
    except AccessError as exc:
        report(Check("concur", "credentials", False, exc.message))
        return
    report(Check("concur", "credentials", True, f"the company refresh token works at {configured}"))
    answered = str(recorder.token.get("geolocation") or configured).rstrip("/")
    if answered == configured:
        report(Check("concur", "geolocation", True, answered))
    else:
        report(
            Check("concur", "geolocation", False,
                  f"the company lives at {answered}, not {configured}: set CONCUR_GEOLOCATION={answered}")
        )  # fmt: skip
    granted = set(str(recorder.token.get("scope") or "").split())
    missing = [s for s in CONCUR_SCOPES if s not in granted]
    if missing:
        report(
            Check("concur", "scopes", False,
                  f"the token lacks {', '.join(missing)}: add them to the app registration, then run"
                  " `access concur setup` again")
        )  # fmt: skip
    else:
        report(Check("concur", "scopes", True, f"all {len(CONCUR_SCOPES)} scopes the connector uses"))


# -- PingOne --------------------------------------------------------------------------------------------


async def check_pingone(connector: PingOneConnector, desired: AccessSet, report: Report) -> None:
    api = connector.api
    try:
        await api.token.get()
    except VendorError as exc:
        report(Check("pingone", "credentials", False, exc.message))
        return
    report(Check("pingone", "credentials", True, f"worker token from {api.settings.token_url}"))
    response = await api.request("GET", "")
    if response.status_code != 200:
        report(
            Check("pingone", "environment", False,
                  f"{api.settings.environment_id} answered HTTP {response.status_code}: check"
                  " PINGONE_ENVIRONMENT_ID and the worker app's roles in that environment")
        )  # fmt: skip
        return
    env = read(response, pingone_shapes.ENVIRONMENT)
    report(
        Check(
            "pingone", "environment", True,
            f"{env.get('name') or ''} ({env.get('type') or ''}, {env.get('id')})",
        )
    )  # fmt: skip
    wanted = sorted(
        {k.resource for k in desired.scope.resources if k.vendor == "pingone" and k.resource_type == "role"}
    )
    if not wanted:
        return
    built_in, custom = await asyncio.gather(
        api.collect("//roles", pingone_shapes.ROLES), api.collect("/roles", pingone_shapes.ROLES)
    )
    known = sorted({r.get("name") or "" for r in [*built_in, *custom]})
    unknown = [r for r in wanted if r not in known]
    if unknown:
        hints = "; ".join(f"{r}{_closest(r, known)}" for r in unknown)
        report(Check("pingone", "roles", False, f"no such role: {hints}"))
    else:
        report(Check("pingone", "roles", True, f"all {len(wanted)} roles in access/ exist"))


# -- the run --------------------------------------------------------------------------------------------


def _desired(ctx: AppContext) -> AccessSet:
    if not (ctx.repo / ACCESS_DIR).is_dir():
        return AccessSet.empty()
    return normalize(read_files(ctx.repo), today=ctx.today, now=ctx.now)


async def _run(ctx: AppContext, desired: AccessSet, report: Report) -> None:
    vendors = ctx.vendors or VENDORS
    for vendor in vendors:
        recorder = _TokenRecorder(httpx.AsyncHTTPTransport())
        try:
            if vendor == "concur":
                connector: Connector = ConcurPlugin().from_env(ctx.env, writable=False, transport=recorder)
            else:
                connector = plugin(vendor).from_env(ctx.env, writable=False)
        except ConfigError as exc:
            if vendor in desired.scope.vendors or ctx.vendors:
                report(Check(vendor, "settings", False, exc.message))
            else:
                ctx.output.info(f"- {vendor}: not configured and not in access/, skipped")
            continue
        report(Check(vendor, "settings", True, "every required variable is set"))
        try:
            if isinstance(connector, ProcoreConnector):
                await check_procore(connector, desired, report)
            elif isinstance(connector, ConcurConnector):
                await check_concur(connector, recorder, report)
            elif isinstance(connector, PingOneConnector):
                await check_pingone(connector, desired, report)
        except (VendorError, httpx.HTTPError) as exc:
            message = (
                exc.message if isinstance(exc, VendorError) else f"network trouble: {type(exc).__name__}"
            )
            report(Check(vendor, "reachable", False, message))
        finally:
            await connector.aclose()


def run(ctx: AppContext) -> int:
    desired = _desired(ctx)
    results: list[Check] = []

    def report(check: Check) -> None:
        results.append(check)
        ctx.output.raw(check.line() + "\n")

    asyncio.run(_run(ctx, desired, report))
    failed = sum(1 for c in results if not c.ok)
    if not results:
        raise AccessError("no vendor is configured: set a vendor's variables (see docs/adopting.md)")
    ctx.output.info(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0
