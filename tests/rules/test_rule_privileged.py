"""Privileged entitlements must be time-bound (expires within N days) and carry a ticket reason."""

from __future__ import annotations

from pathlib import Path

from reconciler.changes import Finding, Severity
from reconciler.rules import check_desired
from tests.policy_helpers import TODAY, desired_from, policies_from

POLICY = """
privileged:
  admin-roles:
    entitlements:
      - {vendor: pingone, resource_type: role, resource: Environment Admin}
      - {vendor: concur, resource_type: role, resource: Web Services Administrator}
    max_days: 90
    reason_pattern: '^(SEC|IT)-\\d+$'
expiry_warnings: {within_days: 0}
"""


def pingone(options: str) -> str:
    return f"""
pingone:
  populations:
    Employees: [security, it]
  roles:
    Environment Admin:
      grace: {options}
"""


def findings_for(tmp_path: Path, options: str) -> list[Finding]:
    desired = desired_from(tmp_path, pingone=pingone(options))
    return check_desired(desired, policies_from(tmp_path, POLICY), TODAY)


def test_standing_admin_access_is_an_error(tmp_path: Path) -> None:
    assert findings_for(tmp_path, "environment") == [
        Finding(
            Severity.ERROR,
            "privileged/admin-roles",
            "grace: PingOne role Environment Admin is privileged (rule 'admin-roles') but has no `expires`"
            " and has no `reason`",
            vendor="pingone",
            principal="grace@harbor.example",
            source="access/pingone.yaml:6",
            hint="write it as `{expires: <2027-02-21 or earlier>, reason: <ticket id>}`",
        )
    ]


def test_too_long_and_without_a_ticket_is_an_error(tmp_path: Path) -> None:
    [finding] = findings_for(tmp_path, "{expires: 2027-06-30, reason: because}")
    assert finding.message == (
        "grace: PingOne role Environment Admin is privileged (rule 'admin-roles') but expires 2027-06-30,"
        " more than 90 days away and has reason 'because', which does not match '^(SEC|IT)-\\\\d+$'"
    )


def test_time_bound_with_a_ticket_passes(tmp_path: Path) -> None:
    assert findings_for(tmp_path, "{expires: 2027-02-21, reason: SEC-1042}") == []


def test_a_concur_role_matches_by_name_while_held_by_code(tmp_path: Path) -> None:
    concur = "concur:\n  accounts: [heidi]\n  roles:\n    SHD_WEB_SERVICES_ADMIN: [heidi]\n"
    desired = desired_from(tmp_path, concur=concur)
    [finding] = check_desired(desired, policies_from(tmp_path, POLICY), TODAY)
    assert (finding.source, finding.message) == (
        "access/concur.yaml:4",
        "heidi: SAP Concur role Web Services Administrator is privileged (rule 'admin-roles') but has no"
        " `expires` and has no `reason`",
    )


def test_entitlements_outside_the_rule_are_not_privileged(tmp_path: Path) -> None:
    concur = "concur:\n  accounts: [heidi]\n  roles:\n    Expense User: [heidi]\n"
    desired = desired_from(tmp_path, concur=concur)
    assert check_desired(desired, policies_from(tmp_path, POLICY), TODAY) == []
