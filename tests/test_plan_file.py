"""Property: the plan file `Plan.dumps` writes is `json.dumps(plan.to_json(), indent=2)`, byte for byte.

`Plan.dumps` writes changes, findings and approvers with the record writers of `reconciler.jsonfile`
(one %-template per record, strings through json's C encoder), not through `json`; whatever a plan
holds (quotes, backslashes, control characters, non-ASCII and astral characters, empty and
duplicated attributes, shared and empty approver lists, no changes at all), the bytes must be the
standard library's, and the file must read back as a plan of the same changes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.changes import Action, Change, Finding, Plan, Severity
from reconciler.jsonfile import dumps_records, dumps_string_lists

# Characters that JSON escapes or that are easy to get wrong: quotes, backslashes, control
# characters, DEL, non-ASCII, line separators, astral planes (surrogate pairs), a `%` (templates).
ODD = st.sampled_from(
    ['"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "😀", "%", "%s", "/", "{"]
)
TEXT = st.one_of(
    st.just(""),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.lists(st.one_of(ODD, st.text(max_size=3)), max_size=5).map("".join),
)
ATTRIBUTES = st.lists(st.tuples(TEXT, TEXT), max_size=4).map(tuple)  # duplicates keys too, sometimes


@st.composite
def changes(draw: st.DrawFn) -> Change:
    return Change(
        id=draw(st.sampled_from(["a1", "b2", "c3"]) | TEXT),
        vendor=draw(st.sampled_from(["procore", "concur", "pingone"]) | TEXT),
        action=draw(st.sampled_from(list(Action))),
        tenant=draw(TEXT),
        principal=draw(TEXT),
        resource_type=draw(TEXT),
        resource=draw(TEXT),
        entitlement=draw(TEXT),
        before=draw(TEXT),
        person=draw(TEXT),
        source=draw(TEXT),
        reason=draw(TEXT),
        expires=draw(TEXT),
        note=draw(TEXT),
        attributes=draw(ATTRIBUTES),
        account_id=draw(TEXT),
    )


FINDINGS = st.builds(
    Finding,
    severity=st.sampled_from(list(Severity)),
    code=TEXT,
    message=TEXT,
    vendor=TEXT,
    principal=TEXT,
    source=TEXT,
    hint=TEXT,
)
SHARED = ("1 reviewer other than the author",)
APPROVER_LISTS = st.one_of(st.just(SHARED), st.just(()), st.lists(TEXT, max_size=3).map(tuple))


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    planned = tuple(draw(st.lists(changes(), max_size=6)))
    ids = [c.id for c in planned] + draw(st.lists(TEXT, max_size=2))
    return Plan(
        changes=planned,
        findings=tuple(draw(st.lists(FINDINGS, max_size=3))),
        vendors=tuple(draw(st.lists(TEXT, max_size=3))),
        desired_digest=draw(TEXT),
        git_commit=draw(st.none() | TEXT),
        fingerprints=draw(st.dictionaries(TEXT, TEXT, max_size=3)),
        today=draw(TEXT),
        approvers={i: draw(APPROVER_LISTS) for i in ids if draw(st.booleans())},
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_the_plan_file_is_what_json_dumps_writes(plan: Plan) -> None:
    text = plan.dumps()
    assert text == json.dumps(plan.to_json(), indent=2) + "\n"
    again = Plan.loads(text)  # attributes come back sorted, duplicate keys folded
    assert again.dumps() == json.dumps(again.to_json(), indent=2) + "\n"
    assert again.changes_hash == plan.changes_hash


FIELDS = [f.name for f in dataclasses.fields(Change)]


@st.composite
def records_sharing_values(draw: st.DrawFn) -> tuple[list[Change], set[str] | None]:
    """Records made from a few base changes that differ only in the `varying` fields (the writer
    encodes the shared ones once per combination), or every field varying (None)."""
    varying = draw(st.none() | st.sets(st.sampled_from(FIELDS)))
    bases = draw(st.lists(changes(), min_size=1, max_size=3))
    records: list[Change] = []
    for _ in range(draw(st.integers(min_value=0, max_value=24))):
        record = draw(st.sampled_from(bases))
        for name in varying or ():
            if name == "action":
                record = dataclasses.replace(record, action=draw(st.sampled_from(list(Action))))
            elif name == "attributes":
                record = dataclasses.replace(record, attributes=draw(ATTRIBUTES))
            elif draw(st.booleans()):
                record = dataclasses.replace(record, **{name: draw(TEXT)})
        records.append(record)
    return records, varying


@settings(max_examples=300, deadline=None)
@given(
    records_sharing_values(),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=4),
)
def test_records_at_any_level_and_indent(
    records_varying: tuple[list[Change], set[str] | None], level: int, indent: int
) -> None:
    records, varying = records_varying
    document: Any = [c.to_json() for c in records]
    for _ in range(level):
        document = [document]
    expected = json.dumps(document, indent=indent)
    text = dumps_records(records, FIELDS, level=level, pairs="attributes", varying=varying, indent=indent)
    # the records' list sits `level` lists deep: cut the same text out of the standard library's
    body = expected.splitlines()[level : len(expected.splitlines()) - level]
    assert text == ("\n".join(body).lstrip() if records else "[]")


def test_records_of_few_kinds_encode_each_kind_once() -> None:
    """Thousands of changes sharing everything but who and which line: the shared way, exactly."""
    base = Change(
        "", "procore", Action.GRANT, "1", "", "project", 'Harbor "Tower" é%s', "Engineer", note="\x00"
    )
    records = [
        dataclasses.replace(base, id=f"{i:04x}", principal=f"p{i}@x", person=f"p{i}", resource=f"R{i % 3}")
        for i in range(3000)
    ]
    text = dumps_records(records, FIELDS, level=1, pairs="attributes", varying=("id", "principal", "person"))
    expected = json.dumps([[c.to_json() for c in records]], indent=2)
    assert text == expected[2:-2].lstrip()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(TEXT, APPROVER_LISTS, max_size=5))
def test_string_lists(mapping: dict[str, tuple[str, ...]]) -> None:
    expected = json.dumps({k: list(v) for k, v in mapping.items()}, indent=2)
    assert dumps_string_lists(mapping, level=0) == expected


def test_values_that_are_not_strings_take_the_general_way() -> None:
    """A plan made by hand (or read from an edited file) may hold numbers, nulls or lists."""
    odd: Any = 7
    plan = Plan(
        changes=(
            Change(
                "x",
                "procore",
                Action.GRANT,
                "",
                "p",
                "project",
                "r",
                "e",
                note=odd,
                attributes=((odd, None),),
            ),  # type: ignore[arg-type]
        ),
        findings=(Finding(Severity.INFO, "code", "m", vendor=None),),  # type: ignore[arg-type]
        approvers={"x": ["a", 1]},  # type: ignore[dict-item]
    )
    assert plan.dumps() == json.dumps(plan.to_json(), indent=2) + "\n"


def test_a_plan_of_many_changes_is_written_whole() -> None:
    """Tens of thousands of changes (the file is joined a few thousand at a time): every one written,
    in order, the bytes the standard library's."""
    changes = tuple(
        Change(
            f"{i:012x}", ("procore", "concur", "pingone")[i % 3], Action.GRANT if i % 7 else Action.CREATE_ACCOUNT,
            "", f"p{i}@example.com", "project", f"Project {i % 40}", "Engineer", person=f"p{i}",
            source=f"access/procore.yaml:{i}", attributes=(("email", f"p{i}@example.com"), ("name", f"P {i}"))
            if i % 7 == 0 else (),
        )
        for i in range(30_000)
    )  # fmt: skip
    plan = Plan(changes=changes, approvers={c.id: SHARED for c in changes[::2]})
    assert plan.dumps() == json.dumps(plan.to_json(), indent=2) + "\n"
