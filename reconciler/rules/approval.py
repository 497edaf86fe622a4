"""Approver rules in the plan: who may approve each change, and rules nobody can satisfy."""

from __future__ import annotations

from itertools import compress
from operator import attrgetter

from reconciler import approvers as approver_rules
from reconciler.changes import Finding, Plan, Severity
from reconciler.policy_model import Policies
from reconciler.records import AccessSet
from reconciler.render.words import target, who

CODE = "approvers"
_ID = attrgetter("id")
_DESCRIPTIONS = attrgetter("descriptions")
_FINDINGS = attrgetter("findings")


def plan_requirements(desired: AccessSet, policies: Policies) -> approver_rules.PlanRequirements:
    """What `check_plan` and `approvers_by_change` share: each kind of change decided once."""
    return approver_rules.PlanRequirements(policies, desired)


def approvers_by_change(
    plan: Plan,
    desired: AccessSet,
    policies: Policies,
    requirements: approver_rules.PlanRequirements | None = None,
) -> dict[str, tuple[str, ...]]:
    """Who may approve each change, for people: change id -> one description per requirement.
    (Changes of the same kind share one tuple.) Pass the `requirements` `check_plan` used."""
    requirements = requirements or plan_requirements(desired, policies)
    descriptions = list(map(_DESCRIPTIONS, requirements.decide_all(plan.changes)))
    return dict(compress(zip(map(_ID, plan.changes), descriptions, strict=True), descriptions))


def check_plan(
    plan: Plan,
    desired: AccessSet,
    policies: Policies,
    requirements: approver_rules.PlanRequirements | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    gaps: set[tuple[str, str]] = set()
    requirements = requirements or plan_requirements(desired, policies)
    decided_all = requirements.decide_all(plan.changes)
    worth_a_finding = map(_FINDINGS, decided_all)  # nearly no change is
    for change, decided in compress(zip(plan.changes, decided_all, strict=True), worth_a_finding):
        for requirement in decided.unsatisfiable:
            findings.append(
                Finding(
                    Severity.WARNING, f"{CODE}/{requirement.rule}",
                    f"{who(change)}: {change.action} {target(change)} needs {requirement.minimum} approval(s)"
                    f" from {', '.join(requirement.names)} (rule {requirement.rule!r}), but only"
                    f" {len(requirement.approvers)} person(s) other than its beneficiary can give them",
                    vendor=change.vendor, principal=change.principal, source=change.source,
                    hint=f"add people with `github` logins to approvers.{requirement.rule}, or lower minimum",
                )
            )  # fmt: skip
        for name in decided.gaps:
            if (name, change.resource) in gaps:
                continue
            gaps.add((name, change.resource))
            findings.append(
                Finding(
                    Severity.WARNING, f"{CODE}/{name}",
                    f"{target(change)}: approver rule {name!r} lists no owner for {change.resource!r},"
                    " so changes to it need only the default approval",
                    vendor=change.vendor, source=policies.where("approvers", name, "owners"),
                    hint=f"add {change.resource!r} under approvers.{name}.owners",
                )
            )  # fmt: skip
    return findings


def check_rules(desired: AccessSet, policies: Policies) -> list[Finding]:
    """Rules that ask for more approvals than the people they name can give."""
    findings: list[Finding] = []
    if not policies.approvers:
        return findings  # (no rule: the people's directory is not made)
    people = approver_rules.directory(desired)
    for name, rule in policies.approvers.items():
        groups = [("approvers", rule.approvers)] if rule.approvers else []
        groups += [(f"owners.{resource}", owners) for resource, owners in rule.owners.items()]
        for label, names in groups:
            logins = people.logins(names)
            if len(logins) < rule.minimum:
                path = ("approvers", name, *label.split(".", 1))
                findings.append(
                    Finding(
                        Severity.WARNING, f"{CODE}/{name}",
                        f"approvers.{name}.{label}: minimum is {rule.minimum} but only {len(logins)} of"
                        f" {', '.join(names)} can approve",
                        source=policies.where(*path),
                        hint="name more approvers (with a `github` login in access/) or lower the minimum",
                    )
                )  # fmt: skip
    return findings
