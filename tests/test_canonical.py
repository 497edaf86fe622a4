"""One spelling per resource: a Procore project named by id plans, and is approved, as under its name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.canonical import Aliases, aliases_of, canonical_access, canonical_scope
from reconciler.connectors.base import VendorState
from reconciler.errors import ValidationErrors
from reconciler.location import Location
from reconciler.records import AccessSet, Grant, Provenance, ResourceKey, Scope
from reconciler.rules.aliases import alias_findings, canonical_policies
from reconciler.sandbox_seed import PROCORE_COMPANY as CO
from reconciler.simulators.procore_state import demo_state
from tests.helpers import run_cli
from tests.policy_helpers import desired_from, policies_from

TOWER_ID = str(
    next(p.id for p in demo_state().companies[int(CO)].projects.values() if p.name == "Harbor Tower")
)
ALIASES = Aliases({("procore", CO, "project"): {TOWER_ID: "Harbor Tower"}})


def _by_id(repo: Path, key: str = TOWER_ID) -> None:
    """access/procore.yaml with Harbor Tower's line naming the project by `key` instead."""
    path = repo / "access/procore.yaml"
    text = path.read_text(encoding="utf-8")
    assert "        Harbor Tower:\n" in text
    path.write_text(text.replace("        Harbor Tower:\n", f'        "{key}":\n', 1), encoding="utf-8")


def _plan(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(capsys, "--repo", str(repo), "plan", *args, "--format", "json")
    return code, json.loads(out) if code == 0 else {}, err


def _text(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> str:
    code, out, err = run_cli(capsys, "--repo", str(repo), "plan", *args)
    assert code == 0, err
    return out


# -- through the command line, against the sandbox -------------------------------------------------


def test_a_line_under_the_project_id_plans_exactly_as_under_its_name(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "--repo", str(example_repo), "sandbox", "reset")[0] == 0
    _, by_name, _ = _plan(capsys, example_repo, "--sandbox")
    _by_id(example_repo)
    code, by_id, err = _plan(capsys, example_repo, "--sandbox")
    assert code == 0, err
    assert by_id["changes"] == by_name["changes"]  # same ids, resources, sources
    assert by_id["approvers"] == by_name["approvers"]
    update = next(c for c in by_id["changes"] if c["person"] == "bob" and c["vendor"] == "procore")
    assert update["resource"] == "Harbor Tower"
    assert [d.split(":")[0] for d in by_id["approvers"][update["id"]]] == [
        "1 of carol"
    ]  # the owner, not the fallback
    text = _text(capsys, example_repo, "--sandbox")
    assert (
        "~ bob: project Harbor Tower: Superintendent → Project Engineer  (access/procore.yaml:14)  approve: 1 of carol: @cokafor"
        in text
    )
    assert TOWER_ID not in text
    assert "project-management" not in text


def test_apply_of_a_project_named_by_id_leaves_nothing_to_do(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = ["--repo", str(example_repo)]
    assert run_cli(capsys, *repo, "sandbox", "reset")[0] == 0
    _by_id(example_repo)
    code, out, _ = run_cli(capsys, *repo, "apply", "--sandbox")
    assert code == 0, out
    assert "0 failed" in out
    code, out, _ = run_cli(capsys, *repo, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out
    assert "No changes." in out


def test_both_spellings_in_one_yaml_are_one_project_defined_twice(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example_repo / "access/procore.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("        Pier 7 Retrofit:\n", f'        "{TOWER_ID}":\n          mike: Project Engineer\n        Pier 7 Retrofit:\n'),
        encoding="utf-8",
    )  # fmt: skip
    run_cli(capsys, "--repo", str(example_repo), "sandbox", "reset")
    code, _, err = _plan(capsys, example_repo, "--sandbox")
    assert code == 1
    assert (
        f"access/procore.yaml:16: procore project '{TOWER_ID}' is 'Harbor Tower' at Procore, which is defined"
        " twice (first at access/procore.yaml:12)"
    ) in err


def test_an_unknown_id_stays_as_written_and_is_reported_unknown(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _by_id(example_repo, "99999")
    run_cli(capsys, "--repo", str(example_repo), "sandbox", "reset")
    code, _, err = _plan(capsys, example_repo, "--sandbox")
    assert code == 1
    assert "access/procore.yaml:12: Procore project '99999' does not exist" in err


def test_owners_named_by_project_id_approve_changes_to_the_project(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example_repo / "policies/approvers.yaml"
    path.write_text(path.read_text().replace("      Harbor Tower: [carol]", f'      "{TOWER_ID}": [carol]'))
    run_cli(capsys, "--repo", str(example_repo), "sandbox", "reset")
    text = _text(capsys, example_repo, "--sandbox")
    assert (
        "~ bob: project Harbor Tower: Superintendent → Project Engineer  (access/procore.yaml:14)  approve: 1 of carol: @cokafor"
        in text
    )
    assert "lists no owner for 'Harbor Tower'" not in text


def test_owners_listed_under_both_spellings_are_an_error(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example_repo / "policies/approvers.yaml"
    text = path.read_text()
    path.write_text(
        text.replace(
            "      Harbor Tower: [carol]\n", f'      Harbor Tower: [carol]\n      "{TOWER_ID}": [dan]\n'
        )
    )
    run_cli(capsys, "--repo", str(example_repo), "sandbox", "reset")
    code, out, _ = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox")
    assert code == 1
    assert (
        f"error policies/approvers.yaml:23: approvers.procore-project-owners.owners: '{TOWER_ID}' and 'Harbor Tower'"
        " both name Procore 'Harbor Tower'; only the owners listed under 'Harbor Tower' count"
    ) in out
    assert "approve: 1 of carol: @cokafor" in out  # the first written


def test_a_snapshot_carries_the_aliases_and_one_written_before_them_still_plans(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = ["--repo", str(example_repo)]
    run_cli(capsys, *repo, "sandbox", "reset")
    snapshot = example_repo / "snapshot"
    assert run_cli(capsys, *repo, "sync", "--sandbox", "--out", str(snapshot))[0] == 0
    written = json.loads((snapshot / "procore.json").read_text())
    assert [CO, "project", TOWER_ID, "Harbor Tower"] in written["aliases"]
    _, live, _ = _plan(capsys, example_repo, "--sandbox")

    _by_id(example_repo)  # named by id: the snapshot's aliases key it as the live plan does
    code, offline, err = _plan(capsys, example_repo, "--state", str(snapshot))
    assert code == 0, err
    assert offline["changes"] == live["changes"]

    # A snapshot written before aliases existed: it reads, and plans the YAML as written.
    del written["aliases"]
    (snapshot / "procore.json").write_text(json.dumps(written))
    (example_repo / "access/procore.yaml").write_text(
        (example_repo / "access/procore.yaml").read_text().replace(f'"{TOWER_ID}":', "Harbor Tower:")
    )
    code, old, err = _plan(capsys, example_repo, "--state", str(snapshot))
    assert code == 0, err
    assert old["changes"] == live["changes"]


# -- the pure functions ------------------------------------------------------------------------------

PROCORE = f"""
procore:
  authoritative: true
  companies:
    "{CO}":
      projects:
        "{TOWER_ID}":
          site: Project Engineer
          carol: {{template: Project Manager, reason: PROJ-42}}
          alice: {{template: Superintendent, expires: 2026-01-31}}
        Pier 7 Retrofit:
          bob: Project Engineer
"""


def test_canonical_access_rekeys_grants_groups_provenance_expired_and_scope(tmp_path: Path) -> None:
    access = desired_from(tmp_path, procore=PROCORE)
    found = canonical_access(access, ALIASES)
    tower = ResourceKey("procore", CO, "project", "Harbor Tower")
    assert found.scope.resources == {
        tower: True,
        ResourceKey("procore", CO, "project", "Pier 7 Retrofit"): True,
    }
    assert (
        found.resource_sources[tower]
        == access.resource_sources[ResourceKey("procore", CO, "project", TOWER_ID)]
    )
    assert {g.resource for g in found.grants} == {"Harbor Tower", "Pier 7 Retrofit"}
    assert found.grant_groups is not None
    assert set(found.grant_groups) == {
        ("procore", CO, "project", "Harbor Tower", "Project Engineer"),
        ("procore", CO, "project", "Harbor Tower", "Project Manager"),
        ("procore", CO, "project", "Pier 7 Retrofit", "Project Engineer"),
    }
    carol = Grant("procore", CO, "project", "Harbor Tower", "Project Manager", "carol@harbor.example")
    assert found.holds(carol)
    provenance = found.provenance[carol]
    assert provenance.reason == "PROJ-42"
    assert provenance.source is not None and provenance.source.line == 8
    assert [g.resource for g in found.expired] == ["Harbor Tower"]  # alice's expired line
    assert dict(found.provenance.items()).keys() == {*found.grants, *found.accounts}
    assert found.accounts_of("procore") == access.accounts_of("procore")


def test_canonical_access_is_the_same_set_when_nothing_is_spelled_otherwise(tmp_path: Path) -> None:
    access = desired_from(tmp_path, procore=PROCORE.replace(f'"{TOWER_ID}"', "Harbor Tower"))
    assert canonical_access(access, ALIASES) is access
    assert canonical_access(access, Aliases()) is access
    unknown = desired_from(tmp_path, procore=PROCORE.replace(TOWER_ID, "99999"))
    assert canonical_access(unknown, ALIASES) is unknown  # an id no project has: as written


def test_canonical_access_of_a_set_built_grant_by_grant() -> None:
    where = Provenance(Location("access/procore.yaml", 4))
    by_id = Grant("procore", CO, "project", TOWER_ID, "Project Engineer", "bob@harbor.example")
    access = AccessSet(
        accounts={},
        grants=frozenset({by_id}),
        provenance={by_id: where},
        scope=Scope(resources={by_id.resource_key: False}),
    )
    found = canonical_access(access, ALIASES)
    named = by_id._replace(resource="Harbor Tower")
    assert found.grants == {named}
    assert found.provenance == {named: where}
    assert found.scope.resources == {named.resource_key: False}


def test_two_spellings_listed_are_a_located_error_at_the_later_line() -> None:
    here, there = Location("access/a.yaml", 3), Location("access/b.yaml", 9)
    by_id = ResourceKey("procore", CO, "project", TOWER_ID)
    by_name = ResourceKey("procore", CO, "project", "Harbor Tower")
    access = AccessSet(
        accounts={}, scope=Scope(resources={by_name: True, by_id: True}), resource_sources={by_id: here, by_name: there}
    )  # fmt: skip
    with pytest.raises(ValidationErrors) as raised:
        canonical_access(access, ALIASES)
    assert str(raised.value) == (
        "access/b.yaml:9: procore project 'Harbor Tower' is defined twice (first at access/a.yaml:3 as"
        f" '{TOWER_ID}')"
    )


def test_aliases_come_from_the_synced_states_and_leave_other_names_alone() -> None:
    state = VendorState("procore", (), frozenset(), aliases={(CO, "project"): {TOWER_ID: "Harbor Tower"}})
    aliases = aliases_of({"procore": state, "concur": VendorState("concur", (), frozenset())})
    assert aliases == ALIASES
    assert aliases.canonical("procore", CO, "project", TOWER_ID) == "Harbor Tower"
    assert aliases.canonical("procore", CO, "project", "99999") == "99999"
    assert aliases.canonical("procore", "1", "project", TOWER_ID) == TOWER_ID  # another company
    assert aliases.canonical("pingone", "", "group", TOWER_ID) == TOWER_ID
    assert not aliases_of({"concur": VendorState("concur", (), frozenset())})
    scope = Scope(resources={ResourceKey("procore", CO, "project", TOWER_ID): False})
    assert canonical_scope(scope, aliases).resources == {
        ResourceKey("procore", CO, "project", "Harbor Tower"): False
    }


POLICIES = f"""
approvers:
  owners:
    match: {{vendor: procore, resource_type: project}}
    owners:
      "{TOWER_ID}": [carol]
      Pier 7 Retrofit: [bob]
    approvers: [pm]
  everything-else:
    match: {{vendor: pingone, resource_type: group, resource: "{TOWER_ID}"}}
    approvers: [security]
privileged:
  tower-managers:
    entitlements: {{vendor: procore, resource: "{TOWER_ID}", entitlement: Project Manager}}
    max_days: 90
protected:
  resources:
    - {{vendor: procore, resource_type: project, resource: "{TOWER_ID}"}}
    - {{vendor: procore, resource_type: project, resource: "Harbor*"}}
"""


def test_policies_naming_a_project_by_id_are_keyed_by_its_name(tmp_path: Path) -> None:
    written = policies_from(tmp_path, POLICIES)
    policies = canonical_policies(written, ALIASES)
    assert list(policies.approvers["owners"].owners) == ["Harbor Tower", "Pier 7 Retrofit"]
    assert policies.approvers["owners"].approvers_for("Harbor Tower") == ["carol"]
    assert policies.approvers["everything-else"].match[0].resource == TOWER_ID  # another vendor's name
    assert policies.privileged["tower-managers"].entitlements[0].resource == "Harbor Tower"
    assert [m.resource for m in policies.protected.resources] == ["Harbor Tower", "Harbor*"]
    assert policies.where("approvers", "owners", "owners", "Harbor Tower") == written.where(
        "approvers", "owners", "owners", TOWER_ID
    )
    assert re.fullmatch(
        r"policies/rules\.yaml:\d+", policies.where("approvers", "owners", "owners", "Harbor Tower")
    )
    assert canonical_policies(written, Aliases()) is written
    assert alias_findings(written, ALIASES) == []


def test_a_policy_naming_an_id_in_another_company_is_left_as_written(tmp_path: Path) -> None:
    written = policies_from(
        tmp_path, POLICIES.replace("resource_type: project}", "resource_type: project, tenant: '1'}", 1)
    )
    policies = canonical_policies(written, ALIASES)
    assert list(policies.approvers["owners"].owners) == [TOWER_ID, "Pier 7 Retrofit"]
