"""The approval ledger (pure): the approved desired state, folded over `main`'s history.

The approved state starts at the signed apply point (its commit's desired state, with the edits
still held there put back to their approved values) and is extended one **landing** at a time along
`main`'s first parent. Each landing's edits (`ledger_state.diff` of its desired state against its
parent's) are judged:

- an edit that brings an item back to its approved value needs nothing;
- otherwise it is **approved** when the landing belongs to a merged pull request (its merge or
  squash commit, or one of its rebased commits), that pull request's head asked for exactly this
  (the item has this value at its head and another at its merge base), and the approvals that count
  meet every rule **as the approved state just before the landing defines them**;
- a removal no rule covers is **not required** to be approved;
- a change of governance (`policies/`, whom the rules resolve to, people's GitHub logins) needs the
  policy owners in force before it, and a merge base that carried the approved governance (so the
  owners' diff showed the whole change);
- anything else is **held**: the approved state keeps the approved value, and the edit is carried,
  and named, until a later landing approves or reverts it.

An approval counts (`counted`) when it is the reviewer's latest verdict, on the final head, before
the merge, by a repository member with write access, not a bot; then, per edit, when the reviewer's
GitHub **user id** is known to the approved state (a person's `github:` login, or a login a rule
names), is not among those who wrote the pull request (its author, whoever pushed to its head,
its commits' authors, committers and co-authors, anyone a `Requested-by:` trailer names), and, for
an edit that gives access, is not the person receiving it (by person key, in every spelling the
window gave them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.approvers import Requirement
from reconciler.changes import Change
from reconciler.ledger_state import GOVERNANCE, GRANT, Edit, as_change, describe, gives_access

# A reviewer's latest review among these decides; COMMENTED and PENDING do not change a verdict.
_VERDICT_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})
# GitHub's author_association values of people who may hold write access to the repository.
MEMBER_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
WRITE_ROLES = frozenset({"admin", "maintain", "write"})

ItemId = tuple[str, tuple[str, ...]]  # (kind, key)


def item_id(edit: Edit) -> ItemId:
    return (edit.kind, tuple(edit.key))


# ---------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True)
class ReviewFact:
    user: str | None
    state: str
    commit_id: str | None
    submitted_at: dt.datetime | None
    association: str = "MEMBER"
    bot: bool = False
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class PullFacts:
    """A merged pull request that landed commits on `main` since the apply point."""

    number: int
    author: str | None
    head_sha: str
    merged_at: dt.datetime | None
    reviews: tuple[ReviewFact, ...] = ()
    url: str = ""
    author_id: int | None = None
    # item -> its value at the head, for every item the head changed against the merge base
    requested: Mapping[ItemId, object] | None = None
    base_governance: str = ""
    head_governance: str = ""
    problem: str = ""  # why `requested` is None
    # who wrote it: GitHub id -> why (author, pushed to its head, authored a commit, co-author, ...)
    writers: Mapping[int, str] = field(default_factory=dict)
    writer_logins: Mapping[str, str] = field(default_factory=dict)  # folded login -> why (not resolved)
    permissions: Mapping[str, str] = field(default_factory=dict)  # folded reviewer login -> role


@dataclass(frozen=True, slots=True)
class Landing:
    """A commit on `main`'s first parent since the apply point that changed the desired state."""

    sha: str
    edits: tuple[Edit, ...]
    pull: int | None = None  # the merged pull request it belongs to; None: pushed directly
    note: str = ""  # for a direct push: what GitHub knows of it ("#4 was closed")
    unmerged: tuple[int, ...] = ()  # pull requests that contain it but did not land it


@dataclass(frozen=True, slots=True)
class Rules:
    """Who may approve, as one approved governance defines it."""

    sha: str  # the commit whose policies/ and people define it
    requirements: Callable[[Change], tuple[Requirement, ...]]
    owners: tuple[Requirement, ...]
    person_of: Mapping[int, str]  # GitHub user id -> person key
    ids: Mapping[str, int]  # folded GitHub login -> user id (every login the rules or people name)

    def known(self, user_id: int | None) -> bool:
        return user_id is not None and (user_id in self.person_of or user_id in self.ids.values())

    def met(self, requirement: Requirement, approvers: Sequence[Approver]) -> bool:
        if not requirement.approvers:
            return len({a.id for a in approvers}) >= requirement.minimum
        wanted = {self.ids.get(login.casefold()) for login in requirement.approvers} - {None}
        return len({a.id for a in approvers if a.id in wanted}) >= requirement.minimum


@dataclass(frozen=True, slots=True)
class Beneficiary:
    """Who an edit gives access to: person keys and GitHub ids, in every spelling the window had."""

    keys: frozenset[str]
    ids: frozenset[int]
    logins: frozenset[str] = frozenset()  # folded


# ---------------------------------------------------------------- approvals that count


@dataclass(frozen=True, slots=True)
class Approver:
    login: str
    id: int | None
    at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Counted:
    """A pull request's approvals that pass the review-level checks, and why the others do not."""

    valid: tuple[Approver, ...]
    problems: tuple[str, ...]


def counted(pull: PullFacts) -> Counted:
    """The reviewer's latest verdict, on the final head, before the merge, by a member with write
    access who did not write the pull request."""
    latest: dict[object, ReviewFact] = {}
    for review in pull.reviews:
        if review.user and review.state in _VERDICT_STATES:
            latest[review.user_id if review.user_id is not None else review.user.casefold()] = review
    valid: list[Approver] = []
    problems: list[str] = []
    for review in latest.values():
        user = review.user or ""
        role = pull.permissions.get(user.casefold(), "")
        if review.state != "APPROVED":
            continue
        if review.bot or user.endswith("[bot]"):
            problems.append(f"{user} is a bot: its approval does not count")
        elif review.association not in MEMBER_ASSOCIATIONS:
            problems.append(
                f"{user} is not a member of the repository ({review.association}): the approval does not count"
            )
        elif pull.permissions and role not in WRITE_ROLES:
            problems.append(
                f"{user} has no write access to the repository ({role or 'none'}): the approval does not count"
            )
        elif review.commit_id != pull.head_sha:
            problems.append(
                f"{user}'s approval was given on {(review.commit_id or '?')[:7]}, before later pushes "
                f"(head is {pull.head_sha[:7]}): a stale approval does not count"
            )
        elif review.submitted_at is None or (
            pull.merged_at is not None and review.submitted_at > pull.merged_at
        ):
            problems.append(f"{user} approved after the merge: it does not count")
        elif (why := _wrote(pull, review)) is not None:
            problems.append(f"{user} {why}: their own approval does not count")
        else:
            valid.append(Approver(user, review.user_id, review.submitted_at))
    valid.sort(key=lambda a: a.login.casefold())
    return Counted(tuple(valid), tuple(problems))


def _wrote(pull: PullFacts, review: ReviewFact) -> str | None:
    if review.user_id is not None and review.user_id in pull.writers:
        return pull.writers[review.user_id]
    if review.user_id is not None and review.user_id == pull.author_id:
        return "opened the pull request"
    login = (review.user or "").casefold()
    if login in pull.writer_logins:
        return pull.writer_logins[login]
    if login and login == (pull.author or "").casefold():
        return "opened the pull request"
    return None


# ---------------------------------------------------------------- verdicts


class Verdict(StrEnum):
    APPROVED = "approved"  # asked for by a merged pull request whose counted approvals meet the rules
    RESTORES = "restores"  # in the approved state since the apply point: drift repair
    NOT_REQUIRED = "not-required"  # a removal no approver rule covers
    EXPIRED = "expired"  # the approved expiry passed
    LAPSED = "lapsed"  # taken back by policy: nobody re-approved it by its recertification deadline
    LEFT = "left"  # taken back by policy: the IdP says the person has left (policies/ `leavers: revoke`)
    HELD = "held"  # not applied


@dataclass(frozen=True, slots=True)
class Record:
    """The ledger's answer for one item: who approved its value, or why it is held."""

    verdict: Verdict
    commit: str = ""  # the landing on main
    pull: int | None = None
    url: str = ""
    author: str | None = None
    head: str = ""
    approvers: tuple[str, ...] = ()
    approved_at: tuple[str, ...] = ()  # ISO, the same order
    rule: str = ""  # the unmet rule (HELD)
    message: str = ""
    could_approve: str = ""
    edit: str = ""  # the edit, for people
    merged_at: str = ""  # when the pull request merged (ISO)

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.HELD

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"verdict": str(self.verdict)}
        for name in (
            "commit",
            "pull",
            "url",
            "author",
            "head",
            "rule",
            "message",
            "could_approve",
            "edit",
            "merged_at",
        ):
            value = getattr(self, name)
            if value:
                data[name] = value
        if self.approvers:
            data["approvers"] = list(self.approvers)
            data["approved_at"] = list(self.approved_at)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Record:
        def text(name: str) -> str:
            value = data.get(name)
            return value if isinstance(value, str) else ""

        pull = data.get("pull")
        return cls(
            Verdict(text("verdict") or "held"), text("commit"), pull if isinstance(pull, int) else None,
            text("url"), text("author") or None, text("head"),
            tuple(str(a) for a in data.get("approvers") or ()),  # type: ignore[attr-defined]
            tuple(str(a) for a in data.get("approved_at") or ()),  # type: ignore[attr-defined]
            text("rule"), text("message"), text("could_approve"), text("edit"), text("merged_at"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decision:
    """A change apply would make (or holds back) and the ledger's record for it."""

    change: Change
    record: Record

    @property
    def verdict(self) -> Verdict:
        return self.record.verdict

    @property
    def allowed(self) -> bool:
        return self.record.allowed


@dataclass
class Ledger:
    """The fold's result: the approved value of every item the window touched, and why."""

    overrides: dict[ItemId, object]  # items whose approved value differs from HEAD's -> that value
    records: dict[ItemId, Record]  # items approved (or not required) in the window
    held: dict[ItemId, Record]  # items held, with why
    governance: str  # the commit whose governance is approved


def _iso(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value is not None else ""


def who_could(requirement: Requirement, excluded: frozenset[str]) -> str:
    """Who could satisfy `requirement`, leaving out those who may not approve."""
    if not requirement.approvers:
        names = sorted(excluded)
        return "any repository writer known to access/people.yaml" + (
            f" other than {', '.join(names)}" if names else ""
        )
    eligible = sorted((a for a in requirement.approvers if a.casefold() not in excluded), key=str.casefold)
    if len(eligible) < requirement.minimum:
        listed = f" (eligible: {', '.join(eligible)})" if eligible else ""
        return (
            f"nobody: {requirement.description} needs {requirement.minimum}{listed}; the pull request's "
            "writers and the person receiving the access cannot approve"
        )
    return f"{', '.join(eligible)} ({requirement.description})"


BeneficiaryOf = Callable[[Edit], Beneficiary]


def fold(
    landings: Sequence[Landing],
    pulls: Mapping[int, PullFacts],
    *,
    start: Mapping[ItemId, object],
    start_held: Mapping[ItemId, Record],
    governance: str,
    rules_at: Callable[[str], Rules],
    beneficiary: BeneficiaryOf,
) -> Ledger:
    """Extend the approved state one landing at a time (see the module's docstring)."""
    ledger = Ledger(dict(start), {}, dict(start_held), governance)
    counts = {n: counted(p) for n, p in pulls.items()}
    approved_governance = governance
    for landing in landings:
        rules = rules_at(approved_governance)
        judged: list[tuple[Edit, object, Record]] = []
        for edit in landing.edits:
            key = item_id(edit)
            approved = ledger.overrides.get(key, edit.before)
            if edit.after == approved:
                ledger.overrides.pop(key, None)
                ledger.held.pop(key, None)
                continue
            record = _judge(
                Edit(edit.kind, edit.key, approved, edit.after), landing, pulls, counts, rules, beneficiary
            )
            judged.append((edit, approved, record))
        held_slots = {
            _slot(edit): record for edit, _, record in judged if not record.allowed and edit.kind == GRANT
        }
        for edit, approved, record in judged:
            key = item_id(edit)
            if record.allowed and edit.kind == GRANT and edit.after is None and _slot(edit) in held_slots:
                # A template or scope change is one change: its removal half waits for its grant half.
                record = held_slots[_slot(edit)]
            if record.allowed:
                ledger.overrides.pop(key, None)
                ledger.held.pop(key, None)
                ledger.records[key] = record
                if edit.kind == GOVERNANCE:
                    approved_governance = landing.sha
            else:
                ledger.overrides[key] = approved
                ledger.held[key] = record
    ledger.governance = approved_governance
    return ledger


def _slot(edit: Edit) -> tuple[str, ...]:
    """(vendor, tenant, resource type, resource, principal) of a grant edit."""
    key = edit.key
    return (key[0], key[1], key[2], key[3], key[5])


def _held(
    edit: Edit, landing: Landing, rule: str, message: str, could: str, pull: PullFacts | None = None
) -> Record:
    return Record(
        Verdict.HELD, landing.sha, pull.number if pull else None, pull.url if pull else "",
        pull.author if pull else None, pull.head_sha if pull else "", rule=rule, message=message,
        could_approve=could, edit=describe(edit),
    )  # fmt: skip


def _judge(
    edit: Edit,
    landing: Landing,
    pulls: Mapping[int, PullFacts],
    counts: Mapping[int, Counted],
    rules: Rules,
    beneficiary: BeneficiaryOf,
) -> Record:
    governance = edit.kind == GOVERNANCE
    giving = gives_access(edit)
    change = as_change(edit)
    reqs = rules.owners if governance else rules.requirements(change)
    who = beneficiary(edit) if giving and edit.kind != GOVERNANCE else Beneficiary(frozenset(), frozenset())
    excluded_names = who.logins
    if landing.pull is not None and landing.pull in pulls:
        pull_of = pulls[landing.pull]
        if pull_of.author:
            excluded_names |= {pull_of.author.casefold()}
        excluded_names |= frozenset(pull_of.writer_logins)
    could = who_could(reqs[0], excluded_names) if reqs else who_could(_ANY, excluded_names)
    if not governance and not giving and not reqs:
        pull = pulls.get(landing.pull) if landing.pull is not None else None
        seen = counts[pull.number].valid if pull is not None else ()
        return Record(
            Verdict.NOT_REQUIRED, landing.sha, pull.number if pull else None, pull.url if pull else "",
            pull.author if pull else None, pull.head_sha if pull else "",
            tuple(a.login for a in seen), tuple(_iso(a.at) for a in seen),
            message="a removal no approver rule covers", edit=describe(edit),
            merged_at=_iso(pull.merged_at) if pull else "",
        )  # fmt: skip
    if landing.pull is None:  # the landing's note (what GitHub said, or why it was not asked) follows
        note = f". {landing.note[:1].upper()}{landing.note[1:]}" if landing.note else ""
        if landing.unmerged:
            numbers = ", ".join(f"#{n}" for n in landing.unmerged)
            return _held(edit, landing, "merged",
                         f"commit {landing.sha[:7]} is in pull request {numbers}, which did not land it on this "
                         f"branch; only what merged pull requests landed is applied{note}", could)  # fmt: skip
        return _held(edit, landing, "pull-request",
                     f"commit {landing.sha[:7]} brought this change without a merged pull request; open a "
                     f"pull request so that someone approves it{note}", could)  # fmt: skip
    pull = pulls[landing.pull]
    if pull.requested is None:
        return _held(edit, landing, "requested",
                     f"what pull request #{pull.number} asked for cannot be read ({pull.problem})", could, pull)  # fmt: skip
    key = item_id(edit)
    if key not in pull.requested or pull.requested[key] != edit.after:
        return _held(edit, landing, "requested",
                     f"commit {landing.sha[:7]} (landing pull request #{pull.number}) brought this change, but the "
                     f"pull request's head {pull.head_sha[:7]} did not ask for it: a change added in the merge is "
                     "not approved", could, pull)  # fmt: skip
    if governance:
        approved_fp = edit.before
        if pull.base_governance != approved_fp:
            return _held(edit, landing, "policy-owners",
                         f"pull request #{pull.number} changed policies/ or an approver team, but its merge base "
                         "did not carry the approved ones (an earlier change to them is still unapproved): the "
                         "policy owners' diff did not show the whole change; revert the unapproved change first",
                         could, pull)  # fmt: skip
    count = counts[pull.number]
    problems = list(count.problems)
    valid: list[Approver] = []
    for approver in count.valid:
        if (
            giving
            and not governance
            and (approver.id in who.ids or rules.person_of.get(approver.id or -1) in who.keys)
        ):
            problems.append(f"{approver.login} approved access for themselves: it does not count")
        elif not rules.known(approver.id):
            problems.append(
                f"{approver.login} (GitHub id {approver.id}) is nobody access/people.yaml knows by a `github:` "
                "login in the approved state: the approval does not count"
            )
        else:
            valid.append(approver)
    self_approved = any("for themselves" in p for p in problems)
    reviewed = Requirement(
        "reviewed", 1, frozenset(), "a repository writer other than the pull request's writers"
    )
    for requirement in (reviewed, *reqs):
        if not rules.met(requirement, valid):
            have = f"approved by {', '.join(a.login for a in valid)}" if valid else "no approval that counts"
            why = f"; {'; '.join(problems)}" if problems else ""
            rule = "self-approval" if self_approved and not valid else requirement.rule
            if governance and requirement.rule != "reviewed":
                rule = "policy-owners"
            plural = "s" if requirement.minimum != 1 else ""
            what = "changed policies/ or an approver team and " if governance else ""
            return _held(edit, landing, rule,
                         f"pull request #{pull.number} {what}needs {requirement.minimum} approval{plural} from "
                         f"{requirement.description} ({have}{why})", who_could(requirement, excluded_names), pull)  # fmt: skip
    approvers = tuple(a.login for a in valid)
    return Record(
        Verdict.APPROVED, landing.sha, pull.number, pull.url, pull.author, pull.head_sha, approvers,
        tuple(_iso(a.at) for a in valid), edit=describe(edit), merged_at=_iso(pull.merged_at),
    )  # fmt: skip


_ANY = Requirement("default", 1, frozenset(), "1 reviewer other than the pull request's writers")
