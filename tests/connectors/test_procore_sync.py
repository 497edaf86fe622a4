"""Procore sync through the real connector against the simulator."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.connectors.procore_api import PER_PAGE_PROJECTS, PER_PAGE_USERS
from reconciler.errors import ConfigError, VendorError
from reconciler.records import Grant
from reconciler.simulators.procore_state import SimProject, SimUser, scale_state
from tests.connectors.procore_fixtures import COMPANY, MANAGED, email, make, scope


def test_sync_reads_active_and_inactive_users_templates_and_managed_projects_only() -> None:
    sim, connector, _ = make()
    state = asyncio.run(connector.sync(scope()))

    accounts = {a.principal: a for a in state.accounts}
    assert accounts["former.foreman@harborbuild.example"].active is False  # from the inactive list
    assert accounts[email("alice")].active is True
    assert accounts[email("alice")].display_name == "Alice Ng"
    assert int(accounts[email("alice")].native_id) > 2**32  # 64-bit ids survive
    assert email("heidi") not in accounts
    assert len(accounts) == 14
    assert (
        Grant("procore", COMPANY, "project", "Harbor Tower", "Superintendent", email("bob")) in state.grants
    )
    assert {g.resource for g in state.grants} == set(MANAGED) - {"Warehouse 12"}
    assert not any(g.resource == "Warehouse 12" for g in state.grants)  # not managed: not read
    assert state.catalog["project"] >= {"Project Engineer", "Superintendent", "Read Only"}
    assert {"Harbor Tower", "Warehouse 12"} <= state.known_resources["project"]
    # token, companies, templates, active users, inactive users, projects, 3 managed projects (their
    # active and inactive members: the company has an inactive user)
    assert state.requests == 12
    assert sim.calls["GET /rest/v1.0/companies/562949953421312/users/inactive"] == 1


def test_sync_reads_when_each_user_last_logged_in() -> None:
    _, connector, _ = make()
    accounts = {a.principal: a for a in asyncio.run(connector.sync(scope())).accounts}
    assert accounts[email("ivan")].last_sign_in == "2026-05-14T16:20:05Z"  # last_login_at
    assert accounts[email("erin")].last_sign_in == ""  # never logged in: Procore sends none
    assert accounts["former.foreman@harborbuild.example"].last_sign_in == ""  # (the inactive list too)


def test_a_project_named_by_id_is_keyed_by_its_name_and_the_id_is_an_alias() -> None:
    sim, connector, _ = make()
    projects = sim.state.companies[int(COMPANY)].projects.values()
    tower = next(p for p in projects if p.name == "Harbor Tower")
    state = asyncio.run(connector.sync(scope([str(tower.id)])))
    assert {g.resource for g in state.grants} == {"Harbor Tower"}
    assert str(tower.id) in state.known_resources["project"]
    # every project's id (not only the managed ones'), for policies that name a project by id
    assert state.aliases == {(COMPANY, "project"): {str(p.id): p.name for p in projects}}


def test_a_project_whose_name_another_project_shares_is_keyed_by_its_id() -> None:
    sim, connector, _ = make()
    company = sim.state.companies[int(COMPANY)]
    tower = next(p for p in company.projects.values() if p.name == "Harbor Tower")
    company.projects[77] = SimProject(77, "Harbor Tower")
    company.projects[78] = SimProject(78, str(tower.id))  # a name that is another project's id
    state = asyncio.run(connector.sync(scope([str(tower.id), "78"])))
    assert {g.resource for g in state.grants} == {str(tower.id)}  # (project 78 has no members)
    names = state.aliases[(COMPANY, "project")]
    assert str(tower.id) not in names and "77" not in names and "78" not in names
    assert names[next(str(p.id) for p in company.projects.values() if p.name == "Pier 7 Retrofit")] == (
        "Pier 7 Retrofit"
    )


def test_all_projects_when_the_yaml_manages_every_project_keyed_by_name() -> None:
    sim, connector, _ = make()
    company = sim.state.companies[int(COMPANY)]
    company.projects[99] = SimProject(99, "Closed Job", active=False, members={})
    state = asyncio.run(connector.sync(scope([], all_projects=True)))
    assert {g.resource for g in state.grants} == {*MANAGED, "Warehouse 12"}
    assert "Closed Job" in state.known_resources["project"]  # known, but inactive: not managed in full


def test_pagination_follows_link_next_across_page_boundaries() -> None:
    users = PER_PAGE_USERS * 2 + 1
    state = scale_state(users=users, projects=PER_PAGE_PROJECTS + 1, members=(1, 2), inactive_share=0.0)
    project = next(iter(state.companies[int(COMPANY)].projects.values()))
    active = [u for u in state.companies[int(COMPANY)].users.values() if u.is_active]
    project.members = {u.id: None for u in active[: PER_PAGE_USERS + 5]}
    sim, connector, _ = make(state)
    result = asyncio.run(connector.sync(scope([project.name])))

    assert len(result.accounts) == users
    assert len({a.native_id for a in result.accounts}) == users
    assert len(result.grants) == PER_PAGE_USERS + 5
    assert {g.entitlement for g in result.grants} == {"(none)"}
    assert len(result.known_resources["project"]) == 2 * (PER_PAGE_PROJECTS + 1)
    assert sim.calls["GET /rest/v1.3/companies/562949953421312/users"] == 3
    assert sim.calls["GET /rest/v1.1/projects"] == 2
    assert sim.calls[f"GET /rest/v1.0/projects/{project.id}/users"] == 2


def test_sync_survives_a_429_storm() -> None:
    sim, connector, clock = make()
    sim.faults.add("429", count=12, match="/users")
    sim.faults.add("503", count=2)
    state = asyncio.run(connector.sync(scope()))
    assert len(state.grants) == 13
    assert [f.remaining for f in sim.faults.faults] == [0, 0]  # every injected 429 and 503 was served
    assert sum(clock.slept) >= 12 * 2  # waited for X-Rate-Limit-Reset each time


def test_sync_paces_itself_under_a_spike_limit_instead_of_hitting_429() -> None:
    state = scale_state(users=50, projects=30, members=(2, 4), inactive_share=0.1)
    sim, connector, clock = make(state, spike_limit=5, concurrency=1)
    result = asyncio.run(connector.sync(scope([], all_projects=True)))
    assert len({g.resource for g in result.grants}) == 30
    assert sim.limits.throttled == 0  # the pacer waited for the reset before the window ran out
    assert connector.api.pacer.paused >= 6
    assert clock.now - 1_800_000_000.0 >= 60  # 35 requests at 5 per 10 s take at least a minute


def test_sync_survives_429s_from_a_real_spike_window_with_concurrency() -> None:
    state = scale_state(users=50, projects=40, members=(2, 4), inactive_share=0.1)
    _sim, connector, _ = make(state, spike_limit=6, concurrency=8)
    result = asyncio.run(connector.sync(scope([], all_projects=True)))
    assert len({g.resource for g in result.grants}) == 40


def test_sync_announces_once_when_the_hourly_budget_runs_out() -> None:
    state = scale_state(users=20, projects=12, members=(1, 2), inactive_share=0.0)
    _sim, connector, clock = make(state, hourly_limit=10, concurrency=2)
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("reconciler")
    handler = Collect(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        result = asyncio.run(connector.sync(scope([], all_projects=True)))
    finally:
        logger.removeHandler(handler)
    assert len({g.resource for g in result.grants}) == 12
    assert len(lines) == 1, lines  # however many requests wait for the reset
    assert lines[0].startswith("procore: the rate limit is used up (0 of 10 requests left in the window)")
    assert clock.now - 1_800_000_000.0 >= 3600


def test_token_expiry_mid_sync_fetches_a_new_token_once() -> None:
    sim, connector, _ = make()
    sim.faults.add("expire-token", count=1, match="/projects/")
    state = asyncio.run(connector.sync(scope()))
    assert len(state.grants) == 13
    assert sim.tokens_issued == 2
    assert connector.api.token.fetches == 2


def test_token_is_reused_until_it_nears_expiry() -> None:
    sim, connector, clock = make()
    asyncio.run(connector.sync(scope()))
    asyncio.run(connector.sync(scope()))
    assert sim.tokens_issued == 1
    clock.now += 5400 - 60  # within the refresh margin
    asyncio.run(connector.sync(scope()))
    assert sim.tokens_issued == 2


def test_every_request_carries_the_company_header() -> None:
    sim, connector, _ = make()
    sim.keep_log = True
    asyncio.run(connector.sync(scope()))
    api_requests = [r for r in sim.log if r.url.path.startswith("/rest/")]
    assert api_requests
    assert {r.headers.get("Procore-Company-Id") for r in api_requests} == {COMPANY}
    assert any(r.url.path == "/rest/v1.0/companies" for r in api_requests)


def test_a_yaml_company_outside_procore_company_id_is_a_config_error() -> None:
    _, connector, _ = make()
    with pytest.raises(ConfigError, match="PROCORE_COMPANY_ID"):
        asyncio.run(connector.sync(scope(company="4242")))


def test_a_company_the_app_is_not_connected_to_is_a_clear_error() -> None:
    sim, connector, _ = make()
    sim.state.companies[int(COMPANY)].installed = False
    with pytest.raises(ConfigError) as caught:
        asyncio.run(connector.sync(scope()))
    assert caught.value.message == (
        f"procore: Procore refused company {COMPANY} (HTTP 403: App is not connected to this company): check "
        "PROCORE_COMPANY_ID (the company ids the app is installed in) and that the app is installed there "
        "(Company Admin > App Management)"
    )


def test_two_projects_with_one_name_must_be_named_by_id() -> None:
    sim, connector, _ = make()
    sim.state.companies[int(COMPANY)].projects[77] = SimProject(77, "Harbor Tower")
    with pytest.raises(VendorError, match=r"2 projects named 'Harbor Tower' \(ids .*77\)"):
        asyncio.run(connector.sync(scope()))


def test_user_without_email_gets_an_id_principal() -> None:
    sim, connector, _ = make()
    sim.state.companies[int(COMPANY)].users[5] = SimUser(5, "", "No", "Email")
    state = asyncio.run(connector.sync(scope()))
    assert "id:5" in {a.principal for a in state.accounts}


def test_sync_of_a_scale_company_smoke() -> None:
    state = scale_state(users=300, projects=25, members=(20, 40))
    _sim, connector, _ = make(state, concurrency=8)
    result = asyncio.run(connector.sync(scope([], all_projects=True)))
    expected = sum(len(p.members) for p in state.companies[int(COMPANY)].projects.values())
    assert len(result.grants) == expected
    assert result.requests == 1 + 1 + 1 + 1 + 1 + 1 + 25 + 25  # active and inactive members per project


def test_the_benchmark_runs_at_tiny_scale_and_is_one_request_off_the_floor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_procore_sync.py"
    spec = importlib.util.spec_from_file_location("bench_procore_sync", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--users", "300", "--projects", "10", "--latency", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["accounts"], result["throttled_429"]) == (300, 0)
    assert result["requests"] == result["minimum_requests"] + 1  # + the companies check


def _projects_moving(sim: Any, change: Callable[[dict[int, SimProject]], None]) -> None:
    """`change` the company's projects once the first page of them has been answered."""
    route = sim.route
    done: list[bool] = []

    def moving(request: httpx.Request) -> httpx.Response:
        response = route(request)
        if request.url.path == "/rest/v1.1/projects" and not done:
            done.append(True)
            change(sim.state.companies[int(COMPANY)].projects)
        return response

    sim.route = moving


def test_project_pages_side_by_side_make_the_state_pages_one_by_one_make() -> None:
    """The first page of projects says how many there are (Total, Per-Page): the others are asked
    for together, and member lists as soon as a page names their project."""
    state = scale_state(users=400, projects=3 * PER_PAGE_PROJECTS + 7, members=(1, 3))
    results = []
    for concurrency in (1, 8):
        sim, connector, _ = make(copy.deepcopy(state), concurrency=concurrency)
        results.append(asyncio.run(connector.sync(scope([], all_projects=True))))
        assert sim.calls["GET /rest/v1.1/projects"] == 4
        assert max(sim.calls[c] for c in sim.calls if c.endswith("/users") and "projects/" in c) == 1
    one_by_one, side_by_side = results
    assert side_by_side.grants == one_by_one.grants and side_by_side.accounts == one_by_one.accounts
    assert side_by_side.known_resources == one_by_one.known_resources
    assert len({g.resource for g in side_by_side.grants}) == 3 * PER_PAGE_PROJECTS + 7


def test_a_project_list_that_grows_while_it_is_read_is_read_to_its_end_each_project_once() -> None:
    """Projects added after the first page was answered, listed first: the count the first page gave
    is short and every later page has moved (projects of the first page show again). The last page's
    Link leads on to the end; each project counts once (counted twice, its name would seem shared
    and it would be keyed by its id)."""
    state = scale_state(users=300, projects=2 * PER_PAGE_PROJECTS, members=(1, 2))
    sim, connector, _ = make(state)
    old = {p.name for p in state.companies[int(COMPANY)].projects.values()}

    def grow(projects: dict[int, SimProject]) -> None:
        first = min(projects)
        new = {first - 1 - n: SimProject(first - 1 - n, f"New Job {n}") for n in range(PER_PAGE_PROJECTS + 5)}
        ordered = sorted({**projects, **new}.items())  # the simulator lists in insertion order
        projects.clear()
        projects.update(ordered)

    _projects_moving(sim, grow)
    result = asyncio.run(connector.sync(scope([], all_projects=True)))
    assert {g.resource for g in result.grants} == old  # every one, by its name
    assert sim.calls["GET /rest/v1.1/projects"] == 4  # 2 counted, then 2 more by Link


def test_a_project_list_that_shrinks_while_it_is_read_ends_with_short_pages() -> None:
    state = scale_state(users=300, projects=3 * PER_PAGE_PROJECTS, members=(1, 2))
    sim, connector, _ = make(state)
    removed: list[str] = []

    def shrink(projects: dict[int, SimProject]) -> None:
        for pid in sorted(projects)[-PER_PAGE_PROJECTS - 10 :]:
            removed.append(projects.pop(pid).name)

    _projects_moving(sim, shrink)
    result = asyncio.run(connector.sync(scope([], all_projects=True)))
    names = {g.resource for g in result.grants}
    assert len(names) == 2 * PER_PAGE_PROJECTS - 10  # every project still there, read once
    assert not names & set(removed)
