"""SAP Concur behaviours the docs describe, through the real connector and the simulator: the Spend
part of a create that failed, a geolocation with a path and a data-center move mid-run, a wrong
company id, and Expense/Request/Invoice User through `entitlements` in the sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from reconciler import cli, sandbox
from reconciler.changes import Action, Change
from reconciler.commands.concur_setup import run_setup
from reconciler.connectors.base import Outcome
from reconciler.connectors.concur_auth import GLZ, ConcurAuthError
from reconciler.errors import ConfigError
from reconciler.records import Scope
from reconciler.sandbox.concur import simulated
from reconciler.sandbox_seed import DOMAIN, email
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.concur import US2, ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.concur_state import ConcurState
from reconciler.token_store import MemoryTokenStore
from reconciler.vendors import VENDORS

EU2 = "https://eu2.api.concursolutions.com"
NEW = f"quinn.doe@{DOMAIN}"
SCOPE = Scope(
    vendors=frozenset({"concur"}),
    tenants=frozenset({("concur", "")}),
    all_of=frozenset({("concur", "", "role")}),
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def change(action: Action, principal: str, resource: str = "", **attrs: str) -> Change:
    rtype = "role" if action in (Action.GRANT, Action.REVOKE) else "account"
    return Change(f"c-{action}-{resource}", "concur", action, "", principal, rtype, resource, "member" if
                  resource else "", attributes=tuple(sorted(attrs.items())))  # fmt: skip


def apply_all(simulator: ConcurSimulator, *changes: Change, **options: Any) -> list[Any]:
    async def go() -> list[Any]:
        connector = simulated(simulator, **options)
        try:
            await connector.sync(SCOPE)
            return [await connector.apply(c) for c in changes]
        finally:
            await connector.aclose()

    return list(run(go()))


def test_a_create_whose_spend_part_failed_provisions_it_again() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.spend_failures.append("reimbursementCurrency: the currency is not active for the company")
    create = change(Action.CREATE_ACCOUNT, NEW, email=NEW, name="Quinn Doe")
    created, granted = apply_all(simulator, create, change(Action.GRANT, NEW, "EXP_APPROVER"))
    assert created.outcome is Outcome.APPLIED
    assert created.message == (
        "created; its Spend profile failed at first (User: reimbursementCurrency: the currency is not "
        "active for the company (code 400)) and was provisioned again"
    )
    user = simulator.state.by_user_name(NEW)
    assert user is not None and user.spend is not None and user.spend["reimbursementCurrency"] == "USD"
    assert granted.outcome is Outcome.APPLIED and "EXP_APPROVER" in user.role_names()


def test_an_account_left_without_a_spend_profile_gets_one_before_a_role() -> None:
    state = sandbox_state()
    nina = state.by_user_name(email("nina"))
    assert nina is not None
    nina.spend = None  # an earlier create whose Spend part failed
    simulator = ConcurSimulator(state)
    [granted] = apply_all(simulator, change(Action.GRANT, email("nina").casefold(), "EXP_APPROVER"))
    assert granted.outcome is Outcome.APPLIED
    assert nina.spend is not None and "EXP_APPROVER" in nina.role_names()


def test_a_data_center_move_mid_run_retries_the_refused_request_at_the_new_geolocation() -> None:
    simulator = ConcurSimulator(sandbox_state(), geolocation=US2)
    simulator.keep_log = True
    store = MemoryTokenStore()

    async def go() -> Any:
        connector = simulated(simulator, store=store)
        try:
            await connector.sync(SCOPE)
            simulator.move_to(EU2)  # the company moves while the run goes on
            return await connector.apply(change(Action.GRANT, email("nina").casefold(), "EXP_APPROVER"))
        finally:
            await connector.aclose()

    result = run(go())
    assert result.outcome is Outcome.APPLIED
    patches = [r for r in simulator.log if r.method == "PATCH"]
    assert [str(r.url).split("/profile")[0] for r in patches] == [US2, EU2]  # refused at US2, done at EU2
    assert store.token is not None and store.token.geolocation == EU2


def test_a_geolocation_with_a_path_plans_with_a_read_only_client() -> None:
    simulator = ConcurSimulator(sandbox_state(), geolocation=f"{US2}/concur")
    simulator.base_path = "/concur"

    async def go() -> Any:
        connector = simulated(simulator, writable=False)
        try:
            return await connector.sync(SCOPE)
        finally:
            await connector.aclose()

    assert len(run(go()).accounts) == 12
    assert simulator.calls["POST /concur/oauth2/v0/token"] == 1


def test_plan_names_a_wrong_company_id() -> None:
    simulator = ConcurSimulator(sandbox_state())
    wrong = "11111111-2222-4333-8444-555555555555"

    async def go() -> None:
        connector = simulated(simulator, writable=False)
        connector.settings = replace(connector.settings, company_id=wrong)
        try:
            await connector.sync(SCOPE)
        finally:
            await connector.aclose()

    with pytest.raises(ConfigError) as caught:
        run(go())
    assert caught.value.message == (
        f"concur: CONCUR_COMPANY_ID is {wrong}, but the refresh token belongs to company "
        f"{simulator.state.company_id} (the company of every account Concur lists): set CONCUR_COMPANY_ID "
        "to the UUID of the company the token was set up for"
    )


def test_setup_names_the_company_id_when_concur_refuses_it() -> None:
    simulator = ConcurSimulator(ConcurState())
    simulator.add_client("client-1", "secret-1")
    token = simulator.issue_request_token()
    wrong = "11111111-2222-4333-8444-555555555555"
    with pytest.raises(ConcurAuthError) as caught:
        run(
            run_setup(
                env={},
                client_id="client-1",
                client_secret=SecretStr("secret-1"),
                company_id=wrong,
                request_token=SecretStr(token),
                host=GLZ,
                store=MemoryTokenStore(),
                transport=SimulatorTransport(simulator.handle),
            )
        )
    assert f"check the company id {wrong} (--company-id / CONCUR_COMPANY_ID)" in caught.value.message
    assert token not in caught.value.message


def test_expense_request_and_invoice_user_through_entitlements_in_the_sandbox(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sandbox simulator keeps these three roles in `entitlements`, as Concur does."""
    sandbox.reset(example_repo, VENDORS)
    yaml = example_repo / "access" / "concur.yaml"
    text = yaml.read_text(encoding="utf-8").replace(
        "    Request User: [staff]\n", "    Request User: [finance]\n"
    )
    yaml.write_text(text.replace("  roles:\n", "  roles:\n    Invoice User: [frank]\n"), encoding="utf-8")

    def access(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--repo", str(example_repo), "--vendor", "concur", *args])
        return int(exit_info.value.code or 0), capsys.readouterr().out

    assert access("apply", "--sandbox", "--allow-mass-revocation")[0] == 0
    state = ConcurState.load(sandbox.state_dir(example_repo) / "concur.sim.json")
    frank, carol = state.by_user_name(f"fosei@{DOMAIN}"), state.by_user_name(email("carol"))
    assert frank is not None and carol is not None
    assert {"Invoice", "Request", "Expense"} <= set(frank.entitlements)
    assert "Request" not in carol.entitlements and "Expense" in carol.entitlements
    assert "INV_PMT_USER" not in frank.roles  # not in the Spend Role extension
    code, out = access("plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out


def test_a_lost_answer_to_a_create_reports_the_account_it_made() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.faults.add("lose-answer", 1, match="POST /profile/v4/Users")
    [created] = apply_all(simulator, change(Action.CREATE_ACCOUNT, NEW, email=NEW, name="Quinn Doe"))
    assert (created.outcome, created.message) == (Outcome.APPLIED, "created (Concur's first answer was lost)")
    assert sum(u.user_name == NEW for u in simulator.state.users.values()) == 1
