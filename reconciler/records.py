"""The normalized access model: the only shape the plan engine sees.

Desired state (from YAML) and actual state (from a vendor) compile to the same records.
Grants and keys are NamedTuples: hashing and equality run in C, which keeps set arithmetic over
a million grants fast. Everything that explains a desired grant (file:line, reason, expiry) lives
beside it in `AccessSet.provenance`, so it never takes part in equality.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

from reconciler.location import Location

if TYPE_CHECKING:
    from reconciler.desired_accounts import AccountLines


class Grant(NamedTuple):
    """One principal holding one entitlement on one resource at one vendor."""

    vendor: str
    tenant: str  # Procore company id; "" where a vendor has one tenant per credential
    resource_type: str  # "project", "role", "group"
    resource: str  # "Harbor Tower", "EXP_APPROVER", "Site Admins"
    entitlement: str  # permission template, "member", role scope
    principal: str  # casefolded email: the join key across vendors

    @property
    def resource_key(self) -> ResourceKey:
        return ResourceKey(self.vendor, self.tenant, self.resource_type, self.resource)

    @property
    def holder_key(self) -> tuple[str, str, str, str, str]:
        """Key of the slot an exclusive resource type allows one entitlement in."""
        return (self.vendor, self.tenant, self.resource_type, self.resource, self.principal)


# A grant without its principal: (vendor, tenant, resource type, resource, entitlement).
Head = tuple[str, str, str, str, str]
# (vendor, tenant) -> principal -> the account's managed attributes (login overrides included).
AccountAttributes = Mapping[tuple[str, str], Mapping[str, tuple[tuple[str, str], ...]]]


def ungroup(groups: Mapping[Head, Iterable[str]]) -> set[Grant]:
    """The grants of `head -> principals` groups, made in C."""
    out: set[Grant] = set()
    for head, principals in groups.items():
        out.update(map(tuple.__new__, repeat(Grant), map(head.__add__, zip(principals))))
    return out


class AccountKey(NamedTuple):
    vendor: str
    tenant: str
    principal: str


class ResourceKey(NamedTuple):
    vendor: str
    tenant: str
    resource_type: str
    resource: str


class Account(NamedTuple):
    """An account at a vendor. `attributes` hold what the YAML manages (population, login).

    A NamedTuple like Grant: the snapshot reader and normalize build ~one per person and vendor
    (300,000 at 100k people), and a frozen dataclass's __init__ runs in Python for each.
    """

    vendor: str
    tenant: str
    principal: str
    active: bool = True
    email: str = ""
    display_name: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    native_id: str = ""  # the vendor's id; actual state only
    # When the account last signed in, as the vendor says (ISO 8601; PingOne `lastSignOn.at`, Procore
    # `last_login_at`); "" when never, or where the vendor does not say (`vendors.SIGN_INS`). Actual
    # state only, and never part of the fingerprint: a sign-in changes no access.
    last_sign_in: str = ""
    # When the vendor last changed the account (PingOne `updatedAt`): for a user the IdP disabled or
    # moved to the leavers population, when it said they left (`reconciler.leavers`). Actual state only.
    changed_at: str = ""

    @property
    def key(self) -> AccountKey:
        return AccountKey(self.vendor, self.tenant, self.principal)

    def attribute(self, name: str) -> str:
        return dict(self.attributes).get(name, "")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Why a desired grant or account exists: where it is written and what it says about itself.

    One per source line, shared by every grant the line makes (a team line's thousands), so it
    names no person: the grant's or account's principal does (`AccessSet.people`).
    """

    source: Location | None
    reason: str = ""
    expires: str = ""  # ISO date or datetime, as written
    via: str = ""  # the team the grant came through, if any
    certified: str = ""  # ISO date the owner last re-approved the line (recertification)
    # Why the line's access lapsed by policy ("recertification quarterly: due …, no answer by …"):
    # set on the grants a `recertification` rule with `on_no_response: revoke` took back.
    lapsed: str = ""


@dataclass(frozen=True, slots=True)
class Scope:
    """What the YAML manages. Anything outside the scope is left alone.

    `resources` maps each resource the YAML names to whether it is authoritative (members not
    listed are revoked). `all_of` names (vendor, tenant, resource_type) triples managed
    authoritatively in full: every resource of that type the vendor has, listed or not.
    """

    vendors: frozenset[str] = frozenset()
    tenants: frozenset[tuple[str, str]] = frozenset()
    resources: Mapping[ResourceKey, bool] = field(default_factory=dict)
    all_of: frozenset[tuple[str, str, str]] = frozenset()

    def authority(self, key: ResourceKey) -> bool | None:
        """True: authoritative; False: additive; None: not managed."""
        listed = self.resources.get(key)
        if listed is not None:
            return listed
        if (key.vendor, key.tenant, key.resource_type) in self.all_of:
            return True
        return None

    def for_vendor(self, vendor: str) -> Scope:
        return Scope(
            vendors=frozenset({vendor}) & self.vendors,
            tenants=frozenset(t for t in self.tenants if t[0] == vendor),
            resources={k: v for k, v in self.resources.items() if k.vendor == vendor},
            all_of=frozenset(a for a in self.all_of if a[0] == vendor),
        )


class Person(NamedTuple):
    """A person of access/people.yaml. A NamedTuple like Account: normalize makes one per person
    (100,000 in a large company), and a frozen dataclass's __init__ runs in Python for each."""

    key: str
    email: str
    name: str
    logins: tuple[tuple[str, str], ...] = ()  # (vendor, login) overrides
    source: Location | None = None
    github: str = ""  # GitHub login, for approvals
    teams: tuple[str, ...] = ()  # every team the person is in, nested teams included

    @property
    def principal(self) -> str:
        return self.email.casefold()

    def login(self, vendor: str) -> str:
        return dict(self.logins).get(vendor, "")


class AccessSet:
    """Accounts and grants. Desired sets also carry provenance, scope, people and expired grants.

    Immutable by convention, like the frozen records. `grants` may be given, or left to be made
    from `grant_groups` on first use: normalize gives only the groups (and a `LineGrants`
    provenance), so commands that work per resource (`validate`, `plan`) never build a million
    grant tuples, and those that walk every grant (a report) build them once.
    """

    __slots__ = ("_account_attributes", "_account_lines", "_accounts_of", "_grants", "_held", "accounts", "expired",
                 "grant_groups", "people", "provenance", "resource_sources", "scope", "tenant_sources")  # fmt: skip

    def __init__(
        self,
        accounts: Mapping[AccountKey, Account],
        grants: frozenset[Grant] | None = None,
        provenance: Mapping[Grant | AccountKey, Provenance] | None = None,
        expired: Mapping[Grant, Provenance] | None = None,
        scope: Scope | None = None,
        people: Mapping[str, Person] | None = None,
        resource_sources: Mapping[ResourceKey, Location] | None = None,
        tenant_sources: Mapping[tuple[str, str], Location] | None = None,
        grant_groups: Mapping[Head, Sequence[str]] | None = None,
        accounts_of: Callable[[str], Mapping[AccountKey, Account]] | None = None,
        account_attributes: Callable[[], AccountAttributes | None] | None = None,
        account_lines: Callable[[str], AccountLines] | None = None,
    ) -> None:
        if grants is None and grant_groups is None:
            grants = frozenset()
        self.accounts = accounts
        self._grants = grants
        self._held: dict[Head, frozenset[str]] = {}
        self.provenance: Mapping[Grant | AccountKey, Provenance] = (
            provenance if provenance is not None else {}
        )
        self.expired: Mapping[Grant, Provenance] = expired if expired is not None else {}
        self.scope = scope if scope is not None else Scope()
        self.people: Mapping[str, Person] = people if people is not None else {}  # by principal
        # Where each listed resource (its key line) and tenant (Procore company) is written, so a
        # name the vendor does not know is reported there rather than at one of its members.
        self.resource_sources: Mapping[ResourceKey, Location] = resource_sources or {}
        self.tenant_sources: Mapping[tuple[str, str], Location] = tenant_sources or {}
        # Exactly `grants`, grouped by head, when the builder had them so (normalize does): checks
        # and the planner then work per resource, on sets of principals, not on a million tuples.
        self.grant_groups = grant_groups
        self._accounts_of = accounts_of
        # Normalize's accounts without their records: (vendor, tenant) -> principal -> managed
        # attributes; with `people` (email, name) they say every account. The approval ledger
        # compares states so, never making 300,000 records per commit it reads.
        self._account_attributes = account_attributes
        # Normalize's accounts per vendor as the lines that ask for them, in columns (the planner's).
        self._account_lines = account_lines

    def account_attributes(self) -> AccountAttributes | None:
        """(vendor, tenant) -> principal -> managed attributes, when the set can say so without
        making its account records (normalize's can); None otherwise."""
        return self._account_attributes() if self._account_attributes is not None else None

    @property
    def grants(self) -> frozenset[Grant]:
        """Every grant; made from the groups on first use when only they were given."""
        if self._grants is None:
            self._grants = frozenset(ungroup(self.grant_groups or {}))
        return self._grants

    def accounts_of(self, vendor: str) -> Mapping[AccountKey, Account]:
        """The accounts at one vendor, in order (normalize keeps them so; others are filtered)."""
        if self._accounts_of is not None:
            return self._accounts_of(vendor)
        return {key: account for key, account in self.accounts.items() if key.vendor == vendor}

    def account_lines(self, vendor: str) -> AccountLines:
        """`accounts_of(vendor)` as `AccountLines` (made from the records when not given)."""
        if self._account_lines is not None:
            return self._account_lines(vendor)
        from reconciler.desired_accounts import AccountLines, WantedAccounts

        held: dict[str, set[str]] = {}
        lines = []
        for tenant, run in groupby(self.accounts_of(vendor).values(), key=itemgetter(1)):  # (in order)
            _, _, principals, _, emails, names, attributes, *_ = zip(*run, strict=True)
            held.setdefault(tenant, set()).update(principals)
            lines.append(WantedAccounts(tenant, principals, names, emails, attributes))
        return AccountLines(lines, held)

    def holds(self, grant: Grant) -> bool:
        """Whether `grant` is wanted, without making every grant: its head's principals are
        made a set on first use."""
        if self._grants is not None or self.grant_groups is None:
            return grant in self.grants
        head = grant[:5]
        held = self._held.get(head)
        if held is None:
            held = self._held[head] = frozenset(self.grant_groups.get(head, ()))
        return grant[5] in held

    @property
    def grant_count(self) -> int:
        """How many grants, without making them."""
        if self._grants is None and self.grant_groups is not None:
            return sum(map(len, self.grant_groups.values()))
        return len(self.grants)

    @classmethod
    def empty(cls) -> AccessSet:
        return cls(accounts={}, grants=frozenset())
