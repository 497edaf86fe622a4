"""Who may approve a change (pure): the approver rules of `policies/` applied to one change.

Every rule whose `match` and `actions` cover the change must be satisfied; a change no rule covers
needs `default_approval.minimum` approvals by anyone other than the author. The person the change
gives access to (its beneficiary) never counts as an approver of it. Revocations and deactivations
need no approval unless a rule lists those actions: they restore approved state.

Approvers are written as people or teams (keys in access/) or `@github-login`; they resolve to
GitHub logins through each person's `github`. Logins compare ignoring case, as GitHub's do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.changes import Change
from reconciler.policy_model import ApproverRule, Policies
from reconciler.records import AccessSet, Person
from reconciler.rules.matching import change_matches

DEFAULT_RULE = "default"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One approval rule a change must satisfy. Empty `approvers` means any reviewer may approve."""

    rule: str
    minimum: int
    approvers: frozenset[str]  # GitHub logins
    description: str  # for people: "1 of finance: @ewalsh, @fosei"
    names: tuple[str, ...] = ()  # the people and teams the rule names, as written

    def met(self, approved_by: Iterable[str]) -> bool:
        """Whether these GitHub logins (already excluding the author and beneficiary) satisfy it."""
        given = {login.casefold() for login in approved_by}
        if self.approvers:
            given &= {login.casefold() for login in self.approvers}
        return len(given) >= self.minimum

    @property
    def satisfiable(self) -> bool:
        return (not self.approvers and not self.names) or len(self.approvers) >= self.minimum


def beneficiary_login(change: Change, desired: AccessSet) -> str | None:
    """The GitHub login of the person whose principal the change targets, if they have one."""
    person = desired.people.get(change.principal)
    return person.github or None if person is not None else None


def requirements_for(change: Change, policies: Policies, desired: AccessSet) -> tuple[Requirement, ...]:
    beneficiary = (beneficiary_login(change, desired) or "").casefold()
    found: list[Requirement] = []
    for name, rule in policies.approvers.items():
        names = covering_names(rule, change)
        if names is None:
            continue
        logins = frozenset(
            login for login in resolve_logins(names, desired.people) if login.casefold() != beneficiary
        )
        found.append(
            Requirement(name, rule.minimum, logins, describe(rule.minimum, names, logins), tuple(names))
        )
    default = policies.default_approval
    if not found and change.action in default.actions and default.minimum > 0:
        who = "reviewer" if default.minimum == 1 else "reviewers"
        found.append(
            Requirement(
                DEFAULT_RULE, default.minimum, frozenset(), f"{default.minimum} {who} other than the author"
            )
        )
    return tuple(found)


def covering_names(rule: ApproverRule, change: Change) -> list[str] | None:
    """The approver names `rule` gives for `change`, or None when the rule does not cover it."""
    if change.action not in rule.actions or not any(change_matches(m, change) for m in rule.match):
        return None
    return rule.approvers_for(change.resource)


def resolve_logins(names: Iterable[str], people: Mapping[str, Person]) -> set[str]:
    by_key = {p.key: p for p in people.values()}
    logins: set[str] = set()
    for name in names:
        if name.startswith("@"):
            logins.add(name[1:])
        elif name in by_key:
            if by_key[name].github:
                logins.add(by_key[name].github)
        else:
            logins.update(p.github for p in by_key.values() if name in p.teams and p.github)
    return logins


def describe(minimum: int, names: Iterable[str], logins: Iterable[str]) -> str:
    eligible = ", ".join(f"@{login}" for login in sorted(logins, key=str.casefold)) or "nobody eligible"
    return f"{minimum} of {', '.join(names)}: {eligible}"
