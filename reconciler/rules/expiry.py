"""Expiry warnings: assignments that lapse within N days are listed in every plan."""

from __future__ import annotations

import datetime as dt
from itertools import compress
from operator import attrgetter

from reconciler.changes import Finding, Severity
from reconciler.line_grants import LineGrants
from reconciler.policy_model import Policies
from reconciler.records import AccessSet, Grant, Provenance
from reconciler.rules.matching import describe_grant
from reconciler.rules.sources import grant_source, person_name

CODE = "expiry-warning"
_EXPIRES = attrgetter("expires")


def check(desired: AccessSet, policies: Policies, today: dt.date) -> list[Finding]:
    window = policies.expiry_warnings.within_days
    findings: list[Finding] = []
    # Only what carries `expires` is sorted and looked at: usually a handful among a million grants.
    lines = desired.provenance
    expiring: list[tuple[Grant, Provenance]]
    if isinstance(lines, LineGrants):  # normalize's: only the lines that set `expires`
        expiring = list(lines.items_where(_EXPIRES))
    else:
        dated = compress(lines.items(), map(_EXPIRES, lines.values()))
        expiring = [(g, p) for g, p in dated if isinstance(g, Grant) and g in desired.grants]
    expiring.sort(key=lambda item: (grant_source(desired, item[0]), item[0]))
    for grant, provenance in expiring:
        last_day = dt.date.fromisoformat(provenance.expires[:10])
        days = (last_day - today).days
        if not 0 <= days <= window:
            continue
        when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
        findings.append(
            Finding(
                Severity.WARNING,
                CODE,
                f"{person_name(desired, grant)}: {describe_grant(grant)}"
                f" expires {provenance.expires} ({when})",
                vendor=grant.vendor,
                principal=grant.principal,
                source=grant_source(desired, grant),
                hint="extend `expires` (with a reason) if it is still needed; it is revoked after that day",
            )
        )
    return findings
