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
from dataclasses import dataclass

from reconciler.records import Account, Person

# Vendors whose API says when an account last signed in, and the field it comes from.
SIGN_INS: dict[str, str] = {"pingone": "lastSignOn.at", "procore": "last_login_at"}
NOT_AVAILABLE = "not available"
NEVER = "never"
NO_ACCOUNT = "no account"


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


@dataclass(frozen=True, slots=True)
class AccountIndex:
    """The vendors' accounts by (vendor, tenant, principal) and by (vendor, login): a person's account
    is found as the plan matches it (their login override, else their email)."""

    by_principal: Mapping[tuple[str, str, str], Account]
    by_login: Mapping[tuple[str, str], Account]

    @classmethod
    def of(cls, accounts: Iterable[Account]) -> AccountIndex:
        by_principal: dict[tuple[str, str, str], Account] = {}
        by_login: dict[tuple[str, str], Account] = {}
        for account in accounts:
            key = (account.vendor, account.tenant, account.principal)
            previous = by_principal.get(key)
            if previous is None or (account.active and not previous.active):  # the active one wins
                by_principal[key] = account
            login = account.attribute("login").casefold() if account.attributes else ""
            if login:
                by_login.setdefault((account.vendor, login), account)
        return cls(by_principal, by_login)

    def find(self, vendor: str, tenant: str, principal: str, person: Person | None = None) -> Account | None:
        login = person.login(vendor).casefold() if person is not None else ""
        if login:
            found = self.by_login.get((vendor, login))
            if found is not None and found.tenant == tenant:
                return found
        return self.by_principal.get((vendor, tenant, principal))
