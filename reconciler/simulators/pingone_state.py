"""The PingOne simulator's data: one environment's users, populations, groups, roles, assignments.

Kept as plain dicts keyed by id (the JSON the simulator serves, minus what it computes), with
indexes for the questions the API asks (a group's direct members, a user's groups and role
assignments). `to_json`/`from_json` persist it for the sandbox; `from_seed` builds it from
`reconciler.sandbox_seed.pingone()`; `generate` builds a large one for tests and the benchmark.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox_seed import VendorSeed

NAMESPACE = uuid.UUID("5f0c1ad4-0000-4000-8000-000000000001")

# Built-in roles (GET /v1/roles); names from the OpenAPI document's EnumRoleName.
BUILT_IN_ROLES: dict[str, tuple[str, ...]] = {
    "Organization Admin": ("ORGANIZATION",),
    "Environment Admin": ("ORGANIZATION", "ENVIRONMENT"),
    "Identity Data Admin": ("ENVIRONMENT", "POPULATION"),
    "Identity Data Read Only": ("ENVIRONMENT", "POPULATION"),
    "Help Desk Admin": ("ENVIRONMENT", "POPULATION"),
    "Client Application Developer": ("ENVIRONMENT",),
    "Application Owner": ("APPLICATION",),
    "Configuration Read Only": ("ENVIRONMENT",),
    "Custom Roles Admin": ("ORGANIZATION", "ENVIRONMENT"),
    "DaVinci Admin": ("ENVIRONMENT",),
    "DaVinci Admin Read Only": ("ENVIRONMENT",),
}

TIMESTAMP = "2026-01-05T09:00:00.000Z"
SEED_NESTING = {"Contractor Leads": "VPN"}  # sandbox extra: child group -> the group it is nested in
SEED_APPLICATIONS = ("Harbor Intranet",)  # sandbox extra: a scope for application roles


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


@dataclass
class PingOneState:
    environment_id: str
    organization_id: str
    populations: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)  # built-in, global
    custom_roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    direct: dict[str, dict[str, None]] = field(default_factory=dict)  # group id -> ordered user ids
    nested: dict[str, set[str]] = field(default_factory=dict)  # child group id -> parent group ids
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {user|group, role, scope..}
    clients: dict[str, str] = field(default_factory=dict)  # worker app client id -> secret
    client_names: dict[str, str] = field(default_factory=dict)  # client id -> application name
    # The audit trail (`GET /environments/{id}/activities`): one record per write, oldest first.
    activities: list[dict[str, Any]] = field(default_factory=list)
    # The organization's licences (`GET /organizations/{id}/licenses`); the environment's is `license_id`.
    licenses: dict[str, dict[str, Any]] = field(default_factory=dict)
    license_id: str = ""
    # indexes, rebuilt from the above
    user_groups: dict[str, set[str]] = field(default_factory=dict)
    user_assignments: dict[str, dict[str, None]] = field(default_factory=dict)
    group_assignments: dict[str, dict[str, None]] = field(default_factory=dict)

    def reindex(self) -> None:
        self.user_groups = {}
        for gid, members in self.direct.items():
            for uid in members:
                self.user_groups.setdefault(uid, set()).add(gid)
        self.user_assignments = {}
        self.group_assignments = {}
        for aid, assignment in self.assignments.items():
            if "user" in assignment:
                self.user_assignments.setdefault(assignment["user"], {})[aid] = None
            else:
                self.group_assignments.setdefault(assignment["group"], {})[aid] = None

    # ----- mutations used by the simulator and seeding -------------------------------------------

    def add_member(self, uid: str, gid: str) -> None:
        self.direct.setdefault(gid, {})[uid] = None
        self.user_groups.setdefault(uid, set()).add(gid)

    def remove_member(self, uid: str, gid: str) -> None:
        self.direct.get(gid, {}).pop(uid, None)
        self.user_groups.get(uid, set()).discard(gid)

    def add_assignment(
        self,
        holder: tuple[str, str],
        role_id: str,
        scope_type: str,
        scope_id: str,
        *,
        read_only: bool = False,
        assignment_id: str | None = None,
    ) -> str:
        kind, holder_id = holder
        aid = assignment_id or stable_id("assignment", kind, holder_id, role_id, scope_type, scope_id)
        self.assignments[aid] = {
            kind: holder_id,
            "role": role_id,
            "scope_type": scope_type,
            "scope_id": scope_id,
            "readOnly": read_only,
        }
        index = self.user_assignments if kind == "user" else self.group_assignments
        index.setdefault(holder_id, {})[aid] = None
        return aid

    def remove_assignment(self, aid: str) -> None:
        assignment = self.assignments.pop(aid)
        if "user" in assignment:
            self.user_assignments.get(assignment["user"], {}).pop(aid, None)
        else:
            self.group_assignments.get(assignment["group"], {}).pop(aid, None)

    def delete_user(self, uid: str) -> None:
        self.users.pop(uid)
        for gid in self.user_groups.pop(uid, set()):
            self.direct.get(gid, {}).pop(uid, None)
        for aid in list(self.user_assignments.pop(uid, {})):
            self.assignments.pop(aid, None)

    def new_user(
        self,
        username: str,
        email: str,
        given: str,
        family: str,
        population_id: str,
        *,
        enabled: bool = True,
        user_id: str | None = None,
        last_sign_on: str = "",
    ) -> dict[str, Any]:
        uid = user_id or stable_id("user", username)
        name: dict[str, str] = {"formatted": f"{given} {family}".strip()}
        if given:
            name["given"] = given
        if family:
            name["family"] = family
        user = {
            "id": uid,
            "username": username,
            "email": email,
            "name": name,
            "enabled": enabled,
            "population": {"id": population_id},
            "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP,
        }
        if last_sign_on:
            self.signed_on(user, last_sign_on)
        self.users[uid] = user
        return user

    @staticmethod
    def signed_on(user: dict[str, Any], at: str, remote_ip: str = "203.0.113.10") -> None:
        """The user signed on through a PingOne flow at `at` (ISO 8601, `...Z`): PingOne keeps the
        time and address of the last successful sign-on (`lastSignOn`, read-only in the API)."""
        user["lastSignOn"] = {"at": at, "remoteIp": remote_ip}

    def add_license(
        self, max_users: int | None, *, name: str = "Workforce", package: str = "WORKFORCE"
    ) -> str:
        """The environment's licence: `users.max` identities (None: the licence sets no maximum)."""
        lid = stable_id("license", self.organization_id, name)
        users: dict[str, Any] = {"allowProvisioning": True, "allowRoleAssignment": True}
        if max_users is not None:
            users["max"] = max_users
        self.licenses[lid] = {
            "id": lid,
            "name": name,
            "package": package,
            "status": "ACTIVE",
            "organization": {"id": self.organization_id},
            "beginsAt": TIMESTAMP,
            "users": users,
        }
        self.license_id = lid
        return lid

    def population_named(self, name: str) -> str:
        return next(pid for pid, p in self.populations.items() if p["name"] == name)

    def default_population(self) -> str:
        return next(
            (pid for pid, p in self.populations.items() if p.get("default")), next(iter(self.populations))
        )

    # ----- persistence -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "environment_id": self.environment_id,
            "organization_id": self.organization_id,
            "populations": self.populations,
            "users": self.users,
            "groups": self.groups,
            "roles": self.roles,
            "custom_roles": self.custom_roles,
            "applications": self.applications,
            "direct": {gid: list(members) for gid, members in self.direct.items()},
            "nested": {child: sorted(parents) for child, parents in self.nested.items()},
            "assignments": self.assignments,
            "clients": self.clients,
            "client_names": self.client_names,
            "activities": self.activities,
            "licenses": self.licenses,
            "license_id": self.license_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PingOneState:
        state = cls(
            environment_id=str(data["environment_id"]),
            organization_id=str(data["organization_id"]),
            populations=dict(data["populations"]),
            users=dict(data["users"]),
            groups=dict(data["groups"]),
            roles=dict(data["roles"]),
            custom_roles=dict(data.get("custom_roles", {})),
            applications=dict(data.get("applications", {})),
            direct={gid: dict.fromkeys(members) for gid, members in data["direct"].items()},
            nested={child: set(parents) for child, parents in data.get("nested", {}).items()},
            assignments=dict(data["assignments"]),
            clients=dict(data.get("clients", {})),
            client_names=dict(data.get("client_names", {})),
            activities=list(data.get("activities", [])),
            licenses=dict(data.get("licenses", {})),
            license_id=str(data.get("license_id", "")),
        )
        state.reindex()
        return state

    # ----- construction ----------------------------------------------------------------------------

    def add_population(self, name: str, *, default: bool = False) -> str:
        """A population (its id: stable for its name in this environment)."""
        pid = stable_id("population", self.environment_id, name)
        self.populations[pid] = {"id": pid, "name": name, "default": default, "createdAt": TIMESTAMP}
        return pid

    @classmethod
    def empty(
        cls, environment_id: str, organization_id: str, populations: Iterable[str] = ("Default",)
    ) -> PingOneState:
        state = cls(environment_id=environment_id, organization_id=organization_id)
        for rank, name in enumerate(populations):
            state.add_population(name, default=rank == 0)
        for name, applicable in BUILT_IN_ROLES.items():
            rid = stable_id("role", name)
            state.roles[rid] = {
                "id": rid,
                "name": name,
                "applicableTo": list(applicable),
                "description": f"{name} (built-in)",
                "permissions": [],
            }
        return state

    def add_group(self, name: str, *, user_filter: str = "", population_id: str = "") -> str:
        gid = stable_id("group", self.environment_id, name)
        group: dict[str, Any] = {"id": gid, "name": name, "description": f"{name} group"}
        if user_filter:
            group["userFilter"] = user_filter
        if population_id:
            group["population"] = {"id": population_id}
        self.groups[gid] = group
        self.direct.setdefault(gid, {})
        return gid

    def group_named(self, name: str) -> str:
        return next(gid for gid, g in self.groups.items() if g["name"] == name)

    def role_named(self, name: str) -> str:
        roles = {**self.roles, **self.custom_roles}
        return next(rid for rid, r in roles.items() if r["name"] == name)

    @classmethod
    def from_seed(cls, seed: VendorSeed, *, environment_id: str, organization_id: str) -> PingOneState:
        """The sandbox environment: the shared seed plus PingOne extras (ids, nesting, a dynamic group)."""
        populations = seed.resources.get("population", ("Default",))
        state = cls.empty(environment_id, organization_id, populations)
        for group in seed.resources.get("group", ()):
            if group == "All Staff":  # a dynamic group: members by rule, never revoked
                state.add_group(
                    group, user_filter=f'population.id eq "{state.population_named(populations[0])}"'
                )
            else:
                state.add_group(group)
        for app in SEED_APPLICATIONS:
            app_id = stable_id(environment_id, "application", app)
            state.applications[app_id] = {"id": app_id, "name": app, "enabled": True, "type": "WEB_APP"}
        names = {g["name"]: gid for gid, g in state.groups.items()}
        for child, parent in SEED_NESTING.items():
            if child in names and parent in names:
                state.nested.setdefault(names[child], set()).add(names[parent])
        for account in seed.accounts:
            given, _, family = account.display_name.partition(" ")
            login = account.attribute("login") or account.email
            state.new_user(
                login,
                account.email,
                given,
                family,
                state.population_named(account.attribute("population")),
                enabled=account.active,
                last_sign_on=account.last_sign_in,
            )
        by_email = {u["email"].casefold(): uid for uid, u in state.users.items()}
        for grant in seed.grants:
            uid = by_email[grant.principal]
            if grant.resource_type == "group":
                state.add_member(uid, state.group_named(grant.resource))
            elif grant.resource_type == "role":
                scope_type, scope_id = state.scope_of(grant.entitlement)
                state.add_assignment(("user", uid), state.role_named(grant.resource), scope_type, scope_id)
        return state

    def scope_of(self, entitlement: str) -> tuple[str, str]:
        kind, _, name = entitlement.partition("/")
        if kind == "environment":
            return "ENVIRONMENT", self.environment_id
        if kind == "organization":
            return "ORGANIZATION", self.organization_id
        if kind == "population":
            return "POPULATION", self.population_named(name)
        return "APPLICATION", next(a for a, app in self.applications.items() if app["name"] == name)

    @classmethod
    def generate(
        cls,
        *,
        users: int,
        groups: int,
        memberships: int,
        role_assignments: int,
        environment_id: str,
        organization_id: str,
        seed: int = 7,
    ) -> PingOneState:
        """A large environment for benchmarks: `memberships` direct memberships spread over groups."""
        rng = random.Random(seed)
        state = cls.empty(environment_id, organization_id, ("Employees", "Contractors"))
        pops = list(state.populations)
        uids: list[str] = []
        for n in range(users):
            uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            state.new_user(
                f"user{n:06d}@bench.example",
                f"user{n:06d}@bench.example",
                "User",
                f"N{n:06d}",
                pops[n % 10 == 0],
                user_id=uid,
            )
            uids.append(uid)
        gids = [state.add_group(f"Group {g:04d}") for g in range(groups)]
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < memberships:
            pairs.add((rng.randrange(users), rng.randrange(groups)))
        for u, g in sorted(pairs, key=lambda p: (p[1], p[0])):
            state.add_member(uids[u], gids[g])
        env_admin = state.role_named("Environment Admin")
        data_admin = state.role_named("Identity Data Admin")
        for n in range(role_assignments):
            role = env_admin if n % 4 == 0 else data_admin
            state.add_assignment(("user", uids[rng.randrange(users)]), role, "ENVIRONMENT", environment_id)
        return state
