"""A PingOne Platform API simulator, faithful to the management OpenAPI document.

Serves `POST /{envId}/as/token` (client_credentials, basic or post) and, under `/v1`, users
(paged with `limit`/`cursor`, SCIM `filter` incl. `memberOfGroups[id eq ".."]`), a user's enabled
flag, population (moves only through `PUT …/population`), group memberships (DIRECT and INDIRECT:
nested groups and dynamic `userFilter` groups), role assignments (`readOnly` honoured),
populations, groups, built-in roles (`/v1/roles`), custom roles and the environment itself.

Faithful details worth knowing: the users page is capped below the `limit` asked for
(`users_page_cap`, 200 by default, as PingOne's paging docs warn); `_links.next.href` carries an
opaque cursor; `count` is omitted for large collections; errors are P1Error bodies
(`id`, `code`, `message`, `details[]`); 429 `REQUEST_LIMITED` with `Retry-After` once the rate
budget (`rate_limit` requests per second, bucket of `burst`) runs out.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

from reconciler.simulators.base import SimulatorBase, json_response, route_table
from reconciler.simulators.pingone_filter import FilterError, compile_filter, member_filter_group
from reconciler.simulators.pingone_state import PingOneState

Clock = Callable[[], float]
JSON = dict[str, Any]

MESSAGES = {
    400: (
        "INVALID_DATA",
        "The request could not be completed. One or more validation errors were in the request.",
    ),
    401: (
        "INVALID_TOKEN",
        "The request could not be completed. The provided access token is invalid or expired.",
    ),
    403: ("ACCESS_FAILED", "The request could not be completed. You do not have access to this resource."),
    404: ("NOT_FOUND", "The request could not be completed. The requested resource was not found."),
    405: ("METHOD_NOT_ALLOWED", "The request could not be completed. The method is not allowed."),
    408: ("REQUEST_TIMEOUT", "The request could not be completed. The request timed out."),
    429: ("REQUEST_LIMITED", "The request could not be completed. You have exceeded the rate limit."),
    500: ("UNEXPECTED_ERROR", "The request could not be completed. An unexpected error occurred."),
    502: ("UNEXPECTED_ERROR", "The request could not be completed. Bad gateway."),
    503: ("SERVICE_UNAVAILABLE", "The request could not be completed. The service is unavailable."),
}


def p1_error(
    status: int,
    message: str = "",
    details: Iterable[JSON] = (),
    headers: dict[str, str] | None = None,
    code: str = "",
) -> httpx.Response:
    default_code, default_message = MESSAGES.get(status, ("UNEXPECTED_ERROR", "Unexpected error."))
    body: JSON = {
        "id": str(uuid.uuid4()),
        "code": code or default_code,
        "message": message or default_message,
    }
    detail_list = list(details)
    if detail_list:
        body["details"] = detail_list
    return json_response(status, body, headers)


def _page_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _cursor_offset(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    text = base64.urlsafe_b64decode(padded.encode()).decode()
    if not text.startswith("o:"):
        raise ValueError(cursor)
    return int(text[2:])


class RateBudget:
    """A token bucket: `rate` requests per second, at most `burst` at once."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self) -> float | None:
        """None if a request may go now, else the seconds until one may."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


class PingOneSimulator(SimulatorBase):
    def __init__(
        self,
        state: PingOneState,
        *,
        users_page_cap: int = 200,
        page_cap: int = 1000,
        rate_limit: float | None = None,
        burst: int = 100,
        clock: Clock = time.monotonic,
        token_lifetime: int = 3600,
    ) -> None:
        super().__init__()
        self.state = state
        self.users_page_cap = users_page_cap
        self.page_cap = page_cap
        self.clock = clock
        self.budget = RateBudget(rate_limit, burst, clock) if rate_limit else None
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}  # access token -> expiry (clock time)
        self.version = 0  # bumped on every write; the sandbox saves only when it moved
        self.forbidden_once: set[str] = set()  # "METHOD /path" substrings answering 403 once (propagation)
        self._cache: dict[tuple[str, int], list[str]] = {}
        self._index: tuple[int, dict[str, int]] = (-1, {})
        e = "/v1/environments/{env}"
        self._match = route_table(
            {
                ("POST", "/{env}/as/token"): self.token,
                ("GET", "/v1/roles"): self.list_roles,
                ("GET", "/v1/roles/{role}"): self.get_role,
                ("GET", e): self.get_environment,
                ("GET", e + "/users"): self.list_users,
                ("POST", e + "/users"): self.create_user,
                ("GET", e + "/users/{user}"): self.get_user,
                ("PATCH", e + "/users/{user}"): self.update_user,
                ("PUT", e + "/users/{user}"): self.update_user,
                ("DELETE", e + "/users/{user}"): self.delete_user,
                ("GET", e + "/users/{user}/enabled"): self.get_enabled,
                ("PUT", e + "/users/{user}/enabled"): self.set_enabled,
                ("GET", e + "/users/{user}/population"): self.get_population,
                ("PUT", e + "/users/{user}/population"): self.set_population,
                ("GET", e + "/users/{user}/memberOfGroups"): self.list_memberships,
                ("POST", e + "/users/{user}/memberOfGroups"): self.add_membership,
                ("GET", e + "/users/{user}/memberOfGroups/{group}"): self.get_membership,
                ("DELETE", e + "/users/{user}/memberOfGroups/{group}"): self.remove_membership,
                ("GET", e + "/users/{user}/roleAssignments"): self.list_user_assignments,
                ("POST", e + "/users/{user}/roleAssignments"): self.create_user_assignment,
                ("GET", e + "/users/{user}/roleAssignments/{assignment}"): self.get_user_assignment,
                ("DELETE", e + "/users/{user}/roleAssignments/{assignment}"): self.delete_user_assignment,
                ("GET", e + "/populations"): self.list_populations,
                ("GET", e + "/populations/{population}"): self.get_population_by_id,
                ("GET", e + "/groups"): self.list_groups,
                ("GET", e + "/groups/{group}"): self.get_group,
                ("GET", e + "/groups/{group}/memberOfGroups"): self.list_group_nesting,
                ("GET", e + "/groups/{group}/roleAssignments"): self.list_group_assignments,
                ("GET", e + "/roles"): self.list_custom_roles,
                ("GET", e + "/applications"): self.list_applications,
            }
        )

    # ----- plumbing ------------------------------------------------------------------------------------

    def route(self, request: httpx.Request) -> httpx.Response:
        if self.budget is not None:
            wait = self.budget.take()
            if wait is not None:
                return p1_error(429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
        found = self._match(request)
        if found is None:
            known_path = any(
                self._match(httpx.Request(m, request.url)) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
            )
            return p1_error(405) if known_path else p1_error(404)
        handler, params = found
        if handler != self.token:
            denied = self.authenticate(request)
            if denied is not None:
                return denied
            line = f"{request.method} {request.url.path}"
            hit = next((m for m in self.forbidden_once if m in line), None)
            if hit is not None:
                self.forbidden_once.discard(hit)
                return p1_error(403, "The actor attempting to perform the request is not authorized.")
            env = params.pop("env", None)
            if env is not None and env != self.state.environment_id:
                return p1_error(404)
        else:
            params.pop("env", None)
        try:
            response: httpx.Response = handler(request, **params)
        except KeyError:
            return p1_error(404)
        except _BadRequest as exc:
            return p1_error(400, str(exc))
        if request.method != "GET" and 200 <= response.status_code < 300:
            self.version += 1
            self._cache.clear()
        return response

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response | None:
        if kind == "expire-token":
            self.tokens.clear()
            return None
        if kind == "429":
            return p1_error(429, headers={"Retry-After": "1"})
        if kind.isdigit():
            return p1_error(int(kind))
        return None

    def authenticate(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        expiry = self.tokens.get(token)
        if expiry is None or self.clock() >= expiry:
            return p1_error(401)
        return None

    def body(self, request: httpx.Request) -> JSON:
        try:
            data = json.loads(request.content or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _BadRequest("The request body is not a JSON object.")
        return data

    def base(self, request: httpx.Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc.decode()}/v1/environments/{self.state.environment_id}"

    def links(self, request: httpx.Request, path: str) -> JSON:
        return {"self": {"href": f"{self.base(request)}{path}"}}

    def env(self) -> JSON:
        return {"id": self.state.environment_id}

    def page(
        self, request: httpx.Request, kind: str, items: list[Any], render: Callable[[Any], JSON], cap: int
    ) -> httpx.Response:
        query = {k: v[-1] for k, v in parse_qs(request.url.query.decode(), keep_blank_values=True).items()}
        try:
            limit = int(query.get("limit", cap))
            offset = _cursor_offset(query["cursor"]) if "cursor" in query else 0
        except ValueError:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "limit|cursor",
                        "message": "limit must be 1..1000 and cursor must come from a next link",
                    }
                ],
            )
        if not 1 <= limit <= 1000:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "limit",
                        "message": "limit must be between 1 and 1000",
                        "innerError": {"rangeMinimumValue": 1, "rangeMaximumValue": 1000},
                    }
                ],
            )
        size = min(limit, cap)
        chunk = items[offset : offset + size]
        base = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path}"
        keep = {k: v for k, v in query.items() if k != "cursor"}
        links: JSON = {"self": {"href": str(request.url)}}
        if offset + size < len(items):
            links["next"] = {"href": base + "?" + urlencode({**keep, "cursor": _page_cursor(offset + size)})}
        body: JSON = {"_links": links, "_embedded": {kind: [render(i) for i in chunk]}, "size": len(chunk)}
        if len(items) <= 1000:
            body["count"] = len(items)
        return json_response(200, body)

    def collection(
        self, request: httpx.Request, kind: str, items: list[Any], render: Callable[[Any], JSON]
    ) -> httpx.Response:
        body: JSON = {
            "_links": {"self": {"href": str(request.url)}},
            "_embedded": {kind: [render(i) for i in items]},
            "count": len(items),
            "size": len(items),
        }
        return json_response(200, body)

    # ----- token ---------------------------------------------------------------------------------------

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                client_id = secret = ""
        if form.get("grant_type") != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
            )
        if not client_id or self.state.clients.get(client_id) != secret:
            return json_response(
                401, {"error": "invalid_client", "error_description": "Client authentication failed."}
            )
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + self.token_lifetime
        return json_response(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        )

    # ----- environment and roles -----------------------------------------------------------------------

    def get_environment(self, request: httpx.Request) -> httpx.Response:
        return json_response(
            200,
            {
                "id": self.state.environment_id,
                "name": "Sandbox",
                "type": "SANDBOX",
                "organization": {"id": self.state.organization_id},
            },
        )

    def render_role(self, role: JSON) -> JSON:
        return {**role, "_links": {"self": {"href": f"/v1/roles/{role['id']}"}}}

    def list_roles(self, request: httpx.Request) -> httpx.Response:
        return self.collection(request, "roles", list(self.state.roles.values()), self.render_role)

    def get_role(self, request: httpx.Request, role: str) -> httpx.Response:
        return json_response(200, self.render_role(self.state.roles[role]))

    def list_custom_roles(self, request: httpx.Request) -> httpx.Response:
        roles = [{**r, "environment": self.env(), "type": "CUSTOM"} for r in self.state.custom_roles.values()]
        return self.collection(request, "roles", roles, lambda r: r)

    def list_applications(self, request: httpx.Request) -> httpx.Response:
        apps = [{**a, "environment": self.env()} for a in self.state.applications.values()]
        return self.collection(request, "applications", apps, lambda a: a)

    # ----- users -----------------------------------------------------------------------------------------

    def render_user(self, uid: str) -> JSON:
        user = self.state.users[uid]
        return {
            **user,
            "environment": self.env(),
            "account": {"canAuthenticate": bool(user["enabled"]), "status": "OK"},
            "lifecycle": {"status": "ACCOUNT_OK"},
            "_links": {"self": {"href": f"/v1/environments/{self.state.environment_id}/users/{uid}"}},
        }

    def user_order(self) -> list[str]:
        key = ("", self.version)
        if key not in self._cache:
            self._cache[key] = list(self.state.users)
        return self._cache[key]

    def all_groups_of(self, uid: str) -> set[str]:
        """Every group the user is in: direct, through nesting, or by a dynamic rule."""
        found = set(self.state.user_groups.get(uid, set()))
        user = self.state.users[uid]
        for gid, group in self.state.groups.items():
            rule = group.get("userFilter")
            if rule and gid not in found and compile_filter(rule)(user):
                found.add(gid)
        frontier = list(found)
        while frontier:
            for parent in self.state.nested.get(frontier.pop(), set()):
                if parent not in found:
                    found.add(parent)
                    frontier.append(parent)
        return found

    def group_members(self, gid: str) -> list[str]:
        """Members of a group in user order: direct, of nested groups, and by its dynamic rule."""
        key = (gid, self.version)
        if key in self._cache:
            return self._cache[key]
        members: set[str] = set()
        seen: set[str] = set()
        pending = [gid]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            members.update(self.state.direct.get(current, {}))
            rule = self.state.groups.get(current, {}).get("userFilter")
            if rule:
                match = compile_filter(rule)
                members.update(uid for uid, user in self.state.users.items() if match(user))
            pending.extend(child for child, parents in self.state.nested.items() if current in parents)
        order = self.user_order()
        if len(members) * 8 < len(order):
            index = self.user_index()
            result = sorted(members, key=index.__getitem__)
        else:
            result = [uid for uid in order if uid in members]
        self._cache[key] = result
        return result

    def user_index(self) -> dict[str, int]:
        if self._index[0] != self.version or not self._index[1]:
            self._index = (self.version, {uid: n for n, uid in enumerate(self.user_order())})
        return self._index[1]

    def list_users(self, request: httpx.Request) -> httpx.Response:
        text = request.url.params.get("filter")
        order = self.user_order()
        if text:
            try:
                group = member_filter_group(text)
                if group is not None:
                    order = self.group_members(group)
                else:
                    match = compile_filter(text, lambda u: self.all_groups_of(str(u["id"])))
                    order = [uid for uid in order if match(self.state.users[uid])]
            except FilterError as exc:
                return p1_error(400, code="INVALID_FILTER", message=f"The filter is not valid: {exc}")
        return self.page(request, "users", order, self.render_user, self.users_page_cap)

    def create_user(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        username, email = body.get("username"), body.get("email")
        missing = [
            f for f, v in (("username", username), ("email", email)) if not isinstance(v, str) or not v
        ]
        if missing:
            return p1_error(
                400,
                details=[
                    {"code": "REQUIRED_VALUE", "target": f, "message": f"{f} is required"} for f in missing
                ],
            )
        assert isinstance(username, str) and isinstance(email, str)
        if any(u["username"].casefold() == username.casefold() for u in self.state.users.values()):
            return p1_error(
                400,
                details=[{"code": "UNIQUENESS_VIOLATION", "target": "username", "message": "must be unique"}],
            )
        population_id = (body.get("population") or {}).get("id") or self.state.default_population()
        if population_id not in self.state.populations:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "population.id",
                        "message": "population does not exist",
                    }
                ],
            )
        name = body.get("name") or {}
        user = self.state.new_user(
            username,
            email,
            name.get("given", ""),
            name.get("family", ""),
            population_id,
            user_id=str(uuid.uuid4()),
        )
        if name.get("formatted"):
            user["name"]["formatted"] = name["formatted"]
        return json_response(201, self.render_user(user["id"]))

    def get_user(self, request: httpx.Request, user: str) -> httpx.Response:
        body = self.render_user(user)
        include = request.url.params.get("include")
        if include == "memberOfGroupIDs":
            body["memberOfGroupIDs"] = sorted(self.all_groups_of(user))
        elif include == "memberOfGroupNames":
            body["memberOfGroupNames"] = sorted(
                self.state.groups[g]["name"] for g in self.all_groups_of(user)
            )
        return json_response(200, body)

    def update_user(self, request: httpx.Request, user: str) -> httpx.Response:
        record = self.state.users[user]
        body = self.body(request)
        moved = (body.get("population") or {}).get("id")
        if moved and moved != record["population"]["id"]:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "population",
                        "message": "population cannot be updated with this operation; use "
                        "PUT /users/{userID}/population",
                    }
                ],
            )
        if "enabled" in body and body["enabled"] != record["enabled"]:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "enabled",
                        "message": "enabled is read-only here; use PUT /users/{userID}/enabled",
                    }
                ],
            )
        username = body.get("username")
        taken = isinstance(username, str) and username.casefold() != record["username"].casefold()
        if taken and any(
            u["username"].casefold() == str(username).casefold() for u in self.state.users.values()
        ):
            return p1_error(
                400,
                details=[{"code": "UNIQUENESS_VIOLATION", "target": "username", "message": "must be unique"}],
            )
        for key in ("username", "email", "name", "title", "externalId"):
            if key in body:
                record[key] = body[key]
        return json_response(200, self.render_user(user))

    def delete_user(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.delete_user(user)
        return httpx.Response(204)

    def get_enabled(self, request: httpx.Request, user: str) -> httpx.Response:
        return json_response(
            200,
            {
                "enabled": self.state.users[user]["enabled"],
                "_links": self.links(request, f"/users/{user}/enabled"),
            },
        )

    def set_enabled(self, request: httpx.Request, user: str) -> httpx.Response:
        record = self.state.users[user]
        body = self.body(request)
        if not isinstance(body.get("enabled"), bool):
            return p1_error(
                400, details=[{"code": "INVALID_VALUE", "target": "enabled", "message": "must be boolean"}]
            )
        record["enabled"] = body["enabled"]
        return json_response(
            200, {"enabled": record["enabled"], "_links": self.links(request, f"/users/{user}/enabled")}
        )

    def get_population(self, request: httpx.Request, user: str) -> httpx.Response:
        pid = self.state.users[user]["population"]["id"]
        return json_response(200, {"id": pid, "_links": self.links(request, f"/users/{user}/population")})

    def set_population(self, request: httpx.Request, user: str) -> httpx.Response:
        record = self.state.users[user]
        pid = self.body(request).get("id")
        if pid not in self.state.populations:
            return p1_error(
                400,
                details=[{"code": "INVALID_VALUE", "target": "id", "message": "population does not exist"}],
            )
        old = record["population"]["id"]
        record["population"] = {"id": pid}
        for gid in list(self.state.user_groups.get(user, set())):  # population groups of the old population
            if self.state.groups[gid].get("population", {}).get("id") == old:
                self.state.remove_member(user, gid)
        return json_response(200, {"id": pid, "_links": self.links(request, f"/users/{user}/population")})

    # ----- group memberships -----------------------------------------------------------------------------

    def render_membership(self, uid: str, gid: str, expand: bool) -> JSON:
        direct = uid in self.state.direct.get(gid, {})
        item: JSON = {
            "id": gid,
            "name": self.state.groups[gid]["name"],
            "type": "DIRECT" if direct else "INDIRECT",
            "environment": self.env(),
            "_links": {
                "self": {
                    "href": f"/v1/environments/{self.state.environment_id}/users/{uid}/memberOfGroups/{gid}"
                }
            },
        }
        if expand:
            item["_embedded"] = {"group": self.render_group(gid)}
        return item

    def list_memberships(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.users[user]
        expand = request.url.params.get("expand") == "group"
        gids = sorted(self.all_groups_of(user), key=lambda g: self.state.groups[g]["name"])
        return self.page(
            request,
            "groupMemberships",
            gids,
            lambda g: self.render_membership(user, g, expand),
            self.page_cap,
        )

    def get_membership(self, request: httpx.Request, user: str, group: str) -> httpx.Response:
        self.state.users[user]
        if group not in self.all_groups_of(user):
            return p1_error(404)
        return json_response(
            200, self.render_membership(user, group, request.url.params.get("expand") == "group")
        )

    def add_membership(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.users[user]
        gid = self.body(request).get("id")
        group = self.state.groups.get(str(gid))
        if group is None:
            return p1_error(
                400, details=[{"code": "INVALID_VALUE", "target": "id", "message": "group does not exist"}]
            )
        if group.get("userFilter"):
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "id",
                        "message": "members of a dynamic group are set by its userFilter",
                    }
                ],
            )
        scoped = group.get("population", {}).get("id")
        if scoped and scoped != self.state.users[user]["population"]["id"]:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "id",
                        "message": "a population group can hold users of its population only",
                    }
                ],
            )
        if user in self.state.direct.get(str(gid), {}):
            return p1_error(
                400,
                details=[
                    {
                        "code": "UNIQUENESS_VIOLATION",
                        "target": "id",
                        "message": "The user is already a member of the group.",
                    }
                ],
            )
        self.state.add_member(user, str(gid))
        return json_response(201, self.render_membership(user, str(gid), False))

    def remove_membership(self, request: httpx.Request, user: str, group: str) -> httpx.Response:
        self.state.users[user]
        if user not in self.state.direct.get(group, {}):
            return p1_error(404)
        self.state.remove_member(user, group)
        return httpx.Response(204)

    # ----- role assignments --------------------------------------------------------------------------------

    def render_assignment(self, aid: str) -> JSON:
        a = self.state.assignments[aid]
        holder = f"users/{a['user']}" if "user" in a else f"groups/{a['group']}"
        return {
            "id": aid,
            "role": {"id": a["role"]},
            "scope": {"id": a["scope_id"], "type": a["scope_type"]},
            "environment": self.env(),
            "readOnly": bool(a.get("readOnly")),
            "_links": {
                "self": {
                    "href": f"/v1/environments/{self.state.environment_id}/{holder}/roleAssignments/{aid}"
                }
            },
        }

    def list_user_assignments(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.users[user]
        return self.collection(
            request,
            "roleAssignments",
            list(self.state.user_assignments.get(user, {})),
            self.render_assignment,
        )

    def get_user_assignment(self, request: httpx.Request, user: str, assignment: str) -> httpx.Response:
        if assignment not in self.state.user_assignments.get(user, {}):
            return p1_error(404)
        return json_response(200, self.render_assignment(assignment))

    def create_user_assignment(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.users[user]
        body = self.body(request)
        role_id = (body.get("role") or {}).get("id")
        scope = body.get("scope") or {}
        role = self.state.roles.get(str(role_id)) or self.state.custom_roles.get(str(role_id))
        if role is None:
            return p1_error(
                400,
                details=[{"code": "INVALID_VALUE", "target": "role.id", "message": "role does not exist"}],
            )
        scope_type, scope_id = scope.get("type"), scope.get("id")
        known = {
            "ENVIRONMENT": {self.state.environment_id},
            "ORGANIZATION": {self.state.organization_id},
            "POPULATION": set(self.state.populations),
            "APPLICATION": set(self.state.applications),
        }.get(str(scope_type))
        if known is None or scope_id not in known or scope_type not in role.get("applicableTo", [scope_type]):
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "scope",
                        "message": f"{role['name']} cannot be assigned at scope {scope_type}",
                    }
                ],
            )
        for aid in self.state.user_assignments.get(user, {}):
            a = self.state.assignments[aid]
            if (a["role"], a["scope_type"], a["scope_id"]) == (role_id, scope_type, scope_id):
                return p1_error(
                    400,
                    details=[
                        {
                            "code": "UNIQUENESS_VIOLATION",
                            "target": "role",
                            "message": "The role assignment already exists.",
                        }
                    ],
                )
        aid = self.state.add_assignment(
            ("user", user), str(role_id), str(scope_type), str(scope_id), assignment_id=str(uuid.uuid4())
        )
        return json_response(201, self.render_assignment(aid))

    def delete_user_assignment(self, request: httpx.Request, user: str, assignment: str) -> httpx.Response:
        if assignment not in self.state.user_assignments.get(user, {}):
            return p1_error(404)
        if self.state.assignments[assignment].get("readOnly"):
            return p1_error(403, "The actor attempting to perform the request is not authorized.")
        self.state.remove_assignment(assignment)
        return httpx.Response(204)

    def list_group_assignments(self, request: httpx.Request, group: str) -> httpx.Response:
        self.state.groups[group]
        return self.collection(
            request,
            "roleAssignments",
            list(self.state.group_assignments.get(group, {})),
            self.render_assignment,
        )

    # ----- populations and groups ------------------------------------------------------------------------

    def render_population(self, pid: str) -> JSON:
        p = self.state.populations[pid]
        count = sum(1 for u in self.state.users.values() if u["population"]["id"] == pid)
        return {
            **p,
            "environment": self.env(),
            "userCount": count,
            "_links": {"self": {"href": f"/v1/environments/{self.state.environment_id}/populations/{pid}"}},
        }

    def filtered(self, request: httpx.Request, records: dict[str, JSON]) -> list[str] | httpx.Response:
        text = request.url.params.get("filter")
        if not text:
            return list(records)
        try:
            match = compile_filter(text)
        except FilterError as exc:
            return p1_error(400, code="INVALID_FILTER", message=f"The filter is not valid: {exc}")
        return [rid for rid, record in records.items() if match(record)]

    def list_populations(self, request: httpx.Request) -> httpx.Response:
        ids = self.filtered(request, self.state.populations)
        if isinstance(ids, httpx.Response):
            return ids
        return self.page(request, "populations", ids, self.render_population, self.page_cap)

    def get_population_by_id(self, request: httpx.Request, population: str) -> httpx.Response:
        return json_response(200, self.render_population(population))

    def render_group(self, gid: str) -> JSON:
        g = self.state.groups[gid]
        return {
            **g,
            "environment": self.env(),
            "directMemberCounts": {"users": len(self.state.direct.get(gid, {}))},
            "_links": {"self": {"href": f"/v1/environments/{self.state.environment_id}/groups/{gid}"}},
        }

    def list_groups(self, request: httpx.Request) -> httpx.Response:
        ids = self.filtered(request, self.state.groups)
        if isinstance(ids, httpx.Response):
            return ids
        return self.page(request, "groups", ids, self.render_group, self.page_cap)

    def get_group(self, request: httpx.Request, group: str) -> httpx.Response:
        body = self.render_group(group)
        if request.url.params.get("include") == "totalMemberCounts":
            body["totalMemberCounts"] = {"users": len(self.group_members(group))}
        return json_response(200, body)

    def list_group_nesting(self, request: httpx.Request, group: str) -> httpx.Response:
        self.state.groups[group]
        parents = sorted(self.state.nested.get(group, set()))
        return self.collection(
            request,
            "groupMemberships",
            parents,
            lambda p: {"id": p, "name": self.state.groups[p]["name"], "type": "DIRECT"},
        )


class _BadRequest(Exception):
    pass
