"""Every class of input error is reported as file:line, all at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reconciler.errors import ValidationErrors
from reconciler.loader import read_files
from reconciler.normalize import normalize
from tests.helpers import write

TODAY = dt.date(2026, 11, 23)

PEOPLE = """
people:
  alice: {email: alice@harbor.example, name: Alice Ng, teams: [site]}
  bob: {email: bob@harbor.example, name: Bob Ruiz}
teams:
  site: {description: Site engineers}
"""


def errors_of(repo: Path) -> list[str]:
    with pytest.raises(ValidationErrors) as info:
        normalize(read_files(repo), today=TODAY)
    return [e.message for e in info.value.errors]


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "access/people.yaml", "people:\n  alice: {email: a@x.example, name: A\n  bob: 1\n")
    messages = errors_of(tmp_path)
    assert len(messages) == 1
    assert messages[0].startswith("access/people.yaml:3: YAML syntax:")


def test_duplicate_key_is_an_error_not_silently_the_last(tmp_path: Path) -> None:
    write(tmp_path, "access/people.yaml", PEOPLE + "  site: {description: again}\n")
    assert errors_of(tmp_path) == ["access/people.yaml:6: duplicate key 'site' (first at line 5)"]


def test_unknown_field_suggests_the_closest_name(tmp_path: Path) -> None:
    write(
        tmp_path,
        "access/people.yaml",
        PEOPLE.replace("name: Bob Ruiz", "name: Bob Ruiz, pingone: {logon: bruiz}"),
    )
    assert errors_of(tmp_path) == [
        "access/people.yaml:3: people.bob.pingone: unknown field 'logon' (did you mean 'login'?)"
    ]


def test_unknown_person_or_team_reference(tmp_path: Path) -> None:
    write(tmp_path, "access/people.yaml", PEOPLE)
    write(
        tmp_path,
        "access/pingone.yaml",
        """
        pingone:
          authoritative: true
          populations:
            Employees: [alice, bob]
          groups:
            VPN: [alice, sight]
        """,
    )
    assert errors_of(tmp_path) == [
        "access/pingone.yaml:6: pingone.groups.VPN: unknown person or team 'sight' (did you mean 'site'?)"
    ]


def test_person_defined_twice_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "access/people.yaml", PEOPLE)
    write(tmp_path, "access/staff.yaml", "people:\n  bob: {email: bob2@harbor.example, name: Bob Two}\n")
    assert errors_of(tmp_path) == [
        "access/staff.yaml:2: person 'bob' is defined twice (first at access/people.yaml:3)"
    ]


def test_resource_defined_twice_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "access/people.yaml", PEOPLE)
    write(tmp_path, "access/a.yaml", "concur:\n  roles:\n    Expense User: [alice]\n")
    write(tmp_path, "access/b.yaml", "concur:\n  roles:\n    EXP_USER: [bob]\n")
    messages = errors_of(tmp_path)
    assert len(messages) == 1
    assert messages[0].startswith("access/b.yaml:3: concur role")
    assert "is defined twice (first at access/a.yaml:3)" in messages[0]


def test_team_cycle_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "access/people.yaml",
        PEOPLE + "  a: {members: [b]}\n  b: {members: [a, alice]}\n",
    )
    assert errors_of(tmp_path) == ["access/people.yaml:6: team cycle: a -> b -> a"]


def test_all_errors_are_reported_together_sorted_by_place(tmp_path: Path) -> None:
    write(tmp_path, "access/people.yaml", PEOPLE.replace("name: Alice Ng", "name: Alice Ng, tems: [x]"))
    write(
        tmp_path,
        "access/procore.yaml",
        """
        procore:
          companies:
            562949953421312:
              projects:
                Harbor Tower:
                  bob: Project Engineer
                  nobody: Project Manager
                  bob: Superintendent
        """,
    )
    assert errors_of(tmp_path) == [
        "access/people.yaml:2: people.alice: unknown field 'tems' (did you mean 'teams'?)",
        "access/procore.yaml:8: duplicate key 'bob' (first at line 6)",
    ]


def test_member_with_a_bad_email_and_missing_name(tmp_path: Path) -> None:
    write(tmp_path, "access/people.yaml", "people:\n  carol: {email: carol-at-harbor}\n")
    assert errors_of(tmp_path) == [
        "access/people.yaml:2: people.carol.email: not an email address: 'carol-at-harbor'",
        "access/people.yaml:2: people.carol: missing field 'name'",
    ]


def test_the_example_in_the_repository_is_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    access = normalize(read_files(root), today=TODAY)
    assert access.scope.vendors == {"procore", "concur", "pingone"}
    assert len(access.people) == 13
