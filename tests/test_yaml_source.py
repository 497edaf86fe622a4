"""YAML 1.2 core values, merge keys, aliases and locations, as the loader builds them."""

from __future__ import annotations

from reconciler.yaml_source import load_yaml


def test_only_true_and_false_are_booleans_and_dates_stay_text() -> None:
    doc = load_yaml("no: off\nyes: on\nt: true\nf: False\nwhen: 2027-03-31\nzip: 012\nnothing:\n", "f.yaml")
    assert doc.data == {"no": "off", "yes": "on", "t": True, "f": False, "when": "2027-03-31", "zip": 12,
                        "nothing": None}  # fmt: skip


def test_a_merge_key_merges_and_written_keys_win() -> None:
    text = "base: &b {email: a@x.example, name: A}\nother:\n  <<: *b\n  name: B\n"
    doc = load_yaml(text, "f.yaml")
    assert doc.errors == []
    assert doc.data["other"] == {"email": "a@x.example", "name": "B"}
    assert doc.location(("other", "name")).line == 4
    assert doc.location(("other", "email")).line == 1  # where the merged value is written


def test_earlier_merge_sources_win_over_later_ones() -> None:
    doc = load_yaml("a: &a {x: 1}\nb: &b {x: 2, y: 3}\nc:\n  <<: [*a, *b]\n", "f.yaml")
    assert doc.data["c"] == {"x": 1, "y": 3}


def test_list_members_are_found_by_name_and_ids_written_as_numbers_as_text() -> None:
    doc = load_yaml(
        "team:\n  - alice\n  - bob: {expires: 2027-01-01}\nco:\n  562949953421312:\n    x: 1\n", "f.yaml"
    )
    assert doc.location(("team", "bob")).line == 3
    assert doc.location(("team", "alice")).line == 2
    assert doc.location(("co", "562949953421312", "x")).line == 6
    assert doc.location(("team", "nobody")).line == 1  # the longest prefix that has a line


def test_one_location_object_per_line() -> None:
    doc = load_yaml("a:\n  b: 1\n  c: 2\n", "f.yaml")
    assert doc.location(("a", "b")) is doc.location(("a", "b", "deeper"))


def test_every_character_outside_yamls_printable_set_is_refused_and_only_those() -> None:
    """`_NOT_PRINTABLE` is written as the complement of YAML's c-printable set: the same characters."""
    import re

    from reconciler.yaml_source import _NOT_PRINTABLE

    printable = re.compile("[\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    every = "".join(map(chr, range(0x110000)))
    assert "".join(_NOT_PRINTABLE.findall(every)) == printable.sub("", every)
