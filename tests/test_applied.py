"""Reading the audit log for `access why` and `access report`: when apply last granted each grant.

The log is real JSON lines in tmp_path, read in this process and by the second process a report
starts for a large log; both must give the same answer and the same one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.applied import Reading, read_applied
from reconciler.errors import AccessError
from reconciler.records import Grant

HARBOR = Grant("procore", "562949953421312", "project", "Harbor Tower", "Project Engineer", "judy@x.example")
VPN = Grant("pingone", "", "group", "VPN", "member", "alice@x.example")


def line(
    grant: Grant,
    at: str,
    action: str = "grant",
    outcome: str = "applied",
    ensure_ascii: bool = True,
    **extra: object,
) -> str:
    entry = {"time": at, "action": action, "outcome": outcome, **grant._asdict(), **extra}
    return json.dumps(entry, sort_keys=True, ensure_ascii=ensure_ascii)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def by_head(times: dict[Grant, str]) -> dict[tuple[str, ...], dict[str, str]]:
    """The answer's shape: grant -> time, by head (vendor .. entitlement), then principal."""
    found: dict[tuple[str, ...], dict[str, str]] = {}
    for grant, at in times.items():
        found.setdefault(grant[:5], {})[grant.principal] = at
    return found


def both(path: Path) -> list[dict[tuple[str, ...], dict[str, str]]]:
    """The answer read here and by a second process (however small the log)."""
    return [read_applied(path), Reading.start(path, background_from=0).result()]


def test_the_latest_grant_counts_and_revokes_failures_and_accounts_do_not(tmp_path: Path) -> None:
    log = write(
        tmp_path / "audit.jsonl",
        [
            line(HARBOR, "2026-11-20T06:00:00+00:00"),
            "",
            line(HARBOR, "2026-11-02T06:00:00+00:00", action="update", outcome="already"),  # older
            line(HARBOR, "2026-11-21T06:00:00+00:00", action="revoke"),
            line(VPN, "2026-11-22T06:00:00+00:00", outcome="failed"),
            line(VPN._replace(resource_type="account"), "2026-11-22T06:00:00+00:00"),
            line(VPN, "2026-11-19T06:00:00+00:00", approved_by=["cokafor"], pull_request=7),
            "   ",
        ],
    )
    for found in both(log):
        assert found == by_head({HARBOR: "2026-11-20T06:00:00+00:00", VPN: "2026-11-19T06:00:00+00:00"})


def test_fields_written_otherwise_are_taken_as_written(tmp_path: Path) -> None:
    entry = json.loads(line(HARBOR, "2026-11-20T06:00:00+00:00"))
    entry["tenant"] = 562949953421312  # a number, not a string
    no_time = json.loads(line(VPN, ""))
    del no_time["time"]
    log = write(tmp_path / "audit.jsonl", [json.dumps(entry), " " + json.dumps(no_time) + " "])
    for found in both(log):
        assert found == by_head({HARBOR: "2026-11-20T06:00:00+00:00", VPN: ""})


TWO_ON_A_LINE = line(VPN, "2026-11-20T06:00:00+00:00") + " " + line(HARBOR, "2026-11-20T06:00:00+00:00")
ONE_OVER_TWO = line(VPN, "2026-11-20T06:00:00+00:00").replace(", ", ",\n", 1)


@pytest.mark.parametrize(
    "bad", ['{"time": "2026-11-20", "action": "grant"', '{"a": 1} {"b": 2}', TWO_ON_A_LINE, ONE_OVER_TWO]
)
def test_a_line_that_is_not_json_is_one_error_naming_it(tmp_path: Path, bad: str) -> None:
    """Far enough into the log to be read in a later chunk than the first."""
    good = [
        line(VPN._replace(principal=f"p{i:05d}@x.example"), "2026-11-20T06:00:00+00:00") for i in range(9000)
    ]
    log = write(tmp_path / "audit.jsonl", [*good, bad, *good[:10]])
    assert log.stat().st_size > 1 << 20  # the reader takes a megabyte of lines at a time
    messages = []
    for read in (read_applied, lambda path: Reading.start(path, background_from=0).result()):
        with pytest.raises(AccessError) as caught:
            read(log)
        messages.append(caught.value.message)
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"{log}:9001: not a JSON line of the audit log (")


def test_no_log_is_no_applied_grants(tmp_path: Path) -> None:
    assert both(tmp_path / "missing.jsonl") == [{}, {}]


def test_a_log_with_windows_line_ends_reads_the_same(tmp_path: Path) -> None:
    lines = [line(HARBOR, "2026-11-20T06:00:00+00:00"), line(VPN, "2026-11-19T06:00:00+00:00")]
    unix = write(tmp_path / "unix.jsonl", lines)
    windows = tmp_path / "windows.jsonl"
    windows.write_bytes(unix.read_bytes().replace(b"\n", b"\r\n"))
    assert (
        both(windows)
        == both(unix)
        == [by_head({HARBOR: "2026-11-20T06:00:00+00:00", VPN: "2026-11-19T06:00:00+00:00"})] * 2
    )


def test_a_line_that_is_not_utf8_is_one_error_naming_it(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(line(HARBOR, "2026-11-20T06:00:00+00:00").encode() + b'\n{"reason": "caf\xe9"}\n')
    with pytest.raises(AccessError) as caught:
        read_applied(log)
    assert caught.value.message.startswith(f"{log}:2: not a JSON line of the audit log (")


def test_json_that_python_reads_is_read_whatever_its_numbers(tmp_path: Path) -> None:
    """NaN and an integer past 64 bits are JSON as Python writes and reads it: the lines count."""
    log = write(
        tmp_path / "audit.jsonl",
        [
            line(HARBOR, "2026-11-20T06:00:00+00:00", pull_request=10**30),
            line(VPN, "2026-11-19T06:00:00+00:00", score=float("nan")),
        ],
    )
    for found in both(log):
        assert found == by_head({HARBOR: "2026-11-20T06:00:00+00:00", VPN: "2026-11-19T06:00:00+00:00"})


def reference(lines: list[str]) -> dict[tuple[str, ...], dict[str, str]]:
    """What the log says, read the plain way: each line by json, each grant's latest time."""
    times: dict[Grant, str] = {}
    for text in lines:
        entry = json.loads(text) if text.strip() else None
        if not isinstance(entry, dict) or entry.get("action") not in ("grant", "update"):
            continue
        if entry.get("outcome") not in ("applied", "already") or entry.get("resource_type") == "account":
            continue
        fields = [str(entry.get(name, "")) for name in (*Grant._fields, "time")]
        grant = Grant(*fields[:6])
        times[grant] = max(times.get(grant, fields[6]), fields[6])
    return by_head(times)


QUIRKS = {
    "nested and null fields apply writes": line(
        VPN, "2026-11-21T06:00:00+00:00", approvals=[{"login": "a"}], why=None
    ),
    "an escaped lone surrogate": line(VPN, "2026-11-21T06:00:00+00:00", note="\ud800"),
    "a field that is null": line(
        VPN._replace(principal="ann@x.example"), "2026-11-21T06:00:00+00:00", tenant=None
    ),
    "a field missing": json.dumps(
        {"action": "grant", "outcome": "applied", "vendor": "pingone", "time": "t"}
    ),
    "not an object": json.dumps(["not", "an", "object"]),
    "not ASCII": line(
        VPN._replace(principal="zoë@x.example"), "2026-11-22T06:00:00+00:00", ensure_ascii=False
    ),
    "an older line later": line(VPN, "2026-11-01T06:00:00+00:00"),
}


@pytest.mark.parametrize("quirk", QUIRKS)
def test_lines_apply_never_writes_are_read_as_json_reads_them(tmp_path: Path, quirk: str) -> None:
    """A batch of lines as apply writes them is decoded to the fields it needs; one holding a line
    otherwise is read by json: the same answer either way."""
    lines = [
        line(HARBOR._replace(principal=f"p{i}@x.example"), "2026-11-20T06:00:00+00:00") for i in range(3)
    ]
    lines += [line(VPN, "2026-11-19T06:00:00+00:00"), QUIRKS[quirk]]
    log = write(tmp_path / "audit.jsonl", lines)
    for found in both(log):
        assert found == reference(lines)
