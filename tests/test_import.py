"""`access import`: the vendors' access written as YAML, so that the next plan shows no changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.importer import person_key_for
from tests.helpers import run_cli

VENDORS = ("procore", "concur", "pingone")


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "company"
    repo.mkdir()
    return repo


def _plan_exit(capsys: pytest.CaptureFixture[str], repo: Path, *extra: str) -> tuple[int, str]:
    code, out, err = run_cli(capsys, "--repo", str(repo), "plan", "--sandbox", "--detailed-exitcode", *extra)
    return code, out + err


def _sim(repo: Path, vendor: str) -> tuple[Path, dict[str, Any]]:
    path = repo / ".access-sandbox" / f"{vendor}.sim.json"
    return path, json.loads(path.read_text())


def test_import_of_the_sandbox_then_plan_shows_no_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path)
    code, out, err = run_cli(capsys, "--repo", str(repo), "import", "--sandbox")
    assert code == 0, err
    assert "access/people.yaml: 16 people added" in out
    assert sorted(p.name for p in (repo / "access").iterdir()) == [
        "concur.yaml", "people.yaml", "pingone.yaml", "procore.yaml",
    ]  # fmt: skip
    assert sorted(p.name for p in repo.iterdir()) == [".access-sandbox", "access"]  # nothing else written
    procore = (repo / "access/procore.yaml").read_text()
    assert "      name: Harbor Build Co\n" in procore
    assert "        Harbor Tower:\n" in procore and "          bob.ruiz: Superintendent\n" in procore
    concur = (repo / "access/concur.yaml").read_text()
    assert "    Expense Approver: [carol.okafor, dan.whitfield]\n" in concur  # documented names, not codes
    pingone = (repo / "access/pingone.yaml").read_text()
    assert "      bob.ruiz: environment\n" in pingone
    assert run_cli(capsys, "--repo", str(repo), "validate")[0] == 0
    code, out = _plan_exit(capsys, repo)
    assert code == 0, out
    assert "No changes." in out


@pytest.mark.parametrize("vendor", VENDORS)
def test_import_one_vendor_then_plan_of_that_vendor_shows_no_changes(
    vendor: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path)
    code, out, err = run_cli(capsys, "--repo", str(repo), "--vendor", vendor, "import", "--sandbox")
    assert code == 0, err
    assert sorted(p.name for p in (repo / "access").iterdir()) == sorted(["people.yaml", f"{vendor}.yaml"])
    code, out = _plan_exit(capsys, repo, "--vendor", vendor)
    assert code == 0, out


def _add_person_in_two_vendors_and_inactive_accounts(repo: Path) -> None:
    """Sam Lee: Concur login `slee@…`, PingOne username `slee`, one email. Quinn: inactive at Concur
    but still holding Expense Approver. Rita: disabled in PingOne but still in the VPN group."""
    path, concur = _sim(repo, "concur")
    template = concur["users"][0]
    sam = {**template, "id": "00000000-0000-4000-8000-00000000a001", "userName": "slee@harborbuild.example",
           "email": "sam.lee@harborbuild.example", "givenName": "Sam", "familyName": "Lee",
           "employeeNumber": "2001", "roles": {"EXP_USER": []}}  # fmt: skip
    quinn = {**template, "id": "00000000-0000-4000-8000-00000000a002", "userName": "quinn.ames@harborbuild.example",
             "email": "quinn.ames@harborbuild.example", "givenName": "Quinn", "familyName": "Ames",
             "employeeNumber": "2002", "active": False, "roles": {"EXP_APPROVER": []}}  # fmt: skip
    concur["users"] += [sam, quinn]
    path.write_text(json.dumps(concur))
    path, pingone = _sim(repo, "pingone")
    some_user = next(iter(pingone["users"].values()))
    vpn = next(gid for gid, g in pingone["groups"].items() if g["name"] == "VPN")
    for uid, username, email, given, family, enabled in (
        ("00000000-0000-4000-8000-00000000b001", "slee", "sam.lee@harborbuild.example", "Sam", "Lee", True),
        ("00000000-0000-4000-8000-00000000b002", "rita.diaz@harborbuild.example", "rita.diaz@harborbuild.example",
         "Rita", "Diaz", False),
    ):  # fmt: skip
        pingone["users"][uid] = {
            **some_user, "id": uid, "username": username, "email": email, "enabled": enabled,
            "name": {"formatted": f"{given} {family}", "given": given, "family": family},
        }  # fmt: skip
        pingone["direct"][vpn].append(uid)
    path.write_text(json.dumps(pingone))


def test_people_in_two_vendors_with_other_logins_and_inactive_accounts_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path)
    assert run_cli(capsys, "--repo", str(repo), "sandbox", "reset")[0] == 0
    _add_person_in_two_vendors_and_inactive_accounts(repo)
    code, out, err = run_cli(capsys, "--repo", str(repo), "import", "--sandbox")
    assert code == 0, err
    people = (repo / "access/people.yaml").read_text()
    sam = [line for line in people.splitlines() if "sam.lee@" in line]
    assert sam == [
        "  sam.lee: {email: sam.lee@harborbuild.example, name: Sam Lee, concur: slee@harborbuild.example,"
        " pingone: slee}"
    ]
    concur = (repo / "access/concur.yaml").read_text()
    assert (
        "quinn" not in concur.split("roles:")[0]
    )  # an inactive account is not listed (that would reactivate it)
    assert (
        "    Expense Approver:\n      authoritative: false  # held by quinn.ames@harborbuild.example (inactive):"
        " not revoked while this says false\n      members: [carol.okafor, dan.whitfield]\n"
    ) in concur
    pingone = (repo / "access/pingone.yaml").read_text()
    populations, groups = pingone.split("  groups:\n")
    assert "rita.diaz" in groups  # still in VPN ...
    assert "rita.diaz" not in populations  # ... but in no population: access does not re-enable her
    code, out = _plan_exit(capsys, repo)
    assert code == 0, out


def test_reimport_keeps_hand_written_comments_and_adds_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path)
    assert run_cli(capsys, "--repo", str(repo), "import", "--sandbox")[0] == 0
    procore_yaml = repo / "access/procore.yaml"
    text = procore_yaml.read_text().replace(
        "        Harbor Tower:\n", "        Harbor Tower:            # the flagship: ask Dan first\n"
    )
    # Oscar was added at Procore after the first import: the YAML lacks his line.
    procore_yaml.write_text(text.replace("          oscar.reyes: Subcontractor\n", ""))
    code, out, err = run_cli(capsys, "--repo", str(repo), "import", "--sandbox")
    assert code == 0, err
    after = procore_yaml.read_text()
    assert "        Harbor Tower:            # the flagship: ask Dan first\n" in after
    assert "          oscar.reyes: Subcontractor\n" in after
    assert "access/procore.yaml: 1 lines added" in out
    code, out = _plan_exit(capsys, repo)
    assert code == 0, out
    code, out, _ = run_cli(capsys, "--repo", str(repo), "import", "--sandbox")
    assert "nothing to write" in out
    assert procore_yaml.read_text() == after


def test_reimport_into_hand_written_yaml_removes_direct_lines_the_vendor_lacks_and_explains_team_lines(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "import", "--sandbox")
    assert code == 0, err
    procore = (example_repo / "access/procore.yaml").read_text()
    assert "# A request for access is one line under a project" in procore  # comments survive
    assert "          mike: Project Engineer\n" not in procore  # Procore has Mike on Pier 7 no more
    assert "          bob: Superintendent\n" in procore  # a direct line beats the team's template
    assert "heidi is not listed there directly (a team gives it)" in err


def test_import_from_a_snapshot_then_plan_from_it_shows_no_changes(
    example_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = tmp_path / "snapshot"
    assert run_cli(capsys, "--repo", str(example_repo), "sync", "--sandbox", "--out", str(snapshot))[0] == 0
    repo = _repo(tmp_path)
    code, _, err = run_cli(capsys, "--repo", str(repo), "import", "--state", str(snapshot))
    assert code == 0, err
    code, out, err = run_cli(
        capsys, "--repo", str(repo), "plan", "--state", str(snapshot), "--detailed-exitcode"
    )
    assert code == 0, out + err


def test_infer_teams_groups_people_with_the_same_access(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, grouped = _repo(tmp_path), tmp_path / "grouped"
    grouped.mkdir()
    assert run_cli(capsys, "--repo", str(plain), "import", "--sandbox")[0] == 0
    code, _, err = run_cli(capsys, "--repo", str(grouped), "import", "--sandbox", "--infer-teams")
    assert code == 0, err
    people = (grouped / "access/people.yaml").read_text()
    assert "teams:\n" in people and "Inferred by access import: same access" in people
    lines = sum(len(p.read_text().splitlines()) for p in (grouped / "access").iterdir())
    assert lines < sum(len(p.read_text().splitlines()) for p in (plain / "access").iterdir()) - 15
    code, out = _plan_exit(capsys, grouped)
    assert code == 0, out


def test_live_import_without_settings_names_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "--repo", str(_repo(tmp_path)), "import")
    assert code == 1
    assert "PROCORE_CLIENT_ID" in err and "--sandbox" in err
    assert not (tmp_path / "company/access").exists()


def test_person_keys_are_the_email_local_part_made_unique() -> None:
    taken: set[str] = {"alice.ng"}
    assert person_key_for("Alice.Ng@steelframe.example", taken) == "alice.ng-steelframe"
    taken.add("alice.ng-steelframe")
    assert person_key_for("alice.ng@steelframe.example", taken) == "alice.ng-2"
    assert person_key_for("o'brien+x@a.example", set()) == "o-brien-x"
