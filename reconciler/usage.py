"""When accounts were last used, as the vendors say (pure).

Sync keeps each account's last sign-in where the vendor has one (`Account.last_sign_in`: PingOne
`lastSignOn.at`, Procore `last_login_at`); SAP Concur's identity API does not say, so its accounts
show "not available". `access why`, `access report` and the recertification pull requests show it,
and a recertification rule's `unused_days` marks the lines of people who have not signed in for
that long.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from reconciler.connectors.base import VendorState
from reconciler.records import Account, Person

# Vendors whose API says when an account last signed in, and the field it comes from.
SIGN_INS: dict[str, str] = {"pingone": "lastSignOn.at", "procore": "last_login_at"}
NOT_AVAILABLE = "not available"
NEVER = "never"
NO_ACCOUNT = "no account"
UNKNOWN = "unknown"  # the vendor says, but the state read does not (a snapshot written before it was kept)


def reports_sign_ins(vendor: str) -> bool:
    return vendor in SIGN_INS


def moment(value: str) -> dt.datetime | None:
    """An ISO 8601 time as the vendors write it (`2026-11-30T08:12:00.000Z`), in UTC; None if unreadable."""
    if not value:
        return None
    try:
        found = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found.astimezone(dt.UTC) if found.tzinfo else found.replace(tzinfo=dt.UTC)


def sign_in_text(vendor: str, account: Account | None) -> str:
    """What to show for an account's last sign-in: its day and time, "never", "not available"
    (the vendor does not say) or "no account"."""
    if not reports_sign_ins(vendor):
        return NOT_AVAILABLE
    if account is None:
        return NO_ACCOUNT
    when = moment(account.last_sign_in)
    if when is None:
        return NEVER
    return when.strftime("%Y-%m-%d %H:%M UTC")


def days_unused(account: Account | None, today: dt.date) -> int | None:
    """Whole days since the account last signed in; None when unknown (the vendor does not say, or
    no account). An account that never signed in is unused for as long as anyone can tell
    (`NEVER_DAYS`)."""
    if account is None or not reports_sign_ins(account.vendor):
        return None
    when = moment(account.last_sign_in)
    if when is None:
        return NEVER_DAYS
    return max((today - when.date()).days, 0)


NEVER_DAYS = 1_000_000  # "never signed in", for comparisons with a number of days


class AccountIndex:
    """The vendors' accounts by (vendor, tenant, principal), and by (vendor, login) for the few people
    with a login override: a person's account is found as the plan matches it (their login, else
    their email). Each vendor's maps are made on first use."""

    def __init__(self, states: Iterable[VendorState]) -> None:
        self._accounts = {state.vendor: state.accounts for state in states}
        self._by_principal: dict[str, dict[tuple[str, str], Account]] = {}
        self._by_login: dict[str, dict[str, Account]] = {}
        self._known: dict[str, bool] = {}

    def knows(self, vendor: str) -> bool:
        """Whether the state read says when its accounts signed in: the vendor does, and some account
        has a time (no account with one is a snapshot written before sign-ins were kept, not a vendor
        where nobody ever signed in)."""
        found = self._known.get(vendor)
        if found is None:
            found = self._known[vendor] = reports_sign_ins(vendor) and any(
                a.last_sign_in for a in self._accounts.get(vendor, ())
            )
        return found

    def text(self, vendor: str, account: Account | None) -> str:
        """`sign_in_text`, "unknown" where the state read does not say (`knows`)."""
        if reports_sign_ins(vendor) and not self.knows(vendor):
            return UNKNOWN
        return sign_in_text(vendor, account)

    def days_unused(self, account: Account | None, today: dt.date) -> int | None:
        """`days_unused`, None where the state read does not say (`knows`)."""
        if account is None or not self.knows(account.vendor):
            return None
        return days_unused(account, today)

    def find(self, vendor: str, tenant: str, principal: str, person: Person | None = None) -> Account | None:
        login = person.login(vendor).casefold() if person is not None and person.logins else ""
        if login:
            found = self._logins(vendor).get(login)
            if found is not None and found.tenant == tenant:
                return found
        return self._principals(vendor).get((tenant, principal))

    def _principals(self, vendor: str) -> dict[tuple[str, str], Account]:
        found = self._by_principal.get(vendor)
        if found is None:
            accounts = self._accounts.get(vendor, ())
            found = {(a.tenant, a.principal): a for a in accounts}
            if len(found) < len(accounts):  # one person, two accounts: the active one
                for account in accounts:
                    if account.active:
                        found[(account.tenant, account.principal)] = account
            self._by_principal[vendor] = found
        return found

    def _logins(self, vendor: str) -> dict[str, Account]:
        found = self._by_login.get(vendor)
        if found is None:
            found = {}
            for account in self._accounts.get(vendor, ()):
                login = account.attribute("login").casefold() if account.attributes else ""
                if login:
                    found.setdefault(login, account)
            self._by_login[vendor] = found
        return found


DEFAULT_UNUSED_DAYS = 90  # the report's "unused" count when no recertification rule sets `unused_days`


def unused_threshold(rule_days: Iterable[int | None]) -> int:
    """The report's "unused" threshold: the smallest `unused_days` of the recertification rules."""
    return min((d for d in rule_days if d), default=DEFAULT_UNUSED_DAYS)


def unused_accounts(
    keys: Iterable[tuple[str, str, str]],
    index: AccountIndex,
    people: Mapping[str, Person],
    today: dt.date,
    days: int,
) -> int:
    """How many of these accounts ((vendor, tenant, principal), each once) have not signed in for
    `days` days or more (or never), where the vendor says."""
    count = 0
    for vendor, tenant, principal in set(keys):
        unused = index.days_unused(index.find(vendor, tenant, principal, people.get(principal)), today)
        if unused is not None and unused >= days:
            count += 1
    return count
