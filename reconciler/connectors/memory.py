"""A connector over a snapshot file: the offline `plan --state DIR`, and a stand-in sandbox vendor.

It applies changes to the normalized records directly. Vendors whose simulator is not wired in yet
use it for the sandbox; the real vendors go through their own connector and simulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import compress
from operator import itemgetter, not_

from reconciler.changes import Action, Change
from reconciler.connectors.base import ChangeResult, Outcome, VendorState
from reconciler.records import Account, Grant, Head, ResourceKey, Scope
from reconciler.sandbox_seed import VendorSeed


def in_scope(grant: Grant, scope: Scope) -> bool:
    return grant.tenant in {t for _, t in scope.tenants} and scope.authority(grant.resource_key) is not None


def scoped_grants(
    grants: Iterable[Grant], scope: Scope, groups: Mapping[Head, Sequence[str]] | None = None
) -> tuple[frozenset[Grant], Mapping[Head, Sequence[str]] | None]:
    """The grants `in_scope` (and their `groups`, when known), deciding once per resource rather
    than once per grant."""
    tenants = {t for _, t in scope.tenants}
    grants = grants if isinstance(grants, frozenset) else frozenset(grants)
    # The distinct resources (a few hundred among a million grants) gathered in C, judged once each.
    resources = set(map(_RESOURCE, groups if groups is not None else grants))
    outside = {r for r in resources if not (r[1] in tenants and scope.authority(ResourceKey(*r)) is not None)}
    if not outside:
        return grants, groups
    kept = frozenset(compress(grants, map(not_, map(outside.__contains__, map(_RESOURCE, grants)))))
    if groups is not None:
        groups = {head: held for head, held in groups.items() if head[:4] not in outside}
    return kept, groups


_RESOURCE = itemgetter(0, 1, 2, 3)


class MemoryConnector:
    """Holds a VendorState; `apply` edits it. Persisting is the owner's business."""

    def __init__(self, state: VendorState) -> None:
        self.vendor = state.vendor
        self.state = state

    async def sync(self, scope: Scope) -> VendorState:
        grants, groups = scoped_grants(self.state.grants, scope, self.state.grant_groups)
        tenants = {t for _, t in scope.tenants}
        accounts = tuple(a for a in self.state.accounts if a.tenant in tenants)
        if len(grants) == len(self.state.grants) and len(accounts) == len(self.state.accounts):
            return self.state  # all of it in scope: keep the state (and its fingerprint, if known)
        return replace(self.state, accounts=accounts, grants=grants, grant_groups=groups)

    async def apply(self, change: Change) -> ChangeResult:
        accounts = {a.key: a for a in self.state.accounts}
        grants = set(self.state.grants)
        key = (change.vendor, change.tenant, change.principal)
        account = next((a for k, a in accounts.items() if tuple(k) == key), None)
        outcome = Outcome.APPLIED
        if change.action is Action.CREATE_ACCOUNT:
            if account is not None and account.active:
                outcome = Outcome.ALREADY
            else:
                attrs = dict(change.attributes)
                new = Account(
                    change.vendor, change.tenant, change.principal, active=True,
                    email=attrs.pop("email", change.principal), display_name=attrs.pop("name", ""),
                    attributes=tuple(sorted(attrs.items())),
                )  # fmt: skip
                accounts[new.key] = new
        elif change.action is Action.DEACTIVATE_ACCOUNT:
            if account is None or not account.active:
                outcome = Outcome.ALREADY
            else:
                accounts[account.key] = account._replace(active=False)
        elif change.is_account_change:  # update of an account attribute
            if account is None:
                return ChangeResult(change.id, Outcome.FAILED, "no such account")
            if change.resource == "active":
                accounts[account.key] = account._replace(active=change.entitlement == "true")
            else:
                attrs = dict(account.attributes) | {change.resource: change.entitlement}
                accounts[account.key] = account._replace(attributes=tuple(sorted(attrs.items())))
        else:
            grant = Grant(change.vendor, change.tenant, change.resource_type, change.resource,
                          change.entitlement, change.principal)  # fmt: skip
            if change.action is Action.UPDATE:
                grants.discard(grant._replace(entitlement=change.before))
            if change.action is Action.REVOKE:
                outcome = Outcome.APPLIED if grant in grants else Outcome.ALREADY
                grants.discard(grant)
            else:
                outcome = Outcome.ALREADY if grant in grants else Outcome.APPLIED
                grants.add(grant)
        self.state = replace(
            self.state, accounts=tuple(accounts.values()), grants=frozenset(grants), grant_groups=None
        )
        return ChangeResult(change.id, outcome)

    async def aclose(self) -> None:
        return None


def seed_state(vendor: str, seed: VendorSeed) -> VendorState:
    return VendorState(
        vendor,
        seed.accounts,
        frozenset(seed.grants),
        catalog={k: frozenset(v) for k, v in seed.catalog.items()},
        known_resources={k: frozenset(v) for k, v in seed.resources.items()},
    )
