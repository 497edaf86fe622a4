"""Who may approve a change (pure): the approver rules of `policies/` applied to one change.

Every rule whose `match` and `actions` cover the change must be satisfied; a change no rule covers
needs `default_approval.minimum` approvals by anyone other than the author. The person the change
gives access to (its beneficiary) never counts as an approver of it. Revocations and deactivations
need no approval unless a rule lists those actions: they restore approved state.

Approvers are written as people or teams (keys in access/) or `@github-login`; they resolve to
GitHub logins through each person's `github`. Logins compare ignoring case, as GitHub's do.

Changes to `policies/`, and to whom the approver rules resolve (team memberships, GitHub logins),
need the **policy owners**: `policy_owners` in `policies/`, or, when none is configured, the
approvers of every approver rule in force (each rule's minimum from its own approvers), or, with
no rules at all, the default approval.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress
from operator import attrgetter

from reconciler.changes import Action, Change
from reconciler.policy_model import ApproverRule, Policies
from reconciler.records import AccessSet, Person
from reconciler.rules.matching import change_matches

DEFAULT_RULE = "default"
POLICY_OWNERS_RULE = "policy-owners"


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


@dataclass
class Directory:
    """People and teams → GitHub logins, indexed once per desired state (not once per change)."""

    people: Mapping[str, Person]
    _by_key: dict[str, str] = field(default_factory=dict)  # person key -> GitHub login ("" if none)
    _by_team: dict[str, set[str]] = field(default_factory=dict)
    _resolved: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        people = list(self.people.values())
        self._by_key.update(zip(map(_KEY, people), map(_GITHUB, people), strict=True))
        for team in set(chain.from_iterable(map(_TEAMS, people))):  # every team, with or without logins
            self._by_team.setdefault(team, set())
        # Only the people with a GitHub login add one to their teams (a few among 100,000).
        for person in compress(people, map(_GITHUB, people)):
            for team in person.teams:
                self._by_team[team].add(person.github)

    def logins(self, names: Iterable[str]) -> frozenset[str]:
        key = tuple(names)
        found = self._resolved.get(key)
        if found is None:
            logins: set[str] = set()
            for name in key:
                if name.startswith("@"):
                    logins.add(name[1:])
                elif name in self._by_key:
                    if self._by_key[name]:
                        logins.add(self._by_key[name])
                else:
                    logins |= self._by_team.get(name, set())
            found = self._resolved[key] = frozenset(logins)
        return found


_KEY = attrgetter("key")
_GITHUB = attrgetter("github")
_TEAMS = attrgetter("teams")


def directory(desired: AccessSet) -> Directory:
    """The directory of `desired`'s people (made once for them: a plan's checks ask more than once)."""
    if not _LAST or _LAST[0][0] is not desired.people:
        _LAST[:] = [(desired.people, Directory(desired.people))]
    return _LAST[0][1]


_LAST: list[tuple[Mapping[str, Person], Directory]] = []


def beneficiary_login(change: Change, desired: AccessSet) -> str | None:
    """The GitHub login of the person whose principal the change targets, if they have one."""
    person = desired.people.get(change.principal)
    return person.github or None if person is not None else None


def requirements_for(
    change: Change, policies: Policies, desired: AccessSet, people: Directory | None = None
) -> tuple[Requirement, ...]:
    """Every requirement `change` must meet. Pass one `Directory` when asking for many changes
    (or use `PlanRequirements`, which decides each distinct kind of change once)."""
    people = people or directory(desired)
    return _requirements(change, policies, people, (beneficiary_login(change, desired) or "").casefold())


def _requirements(
    change: Change, policies: Policies, people: Directory | None, beneficiary: str | None
) -> tuple[Requirement, ...]:
    """`beneficiary`: the folded GitHub login that may not approve; None leaves every login in.
    `people`: None only when there are no approver rules (it is asked of no one then)."""
    found: list[Requirement] = []
    for name, rule in policies.approvers.items():
        names = covering_names(rule, change)
        if names is None:
            continue
        assert people is not None  # (approver rules: the caller passes the directory)
        logins = frozenset(login for login in people.logins(names) if login.casefold() != beneficiary)
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


@dataclass(frozen=True, slots=True)
class Decided:
    """What a plan shows of one change's requirements, shared by every change of the same kind."""

    requirements: tuple[Requirement, ...]
    descriptions: tuple[str, ...]  # for people, one per requirement
    unsatisfiable: tuple[Requirement, ...]  # those that too few people can meet
    approvers: frozenset[str]  # every login the requirements name, folded
    gaps: tuple[str, ...] = ()  # owner rules that cover the change but name nobody for its resource
    findings: bool = False  # whether the plan warns about the change: unsatisfiable, or gaps


# What the approver rules look at in a change, beside its beneficiary.
_KIND = attrgetter("action", "vendor", "tenant", "resource_type", "resource", "entitlement")


class PlanRequirements:
    """`requirements_for` over the many changes of a plan (130,000 when onboarding 10,000 people).

    The rules read a change's action, vendor, tenant, resource type, resource and entitlement, and
    its beneficiary: the first six are decided once per distinct combination (a plan has a few
    hundred), and a change's beneficiary makes its requirements its own only when the rules name
    that person's GitHub login (then they are left out, as `requirements_for` does).
    """

    def __init__(self, policies: Policies, desired: AccessSet, people: Directory | None = None) -> None:
        self.policies = policies
        self.desired = desired
        self._people = people
        self._kinds = _Kinds(self)
        self._own: dict[tuple[tuple[str, ...], str], Decided] = {}
        self._last: tuple[Sequence[Change], list[Decided]] | None = None

    @property
    def people(self) -> Directory:
        """The directory the rules resolve names in (made when a rule first asks: without approver
        rules, never, and 100,000 people are not indexed for nothing)."""
        if self._people is None:
            self._people = directory(self.desired)
        return self._people

    def decide_all(self, changes: Sequence[Change]) -> list[Decided]:
        """`[decide(c) for c in changes]` in C-level passes over the changes (the last answer is
        kept: the plan's checks and its approvers map ask for the same changes)."""
        if self._last is not None and self._last[0] is changes:
            return self._last[1]
        decided = list(map(self._kinds.__getitem__, map(_KIND, changes)))
        if any(d.approvers for d in self._kinds.values()):  # a beneficiary may be among them
            decided = [self.decide(c) if d.approvers else d for c, d in zip(changes, decided, strict=True)]
        self._last = (changes, decided)
        return decided

    def decide(self, change: Change) -> Decided:
        kind = _KIND(change)
        decided = self._kinds[kind]
        if decided.approvers:
            beneficiary = (beneficiary_login(change, self.desired) or "").casefold()
            if beneficiary in decided.approvers:
                own = self._own.get((kind, beneficiary))
                if own is None:
                    own = self._own[(kind, beneficiary)] = self.decided(change, beneficiary, decided.gaps)
                return own
        return decided

    def decided(self, change: Change, beneficiary: str | None, gaps: tuple[str, ...]) -> Decided:
        requirements = _requirements(
            change, self.policies, self.people if self.policies.approvers else None, beneficiary
        )
        unsatisfiable = tuple(r for r in requirements if not r.satisfiable)
        return Decided(
            requirements,
            tuple(r.description for r in requirements),
            unsatisfiable,
            frozenset(login.casefold() for r in requirements for login in r.approvers),
            gaps,
            bool(unsatisfiable or gaps),
        )

    def gaps(self, change: Change) -> tuple[str, ...]:
        return tuple(
            name
            for name, rule in self.policies.approvers.items()
            if not rule.approvers
            and change.action in rule.actions
            and any(change_matches(m, change) for m in rule.match)
            and rule.approvers_for(change.resource) is None
        )


class _Kinds(dict[tuple[str, ...], Decided]):
    """A kind of change (`_KIND`) -> its decision, made on first use."""

    def __init__(self, requirements: PlanRequirements) -> None:
        super().__init__()
        self.requirements = requirements

    def __missing__(self, kind: tuple[str, ...]) -> Decided:
        action, vendor, tenant, rtype, resource, entitlement = kind
        change = Change(
            "", vendor, Action(action), tenant, "", rtype, resource, entitlement
        )  # what rules read
        found = self[kind] = self.requirements.decided(change, None, self.requirements.gaps(change))
        return found


def covering_names(rule: ApproverRule, change: Change) -> list[str] | None:
    """The approver names `rule` gives for `change`, or None when the rule does not cover it."""
    if change.action not in rule.actions or not any(change_matches(m, change) for m in rule.match):
        return None
    return rule.approvers_for(change.resource)


def resolve_logins(names: Iterable[str], people: Mapping[str, Person]) -> set[str]:
    return set(Directory(people).logins(names))


def describe(minimum: int, names: Iterable[str], logins: Iterable[str]) -> str:
    eligible = ", ".join(f"@{login}" for login in sorted(logins, key=str.casefold)) or "nobody eligible"
    return f"{minimum} of {', '.join(names)}: {eligible}"


def _rule_names(rule: ApproverRule) -> list[str]:
    names = list(rule.approvers)
    for owners in rule.owners.values():
        names += owners
    return list(dict.fromkeys(names))


def policy_owner_requirements(policies: Policies, desired: AccessSet) -> tuple[Requirement, ...]:
    """Who must approve a change to policies/ or to an approver team (read at the apply point)."""
    people = directory(desired)
    owners = policies.policy_owners
    if owners is not None:
        logins = people.logins(owners.approvers)
        return (
            Requirement(
                POLICY_OWNERS_RULE,
                owners.minimum,
                logins,
                describe(owners.minimum, owners.approvers, logins),
                tuple(owners.approvers),
            ),
        )
    found: list[Requirement] = []
    for name, rule in policies.approvers.items():
        names = _rule_names(rule)
        logins = people.logins(names)
        found.append(
            Requirement(
                f"{POLICY_OWNERS_RULE} ({name})",
                rule.minimum,
                logins,
                f"the approvers of rule {name!r}: {describe(rule.minimum, names, logins)}",
                tuple(names),
            )
        )
    if not found:
        minimum = max(1, policies.default_approval.minimum)
        found.append(Requirement(POLICY_OWNERS_RULE, minimum, frozenset(), f"{minimum} reviewer(s)"))
    return tuple(found)


def governance_fingerprint(policies_tree: str, policies: Policies, desired: AccessSet) -> str:
    """What decides who approves: the policies/ files, and whom each rule's names resolve to."""
    people = directory(desired)
    resolved: dict[str, list[str]] = {}
    for name, rule in policies.approvers.items():
        resolved[f"rule:{name}"] = sorted(people.logins(_rule_names(rule)), key=str.casefold)
    if policies.policy_owners is not None:
        resolved["policy_owners"] = sorted(people.logins(policies.policy_owners.approvers), key=str.casefold)
    text = json.dumps({"policies": policies_tree, "resolved": resolved}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
