"""Procore's rate-limit headers: pacing before a request, and how long to wait after a 429.

Procore reports one of two windows (hourly, or a 10-second spike window) in `X-Rate-Limit-Limit`,
`-Remaining` and `-Reset` (a Unix timestamp), whichever the app is closest to exhausting
(plan_your_app/rate_limiting.md). The pacer reads them on every response and holds new requests
back when the reported window has no room left for them, instead of sending into a 429.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from reconciler.connectors.http import Announcer, Clock, Sleep

LIMIT = "x-rate-limit-limit"
REMAINING = "x-rate-limit-remaining"
RESET = "x-rate-limit-reset"
# baton-sdk treats a reset value this large as an absolute epoch, a smaller one as seconds from now.
_EPOCH_THRESHOLD = 30 * 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RateBudget:
    """The last window Procore reported: None until a response carried the headers."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # Unix time

    def seconds_to_reset(self, now: float) -> float:
        return 0.0 if self.reset is None else max(0.0, self.reset - now)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def reset_time(headers: httpx.Headers, now: float) -> float | None:
    value = _int(headers.get(RESET))
    if value is None:
        return None
    return float(value) if value > _EPOCH_THRESHOLD else now + value


def budget_from(headers: httpx.Headers, now: float) -> RateBudget | None:
    remaining = _int(headers.get(REMAINING))
    if remaining is None:
        return None
    return RateBudget(_int(headers.get(LIMIT)), remaining, reset_time(headers, now))


def wait_for_429(now: Clock) -> Callable[[httpx.Response], float | None]:
    """`send_with_retries`' wait_for: on a 429, the seconds until X-Rate-Limit-Reset.

    For other statuses (a 503) it returns None, so Retry-After decides.
    """

    def wait(response: httpx.Response) -> float | None:
        if response.status_code != 429:
            return None
        reset = reset_time(response.headers, now())
        return None if reset is None else max(0.0, reset - now())

    return wait


class RatePacer:
    """Tracks the reported budget and the requests in flight; pauses when the window is full."""

    def __init__(
        self,
        *,
        sleep: Sleep,
        now: Clock = time.time,
        rng: random.Random | None = None,
        announcer: Announcer | None = None,
    ) -> None:
        self._sleep = sleep
        self._now = now
        self._rng = rng or random.Random()
        self.announcer = announcer or Announcer()
        self.budget = RateBudget()
        self.in_flight = 0
        self.paused = 0  # how many times a request was held back
        self.paused_seconds = 0.0

    def now(self) -> float:
        return self._now()

    async def acquire(self) -> None:
        while True:
            budget = self.budget
            if budget.remaining is None or budget.remaining - self.in_flight > 0:
                break
            wait = budget.seconds_to_reset(self._now())
            if wait <= 0:
                self.budget = RateBudget(budget.limit)  # the window rolled over; headers will tell
                break
            wait += self._rng.uniform(0.05, 0.05 + min(1.0, wait * 0.1))
            self.announcer.wait(
                "procore",
                wait,
                f"the rate limit is used up ({budget.remaining} of {budget.limit} requests left in the window)",
            )
            self.paused += 1
            self.paused_seconds += wait
            await self._sleep(wait)
            if self.budget is budget:
                self.budget = RateBudget(budget.limit)
        self.in_flight += 1

    def release(self, response: httpx.Response | None) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        if response is not None:
            found = budget_from(response.headers, self._now())
            if found is not None:
                self.budget = found


class PacingTransport(httpx.AsyncBaseTransport):
    """Wraps the transport: every request to the API host goes through the pacer."""

    def __init__(self, inner: httpx.AsyncBaseTransport, pacer: RatePacer, api_host: str) -> None:
        self._inner = inner
        self._pacer = pacer
        self._host = api_host

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self._host:
            return await self._inner.handle_async_request(request)
        await self._pacer.acquire()
        response: httpx.Response | None = None
        try:
            response = await self._inner.handle_async_request(request)
            return response
        finally:
            self._pacer.release(response)

    async def aclose(self) -> None:
        await self._inner.aclose()
