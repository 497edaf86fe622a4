"""Every setting the code reads is declared in `reconciler.settings.SETTINGS`, secret or not.

The scrubber masks exactly the declared secrets (and, conservatively, undeclared variables whose
names suggest one), so a setting read but not declared would be masked or not by accident of its
name. This finds the settings by reading the source: every string that is a whole variable name of
ours, and every `f"{prefix}_..."` name the token store builds for a vendor.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from reconciler.settings import SECRET_SETTINGS, SETTINGS

ROOT = Path(__file__).resolve().parents[1] / "reconciler"
NAME = re.compile(
    r"(ACCESS|GITHUB|PROCORE|CONCUR|PINGONE)_[A-Z0-9_]*[A-Z0-9]|XDG_CONFIG_HOME|HOME|PIP_INDEX_URL|NO_COLOR"
)
# `token_store_from_env(env, vendor=...)` builds `f"{prefix}_TOKEN_STORE"`; only Concur has a token store
PREFIXES = {"prefix": ("CONCUR",)}
SIMULATED = ("simulators",)  # test doubles: what they name is read, if at all, by the code elsewhere


def names_in(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
            found.add(node.value)
        elif isinstance(node, ast.JoinedStr) and len(node.values) == 2:
            head, tail = node.values
            if (
                isinstance(head, ast.FormattedValue)
                and isinstance(head.value, ast.Name)
                and isinstance(tail, ast.Constant)
                and isinstance(tail.value, str)
                and re.fullmatch(r"_[A-Z0-9_]+", tail.value)
            ):
                found |= {p + tail.value for p in PREFIXES[head.value.id]}
    return found


def settings_read() -> dict[str, str]:
    """Each variable name the production code spells out -> the first module that does."""
    found: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*.py")):
        if path.relative_to(ROOT).parts[0] in SIMULATED:
            continue
        for name in names_in(path.read_text(encoding="utf-8")):
            found.setdefault(name, str(path.relative_to(ROOT.parent)))
    return found


def test_every_setting_the_code_reads_is_declared_secret_or_not() -> None:
    undeclared = {name: where for name, where in settings_read().items() if name not in SETTINGS}
    assert undeclared == {}, "declare each in reconciler/settings.py SETTINGS: secret, or what it holds"


def test_every_declared_setting_is_read_somewhere() -> None:
    assert sorted(set(SETTINGS) - set(settings_read())) == []


def test_the_finder_sees_plain_names_and_a_vendor_prefix() -> None:
    source = 'env.get("PINGONE_REGION"); env.get(f"{prefix}_TOKEN_FILE"); "GITHUB_"; "not PROCORE_X here"'
    assert names_in(source) == {"PINGONE_REGION", "CONCUR_TOKEN_FILE"}


def test_the_credentials_are_secrets_and_the_names_around_them_are_not() -> None:
    assert {
        "PROCORE_CLIENT_SECRET", "CONCUR_CLIENT_SECRET", "CONCUR_REFRESH_TOKEN", "PINGONE_CLIENT_SECRET",
        "GITHUB_TOKEN", "ACCESS_APPLY_POINT_KEY", "CONCUR_SECRETS_TOKEN", "ACCESS_SECRETS_TOKEN",
        "CONCUR_REQUEST_TOKEN", "ACCESS_SMTP_PASSWORD", "ACCESS_EVIDENCE_SIGNING_KEY",
    } == SECRET_SETTINGS  # fmt: skip
