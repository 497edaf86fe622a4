"""The one place an unexpected answer is described (`reconciler.connectors.answers`), the client it
halts, and the executor that stops the vendor: messages asserted whole."""

from __future__ import annotations

import asyncio
import json
import types
from typing import Annotated, Any, NotRequired, TypeVar, Union, get_args, get_origin

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typing_extensions import TypedDict, get_type_hints, is_typeddict

from reconciler.changes import Action, Change
from reconciler.connectors import concur_shapes, procore_shapes
from reconciler.connectors.answers import Expected, UnexpectedAnswer, acknowledged, answer, read
from reconciler.connectors.base import ChangeResult, Outcome, VendorState
from reconciler.connectors.http import Endpoint, build_client
from reconciler.errors import VendorHalt, WritesStopped
from reconciler.executor import execute
from reconciler.records import Scope

API = "https://api.procore.com"
ENDPOINT = Endpoint.of(
    "procore", (API, "PROCORE_API_URL"), ("https://login.procore.com", "PROCORE_LOGIN_URL")
)


@answer
class Company(TypedDict):
    id: int
    name: NotRequired[str | None]


COMPANIES = Expected(list[Company], "a list of companies")


def answers(body: bytes, content_type: str = "application/json") -> tuple[httpx.AsyncClient, list[str]]:
    """A client whose every GET is answered with `body`; the requests that reached the vendor."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        if request.method == "GET":
            return httpx.Response(200, content=body, headers={"content-type": content_type})
        return httpx.Response(201, json={"id": 1})

    client = build_client(
        API,
        transport=httpx.MockTransport(handler),
        writable=True,
        allow_write=lambda r: r.url.path == "/oauth/token",
        endpoint=ENDPOINT,
    )
    return client, sent


def read_companies(body: bytes, content_type: str = "application/json") -> str:
    async def go() -> str:
        client, _ = answers(body, content_type)
        async with client:
            with pytest.raises(UnexpectedAnswer) as caught:
                read(await client.get("/rest/v1.0/companies"), COMPANIES)
        return caught.value.message

    return asyncio.run(go())


START = "procore: api.procore.com (PROCORE_API_URL) answered HTTP 200 GET /rest/v1.0/companies with "
NOT_JSON = (
    ", not a list of companies; check PROCORE_API_URL and any proxy, firewall or captive portal between here "
    "and api.procore.com, then try again"
)
SHAPE = (
    ", not a list of companies; check that PROCORE_API_URL points at the vendor's API, not a proxy or another "
    "service, then try again (report it if it persists)"
)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "application/json", f"{START}an empty body{NOT_JSON}"),
        (b"<html><title>Portal</title></html>", "text/html", f"{START}an HTML page (<html><title>Portal</title></html>){NOT_JSON}"),
        (b"Service moved\n\tto a new home", "text/plain", f"{START}a body that is not JSON (Service moved to a new home){NOT_JSON}"),
        (b'[{"id": 1, "name": "Har', "application/json", f'{START}JSON cut short ([{{"id": 1, "name": "Har), not a list of companies; the answer was cut off: try again; if it persists, check PROCORE_API_URL and any proxy between here and api.procore.com'),
        (b'{"companies": []}', "application/json", f'{START}JSON of another shape (the body should be a valid array; body: {{"companies": []}}){SHAPE}'),
        (b'[{"id": 1}, {"name": "B"}]', "application/json", f'{START}JSON of another shape ([1].id is missing; body: [{{"id": 1}}, {{"name": "B"}}]){SHAPE}'),
        (b'[{"id": "x", "name": 5}]', "application/json", f'{START}JSON of another shape ([0].id should be a valid integer, and 1 more; body: [{{"id": "x", "name": 5}}]){SHAPE}'),
    ],
    ids=["empty", "html", "text", "cut", "object", "missing", "mistyped"],
)  # fmt: skip
def test_what_was_wrong_in_one_line(body: bytes, content_type: str, message: str) -> None:
    assert read_companies(body, content_type) == message


def test_the_excerpt_masks_tokens_and_control_characters() -> None:
    message = read_companies(b'{"access_token": "eyJhbGciOi-live-token", "refresh_token": "r\x1b[31m')
    assert '{"access_token": "***", "refresh_token": "***)' in message
    assert "live-token" not in message and "\x1b" not in message


def test_after_an_unexpected_answer_the_client_sends_no_write_but_may_still_ask_for_a_token() -> None:
    async def go() -> tuple[list[str], str]:
        client, sent = answers(b"<html>portal</html>", "text/html")
        async with client:
            with pytest.raises(UnexpectedAnswer) as first:
                read(await client.get("/rest/v1.0/companies"), COMPANIES)
            with pytest.raises(WritesStopped) as refused:
                await client.post("/rest/v1.3/companies/1/users", json={"user": {}})
            assert refused.value.cause is first.value
            await client.post("/oauth/token", data={"grant_type": "client_credentials"})
            await client.get("/rest/v1.0/companies")
        return sent, refused.value.message

    sent, message = asyncio.run(go())
    assert sent == ["GET /rest/v1.0/companies", "POST /oauth/token", "GET /rest/v1.0/companies"]
    assert message == "procore: not attempted: an earlier answer stopped the writes to this vendor"


def test_a_write_answered_with_a_page_is_refused_but_no_body_is_fine() -> None:
    request = httpx.Request("PATCH", f"{API}/rest/v1.3/companies/1/users/2")
    acknowledged(httpx.Response(200, content=b"", request=request), "the updated user")
    acknowledged(httpx.Response(200, json={"id": 2}, request=request), "the updated user")
    with pytest.raises(UnexpectedAnswer) as caught:
        acknowledged(httpx.Response(200, content=b"<html>", request=request), "the updated user")
    assert caught.value.message == (
        "api.procore.com answered HTTP 200 PATCH /rest/v1.3/companies/1/users/2 with an HTML page (<html>), not "
        "the updated user; check any proxy, firewall or captive portal between here and api.procore.com, then "
        "try again"
    )


class Halting:
    """A connector whose second change meets an answer it did not expect."""

    vendor = "procore"

    def __init__(self) -> None:
        self.applied: list[str] = []

    async def sync(self, scope: Scope) -> VendorState:
        raise NotImplementedError

    async def apply(self, change: Change) -> ChangeResult:
        if change.principal == "b":
            raise VendorHalt("procore", "api.procore.com answered HTTP 200 GET /x with an HTML page")
        self.applied.append(change.principal)
        return ChangeResult(change.id, Outcome.APPLIED)

    async def aclose(self) -> None:
        return None


class Steady(Halting):
    vendor = "pingone"

    async def apply(self, change: Change) -> ChangeResult:
        self.applied.append(change.principal)
        return ChangeResult(change.id, Outcome.APPLIED)


def grant(vendor: str, principal: str) -> Change:
    return Change(f"{vendor}-{principal}", vendor, Action.GRANT, "", principal, "group", "VPN", "member")


def test_a_halt_fails_its_change_skips_the_vendors_later_changes_and_spares_the_other_vendors() -> None:
    procore, pingone = Halting(), Steady()
    changes = [grant("procore", p) for p in "abcd"] + [grant("pingone", p) for p in "abcd"]
    results = asyncio.run(execute(changes, {"procore": procore, "pingone": pingone}, concurrency=1))
    outcomes = {c.id: (r.outcome, r.message) for c, r in results}
    assert procore.applied == ["a"] and pingone.applied == ["a", "b", "c", "d"]
    assert outcomes["procore-b"] == (
        Outcome.FAILED,
        "procore: api.procore.com answered HTTP 200 GET /x with an HTML page",
    )
    stopped = "procore: not attempted: an earlier answer stopped the writes to this vendor"
    assert outcomes["procore-c"] == outcomes["procore-d"] == (Outcome.SKIPPED, stopped)


# --- the fast check of pages read in part (msgspec) agrees with pydantic's ---------------------------


BULK = [
    concur_shapes.IDENTITIES, concur_shapes.SPEND_USERS, concur_shapes.SPEND_USER,
    procore_shapes.USERS, procore_shapes.MEMBERS, procore_shapes.PROJECTS,
]  # fmt: skip
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([5.0, 2.5, "5", "true", "", 1e400]),
    st.text(max_size=4),
    st.just([]),
    st.just({}),
)
IDS = st.integers(0, 3).flatmap(
    lambda n: (
        st.sampled_from(["x\n", "\nx", "../x", "a" * 200, "a" * 201, "\u00e9", "A.b~c_d", ""])
        if n == 0
        else st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._~-]{0,12}\Z")
    )
)


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid`, and one time in twenty an odd JSON value instead."""
    return st.integers(0, 19).flatmap(lambda n: ODD if n == 0 else valid)


def _values(shape: Any, bound: dict[Any, Any]) -> st.SearchStrategy[Any]:
    """Mostly what the shape says, sometimes not: each value may be any odd JSON value instead."""
    if isinstance(shape, TypeVar):
        return _values(bound[shape], {})
    origin = get_origin(shape)
    if origin is Annotated:
        base = get_args(shape)[0]
        return _mostly(IDS if base is str else st.integers(-2, 10_000_001))
    if origin is Union or origin is types.UnionType:
        return st.one_of(*(_values(a, bound) for a in get_args(shape)))
    if origin is list:
        return _mostly(st.lists(_values(get_args(shape)[0], bound), max_size=3))
    typed = origin if origin is not None and is_typeddict(origin) else shape
    if is_typeddict(typed):
        params = dict(zip(getattr(typed, "__parameters__", ()), get_args(shape), strict=False))
        required, optional = {}, {"extra": ODD, "schemas": st.just(["x"])}
        for name, hint in get_type_hints(typed, include_extras=True).items():
            if get_origin(hint) is NotRequired:
                optional[name] = _values(get_args(hint)[0], params)
            else:
                required[name] = _values(hint, params)
        return _mostly(st.fixed_dictionaries(required, optional=optional))
    base = {
        str: st.text(max_size=6),
        int: st.integers(-(2**70), 2**70),
        bool: st.booleans(),
        type(None): st.none(),
    }
    return _mostly(base[shape]) if shape in base else ODD


@pytest.mark.parametrize("expected", BULK, ids=lambda e: e.description)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_check_accepts_only_what_pydantic_accepts_and_reads_it_the_same(
    expected: Expected[Any], data: st.DataObject
) -> None:
    """Pages of users are checked by msgspec first (a third of the time, or less); what it refuses
    pydantic checks again. So whatever msgspec accepts must be what pydantic makes of it."""
    assert expected.decoder is not None  # the pages read in bulk have a fast check
    value = data.draw(_values(expected.shape, {}))
    body = json.dumps(value).encode()
    try:
        fast: object = expected.decoder.decode(body)
    except msgspec.MsgspecError:
        return  # pydantic decides
    try:
        slow: object = expected.adapter.validate_json(body)
    except ValidationError as exc:
        raise AssertionError(f"msgspec accepted what pydantic refuses: {body!r}") from exc
    assert fast == slow


@pytest.mark.parametrize(
    "body",
    [b'{"Resources": [{"id": "a\\n"}]}', b'{"Resources": [{"id": "ok", "id": "../x"}]}',
     b'{"Resources": [{"id": "\\ud800"}]}', b'{"totalResults": 5.0}', b'{"totalResults": "5"}',
     b'{"Resources": null, "totalResults": 10000001}', b'\xff'],
)  # fmt: skip
def test_what_the_fast_check_refuses_is_read_as_pydantic_reads_it(body: bytes) -> None:
    """A trailing newline in an id (Python's `$` would allow it, Rust's does not), a repeated key,
    a lone surrogate, pydantic's lax numbers: the answer, or the error, is pydantic's."""
    expected = concur_shapes.SPEND_USERS
    response = httpx.Response(200, content=body, request=httpx.Request("GET", f"{API}/x"))
    try:
        slow: object = expected.adapter.validate_json(body)
    except ValidationError:
        with pytest.raises(UnexpectedAnswer):
            read(response, expected, endpoint=ENDPOINT)
    else:
        assert read(response, expected, endpoint=ENDPOINT) == slow
