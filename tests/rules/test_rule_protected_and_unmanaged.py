"""Protected principals and resources are never touched; unmanaged accounts follow the per-vendor policy."""

from __future__ import annotations

from pathlib import Path

from reconciler.changes import Action, Finding, Severity
from reconciler.connectors.base import VendorState
from reconciler.planner import PlanOptions, build_plan
from reconciler.records import AccessSet, Account, Grant
from reconciler.rules import check_desired, check_plan, plan_options
from tests.policy_helpers import TODAY, desired_from, policies_from

PINGONE = """
pingone:
  authoritative: true
  exhaustive: [groups]
  populations:
    Employees: [site]
  groups:
    VPN: [alice]
"""

POLICY = """
protected:
  principals: [BreakGlass@harbor.example]
  resources:
    - {vendor: pingone, resource_type: group, resource: Break Glass*}
unmanaged_accounts:
  pingone: {mode: deactivate, deprovision: delete}
  concur: ignore
"""


def account(email: str) -> Account:
    return Account("pingone", "", email.casefold(), email=email, attributes=(("population", "Employees"),))


def actual() -> dict[str, VendorState]:
    accounts = tuple(account(e) for e in ("alice@harbor.example", "bob@harbor.example", "breakglass@harbor.example",
                                           "temp@harbor.example"))  # fmt: skip
    grants = frozenset(
        {
            Grant("pingone", "", "group", "VPN", "member", "alice@harbor.example"),
            Grant("pingone", "", "group", "VPN", "member", "breakglass@harbor.example"),
            Grant("pingone", "", "group", "VPN", "member", "bob@harbor.example"),
            Grant("pingone", "", "group", "Break Glass Admins", "member", "bob@harbor.example"),
        }
    )
    return {"pingone": VendorState("pingone", accounts, grants)}


def planned(desired: AccessSet, options: PlanOptions) -> list[tuple[Action, str, str]]:
    plan = build_plan(desired, actual(), today=TODAY, options=options)
    return [(c.action, c.resource, c.principal) for c in plan.changes]


def test_plan_options_carry_the_unmanaged_and_protected_policies(tmp_path: Path) -> None:
    options = plan_options(policies_from(tmp_path, POLICY))
    assert options == PlanOptions(
        unmanaged={"procore": "report", "concur": "ignore", "pingone": "deactivate"},
        protected=frozenset({"breakglass@harbor.example"}),
        deprovision={"pingone": "delete"},
    )


def test_without_policies_unmanaged_accounts_are_reported_and_everyone_is_fair_game(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, pingone=PINGONE)
    plan = build_plan(desired, actual(), today=TODAY, options=plan_options(policies_from(tmp_path, "{}\n")))
    assert [(c.action, c.resource, c.principal) for c in plan.changes] == [
        (Action.REVOKE, "Break Glass Admins", "bob@harbor.example"),
        (Action.REVOKE, "VPN", "bob@harbor.example"),
        (Action.REVOKE, "VPN", "breakglass@harbor.example"),
    ]
    assert [f.principal for f in plan.findings if f.code == "unmanaged-account"] == [
        "breakglass@harbor.example",
        "temp@harbor.example",
    ]


def test_protected_principals_keep_their_access_and_unmanaged_accounts_are_deactivated(
    tmp_path: Path,
) -> None:
    desired = desired_from(tmp_path, pingone=PINGONE)
    policies = policies_from(tmp_path, POLICY)
    plan = build_plan(desired, actual(), today=TODAY, options=plan_options(policies))
    assert [(c.action, c.resource, c.principal, c.attributes) for c in plan.changes] == [
        (Action.REVOKE, "Break Glass Admins", "bob@harbor.example", ()),
        (Action.REVOKE, "VPN", "bob@harbor.example", ()),
        (Action.DEACTIVATE_ACCOUNT, "", "temp@harbor.example", (("deprovision", "delete"),)),
    ]


def test_check_plan_leaves_protected_resources_alone_and_says_so(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, pingone=PINGONE)
    policies = policies_from(tmp_path, POLICY)
    plan = check_plan(
        build_plan(desired, actual(), today=TODAY, options=plan_options(policies)), desired, policies, TODAY
    )
    assert [(c.action, c.resource, c.principal) for c in plan.changes] == [
        (Action.REVOKE, "VPN", "bob@harbor.example"),
        (Action.DEACTIVATE_ACCOUNT, "", "temp@harbor.example"),
    ]
    assert [f for f in plan.findings if f.code == "protected"] == [
        Finding(
            Severity.INFO,
            "protected",
            "PingOne: revoke group Break Glass Admins for bob is left out: the resource is protected"
            " (policies/rules.yaml:4)",
            vendor="pingone",
            principal="bob@harbor.example",
        )
    ]


def test_the_yaml_granting_on_a_protected_resource_is_a_warning(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, pingone=PINGONE + "    Break Glass Admins: [grace]\n")
    assert check_desired(desired, policies_from(tmp_path, POLICY), TODAY) == [
        Finding(
            Severity.WARNING,
            "protected",
            "grace: PingOne group Break Glass Admins is on a protected resource (policies/rules.yaml:4);"
            " the tool never changes it",
            vendor="pingone",
            principal="grace@harbor.example",
            source="access/pingone.yaml:8",
            hint="remove the assignment from access/, or the resource from protected.resources",
        )
    ]
