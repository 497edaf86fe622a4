"""Desired models -> AccessSet: teams expanded, expired assignments set aside, sources kept.

Pure: no I/O, no clock (`today` and `now` are arguments). Every problem is a LocatedError, and all
of them are raised together.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, compress, filterfalse, islice, repeat
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple, cast

from reconciler.catalogs import closest, static_catalog
from reconciler.desired import (
    Expiring,
    Membership,
    ProjectMember,
    Resource,
    RoleMember,
    TeamModel,
    VendorSection,
)
from reconciler.desired_accounts import AccountBatches, AccountSources, Deferred, in_order
from reconciler.errors import LocatedError, ValidationErrors
from reconciler.gcpause import paused_gc
from reconciler.line_grants import LineGrants, Segment, Slot
from reconciler.loader import DesiredFiles, FileCache, SourceFile, without_people
from reconciler.location import Location
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
)
from reconciler.vendors import resource_type
from reconciler.yaml_source import Path

ROLE_SCOPE_KINDS = ("environment", "organization", "population", "application")
_SECTION_TYPES = {"projects": "project", "roles": "role", "groups": "group"}


def is_expired(expires: dt.date | dt.datetime | None, today: dt.date, now: dt.datetime) -> bool:
    """A date is the last day the assignment is valid; a datetime is the exact end."""
    if expires is None:
        return False
    if isinstance(expires, dt.datetime):
        moment = expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)
        return moment <= now
    return expires < today


@dataclass
class _Builder:
    today: dt.date
    now: dt.datetime
    vendors: frozenset[str] | None
    errors: list[LocatedError] = field(default_factory=list)
    # Every person's key -> where it is written; their fields as columns in the same order.
    people: dict[str, Location] = field(default_factory=dict)
    columns: _Columns = field(default_factory=lambda: _Columns([], [], [], [], []))
    teams: dict[str, tuple[TeamModel, Location]] = field(default_factory=dict)
    # Each team's members as its definition lists them (`teams: {t: {members: [...]}}`); the people
    # who list a team themselves are in `listed`, as positions in `people`.
    team_members: dict[str, list[tuple[str, Location]]] = field(default_factory=dict)
    listed: dict[str, list[int]] = field(default_factory=dict)
    # Each team's people (keys, sorted), teams in teams expanded; and, for a team of people who list
    # it only, their positions in that order (its principals are `folded` at those positions).
    expanded: dict[str, tuple[str, ...]] = field(default_factory=dict)
    positions: dict[str, list[int]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # the people's keys, in order
    folded: list[str] = field(default_factory=list)  # each person's principal (casefolded email)
    # The chosen grants, line by line (see line_grants): each line's segment of new principals,
    # and the few grants a person's own line re-explains or takes over from a team line.
    segments: list[Segment] = field(default_factory=list)
    overrides: dict[Grant, Provenance] = field(default_factory=dict)
    replaced: dict[Slot, tuple[Grant, Provenance]] = field(default_factory=dict)
    # Indexes made for a head (non-exclusive) or resource (exclusive) only when a second line names
    # it: principal -> granted on a person's own line; principal -> (entitlement, provenance, own).
    present: dict[Head, dict[str, bool]] = field(default_factory=dict)
    slots: dict[tuple[str, ...], dict[str, tuple[str, Provenance, bool]]] = field(default_factory=dict)
    by_resource: dict[tuple[str, ...], list[Segment]] = field(default_factory=dict)
    expired: dict[Grant, Provenance] = field(default_factory=dict)
    accounts: AccountBatches = field(default_factory=AccountBatches)
    resources: dict[ResourceKey, bool] = field(default_factory=dict)
    resource_sources: dict[ResourceKey, Location] = field(default_factory=dict)
    all_of: set[tuple[str, str, str]] = field(default_factory=set)
    scope_vendors: set[str] = field(default_factory=set)
    tenants: set[tuple[str, str]] = field(default_factory=set)
    tenant_sources: dict[tuple[str, str], Location] = field(default_factory=dict)
    settings: dict[tuple[str, str], tuple[object, Location]] = field(default_factory=dict)
    # principal -> (population, line) where a line repeats a person another line put in a population
    populations: dict[str, tuple[str, Location]] = field(default_factory=dict)
    _principals: dict[str, str] = field(default_factory=dict)
    logins: dict[str, dict[str, str]] = field(default_factory=dict)  # vendor -> principal -> login
    _team_principals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    key_of: dict[str, str] = field(default_factory=dict)  # principal -> person key
    _by_principal: dict[str, Person] | None = None
    # The chosen grants by head: principals in lists (a set per resource would cost 100 MB at a
    # million grants), kept distinct by the dicts above.
    groups: dict[Head, list[str]] = field(default_factory=dict)
    # Lines granting at a vendor that needs an account, in order (non-exclusive types, exclusive):
    # (vendor, tenant, grant head or slot prefix, principals).
    account_lines: tuple[list[tuple[str, str, tuple[str, ...], tuple[str, ...], str]], ...] = field(
        default_factory=lambda: ([], [])
    )

    def error(self, location: Location, message: str) -> None:
        self.errors.append(LocatedError(location, message))

    # -- people and teams ----------------------------------------------------------------------

    def add_people(self, source: SourceFile) -> None:
        doc = source.document
        table = source.people
        places = list(map(tuple.__new__, repeat(Location), zip(repeat(doc.file), table.lines)))
        rows: tuple[list[Any], ...] = (table.emails, table.names, table.teams, table.github, table.logins)
        columns: tuple[list[Any], ...] = self.columns
        if self.people.keys().isdisjoint(table.keys):  # the usual case, in bulk
            self.people.update(zip(table.keys, places, strict=True))
            for column, more in zip(columns, rows, strict=True):
                column.extend(more)
        else:
            for key, here, *fields in zip(table.keys, places, *rows, strict=True):
                if key in self.people:
                    self.error(here, f"person {key!r} is defined twice (first at {self.people[key]})")
                    continue
                self.people[key] = here
                for column, value in zip(columns, fields, strict=True):
                    column.append(value)
        for name, team in source.model.teams.items():
            here = doc.location(("teams", name))
            if name in self.teams:
                self.error(here, f"team {name!r} is defined twice (first at {self.teams[name][1]})")
                continue
            self.teams[name] = (team, here)
            self.team_members.setdefault(name, []).extend(
                (member, doc.location(("teams", name, "members", member))) for member in team.members
            )

    def link_people(self) -> None:
        people, teams = self.people, self.teams
        if not teams.keys().isdisjoint(people.keys()):
            for key in filter(teams.__contains__, people):
                self.error(people[key], f"{key!r} is both a person and a team (team at {teams[key][1]})")
        keys = self.keys = list(people)
        folded = self.folded = list(map(str.casefold, self.columns.emails))
        # principal -> person key, the first person with it winning (two people with one email
        # are an error of their own)
        self.key_of = dict(zip(folded, keys, strict=True))
        if len(self.key_of) < len(folded):  # two people with one email: name each
            emails: dict[str, str] = {}
            for key, here, written, email in zip(
                keys, people.values(), self.columns.emails, folded, strict=True
            ):
                if email in emails:
                    other = emails[email]
                    self.error(here, f"email {written} is also {other!r}'s ({people[other]})")
                emails[email] = key
            self.key_of = dict(zip(reversed(folded), reversed(keys), strict=True))
        listed = self.listed
        named = self.columns.teams
        if set(chain.from_iterable(named)) <= teams.keys():  # the usual case: every team known
            for position, names in enumerate(named):
                for team in names:
                    found = listed.get(team)
                    if found is None:
                        listed[team] = [position]
                    else:
                        found.append(position)
        else:
            for position, (key, here, names) in enumerate(zip(keys, people.values(), named, strict=True)):
                for team in names:
                    if team in teams:
                        listed.setdefault(team, []).append(position)
                    else:
                        self.error(
                            here, f"people.{key}.teams: unknown team {team!r}{self._hint(team, teams)}"
                        )
        for team, members in self.team_members.items():
            if set(map(itemgetter(0), members)).difference(people).difference(teams):
                for member, where in members:
                    if member not in people and member not in teams:
                        self.error(
                            where, f"teams.{team}: unknown person or team {member!r}{self._hint(member)}"
                        )
        in_order = all(map(operator.lt, keys, islice(keys, 1, None)))  # (then positions sort as keys)
        for team in self.teams:
            self._expand(team, (), in_order)

    def _hint(self, name: str, pool: Iterable[str] | None = None) -> str:
        candidates = list(pool) if pool is not None else [*self.people, *self.teams]
        found = closest(name, candidates, 2)
        return f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""

    def _expand(self, team: str, stack: tuple[str, ...], in_order: bool = False) -> tuple[str, ...]:
        """The keys of `team`'s people, sorted, each once (teams in it expanded)."""
        if team in self.expanded:
            return self.expanded[team]
        if team in stack:
            cycle = " -> ".join((*stack[stack.index(team) :], team))
            self.error(self.teams[team][1], f"team cycle: {cycle}")
            self.expanded[team] = ()
            return ()
        defined = self.team_members.get(team, [])
        positions = self.listed.get(team, [])
        if not defined:  # the usual case: the people who list it, in C
            if len(set(positions)) < len(positions):  # (someone lists it twice)
                positions = sorted(set(positions))
            if not in_order:
                positions = sorted(positions, key=self.keys.__getitem__)
            self.positions[team] = positions
            self.expanded[team] = tuple(map(self.keys.__getitem__, positions))
            return self.expanded[team]
        found = set(map(self.keys.__getitem__, positions))
        for member, _ in defined:
            if member in self.people:
                found.add(member)
            elif member in self.teams:
                found.update(self._expand(member, (*stack, team), in_order))
        self.expanded[team] = tuple(sorted(found))
        return self.expanded[team]

    def persons(self) -> list[Person]:
        """Every person's record, in order (after the teams are expanded), a column at a time."""
        keys = self.keys
        emails, names, named, github, logins = self.columns
        teams_of: Iterable[tuple[str, ...]]
        if len(self.positions) == len(self.teams):
            # No team includes another or names people itself: a person's teams are those they list.
            teams_of = named
            if any(map(operator.lt, repeat(1), map(len, named))):  # (the few who list several)
                teams_of = [ts if len(ts) < 2 else tuple(sorted(set(ts))) for ts in named]
        else:  # each person's teams, sorted: teams visited in order, so each list comes out sorted
            found: dict[str, tuple[str, ...]] = {}
            for team in sorted(self.expanded):
                members = self.expanded[team]
                if found.keys().isdisjoint(members):  # the usual case: a person's first team
                    found.update(zip(members, repeat((team,))))
                else:
                    for member in members:
                        found[member] = (*found.get(member, ()), team)
            teams_of = map(found.get, keys, repeat(()))
        for i in compress(range(len(keys)), logins):  # the few with a login override
            for vendor, login in logins[i]:
                self.logins.setdefault(vendor, {})[self.folded[i]] = login
        rows = zip(keys, emails, names, logins, self.people.values(), github, teams_of, strict=True)
        return list(map(tuple.__new__, repeat(Person), rows))

    # -- vendor sections -----------------------------------------------------------------------

    def wants(self, vendor: str) -> bool:
        return self.vendors is None or vendor in self.vendors

    def setting(self, vendor: str, name: str, value: object, declared: bool, where: Location) -> None:
        if not declared:
            return
        previous = self.settings.get((vendor, name))
        if previous is not None and previous[0] != value:
            self.error(where, f"{vendor}.{name} is {value!r} here but {previous[0]!r} at {previous[1]}")
        self.settings.setdefault((vendor, name), (value, where))

    def resource(self, key: ResourceKey, authoritative: bool, where: Location) -> bool:
        if key in self.resource_sources:
            label = resource_type(key.vendor, key.resource_type).label
            self.error(
                where,
                f"{key.vendor} {label} {key.resource!r} is defined twice (first at {self.resource_sources[key]})",
            )
            return False
        self.resource_sources[key] = where
        self.resources[key] = authoritative
        return True

    def grant(
        self,
        doc_file: SourceFile,
        path: Path,
        key: ResourceKey,
        entitlement: str,
        member: str,
        options: Expiring,
    ) -> None:
        """One assignment line: its grants built in bulk (a team line expands to thousands of people),
        all sharing the line's one Provenance."""
        where = doc_file.document.location(path)
        principals, via = self.principals(member, where, ".".join(str(p) for p in path[:-1]))
        if not principals:
            return
        provenance = Provenance(where, options.reason, _iso(options.expires), via, _iso(options.certified))
        vendor, tenant, rtype, resource = key
        head = (vendor, tenant, rtype, resource, entitlement)
        if is_expired(options.expires, self.today, self.now):
            expired = self.expired
            grants = map(tuple.__new__, repeat(Grant), map(head.__add__, zip(principals)))
            expired.update(zip(filterfalse(expired.__contains__, grants), repeat(provenance)))
            return
        direct = not via
        exclusive = resource_type(vendor, rtype).exclusive
        if vendor in _NEEDS_ACCOUNT:  # the line may be the first to need these people's accounts
            prefix = (vendor, tenant, rtype, resource) if exclusive else head
            self.account_lines[exclusive].append((vendor, tenant, prefix, principals, via))
        if exclusive:
            self._exclusive(head, principals, provenance, direct)
            return
        groups = self.groups
        if not direct and head not in groups:  # the first line to grant this: the usual case
            groups[head] = list(principals)
            self.segments.append(Segment(head, principals, provenance, False))
            return
        held = groups.setdefault(head, [])
        index = self.present.get(head)
        if index is None:
            index = self.present[head] = dict.fromkeys(held, False)
        if direct:  # a person's line: one grant, which wins over a team's
            new = []
            for principal in principals:
                own = index.get(principal)
                if own:
                    continue
                if own is None:
                    new.append(principal)
                else:
                    self.overrides[Grant(*head, principal)] = provenance
                index[principal] = True
        else:
            new = list(filterfalse(index.__contains__, principals))
            index.update(dict.fromkeys(new, False))
        if new:
            held.extend(new)
            self.segments.append(Segment(head, tuple(new), provenance, False))

    def _exclusive(
        self, head: Head, principals: tuple[str, ...], provenance: Provenance, direct: bool
    ) -> None:
        """A line on an exclusive resource type: each person holds one entitlement on the resource;
        a person's own line wins over a team's, and two team lines that disagree are an error."""
        resource = head[:4]
        slots = self.slots.get(resource)
        if slots is None and not direct and resource not in self.by_resource:  # the usual case
            segment = Segment(head, principals, provenance, True)
            self.by_resource[resource] = [segment]
            self.segments.append(segment)
            self.groups.setdefault(head, []).extend(principals)
            return
        if slots is None:
            slots = self.slots[resource] = {}
            for segment in self.by_resource.get(resource, ()):
                slots.update(zip(segment.principals, repeat((segment.head[4], segment.provenance, False))))
        entitlement = head[4]
        new = []
        for principal in principals:
            existing = slots.get(principal)
            if existing is None:
                new.append(principal)
                slots[principal] = (entitlement, provenance, direct)
                continue
            held, before, own = existing
            if direct and not own:  # (rare: a person's own line takes the slot from a team's)
                self.groups[(*resource, held)].remove(principal)
                self.groups.setdefault(head, []).append(principal)
                slots[principal] = (entitlement, provenance, True)
                self.replaced[(*resource, principal)] = (Grant(*head, principal), provenance)
                continue
            if own and not direct:
                continue
            if held != entitlement:
                grant = Grant(*head, principal)
                self.error(
                    provenance.source or Location("", 0),
                    f"{self.key_of[principal]} gets {entitlement!r} on {grant.resource!r} here"
                    f"{_via(provenance)} but {held!r} at {before.source}"
                    f"{_via(before)}; one person holds one {_entitlement_word(grant)} per"
                    " resource: list them directly to choose",
                )
        if new:
            self.groups.setdefault(head, []).extend(new)
            segment = Segment(head, tuple(new), provenance, True)
            self.segments.append(segment)
            self.by_resource.setdefault(resource, []).append(segment)

    def principals(self, name: str, where: Location, context: str) -> tuple[tuple[str, ...], str]:
        """The principals a member name stands for and the team they come through ("" for a person)."""
        found = self._team_principals.get(name)
        if found is not None:
            return found, name
        if name in self.people:
            return (self.principal_of(name),), ""
        if name in self.teams:
            positions = self.positions.get(name)
            if positions is not None:
                found = tuple(map(self.folded.__getitem__, positions))
            else:
                found = tuple(map(self._principal_of_all().__getitem__, self.expanded.get(name, ())))
            self._team_principals[name] = found
            return found, name
        self.error(where, f"{context}: unknown person or team {name!r}{self._hint(name)}")
        return (), ""

    def _principal_of_all(self) -> dict[str, str]:
        """Every person's principal (casefolded email) by key, made in one pass."""
        if len(self._principals) < len(self.people):
            self._principals = dict(zip(self.keys, self.folded, strict=True))
        return self._principals

    def by_principal(self) -> dict[str, Person]:
        """Every person's record by principal (made once)."""
        if self._by_principal is None:
            self._by_principal = dict(zip(self.folded, self.persons(), strict=True))
        return self._by_principal

    def principal_of(self, person_key: str) -> str:
        return self._principal_of_all()[person_key]

    def open_section(
        self, vendor: str, source: SourceFile, section: VendorSection, tenant: str | None
    ) -> None:
        """Register a vendor section's scope and settings (which must agree across files)."""
        self.scope_vendors.add(vendor)
        if tenant is not None:
            self.tenants.add((vendor, tenant))
        declared = "authoritative" in section.model_fields_set
        here = source.document.location((vendor, "authoritative"))
        self.setting(vendor, "authoritative", section.authoritative, declared, here)

    def accounts_of(
        self, vendor: str, tenant: str, source: SourceFile, path: Path, members: Iterable[str]
    ) -> None:
        for member in members:
            where = source.document.location((*path, member))
            principals, via = self.principals(member, where, ".".join(str(p) for p in path))
            if principals:
                positions = self.positions.get(via) if via else None
                self.accounts.add(vendor, tenant, principals, where, (), positions=positions)

    def resource_block(
        self,
        source: SourceFile,
        path: Path,
        key: ResourceKey,
        resource: Resource[Any],
        default_authority: bool,
        entitlement: Callable[[Any], str],
    ) -> None:
        """One listed resource: its authority, then a grant per member."""
        authoritative = default_authority if resource.authoritative is None else resource.authoritative
        if not self.resource(key, authoritative, source.document.location(path)):
            return
        for member, options in resource.members.items():
            self.grant(source, (*path, member), key, entitlement(options), member, options)

    def procore(self, source: SourceFile) -> None:
        section = source.model.procore
        if section is None or not self.wants("procore"):
            return
        self.open_section("procore", source, section, None)
        for company_id, company in section.companies.items():
            self.tenants.add(("procore", company_id))
            self.tenant_sources.setdefault(
                ("procore", company_id), source.document.location(("procore", "companies", company_id))
            )
            if "projects" in section.exhaustive:
                self.all_of.add(("procore", company_id, "project"))
            base: Path = ("procore", "companies", company_id)
            self.accounts_of("procore", company_id, source, (*base, "accounts"), company.accounts)
            for project, resource in company.projects.items():
                key = ResourceKey("procore", company_id, "project", project)
                self.resource_block(
                    source, (*base, "projects", project), key, resource, section.authoritative, _template
                )

    def concur(self, source: SourceFile) -> None:
        section = source.model.concur
        if section is None or not self.wants("concur"):
            return
        self.open_section("concur", source, section, "")
        if "roles" in section.exhaustive:
            self.all_of.add(("concur", "", "role"))
        self.accounts_of("concur", "", source, ("concur", "accounts"), section.accounts)
        catalog = static_catalog("concur", "role")
        for role, resource in section.roles.items():
            canonical = catalog.resolve(role) if catalog is not None else role
            if catalog is not None and canonical is None:
                found = catalog.suggestions(role)
                hint = f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""
                self.error(
                    source.document.location(("concur", "roles", role)),
                    f"concur.roles: unknown Concur role {role!r}{hint}",
                )
                continue
            key = ResourceKey("concur", "", "role", canonical or role)
            self.resource_block(
                source, ("concur", "roles", role), key, resource, section.authoritative, _member
            )

    def pingone(self, source: SourceFile) -> None:
        section = source.model.pingone
        if section is None or not self.wants("pingone"):
            return
        doc = source.document
        self.open_section("pingone", source, section, "")
        for kind in section.exhaustive:
            self.all_of.add(("pingone", "", _SECTION_TYPES[kind]))
        for population, members in section.populations.items():
            self.resource_sources.setdefault(
                ResourceKey("pingone", "", "population", population),
                doc.location(("pingone", "populations", population)),
            )
            attributes = (("population", population),)
            for member in members:
                where = doc.location(("pingone", "populations", population, member))
                principals, via = self.principals(member, where, f"pingone.populations.{population}")
                # Whom an earlier line put in a population: its batch of accounts says which.
                held = self.accounts.principals.get(("pingone", ""), {})
                if held.keys().isdisjoint(principals):  # the usual case, in bulk
                    positions = self.positions.get(via) if via else None
                    self.accounts.add(
                        "pingone", "", principals, where, attributes, fresh=True, positions=positions
                    )
                    continue
                for principal in principals:
                    previous = self.populations.get(principal)  # (a later line of the same population)
                    number = held.get(principal)
                    if previous is None and number is not None:
                        batch = self.accounts.batches[number]
                        previous = (dict(batch.attributes)["population"], cast(Location, batch.where))
                    if previous is not None and previous[0] != population:
                        self.error(
                            where,
                            f"{self.key_of[principal]} is in population {population!r} here and"
                            f" {previous[0]!r} at {previous[1]}; a PingOne account is in exactly one population",
                        )
                        continue
                    self.populations[principal] = (population, where)
                    if number is None:
                        self.accounts.add("pingone", "", (principal,), where, attributes, fresh=True)
        for group, group_resource in section.groups.items():
            key = ResourceKey("pingone", "", "group", group)
            self.resource_block(
                source, ("pingone", "groups", group), key, group_resource, section.authoritative, _member
            )
        for role, role_resource in section.roles.items():
            key = ResourceKey("pingone", "", "role", role)
            path: Path = ("pingone", "roles", role)
            authoritative = role_resource.authoritative
            if not self.resource(
                key,
                section.authoritative if authoritative is None else authoritative,
                source.document.location(path),
            ):
                continue
            for member, scopes in role_resource.members.items():
                for options in scopes:
                    if self._valid_scope(source, role, member, options):
                        self.grant(source, (*path, member), key, options.scope, member, options)

    def _valid_scope(self, source: SourceFile, role: str, member: str, options: RoleMember) -> bool:
        scope = options.scope
        kind, _, name = scope.partition("/")
        if (kind in ("environment", "organization") and not name) or (kind in ROLE_SCOPE_KINDS[2:] and name):
            return True
        self.error(
            source.document.location(("pingone", "roles", role, member)),
            f"pingone.roles.{role}.{member}: scope {scope!r} is not one of environment,"
            " organization, population/<name>, application/<name>",
        )
        return False

    def implicit_accounts(self, lines: LineGrants) -> None:
        """Anyone granted something at Procore or Concur needs an account there, explained by the
        line of the first grant that needs it (non-exclusive types first, each in line order).

        Found line by line, not grant by grant: the first grant of a person at a vendor comes from
        the first line that names them there, and is that line's grant (or, for an exclusive
        type, the grant now holding that line's slot)."""
        held = self.accounts.principals  # (vendor, tenant) -> whom an earlier line gave an account
        # A team's lines share one tuple of principals (`principals`): once a line's have been
        # looked at for a tenant, each of them holds an account there, and the tuple is not
        # looked at again for it (by identity: the tuples are kept alive by the lines).
        seen: set[tuple[str, str, int]] = set()
        for exclusive, account_lines in enumerate(self.account_lines):
            for vendor, tenant, prefix, principals, via in account_lines:
                if len(principals) > 1:
                    once = (vendor, tenant, id(principals))
                    if once in seen:
                        continue
                    seen.add(once)
                new = list(filterfalse(held.get((vendor, tenant), {}).__contains__, principals))
                if new:
                    where = self._first_sources(lines, exclusive, prefix, new)
                    whole = len(new) == len(principals)  # (a team's people in its order)
                    positions = self.positions.get(via) if via and whole else None
                    self.accounts.add(vendor, tenant, new, where, (), fresh=True, positions=positions)

    def _first_sources(
        self, lines: LineGrants, exclusive: int, prefix: tuple[str, ...], principals: list[str]
    ) -> Location | list[Location | None] | None:
        """Where the grant of each of `principals` on `prefix` (a head, or an exclusive type's
        resource: whichever entitlement holds the slot) is written: one line when it made them all."""
        if exclusive:
            slots = self.slots.get(prefix)
            if slots is None:  # one line holds the resource alone
                return self.by_resource[prefix][0].provenance.source
            return [slots[p][1].source for p in principals]
        if prefix not in self.present:  # one line made the head alone
            return lines.segment_of(cast(Head, prefix)).provenance.source
        grants = map(tuple.__new__, repeat(Grant), map(prefix.__add__, zip(principals)))
        return list(map(attrgetter("source"), map(lines.__getitem__, grants)))


_NEEDS_ACCOUNT = frozenset({"procore", "concur"})


class _Columns(NamedTuple):
    """The people's fields, a list each, in the order of `_Builder.people` (see PeopleTable)."""

    emails: list[str]
    names: list[str]
    teams: list[tuple[str, ...]]
    github: list[str]
    logins: list[tuple[tuple[str, str], ...]]


def _template(options: ProjectMember) -> str:
    return options.template


def _member(options: Membership) -> str:
    return "member"


def _iso(value: dt.date | dt.datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _via(provenance: Provenance) -> str:
    return f" (via team {provenance.via})" if provenance.via else ""


def _entitlement_word(grant: Grant) -> str:
    return "permission template" if grant.vendor == "procore" else "entitlement"


class PeopleNotKept(Exception):
    """A file whose people a `PeopleMemo` took was read with other people: read it again whole."""


@dataclass
class PeopleMemo:
    """The people and teams of the last file set normalized, kept for the next (pure: a cache).

    The approval ledger compiles dozens of commits of one repository, and people.yaml changes in
    few of them: with the files from one `FileCache`, an unchanged file is the same object, so the
    people and teams those files define (linked, expanded, made records) are reused as they are.
    Only a set with no error in them is kept. `compact` then swaps the cached files for copies
    without their people (`loader.without_people`): at 100,000 people that is 160 MiB of parsed
    YAML the memo's records make redundant. Such a copy read with other people (people.yaml
    changed in another file) raises `PeopleNotKept`: the caller reads those files again."""

    _sources: tuple[SourceFile, ...] = ()  # the files the kept people came from, as cached
    _kept: _People | None = None
    _originals: tuple[SourceFile, ...] = ()  # until `compact`: the files as first parsed

    def restore(self, builder: _Builder, files: tuple[SourceFile, ...]) -> bool:
        sources = _people_files(files)
        kept = self._kept
        if kept is not None and any(
            len(sources) == len(known) and all(map(operator.is_, sources, known))
            for known in (self._sources, self._originals)
        ):
            kept.into(builder)
            return True
        if any(f.people_elsewhere for f in sources):
            raise PeopleNotKept
        return False

    def keep(self, builder: _Builder, files: tuple[SourceFile, ...]) -> None:
        if builder.errors:
            return
        self._originals = _people_files(files)
        self._sources = tuple(map(without_people, self._originals))
        self._kept = _People.of(builder)

    def compact(self, cache: FileCache) -> None:
        """Swap the kept files in `cache` for their copies without people."""
        if not self._originals:
            return
        swap = {id(original): lean for original, lean in zip(self._originals, self._sources, strict=True)}
        for key, source in cache.items():
            found = swap.get(id(source))
            if found is not None:
                cache[key] = found
        self._originals = ()


def _people_files(files: tuple[SourceFile, ...]) -> tuple[SourceFile, ...]:
    return tuple(f for f in files if f.people_elsewhere or f.people or f.model.teams)


@dataclass(frozen=True)
class _People:
    """What the people phase of `_Builder` made: read-only once made (principals of teams are
    a memo filled as lines name them, the same for every file set with these people)."""

    people: dict[str, Location]
    teams: dict[str, tuple[TeamModel, Location]]
    team_members: dict[str, list[tuple[str, Location]]]
    expanded: dict[str, tuple[str, ...]]
    principals: dict[str, str]
    key_of: dict[str, str]
    logins: dict[str, dict[str, str]]
    team_principals: dict[str, tuple[str, ...]]
    by_principal: dict[str, Person]

    @classmethod
    def of(cls, builder: _Builder) -> _People:
        by_principal = builder.by_principal()
        principal_of = builder._principal_of_all()
        # After the people phase the builder asks only whether a name is a person (and how many
        # there are); the columns are left behind, each name pointing at its principal instead.
        known = cast(dict[str, Location], principal_of)
        return cls(
            known, builder.teams, builder.team_members, builder.expanded, principal_of, builder.key_of,
            builder.logins, builder._team_principals, by_principal,
        )  # fmt: skip

    def into(self, builder: _Builder) -> None:
        builder.people, builder.teams, builder.team_members = self.people, self.teams, self.team_members
        builder.expanded, builder._principals, builder.key_of = self.expanded, self.principals, self.key_of
        builder.logins, builder._team_principals = self.logins, self.team_principals
        builder._by_principal = self.by_principal


def normalize(
    desired: DesiredFiles,
    *,
    today: dt.date,
    now: dt.datetime | None = None,
    vendors: Iterable[str] | None = None,
    people: PeopleMemo | None = None,
) -> AccessSet:
    """Compile the files into an AccessSet; raise ValidationErrors with every problem found.
    `people`: the people and teams of the last file set, reused when their files are the same."""
    with paused_gc():
        return _normalize(desired, today=today, now=now, vendors=vendors, memo=people)


def _normalize(
    desired: DesiredFiles,
    *,
    today: dt.date,
    now: dt.datetime | None,
    vendors: Iterable[str] | None,
    memo: PeopleMemo | None = None,
) -> AccessSet:
    moment = now or dt.datetime.combine(today, dt.time(0, 0), tzinfo=dt.UTC)
    builder = _Builder(today, moment, frozenset(vendors) if vendors is not None else None)
    if memo is None or not memo.restore(builder, desired.files):
        for source in desired.files:
            builder.add_people(source)
        builder.link_people()
        if memo is not None:
            memo.keep(builder, desired.files)
    for source in desired.files:
        builder.procore(source)
        builder.concur(source)
        builder.pingone(source)
    groups = {head: held for head, held in builder.groups.items() if held}
    made = builder.accounts
    lines = LineGrants(builder.segments, groups, builder.overrides, builder.replaced, AccountSources(made))
    builder.implicit_accounts(lines)
    if builder.errors:
        raise ValidationErrors(builder.errors)
    people = builder.by_principal()
    logins = builder.logins
    names = builder.columns.names  # (the people's, in the order of `positions`; empty when kept)

    @cache
    def records() -> tuple[dict[str, dict[AccountKey, Account]], list[list[AccountKey]]]:
        return made.records(people, logins)

    def vendor_accounts(vendor: str) -> Mapping[AccountKey, Account]:
        return records()[0].get(vendor, {})

    return AccessSet(
        accounts=Deferred(lambda: in_order(*records()), made.count),
        accounts_of=vendor_accounts,
        provenance=lines,
        expired={g: p for g, p in builder.expired.items() if g not in lines},
        scope=Scope(
            vendors=frozenset(builder.scope_vendors),
            tenants=frozenset(builder.tenants),
            resources=builder.resources,
            all_of=frozenset(builder.all_of),
        ),
        people=people,
        resource_sources=builder.resource_sources,
        tenant_sources=builder.tenant_sources,
        grant_groups=groups,
        account_attributes=cache(lambda: made.attributes(logins)),
        account_lines=lambda vendor: made.lines(vendor, people, logins, names),
    )
