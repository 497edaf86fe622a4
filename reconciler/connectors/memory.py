"""A connector over a snapshot file: the offline `plan --state DIR`, and a stand-in sandbox vendor.

It applies changes to the normalized records directly. Vendors whose simulator is not wired in yet
use it for the sandbox; the real vendors go through their own connector and simulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import compress
from operator import itemgetter, not_

from reconciler.canonical import Aliases, canonical_scope
from reconciler.changes import Action, Change
from reconciler.connectors.base import ChangeResult, Outcome, VendorState
from reconciler.records import Account, Grant, Head, ResourceKey, Scope
from reconciler.sandbox_seed import VendorSeed


def in_scope(grant: Grant, scope: Scope) -> bool:
    return grant.tenant in {t for _, t in scope.tenants} and scope.authority(grant.resource_key) is not None


def scoped_grants(grants: Iterable[Grant], scope: Scope) -> frozenset[Grant]:
    """The grants `in_scope`, deciding once per resource rather than once per grant."""
    grants = grants if isinstance(grants, frozenset) else frozenset(grants)
    outside = _outside(set(map(_RESOURCE, grants)), scope)
    if not outside:
        return grants
    return frozenset(compress(grants, map(not_, map(outside.__contains__, map(_RESOURCE, grants)))))


def scoped_groups(groups: Mapping[Head, Sequence[str]], scope: Scope) -> Mapping[Head, Sequence[str]]:
    """`scoped_grants`, grouped."""
    outside = _outside(set(map(_RESOURCE, groups)), scope)
    if not outside:
        return groups
    return {head: held for head, held in groups.items() if head[:4] not in outside}


def _outside(resources: set[tuple[str, ...]], scope: Scope) -> set[tuple[str, ...]]:
    """Of `resources` (the distinct ones: a few hundred among a million grants, gathered in C),
    those out of `scope`."""
    tenants = {t for _, t in scope.tenants}
    return {r for r in resources if not (r[1] in tenants and scope.authority(ResourceKey(*r)) is not None)}


_RESOURCE = itemgetter(0, 1, 2, 3)
_TENANT = itemgetter(1)


class MemoryConnector:
    """Holds a VendorState; `apply` edits it. Persisting is the owner's business."""

    def __init__(self, state: VendorState) -> None:
        self.vendor = state.vendor
        self.state = state

    async def sync(self, scope: Scope) -> VendorState:
        state = self.state
        # The scope as the state's grants spell its resources (a project named by id in the YAML is
        # held under its name): reconciler.canonical.
        scope = canonical_scope(scope, Aliases({(self.vendor, *k): v for k, v in state.aliases.items()}))
        tenants = {t for _, t in scope.tenants}
        accounts = state.accounts
        inside = list(map(tenants.__contains__, map(_TENANT, accounts)))  # (a C-level pass)
        if not all(inside):
            accounts = tuple(compress(accounts, inside))
        if state.grant_groups is not None:  # (the grants themselves are not built)
            groups = scoped_groups(state.grant_groups, scope)
            if groups is state.grant_groups and len(accounts) == len(state.accounts):
                return state  # all of it in scope: keep the state (and its fingerprint, if known)
            return state.replace(accounts=accounts, grant_groups=groups)
        grants = scoped_grants(state.grants, scope)
        if grants is state.grants and len(accounts) == len(state.accounts):
            return state
        return state.replace(accounts=accounts, grants=grants)

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
        self.state = self.state.replace(accounts=tuple(accounts.values()), grants=frozenset(grants))
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
