"""Policy evaluation: pure functions of desired state, the plan and the policies.

Seams used by the commands (issue #7 implements them):
- `plan_options(policies)`: unmanaged-account handling, protected principals, deprovisioning;
- `check_desired(desired, policies, today)`: findings about the YAML alone (validate and plan);
- `check_plan(plan, desired, policies, today)`: the plan with policy findings and approvers added.
"""

from __future__ import annotations

import datetime as dt

from reconciler.changes import Finding, Plan
from reconciler.planner import PlanOptions
from reconciler.policy_model import Policies
from reconciler.records import AccessSet


def plan_options(policies: Policies) -> PlanOptions:
    return PlanOptions()


def check_desired(desired: AccessSet, policies: Policies, today: dt.date) -> list[Finding]:
    return []


def check_plan(plan: Plan, desired: AccessSet, policies: Policies, today: dt.date) -> Plan:
    return plan
