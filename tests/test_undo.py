"""`access undo RUN`: one pull request reversing one apply run's YAML edits, end to end.

A real git repository, the GitHub simulator and the sandbox vendors (the gate tests' `World`): a
pull request grants carol the VPN, is approved, merged and applied; `access undo <run>` opens a
pull request removing the line, which the gate judges like any other once merged.
"""

from __future__ import annotations

import json

from reconciler import sandbox
from reconciler.simulators.github import GitHubSimulator
from reconciler.yaml_edit import changed_lines
from tests.test_gate import CAROL_VPN, World, adopted, replace_text, world

__all__ = ["adopted", "world"]


def granted(world: World) -> tuple[str, str]:
    """carol's VPN grant asked for, approved, merged and applied: (the run, the merge)."""
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    merge = world.merge(number)
    assert world.apply().code == 0
    (entry,) = [e for e in world.audit() if e["pull_request"] == number]
    return str(entry["run"]), merge


def undo(world: World, *args: str) -> str:
    result = world.access("undo", "--sandbox", *args)
    assert result.code == 0, result.out + result.err
    world.sim = GitHubSimulator.from_json(sandbox.github_file(world.path).read_text(encoding="utf-8"))
    return result.out


def test_undo_opens_one_pull_request_that_once_merged_revokes_the_grant(world: World) -> None:
    run, merge = granted(world)
    before = world.repo.git.show(f"{merge}^1:access/pingone.yaml", strip_newline_in_stdout=False)
    out = undo(world, run)
    branch = f"access-undo/{run}"
    assert f"opened pull request #2 undoing run {run} (1 landing(s))" in out, out
    pull = world.sim.repo().pulls[2]
    assert pull.head_ref == branch and pull.title == f"Undo apply run {run}"
    body = pull.body or ""
    assert "grant pingone VPN" in body and "carol" in body and "| #1 |" in body, body
    assert merge in body
    after = world.repo.git.show(f"{branch}:access/pingone.yaml", strip_newline_in_stdout=False)
    assert after == before  # the YAML as it was before the run
    assert [line for line in changed_lines(world.repo.git.show("main:access/pingone.yaml"), after)] == [
        line for line in changed_lines(world.repo.git.show("main:access/pingone.yaml"), before)
    ]

    again = undo(world, run)  # run again: the same pull request, rebuilt
    assert f"updated pull request #2 undoing run {run}" in again, again
    assert sorted(world.sim.repo().pulls) == [1, 2]

    world.approve(2, "hbrandt")
    world.merge(2, branch=branch)
    result = world.apply()
    assert result.code == 0, result.out + result.err
    assert "- PingOne carol: group VPN" in result.out, result.out
    assert "No changes" in world.pending()


def test_dry_run_prints_the_diff_and_opens_nothing(world: World) -> None:
    run, _merge = granted(world)
    out = undo(world, run, "--dry-run")
    assert "--- a/access/pingone.yaml" in out, out
    assert "-    VPN: [site-engineering, it-admins, carol]\n+    VPN: [site-engineering, it-admins]" in out
    assert sorted(world.sim.repo().pulls) == [1]


def test_a_later_edit_to_the_same_lines_is_refused_naming_the_file(world: World) -> None:
    run, _merge = granted(world)
    world.repo.git.checkout("main")
    world.direct_push(replace_text("access/pingone.yaml", ", carol]", ", carol, dan]"), author="hbrandt")
    result = world.access("undo", "--sandbox", run)
    assert result.code == 1
    assert "access/pingone.yaml: edited on main since landing" in result.err, result.err


def test_an_unknown_run_is_refused(world: World) -> None:
    result = world.access("undo", "--sandbox", "no-such-run")
    assert result.code == 1 and "no apply run no-such-run" in result.err, result.err


def test_the_trails_run_id_names_the_same_run(world: World) -> None:
    _run, merge = granted(world)
    shown = json.loads(world.access("audit", "show", "--sandbox", "--format", "json").out)
    (record,) = [r for r in shown["records"] if any(e.get("pull_request") == 1 for e in r["entries"])]
    out = undo(world, record["run"], "--dry-run")
    assert "-    VPN: [site-engineering, it-admins, carol]\n+    VPN: [site-engineering, it-admins]" in out
    assert merge[:12] not in out  # a dry run prints only the diff
