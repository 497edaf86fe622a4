"""The fast reader of plain YAML gives exactly what the libyaml builder gives, or steps aside.

`load_yaml(..., subset=False)` is the builder alone, the single source of truth. Generated files in
the subset must be read by the fast path to equal values, Python types and lines; mutated files
(near the subset, and the fuzz corpus's mutations of the example files) must either be declined or
be read equally, so every error is still the builder's.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.yaml_fast import DECLINED, read_subset
from reconciler.yaml_source import LineDict, LineList, YamlDocument, _plain, _unprintable, load_yaml
from tests.conftest import ROOT
from tests.test_yaml_fuzz import VALUES, mutated

EXAMPLES = sorted([*(ROOT / "access").glob("*.yaml"), *(ROOT / "policies").glob("*.yaml")])


def assert_same(fast: Any, slow: Any, path: str = "") -> None:
    """Equal values of the same Python types, and the same line of every mapping, key and item."""
    assert type(fast) is type(slow), f"{path}: {type(fast).__name__} != {type(slow).__name__}"
    if isinstance(slow, LineDict):
        assert fast.line == slow.line, f"{path}: mapping line {fast.line} != {slow.line}"
        assert [(type(k), repr(k)) for k in fast] == [(type(k), repr(k)) for k in slow], path
        assert [(repr(k), n) for k, n in fast.key_lines.items()] == [
            (repr(k), n) for k, n in slow.key_lines.items()
        ], f"{path}: key lines"
        assert fast._by_text is None and slow._by_text is None
        for (key, one), other in zip(fast.items(), slow.values(), strict=True):
            assert_same(one, other, f"{path}.{key!r}")
    elif isinstance(slow, LineList):
        assert fast.line == slow.line, f"{path}: list line {fast.line} != {slow.line}"
        assert fast.item_lines == slow.item_lines, f"{path}: item lines"
        assert fast._by_name is None and slow._by_name is None
        assert len(fast) == len(slow), path
        for index, (one, other) in enumerate(zip(fast, slow, strict=True)):
            assert_same(one, other, f"{path}[{index}]")
    elif isinstance(slow, float):
        assert repr(fast) == repr(slow) or (math.isnan(fast) and math.isnan(slow)), path
    else:
        assert fast == slow, f"{path}: {fast!r} != {slow!r}"


def assert_same_document(fast: YamlDocument, slow: YamlDocument) -> None:
    assert fast.file == slow.file
    assert [(e.location, e.message) for e in fast.errors] == [(e.location, e.message) for e in slow.errors]
    assert_same(fast.data, slow.data)


# -- generating files in the subset ----------------------------------------------------------------

LETTERS = "abcxyzABCXYZ019é中😀_\xa0\u3000\u200b\ufffd\U0010fffd"  # Unicode spaces are text to YAML
FIRST = LETTERS + "./()~=+$^;\\"  # what may start a plain scalar (and `-` before a letter)
MIDDLE = FIRST + "-@'\"?!%&*<>|`"  # what may follow, anywhere in a plain scalar
TYPED = [
    "true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL", "~", "0", "-0", "+1",
    "007", "-12", "12345678901234567890", "0o17", "0o8", "0x1F", "0xff", "0x", "0b101", "1.5", "-1.5",
    ".5", "+.5", "1.", "1e3", "1E-3", "-2.5e+10", ".inf", "-.inf", "+.INF", ".nan", ".NaN", "nan",
    "inf", "1_000", "1.2.3", "2027-03-31", "2027-02-30", "yes", "no", "on", "off", "y", "n", "t01",
    "~x", "-x", "+x", ".x", "nulls", "trueish", "Null0", "-.5", "..", "...", "---", "-1-", "1e",
    "0.0", "-0.0", "9" * 40,
]  # fmt: skip
BLOCK_ONLY = ["12:30", "http://x.example/a", "a, b", "a]", "b{c}", "x [y]", "a:b:c"]


@st.composite
def plain(draw: st.DrawFn, context: str) -> str:
    """A plain scalar: typed-looking text, or words of ordinary characters."""
    if draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(TYPED + (BLOCK_ONLY if context == "block" else [])))
    if draw(st.booleans()):
        number = draw(st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=False, width=32)))
        return repr(number)
    middle = st.text(MIDDLE, max_size=5)
    if context == "block":  # a block value may also hold `,[]{}` and `:` before a letter
        middle = st.lists(st.sampled_from([*MIDDLE, *",[]{}", ":a", ":/", ":0"]), max_size=5).map("".join)
    text = draw(st.sampled_from(FIRST) | st.just("-" + draw(st.sampled_from(LETTERS))))
    text += draw(middle)
    for _ in range(draw(st.integers(0, 2))):  # more words, a space or two apart
        text += " " * draw(st.integers(1, 2)) + draw(middle.filter(bool))
    return text


@st.composite
def quoted(draw: st.DrawFn) -> str:
    quote = draw(st.sampled_from(["'", '"']))
    content = draw(st.text(MIDDLE + " #:,[]{}-&*!|>%@`", max_size=8))
    if draw(st.booleans()):
        content = draw(st.sampled_from(TYPED + BLOCK_ONLY + ["", " ", "<<", "a: b", "# c", "- x"]))
    content = content.replace(quote, "")
    return quote + (content.replace("\\", "") if quote == '"' else content) + quote


def scalar(context: str) -> st.SearchStrategy[str]:
    return st.one_of(plain(context), plain(context), quoted())


def key_text(quotes: bool = True) -> st.SearchStrategy[str]:
    some = st.one_of(plain("key"), st.sampled_from(["p000001", "email", "teams", "a<<", "a b"]))
    return st.one_of(some, quoted()) if quotes else some


def resolved(text: str) -> Any:
    """A key as the builder resolves it (to keep generated keys distinct)."""
    return text[1:-1] if text[0] in "'\"" else _plain(text, 1)


@st.composite
def distinct_keys(draw: st.DrawFn, most: int, quotes: bool = True) -> list[str]:
    keys: list[str] = []
    seen: dict[Any, None] = {}
    for text in draw(st.lists(key_text(quotes), min_size=1, max_size=most)):
        value = resolved(text)
        if value not in seen:
            seen[value] = None
            keys.append(text)
    return keys


def gap(draw: st.DrawFn, sep: str, usual: bool) -> str:
    return sep if usual else " " * draw(st.integers(0, 2)) + sep.strip() + " " * draw(st.integers(0, 2))


@st.composite
def flow_seq(draw: st.DrawFn, usual: bool) -> str:
    items = draw(st.lists(scalar("flow"), max_size=1 if usual else 3))
    inside = gap(draw, ", ", usual).join(items) if items else ""
    pad = "" if usual else " " * draw(st.integers(0, 1))
    return f"[{pad}{inside}{pad}]"


@st.composite
def flow_map(draw: st.DrawFn) -> str:
    usual = draw(st.booleans())  # the shape the reader splits with str methods
    entries = []
    for key in draw(distinct_keys(4, quotes=not usual)):
        value = draw(st.one_of(plain("flow") if usual else scalar("flow"), flow_seq(usual)))
        entries.append(f"{key}:{' ' if usual else ' ' * draw(st.integers(1, 2))}{value}")
    if draw(st.integers(0, 9)) == 0:
        return "{" + " " * draw(st.integers(0, 1)) + "}"
    pad = "" if usual else " " * draw(st.integers(0, 1))
    return "{" + pad + gap(draw, ", ", usual).join(entries) + pad + "}"


def comment(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 3)):
        return " " * draw(st.integers(0, 2))  # trailing spaces
    return " " * draw(st.integers(1, 2)) + "#" + draw(st.text(MIDDLE + " #:'\"", max_size=6))


@st.composite
def noise(draw: st.DrawFn) -> list[str]:
    """Blank and comment lines, which may go anywhere."""
    return draw(
        st.lists(
            st.sampled_from(["", "   ", "# note", "  # indented: note", "#", "      #- [x]"]), max_size=1
        )
    )


@st.composite
def block_map(draw: st.DrawFn, indent: int, depth: int) -> list[str]:
    lines: list[str] = []
    for key in draw(distinct_keys(4)):
        lines.extend(draw(noise()))
        head = " " * indent + key + ":"
        kind = draw(st.sampled_from(["scalar", "scalar", "map", "seq", "null", "block", "list"]))
        if depth >= 3 and kind in ("block", "list"):
            kind = "null"
        if kind == "scalar":
            lines.append(head + " " * draw(st.integers(1, 3)) + draw(scalar("block")) + comment(draw))
        elif kind == "map":
            lines.append(head + " " * draw(st.integers(1, 3)) + draw(flow_map()) + comment(draw))
        elif kind == "seq":
            lines.append(head + " " + draw(flow_seq(draw(st.booleans()))) + comment(draw))
        elif kind == "null":
            lines.append(head + comment(draw))
        elif kind == "block":
            lines.append(head + comment(draw))
            lines.extend(draw(noise()))
            lines.extend(draw(block_map(indent + draw(st.integers(1, 4)), depth + 1)))
        else:
            lines.append(head + comment(draw))
            lines.extend(draw(noise()))
            lines.extend(draw(block_seq(indent + draw(st.integers(0, 3)))))
    return lines


@st.composite
def block_seq(draw: st.DrawFn, indent: int) -> list[str]:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        lines.extend(draw(noise()))
        item = draw(st.one_of(scalar("block"), flow_map(), flow_seq(draw(st.booleans()))))
        lines.append(" " * indent + "-" + " " * draw(st.integers(1, 2)) + item + comment(draw))
    return lines


@st.composite
def documents(draw: st.DrawFn) -> str:
    indent = draw(st.integers(0, 2))
    lines = draw(noise())
    lines += draw(block_map(indent, 0) if draw(st.integers(0, 4)) else block_seq(indent))
    lines += draw(noise())
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


# -- the properties ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_files_in_the_subset_are_read_fast_to_what_the_builder_reads(text: str) -> None:
    slow = load_yaml(text, "f.yaml", subset=False)
    assert slow.errors == [], text
    fast = read_subset(text)
    assert fast is not DECLINED, text
    assert_same(fast, slow.data)
    assert_same_document(load_yaml(text, "f.yaml"), slow)


SPICE = [*" :#,[]{}-?&*!|>'\"%@`<~\\.0tn", "\t", "\r", "\n", "\x85", "\u2028", "\ufeff", "\xa0", "é", "\x00"]


@st.composite
def near_subset(draw: st.DrawFn) -> str:
    text = draw(documents())
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "indent", "value", "replace"]))
        if kind in ("insert", "delete", "replace"):
            pos = draw(st.integers(0, len(text)))
            spice = draw(st.sampled_from(SPICE))
            if kind == "insert":
                text = text[:pos] + spice + text[pos:]
            elif kind == "delete":
                text = text[:pos] + text[pos + 1 :]
            else:
                text = text[:pos] + spice + text[pos + 1 :]
            continue
        if kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "indent":
            lines[at] = " " * draw(st.integers(0, 5)) + lines[at].lstrip(" ")
        else:
            key, _, _ = lines[at].partition(":")
            lines[at] = key + ": " + draw(st.sampled_from(VALUES)).decode("utf-8", "replace")
        text = "\n".join(lines)
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_subset())
def test_files_near_the_subset_are_declined_or_read_to_what_the_builder_reads(text: str) -> None:
    slow = load_yaml(text, "f.yaml", subset=False)
    fast = load_yaml(text, "f.yaml")
    assert_same_document(fast, slow)
    if slow.errors and _unprintable(text) is None:  # (control characters are refused before)
        assert read_subset(text) is DECLINED  # libyaml's refusals stay its own


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_the_fuzz_corpus_mutations_read_the_same_both_ways(case: tuple[str, bytes]) -> None:
    name, data = case
    assert_same_document(load_yaml(data, f"access/{name}"), load_yaml(data, f"access/{name}", subset=False))


# -- what users write --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_the_example_files_take_the_fast_path(path: Any) -> None:
    text = path.read_text(encoding="utf-8")
    slow = load_yaml(text, path.name, subset=False)
    fast = read_subset(text)
    assert fast is not DECLINED
    assert_same(fast, slow.data)


ACCEPTED = {
    "indentless list": "team:\n- alice\n- bob\nother: 1\n",
    "nested mapping after comments": "a:\n  # first\n\n  b: 1\n  c:\n    d: [x, 'y z', \"#w\"]\nz: ~\n",
    "typed keys": "1: int\n0x10: hex\nfalse: bool\n~: null\n1.5: float\n'1': text\n",
    "null values": "a:\nb: # nothing\nc:\n",
    "root list": "- {a: 1, b: [x]}\n- [1, 2]\n- plain text\n",
    "indented root": "  a: 1\n  b:\n    c: 2\n",
    "usual mapping": "people:\n  p1: {email: p1@x.example, name: Person 1, teams: [t01]}\n",
    "no final newline": "a: b",
    "urls and times in block values": "url: http://x.example/a?b=c\nat: 12:30\n",
}
DECLINED_TEXTS = {
    "duplicate key": "a: 1\na: 2\n",
    "duplicate key in a flow mapping": "a: {b: 1, b: 2}\n",
    "duplicate key by value": "1: a\n1.0: b\n",
    "anchor and alias": "a: &x 1\nb: *x\n",
    "merge key": "a: {x: 1}\nb:\n  <<: {y: 2}\n",
    "tag": "a: !!str 1\n",
    "block scalar": "a: |\n  text\n",
    "multi-line plain": "a: one\n  two\n",
    "multi-line flow": "a: [x,\n  y]\n",
    "document marker": "---\na: 1\n",
    "tab": "a:\t1\n",
    "odd indentation": "a:\n    b: 1\n  c: 2\n",
    "list under a key at the wrong column": "a:\n  - x\n  b: 1\n",
    "escape": 'a: "x\\ty"\n',
    "doubled quote": "a: 'it''s'\n",
    "null list item": "-\n- x\n",
    "empty file": "# only a comment\n",
    "a huge number": "a: " + "9" * 5000 + "\n",
    "colon in a flow value": "a: {at: 12:30}\n",
    "CRLF": "a: 1\r\nb: 2\r\n",
}


@pytest.mark.parametrize("text", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_the_subset_covers(text: str) -> None:
    slow = load_yaml(text, "f.yaml", subset=False)
    assert slow.errors == []
    fast = read_subset(text)
    assert fast is not DECLINED
    assert_same(fast, slow.data)


@pytest.mark.parametrize("text", DECLINED_TEXTS.values(), ids=DECLINED_TEXTS.keys())
def test_the_builder_reads_what_the_subset_does_not_cover(text: str) -> None:
    assert read_subset(text) is DECLINED
    assert_same_document(load_yaml(text, "f.yaml"), load_yaml(text, "f.yaml", subset=False))


def test_a_duplicate_is_still_named_with_both_lines() -> None:
    doc = load_yaml("people:\n  ann: {email: a@x.example}\n  ann: {email: b@x.example}\n", "people.yaml")
    assert [str(error) for error in doc.errors] == ["people.yaml:3: duplicate key 'ann' (first at line 2)"]
