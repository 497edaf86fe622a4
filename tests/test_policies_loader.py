"""policies/*.yaml load into one Policies, and every mistake is reported at file:line, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ValidationErrors
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from tests.policy_helpers import write

ROOT = Path(__file__).resolve().parents[1]


def errors_of(repo: Path) -> list[str]:
    with pytest.raises(ValidationErrors) as info:
        load_policies(repo)
    return [e.message for e in info.value.errors]


def test_no_policies_directory_means_the_defaults(tmp_path: Path) -> None:
    policies = load_policies(tmp_path)
    assert policies == Policies()
    assert policies.default_approval.minimum == 1
    assert policies.limits.max_revocation_share == 0.25
    assert policies.unmanaged_accounts.rule("procore").mode == "report"


def test_the_example_policies_load_and_know_their_lines() -> None:
    policies = load_policies(ROOT)
    assert set(policies.approvers) >= {"procore-project-owners", "concur-roles", "pingone-roles"}
    assert policies.where("approvers", "concur-roles") == "policies/approvers.yaml:28"
    assert policies.where("limits", "max_revocations") == "policies/safety.yaml:18"


def test_unknown_field_suggests_a_policy_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "policies/a.yaml",
        """
        approvers:
          concur:
            match: {vendor: concur}
            approvers: [finance]
            minimun: 2
        """,
    )
    assert errors_of(tmp_path) == [
        "policies/a.yaml:5: approvers.concur: unknown field 'minimun' (did you mean 'minimum'?)"
    ]


def test_bad_values_are_located_and_reported_together(tmp_path: Path) -> None:
    write(
        tmp_path,
        "policies/a.yaml",
        """
        separation_of_duties:
          expense:
            conflicting:
              - {vendor: concur, resource_type: role, resource: Expense Aprover}
              - {vendor: concur, resource_type: role, resource: EXP_PROCESSOR}
        privileged:
          admins:
            entitlements: {vendor: pingone, resource_type: roles}
            max_days: 0
            reason_pattern: "[A-Z"
        limits:
          max_revocation_share: 1.5
        unmanaged_accounts:
          concur: delete
        """,
    )
    assert errors_of(tmp_path) == [
        "policies/a.yaml:4: separation_of_duties.expense.conflicting.0: unknown Concur role 'Expense Aprover'"
        " (did you mean 'Expense Approver' or 'Expense Processor' or 'Expense User'?)",
        "policies/a.yaml:8: privileged.admins.entitlements.0: unknown resource_type 'roles' for pingone"
        " (known: group, role)",
        "policies/a.yaml:9: privileged.admins.max_days: Input should be greater than or equal to 1",
        "policies/a.yaml:10: privileged.admins.reason_pattern: not a regular expression:"
        " unterminated character set at position 0",
        "policies/a.yaml:12: limits.max_revocation_share: Input should be less than or equal to 1",
        "policies/a.yaml:14: unmanaged_accounts.concur.mode: Input should be 'ignore', 'report' or 'deactivate'",
    ]


def test_a_rule_needs_someone_to_approve(tmp_path: Path) -> None:
    write(tmp_path, "policies/a.yaml", "approvers:\n  empty:\n    match: {vendor: procore}\n")
    assert errors_of(tmp_path) == [
        "policies/a.yaml:2: approvers.empty: a rule needs `approvers`, `owners`, or both"
    ]


def test_protected_principals_are_emails(tmp_path: Path) -> None:
    write(tmp_path, "policies/a.yaml", "protected:\n  principals: [breakglass@harbor.example, heidi]\n")
    assert errors_of(tmp_path) == [
        "policies/a.yaml:2: protected.principals: 'heidi' is not an email"
        " (protected principals are emails, or login:<name>)"
    ]


def test_rules_merge_across_files_and_a_name_is_unique(tmp_path: Path) -> None:
    rule = "approvers:\n  finance:\n    match: {vendor: concur}\n    approvers: [finance]\n"
    write(tmp_path, "policies/a.yaml", rule)
    write(tmp_path, "policies/b.yaml", rule.replace("finance:", "pingone:").replace("concur", "pingone"))
    assert set(load_policies(tmp_path).approvers) == {"finance", "pingone"}
    write(tmp_path, "policies/c.yaml", "# again\n" + rule)
    assert errors_of(tmp_path) == [
        "policies/c.yaml:3: approvers: rule 'finance' is defined twice (first at policies/a.yaml:2)"
    ]


def test_a_single_section_is_set_in_one_file(tmp_path: Path) -> None:
    write(tmp_path, "policies/a.yaml", "limits:\n  max_revocations: 10\n")
    write(tmp_path, "policies/b.yaml", "expiry_warnings: {within_days: 7}\nlimits:\n  max_revocations: 20\n")
    assert errors_of(tmp_path) == [
        "policies/b.yaml:2: limits is set here and at policies/a.yaml:1; set it in one file"
    ]


def test_yaml_mistakes_use_the_shared_loader(tmp_path: Path) -> None:
    write(tmp_path, "policies/a.yaml", "limits:\n  max_revocations: 1\n  max_revocations: 2\n")
    write(tmp_path, "policies/b.yaml", "- just a list\n")
    assert errors_of(tmp_path) == [
        "policies/a.yaml:3: duplicate key 'max_revocations' (first at line 2)",
        "policies/b.yaml:1: a file in policies/ must be a mapping of sections",
    ]
