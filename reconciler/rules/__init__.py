"""Policy evaluation: pure functions of desired state, the plan and the policies.

One module per rule family: `approval` (who may approve), `separation_of_duties`, `privileged`,
`protected`, `expiry`, `limits` (apply's safety limits), `references` (policies vs access/).
The commands call three seams:
- `plan_options(policies)`: unmanaged-account handling, protected principals, deprovisioning;
- `check_desired(desired, policies, today)`: findings about the YAML alone (validate, and every plan);
- `check_plan(plan, desired, policies, today)`: the plan with protected resources left out, policy
  findings added (the desired-state ones included) and, per change, who may approve it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from reconciler.changes import Finding, Plan, Severity
from reconciler.policy_model import Policies
from reconciler.records import AccessSet
from reconciler.rules import (
    approval,
    expiry,
    limits,
    privileged,
    protected,
    references,
    seats,
    separation_of_duties,
)
from reconciler.vendors import VENDORS

if TYPE_CHECKING:  # (`validate` checks the YAML and plans nothing: the planner is imported to plan)
    from reconciler.planner import PlanOptions, UnmanagedMode

_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def plan_options(policies: Policies) -> PlanOptions:
    from reconciler.planner import PlanOptions

    rules = {vendor: policies.unmanaged_accounts.rule(vendor) for vendor in VENDORS}
    unmanaged: dict[str, UnmanagedMode] = {vendor: rule.mode for vendor, rule in rules.items()}
    return PlanOptions(
        unmanaged=unmanaged,
        protected=frozenset(p.casefold() for p in policies.protected.principals),
        deprovision={vendor: rule.deprovision for vendor, rule in rules.items() if rule.mode == "deactivate"},
    )


def check_desired(desired: AccessSet, policies: Policies, today: dt.date) -> list[Finding]:
    return sort_findings(
        [
            *references.check(desired, policies),
            *approval.check_rules(desired, policies),
            *separation_of_duties.check(desired, policies),
            *privileged.check(desired, policies, today),
            *protected.check_desired(desired, policies),
            *expiry.check(desired, policies, today),
        ]
    )


def check_plan(plan: Plan, desired: AccessSet, policies: Policies, today: dt.date) -> Plan:
    changes, dropped = protected.drop_protected(plan, policies)
    plan = seats.recount(dataclasses.replace(plan, changes=changes), policies.seats)
    requirements = approval.plan_requirements(desired, policies)
    findings = [
        *plan.findings,
        *dropped,
        *check_desired(desired, policies, today),
        *approval.check_plan(plan, desired, policies, requirements),
        *limits.plan_findings(plan, policies.limits),
        *seats.budget_findings(plan, policies.seats, {v: policies.where("seats", v) for v in VENDORS}),
    ]
    return dataclasses.replace(
        plan,
        findings=tuple(sort_findings(findings)),
        approvers={**plan.approvers, **approval.approvers_by_change(plan, desired, policies, requirements)},
    )


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    unique = dict.fromkeys(findings)
    return sorted(
        unique, key=lambda f: (_ORDER[f.severity], f.vendor, f.code, f.source, f.principal, f.message)
    )
