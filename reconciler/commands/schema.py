"""`access schema`: JSON Schemas of access/ and policies/, generated from the pydantic models.

Editors read them through the first line of each YAML file
(`# yaml-language-server: $schema=../schema/access.schema.json`) to autocomplete and check as you
type. The schemas describe what a user may *write*: the short forms that validators fold into the
models (`[alice, bob]` for members, `Project Engineer` for `{template: Project Engineer}`) are
spelled out, because pydantic only knows them where a validator declares `json_schema_input_type`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from reconciler.commands.context import AppContext
from reconciler.desired import AccessFile
from reconciler.policy_model import Policies

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "access.schema.json": (AccessFile, "access/*.yaml: people, teams and vendor access"),
    "policies.schema.json": (Policies, "policies/*.yaml: approvers, controls and safety limits"),
}
_MEMBERS_OF = "x-members-of"  # placeholder resolved once every definition exists
_NULL: JsonSchemaValue = {"type": "null"}
_STRING: JsonSchemaValue = {"type": "string"}


class InputSchema(GenerateJsonSchema):
    """Pydantic's generator, widened where access/'s validators accept a short form."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        inner = super().function_before_schema(schema)
        if schema.get("json_schema_input_schema"):
            return inner
        function = schema["function"]["function"]
        name = getattr(function, "__qualname__", getattr(function, "__name__", ""))
        if name == "fold_members":  # members as a list: `[alice, {carol: {...}}]`
            item = {"type": "object", "additionalProperties": inner.get("additionalProperties", {})}
            short = {
                "type": "array",
                "items": {"anyOf": [_STRING, {"type": "integer"}, item | {"maxProperties": 1}]},
            }
            return {"anyOf": [inner, short, _NULL]}
        if name == "_membership":  # `alice:` with nothing after it
            return {"anyOf": [inner, _NULL]}
        if name == "_long_or_short":  # a resource as its members alone
            return {"anyOf": [inner, {_MEMBERS_OF: inner}]}
        if name == "ProjectMember._short_form":  # `carol: Project Manager`
            return {"anyOf": [inner, _STRING]}
        if name == "RoleMember._short_form":  # `heidi: environment`, `heidi:`
            return {"anyOf": [inner, _STRING, _NULL]}
        if name == "one_or_many":  # one role scope, or a list of them
            return {"anyOf": [inner, inner.get("items", {})]}
        if name == "_login":  # `pingone: bruiz`
            return {"anyOf": [_STRING, inner]}
        return inner


def generate(model: type[BaseModel], title: str) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation", schema_generator=InputSchema)
    definitions: dict[str, Any] = schema.get("$defs", {})
    for definition in [schema, *definitions.values()]:
        _object_branch(definition)
    resolved = _resolve(schema, definitions)
    assert isinstance(resolved, dict)
    return {"$schema": DRAFT, "title": title, **{k: v for k, v in resolved.items() if k != "title"}}


def _object_branch(definition: dict[str, Any]) -> None:
    """A model whose short form makes it an `anyOf`: its object keywords belong to the object branch."""
    branches = definition.get("anyOf")
    if not branches or "additionalProperties" not in definition:
        return
    moved = {
        k: definition.pop(k) for k in ("additionalProperties", "properties", "required") if k in definition
    }
    for branch in branches:
        if branch.get("type") == "object" or "properties" in branch:
            branch.update(moved)


def _resolve(value: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        if _MEMBERS_OF in value:
            name = value[_MEMBERS_OF]["$ref"].rsplit("/", 1)[-1]
            return _resolve(definitions[name]["properties"]["members"], definitions)
        return {k: _resolve(v, definitions) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, definitions) for v in value]
    return value


def render(name: str) -> str:
    model, title = SCHEMAS[name]
    return json.dumps(generate(model, title), indent=2, ensure_ascii=False) + "\n"


def run(ctx: AppContext, out_dir: Path | None = None, *, check: bool = False) -> int:
    """Write the schemas into `out_dir` (default: `<repo>/schema`); with `check`, only compare."""
    directory = out_dir if out_dir is not None else ctx.repo / "schema"
    stale: list[str] = []
    written: list[str] = []
    for name in SCHEMAS:
        path = directory / name
        text = render(name)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if check:
            stale.append(str(path))
            continue
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(str(path))
    if stale:
        ctx.output.error(f"out of date (run `access schema`): {', '.join(stale)}")
        return 1
    if written:
        ctx.output.result(f"wrote {', '.join(written)}")
    else:
        ctx.output.result(f"schemas in {directory} are up to date")
    return 0
