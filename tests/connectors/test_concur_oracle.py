"""Concur traffic checked against Concur's own API documents in ../shared/oracles/concur.

Requests the connector sends and responses the simulator gives on Identity v4.1 are validated with
openapi-core against a lenient copy of the vendor spec (the four edits of oracles/README.md §8);
token and provision-status bodies against the vendor's schemas.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from jsonschema import Draft4Validator

from reconciler.changes import Action, Change
from reconciler.records import Scope
from reconciler.sandbox.concur import simulated
from reconciler.sandbox_seed import email
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.concur import US2, ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state

ORACLES = Path(__file__).resolve().parents[2] / "../shared/oracles/concur"
pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(
        not ORACLES.is_dir(), reason="../shared/oracles/concur is not present beside the project"
    ),
]
SCOPE = Scope(
    vendors=frozenset({"concur"}),
    tenants=frozenset({("concur", "")}),
    all_of=frozenset({("concur", "", "role")}),
)


def lenient(schema: Any) -> Any:
    """README §8: nullable everywhere, null in enums, no `required` (applied to one schema, recursively)."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return schema
    out = {k: v for k, v in schema.items() if k != "required"}
    out["nullable"] = True
    if isinstance(out.get("enum"), list):
        out["enum"] = [*out["enum"], None]
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: lenient(v) for k, v in out["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = lenient(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [lenient(v) for v in out[key]]
    return out


def identity_spec() -> Any:
    from openapi_core import OpenAPI

    spec = json.loads((ORACLES / "identity-v4.1.openapi.json").read_text())
    spec["components"]["schemas"] = {k: lenient(v) for k, v in spec["components"]["schemas"].items()}
    del spec["components"]["schemas"]["PatchOperation"]["properties"]["value"]["type"]
    spec["servers"].append({"url": f"{US2}/profile/identity/v4.1"})
    return OpenAPI.from_dict(spec)


class OracleTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        from openapi_core.testing import MockRequest, MockResponse

        self.inner, self.spec, self.errors = inner, identity_spec(), []  # type: list[tuple[str, str, str]]
        self.checked = 0
        self._request, self._response = MockRequest, MockResponse

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if not request.url.path.startswith("/profile/identity/v4.1/"):
            return response
        parts = urlsplit(str(request.url))
        mock = self._request(
            f"{parts.scheme}://{parts.netloc}",
            request.method.lower(),
            parts.path,
            args=dict(parse_qsl(parts.query)),
            headers=dict(request.headers),
            data=request.content or None,
            content_type=(request.headers.get("content-type") or "application/json").split(";")[0],
        )
        for kind, check in (
            ("request", lambda: self.spec.validate_request(mock)),
            (
                "response",
                lambda: self.spec.validate_response(
                    mock,
                    self._response(
                        response.content, status_code=response.status_code, content_type="application/json"
                    ),
                ),
            ),
        ):
            try:
                check()
            except Exception as exc:
                self.errors.append((kind, f"{request.method} {request.url}", repr(exc.__cause__ or exc)))
        self.checked += 1
        return response


def test_identity_traffic_matches_concurs_identity_v41_spec() -> None:
    simulator = ConcurSimulator(sandbox_state())
    oracle = OracleTransport(SimulatorTransport(simulator.handle))

    async def go() -> None:
        connector = simulated(simulator, wrap=lambda _: oracle)
        try:
            await connector.sync(SCOPE)
        finally:
            await connector.aclose()
        fresh = simulated(simulator, wrap=lambda _: oracle)
        grant = Change(
            "g", "concur", Action.GRANT, "", email("nina").casefold(), "role", "EXP_APPROVER", "member"
        )
        try:
            await fresh.apply(grant)  # no sync first: finds Nina through POST /Users/.search
        finally:
            await fresh.aclose()

    asyncio.run(go())
    assert oracle.checked >= 2
    assert oracle.errors == []


def swagger_schema(file: str, name: str) -> dict[str, Any]:
    document = json.loads((ORACLES / file).read_text())
    schema = copy.deepcopy(document["definitions"][name])
    schema["definitions"] = document["definitions"]
    return schema


def test_token_responses_match_the_oauth2_schemas() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.add_client("c", "s")
    token = simulator.issue_refresh_token()
    ok = simulator.handle(
        httpx.Request(
            "POST",
            f"{US2}/oauth2/v0/token",
            data={
                "client_id": "c",
                "client_secret": "s",
                "grant_type": "refresh_token",
                "refresh_token": token,
            },
        )
    )
    stale = simulator.handle(
        httpx.Request(
            "POST",
            f"{US2}/oauth2/v0/token",
            data={
                "client_id": "c",
                "client_secret": "s",
                "grant_type": "refresh_token",
                "refresh_token": token,
            },
        )
    )
    token_schema = swagger_schema("oauth2-token.swagger2.json", "TokenResponse")
    token_schema["definitions"]["TokenType"]["enum"] = ["bearer", "Bearer"]  # README §7: docs say "Bearer"
    Draft4Validator(token_schema).validate(ok.json())
    Draft4Validator(swagger_schema("oauth2-token.swagger2.json", "TokenErrorResponse")).validate(stale.json())
    assert stale.json()["code"] == 108
    documented = json.loads(
        (ORACLES / "examples/oauth2/oauth2-02-refreshing-a-token-response.json").read_text()
    )
    assert set(documented["body"]) <= set(ok.json())


def test_provision_status_matches_the_ups_schema() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.provision_failures.append("Role group does not exist")
    user = simulator.state.by_user_name(email("nina"))
    assert user is not None
    simulator.add_client("c", "s")
    simulator.issue_refresh_token("r")
    access = simulator.handle(
        httpx.Request(
            "POST",
            f"{US2}/oauth2/v0/token",
            data={
                "client_id": "c",
                "client_secret": "s",
                "grant_type": "refresh_token",
                "refresh_token": "r",
            },
        )
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "add",
                "path": "urn:ietf:params:scim:schemas:extension:spend:2.0:Role:roles",
                "value": [{"roleName": "EXP_APPROVER", "roleGroups": []}],
            }
        ],
    }
    patched = simulator.handle(
        httpx.Request("PATCH", f"{US2}/profile/v4/Users/{user.id}", json=body, headers=headers)
    )
    provision = patched.json()["meta"]["provisionId"]
    schema = swagger_schema("user-provisioning-v4.openapi.json", "ProvisionStatus")
    # The spec types extension `messages` as one object; the docs (and the error bodies of the same
    # spec) use an array of them. The simulator follows the docs: accept an array of that object.
    extension = schema["properties"]["operations"]["items"]["properties"]["extensions"]["items"]
    extension["properties"]["messages"] = {"type": "array", "items": extension["properties"]["messages"]}
    statuses = [
        simulator.handle(
            httpx.Request(
                "GET",
                f"{US2}/profile/v4/provisions/{provision}/status?attributes=operations",
                headers=headers,
            )
        ).json()
        for _ in range(2)
    ]
    for status in statuses:
        Draft4Validator(schema).validate(status)
    assert [s["status"]["completed"] for s in statuses] == [False, True]
    assert statuses[1]["status"]["success"] is False
