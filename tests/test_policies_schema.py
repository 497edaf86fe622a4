"""`access schema` writes JSON Schemas that accept the example files and reject mistakes editors should flag."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from reconciler.commands.context import AppContext
from reconciler.commands.schema import run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted([*ROOT.glob("access/*.yaml"), *ROOT.glob("policies/*.yaml")])


def as_editor_sees_it(text: str) -> Any:
    """YAML -> JSON values (dates as strings, keys as strings), as yaml-language-server checks them."""
    return json.loads(
        json.dumps(yaml.safe_load(text), default=lambda v: v.isoformat() if isinstance(v, dt.date) else v)
    )


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, jsonschema.Draft202012Validator]:
    out = tmp_path_factory.mktemp("schema")
    assert run(AppContext(repo=ROOT), out) == 0
    validators = {}
    for name in ("access", "policies"):
        schema = json.loads((out / f"{name}.schema.json").read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[name] = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
    return validators


def test_the_committed_schemas_are_up_to_date() -> None:
    assert run(AppContext(repo=ROOT), ROOT / "schema", check=True) == 0


def test_a_stale_schema_is_reported_in_check_mode(tmp_path: Path) -> None:
    (tmp_path / "access.schema.json").write_text("{}\n", encoding="utf-8")
    assert run(AppContext(repo=ROOT), tmp_path, check=True) == 1
    assert (tmp_path / "access.schema.json").read_text(encoding="utf-8") == "{}\n"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_names_its_schema_and_validates(
    path: Path, schemas: dict[str, jsonschema.Draft202012Validator]
) -> None:
    text = path.read_text(encoding="utf-8")
    kind = path.parent.name
    assert text.splitlines()[0] == f"# yaml-language-server: $schema=../schema/{kind}.schema.json"
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in schemas[kind].iter_errors(as_editor_sees_it(text))
    ]
    assert errors == []


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("policies", "limits: {max_revocation: 5}", "Additional properties are not allowed ('max_revocation' was unexpected)"),
        ("policies", "unmanaged_accounts: {concur: delete}", "'delete' is not valid under any of the given schemas"),
        ("policies", "approvers: {x: {match: {vendor: sap}, approvers: [a]}}", "{'vendor': 'sap'} is not valid under any of the given schemas"),
        ("access", "people: {a: {email: a@x.example, name: A, team: [x]}}", "Additional properties are not allowed ('team' was unexpected)"),
        ("access", "concur: {roles: {Expense User: [alice], X: 3}}", "{'roles': {'Expense User': ['alice'], 'X': 3}} is not valid under any of the given schemas"),
    ],
)  # fmt: skip
def test_mistakes_are_flagged(
    kind: str, text: str, expected: str, schemas: dict[str, jsonschema.Draft202012Validator]
) -> None:
    messages = [e.message for e in schemas[kind].iter_errors(as_editor_sees_it(text))]
    assert messages == [expected]
