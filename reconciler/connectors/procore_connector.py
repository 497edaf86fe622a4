"""The Procore connector: directory users and project memberships (with permission templates).

`sync` reads, per managed company: the company list (is the app connected?), permission templates,
active (v1.3) and inactive (v1.0) directory users, every project (to resolve names and ids), then
the users of each managed project, with bounded concurrency. Grants are keyed by each project's one
spelling (`spellings`: its name, or its id when the name does not tell it apart), whichever way the
YAML names it; `VendorState.aliases` maps every other spelling (each project id) to it.
`apply` makes one documented call per change and is idempotent against what the sync (or a fresh
lookup) saw.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections import Counter, defaultdict
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.changes import Action, Change
from reconciler.connectors import procore_shapes as shapes
from reconciler.connectors.answers import acknowledged, prepare_while_sending, read
from reconciler.connectors.base import ChangeResult, Outcome, VendorState
from reconciler.connectors.http import RequestStats, error_summary, retried
from reconciler.connectors.procore_api import ProcoreAPI, ProcoreError
from reconciler.connectors.procore_ratelimit import RateBudget
from reconciler.errors import ConfigError, HiddenTenantError, UnknownTenantConfig, VendorError
from reconciler.records import Account, Grant, ResourceKey, Scope

log = logging.getLogger("reconciler.procore")

VENDOR = "procore"
PROJECT = "project"
NO_TEMPLATE = "(none)"  # a project member without a permission template

Json = dict[str, Any]


@dataclass(slots=True)
class UserRef:
    id: int
    principal: str
    active: bool


@dataclass(slots=True)
class CompanyCache:
    """Ids found while syncing one company, reused by apply."""

    users: dict[str, UserRef] = field(default_factory=dict)  # by principal
    by_id: dict[int, UserRef] = field(default_factory=dict)
    templates: dict[str, int] = field(default_factory=dict)  # name -> id
    projects: dict[str, int] = field(default_factory=dict)  # name and str(id) -> id (unique names only)
    members: dict[int, dict[int, str]] = field(default_factory=dict)  # synced project -> user id -> template


def split_name(name: str) -> tuple[str, str]:
    """'Alice Ng' -> ('Alice', 'Ng'); 'Cher' -> ('', 'Cher'): Procore requires a last name.

    Procore shows `first_name + " " + last_name`, so splitting at the first space gives the name back.
    """
    first, _, rest = name.strip().partition(" ")
    return (first, rest.strip()) if rest.strip() else ("", first)


def principal_of(user: shapes.User) -> str:
    email = str(user.get("email_address") or "").strip()
    return email.casefold() if email else f"id:{user.get('id')}"


def account_of(company: str, user: shapes.User, active: bool) -> Account:
    name = str(user.get("name") or f"{user.get('first_name') or ''} {user.get('last_name') or ''}").strip()
    login = user.get("last_login_at")  # date-time, nullable: when the user last logged in to Procore
    return Account(
        VENDOR, company, principal_of(user), active=active, email=str(user.get("email_address") or ""),
        display_name=name, native_id=str(user["id"]), last_sign_in=login if isinstance(login, str) else "",
    )  # fmt: skip


def template_name(member: shapes.Member | shapes.Added) -> str:
    template = member.get("permission_template")
    return (template.get("name") if template else None) or NO_TEMPLATE


def spellings(projects: Iterable[shapes.Project]) -> dict[int, str]:
    """Project id -> the one spelling its grants are keyed by: its name, unless another project of
    the company has the same name, or the name is also a project's id (the YAML's `"3001"` means the
    project with id 3001); then its id."""
    projects = list(projects)
    ids = {str(p["id"]) for p in projects}
    names = Counter(str(p.get("name") or "") for p in projects)
    spelled: dict[int, str] = {}
    for p in projects:
        name = str(p.get("name") or "")
        spelled[p["id"]] = name if name and names[name] == 1 and name not in ids else str(p["id"])
    return spelled


def closest(name: str, choices: Iterable[str]) -> str:
    found = difflib.get_close_matches(name, sorted(choices), n=3, cutoff=0.5)
    return f"; closest: {', '.join(found)}" if found else ""


class ProcoreConnector:
    vendor = VENDOR

    def __init__(self, api: ProcoreAPI) -> None:
        self.api = api
        self._cache: dict[str, CompanyCache] = {}
        self._unreadable: dict[ResourceKey, str] = {}

    def __repr__(self) -> str:
        return f"ProcoreConnector({self.api!r})"

    @property
    def stats(self) -> RequestStats:
        return self.api.stats

    async def aclose(self) -> None:
        await self.api.aclose()

    # -- rate budget ------------------------------------------------------------------------------

    @property
    def rate_budget(self) -> RateBudget:
        return self.api.pacer.budget

    def budget_warning(self, planned_requests: int) -> str | None:
        """A warning when `planned_requests` exceed what the current window has left."""
        budget = self.rate_budget
        if budget.remaining is None or planned_requests <= budget.remaining:
            return None
        wait = budget.seconds_to_reset(self.api.pacer.now())
        return (
            f"procore: about {planned_requests} requests are needed but only {budget.remaining} of "
            f"{budget.limit} remain in the current rate-limit window (resets in {wait:.0f} s); "
            "access will pause until it resets"
        )

    # -- sync -------------------------------------------------------------------------------------

    def _companies(self, scope: Scope) -> list[str]:
        companies = sorted({tenant for vendor, tenant in scope.tenants if vendor == VENDOR})
        allowed = self.api.settings.companies
        unknown = [c for c in companies if c not in allowed]
        if unknown:
            raise UnknownTenantConfig(
                VENDOR,
                unknown,
                f"is managed in access/ but not listed in PROCORE_COMPANY_ID ({', '.join(allowed)});"
                " add it there if these credentials may use it",
            )
        return companies

    async def sync(self, scope: Scope) -> VendorState:
        companies = self._companies(scope)
        before = self.api.stats.requests
        if not companies:
            return VendorState(VENDOR, (), frozenset())
        # The token and the company list first; while they travel, the checks of the answers are built.
        listing = asyncio.ensure_future(self.api.companies(companies[0]))
        await prepare_while_sending(
            shapes.TOKEN, shapes.COMPANIES, shapes.TEMPLATES, shapes.PROJECTS, shapes.USERS, shapes.MEMBERS
        )
        try:
            visible = {str(c["id"]) for c in await listing}
        except VendorError as exc:
            if exc.status not in (403, 404):
                raise
            why = f": {exc.said}" if isinstance(exc, ProcoreError) and exc.said else ""
            raise ConfigError(
                f"procore: Procore refused company {companies[0]} (HTTP {exc.status}{why}): check PROCORE_COMPANY_ID "
                "(the company ids the app is installed in) and that the app is installed there "
                "(Company Admin > App Management)"
            ) from None
        hidden = [c for c in companies if c not in visible]
        if hidden:
            raise HiddenTenantError(
                VENDOR,
                hidden,
                "is not visible to the app; install it there "
                "(Company Admin > App Management) or fix PROCORE_COMPANY_ID",
            )
        slots = asyncio.Semaphore(self.api.settings.concurrency)
        self._unreadable = {}
        parts = await asyncio.gather(*(self._sync_company(c, scope, slots) for c in companies))
        accounts: list[Account] = []
        grants: set[Grant] = set()
        templates: set[str] = set()
        known: set[str] = set()
        aliases: dict[tuple[str, str], dict[str, str]] = {}
        for company, (part_accounts, part_grants, part_templates, part_known, part_aliases) in zip(
            companies, parts, strict=True
        ):
            accounts += part_accounts
            grants |= part_grants
            templates |= part_templates
            known |= part_known
            if part_aliases:
                aliases[(company, PROJECT)] = part_aliases
        return VendorState(
            VENDOR,
            tuple(accounts),
            frozenset(grants),
            catalog={PROJECT: frozenset(templates)},
            known_resources={PROJECT: frozenset(known)},
            requests=self.api.stats.requests - before,
            unreadable=dict(self._unreadable),
            aliases=aliases,
        )

    async def _sync_company(
        self, company: str, scope: Scope, slots: asyncio.Semaphore
    ) -> tuple[list[Account], set[Grant], set[str], set[str], dict[str, str]]:
        # The user directory pages (one after another: each follows the previous page's Link) run
        # side by side with the project member lists. When the YAML manages every active project,
        # a project's member list is asked for as soon as a page of projects names it; else once the
        # whole list is in (a project named in the YAML may be named by another page too).
        directory = asyncio.gather(self.api.active_users(company), self.api.inactive_users(company))
        lists: dict[int, asyncio.Future[list[shapes.Member] | str]] = {}
        every = (VENDOR, company, PROJECT) in scope.all_of

        def members(project_id: int) -> Coroutine[Any, Any, list[shapes.Member] | str]:
            return self._members(company, project_id, slots, directory)

        def listed(page: list[shapes.Project]) -> None:
            for p in page:
                if every and p.get("active") is not False and p["id"] not in lists:
                    lists[p["id"]] = asyncio.ensure_future(members(p["id"]))

        try:
            templates, projects = await asyncio.gather(
                self.api.permission_templates(company), self.api.projects(company, listed)
            )
            cache = CompanyCache()
            managed = self._managed_projects(company, scope, projects, cache)
            for pid in managed:
                if pid not in lists:
                    lists[pid] = asyncio.ensure_future(members(pid))
            (active, inactive), rows_of = await asyncio.gather(
                directory, asyncio.gather(*(lists[pid] for pid in managed))
            )
        except BaseException:
            pending: list[asyncio.Future[Any]] = [directory, *lists.values()]
            for each in pending:
                each.cancel()  # a failure elsewhere: stop paging the directory and the projects
            await asyncio.gather(*pending, return_exceptions=True)
            raise
        return self._records(company, cache, projects, templates, managed, active, inactive, rows_of)

    async def _members(
        self, company: str, project_id: int, slots: asyncio.Semaphore, directory: asyncio.Future[Any]
    ) -> list[shapes.Member] | str:
        """Active and inactive members (the latter only when the company has inactive users, known
        once the directory is read), or why the project cannot be read."""
        try:
            async with slots:
                rows = await self.api.project_users(company, project_id)
            _, inactive_users = await asyncio.shield(directory)
            if inactive_users:
                async with slots:
                    rows += await self.api.project_inactive_users(company, project_id)
        except VendorError as exc:
            if exc.status != 403:
                raise
            return (
                "HTTP 403 on its users: enable the Directory tool on the project and add the project "
                "to the app's permitted projects"
            )
        return rows

    def _records(
        self,
        company: str,
        cache: CompanyCache,
        projects: list[shapes.Project],
        templates: list[shapes.Template],
        managed: dict[int, str],
        active: list[shapes.User],
        inactive: list[shapes.User],
        lists: list[list[shapes.Member] | str],
    ) -> tuple[list[Account], set[Grant], set[str], set[str], dict[str, str]]:
        unreadable = self._unreadable
        cache.templates = {found: t["id"] for t in templates if (found := t.get("name"))}
        accounts: dict[int, Account] = {}
        for users, is_active in ((active, True), (inactive, False)):
            for user in users:
                uid = user["id"]
                if uid in accounts:
                    continue
                account = account_of(company, user, is_active)
                accounts[uid] = account
                ref = UserRef(uid, account.principal, is_active)
                cache.by_id[uid] = ref
                if account.principal not in cache.users or is_active:
                    cache.users[account.principal] = ref
        grants: set[Grant] = set()
        for (pid, spelling), rows in zip(managed.items(), lists, strict=True):
            if isinstance(rows, str):
                unreadable[ResourceKey(VENDOR, company, PROJECT, spelling)] = rows
                continue
            cache.members[pid] = {}
            for row in rows:
                uid = row["id"]
                principal = accounts[uid].principal if uid in accounts else principal_of(row)
                template = template_name(row)
                cache.members[pid][uid] = template
                grants.add(Grant(VENDOR, company, PROJECT, spelling, template, principal))
        self._cache[company] = cache
        known = {str(p["name"]) for p in projects if p.get("name")} | {str(p["id"]) for p in projects}
        aliases = {str(pid): name for pid, name in spellings(projects).items() if name != str(pid)}
        return list(accounts.values()), grants, set(cache.templates), known, aliases

    def _managed_projects(
        self, company: str, scope: Scope, projects: list[shapes.Project], cache: CompanyCache
    ) -> dict[int, str]:
        """Project id -> the spelling grants use (`spellings`), of each project the YAML names (by
        name or by id) and, when it manages them all, of every active project."""
        by_id = {str(p["id"]): p for p in projects}
        spelled = spellings(projects)
        by_name: dict[str, list[shapes.Project]] = defaultdict(list)
        for p in projects:
            by_name[p.get("name") or ""].append(p)
        for name, found in by_name.items():
            if len(found) == 1:
                cache.projects[name] = found[0]["id"]
        cache.projects.update({key: p["id"] for key, p in by_id.items()})
        managed: dict[int, str] = {}
        for key in scope.resources:
            if key.vendor != VENDOR or key.tenant != company or key.resource_type != PROJECT:
                continue
            project = by_id.get(key.resource)
            if project is None:
                named = by_name.get(key.resource, [])
                if len(named) > 1:
                    ids = ", ".join(str(p["id"]) for p in named)
                    raise VendorError(
                        VENDOR,
                        f"company {company} has {len(named)} projects named {key.resource!r} (ids {ids}); "
                        "name the project by its id in access/",
                    )
                project = named[0] if named else None
            if project is not None:
                managed.setdefault(project["id"], spelled[project["id"]])
        if (VENDOR, company, PROJECT) in scope.all_of:
            for p in projects:
                pid = p["id"]
                if pid in managed or p.get("active") is False:
                    continue
                managed[pid] = spelled[pid]
        return managed

    # -- apply ------------------------------------------------------------------------------------

    async def apply(self, change: Change) -> ChangeResult:
        if change.tenant not in self.api.settings.companies:
            return ChangeResult(
                change.id, Outcome.FAILED, f"company {change.tenant} is not in PROCORE_COMPANY_ID"
            )
        try:
            if change.action is Action.CREATE_ACCOUNT:
                return await self._create(change)
            if change.action is Action.DEACTIVATE_ACCOUNT:
                return await self._set_active(change, False)
            if change.is_account_change:
                if change.resource != "active":
                    return ChangeResult(
                        change.id,
                        Outcome.FAILED,
                        f"procore accounts have no managed attribute {change.resource!r}",
                    )
                return await self._set_active(change, change.entitlement == "true")
            if change.resource_type != PROJECT:
                return ChangeResult(
                    change.id, Outcome.FAILED, f"procore has no resource type {change.resource_type!r}"
                )
            if change.action is Action.REVOKE:
                return await self._revoke(change)
            return await self._ensure_member(change)  # grant, or update of the template
        except _Failed as failed:
            return ChangeResult(change.id, Outcome.FAILED, failed.message)
        except VendorError as exc:
            if exc.status in (400, 403, 404, 409, 422):  # this change cannot be made; others can
                return ChangeResult(change.id, Outcome.FAILED, exc.message)
            raise

    def _company(self, company: str) -> CompanyCache:
        return self._cache.setdefault(company, CompanyCache())

    async def _user(self, company: str, principal: str) -> UserRef | None:
        cache = self._company(company)
        ref = cache.users.get(principal)
        if ref is None and "@" in principal:
            found = await self.api.find_user(company, principal)
            if found is not None:
                ref = UserRef(found["id"], principal, found.get("is_active") is not False)
                cache.users[principal] = ref
        return ref

    async def _account(self, change: Change) -> UserRef | None:
        """The directory user a change acts on: the account the plan matched, else (an account
        created in this run, or a plan without ids) a lookup by email."""
        if not change.account_id:
            return await self._user(change.tenant, change.principal)
        uid = int(change.account_id)
        cache = self._company(change.tenant)
        ref = cache.by_id.get(uid)
        if ref is None:
            found = await self.api.company_user(change.tenant, uid)
            if found is None:
                return None
            ref = cache.by_id[uid] = UserRef(uid, change.principal, found.get("is_active") is not False)
        return ref

    async def _project_id(self, company: str, resource: str) -> int:
        cache = self._company(company)
        if resource not in cache.projects:
            self._managed_projects(company, Scope(), await self.api.projects(company), cache)
        if resource not in cache.projects:
            raise _Failed(f"no project {resource!r} in company {company}{closest(resource, cache.projects)}")
        return cache.projects[resource]

    async def _template_id(self, company: str, name: str) -> int:
        cache = self._company(company)
        if name not in cache.templates:
            templates = await self.api.permission_templates(company)
            cache.templates.update({found: t["id"] for t in templates if (found := t.get("name"))})
        if name not in cache.templates:
            raise _Failed(
                f"no permission template {name!r} in company {company}{closest(name, cache.templates)}"
            )
        return cache.templates[name]

    async def _create(self, change: Change) -> ChangeResult:
        company = change.tenant
        attrs = dict(change.attributes)
        ref = await self._user(company, change.principal)
        if ref is not None:
            if ref.active:
                return ChangeResult(change.id, Outcome.ALREADY, "the directory account exists", str(ref.id))
            result = await self._set_active(change, True)
            return ChangeResult(
                change.id, result.outcome, "reactivated the existing directory account", result.vendor_ref
            )
        first, last = split_name(attrs.get("name") or attrs.get("email") or change.principal)
        user: Json = {"email_address": attrs.get("email") or change.principal, "first_name": first,
                      "last_name": last, "is_active": True}  # fmt: skip
        for key in ("job_title", "employee_id"):
            if attrs.get(key):
                user[key] = attrs[key]
        if "is_employee" in attrs:
            user["is_employee"] = attrs["is_employee"].lower() == "true"
        response = await self.api.create_user(company, user)
        if response.status_code == 409:  # created meanwhile, or by this request when its answer was lost
            self._company(company).users.pop(change.principal, None)
            ref = await self._user(company, change.principal)
            if ref is not None and ref.active:
                if retried(response):
                    return ChangeResult(
                        change.id, Outcome.APPLIED, "created (Procore's first answer was lost)", str(ref.id)
                    )
                return ChangeResult(change.id, Outcome.ALREADY, "the directory account exists", str(ref.id))
        _expect(response, 201)
        uid = read(response, shapes.USER)["id"]
        self._company(company).users[change.principal] = UserRef(uid, change.principal, True)
        return ChangeResult(change.id, Outcome.APPLIED, vendor_ref=str(uid))

    async def _set_active(self, change: Change, active: bool) -> ChangeResult:
        company = change.tenant
        ref = await self._account(change)
        if ref is None:
            if change.account_id and not active:  # Procore answered 404 for exactly this user
                return ChangeResult(change.id, Outcome.ALREADY, f"Procore has no user {change.account_id}")
            raise _Failed(f"no directory account for {change.principal} in company {company}")
        if ref.active == active:
            return ChangeResult(change.id, Outcome.ALREADY, vendor_ref=str(ref.id))
        response = await self.api.set_user_active(company, ref.id, active)
        if response.status_code == 404 and active:  # not in the inactive list: already active
            ref.active = True
            return ChangeResult(change.id, Outcome.ALREADY, vendor_ref=str(ref.id))
        _expect(response, 200)
        ref.active = active
        return ChangeResult(change.id, Outcome.APPLIED, vendor_ref=str(ref.id))

    async def _membership(self, company: str, project_id: int, user_id: int) -> str | None:
        """The member's template name, or None when not a member (cache from sync, else a lookup)."""
        synced = self._company(company).members.get(project_id)
        if synced is not None:
            return synced.get(user_id)
        row = await self.api.project_user(company, project_id, user_id)
        if row is None:  # an inactive user's membership is on the inactive list only
            inactive = await self.api.project_inactive_users(company, project_id)
            row = next((r for r in inactive if r["id"] == user_id), None)
        return None if row is None else template_name(row)

    def _remember(self, company: str, project_id: int, user_id: int, template: str | None) -> None:
        members = self._company(company).members.get(project_id)
        if members is None:
            return
        if template is None:
            members.pop(user_id, None)
        else:
            members[user_id] = template

    async def _member_ids(self, change: Change) -> tuple[int, int]:
        ref = await self._account(change)
        if ref is None:
            raise _Failed(f"no directory account for {change.principal} in company {change.tenant}")
        return await self._project_id(change.tenant, change.resource), ref.id

    async def _ensure_member(self, change: Change) -> ChangeResult:
        company = change.tenant
        project_id, user_id = await self._member_ids(change)
        template_id = await self._template_id(company, change.entitlement)
        ref = f"{project_id}/{user_id}"
        current = await self._membership(company, project_id, user_id)
        if current == change.entitlement:
            return ChangeResult(change.id, Outcome.ALREADY, vendor_ref=ref)
        note = ""
        if current is None:
            response = await self.api.add_to_project(company, project_id, user_id, template_id)
            _expect(response, 201)
            # An add does not change the template of someone already on the project (documented for
            # bulk_add, and what the single add does too): check what Procore now holds.
            held = await self._added_template(company, project_id, user_id, response)
            if held != change.entitlement:
                response = await self.api.assign_template(company, project_id, user_id, template_id)
                _expect(response, 200)
                note = f"was already on the project as {held}; template changed"
        else:  # change the template in place: one request
            response = await self.api.assign_template(company, project_id, user_id, template_id)
            _expect(response, 200)
        self._remember(company, project_id, user_id, change.entitlement)
        return ChangeResult(change.id, Outcome.APPLIED, note, vendor_ref=ref)

    async def _added_template(
        self, company: str, project_id: int, user_id: int, response: httpx.Response
    ) -> str:
        """The template a member holds after an add: from the answer when it says, else read back."""
        body = read(response, shapes.ADDED) if response.content else None
        if body is not None and "permission_template" in body:
            return template_name(body)
        row = await self.api.project_user(company, project_id, user_id)
        if row is None:
            raise _Failed(f"Procore answered 201 to adding user {user_id} to project {project_id}, but the "
                          "project does not list them")  # fmt: skip
        return template_name(row)

    async def _revoke(self, change: Change) -> ChangeResult:
        company = change.tenant
        ref_user = await self._account(change)
        if ref_user is None:
            if change.account_id:  # Procore answered 404 for exactly this user
                return ChangeResult(change.id, Outcome.ALREADY, f"Procore has no user {change.account_id}")
            raise _Failed(f"no directory account for {change.principal} in company {company}")
        project_id = await self._project_id(company, change.resource)
        ref = f"{project_id}/{ref_user.id}"
        if await self._membership(company, project_id, ref_user.id) is None:
            return ChangeResult(change.id, Outcome.ALREADY, vendor_ref=ref)
        response = await self.api.remove_from_project(company, project_id, ref_user.id)
        self._remember(company, project_id, ref_user.id, None)
        if response.status_code == 404:
            if retried(response):  # this request removed them; its first answer was lost
                return ChangeResult(
                    change.id, Outcome.APPLIED, "removed (Procore's first answer was lost)", ref
                )
            return ChangeResult(change.id, Outcome.ALREADY, vendor_ref=ref)
        _expect(response, 204)
        return ChangeResult(change.id, Outcome.APPLIED, vendor_ref=ref)


class _Failed(Exception):
    """One change failed; the run goes on (the message is user-facing and secret-free)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code == status:
        acknowledged(response, "a JSON object or no body")
        return
    if response.status_code == 401:
        raise VendorError(
            VENDOR, "the API refused a fresh token (HTTP 401); check the app's credentials", status=401
        )
    raise _Failed(error_summary(response))
