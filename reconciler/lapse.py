"""Lapse on no response, at the edge: the committed day each line was written, read from git.

`recertification.lapses` decides (pure); this module gives it the day each member line was last
written on main (git blame of the first-parent history, never the clock) and turns its answer
into what `plan` and `apply` use: the desired set without the lapsed lines, and a finding per line
that lapses within its rule's `notice_days`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from reconciler.changes import Finding, Severity
from reconciler.location import Location
from reconciler.policy_model import Policies, RecertificationRule
from reconciler.provenance import History
from reconciler.recertification import Lapse, lapses, without_lapsed
from reconciler.records import AccessSet

CODE = "lapse-warning"


def lapsed(
    repo: Path, access: AccessSet, policies: Policies, today: dt.date
) -> tuple[AccessSet, list[Lapse]]:
    """`access` without the lines lapsed by `today`, and those lines."""
    if not _revoking(policies):
        return access, []
    found = lapses(access, policies, today, _written(repo))
    return without_lapsed(access, found), found


def lapse_findings(repo: Path, access: AccessSet, policies: Policies, today: dt.date) -> list[Finding]:
    """A warning per line that lapses within its rule's `notice_days` (not yet lapsed)."""
    window = max((rule.notice_days for rule in _revoking(policies)), default=0)
    if not window:
        return []
    findings: list[Finding] = []
    for lapse in lapses(access, policies, today, _written(repo), within_days=window + 1):
        days = (lapse.deadline - today).days
        if days < 0 or days > policies.recertification[lapse.rule].notice_days:
            continue
        first = lapse.grants[0]
        people = f"{len(lapse.grants)} grants" if len(lapse.grants) > 1 else first.principal
        findings.append(
            Finding(
                Severity.WARNING,
                CODE,
                f"{lapse.source or 'held value'}: {people} on {first.vendor} {first.resource_type} {first.resource!r} lapse after "
                f"{lapse.deadline.isoformat()} ({days} day(s)): {lapse.why()}",
                vendor=first.vendor,
                source=str(lapse.source or ""),
                hint="merge the recertification pull request (or set `certified:` through a reviewed change)",
            )
        )
    return findings


def _revoking(policies: Policies) -> list[RecertificationRule]:
    return [rule for rule in policies.recertification.values() if rule.on_no_response == "revoke"]


def _written(repo: Path) -> Callable[[Location], dt.date | None]:
    history = History.open(repo)

    def written(where: Location) -> dt.date | None:
        if history is None:
            return None
        commit = history.blame(where.file).get(where.line)
        if commit is None or not commit.date or set(commit.sha) == {"0"}:
            return None  # not committed: no day to count from
        return dt.date.fromisoformat(commit.date[:10])

    return written
