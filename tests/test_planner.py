"""The plan engine on hand-built states: pure, deterministic, and explained."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from reconciler.changes import Action, Severity
from reconciler.connectors.base import VendorState
from reconciler.loader import read_files
from reconciler.normalize import normalize
from reconciler.planner import PlanOptions, build_plan
from reconciler.records import Account, Grant
from tests.helpers import write

TODAY = dt.date(2026, 11, 23)
CO = "562949953421312"

PEOPLE = """
people:
  alice: {email: Alice@Harbor.example, name: Alice Ng, teams: [site]}
  bob: {email: bob@harbor.example, name: Bob Ruiz, teams: [site], concur: bruiz}
  carol: {email: carol@harbor.example, name: Carol Okafor}
teams:
  site: {description: Site engineers}
  everyone: {members: [site, carol]}
"""


def desired(tmp_path: Path, vendor_yaml: str):  # type: ignore[no-untyped-def]
    write(tmp_path, "access/people.yaml", PEOPLE)
    write(tmp_path, "access/vendor.yaml", vendor_yaml)
    return normalize(read_files(tmp_path), today=TODAY)


def procore_account(email: str, *, active: bool = True, native: str = "") -> Account:
    return Account("procore", CO, email.casefold(), active=active, email=email, native_id=native or email)


def project(name: str, template: str, email: str) -> Grant:
    return Grant("procore", CO, "project", name, template, email.casefold())


PROCORE_YAML = f"""
procore:
  authoritative: true
  companies:
    "{CO}":
      accounts: [everyone]
      projects:
        Harbor Tower:
          site: Project Engineer
          carol: {{template: Project Manager, reason: PROJ-42}}
        Pier 7:
          authoritative: false
          members:
            alice: Superintendent
        Old Depot:
          bob: {{template: Project Engineer, expires: 2026-10-31, reason: PROC-9}}
"""


def test_team_expansion_template_change_expiry_and_unmanaged(tmp_path: Path) -> None:
    access = desired(tmp_path, PROCORE_YAML)
    actual = VendorState(
        "procore",
        accounts=(
            procore_account("alice@harbor.example"),
            procore_account("bob@harbor.example"),
            procore_account("carol@harbor.example", active=False),
            procore_account("pat@harbor.example"),
        ),
        grants=frozenset(
            {
                project("Harbor Tower", "Superintendent", "bob@harbor.example"),  # template change -> update
                project("Harbor Tower", "Project Engineer", "pat@harbor.example"),  # out of band -> revoke
                project("Pier 7", "Project Engineer", "pat@harbor.example"),  # additive project: left alone
                project("Old Depot", "Project Engineer", "bob@harbor.example"),  # expired -> revoke
                project("Warehouse", "Project Engineer", "pat@harbor.example"),  # unmanaged project
            }
        ),
    )
    plan = build_plan(access, {"procore": actual}, today=TODAY)
    rows = [
        (c.action, c.person or c.principal, c.resource, c.before, c.entitlement, c.note) for c in plan.changes
    ]
    assert rows == [
        (Action.UPDATE, "carol", "active", "false", "true", "reactivate"),
        (Action.UPDATE, "bob", "Harbor Tower", "Superintendent", "Project Engineer", ""),
        (Action.GRANT, "alice", "Harbor Tower", "", "Project Engineer", ""),
        (Action.GRANT, "carol", "Harbor Tower", "", "Project Manager", ""),
        (Action.GRANT, "alice", "Pier 7", "", "Superintendent", ""),
        (Action.REVOKE, "pat@harbor.example", "Harbor Tower", "", "Project Engineer", "not in the YAML"),
        (Action.REVOKE, "bob", "Old Depot", "", "Project Engineer", "expired 2026-10-31"),
    ]
    by_person = {(c.person, c.resource): c for c in plan.changes}
    assert by_person[("alice", "Harbor Tower")].source == "access/vendor.yaml:8"
    assert by_person[("carol", "Harbor Tower")].reason == "PROJ-42"
    assert by_person[("bob", "Old Depot")].source == "access/vendor.yaml:15"
    assert plan.summary == {
        "create_account": 0,
        "update": 2,
        "grant": 3,
        "revoke": 2,
        "deactivate_account": 0,
    }
    assert plan.summary_line() == "Plan: 3 to grant, 2 to revoke, 2 to update."
    [unmanaged] = [f for f in plan.findings if f.code == "unmanaged-account"]
    assert unmanaged.principal == "pat@harbor.example"
    assert not any(c.action is Action.DEACTIVATE_ACCOUNT for c in plan.changes)


def test_order_and_ids_are_deterministic(tmp_path: Path) -> None:
    access = desired(tmp_path, PROCORE_YAML)
    empty = VendorState("procore", (), frozenset())
    first = build_plan(access, {"procore": empty}, today=TODAY)
    second = build_plan(access, {"procore": empty}, today=TODAY)
    assert [c.id for c in first.changes] == [c.id for c in second.changes]
    assert len({c.id for c in first.changes}) == len(first.changes)
    actions = [c.action for c in first.changes]
    assert actions == sorted(actions, key=lambda a: list(Action).index(a))
    assert first.changes_hash == second.changes_hash


def test_no_changes_when_actual_matches(tmp_path: Path) -> None:
    access = desired(tmp_path, PROCORE_YAML)
    actual = VendorState(
        "procore",
        accounts=tuple(
            procore_account(e) for e in ("alice@harbor.example", "bob@harbor.example", "carol@harbor.example")
        ),
        grants=frozenset(g for g in access.grants),
    )
    plan = build_plan(access, {"procore": actual}, today=TODAY)
    assert plan.changes == ()
    assert plan.summary_line() == "No changes. The vendors match the YAML."


CONCUR_YAML = """
concur:
  authoritative: true
  accounts: [everyone]
  roles:
    EXP_APPROVER: [bob]
"""


def test_login_override_matches_account_and_duplicates_are_findings(tmp_path: Path) -> None:
    access = desired(tmp_path, CONCUR_YAML)
    actual = VendorState(
        "concur",
        accounts=(
            Account(
                "concur", "", "robert.ruiz@harbor.example", attributes=(("login", "BRuiz"),), native_id="u1"
            ),
            Account("concur", "", "alice@harbor.example", native_id="u2"),
            Account("concur", "", "alice@harbor.example", native_id="u3"),
            Account("concur", "", "carol@harbor.example", native_id="u4"),
        ),
        grants=frozenset(
            {Grant("concur", "", "role", "EXP_APPROVER", "member", "robert.ruiz@harbor.example")}
        ),
    )
    plan = build_plan(access, {"concur": actual}, today=TODAY)
    assert plan.changes == ()  # bob's account was found through his Concur login, role included
    [ambiguous] = [f for f in plan.findings if f.code == "ambiguous-account"]
    assert ambiguous.severity is Severity.WARNING
    assert "alice@harbor.example matches more than one account (u2, u3)" in ambiguous.message


def test_an_inactive_duplicate_of_a_matched_account_changes_nothing(tmp_path: Path) -> None:
    """Accounts are matched column by column unless two come to one person; then one by one. An
    inactive second account of a person (by email, or by login) leaves the plan as it was."""
    access = desired(tmp_path, CONCUR_YAML)
    bob = Account(
        "concur", "", "robert.ruiz@harbor.example", attributes=(("login", "BRuiz"),), native_id="u1"
    )
    accounts = (
        bob,
        Account("concur", "", "alice@harbor.example", display_name="Alice A.", native_id="u2"),
        Account("concur", "", "carol@harbor.example", active=False, native_id="u4"),
        Account("concur", "", "old@harbor.example", native_id="u5"),
    )
    grants = frozenset({Grant("concur", "", "role", "EXP_APPROVER", "member", bob.principal)})
    plans = [
        build_plan(access, {"concur": VendorState("concur", accounts + extra, grants)}, today=TODAY)
        for extra in (
            (),
            (Account("concur", "", "alice@harbor.example", active=False, native_id="u6"),),
            (Account("concur", "", "bob.old@harbor.example", False, attributes=(("login", "bruiz"),), native_id="u7"),),
        )
    ]  # fmt: skip
    assert plans[0].changes == plans[1].changes == plans[2].changes
    assert plans[0].findings == plans[1].findings == plans[2].findings
    assert {(c.action, c.principal, c.account_id) for c in plans[0].changes} == {
        (Action.UPDATE, "carol@harbor.example", "u4"),  # reactivated
    }
    assert {(f.code, f.principal) for f in plans[0].findings} >= {("unmanaged-account", "old@harbor.example")}


def test_unmanaged_accounts_deactivated_by_policy_but_never_protected_ones(tmp_path: Path) -> None:
    access = desired(tmp_path, CONCUR_YAML)
    actual = VendorState(
        "concur",
        accounts=(
            Account("concur", "", "old@harbor.example"),
            Account("concur", "", "breakglass@harbor.example"),
        ),
        grants=frozenset(),
    )
    options = PlanOptions(
        unmanaged={"concur": "deactivate"}, protected=frozenset({"breakglass@harbor.example"})
    )
    plan = build_plan(access, {"concur": actual}, today=TODAY, options=options)
    deactivated = [c.principal for c in plan.changes if c.action is Action.DEACTIVATE_ACCOUNT]
    assert deactivated == ["old@harbor.example"]


PINGONE_YAML = """
pingone:
  authoritative: true
  exhaustive: [roles]
  populations:
    Employees: [site]
  groups:
    VPN: [site, carol]
  roles:
    Identity Data Admin:
      alice: environment
"""


def test_population_move_is_one_update_and_exhaustive_roles_revoke_hand_grants(tmp_path: Path) -> None:
    access = desired(tmp_path, PINGONE_YAML)
    actual = VendorState(
        "pingone",
        accounts=(
            Account("pingone", "", "alice@harbor.example", attributes=(("population", "Contractors"),)),
            Account("pingone", "", "bob@harbor.example", attributes=(("population", "Employees"),)),
        ),
        grants=frozenset(
            {
                Grant("pingone", "", "role", "Identity Data Admin", "environment", "alice@harbor.example"),
                Grant("pingone", "", "role", "Environment Admin", "environment", "bob@harbor.example"),
            }
        ),
        indirect=frozenset({Grant("pingone", "", "group", "VPN", "member", "zed@harbor.example")}),
    )
    plan = build_plan(access, {"pingone": actual}, today=TODAY)
    rows = [(c.action, c.person, c.resource_type, c.resource, c.before, c.entitlement) for c in plan.changes]
    assert (Action.UPDATE, "alice", "account", "population", "Contractors", "Employees") in rows
    assert (Action.REVOKE, "bob", "role", "Environment Admin", "", "environment") in rows
    assert (Action.GRANT, "alice", "group", "VPN", "", "member") in rows
    # carol has no population, so no account can be created for her: a finding, not a crash
    [no_account] = [f for f in plan.findings if f.code == "no-account"]
    assert no_account.principal == "carol@harbor.example"
    assert no_account.source == "access/vendor.yaml:7"
    assert not any(c.person == "carol" for c in plan.changes)
    # an indirect member is shown, never revoked
    assert any(f.code == "indirect-member" and "zed@harbor.example" in f.message for f in plan.findings)
    assert not any(c.principal == "zed@harbor.example" for c in plan.changes)


def test_pure_modules_import_no_io_libraries() -> None:
    code = (
        "import sys; import reconciler.planner, reconciler.normalize, reconciler.loader, reconciler.render.text, "
        "reconciler.render.markdown; bad = [m for m in ('httpx', 'git', 'rich.console') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_a_matched_account_with_another_name_is_pointed_out_not_changed(tmp_path: Path) -> None:
    access = desired(tmp_path, CONCUR_YAML)
    actual = VendorState(
        "concur",
        accounts=(
            Account("concur", "", "bob@harbor.example", display_name="Robert  Ruiz", native_id="u1",
                    attributes=(("login", "bruiz"),)),
            Account("concur", "", "alice@harbor.example", display_name="alice   ng", native_id="u2"),
            Account("concur", "", "carol@harbor.example", native_id="u3"),
        ),
        grants=frozenset({Grant("concur", "", "role", "EXP_APPROVER", "member", "bob@harbor.example")}),
    )  # fmt: skip
    plan = build_plan(access, {"concur": actual}, today=TODAY)
    assert plan.changes == ()
    details = [f for f in plan.findings if f.code == "account-details"]
    assert [f.message for f in details] == [
        "SAP Concur: the account matched for bob (u1) shows name 'Robert  Ruiz' (YAML: 'Bob Ruiz')"
    ]  # alice's differs only in case and spacing
    assert details[0].source == "access/vendor.yaml:3"


def test_changes_come_in_sort_key_order_whatever_their_mix() -> None:
    """The planner orders a vendor's changes by grouping them (see planner._sort_order), not by
    sorting whole keys: the order must be exactly a stable sort by Change.sort_key."""
    import random

    from reconciler.changes import changes_from_rows
    from reconciler.planner import _sort_order

    rng = random.Random(13)
    words = ["", "a", "B", "ab", "a b", "é", "Harbor Tower", "z"]
    rows = [
        (f"id{i}", "procore", rng.choice(list(Action)), rng.choice(["", "1", "2"]), rng.choice(words),
         rng.choice(["project", "account"]), rng.choice(words), rng.choice(words), "", "", "", "", "", "",
         (), str(i))
        for i in range(3000)
    ]  # fmt: skip
    changes = changes_from_rows(rows)
    columns = [[getattr(c, name) for c in changes] for name in ("action", "tenant", "principal")]
    columns += [[getattr(c, name) for c in changes] for name in ("resource_type", "resource", "entitlement")]
    ordered = [changes[i] for i in _sort_order(*columns)]
    assert ordered == sorted(changes, key=lambda c: c.sort_key)
    assert [c.account_id for c in ordered] == [
        c.account_id for c in sorted(changes, key=lambda c: c.sort_key)
    ]


def test_changes_built_in_bulk_are_changes_in_every_respect() -> None:
    """The planner builds changes through a non-frozen twin (changes.changes_from_rows)."""
    import dataclasses

    import pytest

    from reconciler.changes import Change, changes_from_rows

    row = (
        "id1",
        "pingone",
        Action.GRANT,
        "",
        "a@x",
        "group",
        "VPN",
        "member",
        "",
        "a",
        "f:1",
        "r",
        "",
        "n",
        (("k", "v"),),
        "",
    )
    (built,) = changes_from_rows([row])
    made = Change(*row)
    assert type(built) is Change
    assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.note = "changed"  # type: ignore[misc]
    assert dataclasses.replace(built, note="other").note == "other"
