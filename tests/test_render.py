"""The three renderers, and the plan file's JSON round trip."""

from __future__ import annotations

import json

from reconciler.changes import Action, Change, Finding, Plan, Severity, change_id
from reconciler.render.json import render_json
from reconciler.render.markdown import COMMENT_MARKER, render_markdown
from reconciler.render.text import render_text


def change(
    action: Action, person: str, vendor: str, rtype: str, resource: str, ent: str, **kw: str
) -> Change:
    principal = f"{person}@harbor.example"
    return Change(
        id=change_id(vendor, action, "", rtype, resource, ent, principal),
        vendor=vendor, action=action, tenant="", principal=principal, resource_type=rtype,
        resource=resource, entitlement=ent, person=person, **kw,
    )  # fmt: skip


PLAN = Plan(
    changes=(
        change(
            Action.GRANT,
            "alice",
            "procore",
            "project",
            "Harbor Tower",
            "Project Engineer",
            source="access/procore.yaml:14",
        ),
        change(
            Action.UPDATE,
            "bob",
            "procore",
            "project",
            "Harbor Tower",
            "Project Engineer",
            before="Superintendent",
        ),
        change(Action.REVOKE, "alice", "concur", "role", "EXP_APPROVER", "member", note="not in the YAML"),
    ),
    findings=(
        Finding(Severity.WARNING, "no-account", "PingOne: carol has no account", source="access/p.yaml:3"),
    ),
    vendors=("concur", "procore"),
    desired_digest="d" * 64,
    fingerprints={"concur": "a", "procore": "b"},
    today="2026-11-23",
    approvers={},
)


def test_text_groups_by_vendor_with_signs_and_a_per_person_view() -> None:
    text = render_text(PLAN)
    assert "+ alice: project Harbor Tower as Project Engineer" in text
    assert "~ bob: project Harbor Tower: Superintendent → Project Engineer" in text
    assert "- alice: role Expense Approver" in text
    assert (
        "alice: + Procore project Harbor Tower as Project Engineer, - SAP Concur role Expense Approver"
        in text
    )
    assert text.rstrip().endswith("Plan: 1 to grant, 1 to revoke, 1 to update.[/bold]")


def test_markdown_puts_the_summary_first_and_folds_each_vendor() -> None:
    markdown = render_markdown(PLAN)
    lines = markdown.splitlines()
    assert lines[0] == COMMENT_MARKER
    assert lines[3] == "**Plan: 1 to grant, 1 to revoke, 1 to update.**"
    assert "<details open><summary><b>Procore</b> (2)</summary>" in markdown
    assert "| `~` | bob | project Harbor Tower: Superintendent → Project Engineer |" in markdown
    assert "⚠️ **no-account** `access/p.yaml:3` PingOne: carol has no account" in markdown


def test_markdown_stays_under_the_comment_limit_at_thousands_of_changes() -> None:
    many = tuple(
        change(Action.GRANT, f"user{i:05d}", "pingone", "group", f"Group {i % 40}", "member")
        for i in range(5000)
    )
    markdown = render_markdown(Plan(changes=many, vendors=("pingone",)))
    assert len(markdown) <= 60_000
    assert "**Plan: 5000 to grant.**" in markdown
    assert "<details><summary><b>PingOne</b> (5000)</summary>" in markdown  # folded when large
    assert "more lines are in the JSON plan artifact" in markdown
    assert markdown.count("<details") == markdown.count("</details>")


def test_json_is_the_plan_file_and_round_trips() -> None:
    data = json.loads(render_json(PLAN))
    assert data["format_version"] == 1
    assert data["summary"] == {
        "create_account": 0,
        "update": 1,
        "grant": 1,
        "revoke": 1,
        "deactivate_account": 0,
    }
    for key in ("id", "vendor", "action", "principal", "resource", "entitlement", "source"):
        assert key in data["changes"][0]
    assert Plan.from_json(data) == PLAN


def test_an_edited_plan_file_is_refused() -> None:
    data = json.loads(render_json(PLAN))
    data["changes"][0]["principal"] = "mallory@harbor.example"
    try:
        Plan.from_json(data)
    except Exception as exc:
        assert "plan file was edited" in str(exc)
    else:
        raise AssertionError("an edited plan was accepted")
