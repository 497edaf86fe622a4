"""Approver rules: who may approve each change, never its beneficiary; shown in the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.approvers import PlanRequirements, Requirement, beneficiary_login, requirements_for
from reconciler.changes import Action, Finding, Plan, Severity
from reconciler.policy_model import Policies
from reconciler.records import AccessSet
from reconciler.rules import check_desired, check_plan
from tests.policy_helpers import CO, TODAY, change, desired_from, policies_from

POLICY = """
approvers:
  project-owners:
    match: {vendor: procore, resource_type: project}
    owners:
      Harbor Tower: [carol]
    approvers: [pm]
  concur-roles:
    match: {vendor: concur, resource_type: role}
    approvers: [finance]
  concur-admins:
    match: {vendor: concur, resource: "SHD_*_ADMIN"}
    approvers: [security, "@ext-auditor"]
    minimum: 2
  pingone-roles:
    match: {vendor: pingone, resource_type: role}
    approvers: [security]
    actions: [grant, update, revoke]
default_approval: {minimum: 2}
"""

NINA = "nina@harbor.example"
ALICE = "alice@harbor.example"
GRACE = "grace@harbor.example"


@pytest.fixture
def world(tmp_path: Path) -> tuple[AccessSet, Policies]:
    return desired_from(tmp_path), policies_from(tmp_path, POLICY)


def test_a_concur_role_needs_finance_but_never_the_beneficiary(world: tuple[AccessSet, Policies]) -> None:
    desired, policies = world
    grant = change(Action.GRANT, "concur", "role", "EXP_APPROVER", "member", NINA)
    assert beneficiary_login(grant, desired) == "NKowalski"
    assert requirements_for(grant, policies, desired) == (
        Requirement("concur-roles", 1, frozenset({"ewalsh"}), "1 of finance: @ewalsh", ("finance",)),
    )
    other = change(Action.GRANT, "concur", "role", "EXP_APPROVER", "member", ALICE)
    assert requirements_for(other, policies, desired)[0].approvers == frozenset({"ewalsh", "NKowalski"})


def test_every_matching_rule_must_be_met(world: tuple[AccessSet, Policies]) -> None:
    desired, policies = world
    grant = change(Action.GRANT, "concur", "role", "SHD_ROLE_ADMIN", "member", ALICE)
    finance, admins = requirements_for(grant, policies, desired)
    assert admins == Requirement(
        "concur-admins", 2, frozenset({"glin-sec", "ext-auditor"}), "2 of security, @ext-auditor: @ext-auditor, @glin-sec",
        ("security", "@ext-auditor"),
    )  # fmt: skip
    assert finance.rule == "concur-roles"
    assert admins.met({"GLIN-SEC", "ext-auditor"})
    assert not admins.met({"glin-sec", "ewalsh"})


def test_project_owners_approve_their_project_and_others_fall_back(world: tuple[AccessSet, Policies]) -> None:
    desired, policies = world
    harbor = change(Action.UPDATE, "procore", "project", "Harbor Tower", "Project Engineer", ALICE, tenant=CO)
    depot = change(Action.GRANT, "procore", "project", "Eastside Depot", "Project Engineer", ALICE, tenant=CO)
    assert [r.description for r in requirements_for(harbor, policies, desired)] == ["1 of carol: @cokafor"]
    assert [r.description for r in requirements_for(depot, policies, desired)] == ["1 of pm: @cokafor"]


def test_unmatched_changes_need_the_default_and_revocations_need_nothing(
    world: tuple[AccessSet, Policies],
) -> None:
    desired, policies = world
    group = change(Action.GRANT, "pingone", "group", "VPN", "member", ALICE)
    assert requirements_for(group, policies, desired) == (
        Requirement("default", 2, frozenset(), "2 reviewers other than the author"),
    )
    assert (
        requirements_for(change(Action.REVOKE, "pingone", "group", "VPN", "member", ALICE), policies, desired)
        == ()
    )
    assert not Requirement("default", 2, frozenset(), "").met({"someone"})
    assert Requirement("default", 2, frozenset(), "").met({"someone", "else"})
    role_revoke = change(Action.REVOKE, "pingone", "role", "Environment Admin", "environment", ALICE)
    assert [r.rule for r in requirements_for(role_revoke, policies, desired)] == ["pingone-roles"]


def test_the_plan_shows_approvers_and_warns_when_nobody_can_approve(
    world: tuple[AccessSet, Policies],
) -> None:
    desired, policies = world
    mine = change(Action.GRANT, "pingone", "role", "Environment Admin", "environment", GRACE, person="grace",
                  source="access/pingone.yaml:9")  # fmt: skip
    theirs = change(Action.GRANT, "concur", "role", "EXP_USER", "member", ALICE)
    plan = check_plan(Plan(changes=(mine, theirs)), desired, policies, TODAY)
    assert plan.approvers == {
        mine.id: ("1 of security: nobody eligible",),
        theirs.id: ("1 of finance: @ewalsh, @NKowalski",),
    }
    assert [f for f in plan.findings if f.code.startswith("approvers")] == [
        Finding(
            Severity.WARNING,
            "approvers/pingone-roles",
            "grace: grant role Environment Admin (environment) needs 1 approval(s) from security"
            " (rule 'pingone-roles'), but only 0 person(s) other than its beneficiary can give them",
            vendor="pingone",
            principal=GRACE,
            source="access/pingone.yaml:9",
            hint="add people with `github` logins to approvers.pingone-roles, or lower minimum",
        )
    ]


def test_an_owners_only_rule_warns_about_a_project_without_owner(tmp_path: Path) -> None:
    desired = desired_from(tmp_path)
    policies = policies_from(tmp_path, POLICY.replace("    approvers: [pm]\n", "", 1))
    depot = change(Action.GRANT, "procore", "project", "Eastside Depot", "Project Engineer", ALICE, tenant=CO)
    plan = check_plan(Plan(changes=(depot,)), desired, policies, TODAY)
    assert plan.approvers == {depot.id: ("2 reviewers other than the author",)}
    assert plan.findings == (
        Finding(
            Severity.WARNING,
            "approvers/project-owners",
            "project Eastside Depot as Project Engineer: approver rule 'project-owners' lists no owner for"
            " 'Eastside Depot', so changes to it need only the default approval",
            vendor="procore",
            source="policies/rules.yaml:4",
            hint="add 'Eastside Depot' under approvers.project-owners.owners",
        ),
    )


def test_a_plan_decides_each_kind_of_change_once_with_the_same_result(
    world: tuple[AccessSet, Policies],
) -> None:
    """`PlanRequirements` (what a plan of 130,000 changes uses) shares one decision among changes
    of the same kind, but a beneficiary whom a rule names still gets requirements without them."""
    desired, policies = world
    people = [
        ALICE,
        NINA,
        GRACE,
        "carol@harbor.example",
        "erin@harbor.example",
        "heidi@harbor.example",
        "x@y",
    ]
    kinds = [
        ("concur", "role", "EXP_APPROVER", "member", ""), ("concur", "role", "SHD_ROLE_ADMIN", "member", ""),
        ("pingone", "role", "Environment Admin", "environment", ""), ("pingone", "group", "VPN", "member", ""),
        ("procore", "project", "Harbor Tower", "Project Engineer", CO),
        ("procore", "project", "Eastside Depot", "Project Engineer", CO), ("concur", "account", "", "", ""),
    ]  # fmt: skip
    changes = [
        change(action, vendor, rtype, resource, entitlement, principal, tenant=tenant)
        for action in Action
        for vendor, rtype, resource, entitlement, tenant in kinds
        for principal in people
    ]
    shared = PlanRequirements(policies, desired)
    decided = [shared.decide(c) for c in changes * 2]  # the second time from what it decided
    expected = [requirements_for(c, policies, desired) for c in changes * 2]
    assert [d.requirements for d in decided] == expected
    assert [d.descriptions for d in decided] == [tuple(r.description for r in e) for e in expected]
    assert [d.unsatisfiable for d in decided] == [tuple(r for r in e if not r.satisfiable) for e in expected]
    assert PlanRequirements(policies, desired).decide_all(changes * 2) == decided  # the plan's way
    nina = next(
        d
        for c, d in zip(changes, decided, strict=False)
        if c.principal == NINA and c.resource == "EXP_APPROVER"
    )
    alice = next(
        d
        for c, d in zip(changes, decided, strict=False)
        if c.principal == ALICE and c.resource == "EXP_APPROVER"
    )
    assert nina.requirements[0].approvers == frozenset({"ewalsh"})  # not herself
    assert alice.requirements[0].approvers == frozenset({"ewalsh", "NKowalski"})


def test_approvers_must_exist_and_be_able_to_approve(tmp_path: Path) -> None:
    desired = desired_from(tmp_path)
    policies = policies_from(
        tmp_path,
        """
        approvers:
          it-changes:
            match: {vendor: pingone}
            approvers: [heidi, financ]
            minimum: 2
        """,
    )
    assert check_desired(desired, policies, TODAY) == [
        Finding(
            Severity.ERROR,
            "approvers/it-changes",
            "approvers.it-changes: unknown person or team 'financ' (did you mean 'finance' or 'nina'?)",
            source="policies/rules.yaml:4",
            hint="name a person or team in access/, or a GitHub login as `@login`",
        ),
        Finding(
            Severity.WARNING,
            "approvers/it-changes",
            "approvers.it-changes.approvers: minimum is 2 but only 0 of heidi, financ can approve",
            source="policies/rules.yaml:4",
            hint="name more approvers (with a `github` login in access/) or lower the minimum",
        ),
        Finding(
            Severity.WARNING,
            "approvers/it-changes",
            "approvers.it-changes: heidi has no `github` login in access/, so cannot approve",
            source="policies/rules.yaml:4",
            hint="add `github: <login>` to heidi in access/",
        ),
    ]


def test_approvers_that_exist_and_suffice_raise_nothing(world: tuple[AccessSet, Policies]) -> None:
    desired, policies = world
    assert check_desired(desired, policies, TODAY) == []


def test_policy_evaluation_stays_pure() -> None:
    """The approval gate calls these from apply: they must not pull in I/O libraries."""
    import subprocess
    import sys

    code = (
        "import sys, reconciler.approvers, reconciler.rules, reconciler.rules.limits, reconciler.policy_model;"
        "print(sorted(m for m in ('httpx', 'rich', 'git', 'typer') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
