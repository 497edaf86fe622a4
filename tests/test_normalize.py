"""Desired state compiles to grants: teams expanded, expiry applied, conflicts located."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reconciler.errors import ValidationErrors
from reconciler.loader import read_files
from reconciler.normalize import normalize
from reconciler.records import Grant
from tests.helpers import write

CO = "562949953421312"
PEOPLE = """
people:
  alice: {email: alice@harbor.example, name: Alice Ng, teams: [site]}
  bob: {email: bob@harbor.example, name: Bob Ruiz, teams: [site]}
teams:
  site: {}
  leads: {members: [alice]}
  all: {members: [site, leads]}
"""


def compile_(tmp_path: Path, vendor_yaml: str, today: dt.date = dt.date(2026, 11, 23)):  # type: ignore[no-untyped-def]
    write(tmp_path, "access/people.yaml", PEOPLE)
    write(tmp_path, "access/v.yaml", vendor_yaml)
    return normalize(read_files(tmp_path), today=today)


def test_nested_teams_expand_to_people_with_the_team_they_came_through(tmp_path: Path) -> None:
    access = compile_(tmp_path, "pingone:\n  populations:\n    Employees: [all]\n  groups:\n    VPN: [all]\n")
    members = sorted(g.principal for g in access.grants)
    assert members == ["alice@harbor.example", "bob@harbor.example"]
    grant = Grant("pingone", "", "group", "VPN", "member", "bob@harbor.example")
    assert access.provenance[grant].via == "all"
    assert access.people["alice@harbor.example"].teams == ("all", "leads", "site")


def test_a_direct_assignment_overrides_the_template_a_team_gives(tmp_path: Path) -> None:
    access = compile_(
        tmp_path,
        f'procore:\n  companies:\n    "{CO}":\n      projects:\n        Tower:\n'
        "          site: Project Engineer\n          alice: Superintendent\n",
    )
    templates = {g.principal: g.entitlement for g in access.grants}
    assert templates == {"alice@harbor.example": "Superintendent", "bob@harbor.example": "Project Engineer"}


def test_two_teams_giving_different_templates_is_an_error_naming_both(tmp_path: Path) -> None:
    with pytest.raises(ValidationErrors) as info:
        compile_(
            tmp_path,
            f'procore:\n  companies:\n    "{CO}":\n      projects:\n        Tower:\n'
            "          site: Project Engineer\n          leads: Project Manager\n",
        )
    assert str(info.value) == (
        "access/v.yaml:7: alice gets 'Project Manager' on 'Tower' here (via team leads) but 'Project Engineer'"
        " at access/v.yaml:6 (via team site); one person holds one permission template per resource:"
        " list them directly to choose"
    )


def test_expired_assignments_are_set_aside_and_dates_are_inclusive(tmp_path: Path) -> None:
    yaml = "concur:\n  roles:\n    EXP_APPROVER:\n      alice: {expires: 2026-11-23, reason: T-1}\n      bob: {expires: 2026-11-22}\n"
    access = compile_(tmp_path, yaml)
    assert {g.principal for g in access.grants} == {"alice@harbor.example"}
    [(expired, provenance)] = access.expired.items()
    assert expired.principal == "bob@harbor.example"
    assert provenance.expires == "2026-11-22"
    later = compile_(tmp_path, yaml, today=dt.date(2026, 11, 24))
    assert later.grants == frozenset()


def test_anyone_granted_something_gets_an_account(tmp_path: Path) -> None:
    access = compile_(tmp_path, "concur:\n  roles:\n    EXP_APPROVER: [bob]\n")
    assert [k.principal for k in access.accounts] == ["bob@harbor.example"]


def test_a_person_in_two_populations_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationErrors) as info:
        compile_(tmp_path, "pingone:\n  populations:\n    Employees: [site]\n    Contractors: [bob]\n")
    assert str(info.value) == (
        "access/v.yaml:4: bob is in population 'Contractors' here and 'Employees' at access/v.yaml:3;"
        " a PingOne account is in exactly one population"
    )


def test_a_person_listed_again_in_a_population_is_named_at_the_line_that_listed_them_last(
    tmp_path: Path,
) -> None:
    yaml = "pingone:\n  populations:\n    Employees:\n      - site\n      - bob\n    Contractors: [bob]\n"
    with pytest.raises(ValidationErrors) as info:
        compile_(tmp_path, yaml)
    assert str(info.value) == (
        "access/v.yaml:6: bob is in population 'Contractors' here and 'Employees' at access/v.yaml:5;"
        " a PingOne account is in exactly one population"
    )
    accounts = compile_(tmp_path, "pingone:\n  populations:\n    Employees: [site, bob]\n").accounts
    assert [(k.principal, a.attribute("population")) for k, a in accounts.items()] == [
        ("alice@harbor.example", "Employees"), ("bob@harbor.example", "Employees")
    ]  # fmt: skip


def test_a_role_scope_must_be_one_pingone_knows(tmp_path: Path) -> None:
    with pytest.raises(ValidationErrors) as info:
        compile_(
            tmp_path,
            "pingone:\n  populations:\n    Employees: [site]\n  roles:\n    Environment Admin:\n"
            "      alice: population/Employees\n      bob: galaxy\n",
        )
    assert str(info.value) == (
        "access/v.yaml:7: pingone.roles.Environment Admin.bob: scope 'galaxy' is not one of environment,"
        " organization, population/<name>, application/<name>"
    )


def test_one_role_at_several_scopes(tmp_path: Path) -> None:
    access = compile_(
        tmp_path,
        "pingone:\n  populations:\n    Employees: [site]\n  roles:\n    Identity Data Admin:\n"
        "      alice: [population/Employees, {scope: population/Contractors, expires: 2027-01-31, reason: SEC-9}]\n"
        "      bob: environment\n",
    )
    held = sorted((g.principal, g.entitlement) for g in access.grants if g.resource_type == "role")
    assert held == [
        ("alice@harbor.example", "population/Contractors"),
        ("alice@harbor.example", "population/Employees"),
        ("bob@harbor.example", "environment"),
    ]
    contractors = Grant(
        "pingone", "", "role", "Identity Data Admin", "population/Contractors", "alice@harbor.example"
    )
    assert access.provenance[contractors].reason == "SEC-9"


@pytest.mark.parametrize(
    "vendor_yaml",
    [
        # a person's own line overrides the template a team gives, written after and before it
        f'procore:\n  companies:\n    "{CO}":\n      projects:\n        Tower:\n'
        "          site: Project Engineer\n          alice: Superintendent\n"
        "        Dock:\n          alice: Superintendent\n          all: Project Engineer\n",
        # two teams giving the same template; an expired line; a role at two scopes
        f'procore:\n  companies:\n    "{CO}":\n      projects:\n        Tower:\n'
        "          site: Project Engineer\n          all: Project Engineer\n"
        "          leads: {template: Superintendent, expires: 2026-01-01}\n"
        "pingone:\n  populations:\n    Employees: [all]\n  roles:\n"
        "    Environment Admin:\n      alice: [environment, population/Employees]\n"
        "concur:\n  roles:\n    EXP_APPROVER: [site, alice]\n",
    ],
)
def test_grants_come_grouped_by_resource_exactly_as_they_are(tmp_path: Path, vendor_yaml: str) -> None:
    """The planner works on the groups when it has them: they must be the grants, no more, no fewer."""
    access = compile_(tmp_path, vendor_yaml)
    assert access.grant_groups is not None
    regrouped = {g for head, held in access.grant_groups.items() for g in (Grant(*head, p) for p in held)}
    assert regrouped == access.grants


def test_the_example_repository_grants_come_grouped_exactly() -> None:
    access = normalize(read_files(Path(__file__).resolve().parents[1]), today=dt.date(2026, 11, 23))
    assert access.grant_groups is not None
    assert {Grant(*head, p) for head, held in access.grant_groups.items() for p in held} == access.grants


def test_each_grant_is_explained_by_the_line_that_decides_it(tmp_path: Path) -> None:
    """Grants are kept per line; a person's own line still re-explains or takes over a team's grant."""
    access = compile_(
        tmp_path,
        f'procore:\n  companies:\n    "{CO}":\n      projects:\n        Tower:\n'
        "          site: Project Engineer\n"  # line 6
        "          alice: Superintendent\n"  # line 7: takes alice's slot from the team
        "        Dock:\n          site: Project Engineer\n"  # line 9
        "          bob: Project Engineer\n"  # line 10: the same template, now his own line
        "concur:\n  roles:\n    EXP_APPROVER:\n"
        "      site: {}\n"  # line 15
        "      alice: {reason: FIN-7, expires: 2026-12-01}\n",  # line 14
    )
    provenance = access.provenance
    line = {g: provenance[g].source.line for g in access.grants if provenance[g].source}  # type: ignore[union-attr]
    tower = Grant("procore", CO, "project", "Tower", "Superintendent", "alice@harbor.example")
    assert line[tower] == 7
    assert (
        Grant("procore", CO, "project", "Tower", "Project Engineer", "alice@harbor.example") not in provenance
    )
    assert line[Grant("procore", CO, "project", "Tower", "Project Engineer", "bob@harbor.example")] == 6
    assert line[Grant("procore", CO, "project", "Dock", "Project Engineer", "bob@harbor.example")] == 10
    approver = Grant("concur", "", "role", "EXP_APPROVER", "member", "alice@harbor.example")
    assert (line[approver], provenance[approver].reason) == (15, "FIN-7")
    assert line[approver._replace(principal="bob@harbor.example")] == 14
    # Walking the provenance gives the same answers as looking each grant up, and every grant once.
    walked = [(k, p) for k, p in provenance.items() if isinstance(k, Grant)]
    assert dict(walked) == {g: provenance[g] for g in access.grants} and len(walked) == len(access.grants)
    assert access.grant_count == len(access.grants) == 6


def test_the_expiry_warning_sees_an_expiring_line_a_person_writes_over_a_team(tmp_path: Path) -> None:
    from reconciler.policy_model import Policies
    from reconciler.rules import expiry

    access = compile_(
        tmp_path,
        "concur:\n  roles:\n    EXP_APPROVER:\n      site: {}\n      alice: {reason: FIN-7, expires: 2026-12-01}\n",
    )
    findings = expiry.check(access, Policies(), dt.date(2026, 11, 23))
    assert [(f.principal, f.source) for f in findings] == [("alice@harbor.example", "access/v.yaml:5")]


def test_accounts_by_vendor_are_the_accounts_in_their_order(tmp_path: Path) -> None:
    access = compile_(
        tmp_path,
        f'procore:\n  companies:\n    "{CO}":\n      accounts: [bob]\n      projects:\n'
        "        Tower:\n          site: Project Engineer\n"
        "concur:\n  roles:\n    EXP_APPROVER: [alice]\n"
        "pingone:\n  populations:\n    Employees: [all]\n",
    )
    assert len(access.accounts) == 5
    for vendor in ("procore", "concur", "pingone"):
        expected = [(key, account) for key, account in access.accounts.items() if key.vendor == vendor]
        assert list(access.accounts_of(vendor).items()) == expected
    bob = next(k for k in access.accounts if k.vendor == "procore" and k.principal.startswith("bob"))
    assert access.provenance[bob].source is not None and access.provenance[bob].source.line == 4
