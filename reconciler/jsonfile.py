"""JSON files written atomically (a temp file, then a rename), so a crash never leaves half a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


_SCALARS = (str, int, float, bool, type(None))
_encoders: dict[int, json.JSONEncoder] = {}


def dumps_indented(data: Any, indent: int = 2) -> str:
    """Exactly `json.dumps(data, indent=indent)`, several times faster on big documents.

    The standard library encodes indented JSON in pure Python, token by token; here every run of
    scalar items of a container is encoded in one call to the C encoder, whose item separator
    carries the newline and indentation. (A plan of 130,000 changes: most of `access plan`'s time.)
    """
    return _dump(data, 0, indent)


def _encoder(level: int, indent: int) -> json.JSONEncoder:
    key = level * 1000 + indent
    encoder = _encoders.get(key)
    if encoder is None:
        encoder = _encoders[key] = json.JSONEncoder(separators=(",\n" + " " * (indent * level), ": "))
    return encoder


def _dump(data: Any, level: int, indent: int) -> str:
    if isinstance(data, dict):
        if not data:
            return "{}"
        inner = " " * (indent * (level + 1))
        parts: list[str] = []
        run: dict[Any, Any] = {}
        for key, value in data.items():
            if isinstance(value, _SCALARS):
                run[key] = value
                continue
            if run:
                parts.append(_encoder(level + 1, indent).encode(run)[1:-1])
                run = {}
            parts.append(f"{json.dumps(_key(key))}: {_dump(value, level + 1, indent)}")
        if run:
            parts.append(_encoder(level + 1, indent).encode(run)[1:-1])
        return "{\n" + inner + (",\n" + inner).join(parts) + "\n" + " " * (indent * level) + "}"
    if isinstance(data, (list, tuple)):
        if not data:
            return "[]"
        inner = " " * (indent * (level + 1))
        if all(isinstance(item, _SCALARS) for item in data):
            body = _encoder(level + 1, indent).encode(list(data))[1:-1]
        else:
            body = (",\n" + inner).join(_dump(item, level + 1, indent) for item in data)
        return "[\n" + inner + body + "\n" + " " * (indent * level) + "]"
    return json.dumps(data)


def _key(key: Any) -> str:
    """A dict key as `json.dumps` writes it."""
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return json.dumps(key)
    return json.dumps(key) if isinstance(key, int | float) else str(key)
