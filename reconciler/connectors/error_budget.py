"""When a vendor that answers but fails should end the run: an error budget over recent requests.

A vendor can fail in two ways, and they deserve different patience:

- **unreachable**: a host that has not answered once in this run (refused, unknown name, TLS, no
  connection) will not start answering in a minute; the request gives up after a few attempts.
- **answering but failing**: 5xx answers, and dropped connections from a host that has answered
  before. A vendor with one bad answer in five is flaky, not down: each request retries longer
  (`RetryPolicy.flaky_attempts`), and the run stops only when the vendor as a whole is failing,
  which this budget judges over the requests of one client: more than `ratio` of the last `window`
  requests failed, or nothing succeeded for `seconds` while requests kept failing.

Rate limits (429) are neither: the host answered, and said when to come back.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

Clock = Callable[[], float]


@dataclass(slots=True)
class ErrorBudget:
    """The recent outcomes of one client's requests, shared by all of them."""

    window: int = 100
    ratio: float = 0.5
    seconds: float = 30.0
    clock: Clock = time.monotonic
    answered: set[str] = field(default_factory=set)  # hosts that have answered in this run
    _recent: deque[bool] = field(default_factory=deque)  # True: failed
    _failed: int = 0
    _failing_since: float | None = None
    _spent: str = ""

    def has_answered(self, host: str) -> bool:
        return host in self.answered

    def answer(self, host: str) -> None:
        """The host answered (any status): from now on its failures are flaky, not unreachable."""
        self.answered.add(host)

    def success(self) -> None:
        self._record(False)
        self._failing_since = None

    def failure(self) -> None:
        self._record(True)
        if self._failing_since is None:
            self._failing_since = self.clock()

    def _record(self, failed: bool) -> None:
        self._recent.append(failed)
        self._failed += failed
        if len(self._recent) > self.window:
            self._failed -= self._recent.popleft()

    def spent(self) -> str:
        """Why the vendor counts as failing (e.g. "60 of its last 100 requests failed"), or ""."""
        if self._spent:
            return self._spent
        if len(self._recent) >= self.window and self._failed > self.ratio * len(self._recent):
            self._spent = f"{self._failed} of its last {len(self._recent)} requests failed"
        elif self._failing_since is not None and self.clock() - self._failing_since >= self.seconds:
            self._spent = f"no request has succeeded for {self.clock() - self._failing_since:.0f} s"
        return self._spent


_budgets: weakref.WeakKeyDictionary[httpx.AsyncClient, ErrorBudget] = weakref.WeakKeyDictionary()


def budget_of(client: httpx.AsyncClient, make: Callable[[], ErrorBudget]) -> ErrorBudget:
    """The budget every request through `client` shares (made by `make` on first use)."""
    found = _budgets.get(client)
    if found is None:
        found = _budgets[client] = make()
    return found
