"""Read one PingOne environment into the normalized records, as cheaply as the API allows.

Requests (U users, P = ceil(U / users page), G managed groups, m_g members of group g):
- 1 token, 1 populations page, ceil(groups / 1000) group pages, P user pages;
- per managed group, ceil(m_g / users page) pages of `users?filter=memberOfGroups[id eq "g"]`
  (the member list comes through the users collection). A group whose `directMemberCounts` equals
  its member count holds only direct members; otherwise each member's `memberOfGroups` (one request
  per distinct such user, cached) tells DIRECT from INDIRECT; a dynamic group's members are all
  indirect unless it has direct ones;
- only when roles are managed: 2 role lists (built-in `/v1/roles`, custom), the applications (the
  scopes of application roles), then one
  `users/{id}/roleAssignments` per user. PingOne has no environment-wide list of assignments and
  no user filter on roles, so completeness (a hand-granted admin role anywhere) costs U requests;
  they run `max_concurrency` at a time while the user pages still stream in.
- only when roles are exhaustive (`all_of`): one `groups/{id}/roleAssignments` per group, since a
  role held through a group is access too (shown as indirect, never revoked).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from reconciler.connectors import pingone_shapes as shapes
from reconciler.connectors.base import VendorState
from reconciler.connectors.pingone_api import PingOneApi, PingOneHttpError
from reconciler.errors import AccessError
from reconciler.records import Account, Grant, ResourceKey, Scope

VENDOR = "pingone"
PAGE_LIMIT = {"limit": "1000"}


def principal_of(user: shapes.User) -> str:
    email = user.get("email") or ""
    return email.casefold() if email else f"login:{user.get('username') or ''}"


def display_name(user: shapes.User) -> str:
    name = user.get("name") or {}
    return name.get("formatted") or " ".join(part for part in (name.get("given"), name.get("family")) if part)


def first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first AccessError in a (nested) exception group, else its first exception."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop(0)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            leaves.append(current)
    return next((e for e in leaves if isinstance(e, AccessError)), leaves[0])


@dataclass
class Directory:
    """Ids and facts found while syncing, reused by apply (which looks up what is missing)."""

    environment_id: str
    organization_id: str = ""
    populations: dict[str, str] = field(default_factory=dict)  # id -> name
    groups: dict[str, shapes.Group] = field(default_factory=dict)  # id -> group
    roles: dict[str, str] = field(default_factory=dict)  # id -> name
    applications: dict[str, str] | None = None  # id -> name, fetched only when needed
    users: dict[str, shapes.User] = field(default_factory=dict)  # id -> user
    by_principal: dict[str, list[str]] = field(default_factory=dict)  # principal -> user ids
    assignments: dict[str, list[shapes.RoleAssignment]] = field(default_factory=dict)  # user id -> its own

    def remember_user(self, user: shapes.User) -> None:
        uid = user["id"]
        self.users[uid] = user
        ids = self.by_principal.setdefault(principal_of(user), [])
        if uid not in ids:
            ids.append(uid)

    def forget_user(self, uid: str) -> None:
        user = self.users.pop(uid, None)
        if user is not None:
            ids = self.by_principal.get(principal_of(user), [])
            if uid in ids:
                ids.remove(uid)
        self.assignments.pop(uid, None)

    def named(self, table: dict[str, str], name: str) -> str | None:
        return next((i for i, n in table.items() if n == name), None)

    def group_named(self, name: str) -> str | None:
        return next((gid for gid, g in self.groups.items() if g.get("name") == name), None)

    def scope_text(self, scope: shapes.Scope) -> str:
        """The YAML's spelling of a role assignment's scope."""
        kind, sid = scope.get("type") or "", scope.get("id") or ""
        if kind == "ENVIRONMENT" and sid == self.environment_id:
            return "environment"
        if kind == "ORGANIZATION":
            self.organization_id = self.organization_id or sid
            return "organization"
        if kind == "POPULATION" and sid in self.populations:
            return f"population/{self.populations[sid]}"
        if kind == "APPLICATION" and self.applications and sid in self.applications:
            return f"application/{self.applications[sid]}"
        return f"{kind}/{sid}"


@dataclass
class _Found:
    accounts: list[Account] = field(default_factory=list)
    grants: set[Grant] = field(default_factory=set)
    indirect: set[Grant] = field(default_factory=set)
    read_only: set[Grant] = field(default_factory=set)
    members: dict[str, list[shapes.User]] = field(default_factory=dict)  # group id -> members


class Syncer:
    def __init__(self, api: PingOneApi, directory: Directory, scope: Scope) -> None:
        self.api = api
        self.d = directory
        self.scope = scope
        self.found = _Found()
        self._memberships: dict[str, asyncio.Future[dict[str, str]]] = {}
        # (assignment to a group, a member of it): access held through the group
        self.group_held: list[tuple[shapes.RoleAssignment, shapes.User]] = []
        key = (VENDOR, "", "role")
        self.roles_managed = key in scope.all_of or any(k.resource_type == "role" for k in scope.resources)
        self.roles_exhaustive = key in scope.all_of

    def managed(self, resource_type: str, name: str) -> bool:
        return self.scope.authority(ResourceKey(VENDOR, "", resource_type, name)) is not None

    def grant(self, resource_type: str, name: str, entitlement: str, principal: str) -> Grant:
        return Grant(VENDOR, "", resource_type, name, entitlement, principal)

    async def run(self) -> VendorState:
        """Sync; a failure in one of the concurrent tasks surfaces as itself, not as a group."""
        try:
            return await self._run()
        except ExceptionGroup as group:
            raise first_leaf(group) from None

    async def _run(self) -> VendorState:
        before = self.api.stats.requests
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.load_populations())
            groups = tg.create_task(self.load_groups())
            if self.roles_managed:
                tg.create_task(self.load_roles())
                tg.create_task(self.load_applications())
        await self.load_users_and_members(groups.result())
        if self.roles_managed:
            self.collect_role_grants()
        names = {g.get("name") or "" for g in self.d.groups.values()}
        state = VendorState(
            VENDOR,
            tuple(self.found.accounts),
            frozenset(self.found.grants),
            catalog={
                "role": frozenset(
                    {
                        "environment",
                        "organization",
                        *(f"population/{p}" for p in self.d.populations.values()),
                        *(f"application/{a}" for a in (self.d.applications or {}).values()),
                    }
                )
            },
            known_resources={
                "group": frozenset(names),
                "population": frozenset(self.d.populations.values()),
                "role": frozenset(self.d.roles.values()),
            },
            indirect=frozenset(self.found.indirect),
            read_only=frozenset(self.found.read_only),
            requests=self.api.stats.requests - before,
        )
        return state

    async def load_populations(self) -> None:
        for p in await self.api.collect("/populations", shapes.POPULATIONS, params=PAGE_LIMIT):
            self.d.populations[p["id"]] = p.get("name") or ""

    async def load_groups(self) -> list[str]:
        """All groups; returns the ids whose members this sync reads."""
        everything = (VENDOR, "", "group") in self.scope.all_of
        wanted: list[str] = []
        for g in await self.api.collect("/groups", shapes.GROUPS, params=PAGE_LIMIT):
            self.d.groups[g["id"]] = g
            if everything or self.managed("group", g.get("name") or ""):
                wanted.append(g["id"])
        return wanted

    async def load_roles(self) -> None:
        built_in, custom = await asyncio.gather(
            self.api.collect("//roles", shapes.ROLES), self.api.collect("/roles", shapes.ROLES)
        )
        for role in [*built_in, *custom]:
            self.d.roles[role["id"]] = role.get("name") or ""

    async def load_users_and_members(self, group_ids: list[str]) -> None:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        workers = self.api.settings.max_concurrency if self.roles_managed else 0

        async def produce() -> None:
            try:
                async for page in self.api.pages(
                    "/users", shapes.USERS, params=PAGE_LIMIT, action="list users"
                ):
                    for user in page:
                        self.add_account(user)
                        if workers:
                            queue.put_nowait(user["id"])
            finally:
                for _ in range(workers):
                    queue.put_nowait(None)

        async def role_worker() -> None:
            while (uid := await queue.get()) is not None:
                self.d.assignments[uid] = await self.api.items(
                    f"/users/{uid}/roleAssignments", shapes.ROLE_ASSIGNMENTS, action="read role assignments"
                )

        async with asyncio.TaskGroup() as tg:
            tg.create_task(produce())
            for _ in range(workers):
                tg.create_task(role_worker())
            for gid in group_ids:
                tg.create_task(self.load_members(gid))
            if self.roles_exhaustive:
                for gid in list(self.d.groups):
                    tg.create_task(self.load_group_roles(gid))

    def add_account(self, user: shapes.User) -> None:
        self.d.remember_user(user)
        ref = user.get("population")
        population = self.d.populations.get(ref["id"], "") if ref else ""
        attributes = (("login", user.get("username") or ""), ("population", population))
        self.found.accounts.append(
            Account(
                VENDOR,
                "",
                principal_of(user),
                active=user.get("enabled") is not False,
                email=user.get("email") or "",
                display_name=display_name(user),
                attributes=attributes,
                native_id=user["id"],
            )
        )

    async def members_of(self, gid: str) -> list[shapes.User]:
        if gid not in self.found.members:
            flt = {"filter": f'memberOfGroups[id eq "{gid}"]', **PAGE_LIMIT}
            self.found.members[gid] = await self.api.collect("/users", shapes.USERS, params=flt)
        return self.found.members[gid]

    async def load_members(self, gid: str) -> None:
        group = self.d.groups[gid]
        name = group.get("name") or ""
        members = await self.members_of(gid)
        counts = group.get("directMemberCounts")
        if counts is None:  # not in this list response: read the group itself
            counts = (await self.api.get_json(f"/groups/{gid}", shapes.GROUP)).get("directMemberCounts") or {}
        direct_count = counts.get("users") or 0
        if direct_count >= len(members):
            kinds = {u["id"]: "DIRECT" for u in members}
        elif direct_count == 0:
            kinds = {u["id"]: "INDIRECT" for u in members}
        else:
            kinds = {u["id"]: (await self.memberships(u["id"])).get(gid, "INDIRECT") for u in members}
        for user in members:
            g = self.grant("group", name, "member", principal_of(user))
            (self.found.grants if kinds[user["id"]] == "DIRECT" else self.found.indirect).add(g)

    async def memberships(self, uid: str) -> dict[str, str]:
        """A user's groups with DIRECT/INDIRECT; one request per user, shared between groups."""
        task = self._memberships.get(uid)
        if task is None:

            async def fetch() -> dict[str, str]:
                items = await self.api.collect(
                    f"/users/{uid}/memberOfGroups", shapes.MEMBERSHIPS, params=PAGE_LIMIT
                )
                return {m["id"]: m.get("type") or "DIRECT" for m in items}

            task = self._memberships[uid] = asyncio.ensure_future(fetch())
        return await task

    async def load_group_roles(self, gid: str) -> None:
        assignments = await self.api.items(
            f"/groups/{gid}/roleAssignments", shapes.ROLE_ASSIGNMENTS, action="read group role assignments"
        )
        if not assignments:
            return
        members = await self.members_of(gid)
        self.group_held.extend((a, user) for a in assignments for user in members)

    async def load_applications(self) -> None:
        """Applications, the scope of application roles (`application/<name>`). A worker app that may
        not read them still syncs; such scopes then show as APPLICATION/<id>."""
        try:
            apps = await self.api.collect("/applications", shapes.APPLICATIONS)
        except PingOneHttpError as exc:
            if exc.status != 403:
                raise
            return
        self.d.applications = {a["id"]: a.get("name") or "" for a in apps}

    def collect_role_grants(self) -> None:
        held = [(a, self.d.users[uid], False) for uid, items in self.d.assignments.items() for a in items]
        for a, user, through_group in [*held, *((a, user, True) for a, user in self.group_held)]:
            role_id = a["role"]["id"]
            name = self.d.roles.get(role_id, f"role:{role_id}")
            if not self.managed("role", name):
                continue
            g = self.grant("role", name, self.d.scope_text(a["scope"]), principal_of(user))
            if through_group:
                self.found.indirect.add(g)
            elif a.get("readOnly"):  # the worker app may not delete it: a finding, never a revoke
                self.found.read_only.add(g)
            else:
                self.found.grants.add(g)
