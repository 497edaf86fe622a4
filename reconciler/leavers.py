"""Who has left, and what that changes (pure).

The IdP (PingOne) says who has left, in the run that reads it: a user it disabled (`enabled: false`),
one it moved to the `leavers.population` of policies/, or one the YAML gives a PingOne account that it
no longer has (deleted), once the person's line in people.yaml has been on main
`deleted_after_days` (a newcomer's account is created by apply meanwhile). An HR export may say so
too (an `end_date` that has passed). `access leavers` opens ONE pull request removing all of them
from access/; the rest of this module is what apply does before that merges:

- with `leavers:` in policies/, a plan gives an IdP leaver nothing: no grant, account, reactivation
  or population move (`settle`); what they hold stays until the pull request is merged;
- with `revoke: true`, their grants and accounts leave the desired state (`without_leavers`), so
  apply revokes their access at every vendor at once; each revocation says why (`left: ...`) and
  the gate records it as the policy's decision (`Verdict.LEFT`, rule `leavers`).

Only the IdP's answer in this run makes anyone a leaver for apply: never the YAML (an unreviewed
edit cannot make someone leave) and never the HR export (a file is not the IdP).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reconciler.changes import Action, Change, Finding, Plan, Severity
from reconciler.connectors.base import VendorState
from reconciler.hr_export import HrRow
from reconciler.loader import DesiredFiles
from reconciler.location import Location
from reconciler.policy_model import Leavers
from reconciler.records import AccessSet, Account, AccountKey, Head, Person
from reconciler.usage import AccountIndex, moment

IDP = "pingone"
RULE = "leavers"  # the rule name a policy revocation is recorded under
LEFT_NOTE = "left: "  # how a plan's revocation of a leaver's access begins (its note)
CODE = "leaver"  # the findings' code

# What the IdP and HR say, as signals.
DISABLED = "disabled"
POPULATION = "population"
DELETED = "deleted"
END_DATE = "end-date"


@dataclass(frozen=True, slots=True)
class Signal:
    """One source's statement that a person has left."""

    source: str  # "pingone" or "hr"
    kind: str  # DISABLED, POPULATION, DELETED or END_DATE
    since: str  # ISO 8601 time the source says it happened ("" when it does not say)
    detail: str  # for people: "PingOne user disabled", "HR end date 2026-11-30"

    @property
    def from_idp(self) -> bool:
        return self.source == IDP


@dataclass(frozen=True, slots=True)
class Leaver:
    person: str  # key in people.yaml
    principal: str  # casefolded email
    signals: tuple[Signal, ...]

    @property
    def idp(self) -> bool:
        """Whether the IdP says so in this run (what apply acts on)."""
        return any(s.from_idp for s in self.signals)

    @property
    def left_at(self) -> str:
        """The earliest time any source gives ("" when none does)."""
        known = sorted((t, s.since) for s in self.signals if (t := moment(s.since)) is not None)
        return known[0][1] if known else ""

    def why(self, *, idp_only: bool = False) -> str:
        """`PingOne user disabled (2026-12-01 09:30 UTC); HR end date 2026-11-30`."""
        parts = []
        for s in self.signals:
            if idp_only and not s.from_idp:
                continue
            when = moment(s.since)
            parts.append(
                f"{s.detail} ({when:%Y-%m-%d %H:%M} UTC)" if when and s.kind != END_DATE else s.detail
            )
        return "; ".join(parts)

    def note(self) -> str:
        """A revocation's note: `left: bob: PingOne user disabled (...) (leavers)`."""
        return f"{LEFT_NOTE}{self.person}: {self.why(idp_only=True)} (policy {RULE})"


# ---------------------------------------------------------------- who has left


def find_leavers(
    people: Iterable[Person],
    idp: VendorState | None,
    expected_at_idp: Callable[[Person], bool],
    policy: Leavers,
    today: dt.date,
    *,
    written: Callable[[Person], dt.date | None] = lambda _: None,
    hr: Sequence[HrRow] = (),
) -> list[Leaver]:
    """The people (of people.yaml) who have left, as the IdP read in this run (`idp`; None: not read)
    and the HR export say. `expected_at_idp(person)`: the YAML gives them a PingOne account (only
    they can be "deleted"); `written(person)`: the day their line in people.yaml reached main (from
    committed history; None: unknown or uncommitted, never judged deleted)."""
    index = AccountIndex([idp]) if idp is not None else None
    anyone = idp is not None and any(a.active for a in idp.accounts)  # an empty IdP says nothing
    ended = _hr_index(hr, today)
    found: list[Leaver] = []
    for person in sorted(people, key=lambda p: p.key):
        signals: list[Signal] = []
        if index is not None:
            account = index.find(IDP, "", person.principal, person)
            if account is not None and not account.active:
                signals.append(Signal(IDP, DISABLED, account.changed_at, "PingOne user disabled"))
            elif (
                account is not None
                and policy.population
                and account.attribute("population") == policy.population
            ):
                signals.append(
                    Signal(
                        IDP,
                        POPULATION,
                        account.changed_at,
                        f"moved to the PingOne population {policy.population}",
                    )
                )
            elif account is None and anyone and expected_at_idp(person):
                day = written(person)
                if day is not None and (today - day).days >= policy.deleted_after_days:
                    signals.append(Signal(IDP, DELETED, "", "no PingOne user (deleted)"))
        row = ended.get(person.key.casefold()) or ended.get(person.principal)
        if row is not None:
            signals.append(Signal("hr", END_DATE, row.left_at(), f"HR end date {row.end_date}"))
        if signals:
            found.append(Leaver(person.key, person.principal, tuple(signals)))
    return found


def _hr_index(rows: Sequence[HrRow], today: dt.date) -> dict[str, HrRow]:
    """Rows whose end date has passed, by person key (casefolded) and by email."""
    found: dict[str, HrRow] = {}
    for row in rows:
        if row.end_date >= today:
            continue  # still working (the end date is their last day)
        for key in (row.person.casefold(), row.email):
            if key and (key not in found or row.end_date < found[key].end_date):
                found[key] = row
    return found


def departed(
    idp: VendorState | None,
    policy: Leavers,
    hr: Sequence[HrRow],
    today: dt.date,
    people: Iterable[Person] = (),
) -> dict[str, tuple[str, str]]:
    """principal -> (when they left, why), for every account the IdP says has left (disabled, or in
    the leavers population) and every HR row whose end date passed, whether or not the YAML still
    names them: what the audit log records beside each revocation, for the SLA view. An account
    matched to one of `people` by their PingOne login is theirs (keyed by the YAML's principal)."""
    by_login = {login.casefold(): p.principal for p in people if (login := p.login(IDP))}
    found: dict[str, tuple[str, str]] = {}
    for account in idp.accounts if idp is not None else ():
        if not account.active:
            why = "PingOne user disabled"
        elif policy.population and account.attribute("population") == policy.population:
            why = f"moved to the PingOne population {policy.population}"
        else:
            continue
        login = account.attribute("login").casefold() if by_login else ""
        found[by_login.get(login, account.principal)] = (account.changed_at, why)
    for row in _hr_index(hr, today).values():
        if row.email and row.email not in found:
            found[row.email] = (row.left_at(), f"HR end date {row.end_date}")
    return found


# ---------------------------------------------------------------- what apply does


def without_leavers(access: AccessSet, leavers: Sequence[Leaver]) -> AccessSet:
    """`access` without the IdP leavers' grants and accounts, at every vendor: the plan revokes
    what they hold on authoritative resources, and never reactivates, re-creates or moves their
    accounts (an account nobody lists is left to `unmanaged_accounts`)."""
    gone = {leaver.principal for leaver in leavers if leaver.idp}
    if not gone:
        return access
    groups: dict[Head, tuple[str, ...]] | None = None
    if access.grant_groups is not None:
        groups = {}
        for head, held in access.grant_groups.items():
            if gone.isdisjoint(held):
                groups[head] = tuple(held)
            elif kept := tuple(p for p in held if p not in gone):
                groups[head] = kept
    grants = None if groups is not None else frozenset(g for g in access.grants if g.principal not in gone)

    def keep(key: AccountKey) -> bool:
        return key.principal not in gone

    accounts = {key: account for key, account in access.accounts.items() if keep(key)}
    by_vendor: dict[str, dict[AccountKey, Account]] = {}

    def accounts_of(vendor: str) -> Mapping[AccountKey, Account]:
        found = by_vendor.get(vendor)
        if found is None:
            found = by_vendor[vendor] = {k: a for k, a in access.accounts_of(vendor).items() if keep(k)}
        return found

    return AccessSet(
        accounts,
        grants=grants,
        provenance=access.provenance,
        expired=access.expired,
        scope=access.scope,
        people=access.people,
        resource_sources=access.resource_sources,
        tenant_sources=access.tenant_sources,
        grant_groups=groups,
        accounts_of=accounts_of,
    )


_TAKES = (Action.REVOKE, Action.DEACTIVATE_ACCOUNT)


def settle(plan: Plan, leavers: Sequence[Leaver], policy: Leavers | None) -> Plan:
    """The plan as the leavers policy has it: nothing given to an IdP leaver (no grant, account,
    reactivation or update), their revocations noted `left: ...` when the policy revokes, and a
    finding per leaver saying what happens."""
    if policy is None:
        return plan
    by_principal = {leaver.principal: leaver for leaver in leavers if leaver.idp}
    if not by_principal:
        return plan
    changes: list[Change] = []
    withheld: dict[str, int] = {}
    for change in plan.changes:
        leaver = by_principal.get(change.principal)
        if leaver is None:
            changes.append(change)
        elif change.action not in _TAKES:
            withheld[change.principal] = withheld.get(change.principal, 0) + 1
        elif policy.revoke:
            changes.append(replace(change, note=leaver.note()))
        else:
            changes.append(change)
    # Their accounts are the vendors' and `unmanaged_accounts`' business now: the leaver's finding says so.
    findings = [
        f for f in plan.findings if not (f.code == "unmanaged-account" and f.principal in by_principal)
    ]
    for leaver in by_principal.values():
        held = withheld.get(leaver.principal, 0)
        withheld_text = f"; {held} change(s) giving them access are not planned" if held else ""
        if policy.revoke:
            what = (
                "their access is revoked at every vendor by policy (leavers: revoke); their accounts are "
                "left to unmanaged_accounts"
            )
        else:
            what = (
                "nothing more is given to them; what they hold stays until the leavers pull request is merged"
            )
        findings.append(
            Finding(
                Severity.WARNING,
                CODE,
                f"{leaver.person} has left ({leaver.why(idp_only=True)}): {what}{withheld_text}",
                vendor=IDP,
                principal=leaver.principal,
                hint="merge the leavers pull request (`access leavers`) to remove them from access/",
            )
        )
    kept = {c.id for c in changes}
    approvers = {k: v for k, v in plan.approvers.items() if k in kept}
    return replace(plan, changes=tuple(changes), findings=tuple(findings), approvers=approvers)


# ---------------------------------------------------------------- the lines that name a leaver


@dataclass(frozen=True, slots=True)
class NamedIn:
    """A place in access/ that names a person: their entry in people.yaml, or a member line."""

    file: str
    path: tuple[str, ...]  # the mapping or list that holds them
    where: str  # file:line


def lines_naming(files: DesiredFiles, key: str) -> list[NamedIn]:
    """Where access/ names the person `key`: their people.yaml entry, team member lists, accounts,
    populations and every resource's members, in every file."""
    found: list[NamedIn] = []
    for source in files.files:
        model, doc = source.model, source.document

        def add(path: tuple[str, ...], members: Iterable[str], doc: Any = doc) -> None:
            if key in members:
                found.append(NamedIn(doc.file, path, str(doc.location((*path, key)))))

        if key in source.people.keys:  # (a file's people are kept as a table: `people_table`)
            line = source.people.lines[source.people.keys.index(key)]
            found.append(NamedIn(doc.file, ("people",), str(Location(doc.file, line))))
        for team, spec in model.teams.items():
            add(("teams", team, "members"), spec.members)
        if model.procore is not None:
            for company, section in model.procore.companies.items():
                add(("procore", "companies", company, "accounts"), section.accounts)
                for project, resource in section.projects.items():
                    add(("procore", "companies", company, "projects", project), resource.members)
        if model.concur is not None:
            add(("concur", "accounts"), model.concur.accounts)
            for concur_role, holders in model.concur.roles.items():
                add(("concur", "roles", concur_role), holders.members)
        if model.pingone is not None:
            for population, members in model.pingone.populations.items():
                add(("pingone", "populations", population), members)
            for group_name, group in model.pingone.groups.items():
                add(("pingone", "groups", group_name), group.members)
            for role_name, role in model.pingone.roles.items():
                add(("pingone", "roles", role_name), role.members)
    return found
