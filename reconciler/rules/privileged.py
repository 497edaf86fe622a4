"""Time-bound privileged access: matching grants carry `expires` within N days and a ticket `reason`."""

from __future__ import annotations

import datetime as dt
import re

from reconciler.changes import Finding, Severity
from reconciler.policy_model import Policies, PrivilegedRule
from reconciler.records import AccessSet, Grant
from reconciler.rules.matching import describe_grant, matching_grants
from reconciler.rules.sources import grant_source, person_name

CODE = "privileged"


def check(desired: AccessSet, policies: Policies, today: dt.date) -> list[Finding]:
    findings: list[Finding] = []
    for name, rule in policies.privileged.items():
        matched = matching_grants(desired.grants, rule.entitlements)
        for grant in sorted(matched, key=lambda g: (grant_source(desired, g), g)):
            finding = _check_grant(name, rule, desired, grant, today)
            if finding is not None:
                findings.append(finding)
    return findings


def _check_grant(
    name: str, rule: PrivilegedRule, desired: AccessSet, grant: Grant, today: dt.date
) -> Finding | None:
    provenance = desired.provenance.get(grant)
    expires = provenance.expires if provenance else ""
    reason = provenance.reason if provenance else ""
    latest = today + dt.timedelta(days=rule.max_days)
    problems: list[str] = []
    if not expires:
        problems.append("has no `expires`")
    elif dt.date.fromisoformat(expires[:10]) > latest:
        problems.append(f"expires {expires[:10]}, more than {rule.max_days} days away")
    if not reason:
        problems.append("has no `reason`")
    elif not re.search(rule.reason_pattern, reason):
        problems.append(f"has reason {reason!r}, which does not match {rule.reason_pattern!r}")
    if not problems:
        return None
    return Finding(
        Severity(rule.severity),
        f"{CODE}/{name}",
        f"{person_name(desired, grant)}: {describe_grant(grant)} is privileged (rule {name!r}) but "
        + " and ".join(problems),
        vendor=grant.vendor,
        principal=grant.principal,
        source=grant_source(desired, grant),
        hint=f"write it as `{{expires: <{latest.isoformat()} or earlier>, reason: <ticket id>}}`",
    )
