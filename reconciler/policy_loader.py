"""policies/*.yaml -> Policies, every problem located at file:line and reported together.

Each file is validated on its own (so pydantic's errors map to that file's lines through the same
code that locates errors in access/), then the files are merged: named rules by name, the other
sections from the one file that sets them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.errors import LocatedError, ValidationErrors
from reconciler.loader import validate_model
from reconciler.location import Location
from reconciler.policy_model import RULE_SECTIONS, SINGLE_SECTIONS, Policies, field_names
from reconciler.yaml_files import read_folder
from reconciler.yaml_source import Path as YamlPath
from reconciler.yaml_source import YamlDocument, load_yaml

POLICIES_DIR = "policies"


def load_policies(repo: Path) -> Policies:
    """Every policy file merged; no `policies/` directory means the defaults."""
    if not (repo / POLICIES_DIR).is_dir():
        return Policies()
    found = read_folder(repo, POLICIES_DIR)
    errors: list[LocatedError] = list(found.errors)
    parsed: list[tuple[YamlDocument, Policies]] = []
    for name, raw in found.files:
        document = load_yaml(raw, name)
        errors.extend(document.errors)
        if document.data is None or document.errors:
            continue
        model = validate_policy_document(document, errors)
        if model is not None:
            parsed.append((document, model))
    merged = merge(parsed, errors)
    if errors:
        raise ValidationErrors(errors)
    return merged


def validate_policy_document(document: YamlDocument, errors: list[LocatedError]) -> Policies | None:
    model = validate_model(document, errors, Policies, field_names(), "policies/")
    if model is not None and model.notifications is not None:  # names that refer within the section
        for path, message in model.notifications.problems():
            dotted = ".".join(str(p) for p in ("notifications", *path))
            errors.append(LocatedError(document.location(("notifications", *path)), f"{dotted}: {message}"))
    return model


def merge(parsed: list[tuple[YamlDocument, Policies]], errors: list[LocatedError]) -> Policies:
    sections: dict[str, Any] = {}
    first: dict[tuple[str, ...], Location] = {}
    lines: dict[YamlPath, Location] = {}
    for document, model in parsed:
        for path, line in document.lines.items():
            lines.setdefault(path, Location(document.file, line))
        for section in RULE_SECTIONS:
            rules: dict[str, Any] = sections.setdefault(section, {})
            for name, rule in getattr(model, section).items():
                here = document.location((section, name))
                if name in rules:
                    errors.append(
                        LocatedError(
                            here,
                            f"{section}: rule {name!r} is defined twice (first at {first[(section, name)]})",
                        )
                    )
                    lines[(section, name)] = first[(section, name)]
                    continue
                rules[name] = rule
                first[(section, name)] = here
                for path, line in document.lines.items():
                    if path[:2] == (section, name):
                        lines[path] = Location(document.file, line)
        for section in SINGLE_SECTIONS:
            if section not in model.model_fields_set:
                continue
            here = document.location((section,))
            if (section,) in first:
                errors.append(
                    LocatedError(
                        here, f"{section} is set here and at {first[(section,)]}; set it in one file"
                    )
                )
                continue
            first[(section,)] = here
            sections[section] = getattr(model, section)
            for path, line in document.lines.items():
                if path[:1] == (section,):
                    lines[path] = Location(document.file, line)
    return Policies.model_validate(sections).with_lines(lines)
