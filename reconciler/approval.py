"""The approval decision (pure): live changes + the history of `main` + pull-request reviews → verdicts.

Nothing here trusts what a repository writer can rewrite (comments, labels, check runs, artifacts,
anything a workflow running a pull request's code produces). The facts are:

- **the chain**: the apply point, then every commit on `main`'s first-parent line since it that
  changed `access/` or `policies/`, each with the identities of the plan its desired state gives
  against today's actual state (`StateFacts.digests`), and the merged pull request that landed it;
- **each merged pull request**: its author, final head commit, merge time, what it *asked for*
  (`requested`: the plan of its head minus the plan of its merge base, against the same actual
  state) and its reviews (reviewer, state, commit, time, association).

A change in the live plan is
- `restores` when it is in the plan of *every* state of the chain, the apply point included: a
  drift repair, an expiry, a re-grant of access that stayed approved all along (an older, replayed
  apply point only makes the chain longer, never turns a request into a restore);
- `not-required` when it removes access and no approver rule covers it;
- `approved` when the commit that last brought it into the plan landed through a merged pull
  request that asked for it (so a change slipped into a merge commit is not), and whose counted
  approvals satisfy every requirement of the change, read at the apply point;
- `held` otherwise, naming the rule and who could approve.

An approval counts when it is the reviewer's latest verdict, on the pull request's final head,
submitted before the merge, by a member of the repository (not a bot, not an outside reviewer),
other than the author (or whoever its commits name in a `Requested-by:` trailer) and, for
access-giving changes, other than the person receiving the access.

Governance: when `policies/`, or who the approver rules resolve to (team memberships and GitHub
logins), differ between the apply point and HEAD, the commit that last changed them must have
landed through a pull request approved by the policy owners (read at the apply point); otherwise
everything but restores is held.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.approvers import Requirement
from reconciler.changes import Action, Change, change_identity

_DIGEST_BYTES = 8
# A reviewer's latest review among these decides; COMMENTED and PENDING do not change a verdict.
_VERDICT_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})
# GitHub's author_association values of people with write access (or more) to the repository.
MEMBER_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_GRANTING = frozenset({Action.GRANT, Action.CREATE_ACCOUNT, Action.UPDATE})


def identity_digest(change: Change) -> str:
    """A short digest of what a change does (its identity)."""
    return hashlib.sha256(change_identity(change).encode()).hexdigest()[: _DIGEST_BYTES * 2]


# ---------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True)
class ReviewFact:
    user: str | None
    state: str
    commit_id: str | None
    submitted_at: dt.datetime | None
    association: str = "MEMBER"  # GitHub's author_association of the reviewer
    bot: bool = False


@dataclass(frozen=True, slots=True)
class PullFacts:
    """A merged pull request that landed commits on `main` since the apply point."""

    number: int
    author: str | None
    head_sha: str
    merged_at: dt.datetime | None
    reviews: tuple[ReviewFact, ...] = ()
    requested: frozenset[str] | None = None  # plan(head) - plan(merge base); None: head unreadable
    governance: str | None = None  # the governance fingerprint of its head
    url: str = ""
    problem: str = ""  # why `requested` is None
    committers: tuple[str, ...] = ()  # GitHub logins its commits name as `Requested-by:` (a bot's PR)

    @property
    def requesters(self) -> frozenset[str]:
        """Who asked: the author, and whoever its commits say requested it. None of them may approve."""
        return frozenset(_fold(x) for x in (self.author, *self.committers) if x)


@dataclass(frozen=True, slots=True)
class StateFacts:
    """One state of `main`: the apply point (index 0), or a commit that changed access/ or policies/."""

    sha: str
    digests: frozenset[str] | None  # None: access/ or policies/ does not load at this commit
    governance: str
    pull: int | None = None  # the merged pull request that landed it; None: pushed directly
    note: str = ""  # for an unattributed commit: what GitHub knows of it (e.g. "PR #4 was closed")
    unmerged: tuple[int, ...] = ()  # pull requests that contain it but did not land it here


@dataclass(frozen=True, slots=True)
class GateFacts:
    chain: tuple[StateFacts, ...]  # oldest first; chain[0] is the apply point
    pulls: Mapping[int, PullFacts] = field(default_factory=dict)

    @property
    def since(self) -> str:
        return self.chain[0].sha

    @property
    def commits(self) -> tuple[StateFacts, ...]:
        return self.chain[1:]

    @property
    def direct_pushes(self) -> tuple[str, ...]:
        return tuple(c.sha for c in self.commits if c.pull is None)


@dataclass(frozen=True, slots=True)
class Approvals:
    """The approvals of one pull request that count, and why the others do not."""

    valid: tuple[str, ...]  # GitHub logins
    problems: tuple[str, ...]  # e.g. "bob's approval was on a1b2c3d, before later pushes"
    at: Mapping[str, dt.datetime | None] = field(default_factory=dict)  # login (folded) -> when


def _fold(login: str | None) -> str:
    return (login or "").casefold()


def counted_approvals(pull: PullFacts) -> Approvals:
    """The reviewer's latest verdict, on the final head, before the merge, by a repository member."""
    latest: dict[str, ReviewFact] = {}
    for review in pull.reviews:
        if review.user and review.state in _VERDICT_STATES:
            latest[_fold(review.user)] = review
    valid: list[str] = []
    problems: list[str] = []
    at: dict[str, dt.datetime | None] = {}
    for review in latest.values():
        user = review.user or ""
        if review.state != "APPROVED":
            continue
        if review.bot or user.endswith("[bot]"):
            problems.append(f"{user} is a bot: its approval does not count")
        elif review.association not in MEMBER_ASSOCIATIONS:
            problems.append(
                f"{user} is not a member of the repository ({review.association}): the approval does not count"
            )
        elif _fold(user) in pull.requesters:
            problems.append(f"{user} approved their own pull request: it does not count")
        elif review.commit_id != pull.head_sha:
            problems.append(
                f"{user}'s approval was given on {(review.commit_id or '?')[:7]}, before later pushes "
                f"(head is {pull.head_sha[:7]}): a stale approval does not count"
            )
        elif review.submitted_at is None or (
            pull.merged_at is not None and review.submitted_at > pull.merged_at
        ):
            problems.append(f"{user} approved after the merge: it does not count")
        else:
            valid.append(user)
            at[_fold(user)] = review.submitted_at
    return Approvals(tuple(sorted(valid, key=str.casefold)), tuple(problems), at)


# ---------------------------------------------------------------- verdicts


class Verdict(StrEnum):
    APPROVED = "approved"  # asked for by an approved, merged pull request that landed it
    RESTORES = "restores"  # in the approved state all along: drift repair, expiry
    NOT_REQUIRED = "not-required"  # a removal no approver rule covers
    HELD = "held"  # not applied


@dataclass(frozen=True, slots=True)
class Decision:
    change: Change
    verdict: Verdict
    pull: PullFacts | None = None
    approvers: tuple[str, ...] = ()  # who approved it (APPROVED)
    approved_at: tuple[str, ...] = ()  # when each approver approved (ISO), same order
    commit: str = ""  # the commit on main that brought the change (APPROVED, or HELD at a commit)
    rule: str = ""  # the unmet rule (HELD)
    message: str = ""  # why, for people
    could_approve: str = ""  # who could approve it (HELD)

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.HELD


RequirementsOf = Callable[[Change], tuple[Requirement, ...]]
BeneficiariesOf = Callable[[Change], frozenset[str]]


def who_could(requirement: Requirement, excluded: Iterable[str]) -> str:
    """Who could satisfy `requirement`, leaving out the author and the beneficiary."""
    out = {_fold(x) for x in excluded if x}
    if not requirement.approvers:
        names = sorted(out)
        return "any repository member" + (f" other than {', '.join(names)}" if names else "")
    eligible = sorted((a for a in requirement.approvers if _fold(a) not in out), key=str.casefold)
    if len(eligible) < requirement.minimum:
        why = "the author or the person receiving the access cannot approve" if out else "too few approvers"
        listed = f" (eligible: {', '.join(eligible)})" if eligible else ""
        return f"nobody: {requirement.description} needs {requirement.minimum}{listed}; {why}"
    return f"{', '.join(eligible)} ({requirement.description})"


def _judge(
    change: Change,
    commit: str,
    pull: PullFacts,
    approvals: Approvals,
    requirements: Sequence[Requirement],
    beneficiaries: frozenset[str],
) -> Decision:
    """One change against the merged pull request that landed it."""
    excluded = set(pull.requesters)
    granting = change.action in _GRANTING
    if granting:
        excluded |= {_fold(b) for b in beneficiaries}
    valid = [a for a in approvals.valid if _fold(a) not in excluded]
    self_approved = [a for a in approvals.valid if granting and _fold(a) in excluded]
    problems = list(approvals.problems) + [
        f"{a} approved access for themselves: it does not count" for a in self_approved
    ]
    reviewed = Requirement("reviewed", 1, frozenset(), "a repository member other than the author")
    for requirement in (reviewed, *requirements):
        if not requirement.met(valid):
            have = f"approved by {', '.join(valid)}" if valid else "no approval that counts"
            why = f"; {'; '.join(problems)}" if problems else ""
            rule = "self-approval" if self_approved and not valid else requirement.rule
            plural = "s" if requirement.minimum != 1 else ""
            return Decision(
                change, Verdict.HELD, pull, commit=commit, rule=rule,
                message=f"pull request #{pull.number} needs {requirement.minimum} approval{plural} from "
                f"{requirement.description} ({have}{why})",
                could_approve=who_could(requirement, excluded),
            )  # fmt: skip
    times = tuple(_iso(approvals.at.get(_fold(a))) for a in valid)
    return Decision(change, Verdict.APPROVED, pull, approvers=tuple(valid), approved_at=times, commit=commit)


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else ""


def entry_index(chain: Sequence[StateFacts], digest: str) -> int | None:
    """The index of the commit that last brought `digest` into the plan (it stayed in since);
    0 when it was in the plan of every readable state; None when HEAD's plan does not have it."""
    readable = [i for i, s in enumerate(chain) if s.digests is not None]
    if not readable:
        return None
    last = readable[-1]
    if digest not in (chain[last].digests or ()):
        return None
    entry = last
    for i in reversed(readable):
        if digest in (chain[i].digests or ()):
            entry = i
        else:
            break
    return 0 if entry == readable[0] else entry


def decide(
    changes: Iterable[Change],
    facts: GateFacts,
    *,
    requirements: RequirementsOf,
    beneficiaries: BeneficiariesOf,
    governance: tuple[Requirement, ...] = (),
) -> tuple[Decision, ...]:
    """A verdict for every change of the live plan."""
    approvals = {n: counted_approvals(p) for n, p in facts.pulls.items()}
    blocked = governance_hold(facts, approvals, governance)
    decisions: list[Decision] = []
    for change in changes:
        decision = _decide_one(change, facts, approvals, requirements, beneficiaries)
        if blocked is not None and decision.verdict is not Verdict.RESTORES:
            decision = Decision(
                change, Verdict.HELD, blocked.pull, commit=blocked.commit, rule=blocked.rule,
                message=blocked.message, could_approve=blocked.could_approve,
            )  # fmt: skip
        decisions.append(decision)
    return tuple(decisions)


def _decide_one(
    change: Change,
    facts: GateFacts,
    approvals: Mapping[int, Approvals],
    requirements: RequirementsOf,
    beneficiaries: BeneficiariesOf,
) -> Decision:
    digest = identity_digest(change)
    index = entry_index(facts.chain, digest)
    if index == 0:
        return Decision(change, Verdict.RESTORES, message="restores the approved state")
    reqs = requirements(change)
    if not reqs and change.action not in _GRANTING:
        return Decision(change, Verdict.NOT_REQUIRED, message="no approver rule covers this removal")
    who = beneficiaries(change)
    excluded = who if change.action in _GRANTING else frozenset()
    could = who_could(reqs[0], excluded) if reqs else who_could(_ANY, excluded)
    if index is None:
        return Decision(
            change, Verdict.HELD, rule="committed",
            message="not in the access/ of any commit on the branch (an uncommitted edit?): only committed, "
            "reviewed changes are applied",
            could_approve=could,
        )  # fmt: skip
    state = facts.chain[index]
    if state.pull is None and state.unmerged:
        numbers = ", ".join(f"#{n}" for n in state.unmerged)
        return Decision(
            change, Verdict.HELD, commit=state.sha, rule="merged",
            message=f"commit {state.sha[:7]} is in pull request {numbers}, which did not land it on this "
            f"branch ({state.note}); only what merged pull requests landed is applied",
            could_approve=could,
        )  # fmt: skip
    if state.pull is None:
        note = f" ({state.note})" if state.note else ""
        return Decision(
            change, Verdict.HELD, commit=state.sha, rule="pull-request",
            message=f"commit {state.sha[:7]} brought this change without a merged pull request{note}; "
            "open a pull request so that someone approves it",
            could_approve=could,
        )  # fmt: skip
    pull = facts.pulls[state.pull]
    if pull.requested is None:
        return Decision(
            change, Verdict.HELD, pull, commit=state.sha, rule="requested",
            message=f"what pull request #{pull.number} asked for cannot be read ({pull.problem})",
            could_approve=could,
        )  # fmt: skip
    if digest not in pull.requested:
        return Decision(
            change, Verdict.HELD, pull, commit=state.sha, rule="requested",
            message=f"commit {state.sha[:7]} (landing pull request #{pull.number}) brought this change, but "
            f"the pull request's head {pull.head_sha[:7]} did not ask for it: a change added in the merge "
            "is not approved",
            could_approve=could,
        )  # fmt: skip
    return _judge(change, state.sha, pull, approvals[pull.number], reqs, who)


_ANY = Requirement("default", 1, frozenset(), "1 reviewer other than the author")


def governance_hold(
    facts: GateFacts, approvals: Mapping[int, Approvals], owners: tuple[Requirement, ...]
) -> Decision | None:
    """A template HELD decision when the governance in force at HEAD was not approved by the policy
    owners; None when it is unchanged since the apply point, or approved."""
    chain = facts.chain
    if len(chain) < 2 or chain[-1].governance == chain[0].governance:
        return None
    last = max(i for i in range(1, len(chain)) if chain[i].governance != chain[i - 1].governance)
    state = chain[last]
    placeholder = Change("", "", Action.GRANT, "", "", "", "", "")
    if state.pull is None:
        return Decision(
            placeholder, Verdict.HELD, commit=state.sha, rule="policy-owners",
            message=f"commit {state.sha[:7]} changed policies/ or an approver team without a merged pull "
            "request; nothing but drift repair is applied until the policy owners approve a pull request "
            "that edits policies/",
            could_approve=who_could(owners[0], ()) if owners else "",
        )  # fmt: skip
    pull = facts.pulls[state.pull]
    excluded = set(pull.requesters)
    valid = [a for a in approvals[pull.number].valid if _fold(a) not in excluded]
    if pull.governance != state.governance:
        return Decision(
            placeholder, Verdict.HELD, pull, commit=state.sha, rule="policy-owners",
            message=f"the policies/ and approver teams that commit {state.sha[:7]} brought differ from "
            f"those of pull request #{pull.number}'s head: the policy owners did not see them",
            could_approve=who_could(owners[0], excluded) if owners else "",
        )  # fmt: skip
    for requirement in owners:
        if not requirement.met(valid):
            have = f"approved by {', '.join(valid)}" if valid else "no approval that counts"
            return Decision(
                placeholder, Verdict.HELD, pull, commit=state.sha, rule="policy-owners",
                message=f"pull request #{pull.number} changed policies/ or an approver team and needs "
                f"{requirement.minimum} approval{'s' if requirement.minimum != 1 else ''} from "
                f"{requirement.description} ({have}); until then nothing but drift repair is applied",
                could_approve=who_could(requirement, excluded),
            )  # fmt: skip
    return None


def clean_history(facts: GateFacts, decisions: Iterable[Decision], owners: tuple[Requirement, ...]) -> bool:
    """May the apply point move to HEAD? Only when nothing was held, the governance is approved, and
    every new commit landed through a merged pull request with at least one approval that counts."""
    if any(not d.allowed for d in decisions):
        return False
    approvals = {n: counted_approvals(p) for n, p in facts.pulls.items()}
    if governance_hold(facts, approvals, owners) is not None:
        return False
    for state in facts.commits:
        if state.pull is None:
            return False
        pull = facts.pulls[state.pull]
        if not [a for a in approvals[pull.number].valid if _fold(a) not in pull.requesters]:
            return False
    return True
