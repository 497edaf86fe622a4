"""The safety limits of apply (pure), each refusal naming its override flag.

`check_limits` refuses mass revocation, like peribolos's maximum removal delta: more revocations
than `max_revocations` in one apply, or more than `max_revocation_share` of a vendor's current
grants (once at least `min_revocations_for_share` are planned there). `suspicious_empty` refuses
to act on a sync that returned zero accounts where the last one had many: a wrong tenant or a
broken credential looks exactly like that, and the plan would revoke everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from reconciler.changes import Action, Finding, Plan, Severity
from reconciler.policy_model import Limits
from reconciler.vendors import vendor_label

__all__ = ["MASS_REVOCATION_FLAG", "Limits", "check_limits", "plan_findings", "suspicious_empty"]

MASS_REVOCATION_FLAG = "--allow-mass-revocation"
EMPTY_VENDOR_FLAG = "--allow-empty-vendor"
CODE = "limits"
_REMOVALS = (Action.REVOKE, Action.DEACTIVATE_ACCOUNT)


def check_limits(plan: Plan, current_grant_counts: Mapping[str, int], limits: Limits) -> list[str]:
    """Refusal messages; empty when the plan is within the limits."""
    refusals: list[str] = []
    removals = [c for c in plan.changes if c.action in _REMOVALS]
    if limits.max_revocations is not None and len(removals) > limits.max_revocations:
        refusals.append(
            f"refusing to make {len(removals)} revocations and deactivations"
            f" (limit: {limits.max_revocations});"
            f" pass {MASS_REVOCATION_FLAG} if intended"
        )
    if limits.max_revocation_share is not None:
        revokes = Counter(c.vendor for c in plan.changes if c.action is Action.REVOKE)
        for vendor in sorted(revokes):
            count, current = revokes[vendor], current_grant_counts.get(vendor, 0)
            if count < max(limits.min_revocations_for_share, 1):
                continue
            share = count / current if current else 1.0
            if share > limits.max_revocation_share:
                refusals.append(
                    f"{vendor_label(vendor)}: refusing to revoke {count} of {current} grants"
                    f" ({_percent(share)} > {_percent(limits.max_revocation_share)});"
                    f" pass {MASS_REVOCATION_FLAG} if intended"
                )
    return refusals


def suspicious_empty(
    previous_counts: Mapping[str, int], current_counts: Mapping[str, int], limits: Limits | None = None
) -> list[str]:
    """Refusals for vendors whose sync returned no accounts where the previous one had many."""
    threshold = (limits or Limits()).empty_vendor_min_accounts
    refusals: list[str] = []
    for vendor in sorted(current_counts):
        before = previous_counts.get(vendor, 0)
        if current_counts[vendor] == 0 and before >= threshold:
            refusals.append(
                f"{vendor_label(vendor)}: the sync returned no accounts where the last one had {before};"
                f" refusing to apply (a wrong tenant or credential looks like this); pass {EMPTY_VENDOR_FLAG}"
                " if intended"
            )
    return refusals


def plan_findings(plan: Plan, limits: Limits) -> list[Finding]:
    """What the plan can already tell: the count limit (the share needs the vendor's grant count)."""
    if limits.max_revocations is None:
        return []
    summary = plan.summary
    removals = sum(summary[str(action)] for action in _REMOVALS)
    if removals <= limits.max_revocations:
        return []
    return [
        Finding(
            Severity.WARNING,
            CODE,
            f"{removals} revocations and deactivations exceed the safety limit of {limits.max_revocations};"
            " apply will refuse this plan",
            hint=f"split the change, raise limits.max_revocations, or apply with {MASS_REVOCATION_FLAG}",
        )
    ]


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"
