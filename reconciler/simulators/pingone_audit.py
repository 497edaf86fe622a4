"""The PingOne simulator's audit activities and licences, and the administrator who acts by hand.

- `GET /environments/{id}/activities` (Audit Activities): every write the simulator served, one
  activity each, as the docs' audit reporting data model describes it: `recordedAt`, `action.type`,
  `actors.client` (the application whose token made the request) and, for an administrator working
  in the admin console, `actors.user`, and the `resources` it touched (the user; the group of a
  membership; the role assignment). The `filter` must hold a `recordedAt` range; it may add `eq`
  conditions on the attributes the docs' query-parameter reference lists (`resources.id`,
  `action.type`, `actors.client.id`, ...), joined with `and`. Paged with `limit` (default 100, as the
  docs' POST form says) and a cursor.
- `GET /organizations/{id}/licenses[/{licenseId}]` (Licenses): the licence of the environment
  (`GET /environments/{id}` names it in `license.id`), with `users.max`, the identities it allows.
- `console_token(user_id)`: a token of the admin console acting as that administrator, for tests
  and the sandbox to make a change "by hand": the activities it leaves name the person, not a worker.

A worker app without the roles to read either answers 403 (`forbidden`, e.g. `{"/activities"}`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import httpx

from reconciler.simulators.base import json_response
from reconciler.simulators.pingone_base import JSON, PingOneBase, p1_error
from reconciler.simulators.pingone_state import stable_id

CONSOLE_NAME = "PingOne Admin Console"
CONSOLE_ID = stable_id("client", "pingone-admin-console")
ACTIVITY_PAGE = 100
# The attributes the docs' query-parameter reference lists for /activities, with their operators.
_FILTERABLE = {
    "recordedat": ("ge", "gt", "le", "lt"),
    "correlationid": ("eq",),
    "actors.client.id": ("eq",),
    "actors.user.id": ("eq",),
    "actors.user.name": ("eq",),
    "resources.id": ("eq",),
    "resources.type": ("eq",),
    "resources.population.id": ("eq",),
    "action.type": ("eq",),
}
_CLAUSE = re.compile(r'^\s*([A-Za-z][\w.]*)\s+(eq|gt|ge|lt|le)\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


class ActivityFilterError(ValueError):
    pass


def parse_time(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ActivityFilterError(f"{text!r} is not a time (yyyy-MM-ddTHH:mm:ss.SSSZ)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def compile_activity_filter(text: str) -> Callable[[JSON], bool]:
    """`recordedAt gt "..." and recordedAt lt "..." and resources.id eq "..."` -> a predicate."""
    tests: list[Callable[[JSON], bool]] = []
    ranged = False
    for clause in _AND.split(text.strip()):
        match = _CLAUSE.match(clause)
        if match is None:
            raise ActivityFilterError(f"cannot read {clause.strip()!r}")
        attribute, op, value = match.group(1).casefold(), match.group(2).casefold(), match.group(3)
        allowed = _FILTERABLE.get(attribute)
        if allowed is None or op not in allowed:
            raise ActivityFilterError(f"{match.group(1)} {op} is not supported on activities")
        if attribute == "recordedat":
            ranged = True
            tests.append(_recorded(op, parse_time(value)))
        else:
            tests.append(_equals(attribute.split("."), value))
    if not ranged:
        raise ActivityFilterError("the filter must include a date range on recordedAt")
    return lambda activity: all(test(activity) for test in tests)


def _recorded(op: str, bound: dt.datetime) -> Callable[[JSON], bool]:
    def test(activity: JSON) -> bool:
        at = parse_time(activity["recordedAt"])
        return {"gt": at > bound, "ge": at >= bound, "lt": at < bound, "le": at <= bound}[op]

    return test


def _equals(path: list[str], value: str) -> Callable[[JSON], bool]:
    return lambda activity: value in _values(activity, path)


def _values(node: Any, path: list[str]) -> list[str]:
    """Every value at `path` (case-insensitive keys; lists, such as `resources`, fan out)."""
    if isinstance(node, list):
        return [v for item in node for v in _values(item, path)]
    if not path:
        return [str(node)] if node is not None else []
    if not isinstance(node, dict):
        return []
    key = next((k for k in node if k.casefold() == path[0]), None)
    return _values(node[key], path[1:]) if key is not None else []


class PingOneAuditRoutes(PingOneBase):
    def list_activities(self, request: httpx.Request) -> httpx.Response:
        text = request.url.params.get("filter") or ""
        try:
            match = compile_activity_filter(text)
        except ActivityFilterError as exc:
            return p1_error(400, code="INVALID_FILTER", message=f"The filter is not valid: {exc}")
        found = [a for a in self.state.activities if match(a)]
        return self.page(request, "activities", found, lambda a: a, 1000, default=ACTIVITY_PAGE)

    def get_activity(self, request: httpx.Request, activity: str) -> httpx.Response:
        found = next((a for a in self.state.activities if a["id"] == activity), None)
        return json_response(200, found) if found is not None else p1_error(404)

    def list_licenses(self, request: httpx.Request, organization: str) -> httpx.Response:
        if organization != self.state.organization_id:
            return p1_error(404)
        return self.collection(request, "licenses", list(self.state.licenses.values()), lambda lic: lic)

    def get_license(self, request: httpx.Request, organization: str, license: str) -> httpx.Response:
        if organization != self.state.organization_id or license not in self.state.licenses:
            return p1_error(404)
        return json_response(200, self.state.licenses[license])

    def console_token(self, user_id: str) -> str:
        """An administrator's token in the admin console: their changes are made "by hand"."""
        user = self.state.users.get(user_id, {})
        actors: JSON = {
            "client": {"id": CONSOLE_ID, "name": CONSOLE_NAME, "type": "CLIENT", "environment": self.env()},
            "user": {"id": user_id, "name": user.get("username", user_id), "type": "USER",
                     "environment": self.env()},
        }  # fmt: skip
        with self.lock:
            return self.issue_token(actors)
