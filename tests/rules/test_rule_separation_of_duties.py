"""Separation of duties: one person must not hold conflicting entitlements, across vendors too."""

from __future__ import annotations

from pathlib import Path

from reconciler.changes import Finding, Severity
from reconciler.rules import check_desired
from tests.policy_helpers import TODAY, desired_from, policies_from

POLICY = """
separation_of_duties:
  expense-duties:
    description: whoever approves expenses must not process them
    conflicting:
      - {vendor: concur, resource_type: role, resource: EXP_APPROVER}
      - {vendor: concur, resource_type: role, resource: Expense Processor}
  admins-outside-finance:
    conflicting:
      - {vendor: pingone, resource_type: role, resource: "*Admin*"}
      - {vendor: pingone, resource_type: group, resource: Finance Systems}
      - {vendor: concur, resource_type: role, resource: INV_PMT_MANAGER}
    severity: warning
"""

CONCUR = """
concur:
  accounts: [finance]
  roles:
    Expense Approver: [nina]
    EXP_PROCESSOR: [{PROCESSORS}]
"""

PINGONE = """
pingone:
  populations:
    Employees: [finance, security]
  groups:
    Finance Systems: [finance]
  roles:
    Environment Admin:
      {ADMIN}: {expires: 2026-12-01, reason: SEC-1}
"""


def test_holding_both_expense_roles_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, concur=CONCUR.replace("{PROCESSORS}", "finance"))
    findings = check_desired(desired, policies_from(tmp_path, POLICY), TODAY)
    assert findings == [
        Finding(
            Severity.ERROR,
            "separation-of-duties/expense-duties",
            "nina would hold SAP Concur role Expense Approver (access/concur.yaml:4) and SAP Concur role"
            " Expense Processor (access/concur.yaml:5), which separation-of-duties rule 'expense-duties'"
            " forbids: whoever approves expenses must not process them",
            vendor="concur",
            principal="nina@harbor.example",
            source="access/concur.yaml:5",
            hint="remove all but one of these assignments",
        )
    ]


def test_different_people_in_the_two_roles_pass(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, concur=CONCUR.replace("{PROCESSORS}", "erin"))
    assert check_desired(desired, policies_from(tmp_path, POLICY), TODAY) == []


def test_an_admin_role_with_an_audited_group_conflicts_across_resource_types(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, pingone=PINGONE.replace("{ADMIN}", "erin"))
    findings = [
        f
        for f in check_desired(desired, policies_from(tmp_path, POLICY), TODAY)
        if f.code != "expiry-warning"
    ]
    assert [(f.severity, f.source, f.message) for f in findings] == [
        (
            Severity.WARNING,
            "access/pingone.yaml:5",
            "erin would hold PingOne role Environment Admin (access/pingone.yaml:8) and PingOne group Finance Systems"
            " (access/pingone.yaml:5), which separation-of-duties rule 'admins-outside-finance' forbids",
        )
    ]


def test_an_admin_outside_the_audited_group_passes(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, pingone=PINGONE.replace("{ADMIN}", "grace"))
    findings = check_desired(desired, policies_from(tmp_path, POLICY), TODAY)
    assert [f.code for f in findings] == ["expiry-warning"]


def test_conflicts_span_vendors(tmp_path: Path) -> None:
    concur = "concur:\n  accounts: [grace]\n  roles:\n    Invoice Payment Manager: [grace]\n"
    desired = desired_from(tmp_path, concur=concur, pingone=PINGONE.replace("{ADMIN}", "grace"))
    findings = [
        f
        for f in check_desired(desired, policies_from(tmp_path, POLICY), TODAY)
        if f.code != "expiry-warning"
    ]
    assert [f.message for f in findings] == [
        "grace would hold PingOne role Environment Admin (access/pingone.yaml:8) and SAP Concur role"
        " Invoice Payment Manager (access/concur.yaml:4), which separation-of-duties rule 'admins-outside-finance'"
        " forbids"
    ]
