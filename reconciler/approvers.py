"""Who may approve a change (pure). Placeholder until issue #7: any reviewer but the beneficiary."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.changes import Change
from reconciler.policy_model import Policies
from reconciler.records import AccessSet


@dataclass(frozen=True, slots=True)
class Requirement:
    """One approval rule a change must satisfy. Empty `approvers` means any reviewer may approve."""

    rule: str
    minimum: int
    approvers: frozenset[str]  # GitHub logins
    description: str  # for people: "2 of team finance"


def requirements_for(change: Change, policies: Policies, desired: AccessSet) -> tuple[Requirement, ...]:
    return (Requirement("default", 1, frozenset(), "any reviewer other than the author"),)
