"""What the PingOne simulator's routes share: P1Error bodies, paging, tokens, rate budget, rendering.

See `reconciler.simulators.pingone` for the simulator itself and what it is faithful to.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

from reconciler.simulators.base import SimulatorBase, json_response, route_table
from reconciler.simulators.pingone_filter import FilterError, compile_filter
from reconciler.simulators.pingone_state import PingOneState

Clock = Callable[[], float]
WallClock = Callable[[], dt.datetime]
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


class PingOneBase(SimulatorBase):
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
        wall: WallClock = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        super().__init__()
        self.state = state
        self.wall = wall  # the time activities are recorded at
        self.users_page_cap = users_page_cap
        self.page_cap = page_cap
        self.clock = clock
        self.budget = RateBudget(rate_limit, burst, clock) if rate_limit else None
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}  # access token -> expiry (clock time)
        self.actors: dict[str, JSON] = {}  # access token -> who acts with it (an activity's `actors`)
        self.actor: JSON = {}  # the actors of the request being served
        self.version = 0  # bumped on every write; the sandbox saves only when it moved
        self.forbidden_once: set[str] = set()  # "METHOD /path" substrings answering 403 once (propagation)
        # "METHOD /path" substrings answering 403 every time: a permission the worker app's roles lack
        # (e.g. "/activities": it may not read the audit trail).
        self.forbidden: set[str] = set()
        self._cache: dict[tuple[str, int], list[str]] = {}
        self._index: tuple[int, dict[str, int]] = (-1, {})
        self.origin = "https://api.pingone.com"  # scheme://host of the request being served
        self._match = route_table(self.routes())

    def routes(self) -> dict[tuple[str, str], Callable[..., httpx.Response]]:
        """METHOD and path pattern -> handler; the simulator class lists them."""
        raise NotImplementedError

    def touched(self, user: JSON) -> None:
        """The user was changed through the API: PingOne moves its `updatedAt`."""
        user["updatedAt"] = (
            self.wall().astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )

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
        self.origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        if not request.url.path.endswith("/as/token"):
            denied = self.authenticate(request)
            if denied is not None:
                return denied
            line = f"{request.method} {request.url.path}"
            hit = next((m for m in self.forbidden_once if m in line), None)
            if hit is not None:
                self.forbidden_once.discard(hit)
                return p1_error(403, "The actor attempting to perform the request is not authorized.")
            if any(m in line for m in self.forbidden):
                return p1_error(403, "The actor attempting to perform the request is not authorized.")
            env = params.pop("env", None)
            if env is not None and env != self.state.environment_id:
                return p1_error(404)
        elif params.pop("env", None) != self.state.environment_id:
            return p1_error(404)  # the worker app lives in this simulator's one environment
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
        self.actor = self.actors.get(token, {})
        return None

    def issue_token(self, actors: JSON) -> str:
        """A new access token, acting as `actors` (`{"client": {...}}`, plus `"user"` for an administrator)."""
        token = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
        self.tokens[token] = self.clock() + self.token_lifetime
        self.actors[token] = actors
        return token

    def client_actor(self, client_id: str) -> JSON:
        name = self.state.client_names.get(client_id) or client_id
        return {"client": {"id": client_id, "name": name, "type": "CLIENT", "environment": self.env()}}

    def record(self, action: str, description: str, resources: Iterable[JSON]) -> None:
        """An audit activity for a write that succeeded, by whoever the request's token acts for."""
        at = self.wall().astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        aid = str(uuid.uuid4())
        self.state.activities.append(
            {
                "id": aid,
                "recordedAt": at,
                "createdAt": at,
                "correlationId": str(uuid.uuid4()),
                "action": {"type": action, "description": description},
                "actors": self.actor,
                "resources": list(resources),
                "result": {"status": "SUCCESS", "description": description},
                "_links": self.self_link(f"/activities/{aid}"),
            }
        )

    def user_resource(self, uid: str) -> JSON:
        user = self.state.users[uid]
        return {
            "type": "USER",
            "id": uid,
            "name": user["username"],
            "environment": self.env(),
            "population": {"id": user["population"]["id"]},
            "href": self.self_link(f"/users/{uid}")["self"]["href"],
        }

    def group_resource(self, gid: str) -> JSON:
        return {
            "type": "GROUP",
            "id": gid,
            "name": self.state.groups[gid]["name"],
            "environment": self.env(),
            "href": self.self_link(f"/groups/{gid}")["self"]["href"],
        }

    def role_resource(self, aid: str) -> JSON:
        a = self.state.assignments[aid]
        roles = {**self.state.roles, **self.state.custom_roles}
        return {"type": "ROLE_ASSIGNMENT", "id": aid, "name": roles.get(a["role"], {}).get("name", a["role"]),
                "environment": self.env()}  # fmt: skip

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

    def self_link(self, tail: str) -> JSON:
        """`_links` of an environment resource: absolute, as PingOne returns them."""
        return {"self": {"href": f"{self.origin}/v1/environments/{self.state.environment_id}{tail}"}}

    def env(self) -> JSON:
        return {"id": self.state.environment_id}

    def page(
        self,
        request: httpx.Request,
        kind: str,
        items: list[Any],
        render: Callable[[Any], JSON],
        cap: int,
        *,
        default: int | None = None,
    ) -> httpx.Response:
        """A page of `items`: `limit` of them (else `default`, else `cap`), at most `cap`."""
        query = {k: v[-1] for k, v in parse_qs(request.url.query.decode(), keep_blank_values=True).items()}
        try:
            limit = int(query.get("limit", default or cap))
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

    def render_role(self, role: JSON) -> JSON:
        return {**role, "_links": {"self": {"href": f"{self.origin}/v1/roles/{role['id']}"}}}

    def render_user(self, uid: str) -> JSON:
        user = self.state.users[uid]
        return {
            **user,
            "environment": self.env(),
            "account": {"canAuthenticate": bool(user["enabled"]), "status": "OK"},
            "lifecycle": {"status": "ACCOUNT_OK"},
            "_links": self.self_link(f"/users/{uid}"),
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

    def render_population(self, pid: str) -> JSON:
        p = self.state.populations[pid]
        count = sum(1 for u in self.state.users.values() if u["population"]["id"] == pid)
        return {
            **p,
            "environment": self.env(),
            "userCount": count,
            "_links": self.self_link(f"/populations/{pid}"),
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

    def render_group(self, gid: str) -> JSON:
        g = self.state.groups[gid]
        return {
            **g,
            "environment": self.env(),
            "directMemberCounts": {"users": len(self.state.direct.get(gid, {}))},
            "_links": self.self_link(f"/groups/{gid}"),
        }

    def render_membership(self, uid: str, gid: str, expand: bool) -> JSON:
        direct = uid in self.state.direct.get(gid, {})
        item: JSON = {
            "id": gid,
            "name": self.state.groups[gid]["name"],
            "type": "DIRECT" if direct else "INDIRECT",
            "environment": self.env(),
            "_links": self.self_link(f"/users/{uid}/memberOfGroups/{gid}"),
        }
        if expand:
            item["_embedded"] = {"group": self.render_group(gid)}
        return item

    def render_assignment(self, aid: str) -> JSON:
        a = self.state.assignments[aid]
        holder = f"users/{a['user']}" if "user" in a else f"groups/{a['group']}"
        return {
            "id": aid,
            "role": {"id": a["role"]},
            "scope": {"id": a["scope_id"], "type": a["scope_type"]},
            "environment": self.env(),
            "readOnly": bool(a.get("readOnly")),
            "_links": self.self_link(f"/{holder}/roleAssignments/{aid}"),
        }


class _BadRequest(Exception):
    pass
