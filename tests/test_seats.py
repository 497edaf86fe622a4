"""Seats: the accounts a plan creates and deactivates per vendor and the count it leaves, against a
`seats:` budget in policies/ and the identities PingOne's licence allows.

Pure counting first, then the `World` of the gate tests (a real repository, the sandbox vendors, the
example applied): onboarding a person over a budget is a finding at the budget's line, an error when
the policy says so, and over the PingOne licence a warning."""

from __future__ import annotations

import json

import pytest

from reconciler import sandbox
from reconciler.changes import ACCOUNT, Action, Change, Plan, Seats, Severity, count_seats
from reconciler.policy_model import Policies
from reconciler.rules import seats as seat_rules
from reconciler.sandbox.pingone import load_simulator, write_state
from tests.test_gate import World, adopted, world

__all__ = ["adopted", "world"]


def account_change(action: Action, principal: str, vendor: str = "pingone", **kw: object) -> Change:
    return Change(f"{action}-{principal}", vendor, action, "", principal, ACCOUNT, "", "", **kw)  # type: ignore[arg-type]


def test_seats_count_creations_reactivations_and_deactivations() -> None:
    changes = [
        account_change(Action.CREATE_ACCOUNT, "a@x"),
        account_change(Action.CREATE_ACCOUNT, "b@x"),
        Change("u", "pingone", Action.UPDATE, "", "c@x", ACCOUNT, "active", "true", before="false"),
        account_change(Action.DEACTIVATE_ACCOUNT, "d@x"),
        account_change(Action.DEACTIVATE_ACCOUNT, "e@x", attributes=(("deprovision", "delete"),)),
        Change("g", "pingone", Action.GRANT, "", "a@x", "group", "VPN", "member"),
        account_change(Action.CREATE_ACCOUNT, "a@x", vendor="concur"),
    ]
    pingone, concur = sorted(
        count_seats(changes, {"pingone": (10, 12), "concur": (5, 5)}), key=lambda s: s.vendor != "pingone"
    )
    assert (pingone.create, pingone.reactivate, pingone.deactivate, pingone.delete) == (2, 1, 2, 1)
    assert (pingone.after, pingone.held_after) == (10 + 2 + 1 - 2, 12 + 2 - 1)
    assert (concur.create, concur.after) == (1, 6)
    assert Seats.from_json("pingone", pingone.to_json()) == pingone


def test_a_budget_exceeded_is_a_finding_of_its_severity_at_its_line() -> None:
    plan = Plan(changes=(account_change(Action.CREATE_ACCOUNT, "a@x"),), seats=(Seats("pingone", 3, 3),))
    budgets = Policies.model_validate(
        {"seats": {"pingone": 3, "concur": {"max": 1, "severity": "error"}}}
    ).seats
    counted = seat_rules.recount(plan, budgets)
    (seats,) = counted.seats
    assert (seats.after, seats.budget) == (4, 3)
    (finding,) = seat_rules.budget_findings(counted, budgets, {"pingone": "policies/seats.yaml:2"})
    assert finding.severity is Severity.WARNING and finding.code == "seat-budget"
    assert finding.source == "policies/seats.yaml:2"
    assert (
        finding.message
        == "PingOne: 4 active accounts after this plan (3 now, 1 to create), over the budget of 3 seats by 1"
    )
    assert seat_rules.budget_findings(seat_rules.recount(plan, budgets), Policies().seats, {}) == []


def test_a_licence_is_compared_with_every_account_active_or_not() -> None:
    plan = seat_rules.recount(
        Plan(changes=(account_change(Action.CREATE_ACCOUNT, "a@x"),), seats=(Seats("pingone", 3, 5),))
    )
    licensed = seat_rules.with_licences(plan, {"pingone": (5, "")})
    (finding,) = licensed.findings
    assert finding.code == "seat-licence"
    assert (
        finding.message
        == "PingOne: 6 accounts after this plan (5 now, 1 to create), more than the 5 identities its licence allows"
    )
    unknown = seat_rules.with_licences(
        plan, {"pingone": (None, "the worker may not read the organization's licences")}
    )
    assert unknown.findings == () and unknown.seats[0].licence_note.startswith("the worker may not")


# ---------------------------------------------------------------- end to end


QUINN = "  quinn: {email: quinn.doe@harborbuild.example, name: Quinn Doe, teams: [site-engineering], github: qdoe}\n"


def onboard_quinn(world: World) -> None:
    path = world.path / "access/people.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("\nteams:\n", f"\n{QUINN}\nteams:\n".replace("\n\n", "\n", 1), 1), encoding="utf-8"
    )
    assert "quinn" in path.read_text(encoding="utf-8")


def test_onboarding_over_a_budget_is_a_finding_and_the_plan_shows_every_vendors_seats(world: World) -> None:
    onboard_quinn(world)
    (world.path / "policies/seats.yaml").write_text(
        "seats:\n  concur: 13\n  procore: {max: 99}\n", encoding="utf-8"
    )
    out = world.pending()
    assert "Seats (active accounts)" in out
    assert "SAP Concur: 13 now, 1 to create → 14 (budget 13, 1 over)" in out, out
    assert "Procore: 14 now, 1 to create → 15 (budget 99)" in out, out
    assert (
        "warning policies/seats.yaml:2: SAP Concur: 14 active accounts after this plan (13 now, 1 to create), "
        "over the budget of 13 seats by 1"
    ) in out, out
    plan = json.loads(world.access("plan", "--sandbox", "--format", "json").out)
    assert plan["seats"]["concur"] | {"budget": 13} == plan["seats"]["concur"]
    assert (plan["seats"]["concur"]["active"], plan["seats"]["concur"]["after"]) == (13, 14)
    markdown = world.access("plan", "--sandbox", "--format", "markdown").out
    assert "| SAP Concur | 13 | 1 | 0 | 0 | 14 | 13 ⚠️ |  |" in markdown, markdown

    (world.path / "policies/seats.yaml").write_text(
        "seats:\n  concur: {max: 13, severity: error}\n", encoding="utf-8"
    )
    result = world.access("plan", "--sandbox")
    assert result.code == 1 and "error policies/seats.yaml:2: SAP Concur: 14 active accounts" in result.out


def test_more_accounts_than_the_pingone_licence_allows_is_a_warning(world: World) -> None:
    path, sim = load_simulator(sandbox.state_dir(world.path))
    held = len(sim.state.users)
    sim.state.licenses[sim.state.license_id]["users"]["max"] = held
    write_state(path, sim.state)
    assert "seat-licence" not in world.access("plan", "--sandbox", "--format", "json").out
    onboard_quinn(world)
    out = world.pending()
    assert (
        f"PingOne: {held} now, 1 to create → {held + 1} (licence {held} identities, {held + 1} after this plan)"
        in out
    ), out
    assert (
        f"warning PingOne: {held + 1} accounts after this plan ({held} now, 1 to create), more than the {held} identities its licence allows"
        in out
    ), out


@pytest.mark.parametrize("value", ["-1", "lots", "{max: 3, severity: info}"])
def test_a_bad_budget_is_a_located_error(world: World, value: str) -> None:
    (world.path / "policies/seats.yaml").write_text(f"seats:\n  pingone: {value}\n", encoding="utf-8")
    result = world.access("validate")
    assert result.code == 1 and "policies/seats.yaml:2" in result.out + result.err, result.out + result.err
