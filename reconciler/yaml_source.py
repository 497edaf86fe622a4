"""YAML text -> plain data that remembers lines: YAML 1.2 core rules, every problem located.

libyaml (PyYAML's C parser) produces the events; this module builds the values itself, which is
several times faster than PyYAML's node graph and constructors, and lets it follow one set of rules:

- scalars follow the YAML 1.2 core schema: only `true`/`false` are booleans (`no:` is the string
  "no"), no dates (`2027-02-30` stays text; fields that want a date parse it), no sexagesimal;
- a key given twice is an error naming both lines; merge keys (`<<: *base`) merge, and the keys
  written beside them win, as YAML specifies;
- aliases share the anchored value, and may add at most `ALIAS_BUDGET` values (plus the size of the
  file) in all, so a "billion laughs" file is one located error instead of exhausting memory;
- bytes that are not UTF-8, NUL and other control characters, tags other than the core ones, a
  5,000-digit number and an unterminated quote are errors at the line where they are (a quote at
  the line where it opens).

Mappings load as `LineDict` and sequences as `LineList`, which carry the line of each key or item;
`YamlDocument.location(path)` walks them to find the line of a value, so no index of every path is
built unless a caller asks for one (`YamlDocument.lines`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from reconciler.errors import LocatedError
from reconciler.location import Location

if TYPE_CHECKING:  # (PyYAML is imported for a file outside yaml_fast's subset: see `_libyaml`)
    import yaml


@cache
def _libyaml() -> Any:
    """libyaml's parser when PyYAML was built with it (it is, in its wheels); the Python one
    otherwise. Imported when first needed: a repository in the plain subset never is."""
    try:
        from yaml import cyaml

        return cyaml.CParser  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - PyYAML built without libyaml
        import yaml

        return yaml.SafeLoader


Path = tuple[str | int, ...]

ALIAS_BUDGET = 10_000  # values aliases may add beyond the file's own size
MAX_DIGITS = 4_300  # Python's own limit on converting digits to an int
CORE_TAGS = frozenset({"str", "int", "float", "bool", "null", "map", "seq"})
_TAG_PREFIX = "tag:yaml.org,2002:"

_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
# What YAML does not allow in a stream (outside its c-printable set, [\x09\x0a\x0d\x20-\x7e\x85
# \xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]), named with its line. Written as the complement's
# few ranges: the negated class of those wide ranges takes several milliseconds to compile, at
# every start of the program.
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_PRINTABLE_ASCII = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x7F)])  # (what _NOT_PRINTABLE allows of ASCII)
_NUMERIC_START = frozenset("0123456789+-.")


class LineDict(dict[Any, Any]):
    """A dict that knows the line of each key (and of itself)."""

    __slots__ = ("_by_text", "key_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self._by_text: dict[str, int] | None = None

    def line_of(self, key: Any) -> int | None:
        """The line of `key`; a key written `1` is also found as "1" (models read ids as text)."""
        line = self.key_lines.get(key)
        if line is None and isinstance(key, str):
            if self._by_text is None:
                self._by_text = {str(k): n for k, n in reversed(self.key_lines.items())}
            line = self._by_text.get(key)
        return line


class LineList(list[Any]):
    """A list that knows the line of each item (and of itself)."""

    __slots__ = ("_by_name", "item_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []
        self._by_name: dict[str, int] | None = None

    def line_of(self, key: Any) -> int | None:
        """The line of item `key` (an index), or of the item written `name` or `name: ...`.

        The second lets an error about member `alice` find its line whether members were written
        as a mapping (`alice: ...`) or a list (`- alice`).
        """
        if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(self.item_lines):
            return self.item_lines[key]
        if self._by_name is None:
            self._by_name = {}
            for item, line in zip(self, self.item_lines, strict=True):
                if isinstance(item, LineDict) and len(item) == 1:
                    item = next(iter(item))
                if isinstance(item, str | int) and not isinstance(item, bool):
                    self._by_name.setdefault(str(item), line)
        return self._by_name.get(str(key))


class Deferred(NamedTuple):
    """A top-level key whose value `load_yaml(defer=key)` left for the caller to read from `rows`
    (`yaml_fast.FlowRows`); the document reads it from `text` if anyone asks for it."""

    key: str
    text: str
    rows: Any = None  # (the caller's to take: then None)


@dataclass(slots=True)
class YamlDocument:
    """A loaded file: its data, where each value is, and what went wrong.

    `tree` is the data less a `deferred` key's value (see `load_yaml`); `data` is all of it, the
    deferred value read on first use, and walking a path that goes through it reads it too.
    """

    file: str
    tree: Any
    errors: list[LocatedError] = field(default_factory=list)
    _locations: dict[int, Location] = field(default_factory=dict, repr=False)
    _lines: dict[Path, int] | None = field(default=None, repr=False)
    deferred: Deferred | None = field(default=None, repr=False)

    @property
    def data(self) -> Any:
        if self.deferred is not None:
            from reconciler.yaml_fast import DECLINED, read_subset  # it builds on this module

            whole = read_subset(self.deferred.text)  # (the same lines, so in the subset as before)
            if whole is DECLINED:  # pragma: no cover - read_deferring read the rest so
                raise AssertionError(f"{self.file}: read in part, but not whole")
            self.tree, self.deferred = whole, None
        return self.tree

    def _walked(self, path: Path) -> Any:
        """The data to walk `path` in: the tree unless the path goes through a deferred value."""
        if self.deferred is not None and path and path[0] == self.deferred.key:
            return self.data
        return self.tree

    def at(self, line: int) -> Location:
        """One shared Location per line: a line that explains 10,000 grants is one object."""
        found = self._locations.get(line)
        if found is None:
            found = self._locations[line] = Location(self.file, line)
        return found

    def location(self, path: Path) -> Location:
        """The line of the longest prefix of `path` that has one."""
        line = self.line_of(path)
        return self.at(line or 1)

    def line_of(self, path: Path) -> int:
        """The line of `path`, or of its longest prefix that has one; 0 when none has."""
        node = self._walked(path)
        best: int = getattr(node, "line", 0)
        for key in path:
            kind = type(node)
            if kind is LineDict:
                line = node.key_lines.get(key)
                if line is None:
                    line = node.line_of(key)
                    if line is None:
                        break
                    node = _value(node, key)
                else:
                    node = node[key]
            elif kind is LineList:
                line = node.line_of(key)
                if line is None:
                    break
                node = _item(node, key)
            else:
                break
            best = line
        return best

    def child_lines(self, path: Path) -> dict[Any, int]:
        """The line of each key of the mapping at `path` ({} when it is not a written mapping)."""
        node = self._walked(path)
        for key in path:
            if type(node) is not LineDict or key not in node:
                return {}
            node = node[key]
        return node.key_lines if type(node) is LineDict else {}

    def has(self, path: Path) -> bool:
        """Whether every step of `path` is written in the file."""
        node = self._walked(path)
        for key in path:
            if not isinstance(node, LineDict | LineList) or node.line_of(key) is None:
                return False
            node = _value(node, key) if isinstance(node, LineDict) else _item(node, key)
        return True

    @property
    def lines(self) -> dict[Path, int]:
        """The line of every path (for small files such as policies; access/ walks instead)."""
        if self._lines is None:
            self._lines = {}
            _index(self.data, (), self._lines)
        return self._lines


def _value(mapping: LineDict, key: Any) -> Any:
    """The value of `key`, also when the file wrote it as a number and the model reads text."""
    if key in mapping:
        return mapping[key]
    return next((value for k, value in mapping.items() if str(k) == str(key)), None)


def _item(items: LineList, key: Any) -> Any:
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(items):
        return items[key]
    for item in items:
        if isinstance(item, LineDict) and len(item) == 1 and str(next(iter(item))) == str(key):
            return next(iter(item.values()))
    return None


def _index(value: Any, path: Path, lines: dict[Path, int]) -> None:
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
            if isinstance(item, str | int) and not isinstance(item, bool):
                lines.setdefault((*path, str(item)), line)
            elif isinstance(item, LineDict) and len(item) == 1:
                lines.setdefault((*path, str(next(iter(item)))), line)
            _index(item, (*path, index), lines)


class YamlProblem(Exception):
    """One located problem that stops reading a file."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# -- text ------------------------------------------------------------------------------------------


def decode(raw: bytes, file: str) -> tuple[str, LocatedError | None]:
    """UTF-8 bytes -> text (a byte-order mark is dropped); other bytes are an error at their line."""
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        return "", LocatedError(
            Location(file, line),
            f"not UTF-8 text: byte 0x{bad} at column {column} (save the file as UTF-8)",
        )


def _unprintable(text: str) -> YamlProblem | None:
    if text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII):
        return None  # (the usual file: every character printable ASCII, a tab or a line break)
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return None
    start = found.start()
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    char = found.group()
    name = "a NUL byte" if char == "\x00" else f"control character U+{ord(char):04X}"
    return YamlProblem(line, f"{name} at column {column}: YAML files are text")


# -- scalars ---------------------------------------------------------------------------------------


def _plain(value: str, event: Any) -> Any:
    """A plain (unquoted) scalar under the YAML 1.2 core schema (`event` locates a problem)."""
    if not value or value[0] in _NUMERIC_START:
        if not value:
            return None
        if _INT.fullmatch(value):
            digits = len(value.lstrip("+-"))
            if digits > MAX_DIGITS:
                raise YamlProblem(_line(event), f"a number with {digits:,} digits is too long")
            return int(value)
        if _FLOAT.fullmatch(value):
            return float(value)
        if _OCT.fullmatch(value):
            return int(value[2:], 8)
        if _HEX.fullmatch(value):
            return int(value[2:], 16)
        if _INF.fullmatch(value):
            return float("-inf") if value[0] == "-" else float("inf")
        if _NAN.fullmatch(value):
            return float("nan")
        return value
    first = value[0]
    if first in "tTfF":
        found = _BOOLS.get(value)
        if found is not None:
            return found
    elif first in "nN~" and value in _NULLS:
        return None
    return value


def _line(event: Any) -> int:
    return int(event) if isinstance(event, int) else int(event.start_mark.line) + 1


def _tagged(tag: str, value: str, line: int) -> Any:
    """An explicitly tagged scalar (`!!str 123`); only the core schema's tags are understood."""
    short = tag.removeprefix(_TAG_PREFIX)
    if tag == "!" or short == "str":
        return value
    if tag.startswith(_TAG_PREFIX) and short in CORE_TAGS:
        resolved = _plain(value, line)
        kind = {"int": int, "float": float, "bool": bool, "null": type(None)}.get(short)
        if kind is float and isinstance(resolved, int):
            return float(resolved)
        if kind is not None and type(resolved) is kind:
            return resolved
        raise YamlProblem(line, f"{value!r} is not a valid !!{short}")
    raise YamlProblem(line, f"unsupported tag {_short_tag(tag)}: access files use plain YAML values")


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag


# -- building --------------------------------------------------------------------------------------

_NO_KEY: Any = object()  # a mapping waiting for its next key
_MERGE: Any = object()  # the key of a plain `<<`
# Plain scalars that start with anything else are text: the fast path skips resolving them.
_MAYBE_TYPED = frozenset([*"0123456789+-.~nNtTfF", ""])


class _Builder:
    """Events -> LineDict/LineList/scalars, with one explicit stack (no recursion)."""

    def __init__(self, text: str) -> None:
        self.parser = _libyaml()(text)
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, size in values)
        self.open_anchors: set[str] = set()
        self.budget = ALIAS_BUDGET + len(text)
        self.expanded = 0
        self.duplicates: list[tuple[int, str]] = []
        self.merges: dict[int, list[tuple[int, Any]]] = {}  # id(mapping) -> (line, source)

    def build(self) -> Any:
        from yaml import events as ev

        get_event: Callable[[], Any] = self.parser.get_event
        scalar_event, alias_event = ev.ScalarEvent, ev.AliasEvent
        mapping_start, mapping_end = ev.MappingStartEvent, ev.MappingEndEvent
        sequence_start, sequence_end = ev.SequenceStartEvent, ev.SequenceEndEvent
        maybe_typed, plain, no_key = _MAYBE_TYPED, _plain, _NO_KEY
        # The collection being built, kept in locals; `stack` holds the enclosing ones.
        stack: list[tuple[Any, ...]] = []
        value: Any
        current: Any = None  # LineDict | LineList | None
        is_map = False
        lines: Any = None  # its key_lines or item_lines
        key: Any = no_key
        key_line = 0
        size = 0
        anchor: str | None = None
        root: Any = None
        documents = 0
        while True:
            event = get_event()
            kind = type(event)
            if kind is scalar_event:
                tag = event.tag
                value = event.value
                if tag is None:
                    if event.implicit[0] and value[:1] in maybe_typed:
                        value = plain(value, event)
                elif tag != "!":
                    value = _tagged(tag, value, event.start_mark.line + 1)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, 1)
                if is_map:
                    if key is no_key:
                        key_line = event.start_mark.line + 1
                        if value == "<<" and tag is None and event.implicit[0]:
                            key = _MERGE
                        elif value.__hash__ is None:  # pragma: no cover - scalars hash
                            raise YamlProblem(key_line, "a mapping key must be a plain value")
                        else:
                            key = value
                        continue
                    size += 1
                elif current is not None:
                    current.append(value)
                    lines.append(event.start_mark.line + 1)
                    size += 1
                    continue
                else:
                    root = value
                    continue
                line = 0
            elif kind is mapping_start or kind is sequence_start:
                line = event.start_mark.line + 1
                tag = event.tag
                if tag is not None and tag != "!":
                    wanted = _TAG_PREFIX + ("map" if kind is mapping_start else "seq")
                    if tag != wanted:
                        raise YamlProblem(line, f"unsupported tag {_short_tag(tag)} on a collection")
                if current is not None:
                    if is_map and key is no_key:
                        raise YamlProblem(line, "a mapping key must be a plain value, not a list or mapping")
                    stack.append((current, is_map, lines, key, key_line, size, anchor))
                if kind is mapping_start:
                    current = LineDict(line)
                    lines = current.key_lines
                    is_map = True
                else:
                    current = LineList(line)
                    lines = current.item_lines
                    is_map = False
                key, size, anchor = no_key, 1, event.anchor
                if anchor is not None:
                    self.open_anchors.add(anchor)
                continue
            elif kind is mapping_end or kind is sequence_end:
                value, done_size = current, size
                if is_map and id(value) in self.merges:
                    self._merge(value)
                if anchor is not None:
                    self.open_anchors.discard(anchor)
                    self.anchors[anchor] = (value, done_size)
                if not stack:
                    root, current, is_map = value, None, False
                    continue
                current, is_map, lines, key, key_line, size, anchor = stack.pop()
                line = value.line
                size += done_size
                if not is_map:
                    current.append(value)
                    lines.append(line)
                    continue
            elif kind is alias_event:
                line = event.start_mark.line + 1
                value, alias_size = self._alias(event.anchor, line)
                if is_map and key is no_key:
                    if isinstance(value, LineDict | LineList):
                        raise YamlProblem(line, "a mapping key must be a plain value, not a list or mapping")
                    key, key_line = value, line
                    continue
                size += alias_size
                if current is None:
                    root = value
                    continue
                if not is_map:
                    current.append(value)
                    lines.append(line)
                    continue
            elif kind is ev.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise YamlProblem(
                        event.start_mark.line + 1, "a second YAML document (`---`): one document per file"
                    )
                continue
            elif kind is ev.StreamEndEvent:
                return root
            else:  # stream start, document end
                continue
            # a value for the pending key of the current mapping
            if key is _MERGE:
                self.merges.setdefault(id(current), []).append((key_line, value))
            elif key in lines:
                self.duplicates.append((key_line, f"duplicate key {str(key)!r} (first at line {lines[key]})"))
            else:
                lines[key] = key_line
                current[key] = value
            key = no_key

    def _alias(self, anchor: str, line: int) -> tuple[Any, int]:
        if anchor in self.open_anchors:
            raise YamlProblem(line, f"alias *{anchor} refers to the value that contains it")
        found = self.anchors.get(anchor)
        if found is None:
            raise YamlProblem(line, f"alias *{anchor} has no anchor &{anchor} before it")
        value, size = found
        self.expanded += size
        if self.expanded > self.budget:
            raise YamlProblem(
                line,
                f"aliases expand this file to more than {self.budget:,} values (at *{anchor}):"
                " write the values out, or use a team",
            )
        return value, size

    def _merge(self, target: LineDict) -> None:
        """`<<: *base` or `<<: [*a, *b]`: keys written here win, then earlier sources over later."""
        for line, source in self.merges.pop(id(target)):
            sources = source if isinstance(source, LineList) else [source]
            for one in sources:
                if not isinstance(one, LineDict):
                    raise YamlProblem(line, "a merge key `<<` takes a mapping or a list of mappings")
                for key, value in one.items():
                    if key not in target.key_lines:
                        target.key_lines[key] = one.key_lines.get(key, line)
                        target[key] = value

    def dispose(self) -> None:
        dispose = getattr(self.parser, "dispose", None)
        if dispose is not None:
            dispose()


def load_yaml(
    source: str | bytes,
    file: str,
    *,
    subset: bool = True,
    defer: str | None = None,
    fields: Sequence[str] = (),
) -> YamlDocument:
    """Read one file's text or bytes; problems are in `YamlDocument.errors`, never raised.

    A file written in the plain subset of YAML that access files use is read by `yaml_fast`
    (several times faster, to the same values and lines); anything else, and every error, by
    libyaml's events. `subset=False` reads with libyaml alone (the tests compare the two).
    `defer`: a top-level key whose value, when written as one-line flow mappings (a person a line),
    is left as `yaml_fast.FlowRows` in `YamlDocument.deferred` for the caller to read as columns;
    `fields`: the field names the caller reads there (`yaml_fast.read_deferring`).
    """
    if isinstance(source, bytes):
        text, error = decode(source, file)
        if error is not None:
            return YamlDocument(file, None, errors=[error])
    else:
        text = source.removeprefix("\ufeff")
    problem = _unprintable(text)
    if problem is not None:
        return YamlDocument(file, None, errors=[LocatedError(Location(file, problem.line), problem.message)])
    if subset:
        from reconciler.yaml_fast import DECLINED, read_deferring  # it builds on this module

        data, rows = read_deferring(text, defer, fields)
        if data is not DECLINED:
            deferred = Deferred(defer, text, rows) if defer is not None and rows is not None else None
            return YamlDocument(file, data, deferred=deferred)
    import yaml

    builder = _Builder(text)
    try:
        data = builder.build()
    except YamlProblem as exc:
        return YamlDocument(file, None, errors=[LocatedError(Location(file, exc.line), exc.message)])
    except yaml.MarkedYAMLError as exc:
        line, message = _syntax(exc, text)
        return YamlDocument(file, None, errors=[LocatedError(Location(file, line), message)])
    except yaml.YAMLError as exc:  # pragma: no cover - libyaml marks its errors
        return YamlDocument(file, None, errors=[LocatedError(Location(file, 1), f"YAML: {exc}")])
    except RecursionError:
        return YamlDocument(
            file, None, errors=[LocatedError(Location(file, 1), "YAML nested too deeply to read")]
        )
    finally:
        builder.dispose()
    document = YamlDocument(file, data)
    document.errors.extend(LocatedError(document.at(line), msg) for line, msg in builder.duplicates)
    return document


def _syntax(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, str]:
    """A syntax error at the line that explains it: an unterminated quote where it opens."""
    problem = (exc.problem or "invalid YAML").strip()
    context = (exc.context or "").strip()
    opened = exc.context_mark.line + 1 if exc.context_mark else 0
    at = exc.problem_mark.line + 1 if exc.problem_mark else opened or 1
    mark = exc.problem_mark
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return at, "YAML syntax: a tab character where YAML needs spaces (indent with spaces)"
    if "quoted scalar" in context and opened:
        return opened, "YAML syntax: unterminated quoted string (the quote opens on this line)"
    if context and opened and opened != at:
        what = context.removeprefix("while ").removeprefix("parsing ").removeprefix("scanning ")
        return at, f"YAML syntax: {problem} ({what} that starts at line {opened})"
    return at, f"YAML syntax: {problem}" + (f" ({context})" if context else "")
