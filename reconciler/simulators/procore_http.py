"""HTTP-level pieces of the Procore simulator: errors, pagination headers, rate-limit windows."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from reconciler.simulators.base import json_response

T = TypeVar("T")

# Procore documents 4xx bodies as "often" holding a `message` or `errors` field; the exact shape is
# unverified, so the simulator uses `{"message": ...}` for platform errors and `{"errors": ...}` for
# validation failures of a body.
MISSING_COMPANY = "Missing Procore-Company-Id header!"
NOT_CONNECTED = "App is not connected to this company"
INVALID_TOKEN = "The access token is invalid"


def error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return json_response(status, {"message": message}, headers)


def invalid(status: int, errors: str) -> httpx.Response:
    return json_response(status, {"errors": errors})


def not_found() -> httpx.Response:
    return error(404, "Not Found")


def body_of(request: httpx.Request) -> Any:
    """The JSON body, or None when it is absent or not JSON."""
    if not request.content:
        return None
    try:
        return json.loads(request.content)
    except ValueError:
        return None


def int_param(request: httpx.Request, name: str) -> int | None:
    value = request.url.params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def paginate(
    request: httpx.Request, items: Sequence[T], *, max_per_page: int, default_per_page: int = 100
) -> tuple[Sequence[T], dict[str, str]]:
    """One page and Procore's `Link`, `Total` and `Per-Page` headers (plan_your_app/pagination.md).

    Which `rel`s appear follows the docs: page 1 has next and last; page 2 first, next and last;
    later pages first, prev, next and last; the last page has no next.
    """
    per_page = int_param(request, "per_page") or default_per_page
    per_page = max(1, min(per_page, max_per_page))
    page = max(1, int_param(request, "page") or 1)
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    headers = {"Total": str(len(items)), "Per-Page": str(per_page)}

    def link(n: int, rel: str) -> str:
        return f'<{request.url.copy_set_param("page", n)}>; rel="{rel}"'

    links: list[str] = []
    if page >= 2:
        links.append(link(1, "first"))
    if page >= 3:
        links.append(link(page - 1, "prev"))
    if page < last:
        links.append(link(last, "last"))
        links.append(link(page + 1, "next"))
    if links:
        headers["Link"] = ", ".join(links)
    return chunk, headers


@dataclass(slots=True)
class Window:
    """A fixed rate-limit window that starts with its first request."""

    limit: int
    seconds: float
    started: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        if self.used and now >= self.started + self.seconds:
            self.used = 0
        if self.used == 0:
            self.started = now

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def reset(self) -> int:
        return int(self.started + self.seconds) + 1


class RateLimits:
    """Procore's hourly and 10-second spike limits; headers report the one closer to running out."""

    def __init__(self, clock: Callable[[], float], *, hourly: int | None, spike: int | None) -> None:
        self._clock = clock
        self.windows = [w for w in (Window(hourly, 3600.0) if hourly else None,
                                    Window(spike, 10.0) if spike else None) if w]  # fmt: skip
        self.throttled = 0

    def take(self) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, rate-limit headers)."""
        if not self.windows:
            return True, {}
        now = self._clock()
        for window in self.windows:
            window.roll(now)
        full = [w for w in self.windows if w.remaining == 0]
        if full:
            self.throttled += 1
            window = max(full, key=lambda w: w.reset())
            headers = self._headers(window)
            headers["Retry-After"] = str(max(1, window.reset() - int(now)))
            return False, headers
        for window in self.windows:
            window.used += 1
        return True, self._headers(min(self.windows, key=lambda w: (w.remaining, w.seconds)))

    @staticmethod
    def _headers(window: Window) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(window.limit),
            "X-Rate-Limit-Remaining": str(window.remaining),
            "X-Rate-Limit-Reset": str(window.reset()),
        }

    def current(self) -> dict[str, str]:
        if not self.windows:
            return {}
        return self._headers(min(self.windows, key=lambda w: (w.remaining, w.seconds)))


def with_headers(response: httpx.Response, headers: dict[str, str]) -> httpx.Response:
    for key, value in headers.items():
        response.headers[key] = value
    return response
