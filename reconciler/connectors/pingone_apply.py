"""Apply one change to PingOne: accounts, population moves, group memberships, role assignments.

Ids come from the sync's `Directory`; whatever is missing is looked up. "Already a member",
"already assigned" and "already gone" (404 `NOT_FOUND`) are `ALREADY`; a `readOnly` role
assignment is `SKIPPED`, never attempted.
"""

from __future__ import annotations

from reconciler.changes import Action, Change
from reconciler.connectors import pingone_shapes as shapes
from reconciler.connectors.answers import acknowledged, read
from reconciler.connectors.base import ChangeResult, Outcome
from reconciler.connectors.http import retried
from reconciler.connectors.pingone_api import JSON, PingOneApi, PingOneHttpError
from reconciler.connectors.pingone_sync import Directory, principal_of

DUPLICATE = "UNIQUENESS_VIOLATION"


class Skip(Exception):
    """Ends a change early with an outcome (a lookup found nothing to do, or cannot proceed)."""

    def __init__(self, outcome: Outcome, message: str, ref: str = "") -> None:
        super().__init__(message)
        self.outcome, self.message, self.ref = outcome, message, ref


class Applier:
    def __init__(self, api: PingOneApi, directory: Directory) -> None:
        self.api = api
        self.d = directory

    async def apply(self, change: Change) -> ChangeResult:
        try:
            outcome, message, ref = await self.dispatch(change)
        except Skip as skip:
            outcome, message, ref = skip.outcome, skip.message, skip.ref
        except PingOneHttpError as exc:
            outcome, message, ref = Outcome.FAILED, exc.message, ""
        return ChangeResult(change.id, outcome, message, ref)

    async def dispatch(self, change: Change) -> tuple[Outcome, str, str]:
        if change.action is Action.CREATE_ACCOUNT:
            return await self.create_account(change)
        if change.action is Action.DEACTIVATE_ACCOUNT:
            return await self.deactivate(change)
        if change.is_account_change:
            return await self.update_account(change)
        if change.resource_type == "group" and change.action in (Action.GRANT, Action.REVOKE):
            uid, gid = (
                await self.user_id(change.principal, change),
                await self.group_id(change.resource, change),
            )
            if change.action is Action.GRANT:
                return await self.add_member(uid, gid)
            return await self.remove_member(uid, gid)
        if change.resource_type == "role" and change.action in (Action.GRANT, Action.REVOKE, Action.UPDATE):
            uid = await self.user_id(change.principal, change)
            if change.action is Action.GRANT:
                return await self.assign(uid, change.resource, change.entitlement)
            if change.action is Action.REVOKE:
                return await self.unassign(uid, change.resource, change.entitlement)
            outcome, message, ref = await self.assign(uid, change.resource, change.entitlement)
            if outcome not in (Outcome.APPLIED, Outcome.ALREADY):
                return outcome, message, ref
            await self.unassign(uid, change.resource, change.before)
            return Outcome.APPLIED, f"scope changed from {change.before} to {change.entitlement}", ref
        return Outcome.FAILED, f"pingone cannot {change.action} a {change.resource_type!r}", ""

    # ----- lookups -------------------------------------------------------------------------------------

    async def find_users(self, principal: str) -> list[str]:
        ids = [uid for uid in self.d.by_principal.get(principal, []) if uid in self.d.users]
        if ids:
            return ids
        field, value = ("username", principal[6:]) if principal.startswith("login:") else ("email", principal)
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        for user in await self.api.collect(
            "/users", shapes.USERS, params={"filter": f'{field} eq "{escaped}"'}
        ):
            if principal_of(user) == principal:
                self.d.remember_user(user)
        return [uid for uid in self.d.by_principal.get(principal, []) if uid in self.d.users]

    async def user_id(self, principal: str, change: Change) -> str:
        """The user a change acts on: the account the plan matched (by email or by a login override),
        else, for a user created in this run or a plan without ids, a lookup by email."""
        if change.account_id:
            return change.account_id
        ids = await self.find_users(principal)
        if not ids:  # never "already gone": PingOne did not say so about any account
            raise Skip(Outcome.FAILED, f"no PingOne user with {principal}")
        if len(ids) > 1:
            raise Skip(
                Outcome.FAILED,
                f"{len(ids)} PingOne users match {principal} ({', '.join(ids)}); resolve by hand",
            )
        return ids[0]

    async def group_id(self, name: str, change: Change) -> str:
        gid = self.d.group_named(name)
        if gid is None:
            escaped = name.replace('"', '\\"')
            for group in await self.api.collect(
                "/groups", shapes.GROUPS, params={"filter": f'name eq "{escaped}"'}
            ):
                self.d.groups[group["id"]] = group
            gid = self.d.group_named(name)
        if gid is None:
            gone = change.action is Action.REVOKE
            raise Skip(Outcome.ALREADY if gone else Outcome.FAILED, f"no PingOne group named {name!r}")
        return gid

    async def population_id(self, name: str) -> str:
        pid = self.d.named(self.d.populations, name)
        if pid is None:
            for p in await self.api.collect("/populations", shapes.POPULATIONS):
                self.d.populations[p["id"]] = p.get("name") or ""
            pid = self.d.named(self.d.populations, name)
        if pid is None:
            known = ", ".join(sorted(self.d.populations.values()))
            raise Skip(Outcome.FAILED, f"no PingOne population named {name!r} (known: {known})")
        return pid

    async def role_id(self, name: str) -> str:
        rid = self.d.named(self.d.roles, name)
        if rid is None:
            for role in [
                *await self.api.collect("//roles", shapes.ROLES),
                *await self.api.collect("/roles", shapes.ROLES),
            ]:
                self.d.roles[role["id"]] = role.get("name") or ""
            rid = self.d.named(self.d.roles, name)
        if rid is None:
            raise Skip(Outcome.FAILED, f"no PingOne role named {name!r}")
        return rid

    async def scope_of(self, text: str) -> tuple[str, str]:
        kind, _, name = text.partition("/")
        if kind == "environment" and not name:
            return "ENVIRONMENT", self.d.environment_id
        if kind == "organization" and not name:
            if not self.d.organization_id:
                environment = await self.api.get_json("", shapes.ENVIRONMENT, action="read the environment")
                organization = environment.get("organization")
                self.d.organization_id = organization["id"] if organization else ""
            return "ORGANIZATION", self.d.organization_id
        if kind == "population" and name:
            return "POPULATION", await self.population_id(name)
        if kind == "application" and name:
            if self.d.applications is None:
                apps = await self.api.collect("/applications", shapes.APPLICATIONS)
                self.d.applications = {a["id"]: a.get("name") or "" for a in apps}
            app = self.d.named(self.d.applications, name)
            if app is None:
                raise Skip(Outcome.FAILED, f"no PingOne application named {name!r}")
            return "APPLICATION", app
        if kind.isupper() and name:  # an unresolved scope as sync spells it: TYPE/id
            return kind, name
        raise Skip(Outcome.FAILED, f"cannot read role scope {text!r}")

    def seen(self, uid: str) -> shapes.User:
        """What the sync (or this run) saw of a user: only its id when nothing."""
        return self.d.users.get(uid) or {"id": uid}

    async def assignments(self, uid: str) -> list[shapes.RoleAssignment]:
        if uid not in self.d.assignments:
            self.d.assignments[uid] = await self.api.items(
                f"/users/{uid}/roleAssignments", shapes.ROLE_ASSIGNMENTS, action="read role assignments"
            )
        return self.d.assignments[uid]

    # ----- accounts --------------------------------------------------------------------------------------

    async def create_account(self, change: Change) -> tuple[Outcome, str, str]:
        attrs = dict(change.attributes)
        email = attrs.get("email") or change.principal
        if await self.find_users(change.principal):
            uid = await self.user_id(change.principal, change)
            return Outcome.ALREADY, "the user exists", uid
        given, _, family = attrs.get("name", "").partition(" ")
        body: JSON = {
            "username": attrs.get("login") or email,
            "email": email,
            "name": {
                k: v
                for k, v in (("given", given), ("family", family), ("formatted", attrs.get("name", "")))
                if v
            },
        }
        if attrs.get("population"):
            body["population"] = {"id": await self.population_id(attrs["population"])}
        response = await self.api.request("POST", "/users", json=body)
        if response.status_code == 201:
            user = read(response, shapes.USER)
            self.d.remember_user(user)
            self.d.assignments[user["id"]] = []
            return Outcome.APPLIED, "", user["id"]
        error = PingOneHttpError(response, f"create user {body['username']}")
        if DUPLICATE in error.detail_codes:
            # The username is taken: by this very request when its first answer was lost (the retry
            # after a dropped connection meets the user it created), or by someone else.
            mine = await self.created_meanwhile(str(body["username"]), email)
            if mine is not None:
                self.d.remember_user(mine)
                if retried(response):
                    return Outcome.APPLIED, "created (PingOne's first answer was lost)", mine["id"]
                return Outcome.ALREADY, "the user exists", mine["id"]
            raise Skip(Outcome.FAILED, f"{error.message} (another user holds this username)")
        raise error

    async def created_meanwhile(self, username: str, email: str) -> shapes.User | None:
        """The user holding `username`, if it is the one this change creates (same email)."""
        escaped = username.replace("\\", "\\\\").replace('"', '\\"')
        found = await self.api.collect("/users", shapes.USERS, params={"filter": f'username eq "{escaped}"'})
        for user in found:
            if (user.get("username") or "").casefold() == username.casefold():
                return user if (user.get("email") or "").casefold() == email.casefold() else None
        return None

    async def deactivate(self, change: Change) -> tuple[Outcome, str, str]:
        uid = await self.user_id(change.principal, change)
        if ("deprovision", "delete") in change.attributes:
            response = await self.api.request("DELETE", f"/users/{uid}")
            if response.status_code in (204, 404):
                self.d.forget_user(uid)
                done = response.status_code == 204 or retried(response)  # a 404: its answer was lost
                return (Outcome.APPLIED if done else Outcome.ALREADY), "deleted", uid
            raise PingOneHttpError(response, f"delete user {uid}")
        return await self.set_enabled(uid, False)

    async def set_enabled(self, uid: str, enabled: bool) -> tuple[Outcome, str, str]:
        if self.seen(uid).get("enabled") is enabled:
            return Outcome.ALREADY, "", uid
        response = await self.api.request("PUT", f"/users/{uid}/enabled", json={"enabled": enabled})
        if response.status_code == 404 and not enabled:  # PingOne says this user is gone
            return Outcome.ALREADY, f"PingOne has no user {uid}", uid
        if response.status_code != 200:
            raise PingOneHttpError(response, f"{'enable' if enabled else 'disable'} user {uid}")
        acknowledged(response, "the user's enabled state")
        self.d.users.setdefault(uid, {"id": uid})["enabled"] = enabled
        return Outcome.APPLIED, "", uid

    async def update_account(self, change: Change) -> tuple[Outcome, str, str]:
        uid = await self.user_id(change.principal, change)
        if change.resource == "active":
            return await self.set_enabled(uid, change.entitlement == "true")
        if change.resource == "population":
            pid = await self.population_id(change.entitlement)
            held = self.seen(uid).get("population")
            if held is not None and held["id"] == pid:
                return Outcome.ALREADY, "", uid
            response = await self.api.request("PUT", f"/users/{uid}/population", json={"id": pid})
            if response.status_code != 200:
                raise PingOneHttpError(response, f"move user {uid} to population {change.entitlement}")
            acknowledged(response, "the user's population")
            self.d.users.setdefault(uid, {"id": uid})["population"] = {"id": pid}
            return Outcome.APPLIED, "", uid
        if change.resource == "login":
            body = {"username": change.entitlement}
            email = self.seen(uid).get("email")
            if email:  # the OpenAPI User schema (used for PATCH too) requires email
                body["email"] = str(email)
            response = await self.api.request("PATCH", f"/users/{uid}", json=body)
            if response.status_code != 200:
                raise PingOneHttpError(response, f"rename user {uid} to {change.entitlement}")
            self.d.remember_user(read(response, shapes.USER))
            return Outcome.APPLIED, "", uid
        return Outcome.FAILED, f"pingone cannot update account attribute {change.resource!r}", uid

    # ----- groups ----------------------------------------------------------------------------------------

    async def add_member(self, uid: str, gid: str) -> tuple[Outcome, str, str]:
        response = await self.api.request("POST", f"/users/{uid}/memberOfGroups", json={"id": gid})
        if response.status_code == 201:
            acknowledged(response, "the group membership")
            return Outcome.APPLIED, "", gid
        error = PingOneHttpError(response, f"add user {uid} to group {gid}")
        if response.status_code in (400, 409):  # PingOne does not document the "already a member" status
            check = await self.api.request("GET", f"/users/{uid}/memberOfGroups/{gid}")
            if (
                check.status_code == 200
                and (read(check, shapes.MEMBERSHIP).get("type") or "DIRECT") == "DIRECT"
            ):
                if retried(response):  # this request added them; its first answer was lost
                    return Outcome.APPLIED, "added (PingOne's first answer was lost)", gid
                return Outcome.ALREADY, "already a direct member", gid
        raise error

    async def remove_member(self, uid: str, gid: str) -> tuple[Outcome, str, str]:
        response = await self.api.request("DELETE", f"/users/{uid}/memberOfGroups/{gid}")
        if response.status_code == 204:
            return Outcome.APPLIED, "", gid
        if response.status_code == 404:
            if retried(response):  # this request removed them; its first answer was lost
                return Outcome.APPLIED, "removed (PingOne's first answer was lost)", gid
            return Outcome.ALREADY, "not a direct member", gid
        raise PingOneHttpError(response, f"remove user {uid} from group {gid}")

    # ----- roles -----------------------------------------------------------------------------------------

    def matching(
        self, items: list[shapes.RoleAssignment], role_id: str, scope: tuple[str, str]
    ) -> list[shapes.RoleAssignment]:
        return [
            a
            for a in items
            if a["role"]["id"] == role_id and (a["scope"].get("type"), a["scope"].get("id")) == scope
        ]

    async def assign(self, uid: str, role: str, scope_text: str) -> tuple[Outcome, str, str]:
        role_id, scope = await self.role_id(role), await self.scope_of(scope_text)
        existing = self.matching(await self.assignments(uid), role_id, scope)
        if existing:
            return Outcome.ALREADY, "", existing[0]["id"]
        body = {"role": {"id": role_id}, "scope": {"id": scope[1], "type": scope[0]}}
        response = await self.api.request("POST", f"/users/{uid}/roleAssignments", json=body)
        if response.status_code == 201:
            created = read(response, shapes.ROLE_ASSIGNMENT)
            self.d.assignments.setdefault(uid, []).append(created)
            return Outcome.APPLIED, "", created["id"]
        error = PingOneHttpError(response, f"assign {role} ({scope_text}) to user {uid}")
        if DUPLICATE in error.detail_codes:
            self.d.assignments.pop(uid, None)
            if retried(response):  # this request assigned it; its first answer was lost
                return Outcome.APPLIED, "assigned (PingOne's first answer was lost)", ""
            return Outcome.ALREADY, "", ""
        raise error

    async def unassign(self, uid: str, role: str, scope_text: str) -> tuple[Outcome, str, str]:
        role_id, scope = await self.role_id(role), await self.scope_of(scope_text)
        found = self.matching(await self.assignments(uid), role_id, scope)
        if not found:
            return Outcome.ALREADY, "no such role assignment", ""
        locked = [a for a in found if a.get("readOnly")]
        if locked:
            ref = locked[0]["id"]
            return (
                Outcome.SKIPPED,
                f"role assignment {ref} ({role}, {scope_text}) is readOnly for this worker app: PingOne will "
                "not let it delete it; remove it in the PingOne console as an administrator who may",
                ref,
            )
        deleted = 0
        for assignment in found:
            aid = assignment["id"]
            response = await self.api.request("DELETE", f"/users/{uid}/roleAssignments/{aid}")
            if response.status_code not in (204, 404):
                raise PingOneHttpError(response, f"remove {role} ({scope_text}) from user {uid}")
            deleted += response.status_code == 204 or bool(retried(response))  # a 404: its answer was lost
            self.d.assignments[uid] = [a for a in self.d.assignments.get(uid, []) if a["id"] != aid]
        refs = ", ".join(a["id"] for a in found)
        if not deleted:
            return Outcome.ALREADY, "already gone", refs
        return Outcome.APPLIED, "", refs
