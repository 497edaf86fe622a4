"""The data behind the Concur simulator: users with identity, spend profile and roles.

Kept apart from the HTTP routes so it can be seeded (from `sandbox_seed.concur()` or at scale),
saved to and loaded from JSON, and changed by SCIM PATCH operations the way Concur documents them.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.catalogs.concur import ENTITLEMENT_ROLES, EXCLUSIVE_PAIRS, GROUP_AWARE, ROLES
from reconciler.jsonfile import read_json, write_json

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SPEND_USER = "urn:ietf:params:scim:schemas:extension:spend:2.0:User"
SPEND_ROLE = "urn:ietf:params:scim:schemas:extension:spend:2.0:Role"
SPEND_APPROVER = "urn:ietf:params:scim:schemas:extension:spend:2.0:Approver"
SPEND_DELEGATE = "urn:ietf:params:scim:schemas:extension:spend:2.0:Delegate"
KNOWN_ROLES: frozenset[str] = frozenset(code for code, _, _ in ROLES)
ROLE_BY_ENTITLEMENT = {v: k for k, v in ENTITLEMENT_ROLES.items()}
ENTITLEMENTS = ("Expense", "Invoice", "Locate", "Request", "Travel", "Analytics", "Unified Analytics")
_EXCLUSIVE = {frozenset(p) for p in EXCLUSIVE_PAIRS}
STATE_VERSION = 1


class PatchError(Exception):
    """A PATCH the service refuses at once (HTTP 400 SCIM error)."""

    def __init__(self, scim_type: str, detail: str) -> None:
        super().__init__(detail)
        self.scim_type = scim_type
        self.detail = detail


@dataclass(slots=True)
class SimUser:
    id: str
    user_name: str
    email: str
    given_name: str = ""
    family_name: str = ""
    active: bool = True
    employee_number: str = ""
    entitlements: list[str] = field(default_factory=list)
    roles: dict[str, list[str]] = field(default_factory=dict)  # explicit roles: code -> roleGroups
    spend: dict[str, Any] | None = None  # the Spend User extension; None: no spend profile
    version: int = 0
    created: str = "2024-01-15T09:00:00.000Z"
    modified: str = "2024-01-15T09:00:00.000Z"

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    def role_names(self) -> list[str]:
        """Roles as the spend profile shows them: the entitlement-backed ones, then the explicit ones."""
        derived = [ROLE_BY_ENTITLEMENT[e] for e in self.entitlements if e in ROLE_BY_ENTITLEMENT]
        return [*derived, *(r for r in self.roles if r not in derived)]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "userName": self.user_name, "email": self.email, "givenName": self.given_name,
            "familyName": self.family_name, "active": self.active, "employeeNumber": self.employee_number,
            "entitlements": self.entitlements, "roles": self.roles, "spend": self.spend,
            "version": self.version,
            "created": self.created, "modified": self.modified,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimUser:
        return cls(
            id=str(data["id"]), user_name=str(data["userName"]), email=str(data.get("email", "")),
            given_name=str(data.get("givenName", "")), family_name=str(data.get("familyName", "")),
            active=bool(data.get("active", True)), employee_number=str(data.get("employeeNumber", "")),
            entitlements=list(data.get("entitlements", [])),
            roles={str(k): list(v) for k, v in dict(data.get("roles", {})).items()},
            spend=data.get("spend"), version=int(data.get("version", 0)),
            created=str(data.get("created", "")), modified=str(data.get("modified", "")),
        )  # fmt: skip


DEFAULT_SPEND = {"country": "US", "locale": "en-US", "reimbursementCurrency": "USD", "ledgerCode": "DEFAULT"}


COMPANY_ID = "6d3ac6b4-6fa0-4c4e-9f5e-1f3b2c7a9e10"


@dataclass(slots=True)
class ConcurState:
    company_id: str = COMPANY_ID
    users: dict[str, SimUser] = field(default_factory=dict)  # insertion order is listing order

    def add(self, user: SimUser) -> SimUser:
        self.users[user.id] = user
        return user

    def by_user_name(self, user_name: str) -> SimUser | None:
        folded = user_name.casefold()
        return next((u for u in self.users.values() if u.user_name.casefold() == folded), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "state_version": STATE_VERSION,
            "company_id": self.company_id,
            "users": [u.to_json() for u in self.users.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConcurState:
        state = cls(company_id=str(data.get("company_id", COMPANY_ID)))
        for row in data.get("users", []):
            state.add(SimUser.from_json(row))
        return state

    def save(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> ConcurState:
        return cls.from_json(read_json(path))

    @classmethod
    def generate(
        cls, users: int, roles: int = 30, *, seed: int = 7, domain: str = "scale.example"
    ) -> ConcurState:
        """A large company: every user has Expense; each holds 0-3 of the first `roles` explicit roles."""
        rng = random.Random(seed)
        explicit = [c for c, _, _ in ROLES if c not in ENTITLEMENT_ROLES and c not in GROUP_AWARE]
        explicit += [c for c, _, _ in ROLES if c in GROUP_AWARE]
        pool = explicit[: max(0, roles - 1)]  # EXP_USER (through the Expense entitlement) is the other one
        state = cls()
        for n in range(users):
            held: dict[str, list[str]] = {}
            for code in rng.sample(pool, k=min(len(pool), rng.choice((0, 0, 1, 1, 2, 3)))):
                if not any(frozenset((code, other)) in _EXCLUSIVE for other in held):
                    held[code] = []
            state.add(
                SimUser(
                    id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    user_name=f"user{n:06d}@{domain}",
                    email=f"user{n:06d}@{domain}",
                    given_name="User",
                    family_name=f"{n:06d}",
                    active=rng.random() > 0.05,
                    employee_number=str(100000 + n),
                    entitlements=["Expense"],
                    roles=held,
                    spend=dict(DEFAULT_SPEND),
                )
            )
        return state


# --- PATCH -------------------------------------------------------------------------------------

_ROLES_PATH = f"{SPEND_ROLE}:roles"
_ROLE_FILTER = re.compile(rf'^{re.escape(_ROLES_PATH)}\[roleName eq "([^"]*)"\]$')
_ENTITLEMENT_FILTER = re.compile(r'^entitlements\[value eq "([^"]*)"\]$')


@dataclass(slots=True)
class RoleChange:
    """The Spend Role part of a PATCH: applied when the provision completes."""

    add: list[tuple[str, list[str]]] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    replace: list[tuple[str, list[str]]] | None = None
    remove_all: bool = False

    @property
    def empty(self) -> bool:
        return not (self.add or self.remove or self.remove_all or self.replace is not None)


@dataclass(slots=True)
class CoreChange:
    """Identity (core) attributes, applied at once as Concur does."""

    values: dict[str, Any] = field(default_factory=dict)
    spend: dict[str, Any] | None = None  # the Spend User extension (processed with the provision)
    entitlements_add: list[str] = field(default_factory=list)
    entitlements_remove: list[str] = field(default_factory=list)
    entitlements_replace: list[str] | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.values
            or self.entitlements_add
            or self.entitlements_remove
            or self.entitlements_replace is not None
        )


def _roles_value(value: Any) -> list[tuple[str, list[str]]]:
    items = value if isinstance(value, list) else [value]
    roles: list[tuple[str, list[str]]] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("roleName"), str):
            raise PatchError("invalidValue", "each role needs a roleName")
        groups = item.get("roleGroups") or []
        if not isinstance(groups, list):
            raise PatchError("invalidValue", "roleGroups must be an array of strings")
        roles.append((item["roleName"], [str(g) for g in groups]))
    return roles


def parse_patch(body: Any) -> tuple[CoreChange, RoleChange]:
    """Split a PatchOp into its identity part and its Spend Role part; PatchError if malformed."""
    if not isinstance(body, dict) or "urn:ietf:params:scim:api:messages:2.0:PatchOp" not in body.get(
        "schemas", []
    ):
        raise PatchError("invalidSyntax", "the request body must be a PatchOp")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise PatchError("invalidSyntax", "Operations must be a non-empty array")
    core, roles = CoreChange(), RoleChange()
    for op in operations:
        if not isinstance(op, dict) or str(op.get("op", "")).lower() not in ("add", "replace", "remove"):
            raise PatchError("invalidSyntax", "each operation needs op add, replace or remove")
        kind = str(op["op"]).lower()
        path = op.get("path")
        value = op.get("value")
        if path is None:
            if kind == "remove" or not isinstance(value, dict):
                raise PatchError(
                    "noTarget", "remove needs a path; add and replace without a path need an object"
                )
            for key, item in value.items():
                _apply_path(core, roles, kind, str(key), item)
            continue
        _apply_path(core, roles, kind, str(path), value)
    return core, roles


def _apply_path(core: CoreChange, roles: RoleChange, kind: str, path: str, value: Any) -> None:
    if path in (SPEND_USER, f"{SPEND_USER}:") and kind in ("add", "replace"):
        # Spend User provisioning PATCH: the extension as an object (add/replace, no path)
        if not isinstance(value, dict):
            raise PatchError("invalidValue", f"{SPEND_USER} takes an object")
        core.spend = {**(core.spend or {}), **value}
        return
    if path in (SPEND_ROLE, f"{SPEND_ROLE}:"):
        if kind == "remove":
            roles.remove_all = True
        elif isinstance(value, dict) and "roles" in value:
            _apply_path(core, roles, kind, _ROLES_PATH, value["roles"])
        else:
            raise PatchError("invalidValue", f"{SPEND_ROLE} takes an object with roles")
        return
    if path == _ROLES_PATH:
        if kind == "add":
            roles.add.extend(_roles_value(value))
        elif kind == "replace":
            roles.replace = _roles_value(value)  # the whole list: roles not in it are removed
        else:
            roles.remove_all = True
        return
    match = _ROLE_FILTER.match(path)
    if match:
        if kind != "remove":
            raise PatchError("invalidPath", "a roleName filter is supported for remove only")
        roles.remove.append(match.group(1))
        return
    if path == "entitlements":
        values = value if isinstance(value, list) else [value]
        if any(v not in ENTITLEMENTS for v in values):
            raise PatchError("invalidValue", f"entitlements must be among {', '.join(ENTITLEMENTS)}")
        if kind == "add":
            core.entitlements_add.extend(values)
        elif kind == "replace":
            core.entitlements_replace = list(values)
        else:
            core.entitlements_replace = []
        return
    match = _ENTITLEMENT_FILTER.match(path)
    if match:
        if kind != "remove":
            raise PatchError("invalidPath", "an entitlements filter is supported for remove only")
        core.entitlements_remove.append(match.group(1))
        return
    if path in ("active", "userName", "displayName", "name.givenName", "name.familyName"):
        if kind == "remove":
            raise PatchError("mutability", f"{path} cannot be removed")
        if path == "active" and not isinstance(value, bool):
            raise PatchError("invalidValue", "active must be true or false")
        if path != "active" and not isinstance(value, str):
            raise PatchError("invalidValue", f"{path} must be a string")
        core.values[path] = value
        return
    if path == "name" and isinstance(value, dict):
        for key in ("givenName", "familyName"):
            if key in value:
                core.values[f"name.{key}"] = str(value[key])
        return
    raise PatchError("invalidPath", f"unsupported path {path!r}")


def apply_core(user: SimUser, change: CoreChange) -> bool:
    """Apply the identity part; True if anything changed."""
    before = (user.active, user.user_name, user.given_name, user.family_name, list(user.entitlements))
    for path, value in change.values.items():
        if path == "active":
            user.active = bool(value)
        elif path == "userName":
            user.user_name = str(value)
        elif path == "name.givenName":
            user.given_name = str(value)
        elif path == "name.familyName":
            user.family_name = str(value)
    if change.entitlements_replace is not None:
        user.entitlements = list(dict.fromkeys(change.entitlements_replace))
    user.entitlements = [e for e in user.entitlements if e not in change.entitlements_remove]
    for item in change.entitlements_add:
        if item not in user.entitlements:
            user.entitlements.append(item)
    return before != (user.active, user.user_name, user.given_name, user.family_name, user.entitlements)


@dataclass(frozen=True, slots=True)
class RoleOutcome:
    result: str  # "success", "no-op" or "error"
    messages: tuple[str, ...] = ()
    roles: dict[str, list[str]] | None = None  # the roles after the change, when result is success


def check_roles(user: SimUser, change: RoleChange) -> RoleOutcome:
    """Validate the Spend Role part against the documented rules; compute the roles it leaves."""
    if change.empty:
        return RoleOutcome("no-op")
    if user.spend is None:
        return RoleOutcome(
            "error", ("The Spend User does not exist: provision the Spend User extension first",)
        )
    named = [code for code, _ in change.add] + list(change.remove) + [c for c, _ in change.replace or []]
    errors = [f"Invalid roleName: {code}" for code in named if code not in KNOWN_ROLES]
    errors += [
        f"{code} maps to the {ENTITLEMENT_ROLES[code]} entitlement and cannot be modified through the Spend"
        " Role extension; change the user's entitlements instead"
        for code in dict.fromkeys(named)
        if code in ENTITLEMENT_ROLES
    ]
    if errors:
        return RoleOutcome("error", tuple(errors))
    roles = {} if change.remove_all else {k: list(v) for k, v in user.roles.items()}
    if change.replace is not None:
        roles = {code: groups for code, groups in change.replace}
    for code in change.remove:
        roles.pop(code, None)
    for code, groups in change.add:
        merged = roles.get(code, [])
        roles[code] = merged + [g for g in groups if g not in merged]
    conflicts = [
        f"A user cannot be assigned {a} and {b}"
        for a, b in EXCLUSIVE_PAIRS
        if a in roles and b in roles and not (a in user.roles and b in user.roles)
    ]
    if conflicts:
        return RoleOutcome("error", tuple(conflicts))
    if roles == user.roles:
        return RoleOutcome("no-op")
    return RoleOutcome("success", roles=roles)


def seed_roles(user: SimUser, codes: Iterable[str]) -> None:
    """Give a seeded user roles: entitlement-backed ones through entitlements, the others explicitly."""
    for code in codes:
        if code in ENTITLEMENT_ROLES:
            if ENTITLEMENT_ROLES[code] not in user.entitlements:
                user.entitlements.append(ENTITLEMENT_ROLES[code])
        else:
            user.roles.setdefault(code, [])
