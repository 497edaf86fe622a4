"""The static Concur role catalogue, and the YAML's role names checked through it."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import pytest

from reconciler.catalogs import static_catalog
from reconciler.catalogs.concur import ENTITLEMENT_ROLES, EXCLUSIVE_PAIRS, GROUP_AWARE, REQUIRES, ROLES
from reconciler.errors import ValidationErrors
from reconciler.loader import read_files
from reconciler.normalize import normalize
from reconciler.records import ResourceKey

ROOT = Path(__file__).resolve().parents[2]


def catalog():  # type: ignore[no-untyped-def]
    found = static_catalog("concur", "role")
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("EXP_APPROVER", "EXP_APPROVER"),
        ("exp_approver", "EXP_APPROVER"),
        ("Expense Approver", "EXP_APPROVER"),
        ("expense approver", "EXP_APPROVER"),
        ("  Expense   Approver ", "EXP_APPROVER"),
        ("Invoice (Payment) Processor", "INV_PROCESSOR"),
        ("Invoice(Payment) Processor", "INV_PROCESSOR"),
        ("Invoice Processor", "INV_PROCESSOR"),
        ("Expense Processor (Audit)", "EXP_PROCESSOR_AUDIT"),
        ("Web Services Administrator", "SHD_WEB_SERVICES_ADMIN"),
        ("Import/Extract Monitor", "SHD_IMPORT_EXTRACT_ADMIN_RO"),
    ],
)
def test_codes_and_display_names_resolve_to_the_code(written: str, code: str) -> None:
    assert catalog().resolve(written) == code


def test_unknown_names_get_the_closest_roles_once_each() -> None:
    assert catalog().resolve("Expence Approvr") is None
    assert catalog().suggestions("Expence Approvr") == [
        "Expense Approver",
        "Invoice Approver",
        "Expense Processor",
    ]
    assert catalog().suggestions("EXP_APROVER")[0] == "EXP_APPROVER"


def test_unsupported_and_retired_rows_are_not_in_the_catalogue() -> None:
    for name in (
        "Concur Mobile User",
        "Role Builder",
        "REPORTING_CAS_ANALYST",
        "Travel and Expense User",
        "N/A",
    ):
        assert catalog().resolve(name) is None


def test_codes_and_labels_are_unique_and_pairs_and_flags_name_real_roles() -> None:
    codes = [code for code, _, _ in ROLES]
    labels = [label.casefold() for _, label, _ in ROLES]
    assert len(set(codes)) == len(codes) and len(set(labels)) == len(labels)
    named = {c for pair in EXCLUSIVE_PAIRS for c in pair} | set(GROUP_AWARE) | set(ENTITLEMENT_ROLES)
    named |= set(REQUIRES) | set(REQUIRES.values())
    assert named <= set(codes)


def test_documented_exclusive_pairs_and_group_awareness() -> None:
    pairs = {frozenset(p) for p in catalog().exclusive_pairs}
    assert frozenset({"EXP_CONFIG_ADMIN", "EXP_CONFIG_ADMIN_RO"}) in pairs
    assert frozenset({"SHD_EMPLOYEE_ADMIN", "SHD_PASSWORD_ADMIN"}) in pairs
    assert frozenset({"REQ_PROCESSOR", "REQ_RISK_ADMIN"}) in pairs
    assert frozenset({"EXP_PROCESSOR", "EXP_PROCESSOR_ADMIN"}) not in pairs  # "should only", not "cannot"
    assert {"EXP_PROCESSOR", "SHD_ROLE_ADMIN"} <= GROUP_AWARE
    assert "EXP_APPROVER" not in GROUP_AWARE
    assert ENTITLEMENT_ROLES == {"EXP_USER": "Expense", "REQ_USER": "Request", "INV_PMT_USER": "Invoice"}


def example_repo(tmp_path: Path, concur_yaml: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "access").mkdir(parents=True)
    shutil.copy(ROOT / "access" / "people.yaml", repo / "access" / "people.yaml")
    (repo / "access" / "concur.yaml").write_text(textwrap.dedent(concur_yaml).lstrip(), encoding="utf-8")
    return repo


def test_an_unknown_role_in_the_yaml_is_a_file_line_error_with_the_closest_names(tmp_path: Path) -> None:
    repo = example_repo(
        tmp_path,
        """
        concur:
          accounts: [office]
          roles:
            EXP_APPROVER: [carol]
            Expense Aprover: [dan]
        """,
    )
    with pytest.raises(ValidationErrors) as caught:
        normalize(read_files(repo), today=dt.date(2026, 11, 23))
    assert str(caught.value) == (
        "access/concur.yaml:5: concur.roles: unknown Concur role 'Expense Aprover' "
        "(did you mean 'Expense Approver' or 'Expense Processor' or 'Expense User'?)"
    )


def test_the_example_yaml_normalizes_to_role_codes() -> None:
    desired = normalize(read_files(ROOT), today=dt.date(2026, 11, 23), vendors=["concur"])
    roles = {k.resource for k in desired.scope.resources if k.vendor == "concur"}
    assert roles == {
        "EXP_USER",
        "EXP_APPROVER",
        "EXP_PROCESSOR",
        "INV_APPROVER",
        "REQ_USER",
        "SHD_WEB_SERVICES_ADMIN",
    }
    assert ResourceKey("concur", "", "role", "EXP_APPROVER") in desired.scope.resources
