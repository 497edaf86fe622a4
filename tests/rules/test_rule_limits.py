"""Safety limits of apply: mass revocation and a suspiciously empty vendor are refused, naming the flag."""

from __future__ import annotations

from pathlib import Path

from reconciler.changes import Action, Change, Finding, Plan, Severity
from reconciler.policy_model import Limits
from reconciler.rules import check_plan
from reconciler.rules.limits import check_limits, suspicious_empty
from tests.policy_helpers import TODAY, change, desired_from, policies_from


def revocations(vendor: str, n: int) -> tuple[Change, ...]:
    return tuple(
        change(Action.REVOKE, vendor, "group", "VPN", "member", f"u{i}@harbor.example") for i in range(n)
    )


def test_revoking_more_than_the_share_is_refused_per_vendor() -> None:
    plan = Plan(changes=(*revocations("pingone", 42), *revocations("concur", 3)))
    assert check_limits(plan, {"pingone": 100, "concur": 4}, Limits(max_revocation_share=0.25)) == [
        "PingOne: refusing to revoke 42 of 100 grants (42% > 25%); pass --allow-mass-revocation if intended"
    ]


def test_within_the_share_or_below_its_floor_passes() -> None:
    plan = Plan(changes=(*revocations("pingone", 25), *revocations("concur", 4)))
    assert check_limits(plan, {"pingone": 100, "concur": 4}, Limits()) == []


def test_more_revocations_than_the_count_limit_are_refused() -> None:
    deactivation = change(Action.DEACTIVATE_ACCOUNT, "concur", "account", "", "", "temp@harbor.example")
    plan = Plan(changes=(*revocations("pingone", 10), deactivation))
    limits = Limits(max_revocations=10, max_revocation_share=None)
    assert check_limits(plan, {"pingone": 1000}, limits) == [
        "refusing to make 11 revocations and deactivations (limit: 10); pass --allow-mass-revocation if intended"
    ]
    assert check_limits(Plan(changes=revocations("pingone", 10)), {"pingone": 1000}, limits) == []


def test_a_vendor_that_suddenly_has_no_accounts_is_refused() -> None:
    assert suspicious_empty({"procore": 2400, "concur": 3}, {"procore": 0, "concur": 0}, Limits()) == [
        "Procore: the sync returned no accounts where the last one had 2400; refusing to apply"
        " (a wrong tenant or credential looks like this); pass --allow-empty-vendor if intended"
    ]


def test_a_vendor_with_accounts_or_that_had_few_passes() -> None:
    assert suspicious_empty({"procore": 2400, "concur": 3}, {"procore": 2390, "concur": 0}) == []


def test_the_plan_warns_ahead_of_apply_when_the_count_limit_trips(tmp_path: Path) -> None:
    desired = desired_from(tmp_path)
    policies = policies_from(tmp_path, "limits: {max_revocations: 2}\n")
    assert check_plan(Plan(changes=revocations("pingone", 2)), desired, policies, TODAY).findings == ()
    assert check_plan(Plan(changes=revocations("pingone", 3)), desired, policies, TODAY).findings == (
        Finding(
            Severity.WARNING,
            "limits",
            "3 revocations and deactivations exceed the safety limit of 2; apply will refuse this plan",
            hint="split the change, raise limits.max_revocations, or apply with --allow-mass-revocation",
        ),
    )
