"""Every request the PingOne connector sends, and every response the simulator gives, against
PingOne's management OpenAPI document (../shared/oracles/pingone; skipped when it is absent)."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from reconciler.changes import ACCOUNT, Action, Change
from reconciler.connectors.base import Outcome
from reconciler.connectors.http import RetryPolicy
from reconciler.connectors.pingone import connect
from reconciler.records import ResourceKey, Scope
from reconciler.sandbox.pingone import sandbox_settings, seed_state
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.pingone import PingOneSimulator

ORACLE = (
    Path(__file__).resolve().parents[2]
    / "../shared/oracles/pingone/pingone-management.users-groups-populations-roles.trimmed.json"
)
pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(not ORACLE.exists(), reason=f"the PingOne OpenAPI oracle is not at {ORACLE}"),
]
openapi_core = pytest.importorskip("openapi_core")
# Not in the oracle: the token endpoint (standard OAuth 2.0 client credentials), GET /environments/{id}
# and /applications (read only to resolve an organization or application scope).
NOT_IN_ORACLE = ("/as/token", "/applications")
# The oracle lists roles as oneOf[Role, UserApplicationRoleAssignment, CustomAdminRole]; every Role also
# satisfies UserApplicationRoleAssignment (it requires only `id`), so no role list can pass oneOf. Those
# responses are checked item by item against Role / CustomAdminRole instead.
ROLE_LISTS = ("/v1/roles", "/roles")
ENVIRONMENT_ITSELF = re.compile(r"^/v1/environments/[^/]+/?$")


@functools.cache
def load_spec() -> tuple[Any, dict[str, Any]]:
    data = json.loads(ORACLE.read_text(encoding="utf-8"))

    def strip(node: Any) -> None:  # README §3: Python's re cannot compile \p{..} classes
        if isinstance(node, dict):
            if "\\p{" in str(node.get("pattern", "")):
                del node["pattern"]
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(data)
    return openapi_core.OpenAPI.from_dict(data), data


def content_type(headers: httpx.Headers) -> str:
    return (headers.get("content-type") or "application/json").split(";")[0]


class OracleTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, spec: Any, data: dict[str, Any]) -> None:
        from openapi_core.testing import MockRequest, MockResponse
        from openapi_schema_validator import OAS30Validator

        self.inner, self.spec, self.data = inner, spec, data
        self.mock_request, self.mock_response, self.validator = MockRequest, MockResponse, OAS30Validator
        self.errors: list[tuple[str, str, str, str]] = []
        self.checked: set[str] = set()

    def role_schema(self, item: dict[str, Any]) -> dict[str, Any]:
        schemas = self.data["components"]["schemas"]
        name = "CustomAdminRole" if item.get("type") == "CUSTOM" else "Role"
        return {**schemas[name], "components": self.data["components"]}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        url = urlsplit(str(request.url))
        skip = (
            any(part in url.path for part in NOT_IN_ORACLE) or ENVIRONMENT_ITSELF.match(url.path) is not None
        )
        oa_request = self.mock_request(
            f"{url.scheme}://{url.netloc}",
            request.method.lower(),
            url.path,
            args=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=dict(request.headers),
            data=request.content or None,
            content_type=content_type(request.headers),
        )
        if not skip:
            try:
                self.spec.validate_request(oa_request)
            except Exception as exc:
                self.errors.append(("request", request.method, url.path, repr(exc.__cause__ or exc)[:400]))
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if not skip:
            self.checked.add(f"{request.method} {url.path} {response.status_code}")
            role_list = response.status_code == 200 and url.path.endswith(ROLE_LISTS)
            try:
                if role_list:
                    for item in response.json()["_embedded"]["roles"]:
                        schema = self.role_schema(item)
                        self.validator(schema).validate(item)
                else:
                    oa_response = self.mock_response(
                        response.content,
                        status_code=response.status_code,
                        headers=dict(response.headers),
                        content_type=content_type(response.headers),
                    )
                    self.spec.validate_response(oa_request, oa_response)
            except Exception as exc:
                self.errors.append(("response", request.method, url.path, repr(exc.__cause__ or exc)[:400]))
        return response


def change(
    action: Action, principal: str, resource_type: str, resource: str, entitlement: str, **kw: Any
) -> Change:
    return Change(
        f"c-{action}-{resource}", "pingone", action, "", principal, resource_type, resource, entitlement, **kw
    )


def test_connector_requests_and_simulator_responses_match_the_openapi_document() -> None:
    spec, data = load_spec()
    sim = PingOneSimulator(seed_state(), users_page_cap=4)
    sim.state.add_assignment(
        ("group", sim.state.group_named("VPN")),
        sim.state.role_named("Help Desk Admin"),
        "ENVIRONMENT",
        sim.state.environment_id,
    )
    oracle = OracleTransport(SimulatorTransport(sim.handle), spec, data)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    connector = connect(
        sandbox_settings(),
        writable=True,
        transport=oracle,
        policy=RetryPolicy(sleep=sleep, rng=random.Random(3)),
    )
    scope = Scope(
        tenants=frozenset({("pingone", "")}),
        resources={ResourceKey("pingone", "", "group", g): True for g in ("VPN", "Finance Systems")},
        all_of=frozenset({("pingone", "", "role"), ("pingone", "", "group")}),
    )
    d = "harborbuild.example"
    changes = [
        change(
            Action.CREATE_ACCOUNT,
            f"quinn.doe@{d}",
            ACCOUNT,
            "",
            "",
            attributes=(("email", f"quinn.doe@{d}"), ("name", "Quinn Doe"), ("population", "Contractors")),
        ),
        change(Action.UPDATE, "oscar.reyes@steelframe.example", ACCOUNT, "population", "Contractors"),
        change(Action.UPDATE, f"bob.ruiz@{d}", ACCOUNT, "login", "bob.ruiz"),
        change(Action.GRANT, f"mike.chen@{d}", "group", "VPN", "member"),
        change(
            Action.GRANT, f"mike.chen@{d}", "group", "VPN", "member"
        ),  # already: 400 then a membership read
        change(Action.REVOKE, f"bob.ruiz@{d}", "group", "VPN", "member"),
        change(Action.REVOKE, "oscar.reyes@steelframe.example", "group", "VPN", "member"),  # indirect: 404
        change(Action.GRANT, f"mike.chen@{d}", "role", "Identity Data Read Only", "population/Contractors"),
        change(
            Action.GRANT, f"mike.chen@{d}", "role", "Organization Admin", "environment"
        ),  # 400 with details
        change(Action.REVOKE, f"bob.ruiz@{d}", "role", "Environment Admin", "environment"),
        change(Action.DEACTIVATE_ACCOUNT, f"dan.whitfield@{d}", ACCOUNT, "", ""),
        change(Action.UPDATE, f"dan.whitfield@{d}", ACCOUNT, "active", "true"),
        change(
            Action.DEACTIVATE_ACCOUNT,
            f"svc-backup@{d}",
            ACCOUNT,
            "",
            "",
            attributes=(("deprovision", "delete"),),
        ),
    ]

    async def scenario() -> list[Outcome]:
        sim.faults.add("429", 1, match="/groups")
        await connector.sync(scope)
        outcomes = [(await connector.apply(c)).outcome for c in changes]
        sim.faults.add("expire-token", 1)
        await connector.sync(scope)
        await connector.aclose()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes.count(Outcome.FAILED) == 1  # Organization Admin at environment scope
    assert oracle.errors == []
    for seen in (
        "GET /v1/roles 200",
        "POST /v1/environments/{env}/users 201",
        "DELETE",
        " 204",
        " 404",
        " 400",
        " 429",
        " 401",
        "PUT",
        "PATCH",
        "memberOfGroups 201",
        "roleAssignments 201",
    ):
        assert any(seen.replace("{env}", sim.state.environment_id) in line for line in oracle.checked), seen


def test_the_oracle_catches_a_malformed_request() -> None:
    """A control: the harness would notice a request the vendor's document rejects."""
    spec, data = load_spec()
    sim = PingOneSimulator(seed_state())
    oracle = OracleTransport(SimulatorTransport(sim.handle), spec, data)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=oracle) as client:
            await client.get(
                f"https://api.pingone.com/v1/environments/{sim.state.environment_id}/users?limit=5000",
                headers={"Authorization": "Bearer x"},
            )

    asyncio.run(scenario())
    assert [e[0] for e in oracle.errors] == ["request"]


def test_the_oracle_catches_a_malformed_response() -> None:
    """A control: the harness would notice a simulator answer the vendor's document rejects."""
    spec, data = load_spec()

    async def bad_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"_embedded": {"users": [{"id": "u1", "username": 5, "email": "a@b.c"}]}}
        )

    oracle = OracleTransport(httpx.MockTransport(bad_page), spec, data)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=oracle) as client:
            await client.get(
                "https://api.pingone.com/v1/environments/e1/users", headers={"Authorization": "Bearer x"}
            )

    asyncio.run(scenario())
    assert [e[0] for e in oracle.errors] == ["response"]


def test_the_simulators_licence_is_a_license_of_the_document() -> None:
    """The licence endpoint is not among the document's paths, but its `License` schema is: the
    simulator's answer (what the connector reads `users.max` from) must be one."""
    from openapi_schema_validator import OAS30Validator

    _, data = load_spec()
    sim = PingOneSimulator(seed_state())
    token = sim.console_token(next(iter(sim.state.users)))
    response = sim.handle(
        httpx.Request(
            "GET",
            f"https://api.pingone.com/v1/organizations/{sim.state.organization_id}/licenses/{sim.state.license_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    assert response.status_code == 200
    schema = {**data["components"]["schemas"]["License"], "components": data["components"]}
    OAS30Validator(schema).validate(response.json())
    assert response.json()["users"]["max"] > 0
