"""The approval ledger's fold, pure: landings, pull requests and reviews in, approved state out.

Each test names the attacker's move and the fact that stops it; `tests/test_gate.py` plays the same
moves end to end with real git repositories, the GitHub simulator and the sandbox vendors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest

from reconciler.approvers import Requirement
from reconciler.changes import Action, Change
from reconciler.ledger import (
    Beneficiary,
    Landing,
    PullFacts,
    ReviewFact,
    Rules,
    Verdict,
    counted,
    fold,
)
from reconciler.ledger_state import (
    GOVERNANCE,
    GRANT,
    AccountItems,
    DesiredState,
    Edit,
    diff,
    expired_on,
    gives_access,
    overlay,
    value_parts,
)
from reconciler.records import AccessSet, Grant, ResourceKey, Scope

HEAD = "h" * 40
MERGED = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
BEFORE = MERGED - dt.timedelta(hours=1)
VPN = Grant("pingone", "", "group", "VPN", "member", "carol@x")
ADMIN = Grant("pingone", "", "role", "Identity Data Admin", "environment", "mike@x")

# GitHub ids of the people in the approved state.
IDS = {"cokafor": 1, "hbrandt": 2, "glin-sec": 3, "mallory": 4, "mchen-site": 5}
PEOPLE = {1: "carol", 2: "heidi", 3: "grace", 4: "mallory", 5: "mike"}


def state(*grants: Grant, governance: str = "g0", expiry: Mapping[Grant, str] | None = None) -> DesiredState:
    groups: dict[tuple[str, str, str, str, str], frozenset[str]] = {}
    for g in grants:
        groups[g[:5]] = groups.get(g[:5], frozenset()) | {g[5]}
    return DesiredState(groups, dict(expiry or {}), AccountItems({}, {}, {}), {}, governance)


def rules(sha: str = "point") -> Rules:
    def requirements(change: Change) -> tuple[Requirement, ...]:
        if change.resource_type == "role" and change.action is Action.GRANT:
            return (Requirement("pingone-roles", 1, frozenset({"glin-sec"}), "1 of security: @glin-sec"),)
        return ()

    owners = (Requirement("policy-owners", 1, frozenset({"glin-sec"}), "1 of security: @glin-sec"),)
    return Rules(sha, requirements, owners, PEOPLE, IDS)


def beneficiary(edit: Edit) -> Beneficiary:
    principal = str(edit.key[5]) if edit.kind == GRANT else ""
    key = {"carol@x": "carol", "mike@x": "mike"}.get(principal, "")
    return Beneficiary(frozenset({key} - {""}), frozenset({k for k, v in PEOPLE.items() if v == key}))


def approve(login: str, *, sha: str = HEAD, at: dt.datetime = BEFORE) -> ReviewFact:
    return ReviewFact(login, "APPROVED", sha, at, "MEMBER", False, IDS.get(login, 99))


def pull(number: int, edits: list[Edit], *reviews: ReviewFact, **more: object) -> PullFacts:
    requested = {(e.kind, tuple(e.key)): e.after for e in edits}
    base: dict[str, object] = dict(
        number=number, author="alice-ng", author_id=50, head_sha=HEAD, merged_at=MERGED, reviews=reviews,
        requested=requested, base_governance="g0", head_governance="g0",
    )  # fmt: skip
    base.update(more)
    return PullFacts(**base)  # type: ignore[arg-type]


def run(landings: list[Landing], pulls: dict[int, PullFacts], start: Mapping[object, object] | None = None):  # type: ignore[no-untyped-def]
    return fold(
        landings, pulls, start=dict(start or {}), start_held={}, governance="point",  # type: ignore[arg-type]
        rules_at=rules, beneficiary=beneficiary,
    )  # fmt: skip


def test_an_approved_pull_request_extends_the_approved_state() -> None:
    edits = diff(state(), state(VPN))
    ledger = run([Landing("m1", tuple(edits), 1)], {1: pull(1, edits, approve("hbrandt"))})
    (record,) = ledger.records.values()
    assert record.verdict is Verdict.APPROVED and record.approvers == ("hbrandt",) and record.pull == 1
    assert not ledger.held and not ledger.overrides


def test_a_direct_push_is_held_and_the_approved_value_kept() -> None:
    edits = diff(state(), state(VPN))
    ledger = run([Landing("p1", tuple(edits))], {})
    (record,) = ledger.held.values()
    assert record.rule == "pull-request" and ledger.overrides == {(GRANT, tuple(VPN)): None}


def test_reverting_a_held_edit_clears_it_without_an_approval() -> None:
    add, remove = diff(state(), state(VPN)), diff(state(VPN), state())
    ledger = run([Landing("p1", tuple(add)), Landing("p2", tuple(remove))], {})
    assert not ledger.held and not ledger.overrides


def test_the_last_pusher_cannot_approve() -> None:
    """Mallory pushes a commit to Alice's branch, then approves: she wrote it."""
    edits = diff(state(), state(VPN))
    facts = pull(1, edits, approve("mallory"), writers={4: "pushed to its head branch (push)"})
    ledger = run([Landing("m1", tuple(edits), 1)], {1: facts})
    (record,) = ledger.held.values()
    assert record.rule == "reviewed"
    assert "mallory pushed to its head branch (push): their own approval does not count" in record.message


def test_the_beneficiary_cannot_approve_under_any_login() -> None:
    """Carol's approval (id 1) does not count for Carol's grant, whatever login she shows now."""
    edits = diff(state(), state(VPN))
    renamed = ReviewFact("carol-new-login", "APPROVED", HEAD, BEFORE, "MEMBER", False, 1)
    ledger = run([Landing("m1", tuple(edits), 1)], {1: pull(1, edits, renamed)})
    (record,) = ledger.held.values()
    assert record.rule == "self-approval"


def test_an_approval_by_an_id_the_approved_state_does_not_know_never_counts() -> None:
    edits = diff(state(), state(VPN))
    stranger = ReviewFact("newcomer", "APPROVED", HEAD, BEFORE, "MEMBER", False, 777)
    ledger = run([Landing("m1", tuple(edits), 1)], {1: pull(1, edits, stranger)})
    (record,) = ledger.held.values()
    assert "GitHub id 777" in record.message and record.rule == "reviewed"


def test_an_edit_the_head_did_not_ask_for_is_held() -> None:
    asked = diff(state(), state(VPN))
    landed = diff(state(), state(VPN, ADMIN))
    ledger = run([Landing("m1", tuple(landed), 1)], {1: pull(1, asked, approve("hbrandt"))})
    assert (GRANT, tuple(VPN)) in ledger.records
    assert ledger.held[(GRANT, tuple(ADMIN))].rule == "requested"


def test_a_rule_needs_its_approvers() -> None:
    edits = diff(state(), state(ADMIN))
    ledger = run([Landing("m1", tuple(edits), 1)], {1: pull(1, edits, approve("hbrandt"))})
    assert ledger.held[(GRANT, tuple(ADMIN))].rule == "pingone-roles"
    ledger = run([Landing("m1", tuple(edits), 1)], {1: pull(1, edits, approve("glin-sec"))})
    assert ledger.records[(GRANT, tuple(ADMIN))].approvers == ("glin-sec",)


def test_governance_laundering_is_held() -> None:
    """An unapproved loosening lands; the owners then approve an unrelated policy edit whose merge
    base already carried the loosening: their diff never showed it."""
    loosen = diff(state(governance="g0"), state(governance="g1"))
    later = diff(state(governance="g1"), state(governance="g2"))
    facts = pull(2, later, approve("glin-sec"), base_governance="g1", head_governance="g2")
    ledger = run([Landing("p1", tuple(loosen)), Landing("m2", tuple(later), 2)], {2: facts})
    record = ledger.held[(GOVERNANCE, ())]
    assert record.rule == "policy-owners" and record.commit == "m2"
    assert "merge base did not carry the approved ones" in record.message
    assert ledger.overrides[(GOVERNANCE, ())] == "g0" and ledger.governance == "point"


def test_the_policy_owners_approve_a_governance_change() -> None:
    change = diff(state(governance="g0"), state(governance="g1"))
    facts = pull(1, change, approve("glin-sec"), head_governance="g1")
    ledger = run([Landing("m1", tuple(change), 1)], {1: facts})
    assert ledger.governance == "m1" and not ledger.held


def test_an_expiry_extension_pushed_directly_keeps_the_approved_expiry() -> None:
    old = state(VPN, expiry={VPN: "2026-11-30"})
    new = state(VPN, expiry={VPN: "2027-11-30"})
    ledger = run([Landing("p1", tuple(diff(old, new)))], {})
    assert ledger.overrides == {(GRANT, tuple(VPN)): "2026-11-30"}
    access = AccessSet({}, grant_groups={VPN[:5]: (VPN[5],)}, scope=Scope(frozenset({"pingone"})))
    approved = overlay(access, ledger.overrides, dt.date(2026, 12, 7))
    assert VPN in approved.expired and not approved.holds(VPN)


@pytest.mark.parametrize(
    ("before", "after", "needs_approval"),
    [
        ("|2026-06-01", "|2026-12-07", True),  # a later certified day: access lapses later
        ("2027-01-01|2026-06-01", "2027-01-01", True),  # certified dropped: counted from the line's day
        ("|2026-12-07", "|2026-06-01", False),  # an earlier certified day only shortens
        ("2030-01-01|2026-12-07", "|2026-01-01", True),  # an expiry extended hides behind a sooner day
        ("|2026-01-01", "2030-01-01|2026-12-07", True),  # ...and a certified day behind a new expiry
        ("2027-01-01", "2026-12-31|2026-06-01", False),  # both sooner
    ],
)
def test_a_certified_day_moved_later_is_judged_like_a_grant(
    before: str, after: str, needs_approval: bool
) -> None:
    """`certified:` says the owner re-approved the line; under `on_no_response: revoke` it decides
    when access lapses, so an unreviewed push that moves it later is held like an extension."""
    edit = Edit(GRANT, tuple(VPN), before, after)
    assert gives_access(edit) is needs_approval
    if needs_approval:
        ledger = run([Landing("p1", (edit,))], {})
        assert ledger.overrides == {(GRANT, tuple(VPN)): before}
        access = AccessSet({}, grant_groups={VPN[:5]: (VPN[5],)}, scope=Scope(frozenset({"pingone"})))
        approved = overlay(access, ledger.overrides, dt.date(2026, 12, 7))
        held = approved.provenance[VPN]
        assert (held.expires, held.certified) == value_parts(before)


def test_counted_reviews_the_latest_verdict_on_the_final_head_by_a_writer() -> None:
    facts = pull(
        1, [], approve("hbrandt", sha="old" * 10), approve("glin-sec"),
        ReviewFact("glin-sec", "CHANGES_REQUESTED", HEAD, BEFORE, "MEMBER", False, 3),
        approve("cokafor"), approve("mchen-site", at=MERGED + dt.timedelta(minutes=1)),
        permissions={"hbrandt": "write", "glin-sec": "admin", "cokafor": "read", "mchen-site": "write"},
    )  # fmt: skip
    found = counted(facts)
    assert found.valid == ()
    text = " ".join(found.problems)
    assert "stale approval" in text and "cokafor has no write access" in text and "after the merge" in text


def test_overlay_restores_a_held_removal_and_scope() -> None:
    access = AccessSet({}, grant_groups={}, scope=Scope(frozenset({"pingone"})))
    key = ResourceKey("pingone", "", "group", "VPN")
    overrides = {(GRANT, tuple(VPN)): "", ("scope", ("resource", *key)): True}
    approved = overlay(access, overrides, dt.date(2026, 12, 7))
    assert approved.holds(VPN) and approved.scope.authority(key) is True
    assert not expired_on("", dt.date(2026, 12, 7)) and expired_on("2026-12-07", dt.date(2026, 12, 7))
