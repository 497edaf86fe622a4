"""build_plan: desired vs actual -> changes. Pure: no I/O, no clock.

Membership is set arithmetic over normalized grants. On an exclusive resource type (a Procore
project's permission template) a revoke and a grant of the same holder fold into one `update`.
Accounts present at a vendor but absent from the YAML are findings (or deactivations when the
policy says so), never silent revocations. The YAML is first keyed the way the vendors' grants are
(`reconciler.canonical`: a Procore project named by id is its name), so a change names a resource
one way, however it is written.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, filterfalse, repeat
from operator import is_, itemgetter, ne, not_, or_
from typing import Any, Literal

from reconciler.canonical import aliases_of, canonical_access
from reconciler.changes import (
    ACCOUNT,
    ACTION_ORDER,
    Action,
    Change,
    Finding,
    Plan,
    Severity,
    change_ids,
    changes_from_rows,
    count_seats,
)
from reconciler.connectors.base import VendorState
from reconciler.desired_accounts import AccountLines
from reconciler.gcpause import paused_gc
from reconciler.line_grants import LineGrants
from reconciler.records import (
    AccessSet,
    Account,
    AccountKey,
    Grant,
    Head,
    Person,
    Provenance,
    ResourceKey,
    Scope,
    ungroup,
)
from reconciler.vendors import RESOURCE_TYPES, resource_type, vendor_label

UnmanagedMode = Literal["ignore", "report", "deactivate"]

# Account attributes the YAML manages, per vendor; others (display names) are the vendor's business.
MANAGED_ATTRIBUTES: dict[str, tuple[str, ...]] = {"pingone": ("population",)}


@dataclass(frozen=True, slots=True)
class PlanOptions:
    unmanaged: Mapping[str, UnmanagedMode] = field(default_factory=dict)  # vendor -> mode
    protected: frozenset[str] = frozenset()  # principals never revoked or deactivated
    deprovision: Mapping[str, str] = field(default_factory=dict)  # vendor -> "disable" | "delete"


def build_plan(
    desired: AccessSet,
    actual: Mapping[str, VendorState],
    *,
    today: dt.date,
    options: PlanOptions | None = None,
    desired_digest: str = "",
    git_commit: str | None = None,
) -> Plan:
    """The changes that make `actual` what `desired` says. `desired` is first keyed the way
    `actual` spells resources (`canonical_access`: ValidationErrors when it lists one twice)."""
    with paused_gc():
        desired = canonical_access(desired, aliases_of(actual))  # (as it is, when already canonical)
        return _build_plan(desired, actual, today, options or PlanOptions(), desired_digest, git_commit)


def _build_plan(
    desired: AccessSet,
    actual: Mapping[str, VendorState],
    today: dt.date,
    options: PlanOptions,
    desired_digest: str,
    git_commit: str | None,
) -> Plan:
    changes: list[Change] = []
    findings: list[Finding] = []
    vendors = sorted(v for v in desired.scope.vendors if v in actual)
    states = {vendor: _resolve_identities(actual[vendor], desired.people, findings) for vendor in vendors}
    missing, extra = _differences(desired, states, vendors)
    for vendor in vendors:
        planned: list[Change] = []
        _plan_vendor(
            vendor, desired, missing[vendor], extra[vendor], desired.account_lines(vendor), states[vendor], options,
            planned, findings,
        )  # fmt: skip
        changes += _outside(actual[vendor].unreadable, planned, findings)
    # Each vendor's changes come sorted by Change.sort_key, and the vendors in order.
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], f.vendor, f.code, f.principal, f.message))
    now = {vendor: _accounts_now(vendor, desired.scope, states[vendor]) for vendor in vendors}
    return Plan(
        changes=tuple(changes),
        findings=tuple(findings),
        seats=count_seats(changes, now),
        vendors=tuple(vendors),
        desired_digest=desired_digest,
        git_commit=git_commit,
        fingerprints={v: actual[v].fingerprint for v in vendors},
        today=today.isoformat(),
    )


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _accounts_now(vendor: str, scope: Scope, actual: _Resolved) -> tuple[int, int]:
    """(active, every) account at `vendor` in the tenants the YAML manages: its seats today."""
    tenants = {t for v, t in scope.tenants if v == vendor}
    held = [a for tenant, there in actual.accounts.items() if tenant in tenants for a in there.values()]
    return sum(map(_ACTIVE, held)), len(held)


def _differences(
    desired: AccessSet, states: Mapping[str, _Resolved], vendors: list[str]
) -> tuple[dict[str, set[Grant]], dict[str, set[Grant]]]:
    """Per vendor: the wanted grants it lacks, and the grants it has on managed resources that are
    not wanted.

    When both sides come grouped by head (normalize and snapshots do), the algebra runs per resource
    on sets of principals, whose hashes strings keep: several times cheaper than a million tuples.
    """
    wanted = desired.grant_groups
    missing: dict[str, set[Grant]] = {}
    extra: dict[str, set[Grant]] = {}
    plain = [v for v in vendors if wanted is None or states[v].groups is None]
    if plain:
        haves = {vendor: _have_grants(vendor, desired.scope, states[vendor]) for vendor in plain}
        # The wanted grants no vendor has, found with one pass over the desired grants (their
        # hashes kept), not by splitting a million grants by vendor first.
        all_missing = desired.grants.difference(*haves.values())
        for vendor in plain:
            missing[vendor] = _select(all_missing, _VENDOR, {vendor})
            extra[vendor] = haves[vendor] - desired.grants
    if wanted is None:
        return missing, extra
    have = {v: _managed_groups(v, desired.scope, states[v].groups or {}) for v in vendors if v not in missing}
    for vendor, groups in have.items():
        lacking: dict[Head, Sequence[str]] = {}
        surplus: dict[Head, set[str]] = {}
        for head, held in groups.items():  # each head the vendor holds: its principals a set once
            there = set(held)
            want = wanted.get(head)
            if want:
                lacking[head] = found = list(filterfalse(there.__contains__, want))
                # Each side holds a principal once: the vendor holds len(want) - len(found) of the
                # wanted, and anything more is surplus, taken out of `there` in place (no copy).
                if len(there) > len(want) - len(found):
                    there.difference_update(want)
                    surplus[head] = there
            else:
                surplus[head] = there
        for head, want in wanted.items():  # the heads it holds nothing of
            if head[0] == vendor and head not in groups:
                lacking[head] = want
        missing[vendor] = ungroup(lacking)
        extra[vendor] = ungroup(surplus)
    return missing, extra


def _managed_groups(
    vendor: str, scope: Scope, groups: Mapping[Head, Sequence[str]]
) -> dict[Head, Sequence[str]]:
    """`_have_grants`, grouped: the vendor's groups on what the YAML manages."""
    listed = {(k.tenant, k.resource_type, k.resource) for k in scope.resources if k.vendor == vendor}
    whole = {(t, rt) for v, t, rt in scope.all_of if v == vendor}
    return {head: held for head, held in groups.items() if head[1:4] in listed or head[1:3] in whole}


# A vendor's accounts matched to people: tenant -> principal (the person's) -> account.
ByTenant = dict[str, dict[str, Account]]


@dataclass(frozen=True, slots=True)
class _Resolved:
    accounts: ByTenant
    grants: frozenset[Grant]
    indirect: frozenset[Grant]
    ambiguous: frozenset[AccountKey] = frozenset()  # matched more than one active account
    read_only: frozenset[Grant] = frozenset()
    # The grants by head, when known; then `grants` are empty (the grants are the groups').
    groups: Mapping[Head, Sequence[str]] | None = None

    def account_id(self, key: AccountKey) -> str:
        """The vendor id of the account matched for `key` (empty when none, or not one)."""
        account = self.accounts.get(key.tenant, _NOBODY).get(key.principal)
        return account.native_id if account is not None and key not in self.ambiguous else ""


def _resolve_identities(
    state: VendorState, people: Mapping[str, Person], findings: list[Finding]
) -> _Resolved:
    """Map vendor accounts onto people: by the person's login override, else by email.

    Two active accounts that both match one person are a finding; the plan keeps the first.
    """
    vendor = state.vendor
    by_login = {
        login.casefold(): p.principal
        for p in compress(people.values(), map(_LOGINS, people.values()))  # (the few with overrides)
        for v, login in p.logins
        if v == vendor and login
    }
    rename: dict[str, str] = {}
    accounts = _matched(state.accounts, vendor, by_login, rename)
    ambiguous: set[AccountKey] = set()
    if accounts is None:  # two accounts match one person: each looked at in turn
        rename.clear()
        accounts = _matched_one_by_one(state, by_login, rename, ambiguous, findings)
    groups = state.grant_groups
    # Grouped, the planner works on the groups alone: the flat grants are never built.
    grants = state.grants if groups is None else frozenset()
    indirect = state.indirect
    read_only = state.read_only
    if rename:
        if groups is None:  # (grouped, the planner never walks the grants themselves)
            grants = _renamed_grants(grants, rename)
        indirect = _renamed_grants(indirect, rename)
        read_only = _renamed_grants(read_only, rename)
        if groups is not None:
            groups = {
                head: held if rename.keys().isdisjoint(held) else list(map(rename.get, held, held))
                for head, held in groups.items()
            }
    return _Resolved(accounts, grants, indirect, frozenset(ambiguous), read_only, groups)


def _matched(
    accounts: Sequence[Account], vendor: str, by_login: Mapping[str, str], rename: dict[str, str]
) -> ByTenant | None:
    """The accounts by tenant and person's principal, made column by column in C, and `rename`
    filled in: None when two accounts come to one principal (then `_matched_one_by_one`)."""
    if not accounts:
        return {}
    tenants = list(map(_TENANT, accounts))
    principals = list(map(_PRINCIPAL_OF_ACCOUNT, accounts))
    renamed: dict[int, str] = {}
    if by_login:  # an account's login attribute names the person (each distinct attribute set read once)
        attributes = list(map(_ATTRIBUTES, accounts))
        sets = dict(zip(map(id, attributes), attributes, strict=True))  # (the snapshot shares them)
        logins = {key: dict(attrs).get("login", "").casefold() for key, attrs in sets.items()}
        login_of = list(map(logins.__getitem__, map(id, attributes)))
        for i in compress(range(len(accounts)), map(by_login.__contains__, login_of)):
            principal = by_login[login_of[i]]
            if principal != principals[i]:
                rename[principals[i]] = renamed[i] = principal
    keyed = principals
    if renamed:
        keyed = list(principals)
        for i, principal in renamed.items():
            keyed[i] = principal
    matched: ByTenant = {}
    for tenant in dict.fromkeys(tenants):  # (one, but for Procore with several companies)
        if len(matched) == 0 and tenants.count(tenant) == len(tenants):
            matched[tenant] = dict(zip(keyed, accounts, strict=True))
            continue
        chosen = list(map(tenant.__eq__, tenants))
        matched[tenant] = dict(zip(compress(keyed, chosen), compress(accounts, chosen), strict=True))
    if sum(map(len, matched.values())) < len(accounts):
        return None
    for i, principal in renamed.items():
        matched[tenants[i]][principal] = _renamed(accounts[i], principal)
    return matched


def _matched_one_by_one(
    state: VendorState,
    by_login: Mapping[str, str],
    rename: dict[str, str],
    ambiguous: set[AccountKey],
    findings: list[Finding],
) -> ByTenant:
    """`_matched`, where two active accounts that match one person are a finding (the first is kept)."""
    vendor = state.vendor
    accounts: dict[AccountKey, Account] = {}
    for account in state.accounts:
        principal = account.principal
        login = account.attribute("login").casefold() if by_login and account.attributes else ""
        if login and login in by_login and by_login[login] != principal:
            rename[principal] = by_login[login]
            principal = by_login[login]
        key = AccountKey(vendor, account.tenant, principal)
        previous = accounts.get(key)
        if previous is not None:
            if previous.active and account.active:
                ambiguous.add(key)
                findings.append(
                    Finding(
                        Severity.WARNING, "ambiguous-account",
                        f"{vendor_label(vendor)}: {principal} matches more than one account"
                        f" ({previous.native_id or previous.principal}, {account.native_id or account.principal});"
                        " the plan uses the first",
                        vendor=vendor, principal=principal,
                        hint="merge or deactivate the duplicate at the vendor, or set a login override",
                    )
                )  # fmt: skip
            if previous.active or not account.active:
                continue
        accounts[key] = account if principal == account.principal else _renamed(account, principal)
    by_tenant: ByTenant = {}
    for key, account in accounts.items():
        by_tenant.setdefault(key.tenant, {})[key.principal] = account
    return by_tenant


def _renamed_grants(grants: frozenset[Grant], rename: Mapping[str, str]) -> frozenset[Grant]:
    """Only the renamed principals' grants are rebuilt (a few among a million)."""
    old = _select(grants, _PRINCIPAL, set(rename))
    if not old:
        return grants
    return (grants - old) | {g._replace(principal=rename[g.principal]) for g in old}


def _renamed(account: Account, principal: str) -> Account:
    return account._replace(principal=principal)


def _have_grants(vendor: str, scope: Scope, actual: _Resolved) -> set[Grant]:
    """The vendor's grants on what the YAML manages (listed resources, types managed in full)."""
    listed = {(k.tenant, k.resource_type, k.resource) for k in scope.resources if k.vendor == vendor}
    whole = {(t, rt) for v, t, rt in scope.all_of if v == vendor}
    grants = actual.grants if actual.groups is None else ungroup(actual.groups)
    have_grants = _select(grants, _RESOURCE, listed)
    if whole:
        have_grants |= _select(grants, _TENANT_TYPE, whole)
    return have_grants


def _plan_vendor(
    vendor: str,
    desired: AccessSet,
    missing: set[Grant],
    extra: set[Grant],
    wanted_accounts: AccountLines,
    actual: _Resolved,
    options: PlanOptions,
    changes: list[Change],
    findings: list[Finding],
) -> None:
    scope = desired.scope
    people = desired.people
    label = vendor_label(vendor)

    def person_of(principal: str) -> str:
        person = people.get(principal)
        return person.key if person else ""

    # Changes are collected as rows (see _Row) and built in bulk by `_changes`.
    rows: list[_Row] = []

    # Accounts ------------------------------------------------------------------------------------
    managed = MANAGED_ATTRIBUTES.get(vendor, ())
    # The usual case, nothing to change or to tell (the account is there, active, named as in the
    # YAML, its managed attributes as listed), is found in C passes over the YAML's lines of accounts
    # (no record made of each); the others are looked at here, a record made of each.
    for tenant, principals, names, emails, listed in wanted_accounts.lines:
        there = actual.accounts.get(tenant, _NOBODY)
        haves = list(map(there.get, principals, repeat(_ABSENT)))
        changed = map(or_, map(not_, map(_ACTIVE, haves)), map(ne, map(_NAME, haves), names))
        if managed:
            changed = map(or_, changed, map(ne, map(_ATTRIBUTES, haves), listed))
        found = list(compress(range(len(principals)), changed))
        absent = list(map(is_, map(haves.__getitem__, found), repeat(_ABSENT))) if found else []
        if any(absent):  # accounts to create: their rows made in bulk (onboarding: thousands)
            chosen = list(compress(found, absent))
            rows += _creations(vendor, tenant, chosen, principals, names, emails, listed, desired)
            found = list(compress(found, map(not_, absent)))
        for i in found:
            key = AccountKey(vendor, tenant, principals[i])
            account = Account(vendor, tenant, principals[i], True, emails[i], names[i], listed[i])
            rows += _account_changes(label, key, account, haves[i], managed, desired, findings, person_of)
    mode = options.unmanaged.get(vendor, "report")
    tenants = {t for v, t in scope.tenants if v == vendor}
    unmanaged: list[Account] = []
    for tenant, there in actual.accounts.items():
        if tenant in tenants:
            mine = wanted_accounts.held.get(tenant, ())
            unmanaged += filter(_ACTIVE, map(there.__getitem__, filterfalse(mine.__contains__, there)))
    unmanaged.sort(key=lambda a: (a.tenant, a.principal))
    for account in unmanaged:
        if account.principal in options.protected or mode == "ignore":
            continue
        if mode == "deactivate":
            how = options.deprovision.get(vendor, "disable")
            rows.append(
                (Action.DEACTIVATE_ACCOUNT, account.tenant, account.principal, ACCOUNT, "", "", "", None,
                 "not in the YAML (unmanaged accounts are deactivated by policy)", (("deprovision", how),))
            )  # fmt: skip
        else:
            where = f" in company {account.tenant}" if account.tenant else ""
            findings.append(
                Finding(Severity.INFO, "unmanaged-account",
                        f"{label}: {account.email or account.principal}{where} has an account that is not in the YAML",
                        vendor=vendor, principal=account.principal,
                        hint="add the person to access/, or set the unmanaged-accounts policy")
            )  # fmt: skip

    # Grants ----------------------------------------------------------------------------------------
    # Hot paths over every grant run in C (map/compress/set algebra): a million grants in seconds.
    # `missing`: the vendor's wanted grants it does not have; `extra`: what it has on managed
    # resources that is not wanted.
    to_grant = list(missing - actual.read_only)
    # An update pairs a wanted grant with the holder's old entitlement, which is always in `extra`.
    exclusive_types = {rt for (v, rt), t in RESOURCE_TYPES.items() if v == vendor and t.exclusive}
    exclusive_have: dict[tuple[str, ...], Grant] = {_HOLDER(g): g for g in extra if g[2] in exclusive_types}
    placed = _with_account(to_grant, actual.accounts, wanted_accounts.held)
    lines = desired.provenance
    provenances = (
        lines.of_wanted(to_grant) if isinstance(lines, LineGrants) else list(map(lines.get, to_grant))
    )
    if not all(placed):
        for grant, provenance, has_account in zip(to_grant, provenances, placed, strict=True):
            if has_account:
                continue
            findings.append(
                Finding(Severity.WARNING, "no-account",
                        f"{label}: {grant.principal} has no account here and the plan cannot create one,"
                        f" so {_what(grant)} is not planned",
                        vendor=vendor, principal=grant.principal,
                        source=str(provenance.source) if provenance and provenance.source else "",
                        hint=_no_account_hint(vendor))
            )  # fmt: skip
        to_grant = list(compress(to_grant, placed))
        provenances = list(compress(provenances, placed))
    olds = list(map(exclusive_have.get, map(_HOLDER, to_grant))) if exclusive_have else []
    updated = {old for old in olds if old is not None}
    if updated:  # the grants that replace an old entitlement are updates, the others grants
        rows += [
            (Action.UPDATE, g.tenant, g.principal, g.resource_type, g.resource, g.entitlement, old.entitlement, p,
             "", ())
            for g, p, old in zip(to_grant, provenances, olds, strict=True)
            if old is not None
        ]  # fmt: skip
        fresh = [old is None for old in olds]
        to_grant = list(compress(to_grant, fresh))
        provenances = list(compress(provenances, fresh))
    for grant in extra:
        if grant in updated or scope.authority(grant.resource_key) is not True:
            continue
        if grant.principal in options.protected:
            continue
        expired = desired.expired.get(grant)
        note = (
            f"lapsed: {expired.lapsed}" if expired and expired.lapsed
            else f"expired {expired.expires}" if expired else "not in the YAML"
        )  # fmt: skip
        rows.append(
            (Action.REVOKE, grant.tenant, grant.principal, grant.resource_type, grant.resource, grant.entitlement,
             "", expired, note, ())
        )  # fmt: skip
    changes += _changes(vendor, rows, to_grant, provenances, people, actual)
    _indirect_findings(vendor, desired, actual, findings)
    _read_only_findings(vendor, desired, actual, findings)


def _account_changes(
    label: str,
    key: AccountKey,
    account: Account,
    have_or_absent: Account,
    managed: tuple[str, ...],
    desired: AccessSet,
    findings: list[Finding],
    person_of: Callable[[str], str],
) -> list[_Row]:
    """What to do about one account the YAML lists that the vendor lacks or shows otherwise."""
    rows: list[_Row] = []
    have = None if have_or_absent is _ABSENT else have_or_absent
    provenance = desired.provenance.get(key)
    if have is None:
        attributes = (("email", account.email), ("name", account.display_name), *account.attributes)
        rows.append(
            (Action.CREATE_ACCOUNT, key.tenant, key.principal, ACCOUNT, "", "", "", provenance, "",
             tuple(sorted(attributes)))
        )  # fmt: skip
        return rows
    if not have.active:
        rows.append(
            (Action.UPDATE, key.tenant, key.principal, ACCOUNT, "active", "true", "false", provenance,
             "reactivate", ())
        )  # fmt: skip
    if have.display_name and _folded(have.display_name) != _folded(account.display_name):
        findings.append(_details_differ(label, account, have, provenance, person_of(key.principal)))
    if not managed or account.attributes == have.attributes:
        return rows
    want = {k: v for k, v in account.attributes if k in managed}
    got = {k: v for k, v in have.attributes if k in managed}
    for attribute in sorted(want):
        if got.get(attribute) != want[attribute]:
            rows.append(
                (Action.UPDATE, key.tenant, key.principal, ACCOUNT, attribute, want[attribute],
                 got.get(attribute, ""), provenance, "", ())
            )  # fmt: skip
    return rows


def _creations(
    vendor: str,
    tenant: str,
    chosen: list[int],
    principals: Sequence[str],
    names: Sequence[str],
    emails: Sequence[str],
    listed: Sequence[tuple[tuple[str, str], ...]],
    desired: AccessSet,
) -> list[_Row]:
    """The rows `_account_changes` makes for accounts of one line that the vendor lacks (at
    `chosen` positions), made in C passes: their provenance a line at a time, their attributes
    (email, name and those listed, sorted) by one permutation per set of listed attributes."""
    whom = list(map(principals.__getitem__, chosen))
    lines = desired.provenance
    if isinstance(lines, LineGrants):
        provenances = lines.of_accounts(vendor, tenant, whom)
    else:
        provenances = [lines.get(AccountKey(vendor, tenant, p)) for p in whom]
    their_emails = list(map(emails.__getitem__, chosen))
    their_names = list(map(names.__getitem__, chosen))
    extra = list(map(listed.__getitem__, chosen))
    attributes: list[tuple[tuple[str, str], ...]]
    common = extra[0]
    keys = ["email", "name", *(pair[0] for pair in common)]
    if extra.count(common) == len(extra) and len(set(keys)) == len(keys):  # (then keys alone sort them)
        columns: list[Iterable[tuple[str, str]]] = [
            zip(repeat("email"), their_emails),
            zip(repeat("name"), their_names),
            *map(repeat, common),
        ]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        attributes = list(zip(*map(columns.__getitem__, order), strict=False))  # (with endless repeats)
    else:
        attributes = [
            tuple(sorted((("email", e), ("name", n), *more)))
            for e, n, more in zip(their_emails, their_names, extra, strict=True)
        ]
    n = len(whom)
    return list(
        zip(
            repeat(Action.CREATE_ACCOUNT, n), repeat(tenant), whom, repeat(ACCOUNT), repeat(""), repeat(""),
            repeat(""), provenances, repeat(""), attributes,
        )
    )  # fmt: skip


def _accounts_of(
    tenants: Sequence[str], principals: Sequence[str], accounts: ByTenant
) -> Iterable[Account | None]:
    """The account (or None) of each (tenant, principal), looked up in C when there is one tenant."""
    distinct = set(tenants)
    if len(distinct) == 1:
        return map(accounts.get(next(iter(distinct)), _NOBODY).get, principals)
    return [accounts.get(t, _NOBODY).get(p) for t, p in zip(tenants, principals, strict=True)]


def _with_account(grants: Sequence[Grant], have: ByTenant, want: Mapping[str, Container[str]]) -> list[bool]:
    """Whether the holder of each grant has an account at the vendor or is to get one."""
    distinct = set(map(_TENANT, grants))
    if len(distinct) > 1:
        return [g[5] in have.get(g[1], _NOBODY) or g[5] in want.get(g[1], ()) for g in grants]
    tenant = next(iter(distinct), "")
    principals = list(map(_PRINCIPAL, grants))
    there, listed = have.get(tenant, _NOBODY), want.get(tenant, ())
    return list(map(or_, map(there.__contains__, principals), map(listed.__contains__, principals)))


# A change before its id, person, explanations and account id:
# (action, tenant, principal, resource_type, resource, entitlement, before, provenance, note, attributes)
_Row = tuple[Action, str, str, str, str, str, str, Provenance | None, str, tuple[tuple[str, str], ...]]


def _changes(
    vendor: str,
    rows: list[_Row],
    grants: list[Grant],
    provenances: list[Provenance | None],
    people: Mapping[str, Person],
    actual: _Resolved,
) -> list[Change]:
    """A vendor's changes, sorted (`Change.sort_key`): `rows`, and a grant of each of `grants` (the
    bulk of a plan that onboards people, taken column by column)."""
    n = len(grants)
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 10
    if n:
        _, tenant, rtype, resource, entitlement, principal = zip(*grants, strict=True)
        grant_columns = (
            (Action.GRANT,) * n, tenant, principal, rtype, resource, entitlement, ("",) * n, tuple(provenances),
            ("",) * n, ((),) * n,
        )  # fmt: skip
        columns = [have + more for have, more in zip(columns, grant_columns, strict=True)]
    if not columns[0]:
        return []
    return _changes_of(vendor, *columns, people=people, actual=actual)


def _changes_of(
    vendor: str,
    action: Sequence[Action],
    tenant: Sequence[str],
    principal: Sequence[str],
    rtype: Sequence[str],
    resource: Sequence[str],
    entitlement: Sequence[str],
    before: Sequence[str],
    provenance: Sequence[Provenance | None],
    note: Sequence[str],
    attributes: Sequence[tuple[tuple[str, str], ...]],
    *,
    people: Mapping[str, Person],
    actual: _Resolved,
) -> list[Change]:
    """Changes from columns of equal length, in bulk: ids, people, explanations and account ids
    in C-level passes or one comprehension each, and no frozen-dataclass __init__ per change."""
    ids = change_ids(
        zip(repeat(vendor), action, tenant, rtype, resource, entitlement, principal, strict=False)
    )
    person = list(map(_KEY, map(people.get, principal, repeat(_NO_ONE))))  # (a Person's key, or "")
    # One provenance per source line, shared by many changes: each explained once (by identity:
    # hashing a provenance runs Python code).
    distinct = dict(zip(map(id, provenance), provenance, strict=True))
    explained = {key: _explain(p) for key, p in distinct.items()}
    source, reason, expires = zip(*map(explained.__getitem__, map(id, provenance)), strict=True)
    if actual.ambiguous:
        account_id = [
            actual.account_id(AccountKey(vendor, t, p)) for t, p in zip(tenant, principal, strict=True)
        ]
    else:
        account_id = [
            a.native_id if a is not None else "" for a in _accounts_of(tenant, principal, actual.accounts)
        ]
    built = changes_from_rows(
        zip(
            ids, repeat(vendor), action, tenant, principal, rtype, resource, entitlement, before, person, source,
            reason, expires, note, attributes, account_id, strict=False,
        )
    )  # fmt: skip
    return list(map(built.__getitem__, _sort_order(action, tenant, principal, rtype, resource, entitlement)))


def _sort_order(
    action: Sequence[Action],
    tenant: Sequence[str],
    principal: Sequence[str],
    rtype: Sequence[str],
    resource: Sequence[str],
    entitlement: Sequence[str],
) -> list[int]:
    """Positions in `Change.sort_key` order, for one vendor's changes (a stable sort).

    Sorting whole keys compares tuples whose first five items are nearly always equal (a plan that
    onboards people: 100,000 grants on a few hundred resources). The changes are grouped by
    (tenant, action, resource type, resource) instead, and each group sorted by principal and
    entitlement, whose first items differ: the same order, at a fraction of the comparisons' cost.
    """
    groups = list(zip(tenant, map(ACTION_ORDER.__getitem__, action), rtype, resource, strict=True))
    ranks = {group: rank for rank, group in enumerate(sorted(set(groups)))}
    rank = list(map(ranks.__getitem__, groups))
    grouped = sorted(range(len(rank)), key=rank.__getitem__)  # (stable: in each group, as they came)
    sizes = Counter(rank)
    rest = list(zip(principal, entitlement, strict=True))
    order: list[int] = []
    start = 0
    for group in range(len(ranks)):
        members = grouped[start : start + sizes[group]]
        start += len(members)
        members.sort(key=rest.__getitem__)
        order += members
    return order


def _explain(provenance: Provenance | None) -> tuple[str, str, str]:
    """A change's source, reason and expiry, from the provenance of what it carries out."""
    if provenance is None:
        return ("", "", "")
    return (str(provenance.source) if provenance.source else "", provenance.reason, provenance.expires)


def _outside(
    unreadable: Mapping[ResourceKey, str], planned: list[Change], findings: list[Finding]
) -> list[Change]:
    """Changes on resources the connector could not read are not planned: each such resource is a
    finding instead (its members are unknown, so any change there would be a guess)."""
    if not unreadable:
        return planned
    for key, why in sorted(unreadable.items()):
        where = f" in company {key.tenant}" if key.tenant else ""
        findings.append(
            Finding(Severity.WARNING, "unreadable-resource",
                    f"{vendor_label(key.vendor)} {resource_type(key.vendor, key.resource_type).label} "
                    f"{key.resource!r}{where} could not be read ({why}); nothing is planned there",
                    vendor=key.vendor, hint="fix the access at the vendor, then plan again")
        )  # fmt: skip
    return [
        c for c in planned if ResourceKey(c.vendor, c.tenant, c.resource_type, c.resource) not in unreadable
    ]


def _read_only_findings(vendor: str, desired: AccessSet, actual: _Resolved, findings: list[Finding]) -> None:
    for grant in sorted(actual.read_only):
        if desired.holds(grant) or desired.scope.authority(grant.resource_key) is not True:
            continue
        findings.append(
            Finding(Severity.WARNING, "read-only-grant",
                    f"{vendor_label(vendor)}: {grant.principal} holds {_what(grant)} ({grant.entitlement}), "
                    "which the YAML does not list, but the vendor marks it read-only for these credentials: "
                    "access cannot revoke it",
                    vendor=vendor, principal=grant.principal,
                    hint="remove it at the vendor as an administrator who may, or list it in the YAML")
        )  # fmt: skip


def _indirect_findings(vendor: str, desired: AccessSet, actual: _Resolved, findings: list[Finding]) -> None:
    held: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for grant in actual.indirect:
        if desired.scope.authority(grant.resource_key) is True and not desired.holds(grant):
            held[(grant.resource_type, grant.resource, grant.entitlement)].append(grant.principal)
    for (rtype, resource, _), principals in sorted(held.items()):
        findings.append(
            Finding(Severity.INFO, "indirect-member",
                    f"{vendor_label(vendor)} {resource_type(vendor, rtype).label} {resource!r}: "
                    f"{len(principals)} indirect member(s) not in the YAML ({', '.join(sorted(principals)[:5])}"
                    f"{', …' if len(principals) > 5 else ''}); indirect membership is never revoked",
                    vendor=vendor, hint="change the nesting or dynamic rule at the vendor if unwanted")
        )  # fmt: skip


_RESOURCE = itemgetter(1, 2, 3)
_TENANT_TYPE = itemgetter(1, 2)
_VENDOR = itemgetter(0)
_HOLDER = itemgetter(0, 1, 2, 3, 5)
_PRINCIPAL = itemgetter(5)
_PRINCIPAL_OF_ACCOUNT = itemgetter(2)
_TENANT = itemgetter(1)
_LOGINS = itemgetter(3)  # a Person's login overrides
# What `_plan_vendor` compares of an account there with the YAML's: active, display name, and the
# attributes where the YAML manages some. An account that is not there: _ABSENT (never active).
_ACTIVE = itemgetter(3)
_NAME = itemgetter(5)
_ATTRIBUTES = itemgetter(6)
_ABSENT = Account("", "", "", active=False)
_KEY = itemgetter(0)  # a Person's key
_NO_ONE = ("",)  # (the key of nobody)
_NOBODY: dict[str, Account] = {}


def _select(grants: frozenset[Grant] | set[Grant], key: itemgetter[Any], allowed: set[Any]) -> set[Grant]:
    """The grants whose `key` is in `allowed`, filtered without a Python-level loop."""
    if not allowed:
        return set()
    # Two iterators over one unchanged set walk it in the same order.
    keep = list(map(allowed.__contains__, map(key, grants)))
    if all(keep):  # often all of them (the vendor's grants on listed resources): keep their hashes
        return set(grants)
    return set(compress(grants, keep))


def _what(grant: Grant) -> str:
    rtype = resource_type(grant.vendor, grant.resource_type)
    return f"{rtype.label} {grant.resource!r}"


def _no_account_hint(vendor: str) -> str:
    if vendor == "pingone":
        return "put the person in a population under pingone.populations"
    return "list the person under the vendor's accounts"


def _folded(name: str) -> str:
    return " ".join(name.split()).casefold()


def _details_differ(
    label: str, want: Account, have: Account, provenance: Provenance | None, person: str
) -> Finding:
    """The vendor's account matched by email or login carries other details than the YAML: worth a
    reviewer's glance (a wrong match, a rename), never a change, since names are the vendor's."""
    from deepdiff import DeepDiff  # (rare: only when the vendor shows other details)

    diff = DeepDiff({"name": want.display_name}, {"name": have.display_name}, verbose_level=2)
    parts = [
        f"{path.removeprefix('root[').removesuffix(']').strip(chr(39))} {v['new_value']!r}"
        f" (YAML: {v['old_value']!r})"
        for path, v in diff.get("values_changed", {}).items()
    ]
    who = person or want.principal
    return Finding(
        Severity.INFO, "account-details",
        f"{label}: the account matched for {who} ({have.native_id or have.principal}) shows {'; '.join(parts)}",
        vendor=want.vendor, principal=want.principal,
        source=str(provenance.source) if provenance and provenance.source else "",
        hint="check that this is the right person's account; fix the name at the vendor or in access/",
    )  # fmt: skip
