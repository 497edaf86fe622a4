"""People written a person a line are read as columns: to exactly what the models say, or not at all.

`people_table.of_rows` reads what `yaml_fast` leaves of a `people:` block of one-line flow mappings;
whatever it accepts must be what `PersonModel` accepts, read to the same values (`of_models`), and
whatever else is left to the models, whose errors are then reported as ever. Generated lines near
the edge (values YAML types, stray spaces, odd emails, unknown or missing fields, keys written
twice) check both directions against the libyaml builder and pydantic.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler import people_table
from reconciler.desired import AccessFile
from reconciler.errors import ValidationErrors
from reconciler.loader import read_files
from reconciler.normalize import normalize
from reconciler.records import Person
from reconciler.yaml_fast import _known_block, read_deferring
from reconciler.yaml_source import load_yaml

TEXT = ["alice@x.example", "Bob@X.Example", "a@b", "a @b.c", "nina@x.example", "1@2.3", "x.y@z.w", "Alice Ng",
        "Nina", "true", "null", "N", "~", "123", "0x1F", "1e3", ".inf", "x\xa0", "\u3000y", "a\u200bb@c.d",
        "Ünïcode", "t00", "-x", "x-", "2026-01-01"]  # fmt: skip
FIELDS = ["email", "name", "teams", "github", "procore", "concur", "pingone", "tems"]


@st.composite
def person_line(draw: st.DrawFn) -> str:
    """Mostly a valid person (so that many files are read as columns), now and then not."""
    odd = draw(st.integers(0, 5)) == 0
    key = draw(st.sampled_from(["alice", "True", "10", "p1"])) if odd else f"p{draw(st.integers(0, 10**6))}"
    chosen = draw(st.lists(st.sampled_from(FIELDS[:-1] if not odd else FIELDS), unique=True, max_size=5))
    if not odd or draw(st.booleans()):
        chosen = ["email", "name", *(f for f in chosen if f not in ("email", "name"))]
    parts = []
    for name in chosen:
        if name == "teams" or draw(st.integers(0, 19)) == 0:
            items = ["", "t00", "t01"] + (["null", "12", "x\xa0", "true"] if odd else [])
            value = "[" + draw(st.sampled_from(items)) + "]"
        elif name == "email" and draw(st.integers(0, 3)) != 0:
            value = f"{draw(st.sampled_from(['a', 'Nina', 'true', '1', '~x']))}{draw(st.integers(0, 99))}@x.example"
        elif not odd and name != "email":
            value = draw(st.sampled_from(["Alice Ng", "Nina", "Ünïcode", "O'Brien", "x-", "N", "t00", "a.b"]))
        else:
            value = draw(st.sampled_from(TEXT))
        parts.append(f"{name}: {value}")
    return f"  {key}: {{{', '.join(parts)}}}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(person_line(), min_size=1, max_size=6))
def test_people_read_as_columns_are_the_people_the_models_read(lines: list[str]) -> None:
    text = "people:\n" + "\n".join(lines) + "\nteams:\n  t00: {}\n  t01: {}\n"
    fast = load_yaml(text, "people.yaml", defer="people")
    slow = load_yaml(text, "people.yaml", subset=False)
    try:
        model = AccessFile.model_validate(slow.data)
    except ValidationError:
        model = None
    if slow.errors or fast.deferred is None:
        return  # (a duplicate key, or lines the fast reader leaves to the builder: nothing read as columns)
    assert fast.data == slow.data  # read whole on demand, as it would have been
    table = people_table.of_rows(load_yaml(text, "people.yaml", defer="people").deferred.rows)  # type: ignore[union-attr]
    if table is None:
        return  # left to the models: their errors, or their values
    assert model is not None, "accepted as columns what the model refuses"
    assert table == people_table.of_models(model.people, slow)


PEOPLE = """\
people:
  alice: {email: Alice.Ng@x.example, name: Alice Ng, teams: [eng], github: alice-ng}
  bob: {email: bob@x.example, name: Bob Ruiz, pingone: bruiz, concur: bob.r@x.example, teams: []}
  carol: {name: Carol, email: carol@x.example, procore: carol-p}
teams:
  eng: {description: Engineers}
"""
BLOCK = """\
people:
  alice:
    email: Alice.Ng@x.example
    name: Alice Ng
    teams: [eng]
    github: alice-ng
  bob:
    email: bob@x.example
    name: Bob Ruiz
    pingone: bruiz
    concur: bob.r@x.example
    teams: []
  carol:
    name: Carol
    email: carol@x.example
    procore: carol-p
teams:
  eng: {description: Engineers}
"""


def _people(tmp_path: Path, text: str) -> dict[str, Person]:
    (tmp_path / "access").mkdir(parents=True, exist_ok=True)
    (tmp_path / "access" / "people.yaml").write_text(text)
    access = normalize(read_files(tmp_path), today=dt.date(2026, 11, 23))
    return dict(access.people)


def test_a_person_a_line_compiles_to_the_people_of_the_same_file_written_in_blocks(tmp_path: Path) -> None:
    one_line = _people(tmp_path / "a", PEOPLE)
    blocks = _people(tmp_path / "b", BLOCK)
    assert {k: p._replace(source=None) for k, p in one_line.items()} == {
        k: p._replace(source=None) for k, p in blocks.items()
    }
    assert [p.source.line for p in one_line.values() if p.source] == [2, 3, 4]
    assert [p.logins for p in one_line.values()] == [
        (), (("concur", "bob.r@x.example"), ("pingone", "bruiz")), (("procore", "carol-p"),)
    ]  # fmt: skip
    assert [(p.github, p.teams) for p in one_line.values()] == [("alice-ng", ("eng",)), ("", ()), ("", ())]


def test_a_mistake_in_one_line_among_many_is_reported_where_it_is(tmp_path: Path) -> None:
    lines = [f"  p{i}: {{email: p{i}@x.example, name: P {i}, teams: [eng]}}" for i in range(50)]
    lines[30] = "  p30: {email: p30-at-x.example, name: P 30, teams: [eng]}"
    lines[40] = "  p40: {email: p40@x.example, name: P 40, teams: [eng], tems: [x]}"
    (tmp_path / "access").mkdir()
    (tmp_path / "access" / "people.yaml").write_text("people:\n" + "\n".join(lines) + "\nteams:\n  eng: {}\n")
    try:
        read_files(tmp_path)
    except ValidationErrors as exc:
        messages = [f"{e.location}: {e.detail}" for e in exc.errors]
    assert messages == [
        "access/people.yaml:32: people.p30.email: not an email address: 'p30-at-x.example'",
        "access/people.yaml:42: people.p40: unknown field 'tems' (did you mean 'teams'?)",
    ]


@st.composite
def block_line(draw: st.DrawFn) -> str:
    """A line of a `people:` block: mostly a person a line, now and then one the regular expression
    of `yaml_fast._known_block` must leave to `_flow_rows` (or read the same)."""
    line = draw(person_line())
    match draw(st.integers(0, 14)):
        case 0:
            return draw(st.sampled_from(["", "   ", "# contractors", "    # a comment", "  #"]))
        case 1:
            return line + draw(st.sampled_from([" # note", "  ", "   #x, y: z"]))
        case 2:
            return " " + line  # another indentation
        case 3:
            return line.replace("{email", "{email: a@x.example, email", 1)  # a field twice
        case 4:
            return line.replace(": {", ":   {", 1)
        case 5:
            return line.replace("]", ", t01]", 1)  # a list of two
        case 6:
            return line.replace("}", ", }", 1)
        case 7:
            return draw(
                st.sampled_from(
                    ["  carol:", "    email: c@x.example", "  - x", '  "q": {email: q@x.example}']
                )
            )
        case _:
            return line


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(block_line(), min_size=1, max_size=8),
    after=st.sampled_from(["teams:\n  t00: {}\n", "", "# end\n"]),
)
def test_a_block_of_known_fields_is_taken_apart_as_the_lines_are(lines: list[str], after: str) -> None:
    """`yaml_fast.read_deferring` told the fields reads a block of them by one regular expression:
    to the same data and the same FlowRows as splitting each line (or declines it to that)."""
    text = "people:\n" + "\n".join(lines) + "\n" + after
    assert read_deferring(text, "people", people_table.FIELDS) == read_deferring(text, "people")


def test_the_usual_people_block_is_read_by_the_regular_expression() -> None:
    text = PEOPLE.replace("  bob:", "\n  # contractors\n  bob:")
    taken = _known_block(text, "people", people_table.FIELDS)
    assert taken is not None
    rows, (start, end) = taken
    assert rows == read_deferring(text, "people")[1]
    assert rows.lines == [2, 5, 6]
    assert read_deferring(text, "people", people_table.FIELDS)[1] == rows  # (not declined)
    assert text[:start] == "people:\n" and text[end:].startswith("teams:\n")
