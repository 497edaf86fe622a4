"""Property: whatever a file holds, loading and `validate` give a result or located errors, quickly.

Mutations of the example files (random bytes, truncations, swapped types, duplicated lines and
keys, anchors and aliases) go through the loader and through `access validate`; the only
acceptable outcomes are "valid" or an AccessError whose every problem names file and line, never
another exception, within a time bound.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import AccessError, LocatedError, ValidationErrors
from reconciler.loader import read_files
from reconciler.normalize import normalize
from tests.conftest import ROOT
from tests.helpers import run_cli

EXAMPLES = {p.name: p.read_bytes() for p in sorted((ROOT / "access").glob("*.yaml"))}
SECONDS = 2.0
LOCATED = re.compile(r"^(access|policies)/[^:\n]+(:\d+)?: ")

VALUES = [
    b"[a, b]", b"{x: 1}", b"123", b"true", b"no", b"~", b"2027-02-30", b"2027-03-31T17:00:00",
    b'"unterminated', b"'half", b"&anchor x", b"*anchor", b"<<: *anchor", b"!!python/name:os.system",
    b"9" * 5000, b"\x00", b"\xff\xfe", b"- item", b"? [k]", b"{a: [b, {c: [d", b"|\n\tx", b"---",
    b"&a [*a]", b"*nowhere", b".inf", b"0x1F", b"-", b": :", b"\t", b"\"\\u0000\"",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    data = EXAMPLES[name]
    for _ in range(draw(st.integers(1, 3))):
        lines = data.split(b"\n")
        kind = draw(st.sampled_from(["bytes", "truncate", "swap", "duplicate", "alias", "indent", "value"]))
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        if kind == "bytes":
            pos = draw(st.integers(0, len(data)))
            data = data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos + 1 :]
        elif kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif kind == "swap" and b":" in lines[at]:
            key, _, _ = lines[at].partition(b":")
            lines[at] = key + b": " + draw(st.sampled_from(VALUES))
            data = b"\n".join(lines)
        elif kind == "duplicate":
            lines.insert(at, lines[at])
            data = b"\n".join(lines)
        elif kind == "alias":
            anchor = draw(st.sampled_from([b"a", b"b"]))
            other = draw(st.integers(0, max(0, len(lines) - 1)))
            if b": " in lines[at]:
                lines[at] = lines[at].replace(b": ", b": &" + anchor + b" ", 1)
            if b": " in lines[other]:
                key, _, _ = lines[other].partition(b": ")
                lines[other] = key + b": *" + anchor
            data = b"\n".join(lines)
        elif kind == "indent":
            lines[at] = draw(st.sampled_from([b" ", b"   ", b"\t", b""])) + lines[at].lstrip()
            data = b"\n".join(lines)
        else:
            lines.insert(at, draw(st.sampled_from(VALUES)))
            data = b"\n".join(lines)
    return name, data


def write_repo(root: Path, name: str, data: bytes) -> Path:
    access = root / "access"
    access.mkdir(parents=True)
    for other, content in EXAMPLES.items():
        (access / other).write_bytes(data if other == name else content)
    return root


def assert_located(error: AccessError) -> None:
    problems = error.errors if isinstance(error, ValidationErrors) else [error]
    for problem in problems:
        assert isinstance(problem, LocatedError) and problem.location is not None, problem.message
        assert problem.location.file.startswith("access/"), problem.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_the_loader_gives_data_or_located_errors(case: tuple[str, bytes]) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as tmp:
        repo = write_repo(Path(tmp), name, data)
        started = time.monotonic()
        try:
            files = read_files(repo)
            normalize(files, today=dt.date(2026, 11, 23))
        except AccessError as error:
            assert_located(error)
        assert time.monotonic() - started < SECONDS


# capsys is read (and so emptied) by run_cli on every example
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=mutated())
def test_validate_exits_0_or_1_with_located_lines(
    case: tuple[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as tmp:
        repo = write_repo(Path(tmp), name, data)
        started = time.monotonic()
        code, out, err = run_cli(capsys, "--repo", str(repo), "validate")
        assert time.monotonic() - started < SECONDS
        assert code in (0, 1)
        assert "Traceback" not in out + err and "crashed" not in err, err
        if code == 1:
            problems = [line for line in err.splitlines() if line and not line.startswith(" ")]
            assert problems and all(LOCATED.match(line) for line in problems), err
        assert not os.path.exists(Path(tmp) / ".access-sandbox")
