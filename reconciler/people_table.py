"""The people of a file as columns: what normalize needs of each person, without a model each.

A large company's people.yaml is a person a line (`alice: {email: ..., name: ..., teams: [...]}`),
100,000 lines. Reading each into a mapping and validating each with pydantic took most of the time
of `access validate`. `yaml_fast` leaves such a block as its lines' tokens (`FlowRows`); `of_rows`
checks them in passes over whole columns and returns the table, or None when any person is
anything but plainly valid: then the file is read and validated as any other (`PersonModel`), every
error located as usual, and `of_models` makes the same table of the models.

The checks accept a subset of what `PersonModel` accepts, and read it to the same values: text
fields as text (a value YAML types, such as `true`, a number or `null`, is left to the model),
already without surrounding whitespace (which the model would strip), emails that match its
pattern, teams a list of text, login overrides as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from reconciler.desired import EMAIL_PATTERN

if TYPE_CHECKING:
    from reconciler.desired import PersonModel
    from reconciler.yaml_fast import FlowRows
    from reconciler.yaml_source import YamlDocument

LOGIN_VENDORS = ("procore", "concur", "pingone")  # a person's login overrides, in this order
# A person's fields, the usual first (`yaml_fast` tries them in this order on each line).
FIELDS = ("email", "name", "teams", "github", *LOGIN_VENDORS)
_FIELDS = frozenset(FIELDS)
_TEXT_FIELDS = ("email", "name", "github", *LOGIN_VENDORS)
_REQUIRED = frozenset({"email", "name"})
# EMAIL_PATTERN, for many emails at once, one a line. Python's \s holds every character the model's
# \s does (and a few more), so an email this accepts, the model accepts.
_EMAILS = re.compile("(?:" + EMAIL_PATTERN.removeprefix("^").removesuffix("$") + "\n)*")


@dataclass(frozen=True, slots=True)
class PeopleTable:
    """One file's people, a column per field, in the order written."""

    keys: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # of each person's key
    emails: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    teams: list[tuple[str, ...]] = field(default_factory=list)  # as listed
    github: list[str] = field(default_factory=list)  # "" for none
    logins: list[tuple[tuple[str, str], ...]] = field(default_factory=list)  # (vendor, login) overrides

    def __len__(self) -> int:
        return len(self.keys)


EMPTY = PeopleTable()


def of_rows(rows: FlowRows) -> PeopleTable | None:
    """The table of a block of one-line people (None: read them as models instead)."""
    columns, typed, marked = rows.columns, rows.typed, rows.marked
    if not columns.keys() <= _FIELDS or "" in columns.get("email", [""]) or "" in columns.get("name", [""]):
        return None  # an unknown field, or a missing one: the model says which
    count = len(rows.keys)
    texts: dict[str, list[Any]] = {}
    for name in _TEXT_FIELDS:
        column: list[Any] | None = columns.get(name)
        if column is None:
            texts[name] = [""] * count
            continue
        given = list(filter(None, column)) if name not in _REQUIRED else column
        if name in marked:  # a list where text belongs, or a value YAML types (a number, null)
            if "[" in map(itemgetter(0), given):
                return None
            column = list(map(typed.get, column, column))
            values = list(filter(None, column))
            if len(values) < len(given) or not set(map(type, values)) <= {str}:
                return None
            given = values
        if not "".join(given).isascii() and not all(map(str.__eq__, map(str.strip, given), given)):
            return None  # (the model strips it; plain YAML text has no ASCII space at either end)
        texts[name] = column
    emails: list[str] = texts["email"]
    if not _EMAILS.fullmatch("\n".join(emails) + "\n"):
        return None
    teams = _teams(columns.get("teams") or ["[]"] * count, typed)
    if teams is None:
        return None
    logins: list[tuple[tuple[str, str], ...]] = [()] * count
    overrides = [texts[vendor] for vendor in LOGIN_VENDORS]
    for i in compress(range(count), map(any, zip(*overrides, strict=True))):  # (the few with one)
        logins[i] = tuple(
            (vendor, column[i]) for vendor, column in zip(LOGIN_VENDORS, overrides, strict=True) if column[i]
        )
    return PeopleTable(rows.keys, rows.lines, emails, texts["name"], teams, texts["github"], logins)


def _teams(column: list[str], typed: dict[str, Any]) -> list[tuple[str, ...]] | None:
    """`[team]` or `[]` tokens ("": not written) -> each person's teams (None: anything else)."""
    written = [token or "[]" for token in column] if "" in column else column
    distinct = set(written)
    if set(map(itemgetter(0, -1), distinct)) != {("[", "]")}:
        return None
    made: dict[str, tuple[str, ...]] = {}
    for token in distinct:
        item = token[1:-1]
        value = typed.get(item, item)
        if item and (not isinstance(value, str) or value != value.strip()):
            return None
        made[token] = (value,) if item else ()
    return list(map(made.__getitem__, written))


def of_models(people: Mapping[str, PersonModel], document: YamlDocument) -> PeopleTable:
    """The table of validated models (a file outside the one-line form, or with errors)."""
    if not people:
        return EMPTY
    lines = document.child_lines(("people",))
    models = list(people.values())
    numbers = [lines.get(key) or document.location(("people", key)).line for key in people]
    logins = [
        tuple(
            (vendor, override.login)
            for vendor, override in zip(LOGIN_VENDORS, _OVERRIDES(model), strict=True)
            if override is not None
        )
        for model in models
    ]
    return PeopleTable(
        list(people), numbers, [m.email for m in models], [m.name for m in models],
        [tuple(m.teams) for m in models], [m.github or "" for m in models], logins,
    )  # fmt: skip


_EVEN = itemgetter(slice(0, None, 2))
_OVERRIDES = attrgetter(*LOGIN_VENDORS)
