"""`access demo`: a newcomer watches an unapproved apply refused and an approved one applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import cli


def test_the_demo_walks_through_refusal_approval_and_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--keep", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert "rule merged: commit" in out and "is in pull request #1, which did not land it" in out
    assert "applied + PingOne carol: group VPN (PR #1, approved by hbrandt)" in out
    assert out.index("held + PingOne carol") < out.index("applied + PingOne carol")
    assert "No changes. The vendors match the YAML." in out.split("Plan again")[-1].split("Mallory")[0]
    mallory = out.split("Mallory, a repository writer")[-1]
    assert "held + PingOne dan: group VPN" in mallory and "rule pull-request:" in mallory
    assert "exit code 1" in mallory
    audit = (tmp_path / "demo" / "repo" / ".access-sandbox" / "audit.jsonl").read_text().splitlines()
    last = json.loads(audit[-1])
    assert (last["pull_request"], last["requested_by"], last["approved_by"]) == (1, "cokafor", ["hbrandt"])
    assert last["approvals"][0]["login"] == "hbrandt" and last["approvals"][0]["at"].endswith("Z")
    assert last["landed_in"] and last["pull_request_head"]
