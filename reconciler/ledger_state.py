"""The desired state as the ledger sees it (pure): keyed items, diffed between two commits.

The approval ledger (`reconciler/ledger.py`) judges what each landing on `main` changes in the
*desired* state, independent of any vendor. A commit's access/ and policies/ compile (normalize)
to an `AccessSet`; `DesiredState.of` reads from it the items an approval is about:

- **grants**, expired ones included, each with the expiry written for it ("" for none): a grant
  appearing is a grant, disappearing a revocation, and its expiry moving an extension (judged as
  a grant: it keeps access longer);
- **accounts** with what the YAML manages of them (active, name, email, managed attributes);
- **scope**: which resources, resource types, tenants and vendors the YAML manages, and whether
  authoritatively (a resource leaving the scope lets access nobody approved stand at the vendor);
- **governance**: one fingerprint of `policies/` and of whom the rules resolve to (team
  memberships, GitHub logins, the emails that key people).

`diff` lists the `Edit`s between two states, per head of grants (set arithmetic in C), so a state
of a million grants diffs in well under a second. `overlay` builds the `AccessSet` that apply
converges the vendors to: a commit's desired state with the ledger's held edits put back to their
approved values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from reconciler.changes import ACCOUNT, Action, Change
from reconciler.records import (
    AccessSet,
    Account,
    AccountAttributes,
    AccountKey,
    Grant,
    Head,
    Person,
    Provenance,
    ResourceKey,
    Scope,
)

GRANT = "grant"
ACCOUNT_ITEM = "account"
SCOPE = "scope"
GOVERNANCE = "governance"

# A scope item: ("resource", vendor, tenant, type, resource) | ("all", vendor, tenant, type) |
# ("tenant", vendor, tenant) | ("vendor", vendor); its value: True (authoritative) or False.
ScopeKey = tuple[str, ...]


class Edit(NamedTuple):
    """One item of the desired state changing between two commits (None: absent)."""

    kind: str  # GRANT, ACCOUNT_ITEM, SCOPE or GOVERNANCE
    key: tuple[str, ...]
    before: object
    after: object


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What one commit's access/ and policies/ ask for, as items."""

    groups: Mapping[Head, Sequence[str]]  # every grant, expired included, by head (each distinct)
    expiry: Mapping[Grant, str]  # the grants that carry an expiry -> the date as written
    accounts: AccountItems
    scope: Mapping[ScopeKey, bool]
    governance: str

    @classmethod
    def of(cls, access: AccessSet, governance: str) -> DesiredState:
        # The groups as normalize made them (lists in line order, the same for the same YAML), so a
        # state costs no copy of a million principals; only the heads that differ become sets.
        groups: Mapping[Head, Sequence[str]]
        if access.grant_groups is not None:
            groups = access.grant_groups
        else:
            grouped: dict[Head, list[str]] = {}
            for grant in access.grants:
                grouped.setdefault(grant[:5], []).append(grant[5])
            groups = grouped
        expiry: dict[Grant, str] = {}
        if access.expired:
            groups = dict(groups)
            for grant, provenance in access.expired.items():
                head = grant[:5]
                held = groups.get(head, ())
                if grant[5] not in held:
                    groups[head] = (*held, grant[5])
                expiry[grant] = grant_value(provenance.expires or "expired", provenance.certified)
        expiry.update(_expiring(access))
        return cls(groups, expiry, AccountItems.of(access), scope_items(access.scope), governance)

    def value(self, kind: str, key: tuple[str, ...]) -> object:
        """The item's value here (None: absent)."""
        if kind == GRANT:
            held = self.groups.get((key[0], key[1], key[2], key[3], key[4]))
            if held is None or key[5] not in held:
                return None
            return self.expiry.get(Grant(*key), "")
        if kind == ACCOUNT_ITEM:
            return self.accounts.get(AccountKey(*key))
        if kind == SCOPE:
            return self.scope.get(key)
        return self.governance


@dataclass(frozen=True, slots=True)
class AccountItems:
    """A state's accounts without their records: an account is its (vendor, tenant) bucket's
    managed attributes for the principal plus the person's email and name. Two commits' accounts
    compare bucket by bucket in C, and a person whose email or name changed touches only theirs;
    records are made for the accounts that differ. A set normalize did not make (so without
    attributes to read) gives its records (`exact`), compared as they are."""

    attributes: AccountAttributes
    people: Mapping[str, Person]  # principal -> person: each account's email and name
    exact: Mapping[AccountKey, Account]

    @classmethod
    def of(cls, access: AccessSet) -> AccountItems:
        attributes = access.account_attributes()
        if attributes is None:
            return cls({}, {}, dict(access.accounts))
        return cls(attributes, access.people, {})

    def get(self, key: AccountKey) -> Account | None:
        found = self.exact.get(key)
        if found is not None:
            return found
        bucket = self.attributes.get((key[0], key[1]))
        attributes = bucket.get(key[2]) if bucket is not None else None
        if attributes is None:
            return None
        person = self.people.get(key[2])
        email, name = (person.email, person.name) if person is not None else ("", "")
        return Account(key[0], key[1], key[2], True, email, name, attributes, "")

    def differing(self, other: AccountItems) -> set[AccountKey]:
        """The keys whose account may differ between the two (a superset: compare their values)."""
        keys: set[AccountKey] = set()
        if self.exact != other.exact:
            keys.update(key for key, _ in self.exact.items() ^ other.exact.items())
        empty: Mapping[str, tuple[tuple[str, str], ...]] = {}
        buckets = self.attributes.keys() | other.attributes.keys()
        for bucket in buckets:
            mine, theirs = self.attributes.get(bucket, empty), other.attributes.get(bucket, empty)
            if mine is not theirs and mine != theirs:
                keys.update(AccountKey(*bucket, principal) for principal, _ in mine.items() ^ theirs.items())
        if self.people is not other.people and self.people != other.people:
            moved = _contact_changed(self.people, other.people)
            for bucket in buckets:
                for held in (self.attributes.get(bucket, empty), other.attributes.get(bucket, empty)):
                    keys.update(AccountKey(*bucket, principal) for principal in moved if principal in held)
        return keys


def _contact_changed(old: Mapping[str, Person], new: Mapping[str, Person]) -> set[str]:
    """The principals whose email or name (what an account shows of its person) differ."""
    moved = set(old.keys() ^ new.keys())
    for principal, _person in old.items() ^ new.items():
        was, now = old.get(principal), new.get(principal)
        if was is None or now is None or (was.email, was.name) != (now.email, now.name):
            moved.add(principal)
    return moved


def _expiring(access: AccessSet) -> Iterator[tuple[Grant, str]]:
    """The wanted grants whose line carries an expiry or a `certified` day (a few among a
    million: only their lines expand), with their value (`grant_value`)."""
    provenance = access.provenance
    where = getattr(provenance, "items_where", None)
    if where is not None:
        for grant, p in where(_dated):
            yield grant, grant_value(p.expires, p.certified)
        return
    for key, p in provenance.items():
        if isinstance(key, Grant) and (p.expires or p.certified):
            yield key, grant_value(p.expires, p.certified)


def _dated(provenance: Provenance) -> bool:
    return bool(provenance.expires or provenance.certified)


# ---------------------------------------------------------------- a grant's value


def grant_value(expires: str, certified: str = "") -> str:
    """A grant's value in the ledger: its expiry as written ("" for none) and, when its line says
    when its owner last re-approved it, that day: `2027-01-01|2026-12-07`. Both bound how long the
    access lasts (a recertification rule with `on_no_response: revoke` lapses it after the
    certified day), so moving either later is judged like a grant."""
    return f"{expires}|{certified}" if certified else expires


def value_parts(value: str) -> tuple[str, str]:
    """(expires, certified) of a `grant_value`."""
    expires, _, certified = value.partition("|")
    return expires, certified


def scope_items(scope: Scope) -> dict[ScopeKey, bool]:
    items: dict[ScopeKey, bool] = {("vendor", v): True for v in scope.vendors}
    items.update((("tenant", *t), True) for t in scope.tenants)
    items.update((("all", *a), True) for a in scope.all_of)
    items.update((("resource", *key), bool(auth)) for key, auth in scope.resources.items())
    return items


def diff(old: DesiredState, new: DesiredState) -> list[Edit]:
    """Every item whose value differs between `old` and `new`, in a stable order."""
    edits: list[Edit] = []
    if old.governance != new.governance:
        edits.append(Edit(GOVERNANCE, (), old.governance, new.governance))
    for key in sorted(old.scope.keys() | new.scope.keys()):
        before, after = old.scope.get(key), new.scope.get(key)
        if before != after:
            edits.append(Edit(SCOPE, key, before, after))
    for akey in sorted(old.accounts.differing(new.accounts)):
        was_account, now_account = old.accounts.get(akey), new.accounts.get(akey)
        if was_account != now_account:
            edits.append(Edit(ACCOUNT_ITEM, tuple(akey), was_account, now_account))
    empty: Sequence[str] = ()
    for head in sorted(_differing(old.groups, new.groups)):
        was, now = frozenset(old.groups.get(head, empty)), frozenset(new.groups.get(head, empty))
        for principal in sorted(now - was):
            grant = Grant(*head, principal)
            edits.append(Edit(GRANT, grant, None, new.expiry.get(grant, "")))
        for principal in sorted(was - now):
            grant = Grant(*head, principal)
            edits.append(Edit(GRANT, grant, old.expiry.get(grant, ""), None))
    for grant in sorted(old.expiry.keys() | new.expiry.keys()):
        before_e, after_e = old.expiry.get(grant, ""), new.expiry.get(grant, "")
        if (
            before_e != after_e
            and old.value(GRANT, grant) is not None
            and new.value(GRANT, grant) is not None
        ):
            edits.append(Edit(GRANT, grant, before_e, after_e))
    return edits


def _differing(old: Mapping[Head, Sequence[str]], new: Mapping[Head, Sequence[str]]) -> list[Head]:
    """The heads whose principals differ (unsorted: only these are sorted, not every head)."""
    if old is new:
        return []
    empty: Sequence[str] = ()
    found = [head for head in old.keys() - new.keys()]
    for head, now in new.items():
        was = old.get(head, empty)
        if was is not now and was != now and (len(was) != len(now) or set(was) != set(now)):
            found.append(head)
    return found


# ---------------------------------------------------------------- what rules read of an edit


def gives_access(edit: Edit) -> bool:
    """Whether the edit adds or keeps access (judged like a grant): a grant or account appearing,
    an expiry moving, an account's details changing, a resource leaving authoritative scope."""
    if edit.kind == GOVERNANCE:
        return True
    if edit.kind == SCOPE:
        return (edit.before is True and edit.after is not True) or (
            edit.after is False and edit.before is None
        )
    if edit.after is None:
        return False
    if edit.kind == GRANT and isinstance(edit.before, str) and isinstance(edit.after, str):
        return not shortens(edit.before, edit.after)
    if edit.kind == ACCOUNT_ITEM and isinstance(edit.before, Account) and isinstance(edit.after, Account):
        return not (
            edit.before.active and not edit.after.active and edit.before._replace(active=False) == edit.after
        )
    return True


def shortens(before: str, after: str) -> bool:
    """Whether a grant's value moving from `before` to `after` ends access sooner and never later:
    neither its expiry nor its certified day moves later ("" is never / not certified: the latest)."""
    (expires_was, certified_was), (expires_now, certified_now) = value_parts(before), value_parts(after)
    return (
        _not_later(expires_was, expires_now) and _not_later(certified_was, certified_now) and before != after
    )


def _not_later(before: str, after: str) -> bool:
    return (bool(after) and (not before or after <= before)) or after == before


def as_change(edit: Edit) -> Change:
    """The change an edit amounts to, as approver rules read one (action, vendor, resource...)."""
    if edit.kind == GRANT:
        vendor, tenant, rtype, resource, entitlement, principal = edit.key
        action = Action.GRANT if gives_access(edit) else Action.REVOKE
        return Change("", vendor, action, tenant, principal, rtype, resource, entitlement)
    if edit.kind == ACCOUNT_ITEM:
        vendor, tenant, principal = edit.key
        if edit.before is None:
            action = Action.CREATE_ACCOUNT
        elif edit.after is None or not gives_access(edit):
            action = Action.DEACTIVATE_ACCOUNT
        else:
            action = Action.UPDATE
        return Change("", vendor, action, tenant, principal, ACCOUNT, "", "")
    if edit.kind == SCOPE:
        _kind, vendor, *rest = edit.key
        tenant = rest[0] if rest else ""
        rtype = rest[1] if len(rest) > 1 else ""
        resource = rest[2] if len(rest) > 2 else ""
        action = Action.GRANT if gives_access(edit) else Action.REVOKE
        return Change("", vendor, action, tenant, "", rtype, resource, "")
    return Change("", "", Action.GRANT, "", "", "", "", "")


def describe(edit: Edit) -> str:
    """The edit for people: '+ pingone carol@…: group VPN', 'policies/ or approver teams'."""
    if edit.kind == GOVERNANCE:
        return "policies/ or whom the approver rules resolve to"
    if edit.kind == GRANT:
        vendor, _tenant, rtype, resource, entitlement, principal = edit.key
        what = f"{rtype} {resource}" + (
            f" ({entitlement})" if entitlement and entitlement != "member" else ""
        )
        if edit.before is None:
            return f"+ {vendor} {principal}: {what}"
        if edit.after is None:
            return f"- {vendor} {principal}: {what}"
        (was, certified_was), (now, certified_now) = (
            value_parts(str(edit.before)),
            value_parts(str(edit.after)),
        )
        moved = [f"expires {was or 'never'} → {now or 'never'}"] if was != now else []
        if certified_was != certified_now:
            moved.append(f"certified {certified_was or 'never'} → {certified_now or 'never'}")
        return f"~ {vendor} {principal}: {what} {', '.join(moved)}"
    if edit.kind == ACCOUNT_ITEM:
        vendor, _tenant, principal = edit.key
        sign = "+" if edit.before is None else "-" if edit.after is None else "~"
        return f"{sign} {vendor} account {principal}"
    kind, *rest = edit.key
    return f"scope {kind} {' '.join(rest)}: {edit.before} → {edit.after}"


# ---------------------------------------------------------------- the approved AccessSet


class _Provenance(Mapping[Grant | AccountKey, Provenance]):
    """A desired set's provenance with the held items' explanations laid over it."""

    def __init__(
        self, base: Mapping[Grant | AccountKey, Provenance], extra: Mapping[Grant | AccountKey, Provenance]
    ):
        self.base = base
        self.extra = extra

    def __getitem__(self, key: Grant | AccountKey) -> Provenance:
        found = self.extra.get(key)
        return found if found is not None else self.base[key]

    def get(self, key: Grant | AccountKey, default: Provenance | None = None) -> Provenance | None:  # type: ignore[override]
        found = self.extra.get(key)
        return found if found is not None else self.base.get(key, default)

    def __iter__(self) -> Iterator[Grant | AccountKey]:
        yield from self.extra
        yield from (k for k in self.base if k not in self.extra)

    def __len__(self) -> int:
        return len(self.base) + sum(1 for k in self.extra if k not in self.base)


def expired_on(expires: str, today: dt.date) -> bool:
    """Whether an expiry as written ("2026-12-01", "2026-12-01T17:00:00Z") has passed by `today`."""
    expires = value_parts(expires)[0]
    if not expires:
        return False
    try:
        return dt.date.fromisoformat(expires[:10]) <= today
    except ValueError:
        return True  # unreadable: expired (normalize refuses these; be safe)


def overlay(
    access: AccessSet, overrides: Mapping[tuple[str, tuple[str, ...]], object], today: dt.date
) -> AccessSet:
    """`access` with each overridden item set to its approved value (None: absent)."""
    if not overrides:
        return access
    groups: dict[Head, list[str]] = {h: list(p) for h, p in (access.grant_groups or {}).items()}
    if access.grant_groups is None:
        for grant in access.grants:
            groups.setdefault(grant[:5], []).append(grant[5])
    expired: dict[Grant, Provenance] = dict(access.expired)
    accounts = dict(access.accounts)
    scope = access.scope
    resources = dict(scope.resources)
    all_of: set[tuple[str, ...]] = set(scope.all_of)
    tenants: set[tuple[str, ...]] = set(scope.tenants)
    vendors: set[str] = set(scope.vendors)
    extra: dict[Grant | AccountKey, Provenance] = {}
    note = "held by the approval ledger: the approved value"
    for (kind, key), value in overrides.items():
        if kind == GRANT:
            grant = Grant(*key)
            head, principal = grant[:5], grant[5]
            members = groups.setdefault(head, [])
            if principal in members:
                members.remove(principal)
            expired.pop(grant, None)
            if value is None:
                continue
            expires, certified = value_parts(str(value))
            provenance = Provenance(None, note, expires, certified=certified)
            if expired_on(expires, today):
                expired[grant] = provenance
            else:
                members.append(principal)
                extra[grant] = provenance
        elif kind == ACCOUNT_ITEM:
            akey = AccountKey(*key)
            if value is None:
                accounts.pop(akey, None)
            elif isinstance(value, Account):
                accounts[akey] = value
                extra[akey] = Provenance(None, note)
        elif kind == SCOPE:
            _set_scope(key, value, resources, all_of, tenants, vendors)
    return AccessSet(
        accounts,
        provenance=_Provenance(access.provenance, extra),
        expired=expired,
        scope=Scope(frozenset(vendors), frozenset(_pairs(tenants)), resources, frozenset(_triples(all_of))),
        people=access.people,
        resource_sources=access.resource_sources,
        tenant_sources=access.tenant_sources,
        grant_groups={h: tuple(p) for h, p in groups.items() if p},
    )


def _set_scope(
    key: tuple[str, ...],
    value: object,
    resources: dict[ResourceKey, bool],
    all_of: set[tuple[str, ...]],
    tenants: set[tuple[str, ...]],
    vendors: set[str],
) -> None:
    kind, *rest = key
    if kind == "resource":
        rkey = ResourceKey(*rest)
        if value is None:
            resources.pop(rkey, None)
        else:
            resources[rkey] = bool(value)
    elif kind == "vendor":
        vendors.discard(rest[0]) if value is None else vendors.add(rest[0])
    else:
        target = all_of if kind == "all" else tenants
        target.discard(tuple(rest)) if value is None else target.add(tuple(rest))


def _pairs(items: set[tuple[str, ...]]) -> Iterator[tuple[str, str]]:
    return ((a[0], a[1]) for a in items)


def _triples(items: set[tuple[str, ...]]) -> Iterator[tuple[str, str, str]]:
    return ((a[0], a[1], a[2]) for a in items)
