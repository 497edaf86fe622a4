"""`GET /repos/{owner}/{repo}/activity` of the GitHub simulator ("List repository activities").

As the REST docs have it: filters `ref` (`refs/heads/BRANCH` or `BRANCH`), `actor` (a login),
`activity_type` (push, force_push, branch_creation, branch_deletion, pr_merge, merge_queue_merge) and
`time_period` (day, week, month, quarter, year); `direction` desc (default) or asc by time;
`per_page` 30 by default, at most 100; cursor pagination: `before`/`after` take a cursor "as given in
the Link header", and the Link header carries `rel="next"` (an `after` cursor) and `rel="prev"` (a
`before` cursor) when there is more that way. Cursors are opaque; an unreadable one is a 422.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from reconciler.simulators.base import json_response
from reconciler.simulators.github_http import validation
from reconciler.simulators.github_payloads import activity_json
from reconciler.simulators.github_state import ActivityState, GitHubState, RepoState

ACTIVITY_TYPES = ("push", "force_push", "branch_creation", "branch_deletion", "pr_merge", "merge_queue_merge")
PERIODS = {"day": 1, "week": 7, "month": 30, "quarter": 90, "year": 365}  # days back from now
_CURSOR = "cursor:v2:"


def full_ref(ref: str) -> str:
    """`main` -> `refs/heads/main`; a `refs/...` name as it is."""
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


def cursor(a: ActivityState) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR}{a.id}".encode()).decode().rstrip("=")


def _cursor_id(value: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    number = text.removeprefix(_CURSOR)
    return int(number) if text.startswith(_CURSOR) and number.isdigit() else None


def list_activity(
    state: GitHubState, repo: RepoState, request: httpx.Request, *, now: Callable[[], float]
) -> httpx.Response:
    q = request.url.params
    direction = q.get("direction", "desc")
    if direction not in ("asc", "desc"):
        return validation("Validation Failed", "Activity", "direction", "invalid")
    kind = q.get("activity_type")
    if kind is not None and kind not in ACTIVITY_TYPES:
        return validation("Validation Failed", "Activity", "activity_type", "invalid")
    period = q.get("time_period")
    if period is not None and period not in PERIODS:
        return validation("Validation Failed", "Activity", "time_period", "invalid")
    try:
        per_page = max(1, min(100, int(q.get("per_page", "30"))))
    except ValueError:
        per_page = 30
    items = list(repo.activity)
    if "ref" in q:
        items = [a for a in items if a.ref == full_ref(q["ref"])]
    if "actor" in q:
        login = state.find(q["actor"])
        uid = state.users[login] if login is not None else None
        items = [a for a in items if uid is not None and a.actor_id == uid]
    if kind is not None:
        items = [a for a in items if a.activity_type == kind]
    if period is not None:
        since = now() - PERIODS[period] * 86400
        items = [a for a in items if _epoch(a.timestamp) >= since]
    items.sort(key=lambda a: (a.timestamp, a.id), reverse=direction == "desc")

    positions = {a.id: i for i, a in enumerate(items)}
    start, stop = 0, len(items)
    for name in ("after", "before"):
        if name not in q:
            continue
        ident = _cursor_id(q[name])
        if ident is None:
            return validation("Validation Failed", "Activity", name, "invalid")
        # A cursor whose activity the filters leave out points nowhere: nothing on that side.
        at = positions.get(ident)
        if name == "after":
            start = max(start, at + 1 if at is not None else len(items))
        else:
            stop = min(stop, at if at is not None else 0)
    window = items[start:stop]
    chunk = window[-per_page:] if "before" in q and "after" not in q else window[:per_page]
    links: list[str] = []
    if chunk:
        first, last = positions[chunk[0].id], positions[chunk[-1].id]
        if first > 0:
            links.append(_link(request, per_page, "before", cursor(chunk[0]), "prev"))
        if last < len(items) - 1:
            links.append(_link(request, per_page, "after", cursor(chunk[-1]), "next"))
    body: list[dict[str, Any]] = [activity_json(state, a) for a in chunk]
    return json_response(200, body, {"link": ", ".join(links)} if links else None)


def _link(request: httpx.Request, per_page: int, name: str, value: str, rel: str) -> str:
    params = {k: v for k, v in request.url.params.items() if k not in ("before", "after", "per_page")}
    params |= {"per_page": str(per_page), name: value}
    return f'<{request.url.copy_with(query=urlencode(params).encode())}>; rel="{rel}"'


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()
