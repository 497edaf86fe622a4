"""The apply journal: outcomes recorded as they happen; an interrupted run is found and resumed."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.changes import Action, Change, change_id, change_identity
from reconciler.connectors.base import ChangeResult, Outcome
from reconciler.journal import JOURNAL_FILE, Journal, interrupted_run


def change(principal: str) -> Change:
    args = ("pingone", Action.GRANT, "", "group", "VPN", "member", principal)
    return Change(change_id(*args), "pingone", Action.GRANT, "", principal, "group", "VPN", "member")


A, B, C = change("a@x"), change("b@x"), change("c@x")


def begin(tmp_path: Path, resumes: str | None = None) -> Journal:
    return Journal.begin(tmp_path, commit="abc", changes_hash="h", resumes=resumes)


def test_a_finished_run_leaves_nothing_to_resume(tmp_path: Path) -> None:
    journal = begin(tmp_path)
    journal.record(A, ChangeResult(A.id, Outcome.APPLIED, vendor_ref="m-1"))
    journal.finish({"applied": 1})
    assert interrupted_run(tmp_path / JOURNAL_FILE) is None
    lines = [json.loads(x) for x in (tmp_path / JOURNAL_FILE).read_text().splitlines()]
    assert [x["event"] for x in lines] == ["start", "outcome", "end"]
    assert lines[1]["vendor_ref"] == "m-1" and lines[1]["identity"] == change_identity(A)


def test_a_killed_run_is_found_with_what_it_finished(tmp_path: Path) -> None:
    first = begin(tmp_path)
    first.record(A, ChangeResult(A.id, Outcome.APPLIED, vendor_ref="m-1"))
    first.record(B, ChangeResult(B.id, Outcome.FAILED, "HTTP 500"))
    first.close()  # no `end`: the process died here
    with (tmp_path / JOURNAL_FILE).open("a") as handle:
        handle.write('{"run": "torn", "event": "outc')  # a line cut short by kill -9
    found = interrupted_run(tmp_path / JOURNAL_FILE)
    assert found is not None and found.run == first.run
    assert set(found.finished) == {change_identity(A)}, "a failed change is not finished: it is retried"
    assert found.finished[change_identity(A)].vendor_ref == "m-1"


def test_a_resume_that_is_killed_too_still_remembers_the_first_runs_work(tmp_path: Path) -> None:
    first = begin(tmp_path)
    first.record(A, ChangeResult(A.id, Outcome.APPLIED))
    first.close()
    found = interrupted_run(tmp_path / JOURNAL_FILE)
    assert found is not None
    second = begin(tmp_path, resumes=found.run)
    second.resumed(A, found.finished[change_identity(A)])
    second.record(B, ChangeResult(B.id, Outcome.ALREADY))
    second.close()
    again = interrupted_run(tmp_path / JOURNAL_FILE)
    assert again is not None and again.run == second.run
    assert set(again.finished) == {change_identity(A), change_identity(B)}
    assert again.finished[change_identity(A)].run == first.run
    third = begin(tmp_path, resumes=again.run)
    third.finish({})
    assert interrupted_run(tmp_path / JOURNAL_FILE) is None
