"""JSON files written atomically (a temp file, then a rename), so a crash never leaves half a file."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from itertools import chain, compress, repeat
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

    Raises TypeError (when called: never while the pieces are taken) when a value is not a string:
    the caller then takes `dumps_indented`'s way, which writes numbers, nulls and lists as `json.dumps` does.
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
    plain = [name for name in slots if name != pairs]
    rows = list(map(_getter(plain), records)) if plain else []
    # Values that JSON writes as they are (the usual case: checked for them all at once) go in
    # as they are, between quotes the pieces around them hold: no encoded copy of each is made.
    quoted = frozenset(plain) if rows and _plain_text("".join(chain.from_iterable(rows))) else frozenset()
    pieces = _Pieces(names, slots, shared, level + 1, indent, quoted)
    literal: list[Iterator[str]]  # the pieces between the varying values, one iterator per gap
    if kinds:
        per_record = list(map(pieces.__getitem__, kinds))
        literal = [map(itemgetter(i), per_record) for i in range(len(slots) + 1)]
    else:
        literal = [repeat(piece) for piece in pieces[()]]
    tokens: Iterable[str] = chain.from_iterable(rows)
    if not quoted:  # (encoded now: a value that is not a string raises before any piece is taken)
        tokens = list(map(encode_basestring_ascii, tokens))
    nested: Iterator[str] = iter(())
    if pairs:
        nested = iter(_pairs_texts(list(map(attrgetter(pairs), records)), level + 2, indent))
    tokens = iter(tokens)
    values = [nested if name == pairs else tokens for name in slots]
    interleaved = [it for gap, value in zip(literal, values, strict=False) for it in (gap, value)]
    flat = chain.from_iterable(zip(*interleaved, literal[-1], strict=False)) if slots else literal[0]
    first = "[" + next(flat)[1:]  # every record's text starts with the comma that separates it
    return chain((first,), flat, (closing,))


class _Pieces(dict[tuple[Any, ...], tuple[str, ...]]):
    """Shared values -> the literal text of a record around its varying values, encoded once."""

    def __init__(
        self,
        names: Sequence[str],
        slots: Sequence[str],
        shared: Sequence[str],
        level: int,
        indent: int,
        quoted: frozenset[str] = frozenset(),
    ):
        super().__init__()
        self.names, self.slots, self.shared, self.quoted = names, frozenset(slots), shared, quoted
        self.outer = " " * (indent * level)
        self.pad = " " * (indent * (level + 1))

    def __missing__(self, kind: tuple[Any, ...]) -> tuple[str, ...]:
        values = dict(zip(self.shared, kind, strict=True))
        pieces: list[str] = []
        text = f",\n{self.outer}{{\n"
        for index, name in enumerate(self.names):
            text += f"{self.pad}{encode_basestring_ascii(name)}: "
            quote = '"' if name in self.quoted else ""
            if name in self.slots:
                pieces.append(text + quote)
                text = quote
            else:
                text += encode_basestring_ascii(values[name])
            text += ",\n" if index < len(self.names) - 1 else f"\n{self.outer}}}"
        pieces.append(text)
        found = self[kind] = tuple(pieces)
        return found


def _plain_text(text: str) -> bool:
    """Whether JSON writes `text` as it is between quotes: printable ASCII, no quote or backslash."""
    return text.isascii() and not text.encode("ascii").translate(None, _PLAIN)


_PLAIN = bytes(sorted(set(range(0x20, 0x7F)) - {ord('"'), ord("\\")}))  # (what JSON writes as itself)


def _getter(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) == 1:
        (name,) = names
        return lambda record: (getattr(record, name),)
    return attrgetter(*names)


def _pairs_texts(every: list[Any], level: int, indent: int) -> list[str]:
    """Each record's pairs as an object (`_pairs_writer`), "{}" for none. The usual case, where
    the records with as many pairs have the same keys in the same order, each once (accounts to
    create: email and name; and population, at PingOne), and the values need no escaping, is
    written from one %-template per number of pairs, in C passes."""
    texts = ["{}"] * len(every)
    sizes = list(map(len, every))
    write: Callable[[Iterable[tuple[str, str]]], str] | None = None
    for size in set(sizes).difference((0,)):
        chosen = list(map(size.__eq__, sizes))
        held = list(compress(every, chosen))
        made = _same_keys_texts(held, size, level, indent)
        if made is None:
            write = write or _pairs_writer(level, indent)
            made = list(map(write, held))
        _exhaust(map(texts.__setitem__, compress(range(len(every)), chosen), made))
    return texts


def _same_keys_texts(held: list[Any], size: int, level: int, indent: int) -> list[str] | None:
    """`_pairs_writer`'s texts of `held` (each a sequence of `size` pairs), when every one names
    the same keys in the same order, each once, and its values are text JSON writes as it is
    between quotes (printable ASCII, no quote or backslash); None otherwise."""
    try:
        flat = list(chain.from_iterable(held))
        if not set(map(type, flat)) <= {tuple} or set(map(len, flat)) != {2}:
            return None
        keys, values = list(map(itemgetter(0), flat)), list(map(itemgetter(1), flat))
        names = keys[:size]
        if len(set(names)) < size or any(
            keys[i::size].count(name) < len(held) for i, name in enumerate(names)
        ):
            return None
        if not set(map(type, names)) | set(map(type, values)) <= {str}:
            return None
    except TypeError:  # (a key that does not hash: the writer's to say)
        return None
    if not _plain_text("".join(values)):
        return None
    inner = ",\n" + " " * (indent * (level + 1))
    entries = (encode_basestring_ascii(name).replace("%", "%%") + ': "%s"' for name in names)
    template = "{" + inner[1:] + inner.join(entries) + "\n" + " " * (indent * level) + "}"
    return list(map(template.__mod__, zip(*[iter(values)] * size, strict=True)))


_exhaust = deque[object](maxlen=0).extend  # (runs an iterator through)


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
    distinct value is encoded once, however many keys share it. TypeError on anything else (when
    called: never once the pieces are being taken)."""
    if not mapping:
        return iter(("{}",))
    separator = ",\n" + " " * (indent * (level + 1))
    lists = _ListBlocks(level + 1, indent)  # each value's text, after its key's colon
    keys = list(map(encode_basestring_ascii, mapping))  # (made now: TypeError before any piece)
    values = list(map(lists.__getitem__, mapping.values()))
    pieces = chain.from_iterable(zip(repeat(separator), keys, values))
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
