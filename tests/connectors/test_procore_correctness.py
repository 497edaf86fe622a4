"""Procore behaviours the docs describe, through the real connector (and the CLI) and the simulator:
inactive project members, an add that keeps an existing member's template, a project whose Directory
tool is disabled, a rate budget spent before the run starts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from reconciler import cli, sandbox
from reconciler.changes import Action
from reconciler.connectors.base import Outcome
from reconciler.simulators.procore_state import ProcoreState
from reconciler.vendors import VENDORS
from tests.connectors.procore_fixtures import COMPANY, FakeClock, change, email, make, scope

SIM_FILE = "procore.sim.json"


def access(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--repo", str(repo), "--vendor", "procore", *args])
    return int(exit_info.value.code or 0), capsys.readouterr().out


def converged(capsys: pytest.CaptureFixture[str], repo: Path) -> tuple[Path, ProcoreState]:
    sandbox.reset(repo, VENDORS)
    assert access(capsys, repo, "apply", "--sandbox", "--allow-mass-revocation")[0] == 0
    path = sandbox.state_dir(repo) / SIM_FILE
    return path, ProcoreState.load(path)


def test_reactivating_someone_plans_their_old_project_template_from_the_inactive_list(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, state = converged(capsys, example_repo)
    company = state.companies[int(COMPANY)]
    mike = company.user_by_email(email("mike"))
    pier = next(p for p in company.projects.values() if p.name == "Pier 7 Retrofit")
    read_only = next(t.id for t in company.templates.values() if t.name == "Read Only")
    assert mike is not None
    mike.is_active = False  # deactivated by hand, still on Pier 7 with another template
    pier.members[mike.id] = read_only
    state.save(path)

    code, out = access(capsys, example_repo, "plan", "--sandbox")
    assert code == 0
    assert "Plan: 2 to update." in out  # reactivate, and Read Only -> Project Engineer (not a grant)
    assert access(capsys, example_repo, "apply", "--sandbox")[0] == 0
    after = ProcoreState.load(path).companies[int(COMPANY)]
    project_engineer = next(t.id for t in after.templates.values() if t.name == "Project Engineer")
    assert after.projects[pier.id].members[mike.id] == project_engineer
    assert access(capsys, example_repo, "plan", "--sandbox", "--detailed-exitcode")[0] == 0


def test_an_add_of_someone_already_on_the_project_sets_the_template_it_reports() -> None:
    sim, connector, _ = make()
    company = sim.state.companies[int(COMPANY)]
    tower = next(p for p in company.projects.values() if p.name == "Harbor Tower")
    mike = company.user_by_email(email("mike"))
    read_only = next(t.id for t in company.templates.values() if t.name == "Read Only")
    grant = change(Action.GRANT, email("mike"), resource="Harbor Tower", entitlement="Superintendent")
    assert mike is not None
    tower.members.pop(mike.id, None)

    async def go() -> Any:
        await connector.sync(scope())
        tower.members[mike.id] = read_only  # added by hand after the sync
        return await connector.apply(grant)

    result = asyncio.run(go())
    superintendent = next(t.id for t in company.templates.values() if t.name == "Superintendent")
    assert tower.members[mike.id] == superintendent, (
        "the audit log must not record a change that did not happen"
    )
    assert (result.outcome, result.message) == (
        Outcome.APPLIED,
        "was already on the project as Read Only; template changed",
    )


def test_a_project_whose_directory_tool_is_disabled_is_a_finding(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, state = converged(capsys, example_repo)
    company = state.companies[int(COMPANY)]
    depot = next(p for p in company.projects.values() if p.name == "Eastside Depot")
    depot.directory = False
    depot.members.clear()  # whatever it holds, access cannot see it
    state.save(path)

    code, out = access(capsys, example_repo, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out  # nothing planned there: a finding, not a surprise at apply
    assert (
        "Procore project 'Eastside Depot' in company 562949953421312 could not be read (HTTP 403 on its "
        in out
    )
    assert "enable the Directory tool on the project" in out


def test_a_run_that_starts_with_the_hourly_budget_spent_says_so_once() -> None:
    clock = FakeClock()
    sim, connector, _ = make(clock=clock, hourly_limit=600)
    hourly = sim.limits.windows[0]
    hourly.started, hourly.used = clock.now - 600, 600  # spent by another app run 10 minutes ago
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("reconciler")
    handler = Collect(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        state = asyncio.run(connector.sync(scope()))
    finally:
        logger.removeHandler(handler)
    assert state.accounts
    assert len(lines) == 1, lines
    assert lines[0].startswith("procore: rate limited (HTTP 429 on GET /rest/v1.0/companies); waiting 30")
    assert " s, until " in lines[0] and lines[0].endswith(" UTC")


def test_a_lost_answer_to_a_create_reports_the_account_it_made() -> None:
    sim, connector, _ = make()
    sim.faults.add("lose-answer", 1, match=f"POST /rest/v1.3/companies/{COMPANY}/users")
    attrs = [("email", "quinn.doe@harborbuild.example"), ("name", "Quinn Doe")]
    create = change(
        Action.CREATE_ACCOUNT, "quinn.doe@harborbuild.example", resource_type="account", attributes=attrs
    )

    async def go() -> Any:
        await connector.sync(scope())
        return await connector.apply(create)

    result = asyncio.run(go())
    assert (result.outcome, result.message) == (Outcome.APPLIED, "created (Procore's first answer was lost)")
    company = sim.state.companies[int(COMPANY)]
    assert sum(u.email == "quinn.doe@harborbuild.example" for u in company.users.values()) == 1
