"""`plan --state` reads a large snapshot in a second process: what it gets is what reading it in
this process gives, errors included, and nothing waits forever on a second process that died."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError
from reconciler.records import Account, Grant, ResourceKey
from reconciler.snapshot import read_state, write_state
from reconciler.snapshot_reading import SnapshotReading

CO = "562949953421312"
VENDORS = ("procore", "concur", "pingone")


def _states() -> list[VendorState]:
    people = [f"p{i:05}@x.example" for i in range(3000)]
    procore = VendorState(
        "procore",
        tuple(Account("procore", CO, p, active=i % 7 > 0, email=p.title(), display_name=f"P {i}", native_id=str(i))
              for i, p in enumerate(people)),
        frozenset(Grant("procore", CO, "project", f"Tower {i % 13}", ("Engineer", "Manager")[i % 2], p)
                  for i, p in enumerate(people)),
        catalog={"project": frozenset({"Engineer", "Manager"})},
        known_resources={"project": frozenset(f"Tower {i}" for i in range(14))},
        unreadable={ResourceKey("procore", CO, "project", "Tower 13"): "the Directory tool is disabled"},
        aliases={(CO, "project"): {"17179869685": "Tower 1", "17179869688": "Tower 2"}},
    )  # fmt: skip
    pingone = VendorState(
        "pingone",
        tuple(Account("pingone", "", p, native_id=f"u{i}", attributes=(("population", f"Pop {i % 3}"),))
              for i, p in enumerate(people)),
        frozenset(Grant("pingone", "", "group", f"G{i % 5}", "member", p) for i, p in enumerate(people)),
        indirect=frozenset({Grant("pingone", "", "group", "G1", "member", people[0])}),
        read_only=frozenset({Grant("pingone", "", "role", "Environment Admin", "environment", people[1])}),
    )  # fmt: skip
    return [procore, pingone]


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    for state in _states():
        write_state(tmp_path, state)
    # a version 1 file: read into the same parts as version 2
    (tmp_path / "concur.json").write_text(json.dumps({
        "snapshot_version": 1, "vendor": "concur", "indirect": [],
        "grants": [["", "role", "EXP_APPROVER", "member", "p00001@x.example"]],
        "accounts": [{"tenant": "", "principal": "p00001@x.example", "active": True, "attributes": {}}],
    }))  # fmt: skip
    return tmp_path


def _same(got: VendorState | None, want: VendorState | None) -> None:
    assert (got is None) == (want is None)
    if got is not None and want is not None:
        assert got == want  # accounts, grants, groups, catalog, indirect, read-only, unreadable, aliases
        assert got.fingerprint == want.fingerprint


def _finished(snapshot: Path, vendors: tuple[str, ...] = VENDORS) -> SnapshotReading:
    """A reading whose second process has answered (then nothing is read here but what it left)."""
    reading = SnapshotReading.start(snapshot, vendors, background_from=0)
    assert reading.process is not None
    assert reading.process.wait() == 0
    return reading


def test_the_second_process_reads_what_this_one_would(snapshot: Path) -> None:
    expected = {vendor: read_state(snapshot, vendor) for vendor in (*VENDORS, "nobody")}
    reading = _finished(snapshot, (*VENDORS, "nobody"))
    for vendor in ("procore", "pingone"):  # what it answered is what is used
        (snapshot / f"{vendor}.json").unlink()
    for vendor in (*VENDORS, "nobody"):  # (concur's is version 1; no file: read here)
        _same(reading.read(vendor), expected[vendor])


def test_what_a_stopped_second_process_did_not_answer_is_read_here(snapshot: Path) -> None:
    expected = {vendor: read_state(snapshot, vendor) for vendor in VENDORS}
    reading = _finished(snapshot)
    assert reading.answer is not None
    reading.answer.seek(0, os.SEEK_END)
    reading.answer.truncate(reading.answer.tell() - 1000)  # the last answer (procore's: sorted), cut short
    (snapshot / "pingone.json").unlink()  # answered
    for vendor in VENDORS:
        _same(reading.read(vendor), expected[vendor])


def test_a_vendor_not_answered_yet_is_read_here_from_the_end_while_the_second_process_goes_on(
    snapshot: Path,
) -> None:
    """Asked for concur before the second process has answered anything, this one reads the vendor
    it would read last (procore) here, and takes the others from it once answered; never waiting."""
    expected = {vendor: read_state(snapshot, vendor) for vendor in VENDORS}
    reading = SnapshotReading.start(snapshot, VENDORS, background_from=0)
    assert reading.vendors == sorted(VENDORS)
    for vendor in sorted(VENDORS):
        _same(reading.read(vendor), expected[vendor])
    assert reading.process is None and reading.answer is None  # stopped and closed once all were read


def test_a_small_snapshot_is_read_here(snapshot: Path) -> None:
    reading = SnapshotReading.start(snapshot, VENDORS)
    assert reading.process is None
    for vendor in VENDORS:
        _same(reading.read(vendor), read_state(snapshot, vendor))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[:-40], r"procore\.json:1: not JSON: "),
        (lambda text: text.replace('"active":[false', '"active":["no"', 1), r"procore\.json: not a valid state snapshot"),
        (lambda text: text.replace('"snapshot_version":2', '"snapshot_version":7', 1), r"snapshot_version 7"),
    ],
)  # fmt: skip
def test_a_damaged_snapshot_is_the_same_one_line_error(snapshot: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    path = snapshot / "procore.json"
    path.write_text(damage(path.read_text()))
    with pytest.raises(AccessError, match=message) as here:
        read_state(snapshot, "procore")
    reading = _finished(snapshot)
    path.unlink()  # the error is the second process's
    with pytest.raises(AccessError) as there:
        reading.read("procore")
    assert there.value.message == here.value.message
    _same(reading.read("pingone"), read_state(snapshot, "pingone"))  # the other vendors still read


def test_a_second_process_that_dies_leaves_the_reading_to_this_one(snapshot: Path) -> None:
    reading = SnapshotReading.start(snapshot, VENDORS, background_from=0)
    assert reading.process is not None
    reading.process.kill()
    for vendor in VENDORS:
        _same(reading.read(vendor), read_state(snapshot, vendor))


def test_a_second_process_that_cannot_answer_leaves_the_reading_to_this_one(snapshot: Path) -> None:
    """What it wrote is not its answer (a crash's traceback, say)."""
    reading = _finished(snapshot)
    assert reading.answer is not None
    reading.answer.seek(0)
    reading.answer.truncate()
    reading.answer.write(b"Traceback (most recent call last):\n")
    for vendor in VENDORS:
        _same(reading.read(vendor), read_state(snapshot, vendor))


def test_stopping_ends_the_second_process(snapshot: Path) -> None:
    reading = SnapshotReading.start(snapshot, VENDORS, background_from=0)
    process = reading.process
    assert process is not None
    reading.stop()
    assert process.returncode is not None
    _same(reading.read("procore"), read_state(snapshot, "procore"))


def test_a_plan_from_a_large_snapshot_is_the_plan_from_the_same_state_read_here(
    example_repo: Path, tmp_path: Path
) -> None:
    """As a user runs it (the console script): a snapshot past the size at which the second process
    reads it, its fingerprints as this process reads them, and a damaged one as the same error."""
    import asyncio

    from reconciler.commands.context import AppContext
    from reconciler.commands.state import load_desired
    from reconciler.connectors.memory import MemoryConnector

    env = {**os.environ, "ACCESS_TODAY": "2026-11-23"}

    def plan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", "--repo", str(example_repo), *args],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip

    snapshot = example_repo / "snapshot"
    assert plan("sandbox", "reset").returncode == 0
    assert plan("sync", "--sandbox", "--out", str(snapshot)).returncode == 0
    small = json.loads(plan("plan", "--state", str(snapshot), "--format", "json").stdout)
    path = snapshot / "pingone.json"
    data = json.loads(path.read_text())
    # 250,000 members of a group the YAML does not manage: out of the plan's scope, in the file.
    data["grants"].append(
        ["", "group", "Everyone Else", "member", [f"x{i:06}@else.example" for i in range(250_000)]]
    )
    data["grants"].sort(key=lambda g: g[:4])
    path.write_text(json.dumps(data))
    assert sum(p.stat().st_size for p in snapshot.iterdir()) > 4 << 20

    result = plan("plan", "--state", str(snapshot), "--format", "json")
    assert result.returncode in (0, 2), result.stderr
    large = json.loads(result.stdout)
    assert large["changes"] == small["changes"]
    access = load_desired(AppContext(repo=example_repo, env=env)).access
    for vendor in large["vendors"]:
        state = read_state(snapshot, vendor)
        assert state is not None
        here = asyncio.run(MemoryConnector(state).sync(access.scope.for_vendor(vendor)))
        assert large["fingerprints"][vendor] == here.fingerprint

    path.write_text(path.read_text()[:-100])
    with pytest.raises(AccessError) as here_error:
        read_state(snapshot, "pingone")
    result = plan("plan", "--state", str(snapshot))
    assert result.returncode == 1
    assert result.stderr.strip() == here_error.value.message


def test_a_reading_started_early_is_the_one_its_command_takes_once(snapshot: Path) -> None:
    """`plan` starts the second process before importing its modules; `make_plan`'s own start
    takes that reading (the same vendors, in any order), and a later start begins another."""
    early = SnapshotReading.start_early(snapshot, ["pingone", "procore", "concur"], background_from=0)
    try:
        taken = SnapshotReading.start(snapshot, VENDORS)
        assert taken is early and taken.process is not None
        again = SnapshotReading.start(snapshot, VENDORS, background_from=0)
        try:
            assert again is not early
        finally:
            again.stop()
        for state in _states():
            assert taken.read(state.vendor) == read_state(snapshot, state.vendor)
    finally:
        early.stop()
