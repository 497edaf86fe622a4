"""JSON files written atomically (a temp file, then a rename), so a crash never leaves half a file."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from json.encoder import encode_basestring_ascii
from operator import attrgetter, itemgetter
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


def dumps_records(
    records: Sequence[Any],
    names: Sequence[str],
    *,
    level: int,
    pairs: str = "",
    varying: Collection[str] | None = None,
    indent: int = 2,
) -> str:
    """Exactly `json.dumps([r.to_json() for r in records], indent=indent)`, nested at `level`, for
    flat records (see `iter_records`). Raises TypeError on a value that is not a string."""
    return "".join(iter_records(records, names, level=level, pairs=pairs, varying=varying, indent=indent))


def iter_records(
    records: Sequence[Any],
    names: Sequence[str],
    *,
    level: int,
    pairs: str = "",
    varying: Collection[str] | None = None,
    indent: int = 2,
) -> Iterator[str]:
    """The pieces of `dumps_records`, for one join of a whole document (not one copy per part).

    Each record is an object whose attributes `names` are strings, written in that order, except
    `pairs`: a sequence of (key, value) string pairs written as an object (`dict(pairs)`: a later
    duplicate key wins, in the first one's place). Strings go through the C encoder that `json`
    itself uses.

    Fields not named in `varying` (default: every field varies) are those many records share:
    each distinct combination of their values is encoded once, with the keys and punctuation
    around it, as the literal pieces between a record's varying values; a record is then its
    combination's pieces interleaved with its own encoded values. Everything per record runs in
    C-level passes (attrgetter, map, zip, chain): no Python frame and no template parsed per
    record (130,000 changes of a plan in a fraction of a second). When the shared fields turn
    out to differ in most records, every field is treated as varying.

    Raises TypeError (when called or while iterating) when a value is not a string: the caller
    then takes `dumps_indented`'s way, which writes numbers, nulls and lists as `json.dumps` does.
    The pieces come from C-level iterators (no generator frame per piece: a plan of 130,000
    changes is 1,400,000 pieces).
    """
    closing = "\n" + " " * (indent * level) + "]"
    if not records:
        return iter(("[]",))
    if not names:
        return iter(("[\n" + ",\n".join([" " * (indent * (level + 1)) + "{}"] * len(records)) + closing,))
    varies = set(names if varying is None else varying) | ({pairs} if pairs else set())
    shared = [name for name in names if name not in varies]
    kinds: list[tuple[Any, ...]] = []
    if shared:
        kinds = list(map(_getter(shared), records))
        if len(set(kinds)) * 4 > len(kinds):  # hardly shared after all
            varies, shared, kinds = set(names), [], []
    slots = [name for name in names if name in varies]
    pieces = _Pieces(names, slots, shared, level + 1, indent)
    literal: list[Iterator[str]]  # the pieces between the varying values, one iterator per gap
    if kinds:
        per_record = list(map(pieces.__getitem__, kinds))
        literal = [map(itemgetter(i), per_record) for i in range(len(slots) + 1)]
    else:
        literal = [repeat(piece) for piece in pieces[()]]
    plain = [name for name in slots if name != pairs]
    tokens = (
        map(encode_basestring_ascii, chain.from_iterable(map(_getter(plain), records))) if plain else iter(())
    )
    nested: Iterator[str] = iter(())
    if pairs:
        write = _pairs_writer(level + 2, indent)
        nested = iter([write(p) if p else "{}" for p in map(attrgetter(pairs), records)])
    values = [nested if name == pairs else tokens for name in slots]
    interleaved = [it for gap, value in zip(literal, values, strict=False) for it in (gap, value)]
    flat = chain.from_iterable(zip(*interleaved, literal[-1], strict=False)) if slots else literal[0]
    first = "[" + next(flat)[1:]  # every record's text starts with the comma that separates it
    return chain((first,), flat, (closing,))


class _Pieces(dict[tuple[Any, ...], tuple[str, ...]]):
    """Shared values -> the literal text of a record around its varying values, encoded once."""

    def __init__(
        self, names: Sequence[str], slots: Sequence[str], shared: Sequence[str], level: int, indent: int
    ):
        super().__init__()
        self.names, self.slots, self.shared = names, frozenset(slots), shared
        self.outer = " " * (indent * level)
        self.pad = " " * (indent * (level + 1))

    def __missing__(self, kind: tuple[Any, ...]) -> tuple[str, ...]:
        values = dict(zip(self.shared, kind, strict=True))
        pieces: list[str] = []
        text = f",\n{self.outer}{{\n"
        for index, name in enumerate(self.names):
            text += f"{self.pad}{encode_basestring_ascii(name)}: "
            if name in self.slots:
                pieces.append(text)
                text = ""
            else:
                text += encode_basestring_ascii(values[name])
            text += ",\n" if index < len(self.names) - 1 else f"\n{self.outer}}}"
        pieces.append(text)
        found = self[kind] = tuple(pieces)
        return found


def _getter(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) == 1:
        (name,) = names
        return lambda record: (getattr(record, name),)
    return attrgetter(*names)


def _pairs_writer(level: int, indent: int) -> Callable[[Iterable[tuple[str, str]]], str]:
    inner = ",\n" + " " * (indent * (level + 1))
    opening = "{\n" + " " * (indent * (level + 1))
    closing = "\n" + " " * (indent * level) + "}"

    def write(pairs: Iterable[tuple[str, str]]) -> str:
        items = dict(pairs)
        if not items:
            return "{}"
        keys = map(encode_basestring_ascii, items)
        values = map(encode_basestring_ascii, items.values())
        return opening + inner.join(map("%s: %s".__mod__, zip(keys, values, strict=True))) + closing

    return write


def dumps_string_lists(mapping: Mapping[str, Sequence[str]], *, level: int, indent: int = 2) -> str:
    """Exactly `json.dumps({k: list(v) ...}, indent=indent)`, nested at `level` (see `iter_string_lists`)."""
    return "".join(iter_string_lists(mapping, level=level, indent=indent))


def iter_string_lists(mapping: Mapping[str, Sequence[str]], *, level: int, indent: int = 2) -> Iterator[str]:
    """The pieces of an object of string keys and hashable sequences (tuples) of strings: each
    distinct value is encoded once, however many keys share it. TypeError on anything else."""
    if not mapping:
        return iter(("{}",))
    separator = ",\n" + " " * (indent * (level + 1))
    lists = _ListBlocks(level + 1, indent)  # each value's text, after its key's colon
    keys = map(encode_basestring_ascii, mapping)
    pieces = chain.from_iterable(zip(repeat(separator), keys, map(lists.__getitem__, mapping.values())))
    next(pieces)  # the first entry's separator: an opening brace instead
    return chain(("{" + separator[1:],), pieces, ("\n" + " " * (indent * level) + "}",))


class _ListBlocks(dict[Sequence[str], str]):
    """A list of strings at a nesting level -> ": " and its indented JSON, encoded on first use."""

    def __init__(self, level: int, indent: int) -> None:
        super().__init__()
        self.inner = ",\n" + " " * (indent * (level + 1))
        self.closing = "\n" + " " * (indent * level) + "]"

    def __missing__(self, value: Sequence[str]) -> str:
        text = ": []"
        if value:
            text = (
                ": [" + self.inner[1:] + self.inner.join(map(encode_basestring_ascii, value)) + self.closing
            )
        self[value] = text
        return text
