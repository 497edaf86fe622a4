"""What every simulator shares: request counting, injected faults and latency, and transports.

A simulator is a synchronous, thread-safe `handle(httpx.Request) -> httpx.Response`. The same
object runs in-process behind `SimulatorTransport` (an httpx transport, for the sandbox and most
tests) and on loopback behind `reconciler.simulators.serve` (for tests where the network path
matters). Latency is added by the transport, so concurrency behaves as it would on a network.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


class DroppedConnection(Exception):
    """Raised by a simulator to make the transport drop the connection without a response."""


# What a captive portal or a TLS-intercepting proxy answers instead of the vendor.
PORTAL_PAGE = (
    b"<!DOCTYPE html><html><head><title>Guest Wi-Fi: sign in</title></head>"
    b"<body><form action='/login'>Accept the terms to continue</form></body></html>"
)


@dataclass(slots=True)
class Fault:
    # "429", "500", "502", "503", "drop", "lose-answer", "expire-token", or "garbage": the request is
    # served, then its answer's body is replaced (`garble`: the real body -> what is sent; by default
    # a captive portal's HTML page), with the real status when it was a success, else 200
    kind: str
    remaining: int
    match: str = ""  # a substring of "METHOD /path"; empty matches every request
    garble: Callable[[bytes], bytes] | None = None


@dataclass(slots=True)
class FaultRate:
    kind: str
    probability: float  # of each matching request
    match: str = ""


@dataclass(slots=True)
class FaultPlan:
    """Faults to inject: into the next matching requests, consumed as they fire (`add`); or into a
    share of all matching requests, for as long as the rate stands (`add_rate`; `rates.clear()`)."""

    faults: list[Fault] = field(default_factory=list)
    rates: list[FaultRate] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    fired: Counter[str] = field(default_factory=Counter)  # kind -> how many were injected

    def add(
        self, kind: str, count: int = 1, match: str = "", garble: Callable[[bytes], bytes] | None = None
    ) -> None:
        self.faults.append(Fault(kind, count, match, garble))

    def add_rate(self, kind: str, probability: float, match: str = "") -> None:
        """E.g. `add_rate("502", 0.2)` then `add_rate("drop", 0.05)`: a flaky vendor."""
        self.rates.append(FaultRate(kind, probability, match))

    def take_fault(self, request: httpx.Request) -> Fault | None:
        line = f"{request.method} {request.url.path}"
        for fault in self.faults:
            if fault.remaining > 0 and fault.match in line:
                fault.remaining -= 1
                self.fired[fault.kind] += 1
                return fault
        if self.rates:
            draw = self.rng.random()
            for rate in self.rates:
                if rate.match in line:
                    if draw < rate.probability:
                        self.fired[rate.kind] += 1
                        return Fault(rate.kind, 0, rate.match)
                    draw -= rate.probability
        return None

    def take(self, request: httpx.Request) -> str | None:
        fault = self.take_fault(request)
        return fault.kind if fault is not None else None


class SimulatorBase:
    """Counting, locking and fault injection; vendors implement `route` and `fault_response`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults = FaultPlan()
        self.calls: Counter[str] = Counter()  # "METHOD /path" -> count
        self.log: list[httpx.Request] = []
        self.keep_log = False

    @property
    def request_count(self) -> int:
        return sum(self.calls.values())

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls[f"{request.method} {request.url.path}"] += 1
            if self.keep_log:
                self.log.append(request)
            found = self.faults.take_fault(request)
            fault = found.kind if found is not None else None
            if fault == "drop":  # the request never arrived
                raise DroppedConnection()
            if fault == "lose-answer":  # done, but the answer is lost on the way back
                self.route(request)
                raise DroppedConnection()
            if found is not None and fault == "garbage":  # done, but something else answers
                return garbled(self.route(request), found.garble)
            if fault is not None:
                response = self.fault_response(fault, request)
                if response is not None:
                    return response
            return self.route(request)

    def route(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response | None:
        """The vendor's own response for an injected fault; None lets the request through."""
        if kind.isdigit():
            return json_response(int(kind), {"error": f"injected {kind}"})
        return None


def garbled(response: httpx.Response, garble: Callable[[bytes], bytes] | None) -> httpx.Response:
    """`response` with its body replaced (a captive portal's page unless `garble` says otherwise)."""
    status = response.status_code if response.is_success else 200
    if garble is None:
        return httpx.Response(
            status, content=PORTAL_PAGE, headers={"content-type": "text/html; charset=utf-8"}
        )
    content_type = response.headers.get("content-type", "application/json")
    return httpx.Response(status, content=garble(response.content), headers={"content-type": content_type})


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    all_headers = {"content-type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    return httpx.Response(status, content=content, headers=all_headers)


Handler = Callable[[httpx.Request], httpx.Response]


class SimulatorTransport(httpx.AsyncBaseTransport):
    """Serves a simulator in-process, with optional per-request latency."""

    def __init__(
        self,
        handler: Handler,
        *,
        latency: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._handler = handler
        self.latency = latency
        self._sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if self.latency:
            await self._sleep(self.latency)
        try:
            response = self._handler(request)
        except DroppedConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=response.content,
            request=request,
        )


def route_table(
    routes: dict[tuple[str, str], Callable[..., httpx.Response]],
) -> Callable[[httpx.Request], tuple[Callable[..., httpx.Response], dict[str, str]] | None]:
    """Match METHOD + path against patterns like "/rest/v1.0/projects/{project_id}/users".

    Returns the handler and the path parameters, or None. Patterns are matched segment by segment.
    """
    compiled = [(method, pattern.strip("/").split("/"), fn) for (method, pattern), fn in routes.items()]

    def match(request: httpx.Request) -> tuple[Callable[..., httpx.Response], dict[str, str]] | None:
        parts = request.url.path.strip("/").split("/")
        for method, segments, fn in compiled:
            if method != request.method or len(segments) != len(parts):
                continue
            params: dict[str, str] = {}
            for seg, part in zip(segments, parts, strict=True):
                if seg.startswith("{") and seg.endswith("}"):
                    params[seg[1:-1]] = part
                elif seg != part:
                    break
            else:
                return fn, params
        return None

    return match
