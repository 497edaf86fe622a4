"""`access why PERSON [RESOURCE]`: everything a person holds or is to hold, and why.

For each grant: the YAML line that grants it (or "not in the YAML"), the commit on main that wrote
that line and every earlier commit that changed it, the merged pull request that landed each, who
approved it and when (judged like the gate), the reason, the expiry, and when apply applied it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reconciler import drift
from reconciler.access_rows import Row, Status
from reconciler.catalogs import closest, static_catalog
from reconciler.changes import Cause
from reconciler.commands.access_view import View, ViewOptions, build_view
from reconciler.commands.context import AppContext
from reconciler.commands.formats import TextOrJson as Format
from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError
from reconciler.ledger_state import GRANT
from reconciler.ledger_view import origin
from reconciler.origin import Origin
from reconciler.periods import Instant
from reconciler.records import Account, Grant, Person
from reconciler.rules.matching import describe_grant
from reconciler.usage import AccountIndex
from reconciler.vendors import vendor_label


@dataclass(frozen=True, slots=True)
class Who:
    principal: str
    person: Person | None


def resolve_person(view_people: dict[str, Person], name: str) -> Who:
    """A person by key in people.yaml, email, or GitHub login; an unknown email is an unmanaged account."""
    folded = name.casefold()
    for person in view_people.values():
        if folded in (person.key.casefold(), person.principal, person.github.casefold()) or folded in (
            login.casefold() for _, login in person.logins
        ):
            return Who(person.principal, person)
    if "@" in name:
        return Who(folded, None)
    names = [p.key for p in view_people.values()] + [p.github for p in view_people.values() if p.github]
    found = closest(name, names, 3)
    hint = f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""
    raise AccessError(
        f"no person {name!r} in access/people.yaml{hint}; give their key, email or GitHub login, or the "
        "email of an account nobody listed"
    )


def _resource_matches(grant: Grant, resource: str) -> bool:
    folded = resource.casefold()
    if grant.resource.casefold() == folded:
        return True
    catalog = static_catalog(grant.vendor, grant.resource_type)
    return catalog is not None and catalog.label(grant.resource).casefold() == folded


def origin_json(origin: Origin | None, beneficiary: str) -> dict[str, Any] | None:
    if origin is None:
        return None
    pull = origin.pull
    approvals = pull.approvers_for(beneficiary) if pull else ()
    return {
        "commit": origin.commit.sha,
        "committed_at": origin.commit.date,
        "summary": origin.commit.summary,
        "pull_request": pull.number if pull else None,
        "pull_request_url": pull.url if pull else None,
        "pull_request_head": pull.head_sha if pull else None,
        "requested_by": pull.author if pull else None,
        "merged_at": pull.merged_at if pull else None,
        "approved_by": [login for login, _ in approvals],
        "approvals": [{"login": login, "at": at} for login, at in approvals],
        "not_counted": list(pull.problems) if pull else [],
        "note": origin.note,
    }


def row_json(row: Row, history: list[Origin] | None = None, cause: Cause | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "vendor": row.vendor, "tenant": row.tenant, "resource_type": row.resource_type,
        "resource": row.resource, "entitlement": row.entitlement, "principal": row.principal,
        "person": row.person or None, "status": str(row.status), "source": row.source or None,
        "via": row.via or None, "membership": row.membership or None, "reason": row.reason or None,
        "expires": row.expires or None, "privileged": row.privileged or None, "expiring": row.expiring,
        "reviewed": row.reviewed, "last_certified": row.certified or None,
        "applied_at": row.applied_at or None,
        "granted_in": origin_json(row.origin, row.github),
    }  # fmt: skip
    if history is not None:
        data["history"] = [origin_json(o, row.github) for o in history]
    if row.status is Status.NOT_IN_YAML:
        data["made_by"] = _made_by_json(cause)
    return data


def _made_by_json(cause: Cause | None) -> dict[str, Any] | None:
    """Who made access the YAML does not list, as the vendor records it (None: not asked)."""
    if cause is None:
        return None
    return {
        "kind": str(cause.kind), "actor": cause.actor or None, "actor_id": cause.actor_id or None,
        "actor_type": cause.actor_type or None, "client": cause.client or None, "at": cause.at or None,
        "action": cause.action or None, "note": cause.note or None, "text": drift.text(cause),
    }  # fmt: skip


def _histories(view: View, rows: list[Row]) -> dict[Grant, list[Origin]]:
    """Per grant: every record the approval ledger holds for it, oldest first (the audit trail's,
    then the window's since the apply point), the same records the gate decided by."""
    found = view.answers
    if found is None:
        return {}
    out: dict[Grant, list[Origin]] = {}
    for row in rows:
        records = found.history.get((GRANT, tuple(row.grant)), [])
        out[row.grant] = [origin(r, r.commit, found.dates.get(r.commit, ""), found.point) for r in records]
    return out


def accounts_of(view: View, who: Who) -> list[Account]:
    """The person's accounts at the vendors read, as the plan matches them (login, else email)."""
    found: list[Account] = []
    for vendor, state in sorted((view.actual or {}).items()):
        login = who.person.login(vendor).casefold() if who.person is not None else ""
        found += [
            a
            for a in state.accounts
            if a.principal == who.principal or (login and a.attribute("login").casefold() == login)
        ]
    return found


def account_json(account: Account, today: dt.date, index: AccountIndex) -> dict[str, Any]:
    return {
        "vendor": account.vendor,
        "tenant": account.tenant,
        "active": account.active,
        "last_sign_in": account.last_sign_in or None,
        "last_sign_in_shown": index.text(account.vendor, account),
        "days_unused": index.days_unused(account, today),
    }


def run(
    ctx: AppContext,
    person: str,
    resource: str | None,
    *,
    options: ViewOptions,
    fmt: Format,
    at: Instant | None = None,
) -> int:
    from reconciler.commands.state import load_desired

    if at is None:
        desired = load_desired(ctx, keep_files=False)  # the people and grants only
    else:  # `--at`: who they were and what they held then (reconciler/commands/access_at.py)
        from reconciler.commands.access_at import build_view_at, then

        loaded = then(ctx, at)
        desired = loaded.state.desired
    people = {p.key: p for p in desired.access.people.values()}
    who = resolve_person(people, person)

    def wanted(grant: Grant) -> bool:
        return grant.principal == who.principal and (resource is None or _resource_matches(grant, resource))

    if at is None:
        view = build_view(ctx, replace(options, causes=True), wanted, desired=desired)
    else:
        view = build_view_at(ctx, options, at, wanted, loaded=loaded).view
    rows = [r for r in view.rows if wanted(r.grant)]
    histories = _histories(view, rows)
    accounts = accounts_of(view, who)
    if fmt == "json":
        ctx.output.raw(
            json.dumps(
                {
                    "person": who.person.key if who.person else None,
                    "principal": who.principal,
                    "github": who.person.github if who.person else None,
                    "notes": list(view.notes),
                    "accounts": [
                        account_json(a, ctx.today, AccountIndex((view.actual or {}).values()))
                        for a in accounts
                    ]
                    if view.actual is not None
                    else None,
                    "grants": [
                        row_json(r, histories.get(r.grant, []), view.causes.get(r.grant)) for r in rows
                    ],
                },
                indent=2,
            )
            + "\n"
        )
        return 0
    ctx.output.result(
        render_text(who, rows, histories, view.notes, view.causes, accounts, (view.actual or {}).values())
    )
    return 0


def _origin_line(origin: Origin | None, beneficiary: str) -> list[str]:
    if origin is None:
        return ["  approval     unknown (no git history, or the approval ledger could not be read)"]
    commit = origin.commit
    lines = [f"  landed in    {commit.sha[:10]} {commit.date[:10]}".rstrip()]
    pull = origin.pull
    if pull is None:
        lines.append(f"  pull request none: {origin.note}")
        return lines
    lines.append(
        f"  pull request #{pull.number} by {pull.author or 'a deleted account'}, merged {pull.merged_at} "
        f"({pull.url})"
    )
    approvals = pull.approvers_for(beneficiary)
    if approvals:
        lines.append("  approved by  " + ", ".join(f"{login} at {at}" for login, at in approvals))
    else:
        lines.append("  approved by  nobody whose approval counts")
    for problem in pull.problems:
        lines.append(f"               ({problem})")
    return lines


def render_text(
    who: Who,
    rows: list[Row],
    histories: dict[Grant, list[Origin]],
    notes: tuple[str, ...],
    causes: Mapping[Grant, Cause] | None = None,
    accounts: Sequence[Account] = (),
    states: Iterable[VendorState] | None = None,
) -> str:
    person = who.person
    title = (
        f"{person.key} ({person.name}, {person.email})"
        if person
        else f"{who.principal} (not in access/people.yaml)"
    )
    out = [title]
    out += [f"note: {n}" for n in notes]
    if accounts:
        index = AccountIndex(states or ())
        out += ["", "accounts"]
        for account in accounts:
            where = f" {account.tenant}" if account.tenant else ""
            state = "active" if account.active else "deactivated"
            out.append(
                f"  {vendor_label(account.vendor) + where:<26} {state} · last sign-in "
                f"{index.text(account.vendor, account)}"
            )
    if not rows:
        out.append("holds nothing and is granted nothing in the YAML")
    for row in rows:
        out.append("")
        where = f" in company {row.tenant}" if row.tenant else ""
        out.append(f"{describe_grant(row.grant)}{where} · {vendor_label(row.vendor)} · {row.status}")
        if row.status in (Status.NOT_IN_YAML, Status.INDIRECT):
            out.append(
                "  granted by   not in the YAML: "
                + ("held through nesting or a rule at the vendor" if row.status is Status.INDIRECT
                   else "drift on a managed resource, or access this repository does not manage")
            )  # fmt: skip
            cause = (causes or {}).get(row.grant)
            if cause is not None:
                out.append(f"  cause        {drift.text(cause)}")
        else:
            via = f" (via team {row.via}; membership {row.membership})" if row.via else ""
            out.append(f"  granted by   {row.source}{via}")
            out += _origin_line(row.origin, row.github)
            earlier = [
                o
                for o in histories.get(row.grant, [])
                if row.origin is None or o.commit.sha != row.origin.commit.sha
            ]
            for origin in earlier:
                pull = f"#{origin.pull.number}" if origin.pull else "no pull request"
                approved = (
                    ", ".join(login for login, _ in origin.pull.approvers_for(row.github))
                    if origin.pull
                    else ""
                )
                out.append(
                    f"  earlier      {origin.commit.sha[:10]} {origin.commit.date[:10]} {pull}"
                    + (f", approved by {approved}" if approved else "")
                )
        if row.reason or row.expires:
            out.append(f"  reason       {row.reason or '-'}; expires {row.expires or 'never'}")
        if row.privileged:
            out.append(f"  privileged   {row.privileged}")
        if row.certified:
            out.append(f"  certified    {row.certified} (last re-approved by its owner: access recertify)")
        out.append(f"  applied      {row.applied_at or 'not in the audit log'}")
    return "\n".join(out)
