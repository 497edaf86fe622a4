"""CODEOWNERS as GitHub reads it (pure): who owns a path.

GitHub takes the first of `.github/CODEOWNERS`, `CODEOWNERS`, `docs/CODEOWNERS` on the base branch.
Each line is a pattern and its owners; the **last** matching line wins, and a matching line without
owners leaves the path unowned. Patterns follow gitignore's rules, less negation (`!`) and character
ranges (`[...]`): a leading `/`, or a `/` inside, anchors a pattern at the root, else it matches at
any depth; a trailing `/` matches a directory only; `*` stays within a path segment, `**` crosses
them; a pattern that matches a directory owns everything in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int
    regex: re.Pattern[str]
    directory_only: bool


def _translate(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    return "".join(out)


def rule(pattern: str, owners: tuple[str, ...], line: int) -> Rule:
    directory_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    anchored = body.startswith("/") or "/" in body.lstrip("/")
    body = body.lstrip("/")
    regex = ("" if anchored or body.startswith("**") else "(?:.*/)?") + _translate(body)
    return Rule(pattern, owners, line, re.compile(regex), directory_only)


def parse(text: str) -> list[Rule]:
    rules: list[Rule] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, *rest = line.split()
        owners: list[str] = []
        for word in rest:
            if word.startswith("#"):  # a comment after the owners
                break
            owners.append(word)
        rules.append(rule(pattern.replace("\\#", "#"), tuple(owners), number))
    return rules


def _candidates(path: str) -> list[tuple[str, bool]]:
    """The path and each directory above it, as (text, is a directory)."""
    parts = path.strip("/").split("/")
    return [("/".join(parts[:n]), n < len(parts)) for n in range(1, len(parts) + 1)]


def owner_rule(rules: list[Rule], path: str) -> Rule | None:
    """The line that decides `path`'s owners (the last that matches), or None."""
    found = None
    candidates = _candidates(path)
    for r in rules:
        if any(r.regex.fullmatch(text) and (is_dir or not r.directory_only) for text, is_dir in candidates):
            found = r
    return found
