"""A success status with a body the code did not expect (a captive portal's page, a body cut short,
JSON of another type, an id missing) from ANY endpoint a connector or the GitHub client calls: one
line naming the vendor, the request and what was wrong, no secret in it, and no write to that vendor
after it. Every endpoint is driven through the real connectors over the simulators (sync, plan, apply
of the sandbox's changes and more, one change at a time so that "after" is well defined)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import garbage
from tests.garbage import Garble, Run

PORTAL = "<!DOCTYPE html><html><head><title>{}</title></head><body>Sign in to continue</body></html>"
# GitHub facts read leniently by design: an answer of another JSON type reads as "no such account"
LENIENT = frozenset({"GET /users/carol", "GET /repos/harborbuild/access/collaborators/carol/permission"})
SUCCESS = (200, 201)


@cache
def endpoints(vendor: str) -> list[tuple[str, int]]:
    """Every endpoint the clean scenario calls, with the status of its first answer."""
    clean = garbage.run(vendor)
    assert clean.errors == [], clean.errors
    found: dict[str, int] = {}
    for seen in clean.transport.seen:
        found.setdefault(seen.endpoint, seen.status)
    return list(found.items())


def check(run: Run, vendor: str, status: int, *, must_reject: bool) -> None:
    """What a user would notice: one-line errors without secrets; after a rejected answer, no write
    to that vendor and no other error; an answer that can never be right is always rejected."""
    served = run.transport.served
    assert served is not None, "the garbage was never served"
    for message in run.errors:
        assert "\n" not in message and "\r" not in message, message
        leaked = [s for s in run.secrets if len(s) >= 4 and s in message]
        assert not leaked, f"{leaked} in {message}"
    said = f"answered HTTP {status} {served.method} {served.url.path} with "
    rejected = [m for m in run.errors if said in m]
    if must_reject:
        assert rejected, f"{served.method} {served.url.path} accepted garbage: {run.errors}"
    if rejected:
        assert run.errors == rejected, "one error, not one per change"
        assert rejected[0].startswith(f"{vendor}: "), rejected[0]
        late = [s.endpoint for s in run.transport.seen if s.written_after_garbage]
        assert not late, f"written after the garbage: {late}"


def _portal(title: str) -> Garble:
    return lambda _: (PORTAL.format(title).encode(), "text/html; charset=utf-8")


ALL = [(v, e, s) for v in garbage.VENDORS for e, s in endpoints(v)]


@pytest.mark.parametrize(("vendor", "target", "status"), ALL, ids=[f"{v} {e}" for v, e, _ in ALL])
def test_a_captive_portal_page_from_any_endpoint(vendor: str, target: str, status: int) -> None:
    run = garbage.run(vendor, target, _portal("Guest Wi-Fi"))
    check(run, vendor, status, must_reject=status in SUCCESS)
    if status in SUCCESS:
        [message] = run.errors
        assert "with an HTML page (<!DOCTYPE html><html><head><title>Guest Wi-Fi</title>" in message
        assert "; check " in message and "proxy, firewall or captive portal" in message


def test_the_sweep_reaches_every_vendor_and_its_writes() -> None:
    """The scenarios reach what they should: the test above is not vacuous."""
    reached = {v: {e for e, _ in endpoints(v)} for v in garbage.VENDORS}
    assert "POST /oauth/token" in reached["procore"] and "POST /oauth2/v0/token" in reached["concur"]
    assert "POST /{id}/as/token" in reached["pingone"]
    assert len(reached["procore"]) >= 14 and len(reached["concur"]) >= 8
    assert len(reached["pingone"]) >= 19 and len(reached["github"]) >= 15
    for vendor, found in reached.items():
        writes = {e.split()[0] for e in found} & {"POST", "PATCH", "PUT", "DELETE"}
        assert {"POST", "PATCH"} <= writes, (vendor, found)


# ---------------------------------------------------------------- any garbage, any endpoint

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)


def _not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


def _mutated(body: bytes, replacement: Any) -> bytes:
    """The real answer with every id-like field (and a token's access_token) replaced."""
    keys = {"id", "access_token", "number", "status", "role", "scope", "totalResults", "href"}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: replacement if k in keys else walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    try:
        return json.dumps(walk(json.loads(body))).encode()
    except ValueError:
        return body


@st.composite
def garbage_answers(draw: st.DrawFn, secrets: tuple[str, ...]) -> tuple[str, Garble]:
    """(kind, garble): what is sent instead of the real body."""
    kind = draw(st.sampled_from(["html", "text", "cut", "empty", "scalar", "mutated"]))
    echo = draw(st.sampled_from(["", *secrets]))  # a proxy echoing the request
    as_json = "application/json"
    if kind == "html":
        title = draw(st.text(max_size=30))
        return kind, _portal(title + echo)
    if kind == "text":
        raw = draw(st.binary(min_size=1, max_size=120).filter(lambda b: b.strip() and _not_json(b)))
        return kind, lambda _: (raw + echo.encode(), "text/plain")
    if kind == "cut":
        share = draw(st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
        return kind, lambda body: (body[: max(1, int(len(body) * share))], as_json)
    if kind == "empty":
        blank = draw(st.sampled_from([b"", b" ", b"\r\n"]))
        return kind, lambda _: (blank, as_json)
    if kind == "scalar":
        value = json.dumps(draw(JSON_SCALARS)).encode()
        return kind, lambda _: (value, as_json)
    replacement = draw(st.one_of(JSON_SCALARS, st.just({"unexpected": True}), st.just([1, 2])))
    return kind, lambda body: (_mutated(body, replacement), as_json)


MUST_REJECT = {"html", "text", "cut", "scalar"}  # never a valid answer (scalars: not on LENIENT)


@pytest.mark.parametrize("vendor", garbage.VENDORS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_garbage_from_any_endpoint_is_one_line_and_stops_the_writes(
    vendor: str, data: st.DataObject
) -> None:
    target, status = data.draw(st.sampled_from(endpoints(vendor)), label="endpoint")
    kind, garble = data.draw(garbage_answers(garbage.SECRETS[vendor]), label="garbage")
    run = garbage.run(vendor, target, garble)
    must = kind in MUST_REJECT and status in SUCCESS and not (kind == "scalar" and target in LENIENT)
    check(run, vendor, status, must_reject=must)


def test_a_truncated_token_answer_never_shows_the_token() -> None:
    """`{"access_token": "…", "to` cannot be parsed, so the scrubber never learned the token: the
    excerpt masks token fields itself."""
    run = garbage.run(
        "procore", "POST /oauth/token", lambda body: (body[: len(body) // 2], "application/json")
    )
    assert run.errors == [
        "procore: login.procore.sandbox.invalid (PROCORE_LOGIN_URL) answered HTTP 200 POST /oauth/token with "
        'JSON cut short ({"access_token": "***", "token_t), not a token with an access_token; the answer was '
        "cut off: try again; if it persists, check PROCORE_LOGIN_URL and any proxy between here and "
        "login.procore.sandbox.invalid"
    ]
    assert run.transport.tokens and not [t for t in run.transport.tokens if t in run.errors[0]]


@pytest.mark.parametrize(
    ("vendor", "target", "said"),
    [
        (
            "procore",
            "GET /rest/v1.3/companies/{id}/users",
            "([0].id should be a valid integer, and 12 more; ",
        ),
        (
            "concur",
            "GET /profile/identity/v4.1/Users",
            "(Resources[0].id should be a valid string, and 12 more; ",
        ),
        (
            "pingone",
            "GET /v1/environments/{id}/users",
            "(_embedded.users[0].id should be a valid string, and 27 more; ",
        ),
        ("github", "GET /repos/harborbuild/access/pulls/{id}", "(number should be a valid integer; "),
    ],
)
def test_an_answer_whose_ids_are_not_ids_names_the_field(vendor: str, target: str, said: str) -> None:
    run = garbage.run(vendor, target, lambda body: (_mutated(body, {"unexpected": True}), "application/json"))
    [message] = run.errors
    assert f" with JSON of another shape {said}body: " in message
    assert message.endswith("points at the vendor's API, not a proxy or another service, then try again "
                            "(report it if it persists)")  # fmt: skip
    assert not [s.endpoint for s in run.transport.seen if s.written_after_garbage]


def _edited(edit: Callable[[dict[str, Any]], None]) -> Garble:
    def garble(body: bytes) -> tuple[bytes, str]:
        data = json.loads(body)
        edit(data)
        return json.dumps(data).encode(), "application/json"

    return garble


def test_a_next_link_back_to_the_same_page_ends_instead_of_paging_forever() -> None:
    def loop(page: dict[str, Any]) -> None:
        page["_links"]["next"] = {"href": page["_links"]["self"]["href"]}

    run = garbage.run("pingone", "GET /v1/environments/{id}/populations", _edited(loop), times=100)
    assert run.errors == ["pingone: the populations pages link back to a page already read"]
    assert len([s for s in run.transport.seen if s.endpoint.endswith("/populations")]) == 2


def test_a_total_no_company_has_is_not_taken_as_pages_to_fetch() -> None:
    def inflate(page: dict[str, Any]) -> None:
        page["totalResults"] = 10**12

    run = garbage.run("concur", "GET /profile/spend/v4.1/Users", _edited(inflate))
    [message] = run.errors
    assert (
        " with JSON of another shape (totalResults should be less than or equal to 10000000; body: "
        in message
    )
    assert len(run.transport.seen) < 10
