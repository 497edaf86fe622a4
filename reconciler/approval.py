"""The approval decision (pure): live changes + pull-request facts + approver rules → verdicts.

A change in the live plan is applied when either
- it **restores approved state**: the same change is in the plan of the desired state at the last
  successful apply (drift repair, expired assignments, re-grants of access approved before); or
- it removes access and no approver rule of `policies/` covers it (the default covers grants,
  account creations and updates only); or
- it is in the **recorded plan of a merged pull request** among the commits since the last apply,
  whose approvals satisfy every requirement of the change: approvals count only when they are the
  reviewer's latest verdict, given on the PR's final head commit, after that commit's plan was
  posted, by someone other than the PR's author and other than the person the change gives access
  to.

Anything else is held back with the rule it failed and who could approve it. No I/O here: `gate.py`
gathers the facts.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.approvers import Requirement
from reconciler.changes import Action, Change, Plan, change_identity

RECORD_VERSION = 1
_RECORD = re.compile(r"<!-- access-plan-record (\{.*?\}) -->", re.DOTALL)
_DIGEST_BYTES = 8
# A reviewer's latest review among these decides; COMMENTED and PENDING do not change a verdict.
_VERDICT_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})
_GRANTING = frozenset({Action.GRANT, Action.CREATE_ACCOUNT, Action.UPDATE})


def identity_digest(change: Change) -> str:
    """A short digest of what a change does (its identity): what a plan record lists."""
    return hashlib.sha256(change_identity(change).encode()).hexdigest()[: _DIGEST_BYTES * 2]


# ---------------------------------------------------------------- the plan record


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """What the approvers of a pull request saw: the plan of one head commit."""

    head_sha: str
    changes_hash: str
    digests: frozenset[str]
    posted_at: dt.datetime | None = None  # when the comment carrying it was last written


def plan_record(plan: Plan, head_sha: str) -> str:
    """The hidden block the plan comment carries (an HTML comment: invisible when rendered).

    It lists an 8-byte digest of every change's identity (base64, 12 characters per change) so that
    apply can tell which live changes the approvers saw, and the plan's `changes_hash`.
    """
    raw = b"".join(sorted(bytes.fromhex(identity_digest(c)) for c in plan.changes))
    data = {
        "v": RECORD_VERSION,
        "head": head_sha,
        "hash": plan.changes_hash,
        "changes": base64.b64encode(raw).decode(),
    }
    return f"<!-- access-plan-record {json.dumps(data, separators=(',', ':'))} -->"


def parse_plan_record(text: str, *, posted_at: dt.datetime | None = None) -> PlanRecord | None:
    """The plan record in a comment body, or None when there is none or it is malformed."""
    match = _RECORD.search(text)
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
        raw = base64.b64decode(data["changes"], validate=True)
        if data["v"] != RECORD_VERSION or len(raw) % _DIGEST_BYTES:
            return None
        digests = frozenset(raw[i : i + _DIGEST_BYTES].hex() for i in range(0, len(raw), _DIGEST_BYTES))
        return PlanRecord(str(data["head"]), str(data["hash"]), digests, posted_at)
    except (ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------- facts about pull requests


@dataclass(frozen=True, slots=True)
class ReviewFact:
    user: str | None
    state: str
    commit_id: str | None
    submitted_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PullFacts:
    number: int
    author: str | None
    merged: bool
    head_sha: str
    reviews: tuple[ReviewFact, ...] = ()
    record: PlanRecord | None = None  # the plan comment's record, from a trusted author only
    url: str = ""


@dataclass(frozen=True, slots=True)
class CommitFacts:
    sha: str
    pulls: tuple[int, ...]  # empty: pushed straight to the branch


@dataclass(frozen=True, slots=True)
class GateFacts:
    """Everything the decision needs to know about the commits since the last apply."""

    since: str  # the apply point
    commits: tuple[CommitFacts, ...]  # new commits that touch access/ or policies/, oldest first
    pulls: Mapping[int, PullFacts] = field(default_factory=dict)

    @property
    def direct_pushes(self) -> tuple[str, ...]:
        return tuple(c.sha for c in self.commits if not c.pulls)


@dataclass(frozen=True, slots=True)
class Approvals:
    """The approvals of one pull request that count, and why the others do not."""

    valid: tuple[str, ...]  # GitHub logins
    problems: tuple[str, ...]  # e.g. "bob's approval was on a1b2c3d, before later pushes"


def _fold(login: str | None) -> str:
    return (login or "").casefold()


def counted_approvals(pull: PullFacts) -> Approvals:
    """GitHub's rules, plus ours: the reviewer's latest verdict, on the final head, after its plan."""
    latest: dict[str, ReviewFact] = {}
    for review in pull.reviews:
        if review.user and review.state in _VERDICT_STATES:
            latest[_fold(review.user)] = review
    valid: list[str] = []
    problems: list[str] = []
    record = pull.record
    for review in latest.values():
        user = review.user or ""
        if review.state != "APPROVED":
            continue
        if _fold(user) == _fold(pull.author):
            problems.append(f"{user} approved their own pull request: it does not count")
        elif review.commit_id != pull.head_sha:
            problems.append(
                f"{user}'s approval was given on {(review.commit_id or '?')[:7]}, before later pushes "
                f"(head is {pull.head_sha[:7]}): a stale approval does not count"
            )
        elif (
            record is not None
            and record.posted_at is not None
            and review.submitted_at is not None
            and review.submitted_at < record.posted_at
        ):
            problems.append(f"{user} approved before the plan for {pull.head_sha[:7]} was posted")
        else:
            valid.append(user)
    return Approvals(tuple(sorted(valid, key=str.casefold)), tuple(problems))


# ---------------------------------------------------------------- the decision


class Verdict(StrEnum):
    APPROVED = "approved"  # in an approved pull request's plan
    RESTORES = "restores"  # restores the state approved at the last apply: no approval needed
    NOT_REQUIRED = "not-required"  # a revocation or deactivation no approver rule covers
    HELD = "held"  # not applied


@dataclass(frozen=True, slots=True)
class Decision:
    change: Change
    verdict: Verdict
    pull: PullFacts | None = None
    approvers: tuple[str, ...] = ()  # who approved it (APPROVED)
    rule: str = ""  # the unmet rule (HELD)
    message: str = ""  # why, for people
    could_approve: str = ""  # who could approve it (HELD)

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.HELD


RequirementsOf = Callable[[Change], tuple[Requirement, ...]]
BeneficiariesOf = Callable[[Change], frozenset[str]]


def _who_could(requirement: Requirement, excluded: Iterable[str]) -> str:
    out = {_fold(x) for x in excluded if x}
    if not requirement.approvers:
        names = sorted(x for x in out)
        return "any reviewer" + (f" other than {', '.join(names)}" if names else "")
    eligible = sorted((a for a in requirement.approvers if _fold(a) not in out), key=str.casefold)
    if not eligible:
        return f"nobody eligible ({requirement.description}; the requester cannot approve)"
    return f"{', '.join(eligible)} ({requirement.description})"


def _judge(
    change: Change,
    pull: PullFacts,
    approvals: Approvals,
    requirements: tuple[Requirement, ...],
    beneficiaries: frozenset[str],
) -> Decision:
    """One change against one pull request whose plan lists it."""
    excluded = {_fold(pull.author)}
    granting = change.action in _GRANTING
    if granting:
        excluded |= {_fold(b) for b in beneficiaries}
    if not pull.merged:
        counted = [a for a in approvals.valid if _fold(a) not in excluded]
        status = f"approved by {', '.join(counted)}" if counted else "no approval that counts yet"
        return Decision(
            change, Verdict.HELD, pull, rule="merged",
            message=f"pull request #{pull.number} is not merged ({status})",
            could_approve=_who_could(requirements[0], excluded) if requirements else "",
        )  # fmt: skip
    valid = [a for a in approvals.valid if _fold(a) not in excluded]
    self_approved = [a for a in approvals.valid if granting and _fold(a) in excluded]
    problems = list(approvals.problems) + [
        f"{a} approved access for themselves: it does not count" for a in self_approved
    ]
    checks = (Requirement("reviewed", 1, frozenset(), "a reviewer other than the author"), *requirements)
    for requirement in checks:
        if not requirement.met(valid):
            have = f"approved by {', '.join(valid)}" if valid else "no approval that counts"
            why = f"; {'; '.join(problems)}" if problems else ""
            rule = "self-approval" if self_approved and not valid else requirement.rule
            return Decision(
                change, Verdict.HELD, pull, rule=rule,
                message=f"pull request #{pull.number} needs {requirement.minimum} approval"
                f"{'s' if requirement.minimum != 1 else ''} from {requirement.description} ({have}{why})",
                could_approve=_who_could(requirement, excluded),
            )  # fmt: skip
    return Decision(change, Verdict.APPROVED, pull, approvers=tuple(valid))


def decide(
    changes: Iterable[Change],
    facts: GateFacts,
    *,
    restoring: frozenset[str],
    requirements: RequirementsOf,
    beneficiaries: BeneficiariesOf,
) -> tuple[Decision, ...]:
    """A verdict for every change. `restoring` holds identity digests of the baseline plan."""
    pulls = sorted(facts.pulls.values(), key=lambda p: p.number)
    approvals = {p.number: counted_approvals(p) for p in pulls}
    decisions: list[Decision] = []
    for change in changes:
        digest = identity_digest(change)
        if digest in restoring:
            decisions.append(Decision(change, Verdict.RESTORES, message="restores the approved state"))
            continue
        reqs = requirements(change)
        if not reqs and change.action not in _GRANTING:
            decisions.append(
                Decision(change, Verdict.NOT_REQUIRED, message="no approver rule covers this removal")
            )
            continue
        who = beneficiaries(change)
        candidates = [p for p in pulls if p.record is not None and digest in p.record.digests]
        judged = [_judge(change, p, approvals[p.number], reqs, who) for p in candidates]
        approved = next((d for d in judged if d.allowed), None)
        if approved is not None:
            decisions.append(approved)
        elif judged:
            decisions.append(judged[-1])
        else:
            decisions.append(_unrecorded(change, facts, pulls, reqs, who))
    return tuple(decisions)


def _unrecorded(
    change: Change,
    facts: GateFacts,
    pulls: list[PullFacts],
    requirements: tuple[Requirement, ...],
    beneficiaries: frozenset[str],
) -> Decision:
    """A change no recorded plan lists: say the likeliest reason."""
    excluded = set(beneficiaries) if change.action in _GRANTING else set()
    could = _who_could(requirements[0], excluded) if requirements else "any reviewer"
    pushes = facts.direct_pushes
    if pushes:
        shas = ", ".join(s[:7] for s in pushes)
        return Decision(
            change, Verdict.HELD, rule="pull-request",
            message=f"commit {shas} was pushed without a pull request; open one to approve this change",
            could_approve=could,
        )  # fmt: skip
    unrecorded = [p for p in pulls if p.record is None]
    if unrecorded:
        numbers = ", ".join(f"#{p.number}" for p in unrecorded)
        return Decision(
            change, Verdict.HELD, rule="plan-record",
            message=f"pull request {numbers} has no plan recorded for its final head commit "
            "(the plan comment is missing, edited by someone else, or for an older push)",
            could_approve=could,
        )  # fmt: skip
    seen = ", ".join(f"#{p.number}" for p in pulls) or "none since the last apply"
    return Decision(
        change, Verdict.HELD, rule="approved-plan",
        message=f"not in the plan any approver saw (pull requests: {seen}): the actual state changed "
        "between review and apply; open a pull request so that someone approves it",
        could_approve=could,
    )  # fmt: skip


def clean_history(facts: GateFacts, decisions: Iterable[Decision]) -> bool:
    """May the apply point move to HEAD? Only when nothing was held and every new commit came
    through a merged pull request with at least one approval that counts."""
    if any(not d.allowed for d in decisions):
        return False
    for commit in facts.commits:
        pulls = [facts.pulls[n] for n in commit.pulls if n in facts.pulls]
        if not any(p.merged and counted_approvals(p).valid for p in pulls):
            return False
    return True
