"""The approval decision, pure: pull-request facts and approver rules in, verdicts out."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from reconciler.approval import (
    CommitFacts,
    GateFacts,
    PullFacts,
    ReviewFact,
    Verdict,
    clean_history,
    counted_approvals,
    decide,
    identity_digest,
    parse_plan_record,
    plan_record,
)
from reconciler.approvers import Requirement
from reconciler.changes import Action, Change, Plan, change_id

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
HEAD = "b" * 40
OLD = "a" * 40
ANY = (Requirement("default", 1, frozenset(), "1 reviewer other than the author"),)
OWNERS = (Requirement("procore-project-owners", 1, frozenset({"cokafor"}), "1 of carol: @cokafor"),)


def change(
    action: Action = Action.GRANT, principal: str = "judy@x.example", entitlement: str = "Project Engineer"
) -> Change:
    args = ("procore", action, "1", "project", "Harbor Tower", entitlement, principal)
    return Change(change_id(*args), "procore", action, "1", principal, "project", "Harbor Tower", entitlement)


def review(user: str, state: str = "APPROVED", commit: str = HEAD, minutes: int = 10) -> ReviewFact:
    return ReviewFact(user, state, commit, T0 + dt.timedelta(minutes=minutes))


def pull(
    *reviews: ReviewFact,
    changes: tuple[Change, ...] = (),
    merged: bool = True,
    author: str = "jalvarez",
    number: int = 7,
) -> PullFacts:
    record = parse_plan_record(plan_record(Plan(changes), HEAD), posted_at=T0)
    return PullFacts(
        number, author, merged, HEAD, tuple(reviews), record, f"https://github.com/o/r/pull/{number}"
    )


def judge(c: Change, *pulls: PullFacts, requirements=ANY, beneficiaries=frozenset({"jalvarez"}),  # type: ignore[no-untyped-def]
          restoring: frozenset[str] = frozenset(), direct: tuple[str, ...] = ()):  # fmt: skip
    commits = tuple(CommitFacts(f"{p.number:040d}", (p.number,)) for p in pulls) + tuple(
        CommitFacts(sha, ()) for sha in direct
    )
    facts = GateFacts(OLD, commits, {p.number: p for p in pulls})
    (decision,) = decide(
        [c],
        facts,
        restoring=restoring,
        requirements=lambda _: requirements,
        beneficiaries=lambda _: beneficiaries,
    )
    return decision


def test_a_merged_pull_request_approved_on_its_head_after_the_plan_is_approved() -> None:
    c = change()
    decision = judge(c, pull(review("cokafor"), changes=(c,)), requirements=OWNERS)
    assert decision.verdict is Verdict.APPROVED
    assert decision.approvers == ("cokafor",)
    assert decision.pull is not None and decision.pull.number == 7


def test_nobody_approves_access_for_themselves() -> None:
    c = change(principal="carol@x.example")
    decision = judge(
        c, pull(review("cokafor"), changes=(c,), author="dwhitfield"), beneficiaries=frozenset({"cokafor"})
    )
    assert decision.verdict is Verdict.HELD
    assert decision.rule == "self-approval"
    assert "cokafor approved access for themselves: it does not count" in decision.message
    assert decision.could_approve == "any reviewer other than cokafor, dwhitfield"


def test_the_authors_own_approval_never_counts() -> None:
    c = change()
    decision = judge(
        c, pull(review("dwhitfield"), changes=(c,), author="dwhitfield"), beneficiaries=frozenset()
    )
    assert decision.verdict is Verdict.HELD
    assert "dwhitfield approved their own pull request: it does not count" in decision.message


def test_an_approval_given_before_later_pushes_is_stale() -> None:
    c = change()
    decision = judge(c, pull(review("cokafor", commit=OLD), changes=(c,)), requirements=OWNERS)
    assert decision.verdict is Verdict.HELD
    assert decision.rule == "reviewed"
    assert (
        "cokafor's approval was given on aaaaaaa, before later pushes (head is bbbbbbb)" in decision.message
    )


def test_an_approval_given_before_the_plan_was_posted_does_not_count() -> None:
    c = change()
    decision = judge(c, pull(review("cokafor", minutes=-1), changes=(c,)))
    assert decision.verdict is Verdict.HELD
    assert "cokafor approved before the plan for bbbbbbb was posted" in decision.message


def test_a_later_request_for_changes_withdraws_an_approval_but_a_comment_does_not() -> None:
    c = change()
    withdrawn = pull(review("cokafor"), review("cokafor", "CHANGES_REQUESTED", minutes=20), changes=(c,))
    assert judge(c, withdrawn).verdict is Verdict.HELD
    commented = pull(review("cokafor"), review("cokafor", "COMMENTED", minutes=20), changes=(c,))
    assert judge(c, commented).verdict is Verdict.APPROVED


def test_approval_by_someone_the_rule_does_not_name_is_refused_saying_who_could() -> None:
    c = change()
    decision = judge(c, pull(review("dwhitfield"), changes=(c,)), requirements=OWNERS)
    assert decision.verdict is Verdict.HELD
    assert decision.rule == "procore-project-owners"
    assert decision.message == (
        "pull request #7 needs 1 approval from 1 of carol: @cokafor (approved by dwhitfield)"
    )
    assert decision.could_approve == "cokafor (1 of carol: @cokafor)"


def test_an_unmerged_pull_request_gets_nothing_applied() -> None:
    c = change()
    decision = judge(c, pull(review("cokafor"), changes=(c,), merged=False))
    assert (decision.verdict, decision.rule) == (Verdict.HELD, "merged")


def test_a_direct_push_gets_nothing_applied() -> None:
    decision = judge(change(), direct=("c" * 40,))
    assert decision.verdict is Verdict.HELD
    assert decision.rule == "pull-request"
    assert decision.message.startswith("commit ccccccc was pushed without a pull request")


def test_a_change_no_approver_saw_is_held_even_when_its_pull_request_was_approved() -> None:
    seen = change(entitlement="Project Engineer")
    live = change(entitlement="Project Manager")  # the state moved between review and merge
    decision = judge(live, pull(review("cokafor"), changes=(seen,)))
    assert decision.verdict is Verdict.HELD
    assert decision.rule == "approved-plan"
    assert "not in the plan any approver saw (pull requests: #7)" in decision.message


def test_restoring_the_approved_state_needs_no_approval() -> None:
    regrant = change()
    assert judge(regrant, restoring=frozenset({identity_digest(regrant)})).verdict is Verdict.RESTORES


def test_a_revocation_no_rule_covers_needs_no_approval_but_a_grant_always_does() -> None:
    assert judge(change(Action.REVOKE), requirements=(), direct=("c" * 40,)).verdict is Verdict.NOT_REQUIRED
    assert judge(change(Action.GRANT), requirements=(), direct=("c" * 40,)).verdict is Verdict.HELD


def test_the_plan_record_round_trips_and_rejects_garbage() -> None:
    changes = (change(), change(Action.REVOKE))
    block = plan_record(Plan(changes), HEAD)
    assert block.startswith("<!-- access-plan-record ") and block.endswith(" -->")
    record = parse_plan_record(f"### plan\n\n{block}\n", posted_at=T0)
    assert record is not None
    assert record.head_sha == HEAD
    assert record.changes_hash == Plan(changes).changes_hash
    assert record.digests == {identity_digest(c) for c in changes}
    assert parse_plan_record("no record here") is None
    assert (
        parse_plan_record('<!-- access-plan-record {"v":1,"head":"x","hash":"y","changes":"abc"} -->') is None
    )


def test_counted_approvals_lists_why_each_approval_does_not_count() -> None:
    approvals = counted_approvals(pull(review("a", commit=OLD), review("jalvarez"), review("b")))
    assert approvals.valid == ("b",)
    assert len(approvals.problems) == 2


def test_the_apply_point_moves_only_over_approved_history() -> None:
    c = change()
    good = pull(review("cokafor"), changes=(c,))
    facts = GateFacts(OLD, (CommitFacts("1" * 40, (7,)),), {7: good})
    decisions = decide(
        [c], facts, restoring=frozenset(), requirements=lambda _: ANY, beneficiaries=lambda _: frozenset()
    )
    assert clean_history(facts, decisions)
    pushed = GateFacts(OLD, (*facts.commits, CommitFacts("2" * 40, ())), {7: good})
    assert not clean_history(pushed, decide([], pushed, restoring=frozenset(), requirements=lambda _: ANY,
                                            beneficiaries=lambda _: frozenset()))  # fmt: skip


def test_the_decision_is_pure() -> None:
    code = "import sys, reconciler.approval; print(sorted({'httpx', 'git', 'rich'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
