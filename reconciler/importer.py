"""`access import`, the pure part: what the vendors have (and what the YAML says) -> edits to access/.

People are unified across vendors by email (a login override is recorded where a vendor's login
differs). Each assignment the vendors hold becomes one member line; lines the YAML holds directly
that the vendors no longer have are removed, so that a `plan` right after the import shows no
changes. What cannot be written without changing the vendor is kept out and explained:

- an inactive Procore or Concur account is not listed (listing it would reactivate it); a role it
  still holds makes that resource additive (`authoritative: false`), with a comment, so it is not
  revoked behind anyone's back;
- a disabled PingOne account keeps its group and role lines but stays out of `populations`
  (a population line is what makes access create or re-enable an account);
- an account without an email (and no login that is one) cannot be a person.

No I/O, no clock: the command syncs, this module decides, `import_writer` edits the files.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.catalogs import static_catalog
from reconciler.connectors.base import VendorState
from reconciler.records import AccessSet, Account, AccountKey, Grant, ResourceKey
from reconciler.vendors import VENDORS, resource_type

YamlPath = tuple[str, ...]
Value = str | tuple[str, ...] | None  # a template, role scope(s), or None for plain membership

# How a fresh vendor section starts: authoritative on what it lists, as the example repository does.
SECTION_DEFAULTS: dict[str, dict[str, object]] = {
    "procore": {"authoritative": True},
    "concur": {"authoritative": True, "exhaustive": ["roles"]},
    "pingone": {"authoritative": True, "exhaustive": ["roles"]},
}
_WITH_ACCOUNTS = ("procore", "concur")  # vendors whose accounts are listed under `accounts`


class EditKind(StrEnum):
    ADD = "add"  # add a member line
    REMOVE = "remove"  # remove a member line written directly (not one that comes through a team)
    SET = "set"  # change the value of a member line (template, scopes), adding it if need be
    ADDITIVE = "additive"  # make the resource `authoritative: false` (note says why)


@dataclass(frozen=True, slots=True)
class MemberEdit:
    kind: EditKind
    path: YamlPath  # the members container: an accounts list, a project, a role, a group, a population
    member: str = ""
    value: Value = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class NewPerson:
    key: str
    email: str
    name: str
    logins: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LoginEdit:
    key: str
    vendor: str
    login: str


@dataclass(frozen=True, slots=True)
class NewTeam:
    name: str
    description: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImportInput:
    actual: Mapping[str, VendorState]
    existing: AccessSet  # the YAML as it stands, normalized (AccessSet.empty() for none)
    taken: frozenset[str] = frozenset()  # person and team names already in the YAML
    section_authority: Mapping[str, bool] = field(default_factory=dict)  # vendor -> `authoritative`
    company_names: Mapping[str, str] = field(default_factory=dict)  # Procore company id -> name
    infer_teams: bool = False


@dataclass
class ImportDraft:
    people: list[NewPerson] = field(default_factory=list)
    logins: list[LoginEdit] = field(default_factory=list)
    teams: list[NewTeam] = field(default_factory=list)
    edits: list[MemberEdit] = field(default_factory=list)
    sections: dict[str, dict[str, object]] = field(default_factory=dict)  # settings of a new section
    company_names: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Who:
    principal: str
    email: str
    name: str = ""
    logins: dict[str, str] = field(default_factory=dict)


def container(vendor: str, tenant: str, rtype: str, resource: str) -> YamlPath:
    """Where the members of a resource are written."""
    if vendor == "procore":
        return ("procore", "companies", tenant, "projects", resource)
    if vendor == "concur":
        catalog = static_catalog("concur", "role")
        return ("concur", "roles", catalog.label(resource) if catalog else resource)
    return (vendor, f"{rtype}s", resource)


def accounts_path(vendor: str, tenant: str) -> YamlPath:
    return ("procore", "companies", tenant, "accounts") if vendor == "procore" else (vendor, "accounts")


def person_key_for(email: str, taken: set[str]) -> str:
    """`Alice.Ng@harbor.example` -> `alice.ng`; a second alice.ng elsewhere -> `alice.ng-steelframe`."""
    local, _, domain = email.casefold().partition("@")
    base = re.sub(r"[^a-z0-9._-]+", "-", local).strip("-._") or "person"
    candidates = [base, f"{base}-{re.sub(r'[^a-z0-9]+', '-', domain.split('.')[0]).strip('-')}"]
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


class _Importer:
    def __init__(self, inp: ImportInput) -> None:
        self.inp = inp
        self.existing = inp.existing
        self.draft = ImportDraft()
        self.who: dict[str, _Who] = {}
        self.keys: dict[str, str] = {p.principal: p.key for p in inp.existing.people.values()}
        self.taken: set[str] = set(inp.taken) | set(self.keys.values())
        self.renamed: dict[str, dict[str, str]] = {}  # vendor -> account principal -> resolved principal
        self.accounts: dict[str, dict[AccountKey, Account]] = {}  # vendor -> resolved accounts
        self.unwritable: list[str] = []

    # -- identities ---------------------------------------------------------------------------------

    def resolve(self, vendor: str, account: Account) -> str | None:
        """The person an account belongs to: a login override in the YAML, else its email, else a
        login that is an email; None when there is no email to make a person of."""
        login = account.attribute("login")
        by_login = {p.login(vendor).casefold(): p.principal for p in self.existing.people.values()}
        if login and login.casefold() in by_login:
            return by_login[login.casefold()]
        if _is_email(account.principal):
            return account.principal
        if _is_email(account.email):
            return account.email.casefold()
        if _is_email(login):
            return login.casefold()
        return None

    def read_accounts(self) -> None:
        for vendor, state in self.inp.actual.items():
            renames = self.renamed.setdefault(vendor, {})
            found = self.accounts.setdefault(vendor, {})
            for account in sorted(state.accounts, key=lambda a: (not a.active, a.tenant, a.principal)):
                principal = self.resolve(vendor, account)
                if principal is None:
                    self.unwritable.append(f"{vendor}: {account.display_name or account.principal}")
                    continue
                renames[account.principal] = principal
                key = AccountKey(vendor, account.tenant, principal)
                if key in found and found[key].active:
                    continue  # a second account for one person: the active one counts
                found[key] = account
                who = self.who.setdefault(principal, _Who(principal, account.email or principal))
                who.name = who.name or account.display_name
                login = account.attribute("login")
                if (login and login.casefold() != (account.email or principal).casefold()) or (
                    login and account.principal != principal
                ):
                    who.logins[vendor] = login

    def key_of(self, principal: str) -> str:
        key = self.keys.get(principal)
        if key is None:
            who = self.who[principal]
            key = person_key_for(who.email, self.taken)
            self.taken.add(key)
            self.keys[principal] = key
            self.draft.people.append(
                NewPerson(key, who.email, who.name or who.email, tuple(sorted(who.logins.items())))
            )
        return key

    # -- what the vendors hold ----------------------------------------------------------------------

    def writable(self, vendor: str, tenant: str, principal: str) -> bool:
        account = self.accounts.get(vendor, {}).get(AccountKey(vendor, tenant, principal))
        if vendor in _WITH_ACCOUNTS:
            return account is not None and account.active
        return principal in self.who

    def grants(self, vendor: str) -> tuple[set[Grant], dict[ResourceKey, list[str]]]:
        """The vendor's grants (principals resolved) that can be written, and per resource the
        holders that cannot."""
        renames = self.renamed.get(vendor, {})
        state = self.inp.actual[vendor]
        wanted: set[Grant] = set()
        held_back: dict[ResourceKey, list[str]] = defaultdict(list)
        for grant in state.grants:
            principal = renames.get(grant.principal, grant.principal)
            grant = grant._replace(principal=principal)
            if self.writable(vendor, grant.tenant, principal) and _is_email(principal):
                wanted.add(grant)
            else:
                account = self.accounts.get(vendor, {}).get(AccountKey(vendor, grant.tenant, principal))
                why = "inactive" if account is not None and not account.active else "not importable"
                held_back[grant.resource_key].append(f"{principal} ({why})")
        return wanted, held_back

    # -- the diff against the YAML ------------------------------------------------------------------

    def edit(self, kind: EditKind, path: YamlPath, principal: str = "", value: Value = None) -> None:
        member = self.key_of(principal) if principal and kind is not EditKind.REMOVE else ""
        if kind is EditKind.REMOVE:
            member = self.keys.get(principal, principal)
        self.draft.edits.append(MemberEdit(kind, path, member, value))

    def import_accounts(self, vendor: str) -> None:
        actual = {k: a for k, a in self.accounts.get(vendor, {}).items() if a.active}
        existing = {k for k in self.existing.accounts if k.vendor == vendor}
        if vendor == "pingone":
            self._populations(actual, existing)
            return
        for key in sorted(set(actual) - existing):
            self.edit(EditKind.ADD, accounts_path(vendor, key.tenant), key.principal)
        for key in sorted(existing - set(actual)):
            self.edit(EditKind.REMOVE, accounts_path(vendor, key.tenant), key.principal)

    def _populations(self, actual: dict[AccountKey, Account], existing: set[AccountKey]) -> None:
        for key, account in sorted(actual.items()):
            population = account.attribute("population")
            before = self.existing.accounts.get(key)
            was = before.attribute("population") if before is not None else ""
            if not population or population == was:
                continue
            self.edit(EditKind.ADD, ("pingone", "populations", population), key.principal)
            if was:
                self.edit(EditKind.REMOVE, ("pingone", "populations", was), key.principal)
        for key in sorted(existing - set(actual)):
            was = self.existing.accounts[key].attribute("population")
            if was:
                self.edit(EditKind.REMOVE, ("pingone", "populations", was), key.principal)

    def import_grants(self, vendor: str) -> None:
        wanted, held_back = self.grants(vendor)
        have = {g for g in self.existing.grants if g.vendor == vendor}
        by_holder_want: dict[tuple[str, ...], set[str]] = defaultdict(set)
        by_holder_have: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for grant in wanted:
            by_holder_want[_holder(grant)].add(grant.entitlement)
        for grant in have:
            by_holder_have[_holder(grant)].add(grant.entitlement)
        for holder in sorted(set(by_holder_want) | set(by_holder_have)):
            want, got = by_holder_want.get(holder, set()), by_holder_have.get(holder, set())
            if want == got:
                continue
            _, tenant, rtype, resource, principal = holder
            path = container(vendor, tenant, rtype, resource)
            if not want:
                self.edit(EditKind.REMOVE, path, principal)
            elif rtype == "role" and vendor == "pingone":
                scopes = tuple(sorted(want, key=_scope_order))
                self.edit(EditKind.SET if got else EditKind.ADD, path, principal, _one_or_many(scopes))
            elif resource_type(vendor, rtype).exclusive:
                (template,) = want
                self.edit(EditKind.SET if got else EditKind.ADD, path, principal, template)
            elif got - want:
                self.edit(EditKind.REMOVE, path, principal)
            else:
                self.edit(EditKind.ADD, path, principal)
        self._held_back(vendor, held_back)

    def _held_back(self, vendor: str, held_back: dict[ResourceKey, list[str]]) -> None:
        default = self.inp.section_authority.get(vendor, True)
        for key, holders in sorted(held_back.items()):
            authority = self.existing.scope.authority(key)
            if authority is False or (authority is None and not default):
                continue
            listed = ", ".join(sorted(set(holders))[:3]) + (", …" if len(set(holders)) > 3 else "")
            note = f"held by {listed}: not revoked while this says false"
            path = container(vendor, key.tenant, key.resource_type, key.resource)
            self.draft.edits.append(MemberEdit(EditKind.ADDITIVE, path, note=note))

    # -- the draft ------------------------------------------------------------------------------------

    def logins(self) -> None:
        for person in self.existing.people.values():
            who = self.who.get(person.principal)
            if who is None:
                continue
            for vendor, login in sorted(who.logins.items()):
                if person.login(vendor) != login:
                    self.draft.logins.append(LoginEdit(person.key, vendor, login))

    def run(self) -> ImportDraft:
        self.read_accounts()
        for vendor in (v for v in VENDORS if v in self.inp.actual):
            self.import_accounts(vendor)
            self.import_grants(vendor)
            if vendor not in self.existing.scope.vendors:
                self.draft.sections[vendor] = dict(SECTION_DEFAULTS[vendor])
        self.logins()
        self.draft.company_names = dict(self.inp.company_names)
        if self.inp.infer_teams:
            infer_teams(self.draft, self.taken)
        if self.unwritable:
            self.draft.notes.append(
                f"not imported (no email to make a person of): {', '.join(sorted(self.unwritable)[:10])}"
                + (", …" if len(self.unwritable) > 10 else "")
            )
        return self.draft


def draft_import(inp: ImportInput) -> ImportDraft:
    return _Importer(inp).run()


def infer_teams(draft: ImportDraft, taken: set[str]) -> None:
    """People added by this import who have exactly the same access at a vendor (the same projects
    with the same templates, the same roles, ...) become a team; the team's name then stands for
    them on each of those lines, so the first YAML is short. Only groups of two or more people
    sharing two or more lines are worth a team."""
    new = {p.key for p in draft.people}
    signature: dict[tuple[str, str], set[Item]] = defaultdict(set)
    for edit in draft.edits:
        if edit.kind is EditKind.ADD and edit.member in new:
            signature[(edit.path[0], edit.member)].add((edit.path, edit.value))
    rarity: dict[Item, int] = defaultdict(int)
    for items in signature.values():
        for item in items:
            rarity[item] += 1
    groups: dict[frozenset[Item], list[str]] = defaultdict(list)
    for (_, person), items in signature.items():
        groups[frozenset(items)].append(person)
    team_of: dict[tuple[str, str], str] = {}  # (vendor, person) -> team
    for shared, members in sorted(groups.items(), key=lambda kv: (next(iter(kv[0]))[0][0], sorted(kv[1]))):
        if len(members) < 2 or len(shared) < 2:
            continue
        ordered = sorted(shared, key=lambda item: (rarity[item], _item_order(item)))
        name = _team_name(ordered[0], taken)
        taken.add(name)
        described = "; ".join(_describe(p, v) for p, v in ordered[:4])
        more = f" and {len(items) - 4} more" if len(items) > 4 else ""
        draft.teams.append(
            NewTeam(
                name, f"Inferred by access import: same access ({described}{more})", tuple(sorted(members))
            )
        )
        vendor = ordered[0][0][0]
        team_of.update({(vendor, member): name for member in members})
    if not team_of:
        return
    edits: list[MemberEdit] = []
    seen: set[tuple[YamlPath, str, Value]] = set()
    for edit in draft.edits:
        team = team_of.get((edit.path[0], edit.member)) if edit.kind is EditKind.ADD else None
        if team is None:
            edits.append(edit)
        elif (edit.path, team, edit.value) not in seen:
            seen.add((edit.path, team, edit.value))
            edits.append(MemberEdit(EditKind.ADD, edit.path, team, edit.value))
    draft.edits = edits


Item = tuple[YamlPath, Value]


def _item_order(item: Item) -> tuple[int, YamlPath]:
    path = item[0]
    return (0 if path[-1] != "accounts" and path[1] != "populations" else 1, path)


def _team_name(item: Item, taken: set[str]) -> str:
    path, value = item
    words = [path[-1]] if path[-1] != "accounts" else [path[0], "users"]
    if isinstance(value, str):
        words.append(value)
    base = re.sub(r"[^a-z0-9]+", "-", " ".join(words).casefold()).strip("-") or "team"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _describe(path: YamlPath, value: Value) -> str:
    if path[-1] == "accounts":
        return f"{path[0]} account"
    if path[1] == "populations":
        return f"population {path[-1]}"
    if isinstance(value, tuple):
        return f"{path[-1]} ({', '.join(value)})"
    return f"{path[-1]} as {value}" if value else path[-1]


def _holder(grant: Grant) -> tuple[str, str, str, str, str]:
    return (grant.vendor, grant.tenant, grant.resource_type, grant.resource, grant.principal)


def _scope_order(scope: str) -> tuple[int, str]:
    return (0 if scope in ("environment", "organization") else 1, scope)


def _one_or_many(scopes: tuple[str, ...]) -> Value:
    return scopes[0] if len(scopes) == 1 else scopes


def _is_email(value: str) -> bool:
    return bool(re.fullmatch(r"[^@\s:]+@[^@\s]+\.[^@\s]+", value or ""))
