"""Garbage answers for the tests of `reconciler.connectors.answers`: a transport that serves a
simulator and replaces the body of the first answer to one endpoint, and the scenarios (sync, plan,
apply of the sandbox's changes; the GitHub client's calls) that every endpoint is driven through."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

from reconciler.changes import Action, Change
from reconciler.connectors.base import ChangeResult, Connector, Outcome
from reconciler.connectors.concur import allow_reads
from reconciler.connectors.http import RetryPolicy
from reconciler.connectors.pingone import connect
from reconciler.errors import AccessError
from reconciler.executor import execute
from reconciler.github_api import GitHubClient, GitHubSettings
from reconciler.loader import read_files
from reconciler.normalize import normalize
from reconciler.planner import build_plan
from reconciler.sandbox import concur as concur_sandbox
from reconciler.sandbox import pingone as pingone_sandbox
from reconciler.sandbox.procore import simulator_connector
from reconciler.sandbox_seed import PROCORE_COMPANY
from reconciler.scrub import Scrubber, scrubbing
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator, fake_sha
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import SANDBOX_CLIENT_SECRET, demo_state

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 11, 23)
VENDORS = ("procore", "concur", "pingone", "github")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECRETS = {
    "procore": (SANDBOX_CLIENT_SECRET,),
    "concur": (concur_sandbox.SANDBOX_CLIENT_SECRET, concur_sandbox.SANDBOX_REFRESH_TOKEN),
    "pingone": (pingone_sandbox.SANDBOX_SECRET,),
    "github": (DEFAULT_TOKEN,),
}
Garble = Callable[[bytes], tuple[bytes, str]]  # the real body -> (what is sent instead, its content type)
_ID = re.compile(r"^(\d+|[0-9a-f]{40}|[0-9A-Za-z-]{20,})$")


def endpoint(request: httpx.Request) -> str:
    """METHOD and path with ids as `{id}`: what one endpoint of an API is."""
    parts = ["{id}" if _ID.match(part) else part for part in request.url.path.split("/")]
    return f"{request.method} {'/'.join(parts)}"


def is_write(vendor: str, request: httpx.Request) -> bool:
    """A request that changes something at the vendor (token requests and searches do not)."""
    path = request.url.path
    if request.method not in WRITES or path.endswith(("/token", "/as/token")):
        return False
    return not (vendor == "concur" and allow_reads(request))


@dataclass
class Seen:
    endpoint: str
    status: int
    written_after_garbage: bool  # a write that reached the vendor after the garbage was served


@dataclass
class Garbling(httpx.AsyncBaseTransport):
    """Serves `inner`; the first `times` answers to `target` get their body replaced by `garble`
    (`served`: the first of them). Records every request, and every token it sees (so a test can
    look for them in the output)."""

    inner: httpx.AsyncBaseTransport
    vendor: str
    target: str | None = None
    garble: Garble | None = None
    seen: list[Seen] = field(default_factory=list)
    served: httpx.Request | None = None
    tokens: set[str] = field(default_factory=set)
    times: int = 1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            self.tokens.add(auth[7:])
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self._remember_tokens(response)
        self.seen.append(
            Seen(
                endpoint(request),
                response.status_code,
                self.served is not None and is_write(self.vendor, request),
            )
        )
        if self.times > 0 and self.garble is not None and endpoint(request) == self.target:
            self.times -= 1
            self.served = self.served or request
            body, content_type = self.garble(response.content)
            return httpx.Response(
                response.status_code, content=body, headers={"content-type": content_type}, request=request
            )
        return response

    def _remember_tokens(self, response: httpx.Response) -> None:
        try:
            body = json.loads(response.content)
        except ValueError:
            return
        if isinstance(body, dict):
            self.tokens.update(v for k, v in body.items() if k.endswith("token") and isinstance(v, str))


@dataclass
class Run:
    transport: Garbling
    errors: list[str]  # the one error that ended the run, or the messages of failed changes

    @property
    def secrets(self) -> set[str]:
        return set(SECRETS[self.transport.vendor]) | self.transport.tokens


Wrap = Callable[[httpx.AsyncBaseTransport], Garbling]
Make = Callable[[], Connector]


def change(vendor: str, action: Action, principal: str, kind: str, resource: str = "", entitlement: str = "",
           *, tenant: str = "", account_id: str = "", **attributes: str) -> Change:  # fmt: skip
    return Change(f"x-{action}-{principal}-{resource}", vendor, action, tenant, principal, kind, resource,
                  entitlement, attributes=tuple(sorted(attributes.items())), account_id=account_id)  # fmt: skip


def _email(name: str) -> str:
    return f"{name}@harborbuild.example"


def _extras(vendor: str) -> list[Change]:
    """Changes beyond the sandbox's plan, applied by a connector that did not sync (so that it looks
    ids up): the endpoints the plan alone does not reach."""
    A, G, U, D = Action.CREATE_ACCOUNT, Action.GRANT, Action.UPDATE, Action.DEACTIVATE_ACCOUNT
    if vendor == "procore":
        c = PROCORE_COMPANY
        return [
            change(vendor, G, _email("alice.ng"), "project", "Pier 7 Retrofit", "Project Engineer",
                   tenant=c, account_id="8589935593"),
            change(vendor, U, _email("former.foreman"), "account", "active", "true", tenant=c),
            change(vendor, D, _email("pat.sullivan"), "account", tenant=c),
        ]  # fmt: skip
    if vendor == "concur":
        return [
            change(vendor, G, _email("carol.okafor"), "role", "Expense Approver", "member"),
            change(vendor, D, _email("dan.whitfield"), "account"),
        ]
    return [
        change(vendor, A, _email("quinn.doe"), "account", email=_email("quinn.doe"), name="Quinn Doe",
               population="Employees"),
        change(vendor, U, _email("carol.okafor"), "account", "login", "cokafor"),
        change(vendor, U, _email("dan.whitfield"), "account", "active", "false"),
        change(vendor, G, _email("carol.okafor"), "group", "VPN", "member"),
        change(vendor, G, _email("carol.okafor"), "role", "Organization Admin", "organization"),
        change(vendor, D, "svc-backup@harborbuild.example", "account", deprovision="delete"),
    ]  # fmt: skip


async def _converge(make: Make, vendor: str) -> list[str]:
    """sync, plan and apply the sandbox's changes, then the extras with a connector that did not
    sync; one change at a time (so that "after" is well defined). The failed changes' messages."""
    desired = normalize(read_files(ROOT), today=TODAY)
    results: list[tuple[Change, ChangeResult]] = []
    for phase in ("plan", "extras"):
        connector = make()
        try:
            if phase == "plan":
                state = await connector.sync(desired.scope.for_vendor(vendor))
                changes = build_plan(desired, {vendor: state}, today=TODAY).changes
            else:
                changes = tuple(_extras(vendor))
            results += await execute(changes, {vendor: connector}, concurrency=1)
        finally:
            await connector.aclose()
        failed = [r.message for _, r in results if r.outcome is Outcome.FAILED]
        if failed:  # an apply that failed ends its run: the extras would be another run
            return failed
    return []


async def _no_wait(_: float) -> None:
    return None


def _policy() -> RetryPolicy:
    return RetryPolicy(sleep=_no_wait, rng=random.Random(1))


def _procore(wrap: Wrap) -> tuple[Garbling, Awaitable[list[str]]]:
    simulator = ProcoreSimulator(demo_state(), hourly_limit=None)
    transport = wrap(SimulatorTransport(simulator.handle))

    def make() -> Connector:
        return simulator_connector(simulator, writable=True, transport=transport, policy=_policy())

    return transport, _converge(make, "procore")


def _concur(wrap: Wrap) -> tuple[Garbling, Awaitable[list[str]]]:
    simulator = ConcurSimulator(sandbox_state())
    simulator.provision_polls = 1
    transport = wrap(SimulatorTransport(simulator.handle))

    def make() -> Connector:
        return concur_sandbox.simulated(simulator, wrap=lambda _: transport)

    return transport, _converge(make, "concur")


def _pingone(wrap: Wrap) -> tuple[Garbling, Awaitable[list[str]]]:
    simulator = PingOneSimulator(pingone_sandbox.seed_state())
    transport = wrap(SimulatorTransport(simulator.handle))
    settings = pingone_sandbox.sandbox_settings()

    def make() -> Connector:
        return connect(settings, writable=True, transport=transport, policy=_policy())

    return transport, _converge(make, "pingone")


def _github(wrap: Wrap) -> tuple[Garbling, Awaitable[list[str]]]:
    """Every GitHub call the commands make: the gate's reads, then the comment and issue writes."""
    simulator = GitHubSimulator("harborbuild/access", clock=lambda: 1_800_000_000.0)
    pull = simulator.create_pull("alice", fake_sha("c2"), title="Grant bob", commits=[fake_sha("c1")])
    simulator.review(pull, "carol")
    simulator.merge(pull, fake_sha("merge"), merged_by="carol")
    simulator.put_file("access/people.yaml", "people: {}\n")
    simulator.set_permission("carol", "write")
    simulator.push_branch("request/bob", [fake_sha("r1")], pusher="bob")
    transport = wrap(SimulatorTransport(simulator.handle))
    settings = GitHubSettings("https://api.github.com", "harborbuild", "access", SecretStr(DEFAULT_TOKEN))

    async def calls() -> list[str]:
        async with GitHubClient(settings, writable=True, transport=transport, policy=_policy()) as gh:
            await gh.pulls_for_commit(fake_sha("merge"))
            await gh.get_pull(pull)
            await gh.reviews(pull)
            await gh.pull_commits(pull)
            await gh.activity("refs/heads/main")
            await gh.user("carol")
            await gh.permission("carol")
            await gh.get_file("access/people.yaml")
            await gh.upsert_comment(pull, "plan v1")
            await gh.upsert_comment(pull, "plan v2")
            issue, _ = await gh.upsert_issue("Drift", "v1", label="drift")
            await gh.upsert_issue("Drift", "v2", label="drift")
            await gh.close_issue(issue.number, comment="fixed")
            await gh.create_pull(title="Request", head="request/bob", base="main", body="b")
        return []

    return transport, calls()


SCENARIOS = {"procore": _procore, "concur": _concur, "pingone": _pingone, "github": _github}


def run(vendor: str, target: str | None = None, garble: Garble | None = None, *, times: int = 1) -> Run:
    """Drive `vendor` through its scenario, `target`'s first answer garbled. An AccessError ends the
    run as it ends a command (its message is the one error); anything else propagates: a crash."""

    def wrap(inner: httpx.AsyncBaseTransport) -> Garbling:
        return Garbling(inner, vendor, target, garble, times=times)

    transport, scenario = SCENARIOS[vendor](wrap)

    async def go() -> list[str]:
        try:
            return await scenario
        except AccessError as exc:
            return [exc.message]

    with scrubbing(Scrubber(SECRETS[vendor])):
        errors = asyncio.run(go())
    return Run(transport, errors)
