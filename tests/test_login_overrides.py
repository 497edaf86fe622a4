"""People matched through a login override (`concur: …`, `pingone: …` in people.yaml) are changed at
exactly the account the plan matched, through the CLI, the real connectors and the simulators.

The vendor account's email differs from the YAML's, so only the login ties them together: apply must
not look the account up by email (it would find nothing: grants fail, revocations claim "already").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import cli, sandbox
from reconciler.vendors import VENDORS

OLD = "old-harbor.example"


def access(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--repo", str(repo), *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def sim_state(repo: Path, vendor: str) -> dict:  # type: ignore[type-arg]
    return json.loads((sandbox.state_dir(repo) / f"{vendor}.sim.json").read_text(encoding="utf-8"))


def save_state(repo: Path, vendor: str, data: dict) -> None:  # type: ignore[type-arg]
    (sandbox.state_dir(repo) / f"{vendor}.sim.json").write_text(json.dumps(data), encoding="utf-8")


def converged(capsys: pytest.CaptureFixture[str], repo: Path, vendor: str) -> None:
    """The sandbox, applied once so that it matches the example YAML."""
    sandbox.reset(repo, VENDORS)
    assert access(capsys, repo, "--vendor", vendor, "apply", "--sandbox")[0] == 0


def test_concur_changes_reach_the_account_matched_by_login(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    converged(capsys, example_repo, "concur")
    state = sim_state(example_repo, "concur")
    frank = next(u for u in state["users"] if u["userName"] == "fosei@harborbuild.example")
    frank["email"] = f"frank.osei@{OLD}"  # only `concur: fosei@…` ties the account to Frank
    save_state(example_repo, "concur", state)
    concur_yaml = example_repo / "access" / "concur.yaml"
    edit(concur_yaml, "Invoice Approver: [frank, nina]", "Invoice Approver: [nina]")
    edit(concur_yaml, "Expense Processor: [erin]", "Expense Processor: [erin, frank]")

    code, out, _ = access(
        capsys, example_repo, "--vendor", "concur", "plan", "--sandbox", "--detailed-exitcode"
    )
    assert code == 2
    assert "Plan: 1 to grant, 1 to revoke." in out

    code, out, err = access(capsys, example_repo, "--vendor", "concur", "apply", "--sandbox")
    assert code == 0, out + err
    assert "Apply: 2 applied, 0 already in place, 0 skipped, 0 failed." in out

    after = next(u for u in sim_state(example_repo, "concur")["users"] if u["id"] == frank["id"])
    assert "EXP_PROCESSOR" in after["roles"] and "INV_APPROVER" not in after["roles"]
    code, out, _ = access(
        capsys, example_repo, "--vendor", "concur", "plan", "--sandbox", "--detailed-exitcode"
    )
    assert code == 0, out


def test_pingone_changes_reach_the_user_matched_by_username(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    converged(capsys, example_repo, "pingone")
    state = sim_state(example_repo, "pingone")
    bob_id, bob = next((k, u) for k, u in state["users"].items() if u["username"] == "bruiz")
    bob["email"] = f"bob.ruiz@{OLD}"  # only `pingone: bruiz` ties the user to Bob
    save_state(example_repo, "pingone", state)
    pingone_yaml = example_repo / "access" / "pingone.yaml"
    edit(pingone_yaml, "VPN: [site-engineering, it-admins]", "VPN: [alice, ivan, mike, it-admins]")
    edit(pingone_yaml, "Finance Systems: [finance]", "Finance Systems: [finance, bob]")

    code, out, _ = access(
        capsys, example_repo, "--vendor", "pingone", "plan", "--sandbox", "--detailed-exitcode"
    )
    assert code == 2
    assert "Plan: 1 to grant, 1 to revoke." in out

    code, out, err = access(capsys, example_repo, "--vendor", "pingone", "apply", "--sandbox")
    assert code == 0, out + err
    assert "Apply: 2 applied, 0 already in place, 0 skipped, 0 failed." in out

    after = sim_state(example_repo, "pingone")
    groups = {gid: g["name"] for gid, g in after["groups"].items()}
    held = {groups[gid] for gid, members in after["direct"].items() if bob_id in members}
    assert "Finance Systems" in held and "VPN" not in held
    code, out, _ = access(
        capsys, example_repo, "--vendor", "pingone", "plan", "--sandbox", "--detailed-exitcode"
    )
    assert code == 0, out
