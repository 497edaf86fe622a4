"""The approval decision, pure: the chain of `main`, merged pull requests and reviews in, verdicts out."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from reconciler.approval import (
    GateFacts,
    PullFacts,
    ReviewFact,
    StateFacts,
    Verdict,
    clean_history,
    counted_approvals,
    decide,
    entry_index,
    identity_digest,
    who_could,
)
from reconciler.approvers import Requirement
from reconciler.changes import Action, Change, change_id

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
MERGED = T0 + dt.timedelta(hours=1)
HEAD = "b" * 40
OLD = "a" * 40
ANY = (Requirement("default", 1, frozenset(), "1 reviewer other than the author"),)
OWNERS = (Requirement("procore-project-owners", 1, frozenset({"cokafor"}), "1 of carol: @cokafor"),)
POLICY_OWNERS = (Requirement("policy-owners", 1, frozenset({"hbrandt"}), "1 of security: @hbrandt"),)


def change(
    action: Action = Action.GRANT, principal: str = "judy@x.example", entitlement: str = "Project Engineer"
) -> Change:
    args = ("procore", action, "1", "project", "Harbor Tower", entitlement, principal)
    return Change(change_id(*args), "procore", action, "1", principal, "project", "Harbor Tower", entitlement)


GRANT = change()
D = identity_digest(GRANT)


def review(
    user: str, state: str = "APPROVED", commit: str = HEAD, minutes: int = 10, **kw: object
) -> ReviewFact:
    return ReviewFact(user, state, commit, T0 + dt.timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]


def pull(
    *reviews: ReviewFact,
    requested: frozenset[str] | None = frozenset({D}),
    author: str = "jalvarez",
    number: int = 7,
    governance: str = "g0",
) -> PullFacts:
    return PullFacts(
        number,
        author,
        HEAD,
        MERGED,
        tuple(reviews),
        requested,
        governance,
        f"https://github.com/o/r/pull/{number}",
    )


def state(sha: str, *digests: str, pull: int | None = None, governance: str = "g0") -> StateFacts:
    return StateFacts(sha * 40 if len(sha) == 1 else sha, frozenset(digests), governance, pull)


def landed(
    *pulls: PullFacts, before: frozenset[str] = frozenset(), after: frozenset[str] = frozenset({D})
) -> GateFacts:
    """The apply point (plan `before`), then one landing per pull request bringing the plan to `after`."""
    chain = [StateFacts(OLD, before, "g0")]
    chain += [StateFacts(f"{p.number:040d}", after, p.governance or "g0", p.number) for p in pulls]
    return GateFacts(tuple(chain), {p.number: p for p in pulls})


def judge(c: Change, facts: GateFacts, *, requirements=ANY, beneficiaries=frozenset({"jalvarez"}),  # type: ignore[no-untyped-def]
          governance=POLICY_OWNERS):  # fmt: skip
    (decision,) = decide(
        [c], facts, requirements=lambda _: requirements, beneficiaries=lambda _: beneficiaries,
        governance=governance,
    )  # fmt: skip
    return decision


def test_a_merged_pull_request_that_asked_for_it_approved_on_its_head_is_approved() -> None:
    decision = judge(GRANT, landed(pull(review("hbrandt"))), beneficiaries=frozenset({"judy"}))
    assert decision.verdict is Verdict.APPROVED
    assert decision.approvers == ("hbrandt",) and decision.pull is not None and decision.pull.number == 7
    assert decision.approved_at == ("2026-11-20T09:10:00Z",)
    assert decision.commit == f"{7:040d}"


def test_nobody_approves_access_for_themselves() -> None:
    decision = judge(GRANT, landed(pull(review("judy"))), beneficiaries=frozenset({"judy"}))
    assert decision.verdict is Verdict.HELD and decision.rule == "self-approval"
    assert "judy approved access for themselves" in decision.message
    assert decision.could_approve == "any repository member other than jalvarez, judy"


def test_the_authors_own_approval_never_counts() -> None:
    decision = judge(GRANT, landed(pull(review("jalvarez"))))
    assert decision.verdict is Verdict.HELD and decision.rule == "reviewed"
    assert "jalvarez approved their own pull request" in decision.message


def test_whoever_wrote_the_commits_cannot_approve_a_pull_request_a_bot_opened_for_them() -> None:
    """The access-request workflow opens the PR as github-actions[bot], committing as the requester."""
    opened = PullFacts(7, "github-actions[bot]", HEAD, MERGED, (review("dwhitfield"),), frozenset({D}), "g0",
                       committers=("dwhitfield",))  # fmt: skip
    decision = judge(GRANT, landed(opened), beneficiaries=frozenset({"judy"}))
    assert (
        decision.verdict is Verdict.HELD and "dwhitfield approved their own pull request" in decision.message
    )
    assert decision.could_approve == "any repository member other than dwhitfield, github-actions[bot], judy"


def test_an_approval_given_before_later_pushes_is_stale() -> None:
    decision = judge(GRANT, landed(pull(review("hbrandt", commit="c" * 40))))
    assert decision.verdict is Verdict.HELD
    assert "hbrandt's approval was given on ccccccc, before later pushes" in decision.message


def test_approvals_after_the_merge_by_bots_or_by_outsiders_do_not_count() -> None:
    late = review("hbrandt", minutes=120)
    bot = review("github-actions[bot]", bot=True)
    outsider = review("random", association="CONTRIBUTOR")
    approvals = counted_approvals(pull(late, bot, outsider))
    assert approvals.valid == ()
    assert approvals.problems == (
        "hbrandt approved after the merge: it does not count",
        "github-actions[bot] is a bot: its approval does not count",
        "random is not a member of the repository (CONTRIBUTOR): the approval does not count",
    )


def test_a_later_request_for_changes_withdraws_an_approval_but_a_comment_does_not() -> None:
    withdrawn = pull(review("hbrandt"), review("hbrandt", "CHANGES_REQUESTED", minutes=20))
    assert judge(GRANT, landed(withdrawn)).verdict is Verdict.HELD
    commented = pull(review("hbrandt"), review("hbrandt", "COMMENTED", minutes=20))
    assert judge(GRANT, landed(commented)).verdict is Verdict.APPROVED


def test_approval_by_someone_the_rule_does_not_name_is_refused_saying_who_could() -> None:
    decision = judge(GRANT, landed(pull(review("dwhitfield"))), requirements=OWNERS)
    assert decision.verdict is Verdict.HELD and decision.rule == "procore-project-owners"
    assert decision.could_approve == "cokafor (1 of carol: @cokafor)"
    assert judge(GRANT, landed(pull(review("cokafor"))), requirements=OWNERS).verdict is Verdict.APPROVED


def test_held_messages_say_when_nobody_can_approve() -> None:
    # the only owner is the person receiving the access
    decision = judge(GRANT, landed(pull(review("dwhitfield"))), requirements=OWNERS,
                     beneficiaries=frozenset({"cokafor"}))  # fmt: skip
    assert decision.could_approve.startswith("nobody: 1 of carol: @cokafor needs 1")
    assert who_could(OWNERS[0], {"jalvarez"}) == "cokafor (1 of carol: @cokafor)"


def test_a_change_the_pull_request_did_not_ask_for_is_held() -> None:
    """A merge commit that carries an extra change: the landing brought it, the PR's head did not."""
    decision = judge(GRANT, landed(pull(review("hbrandt"), requested=frozenset({"something else"}))))
    assert decision.verdict is Verdict.HELD and decision.rule == "requested"
    assert "did not ask for it: a change added in the merge is not approved" in decision.message


def test_a_direct_push_gets_nothing_applied() -> None:
    facts = GateFacts((StateFacts(OLD, frozenset(), "g0"), state("d", D)))
    decision = judge(GRANT, facts)
    assert decision.verdict is Verdict.HELD and decision.rule == "pull-request"
    assert f"commit {'d' * 7} brought this change without a merged pull request" in decision.message


def test_the_commit_that_last_brought_a_change_decides_not_an_older_approval() -> None:
    """PR 7 granted it (approved), PR 8 revoked it (approved), a direct push granted it again."""
    first = pull(review("hbrandt"), number=7)
    second = pull(review("hbrandt"), number=8, requested=frozenset())
    chain = (
        StateFacts(OLD, frozenset(), "g0"),
        StateFacts("7" * 40, frozenset({D}), "g0", 7),
        StateFacts("8" * 40, frozenset(), "g0", 8),
        StateFacts("9" * 40, frozenset({D}), "g0", None),
    )
    decision = judge(GRANT, GateFacts(chain, {7: first, 8: second}))
    assert decision.verdict is Verdict.HELD and decision.rule == "pull-request"


def test_restores_are_changes_in_the_approved_plan_at_every_commit_since() -> None:
    # drift repair: in the plan at the apply point and at every commit since
    steady = (StateFacts(OLD, frozenset({D}), "g0"), state("c", D))
    assert judge(GRANT, GateFacts(steady)).verdict is Verdict.RESTORES
    # a replayed older apply point: in its plan, but a later commit removed it, and a direct push
    # brought it back: not a restore
    replayed = (StateFacts(OLD, frozenset({D}), "g0"), state("c"), state("d", D))
    assert judge(GRANT, GateFacts(replayed)).verdict is Verdict.HELD
    assert entry_index(replayed, D) == 2
    assert entry_index(replayed, "not in head") is None


def test_a_revocation_no_rule_covers_needs_no_approval_but_a_grant_always_does() -> None:
    revoke = change(Action.REVOKE)
    facts = GateFacts((StateFacts(OLD, frozenset(), "g0"), state("d", identity_digest(revoke))))
    assert judge(revoke, facts, requirements=()).verdict is Verdict.NOT_REQUIRED
    assert judge(GRANT, landed(pull()), requirements=()).verdict is Verdict.HELD


def test_an_unapproved_policy_change_holds_everything_but_restores() -> None:
    drift = Change("x", "procore", Action.REVOKE, "1", "p", "project", "x", "y")
    r = identity_digest(drift)
    loosening = pull(
        review("hbrandt"), review("dwhitfield"), number=9, requested=frozenset(), governance="g1"
    )
    asked = pull(review("dwhitfield"), number=7)
    chain = (
        StateFacts(OLD, frozenset({r}), "g0"),
        StateFacts("9" * 40, frozenset({r}), "g1", 9),
        StateFacts("7" * 40, frozenset({r, D}), "g1", 7),
    )
    facts = GateFacts(chain, {9: loosening, 7: asked})
    owners = (Requirement("policy-owners", 2, frozenset({"hbrandt", "ewalsh"}), "2 of security"),)
    decision = judge(GRANT, facts, governance=owners)
    assert decision.verdict is Verdict.HELD and decision.rule == "policy-owners"
    assert "pull request #9 changed policies/ or an approver team and needs 2 approvals" in decision.message
    (restore,) = decide([drift], facts, requirements=lambda _: (), beneficiaries=lambda _: frozenset(),
                        governance=owners)  # fmt: skip
    assert restore.verdict is Verdict.RESTORES, "drift repair goes on"
    approved = GateFacts(
        chain, {9: pull(review("hbrandt"), review("ewalsh"), number=9, governance="g1"), 7: asked}
    )
    assert judge(GRANT, approved, governance=owners).verdict is Verdict.APPROVED
    assert not clean_history(facts, [decision], owners)


def test_a_policy_change_pushed_directly_or_slipped_into_a_merge_is_held() -> None:
    chain = (StateFacts(OLD, frozenset(), "g0"), StateFacts("9" * 40, frozenset({D}), "g1", None))
    assert judge(GRANT, GateFacts(chain)).rule in ("policy-owners", "pull-request")
    slipped = pull(review("hbrandt"), number=9, governance="g0")  # its head kept the old policies
    chain = (StateFacts(OLD, frozenset(), "g0"), StateFacts("9" * 40, frozenset({D}), "g1", 9))
    decision = judge(GRANT, GateFacts(chain, {9: slipped}))
    assert decision.rule == "policy-owners" and "the policy owners did not see them" in decision.message


def test_the_apply_point_moves_only_over_approved_history() -> None:
    good = landed(pull(review("hbrandt")))
    assert clean_history(good, decide([GRANT], good, requirements=lambda _: ANY,
                                      beneficiaries=lambda _: frozenset()), POLICY_OWNERS)  # fmt: skip
    unreviewed = landed(pull())
    assert not clean_history(unreviewed, [], POLICY_OWNERS)
    direct = GateFacts((StateFacts(OLD, frozenset(), "g0"), state("d")))
    assert not clean_history(direct, [], POLICY_OWNERS)


def test_the_decision_is_pure() -> None:
    code = "import sys, reconciler.approval; print(sorted({'httpx', 'git', 'rich'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
