"""PyYAML loading that remembers lines and refuses duplicate keys.

PyYAML silently keeps the last of two equal keys; here a duplicate is an error naming both lines.
Mappings load as `LineDict` and sequences as `LineList`, which carry the line of each key or item,
so every value can be traced back to `file:line`. The C parser is used when available (it is much
faster on large files); construction stays in Python so the checks run either way.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.errors import LocatedError
from reconciler.location import Location

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path = tuple[str | int, ...]


class LineDict(dict[Any, Any]):
    """A dict that knows the line of each key (and of itself)."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


class _Loader(_Base):  # type: ignore[valid-type,misc]
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_errors: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        self.flatten_mapping(node)
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                self.duplicate_errors.append(
                    (key_node.start_mark.line + 1, "a mapping key must be a plain value")
                )
                continue
            line = key_node.start_mark.line + 1
            if key in result.key_lines:
                self.duplicate_errors.append(
                    (line, f"duplicate key {str(key)!r} (first at line {result.key_lines[key]})")
                )
                continue
            result.key_lines[key] = line
            result[key] = self.construct_object(value_node, deep=True)
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


@dataclass(slots=True)
class YamlDocument:
    """A loaded file: its data, the line of every path in it, and what went wrong."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    errors: list[LocatedError] = field(default_factory=list)

    def location(self, path: Path) -> Location:
        """The line of the longest prefix of `path` that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line:
                return Location(self.file, line)
        return Location(self.file, 1)


def load_yaml(text: str, file: str) -> YamlDocument:
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        return YamlDocument(
            file, None, errors=[LocatedError(Location(file, line), f"YAML syntax: {problem}{context}")]
        )
    except yaml.YAMLError as exc:
        return YamlDocument(file, None, errors=[LocatedError(Location(file, 1), f"YAML: {exc}")])
    finally:
        loader.dispose()
    document = YamlDocument(file, data)
    document.errors.extend(LocatedError(Location(file, line), msg) for line, msg in loader.duplicate_errors)
    _index(data, (), document.lines)
    return document


def _index(value: Any, path: Path, lines: dict[Path, int]) -> None:
    """Record the line of every path; list items also by their scalar value or single key.

    The aliases let an error about member `alice` find its line whether members were written as a
    mapping (`alice: ...`) or a list (`- alice`).
    """
    if isinstance(value, LineDict):
        lines.setdefault(path, value.line)
        for key, item in value.items():
            key_path = (*path, key)
            lines[key_path] = value.key_lines.get(key, value.line)
            _index(item, key_path, lines)
    elif isinstance(value, LineList):
        lines.setdefault(path, value.line)
        for index, (item, line) in enumerate(zip(value, value.item_lines, strict=True)):
            lines[(*path, index)] = line
            if isinstance(item, str | int):
                lines.setdefault((*path, item if isinstance(item, str) else str(item)), line)
            elif isinstance(item, LineDict) and len(item) == 1:
                lines.setdefault((*path, str(next(iter(item)))), line)
            _index(item, (*path, index), lines)
