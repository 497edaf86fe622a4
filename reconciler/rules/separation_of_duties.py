"""Separation of duties: entitlements one person must not hold together, across vendors too.

Checked on the desired state (what the YAML grants and has not expired): a person is one
principal (the casefolded email) at every vendor, so a Concur role and a PingOne group meet.
"""

from __future__ import annotations

from collections import defaultdict

from reconciler.changes import Finding, Severity
from reconciler.policy_model import Policies, SeparationRule
from reconciler.records import AccessSet, Grant
from reconciler.rules.matching import describe_grant, grant_matches, matching_grants
from reconciler.rules.sources import grant_source, person_name

CODE = "separation-of-duties"


def check(desired: AccessSet, policies: Policies) -> list[Finding]:
    findings: list[Finding] = []
    for name, rule in policies.separation_of_duties.items():
        # Only the grants a rule names can conflict: group those, not every grant.
        held: dict[str, list[Grant]] = defaultdict(list)
        for grant in matching_grants(desired.grants, rule.conflicting):
            held[grant.principal].append(grant)
        for principal in sorted(held):
            finding = _conflict(
                name, rule, desired, sorted(held[principal], key=lambda g: grant_source(desired, g))
            )
            if finding is not None:
                findings.append(finding)
    return findings


def _conflict(name: str, rule: SeparationRule, desired: AccessSet, grants: list[Grant]) -> Finding | None:
    hits: list[Grant] = []
    for match in rule.conflicting:
        found = next((g for g in grants if grant_matches(match, g)), None)
        if found is not None and found not in hits:
            hits.append(found)
    if len(hits) < 2:
        return None
    held = " and ".join(f"{describe_grant(g)} ({grant_source(desired, g)})" for g in hits)
    why = f": {rule.description}" if rule.description else ""
    return Finding(
        Severity(rule.severity),
        f"{CODE}/{name}",
        f"{person_name(desired, hits[-1])} would hold {held},"
        f" which separation-of-duties rule {name!r} forbids{why}",
        vendor=hits[-1].vendor,
        principal=hits[-1].principal,
        source=grant_source(desired, hits[-1]),
        hint="remove all but one of these assignments",
    )
