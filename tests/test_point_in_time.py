"""`access report --at` and `access why --at`: who had what on a day, and why; and the stored
snapshots they read (`refs/access/snapshots/YYYY-MM-DD`).

A real git repository, the GitHub simulator and the sandbox vendors, through the real gate (the
world of tests/test_gate.py), its commits dated in the past: the example adopted ten days ago, a
snapshot kept eight days ago, carol's VPN pull request merged six days ago and applied, a snapshot
kept four days ago. The audit trail's times are the wall clock's.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git
import pytest

from reconciler import cli, snapshot_store
from reconciler.periods import parse_instant, parse_period
from tests.test_gate import CAROL_VPN, World, adopt_example

HEIDI = "      heidi: environment"
CERTIFIED = "      heidi: {scope: environment, certified: 2026-11-01}"
REVOKE = "    grace_days: 14\n"
TODAY = dt.datetime.now(dt.UTC).date()


@dataclass
class Run:
    code: int
    out: str
    err: str


def access(path: Path, *args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(["--repo", str(path), *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Run(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def dated(when: dt.datetime | None) -> Iterator[None]:
    """git's commits made meanwhile are dated `when`."""
    with pytest.MonkeyPatch.context() as patch:
        if when is not None:
            stamp = f"{int(when.timestamp())} +0000"
            patch.setenv("GIT_COMMITTER_DATE", stamp)
            patch.setenv("GIT_AUTHOR_DATE", stamp)
        yield


def _days_ago(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=days)


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example with heidi's admin role certified on 2026-11-01 and lapsing on no response,
    adopted ten days ago."""

    def certified_and_lapsing(repo: Path) -> None:
        pingone = repo / "access/pingone.yaml"
        pingone.write_text(pingone.read_text(encoding="utf-8").replace(HEIDI, CERTIFIED), encoding="utf-8")
        rules = repo / "policies/recertification.yaml"
        text = rules.read_text(encoding="utf-8")
        rules.write_text(text.replace(REVOKE, REVOKE + "    on_no_response: revoke\n", 1), encoding="utf-8")

    root = tmp_path_factory.mktemp("evidence")
    with dated(_days_ago(10)), pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACCESS_TODAY", "2026-11-23")
        return adopt_example(root, certified_and_lapsing, "example access, admin roles lapse on no response")


@pytest.fixture
def timeline(adopted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[World, int]:
    """Adopted ten days ago; a snapshot kept eight days ago; carol's VPN pull request merged six days
    ago and applied; a snapshot kept four days ago."""
    shutil.copytree(adopted, tmp_path / "repo")
    world = World(git.Repo(tmp_path / "repo"))
    monkeypatch.setenv("ACCESS_TODAY", "2026-11-23")

    def keep(days: int) -> None:
        snapshot = tmp_path / f"snapshot-{days}"
        assert access(world.path, "sync", "--sandbox", "--out", str(snapshot)).code == 0
        day = (TODAY - dt.timedelta(days=days)).isoformat()
        assert access(world.path, "snapshots", "keep", str(snapshot), "--day", day).code == 0

    keep(8)
    with dated(_days_ago(6)):
        number = world.open_pull("cokafor", CAROL_VPN)
        world.approve(number, "hbrandt")
        world.merge(number)
    assert access(world.path, "apply", "--sandbox").code == 0
    keep(4)
    return world, number


def _at(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


def test_report_at_a_date_before_and_after_a_change(timeline: tuple[World, int]) -> None:
    world, number = timeline

    def vpn(days: int) -> dict[str, dict[str, str]]:
        result = access(world.path, "report", "--sandbox", "--at", _at(days), "--format", "csv")
        assert result.code == 0, result.err
        return {r["person"]: r for r in csv.DictReader(io.StringIO(result.out)) if r["resource"] == "VPN"}

    before = vpn(7)
    assert "carol" not in before and before["alice"]["status"] == "in force"
    after = vpn(3)
    carol = after["carol"]
    assert (carol["status"], carol["pull_request"], carol["approved_by"]) == (
        "in force",
        str(number),
        "hbrandt",
    )
    assert vpn(0)["carol"]["pull_request"] == str(number)

    earlier = access(world.path, "report", "--sandbox", "--at", _at(7), "--format", "csv")
    assert f"note: as of {_at(7)}T23:59:59Z: main at " in earlier.err
    assert f"the vendors as refs/access/snapshots/{_at(8)} showed them" in earlier.err

    why = access(world.path, "why", "carol", "VPN", "--sandbox", "--at", _at(7))
    assert why.code == 0 and "holds nothing and is granted nothing in the YAML" in why.out, why.out
    why = access(world.path, "why", "carol", "VPN", "--sandbox", "--at", _at(3), "--format", "json")
    (grant,) = json.loads(why.out)["grants"]
    assert grant["status"] == "in force" and grant["granted_in"]["pull_request"] == number
    assert grant["granted_in"]["approved_by"] == ["hbrandt"]


def test_at_before_the_history_or_malformed_is_one_line(timeline: tuple[World, int]) -> None:
    world, _ = timeline
    result = access(world.path, "report", "--at", _at(30), "--no-sync")
    assert result.code == 1 and "main's history starts later" in result.err
    result = access(world.path, "report", "--at", "2026-11-20T12:00:00", "--no-sync")
    assert result.code == 1 and "has no time zone" in result.err


def test_periods_and_instants() -> None:
    q3 = parse_period("2026-Q3")
    assert (q3.start, q3.end, q3.label) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30), "2026-Q3")
    assert str(parse_period("2026-07-01..2026-09-30")) == "2026-07-01..2026-09-30"
    assert parse_period("2024-02").end == dt.date(2024, 2, 29) and parse_period("2026").end == dt.date(
        2026, 12, 31
    )
    assert parse_period("2026-Q4").end == dt.date(2026, 12, 31)
    for bad in ("2026-Q5", "2026-09-30..2026-07-01", "last quarter"):
        with pytest.raises(Exception, match="--period"):
            parse_period(bad)
    assert parse_instant("2026-09-30").iso() == "2026-09-30T23:59:59Z"
    assert parse_instant("2026-09-30T17:00:00+02:00").iso() == "2026-09-30T15:00:00Z"


def test_snapshots_are_kept_one_ref_a_day_and_expire(timeline: tuple[World, int]) -> None:
    world, _ = timeline
    listed = access(world.path, "snapshots", "list")
    assert [line.split()[0] for line in listed.out.splitlines()] == [_at(8), _at(4)]
    found = snapshot_store.stored(git.Repo(world.path))
    assert snapshot_store.nearest(found, TODAY) == found[1]
    assert snapshot_store.nearest(found, TODAY - dt.timedelta(days=5)) == found[0]
    assert (
        snapshot_store.nearest(found, TODAY - dt.timedelta(days=9)) == found[0]
    )  # none before: the first after
    today = dt.date.fromisoformat(os.environ["ACCESS_TODAY"])  # (tests/conftest.py pins it)
    names = [f"refs/access/snapshots/{today - dt.timedelta(days=d)}" for d in (0, 400, 401)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACCESS_SNAPSHOT_RETENTION_DAYS", "400")
        expired = access(world.path, "snapshots", "expired", *names)
    assert expired.out.splitlines() == [names[2]]


def test_plan_keeps_what_the_vendors_said_as_sync_writes_it(
    timeline: tuple[World, int], tmp_path: Path
) -> None:
    # The scheduled drift run reads the vendors once: its plan keeps the day's snapshot.
    world, _ = timeline
    kept, synced = tmp_path / "kept", tmp_path / "synced"
    planned = access(world.path, "plan", "--sandbox", "--snapshot-out", str(kept))
    assert planned.code == 0, planned.err
    assert access(world.path, "sync", "--sandbox", "--out", str(synced)).code == 0
    files = sorted(p.name for p in kept.iterdir())
    assert files == sorted(p.name for p in synced.iterdir()) and "pingone.json" in files
    for name in files:  # the same records (a sandbox read twice: the same tenant, the same answers)
        assert (
            json.loads((kept / name).read_text())["accounts"]
            == json.loads((synced / name).read_text())["accounts"]
        )
    replanned = access(world.path, "plan", "--state", str(kept), "--format", "json")
    assert (
        replanned.code == 0
        and json.loads(replanned.out)["changes"]
        == json.loads(access(world.path, "plan", "--sandbox", "--format", "json").out)["changes"]
    )
    wrong = access(world.path, "plan", "--state", str(kept), "--snapshot-out", str(tmp_path / "x"))
    assert wrong.code == 1 and "--snapshot-out" in wrong.err and "Traceback" not in wrong.err
