"""CODEOWNERS read as GitHub reads it: the last matching line decides, gitignore-like patterns."""

from __future__ import annotations

import pytest

from reconciler.codeowners import owner_rule, parse

TEXT = """\
# everyone reviews by default
*                    @harborbuild/maintainers
/policies/           @harborbuild/security   # the rules of the gate
docs/*.md            @harborbuild/docs
apps/                @harborbuild/apps
policies/README.md
\\#notes              @harborbuild/notes
"""


@pytest.mark.parametrize(
    ("path", "owners", "line"),
    [
        ("policies/approvers.yaml", ("@harborbuild/security",), 3),
        ("policies/deep/new.yaml", ("@harborbuild/security",), 3),
        ("policies/README.md", (), 6),  # a later line without owners leaves it unowned
        ("docs/a.md", ("@harborbuild/docs",), 4),
        ("docs/sub/a.md", ("@harborbuild/maintainers",), 2),  # `*` stays within one directory
        ("x/apps/y.py", ("@harborbuild/apps",), 5),  # no leading slash: at any depth
        ("#notes", ("@harborbuild/notes",), 7),
        ("README.md", ("@harborbuild/maintainers",), 2),
    ],
)
def test_the_last_matching_line_decides(path: str, owners: tuple[str, ...], line: int) -> None:
    found = owner_rule(parse(TEXT), path)
    assert found is not None and (found.owners, found.line) == (owners, line)


def test_anchoring_and_directories() -> None:
    rules = parse("/policies @sec\nbuild/ @build\n**/logs @logs\n")
    assert owner_rule(rules, "policies/a.yaml") is not None  # a directory owns what is in it
    assert owner_rule(rules, "x/policies/a.yaml") is None  # anchored at the root
    assert owner_rule(rules, "build") is None  # `build/` matches a directory only
    assert owner_rule(rules, "a/b/logs/today.txt") is not None
