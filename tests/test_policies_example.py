"""The shipped policies/ fit the shipped access/: validate is clean of errors, plan shows approvers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from reconciler.changes import Action, Severity
from reconciler.commands.context import AppContext
from reconciler.commands.plan import make_plan
from reconciler.commands.state import Source, load_desired
from reconciler.policy_loader import load_policies
from reconciler.rules import check_desired
from tests.policy_helpers import TODAY


def test_the_example_validates_with_only_the_expiry_warning(example_repo: Path) -> None:
    desired = load_desired(AppContext(repo=example_repo)).access
    findings = check_desired(desired, load_policies(example_repo), TODAY)
    assert [(f.severity, f.source, f.message) for f in findings] == [
        (
            Severity.WARNING,
            "access/pingone.yaml:22",
            "grace: PingOne role Environment Admin expires 2026-12-15 (in 22 days)",
        )
    ]


def test_the_sandbox_plan_has_no_policy_errors_and_names_approvers(example_repo: Path) -> None:
    planned = asyncio.run(make_plan(AppContext(repo=example_repo), Source(sandbox=True)))
    plan = planned.plan
    assert plan.errors == ()
    shown = {(c.action, c.vendor, c.resource, c.person): plan.approvers.get(c.id) for c in plan.changes}
    assert shown[(Action.UPDATE, "procore", "Harbor Tower", "bob")] == ("1 of carol: @cokafor",)
    assert shown[(Action.GRANT, "concur", "EXP_APPROVER", "nina")] == ("1 of finance: @ewalsh, @fosei",)
    assert all(v is None for (action, *_), v in shown.items() if action is Action.REVOKE)
