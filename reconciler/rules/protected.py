"""Protected resources: the tool never changes them. (Protected principals live in the planner:
`PlanOptions.protected` keeps their revocations and deactivations out of every plan.)"""

from __future__ import annotations

from operator import attrgetter

from reconciler.changes import Change, Finding, Plan, Severity
from reconciler.policy_model import Match, Policies
from reconciler.records import AccessSet
from reconciler.render.words import target, who
from reconciler.rules.matching import change_matches, describe_grant, matching_grants
from reconciler.rules.sources import grant_source, person_name
from reconciler.vendors import vendor_label

CODE = "protected"
# What `protecting` looks at in a change (`change_matches`, and whether it is an account change).
_KIND = attrgetter("vendor", "tenant", "resource_type", "resource", "entitlement")


def check_desired(desired: AccessSet, policies: Policies) -> list[Finding]:
    """Assignments the YAML makes on a protected resource: they will never be applied."""
    findings: list[Finding] = []
    for index, match in enumerate(policies.protected.resources):
        matched = matching_grants(desired.grants, [match])
        for grant in sorted(matched, key=lambda g: (grant_source(desired, g), g)):
            findings.append(
                Finding(
                    Severity.WARNING,
                    CODE,
                    f"{person_name(desired, grant)}: {describe_grant(grant)} is on a protected resource"
                    f" ({policies.where('protected', 'resources', index)}); the tool never changes it",
                    vendor=grant.vendor,
                    principal=grant.principal,
                    source=grant_source(desired, grant),
                    hint="remove the assignment from access/, or the resource from protected.resources",
                )
            )
    return findings


def protecting(change: Change, policies: Policies) -> tuple[int, Match] | None:
    for index, match in enumerate(policies.protected.resources):
        if not change.is_account_change and change_matches(match, change):
            return index, match
    return None


def drop_protected(plan: Plan, policies: Policies) -> tuple[tuple[Change, ...], list[Finding]]:
    """The plan's changes without those touching a protected resource, and a note for each left out."""
    if not policies.protected.resources:
        return plan.changes, []
    kept: list[Change] = []
    findings: list[Finding] = []
    decided: dict[tuple[str, ...], tuple[int, Match] | None] = {}  # per kind of change: a plan has few
    for change in plan.changes:
        kind = _KIND(change)
        if kind in decided:
            found = decided[kind]
        else:
            found = decided[kind] = protecting(change, policies)
        if found is None:
            kept.append(change)
            continue
        index, _ = found
        findings.append(
            Finding(
                Severity.INFO,
                CODE,
                f"{vendor_label(change.vendor)}: {change.action} {target(change)} for {who(change)} is left out:"
                f" the resource is protected ({policies.where('protected', 'resources', index)})",
                vendor=change.vendor,
                principal=change.principal,
                source=change.source,
            )
        )
    return tuple(kept), findings
