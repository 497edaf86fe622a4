"""The audit log's index (`reconciler.applied`): a report reads only the lines after those it read
last time, and gets the answer a read of the whole log gets, whatever happened to the log or the
index in between (lines appended, the log truncated or rewritten, the index corrupt or unwritable).

Real files in a temporary directory; the answer with the index is compared with a read of the same
bytes that has no index, and with the plain reading of `test_applied.reference`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.applied import Reading, index_path, read_applied
from reconciler.errors import AccessError
from reconciler.records import Grant
from tests.test_applied import HARBOR, VPN, line, reference

Step = tuple[Any, ...]  # what happens to the log or its index: a kind, then its values
NO_INDEX = 1 << 62  # a log this small is read whole, with no index
TIMES = [f"2026-11-{day:02d}T06:00:00+00:00" for day in (1, 9, 20, 21)]


def grant_line(vendor: int, principal: int, at: int, action: str, outcome: str) -> str:
    grant = (HARBOR, VPN)[vendor]._replace(principal=f"p{principal}@x.example")
    return line(grant, TIMES[at], action=action, outcome=outcome)


QUIRKS = [
    "",
    "  ",
    json.dumps(["not", "an", "object"]),
    line(VPN._replace(principal="zoë@x.example"), TIMES[2], ensure_ascii=False),
    json.dumps({"action": "grant", "outcome": "applied", "vendor": "pingone", "time": "t"}),
    line(VPN, TIMES[3], tenant=None),
    '{"time": "2026-11-20", "action": "grant"',  # not JSON: an error naming the line
]

grant_lines = st.builds(
    grant_line,
    st.integers(0, 1),
    st.integers(0, 5),
    st.integers(0, 3),
    st.sampled_from(["grant", "update", "revoke"]),
    st.sampled_from(["applied", "already", "failed"]),
)
lines_ = st.lists(st.one_of(grant_lines, grant_lines, st.sampled_from(QUIRKS)), max_size=12)
endings = st.sampled_from(["\n", "\r\n", "\r"])
steps = st.one_of(
    st.tuples(st.just("append"), lines_, endings, st.booleans()),  # (the last line's newline, or not)
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("rewrite"), lines_, endings, st.booleans()),
    st.tuples(st.just("edit"), st.floats(0, 1), st.sampled_from(b'0129{}" \n')),  # a byte in place
    st.tuples(st.just("corrupt index"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("cut index"), st.floats(0, 1)),
    st.tuples(st.just("remove index")),
)


def text(lines: list[str], ending: str, last_newline: bool) -> bytes:
    body = ending.join(lines) + (ending if last_newline and lines else "")
    return body.encode("utf-8")


def outcome(read: Callable[[Path], object], log: Path) -> object:
    """The answer, or the message of the error the read raised (the log named LOG)."""
    try:
        return read(log)
    except AccessError as exc:
        return ("error", exc.message.replace(str(log), "LOG"))


def plain(data: bytes) -> object:
    """The log read line by line by json (lines end where text mode ends them), if it is all JSON."""
    lines = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and not lines[-1]:
        lines.pop()
    try:
        return reference(lines)
    except json.JSONDecodeError:
        return None


def change(log: Path, step: Step) -> None:
    index = index_path(log)
    kind = step[0]
    if kind in ("append", "rewrite"):
        added = text(*step[1:])
        log.write_bytes((log.read_bytes() if kind == "append" else b"") + added)
    elif kind in ("truncate", "edit"):
        log.write_bytes(changed(log.read_bytes(), step))
    elif index.is_file():
        if kind == "remove index":
            index.unlink()
        else:
            index.write_bytes(changed(index.read_bytes(), step))


def changed(data: bytes, step: Step) -> bytes:
    """`data` cut short at a fraction of its length, or with the byte there replaced."""
    at = int(len(data) * step[1])
    if step[0] in ("truncate", "cut index"):
        return data[:at]
    if not data:
        return data
    at = min(at, len(data) - 1)
    return data[:at] + bytes([step[2]]) + data[at + 1 :]


@pytest.mark.parametrize("rewrite_from", [0, 1 << 20])  # (written again after every read, or not)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=lines_, steps=st.lists(steps, max_size=8))
def test_the_index_gives_the_answer_of_a_whole_read_whatever_befell_the_log(
    rewrite_from: int, start: list[str], steps: list[Step]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log, whole = Path(tmp, "audit.jsonl"), Path(tmp, "whole", "audit.jsonl")
        whole.parent.mkdir()
        log.write_bytes(text(start, "\n", True))
        for step in [("append", [], "\n", True), *steps]:
            change(log, step)
            shutil.copyfile(log, whole)
            expected = outcome(partial(read_applied, index_from=NO_INDEX), whole)
            assert outcome(partial(read_applied, index_from=0, rewrite_from=rewrite_from), log) == expected
            assert not index_path(whole).exists()
            data = log.read_bytes()
            if not isinstance(expected, tuple):
                assert expected == plain(data)
            # Written when the log was read, and only then: the index covers its whole lines.
            if not isinstance(expected, tuple) and data.count(b"\n"):
                assert index_path(log).is_file()


def test_lines_appended_after_a_report_are_read(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    first = [line(HARBOR._replace(principal=f"p{i}@x.example"), TIMES[1]) for i in range(20_000)]
    log.write_text("\n".join(first) + "\n", encoding="utf-8")
    assert log.stat().st_size > 1 << 20  # a log this large keeps an index by default
    answer = read_applied(log)
    assert index_path(log).is_file()
    with log.open("a", encoding="utf-8") as handle:  # as apply appends
        handle.write(line(HARBOR._replace(principal="p7@x.example"), TIMES[3]) + "\n")
        handle.write(line(VPN, TIMES[0]) + "\n")
        handle.write(line(VPN, TIMES[2]))  # being written: no newline yet
    answer[HARBOR[:5]]["p7@x.example"] = TIMES[3]
    answer[VPN[:5]] = {VPN.principal: TIMES[2]}
    assert read_applied(log) == answer
    assert Reading.start(log, background_from=1 << 10).result() == answer  # in a thread
    assert Reading.start(log, background_from=0).result() == answer  # in a second process
    with log.open("a", encoding="utf-8") as handle:
        handle.write("\n" + line(VPN, TIMES[1]) + "\n")  # older than the line before: not the latest
    assert read_applied(log) == answer


def test_a_log_rewritten_to_the_same_size_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(line(HARBOR, TIMES[1]) + "\n" + line(VPN, TIMES[2]) + "\n", encoding="utf-8")
    read_applied(log, index_from=0)
    log.write_text(line(HARBOR, TIMES[3]) + "\n" + line(VPN, TIMES[2]) + "\n", encoding="utf-8")
    assert read_applied(log, index_from=0) == {
        HARBOR[:5]: {HARBOR.principal: TIMES[3]},
        VPN[:5]: {VPN.principal: TIMES[2]},
    }


def test_an_index_that_cannot_be_written_or_read_leaves_the_answer_as_it_was(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(line(HARBOR, TIMES[1]) + "\n", encoding="utf-8")
    index_path(log).mkdir()  # (a directory where the index would be: neither read nor replaced)
    assert read_applied(log, index_from=0) == {HARBOR[:5]: {HARBOR.principal: TIMES[1]}}
    assert read_applied(log, index_from=0) == {HARBOR[:5]: {HARBOR.principal: TIMES[1]}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "audit.jsonl.index"]  # no leftovers


def test_a_bad_line_after_the_indexed_ones_is_named_by_its_line_number(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(line(HARBOR, TIMES[1]) + "\r\n" + line(VPN, TIMES[2]) + "\r\n", encoding="utf-8")
    read_applied(log, index_from=0)
    with log.open("a", encoding="utf-8", newline="") as handle:
        handle.write("\r\n" + '{"time": "2026' + "\r\n")
    with pytest.raises(AccessError) as caught:
        read_applied(log, index_from=0)
    assert caught.value.message.startswith(f"{log}:4: not a JSON line of the audit log (")


def test_no_index_beside_a_small_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(line(Grant(*HARBOR), TIMES[1]) + "\n", encoding="utf-8")
    read_applied(log)
    assert not index_path(log).exists()
