"""The Procore simulator answers the way Procore documents: errors, headers, pagination, limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, demo_state
from tests.connectors.procore_fixtures import COMPANY, FakeClock

API = "https://api.procore.com"


def client(sim: ProcoreSimulator) -> httpx.Client:
    return httpx.Client(base_url=API, transport=httpx.MockTransport(sim.handle))


def token(http: httpx.Client) -> str:
    body = {
        "grant_type": "client_credentials",
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
    }
    response = http.post("https://login.procore.com/oauth/token", json=body)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    assert (data["token_type"], data["expires_in"]) == ("bearer", 5400)
    return str(data["access_token"])


@pytest.fixture
def sim() -> ProcoreSimulator:
    return ProcoreSimulator(demo_state(), clock=FakeClock(), hourly_limit=3600, spike_limit=25)


def headers(bearer: str, company: str | None = COMPANY) -> dict[str, str]:
    found = {"Authorization": f"Bearer {bearer}"}
    if company is not None:
        found["Procore-Company-Id"] = company
    return found


def test_a_missing_company_header_is_rejected_with_procores_message(sim: ProcoreSimulator) -> None:
    with client(sim) as http:
        bearer = token(http)
        response = http.get(f"/rest/v1.3/companies/{COMPANY}/users", headers=headers(bearer, None))
        assert response.status_code == 400
        assert response.json() == {"message": "Missing Procore-Company-Id header!"}
        companies = http.get("/rest/v1.0/companies", headers=headers(bearer, None))
        assert companies.status_code == 400  # DMSA: required on /companies too


def test_a_company_without_the_app_is_403_not_connected(sim: ProcoreSimulator) -> None:
    sim.state.companies[int(COMPANY)].installed = False
    with client(sim) as http:
        response = http.get(f"/rest/v1.3/companies/{COMPANY}/users", headers=headers(token(http)))
    assert response.status_code == 403
    assert response.json() == {"message": "App is not connected to this company"}


def test_resources_the_caller_cannot_see_are_404(sim: ProcoreSimulator) -> None:
    with client(sim) as http:
        bearer = token(http)
        assert http.get("/rest/v1.0/projects/12345/users", headers=headers(bearer)).status_code == 404
        other = http.get("/rest/v1.3/companies/777/users", headers=headers(bearer))
        assert other.status_code == 404  # another company's directory under this company's header


def test_an_expired_token_is_401_with_procores_message(sim: ProcoreSimulator) -> None:
    with client(sim) as http:
        bearer = token(http)
        sim.expire_tokens()
        response = http.get(f"/rest/v1.3/companies/{COMPANY}/users", headers=headers(bearer))
    assert response.status_code == 401
    assert response.json() == {"message": "The access token is invalid"}


def test_wrong_client_secret_is_refused(sim: ProcoreSimulator) -> None:
    body = {"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": "nope"}
    with client(sim) as http:
        response = http.post("https://login.procore.com/oauth/token", json=body)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_an_invalid_template_assignment_is_422(sim: ProcoreSimulator) -> None:
    company = sim.state.companies[int(COMPANY)]
    tower = next(p for p in company.projects.values() if p.name == "Harbor Tower")
    member = next(iter(tower.members))
    outsider = next(uid for uid in company.users if uid not in tower.members)
    url = f"/rest/v1.0/projects/{tower.id}/permission_template_assignments"
    with client(sim) as http:
        bearer = token(http)

        def assign(user_id: int, template_id: int) -> httpx.Response:
            body = {
                "permission_template_assignments": {"user_id": user_id, "permission_template_id": template_id}
            }
            return http.patch(url, json=body, headers=headers(bearer))

        assert assign(member, 1).status_code == 422  # no such template
        assert assign(outsider, next(iter(company.templates))).status_code == 422  # not on the project
        ok = assign(member, next(iter(company.templates)))
    assert ok.status_code == 200
    assert ok.json() == {"user_id": member, "permission_template_id": next(iter(company.templates)),
                         "project_id": tower.id}  # fmt: skip


def test_pagination_links_follow_procores_rules(sim: ProcoreSimulator) -> None:
    with client(sim) as http:
        bearer = token(http)

        def page(n: int) -> httpx.Response:
            return http.get(
                f"/rest/v1.3/companies/{COMPANY}/users",
                params={"per_page": 4, "page": n},
                headers=headers(bearer),
            )

        first, second, third, last = page(1), page(2), page(3), page(4)
    assert (first.headers["Total"], first.headers["Per-Page"]) == ("13", "4")
    assert set(first.links) == {"next", "last"}
    assert set(second.links) == {"first", "next", "last"}
    assert set(third.links) == {"first", "prev", "next", "last"}
    assert "next" not in last.links
    assert str(first.links["next"]["url"]).endswith("page=2")
    assert len(last.json()) == 1
    ids = [u["id"] for r in (first, second, third, last) for u in r.json()]
    assert len(ids) == len(set(ids)) == 13


def test_projects_cap_per_page_at_300(sim: ProcoreSimulator) -> None:
    with client(sim) as http:
        response = http.get(
            "/rest/v1.1/projects",
            params={"company_id": COMPANY, "per_page": 5000},
            headers=headers(token(http)),
        )
    assert response.headers["Per-Page"] == "300"
    assert {p["name"] for p in response.json()} == {
        "Harbor Tower",
        "Pier 7 Retrofit",
        "Eastside Depot",
        "Warehouse 12",
    }


def test_the_spike_limit_answers_429_with_rate_limit_headers(sim: ProcoreSimulator) -> None:
    clock = sim.clock
    assert isinstance(clock, FakeClock)
    with client(sim) as http:
        bearer = token(http)
        seen = [http.get("/rest/v1.0/companies", headers=headers(bearer)) for _ in range(26)]
    assert [r.status_code for r in seen[:25]] == [200] * 25
    assert seen[0].headers["X-Rate-Limit-Limit"] == "25"  # the spike window is the closer one
    assert seen[0].headers["X-Rate-Limit-Remaining"] == "24"
    throttled = seen[25]
    assert throttled.status_code == 429
    assert throttled.headers["X-Rate-Limit-Remaining"] == "0"
    assert int(throttled.headers["X-Rate-Limit-Reset"]) > clock.now
    clock.now = float(throttled.headers["X-Rate-Limit-Reset"])
    with client(sim) as http:
        assert http.get("/rest/v1.0/companies", headers=headers(bearer)).status_code == 200


def test_the_hourly_limit_is_reported_when_it_is_closer(sim: ProcoreSimulator) -> None:
    hourly = sim.limits.windows[0]
    hourly.used, hourly.started = 3590, sim.clock()
    with client(sim) as http:
        response = http.get("/rest/v1.0/companies", headers=headers(token(http)))
    assert response.headers["X-Rate-Limit-Limit"] == "3600"
    assert response.headers["X-Rate-Limit-Remaining"] == "9"


def test_create_user_validates_and_conflicts_on_a_taken_email(sim: ProcoreSimulator) -> None:
    url = f"/rest/v1.3/companies/{COMPANY}/users"
    with client(sim) as http:
        bearer = token(http)
        missing = http.post(
            url, json={"user": {"email_address": "x@harborbuild.example"}}, headers=headers(bearer)
        )
        taken = http.post(
            url,
            json={"user": {"email_address": "ALICE.NG@harborbuild.example", "last_name": "Ng"}},
            headers=headers(bearer),
        )
        made = http.post(
            url,
            json={"user": {"email_address": "new@harborbuild.example", "last_name": "New"}},
            headers=headers(bearer),
        )
    assert missing.status_code == 400
    assert taken.status_code == 409
    assert made.status_code == 201
    assert made.json()["id"] > 2**32
    assert sim.version == 1


def test_state_round_trips_through_json(tmp_path: Any) -> None:
    state = demo_state()
    path = tmp_path / "procore.sim.json"
    state.save(path)
    assert type(state).load(path).to_json() == state.to_json()


def test_a_frozen_simulator_answers_the_same_bytes_and_sees_a_change() -> None:
    """The benchmark's server freezes its simulator (directory pages joined from each user's JSON
    made once): the same answers, and a write shows in the next pages."""
    sim = ProcoreSimulator(demo_state(), clock=FakeClock(), hourly_limit=None)
    http = client(sim)
    bearer = token(http)
    paths = [
        f"/rest/v1.3/companies/{COMPANY}/users?per_page=5&page=2",
        f"/rest/v1.3/companies/{COMPANY}/users?per_page=2000",
        f"/rest/v1.0/companies/{COMPANY}/users/inactive",
    ]

    def pages() -> list[tuple[bytes, dict[str, str]]]:
        answers = [http.get(p, headers=headers(bearer)) for p in paths]
        return [(a.content, dict(a.headers)) for a in answers]

    unfrozen = pages()
    sim.freeze()
    assert pages() == unfrozen
    user = next(u for u in sim.state.companies[int(COMPANY)].users.values() if u.is_active)
    answer = http.patch(
        f"/rest/v1.3/companies/{COMPANY}/users/{user.id}",
        json={"user": {"job_title": "Renamed Foreman"}},
        headers=headers(bearer),
    )
    assert answer.status_code == 200
    assert b"Renamed Foreman" in pages()[1][0]
