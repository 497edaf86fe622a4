"""A fast reader for the plain subset of YAML that access files are written in.

`load_yaml` (in `yaml_source`) asks `read_subset` first; `read_subset` either returns exactly what
the libyaml-driven builder would (the same values and Python types, the same `LineDict` and
`LineList` lines) or `DECLINED`, and then the builder reads the whole file. The builder is the one
source of truth: every error, message and line comes from it, because the moment a file holds
anything outside the subset this module gives up on the file.

The subset, line by line (each line is matched whole by one regular expression, `_LINE`):
- block mappings by indentation, block sequences of scalars or one-line flow collections (also
  "indentless", at the indentation of their key), blank lines and comments;
- keys: a plain key of ordinary characters, or a quoted key without escapes or its own quote;
- values: a plain or quoted scalar, `{k: v, ...}` or `[a, b]` on one line (a flow sequence may sit
  inside the flow mapping, as in `teams: [t01]`), or nothing (a nested block, or null);
- plain scalars start with no YAML indicator and never hold `#`; `:` only inside a block value and
  before a letter, digit or `/` (`12:30`, `https://x`). They resolve through the builder's own
  `_plain` (YAML 1.2 core schema), so `true`, `~`, `0x1F`, `1e3` and `.inf` mean what they mean
  there.
Declined: anchors, aliases, tags, merge keys, block scalars, multi-line scalars or flow
collections, lists of mappings, `-` alone, document markers, directives, tabs, CR or Unicode line
breaks, a byte-order mark, duplicate keys (the builder names both lines), keys longer than
`MAX_KEY`, deeper than `MAX_DEPTH`, indentation that does not line up with an open block, and a
file with no content (the builder's None).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import chain, compress, islice, repeat
from operator import itemgetter
from typing import Any, Final, NamedTuple

from reconciler.yaml_source import _MAYBE_TYPED, LineDict, LineList, YamlProblem, _plain


class _Declined:
    """The marker `read_subset` returns for a file outside the subset."""

    def __repr__(self) -> str:
        return "DECLINED"


DECLINED: Final = _Declined()


class _Outside(Exception):
    """Raised deep inside a flow collection that is outside the subset (a key given twice)."""


# Characters the builder treats as line breaks or special beyond the subset's lines.
_OUTSIDE = ("\t", "\r", "\x85", "\u2028", "\u2029", "\ufeff")
# libyaml forgets a key that does not reach its `:` within 1,024 characters (bytes, for some
# versions), and refuses to nest deeper than 1,000 levels: far beyond what the subset reads.
MAX_KEY = 250
MAX_DEPTH = 100

# Plain scalars: a first character that is no YAML indicator, then characters that end nothing.
# Runs of characters are matched possessively (`++`, `*+`): a plain scalar is followed by a space,
# `,`, `]`, `}` or the end of the line, so a shorter match never succeeds where the longest fails,
# and giving nothing back keeps the matching linear.
_NOT_TEXT = r"\x00-\x20\x7f-\x9f"
_RUN_FLOW = rf"[^{_NOT_TEXT}:#,\[\]{{}}]++"  # inside a flow collection (and in keys)
_RUN_BLOCK = rf"(?:[^{_NOT_TEXT}:#]++|:(?=[0-9A-Za-z/]))++"  # a block value may hold `,`, `[`, `a:b`
_FIRST = rf"(?:[^{_NOT_TEXT}\-?:,\[\]{{}}#&*!|>'\"%@`<]|-(?={_RUN_FLOW}))"
_PLAIN_FLOW = rf"{_FIRST}(?:{_RUN_FLOW})?+(?:[ ]++{_RUN_FLOW})*+"
_PLAIN_BLOCK = rf"{_FIRST}(?:{_RUN_BLOCK})?+(?:[ ]++{_RUN_BLOCK})*+"
_QUOTED = r"\"[^\"\\\n]*+\"|'[^'\n]*+'"
_SCALAR_FLOW = rf"(?:{_PLAIN_FLOW}|{_QUOTED})"
_SEQ = rf"\[[ ]*+(?:{_SCALAR_FLOW}(?:[ ]*+,[ ]*+{_SCALAR_FLOW})*+[ ]*+)?\]"
_ENTRY = rf"{_SCALAR_FLOW}:[ ]++(?:{_SCALAR_FLOW}|{_SEQ})"
_MAP = rf"\{{[ ]*+(?:{_ENTRY}(?:[ ]*+,[ ]*+{_ENTRY})*+[ ]*+)?\}}"
_VALUE = rf"{_PLAIN_BLOCK}|{_QUOTED}|{_MAP}|{_SEQ}"
# The usual flow mapping, `{email: a@x.example, name: A, teams: [t01]}`: plain scalars, one space
# after each `:` and `,`, sequences of at most one item. Its entries split apart with str methods.
_CANON_VALUE = rf"{_PLAIN_FLOW}|\[(?:{_PLAIN_FLOW})?\]"
_CANON_MAP = rf"\{{({_PLAIN_FLOW}: (?:{_CANON_VALUE})(?:, {_PLAIN_FLOW}: (?:{_CANON_VALUE}))*+)\}}"

# One whole line: (indent, key, "-", a usual flow mapping's inside, any other value); a blank or
# comment line leaves all but the first empty.
_LINE = re.compile(
    rf"^([ ]*+)(?:(?:({_PLAIN_FLOW}|{_QUOTED}):|(-))(?:[ ]++(?:{_CANON_MAP}|({_VALUE})))?"
    r"(?:[ ]++\#[^\n]*+)?[ ]*+|\#[^\n]*+)?\n",
    re.MULTILINE,
)
# Inside a flow collection the line's match already checked: pick out its entries and items.
_ENTRIES = re.compile(rf"({_SCALAR_FLOW}):[ ]+({_SCALAR_FLOW}|{_SEQ})")
_ITEMS = re.compile(_SCALAR_FLOW)
_QUOTES = frozenset("\"'")

_new_dict = dict.__new__
_new_list = list.__new__


def read_subset(text: str) -> Any:
    """`text`'s data as the builder reads it, or DECLINED when `text` is outside the subset.

    `text` is what the builder would read: it passed `yaml_source`'s check for control characters.
    """
    return read_deferring(text, None)[0]


class FlowRows(NamedTuple):
    """A top-level key's block mapping written as one-line flow mappings (`people:`, a person a
    line), left as columns for a caller that reads them so (`people_table`): the entries' keys (text,
    distinct) and lines, and a column per field name as written (`email`), each entry's value as
    written or "" where it leaves the field out (a value written is never empty). A value is a plain
    scalar or `[item]`/`[]`; `typed` gives what the values and items that YAML types resolve to (the
    others are text as written), and `marked` the fields where a value is a list or typed (the
    others hold text)."""

    keys: list[str]
    lines: list[int]
    columns: dict[str, list[str]]
    typed: dict[str, Any]  # value or item -> what it means, for those YAML types (`typed.get(t, t)`)
    marked: frozenset[str]


def read_deferring(text: str, key: str | None, fields: Sequence[str] = ()) -> tuple[Any, FlowRows | None]:
    """`read_subset`, with the value of the top-level `key`, when it is a block of one-line flow
    mappings, left out of the data and returned as FlowRows (None: read as any other value; the
    data is then all of it). Left out or not, the rest of the data is the same, and so is whether
    the file is in the subset. `fields`: the field names the caller expects in those mappings;
    a block whose every line names only these is taken apart by one regular expression
    (`_known_block`), to the same FlowRows."""
    for char in _OUTSIDE:
        if char in text:
            return DECLINED, None
    if not text.endswith("\n"):
        text += "\n"
    flow: FlowRows | None = None
    taken = _known_block(text, key, tuple(fields)) if key is not None and fields else None
    numbered: Iterable[tuple[int, tuple[str, str, str, str, str]]]
    if taken is None:
        rows = _LINE.findall(text)
        if len(rows) != text.count("\n"):
            return DECLINED, None  # a line the subset does not cover
        if key is not None:
            flow = _flow_rows(rows, key)
        numbered = enumerate(rows, 1)
    else:  # the lines before and after the block read as ever, the block's lines left out
        flow, (start, end) = taken
        rows = _LINE.findall(text, 0, start)
        after = _LINE.findall(text, end)
        if len(rows) != text.count("\n", 0, start) or len(after) != text.count("\n", end):
            return DECLINED, None  # a line the subset does not cover
        numbered = chain(enumerate(rows, 1), enumerate(after, len(rows) + text.count("\n", start, end) + 1))
    try:
        data = _Reader().build(numbered)
    except (YamlProblem, _Outside):  # a number too long for an int, a key given twice
        return DECLINED, None
    if flow is not None and data is not DECLINED:
        del data[key], data.key_lines[key]  # (read as null: its rows were taken out)
    return data, flow if data is not DECLINED else None


_KEY, _DASH, _USUAL, _TEXT = itemgetter(1), itemgetter(2), itemgetter(3), itemgetter(4)
_BLANK = ("", "", "", "", "")  # the row of a blank line
_EVEN = itemgetter(slice(0, None, 2))
_TYPED_OR_ITEMS = _MAYBE_TYPED | {"["}


def _flow_rows(rows: list[tuple[str, str, str, str, str]], key: str) -> FlowRows | None:
    """The block of one-line flow mappings under the top-level `key`, taken out of `rows` (each
    left a blank line), when the builder would read every one of them as it is written; None, and
    `rows` untouched, otherwise (then the builder reads them, whatever it makes of them).

    Checked a column at a time (100,000 lines): the checks `_Reader.build` makes of each line."""
    try:
        start = rows.index(("", key, "", "", "")) + 1  # `key:` alone, at the top
    except ValueError:
        return None
    indents = list(map(itemgetter(0), rows))
    end = start
    while True:  # the next line at the top that is not blank or a comment ends the block
        try:
            end = indents.index("", end)
        except ValueError:
            end = len(rows)
            break
        if rows[end][1] or rows[end][2]:
            break
        end += 1
    span = rows[start:end]
    block = list(filter(_KEY, span))
    if not block or any(map(_DASH, span)) or len(set(map(itemgetter(0), block))) != 1:
        return None  # (a dash, or lines at several indentations: a nested block)
    if not all(map(_USUAL, block)) or any(map(_TEXT, block)):
        return None  # (a value that is not a usual flow mapping)
    numbers = list(compress(range(start + 1, end + 1), map(_KEY, span)))
    try:
        tokens = list(
            map(str.split, map(str.replace, map(_USUAL, block), repeat(", "), repeat(": ")), repeat(": "))
        )
        shape_of = list(map(tuple, map(_EVEN, tokens)))  # the fields each line names, in its order
        shapes = list(dict.fromkeys(shape_of))
        for shape in shapes:
            _resolved_keys(shape, 0)  # (a key too long or given twice: _Outside)
        found = _flow_columns(list(map(_KEY, block)), numbers, _columns(tokens, shape_of, shapes))
    except (YamlProblem, _Outside):
        return None
    if found is not None:
        rows[start:end] = repeat(_BLANK, end - start)
    return found


def _flow_columns(keys: list[str], numbers: list[int], columns: dict[str, list[str]]) -> FlowRows | None:
    """FlowRows of a block's keys as written, their lines and its columns: None when a key is
    quoted, too long, one YAML reads as other than text, or given twice (the builder's to read).
    Raises YamlProblem or _Outside as `_plain` does."""
    firsts = set(map(itemgetter(0), keys))
    if max(map(len, keys)) > MAX_KEY or not _QUOTES.isdisjoint(firsts):
        return None
    resolved: dict[str, Any] = {}
    if not firsts.isdisjoint(_MAYBE_TYPED):
        for typed in set(compress(keys, map(_MAYBE_TYPED.__contains__, map(itemgetter(0), keys)))):
            resolved[typed] = _plain(typed, 0)
    if not all(isinstance(resolved[typed], str) for typed in resolved) or len(
        set(map(resolved.get, keys, keys)) if resolved else set(keys)
    ) < len(keys):
        return None  # (a key YAML reads as a number, or one written twice: the builder's to read)
    if resolved:
        keys = list(map(resolved.get, keys, keys))
    marked = set()
    for field, column in columns.items():  # values YAML types (numbers, true, null), and lists
        given = list(filter(None, column)) if "" in column else column
        if _TYPED_OR_ITEMS.isdisjoint(set(map(itemgetter(0), given))):
            continue
        marked.add(field)
        for token in set(compress(given, map(_TYPED_OR_ITEMS.__contains__, map(itemgetter(0), given)))):
            token = token[1:-1] if token[0] == "[" else token
            if token and token[0] in _MAYBE_TYPED:
                resolved[token] = _plain(token, 0)
    return FlowRows(keys, numbers, columns, resolved, frozenset(marked))


def _known_block(text: str, key: str, fields: tuple[str, ...]) -> tuple[FlowRows, tuple[int, int]] | None:
    """What `_flow_rows` makes of the top-level `key`'s block, found in `text` and taken apart by
    one regular expression (`_known_lines`), and where the block's lines are in `text`; None
    (then `_flow_rows` looks at it) unless every line of the block is blank, a comment, or
    `  name: {field: value, ...}` naming only `fields`, each at most once, at one indentation.

    The expression accepts a subset of what `_LINE` reads as a usual flow mapping, and its groups
    are the tokens `_flow_rows` splits such a line into, so the FlowRows are the same."""
    opening, lines = _known_lines(key, fields)
    found = opening.search(text)
    if found is None:
        return None
    start = found.end()
    after = _TOP_LEVEL.search(text, start - 1)  # (from the opening line's line break)
    end = after.start() + 1 if after is not None else len(text)
    block = text[start:end]
    rows = lines.findall(block)
    if len(rows) != block.count("\n"):
        return None  # a line of another shape (or other fields): `_flow_rows` decides
    first = text.count("\n", 0, start) + 1  # the block's first line
    numbers = list(range(first, first + len(rows)))
    if not all(map(_KEY, rows)):  # blank or comment lines among them
        numbers = list(compress(numbers, map(_KEY, rows)))
        rows = list(filter(_KEY, rows))
    if not rows:
        return None
    indents, keys, *values = map(list, zip(*rows, strict=True))
    if indents.count(indents[0]) != len(indents):
        return None  # (lines at several indentations: a nested block)
    try:
        if _resolved_keys(fields, 0) != fields:
            return None  # (field names YAML reads as other than themselves: not ours to take)
        columns = {
            field: column
            for field, column in zip(fields, values, strict=True)
            if column.count("") < len(column)
        }
        flow = _flow_columns(keys, numbers, columns)
    except (YamlProblem, _Outside):
        return None
    if flow is None:
        return None
    return flow, (start, end)


@cache
def _known_lines(key: str, fields: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The expressions `_known_block` reads with: the line `key:` at the top (as `_LINE` reads a
    key with no value: a comment and spaces may follow), and one line of its block: (indent,
    key, a group per field), all empty for a blank or comment line. A field's alternative fails
    once its group has matched (`name: (?(n)(?!)|...)`): a field given twice is not read here."""
    entry = "|".join(  # (the field's name first: the engine rules out the others by a character)
        rf"{re.escape(field)}: (?({number})(?!)|({_PLAIN_FLOW}|\[(?:{_PLAIN_FLOW})?\]))"
        for number, field in enumerate(fields, 3)
    )
    opening = re.compile(rf"^{re.escape(key)}:(?:[ ]++\#[^\n]*+)?[ ]*+\n", re.MULTILINE)
    line = re.compile(
        rf"^(?:([ ]*+)({_PLAIN_FLOW}):[ ]++\{{(?:(?:(?<=\{{)|, )(?:{entry}))++\}}(?:[ ]++\#[^\n]*+)?"
        r"|[ ]*+\#[^\n]*+)?[ ]*+\n",
        re.MULTILINE,
    )
    return opening, line


# The first line at the top that is not blank or a comment (after its line break): what ends a
# top-level key's block.
_TOP_LEVEL = re.compile(r"\n[^ \n#]")


def _columns(
    tokens: list[list[str]], shape_of: list[tuple[str, ...]], shapes: list[tuple[str, ...]]
) -> dict[str, list[str]]:
    """Each field's values in the order of the lines, "" where a line leaves it out (a field
    named twice in one line never gets here)."""
    if len(shapes) == 1:  # every line names the same fields in the same order
        return dict(zip(shapes[0], map(list, islice(zip(*tokens, strict=True), 1, None, 2)), strict=False))
    _exhaust(map(list.append, tokens, repeat("")))  # (index -1 of each line: a field it leaves out)
    shape_number = list(map({shape: i for i, shape in enumerate(shapes)}.__getitem__, shape_of))
    columns: dict[str, list[str]] = {}
    for field in dict.fromkeys(chain.from_iterable(shapes)):  # each line's value, where its shape has it
        at = [2 * shape.index(field) + 1 if field in shape else -1 for shape in shapes]
        columns[field] = list(map(list.__getitem__, tokens, map(at.__getitem__, shape_number)))
    _exhaust(map(list.pop, tokens))
    return columns


_exhaust = deque[object](maxlen=0).extend  # (runs an iterator through)


def _mapping(line: int) -> LineDict:
    """`LineDict(line)` without running `__init__` (a Python call) for each of 100,000 mappings."""
    mapping: LineDict = _new_dict(LineDict)
    mapping.line = line
    mapping.key_lines = {}
    mapping._by_text = None
    return mapping


def _sequence(line: int) -> LineList:
    items: LineList = _new_list(LineList)
    items.line = line
    items.item_lines = []
    items._by_name = None
    return items


class _Reader:
    """The rows of `_LINE` -> LineDict/LineList/scalars, with caches for repeated keys and items."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, ...], tuple[Any, ...]] = {}  # a usual mapping's keys, resolved
        self.items: dict[str, Any] = {}  # a scalar in a usual mapping's sequence, resolved

    def build(self, rows: Iterable[tuple[int, tuple[str, str, str, str, str]]]) -> Any:
        """The data of `rows`: each line's number and `_LINE`'s row of it (lines left out read as
        blank ones)."""
        maybe_typed, plain, quotes = _MAYBE_TYPED, _plain, _QUOTES
        new_dict, new_list, dict_type, list_type = _new_dict, _new_list, LineDict, LineList
        known_keys, known_items = self.keys, self.items
        root: Any = DECLINED
        stack: list[tuple[int, Any, bool]] = []  # enclosing (indent, collection, is a mapping)
        indent = -1
        node: Any = None
        is_map = False
        lines: Any = None  # node's key_lines or item_lines
        pending: Any = DECLINED  # a key written without a value, waiting for the next line
        pending_line = 0
        value: Any
        for number, (spaces, key, dash, usual, text) in rows:
            if not key and not dash:
                continue  # blank or comment
            column = len(spaces)
            if pending is not DECLINED:
                if column > indent or (column == indent and dash):
                    child: Any = _mapping(number) if key else _sequence(number)
                    node[pending] = child
                    lines[pending] = pending_line
                    stack.append((indent, node, is_map))
                    if len(stack) > MAX_DEPTH:
                        return DECLINED
                    indent, node, is_map = column, child, not dash
                    lines = child.key_lines if key else child.item_lines
                else:
                    node[pending] = None
                    lines[pending] = pending_line
                pending = DECLINED
            if column != indent or is_map is (not key):
                if node is None:  # the first line opens the root collection
                    indent, is_map = column, not dash
                    node = root = _mapping(number) if key else _sequence(number)
                    lines = node.key_lines if key else node.item_lines
                else:
                    while column < indent or (column == indent and key and not is_map):
                        if not stack:
                            return DECLINED
                        indent, node, is_map = stack.pop()
                        lines = node.key_lines if is_map else node.item_lines
                    if column != indent or is_map is (not key):
                        return DECLINED
            if usual:  # the usual flow mapping: str methods take it apart
                flat = usual.replace(", ", ": ").split(": ")
                raw = tuple(flat[0::2])
                keys = known_keys.get(raw)
                if keys is None:
                    keys = known_keys[raw] = _resolved_keys(raw, number)
                values: list[Any] = flat[1::2]
                for index, one in enumerate(values):
                    first = one[0]
                    if first == "[":
                        seq = new_list(list_type)
                        seq.line = number
                        seq._by_name = None
                        one = one[1:-1]
                        if one:
                            item = known_items.get(one, DECLINED)
                            if item is DECLINED:
                                item = known_items[one] = plain(one, number) if one[0] in maybe_typed else one
                            seq.append(item)
                            seq.item_lines = [number]
                        else:
                            seq.item_lines = []
                        values[index] = seq
                    elif first in maybe_typed:
                        values[index] = plain(one, number)
                value = new_dict(dict_type)
                value.update(zip(keys, values, strict=True))
                value.line = number
                value.key_lines = dict.fromkeys(keys, number)
                value._by_text = None
            elif text:
                first = text[0]
                if first == "{":
                    value = _flow_map(text, number)
                elif first == "[":
                    value = _flow_seq(text, number)
                elif first in quotes:
                    value = text[1:-1]
                elif first in maybe_typed:
                    value = plain(text, number)
                else:
                    value = text
            elif dash:
                return DECLINED  # `-` alone: a null item or a nested block
            else:
                value = DECLINED  # a nested block or null, by the next line
            if dash:
                node.append(value)
                lines.append(number)
                continue
            if len(key) > MAX_KEY:
                return DECLINED
            first = key[0]
            if first in quotes:
                key = key[1:-1]
            elif first in maybe_typed:
                key = plain(key, number)
            if key in lines:
                return DECLINED  # a duplicate: the builder names both lines
            if value is DECLINED:
                pending, pending_line = key, number
            else:
                lines[key] = number
                node[key] = value
        if pending is not DECLINED:
            node[pending] = None
            lines[pending] = pending_line
        return root


def _resolved_keys(raw: tuple[str, ...], number: int) -> tuple[Any, ...]:
    if max(map(len, raw)) > MAX_KEY:
        raise _Outside  # a key libyaml may not see as one
    keys = tuple(_plain(key, number) if key[0] in _MAYBE_TYPED else key for key in raw)
    if len(dict.fromkeys(keys)) != len(keys):
        raise _Outside  # the builder names both
    return keys


def _flow_map(text: str, number: int) -> LineDict:
    mapping = _mapping(number)
    lines = mapping.key_lines
    for key, text_value in _ENTRIES.findall(text):
        value: Any = text_value
        first = text_value[0]
        if first == "[":
            value = _flow_seq(text_value, number)
        elif first in _QUOTES:
            value = text_value[1:-1]
        elif first in _MAYBE_TYPED:
            value = _plain(text_value, number)
        if len(key) > MAX_KEY:
            raise _Outside  # a key libyaml may not see as one
        first = key[0]
        if first in _QUOTES:
            key = key[1:-1]
        elif first in _MAYBE_TYPED:
            key = _plain(key, number)
        if key in lines:
            raise _Outside  # the builder names both
        lines[key] = number
        mapping[key] = value
    return mapping


def _flow_seq(text: str, number: int) -> LineList:
    items = _sequence(number)
    for item in _ITEMS.findall(text):
        first = item[0]
        if first in _QUOTES:
            items.append(item[1:-1])
        elif first in _MAYBE_TYPED:
            items.append(_plain(item, number))
        else:
            items.append(item)
    items.item_lines.extend([number] * len(items))
    return items
