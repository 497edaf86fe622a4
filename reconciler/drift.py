"""Drift with a cause: the differences a plan finds that were made at a vendor, and who made them.

A difference is *drift* when the vendor holds something the YAML does not want, on what the YAML
manages: a grant the plan revokes as "not in the YAML", an account it deactivates as not in the
YAML, or an unmanaged account it reports. Who made it comes from the vendor's own audit records
(PingOne's audit activities; `reconciler.connectors.pingone_audit`): a person or an application
other than access's worker is **out-of-band**; access's own worker app made it (the YAML has since
stopped asking for it) is **access**; a vendor without such records (Procore, SAP Concur) or
credentials that may not read them leave it **unknown**, and say why.

Pure: the plan in, items and findings out. Causes explain; they never steer apply or the gate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.changes import ACCOUNT, Action, Cause, CauseKind, Finding, Plan, Severity
from reconciler.records import Grant
from reconciler.rules.matching import describe_grant
from reconciler.vendors import vendor_label

NOT_IN_YAML = "not in the YAML"
NOT_AT_THIS_VENDOR = "not attributable at this vendor (it keeps no audit trail access can read)"
FORBIDDEN = "not attributable (the worker may not read audit activities)"
OFFLINE = "not attributable (planned from a snapshot: the vendors were not asked)"


@dataclass(frozen=True, slots=True)
class Item:
    """One difference to explain: the access (an account: resource_type "account") and the id of the
    change that undoes it ("" when the plan only reports it)."""

    grant: Grant
    change: str = ""

    @property
    def is_account(self) -> bool:
        return self.grant.resource_type == ACCOUNT


def items(plan: Plan) -> list[Item]:
    """The drift in `plan`: what the vendors hold that the YAML does not want, one item each."""
    found: dict[Grant, Item] = {}
    for change in plan.changes:
        if change.action is Action.REVOKE and change.note == NOT_IN_YAML:
            grant = Grant(change.vendor, change.tenant, change.resource_type, change.resource,
                          change.entitlement, change.principal)  # fmt: skip
        elif change.action is Action.DEACTIVATE_ACCOUNT and change.note.startswith(NOT_IN_YAML):
            grant = account(change.vendor, change.tenant, change.principal)
        else:
            continue
        found.setdefault(grant, Item(grant, change.id))
    for finding in plan.findings:
        if finding.code == "unmanaged-account" and finding.vendor and finding.principal:
            grant = account(finding.vendor, "", finding.principal)
            found.setdefault(grant, Item(grant))
    return list(found.values())


def account(vendor: str, tenant: str, principal: str) -> Grant:
    return Grant(vendor, tenant, ACCOUNT, "", "", principal)


def unknown(item: Item, note: str) -> Cause:
    return cause(item, CauseKind.UNKNOWN, note=note)


def cause(item: Item, kind: CauseKind, **facts: str) -> Cause:
    g = item.grant
    return Cause(g.vendor, g.tenant, g.resource_type, g.resource, g.entitlement, g.principal, kind,
                 change=item.change, **facts)  # fmt: skip


def grant_of(cause: Cause) -> Grant:
    return Grant(cause.vendor, cause.tenant, cause.resource_type, cause.resource, cause.entitlement,
                 cause.principal)  # fmt: skip


def when(at: str) -> str:
    """'2026-11-20T14:03:12.345Z' -> '2026-11-20 14:03 UTC' (as recorded, when it is not that form)."""
    if len(at) >= 16 and at[10] == "T" and at.endswith("Z"):
        return f"{at[:10]} {at[11:16]} UTC"
    return at


def what(cause: Cause, *, vendor: bool = True) -> str:
    """'PingOne role Environment Admin', 'a PingOne account' (without the vendor: 'role Environment
    Admin', 'an account')."""
    label = vendor_label(cause.vendor)
    if cause.resource_type == ACCOUNT:
        where = f" in company {cause.tenant}" if cause.tenant else ""
        return f"a {label} account{where}" if vendor else f"an account{where}"
    text = describe_grant(grant_of(cause))
    return text if vendor else text.removeprefix(f"{label} ")


def actor_text(cause: Cause) -> str:
    """'Heidi (heidi@…, an administrator, through PingOne Admin Console)', 'the application X'."""
    if cause.actor_type == "user":
        through = f", through {cause.client}" if cause.client else ""
        return f"{cause.actor or cause.actor_id} (an administrator{through})"
    return f"the application {cause.actor or cause.actor_id}"


def text(cause: Cause) -> str:
    """Who made it, when, and how, in one phrase (or why that cannot be said)."""
    verb = "created" if cause.resource_type == ACCOUNT else "granted"
    action = f" ({cause.action})" if cause.action else ""
    if cause.kind is CauseKind.OUT_OF_BAND:
        return f"{verb} by {actor_text(cause)} at {when(cause.at)}{action}"
    if cause.kind is CauseKind.ACCESS:
        return f"{verb} by access itself ({cause.actor or cause.actor_id}) at {when(cause.at)}{action}"
    return cause.note or "not attributable"


def by_grant(causes: Iterable[Cause]) -> dict[Grant, Cause]:
    return {grant_of(c): c for c in causes}


def findings(causes: Sequence[Cause], people: Mapping[str, str]) -> list[Finding]:
    """One finding per cause. `people`: principal -> person key (as the plan's changes name them).

    Out-of-band drift is a warning (someone changed access outside the repository); access's own
    earlier grants and drift nobody can name are notes (an account the plan only reports, nobody can
    name: its unmanaged-account finding is enough)."""
    out: list[Finding] = []
    for c in causes:
        if c.kind is CauseKind.UNKNOWN and c.resource_type == ACCOUNT and not c.change:
            continue  # an account only reported: its unmanaged-account finding says it already
        who = people.get(c.principal) or c.principal
        verb = "has" if c.resource_type == ACCOUNT else "holds"
        subject = f"{vendor_label(c.vendor)}: {who} {verb} {what(c, vendor=False)}"
        if c.kind is CauseKind.OUT_OF_BAND:
            hint = (
                "to keep it, add the person to access/ in a pull request"
                if c.resource_type == ACCOUNT
                else "to keep it, merge the pull request `access adopt` opens (or add the line yourself); "
                "otherwise apply revokes it"
            )
            out.append(Finding(Severity.WARNING, "out-of-band",
                               f"{subject}, {NOT_IN_YAML}: {text(c)}, not through access/",
                               vendor=c.vendor, principal=c.principal, hint=hint))  # fmt: skip
        elif c.kind is CauseKind.ACCESS:
            out.append(Finding(Severity.INFO, "made-by-access",
                               f"{subject}, {NOT_IN_YAML}: {text(c)}; the YAML no longer asks for it",
                               vendor=c.vendor, principal=c.principal))  # fmt: skip
        else:
            out.append(Finding(Severity.INFO, "not-attributable", f"{subject}, {NOT_IN_YAML}: {text(c)}",
                               vendor=c.vendor, principal=c.principal))  # fmt: skip
    return out


def people_of(plan: Plan) -> dict[str, str]:
    """principal -> person key, from the plan's changes (the people it names)."""
    return {c.principal: c.person for c in plan.changes if c.person}
