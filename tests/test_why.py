"""`access why`: the YAML line, the commits and pull requests that wrote it, who approved, applied.

In the style of tests/test_gate.py: a real git repository, the GitHub simulator and the sandbox
vendors; pull requests are squashed and merged as GitHub does, and applied through the real gate.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_gate import JUDY_HARBOR, World, adopted, replace_text, world

__all__ = ["adopted", "world"]  # the fixtures, shared with the gate's tests

JUDY_LINE = "          judy: Project Engineer"
JUDY_EXPIRES = replace_text(
    "access/procore.yaml",
    JUDY_LINE,
    "          judy: {template: Project Engineer, expires: 2026-12-31, reason: PROC-77}",
)


def test_why_a_grant_added_by_a_squash_and_changed_by_a_merge(world: World) -> None:
    first = world.open_pull("jalvarez", JUDY_HARBOR, branch="judy")
    world.approve(first, "cokafor")  # carol owns Harbor Tower
    squashed = world.squash(first, branch="judy")
    assert world.apply().code == 0
    second = world.open_pull("dwhitfield", JUDY_EXPIRES, branch="judy-expiry")
    world.approve(second, "cokafor")
    merged = world.merge(second, branch="judy-expiry")
    assert world.apply().code == 0

    result = world.access("why", "judy", "Harbor Tower", "--sandbox", "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["person"] == "judy" and data["github"] == "jalvarez"
    (grant,) = data["grants"]
    assert (grant["vendor"], grant["resource"], grant["entitlement"]) == (
        "procore",
        "Harbor Tower",
        "Project Engineer",
    )
    assert grant["status"] == "in force"
    lines = (world.path / "access/procore.yaml").read_text(encoding="utf-8").splitlines()
    line = 1 + next(i for i, text in enumerate(lines) if "judy: {template: Project Engineer" in text)
    assert grant["source"] == f"access/procore.yaml:{line}" and grant["via"] is None
    assert (grant["reason"], grant["expires"]) == ("PROC-77", "2026-12-31")
    now = grant["granted_in"]
    assert now["commit"] == merged and now["pull_request"] == second
    assert now["requested_by"] == "dwhitfield" and now["approved_by"] == ["cokafor"]
    assert now["approvals"][0]["at"] and now["merged_at"]
    history = grant["history"]
    assert [h["pull_request"] for h in history] == [first, second]
    assert history[0]["commit"] == squashed and history[0]["requested_by"] == "jalvarez"
    assert history[0]["approved_by"] == ["cokafor"]
    assert grant["applied_at"], "the audit log records when apply granted it"
    assert grant["reviewed"] is True

    text = world.access("why", "jalvarez", "--sandbox", "--vendor", "procore").out
    assert "Procore project Harbor Tower as Project Engineer" in text
    assert f"pull request #{second} by dwhitfield" in text and "approved by  cokafor at " in text
    assert f"#{first}, approved by cokafor" in text  # the squash that added it
    assert "reason       PROC-77; expires 2026-12-31" in text


def test_why_names_access_that_is_not_in_the_yaml(world: World) -> None:
    """Drift: the vendor has a grant nobody wrote down (and an unapproved direct push is unreviewed)."""
    from reconciler import sandbox
    from reconciler.vendors import VENDORS

    sandbox.reset(world.path, VENDORS)  # the seed's drift: bob holds Environment Admin by hand
    data = json.loads(world.access("why", "bob", "Environment Admin", "--sandbox", "--format", "json").out)
    (grant,) = data["grants"]
    assert grant["status"] == "not in the YAML" and grant["source"] is None
    assert grant["granted_in"] is None and grant["reviewed"] is False


def test_why_an_unknown_person_is_one_clear_line(world: World, tmp_path: Path) -> None:
    result = world.access("why", "nobody-here", "--no-sync")
    assert result.code == 1
    assert "no person 'nobody-here' in access/people.yaml" in result.err
