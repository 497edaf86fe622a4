"""Which assignments are due for re-approval, and whose (pure).

A `recertification` rule of policies/ says how often grants that match must be re-approved
(`every_days`) and how long after that the owner has before the line gets an expiry
(`grace_days`). A member line was last reviewed on its `certified` day (never later than the day
the commit that last wrote the line landed on main), or, without one, on that day: the line was
granted or changed through the gate then. A line is due once `every_days` have passed since then, and overdue
once `grace_days` more have. Its owner is who the approver rules name for granting it
(`approvers.requirements_for`): the people who would approve it today are the ones asked again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reconciler.approvers import Directory, requirements_for
from reconciler.changes import Action, Change
from reconciler.loader import DesiredFiles
from reconciler.location import Location
from reconciler.policy_model import Policies, RecertificationRule
from reconciler.records import AccessSet, Grant, Head, Provenance
from reconciler.rules.matching import grant_matches

REVIEWERS = "reviewers"  # the owner of lines no approver rule covers, without policy owners


@dataclass(frozen=True, slots=True)
class MemberLine:
    """One member line of access/: where it is, and what it says about itself."""

    file: str
    path: tuple[str, ...]  # the resource's path in the file
    member: str
    where: str  # file:line
    certified: dt.date | None
    expires: dt.date | dt.datetime | None


@dataclass(frozen=True, slots=True)
class Owner:
    key: str  # the approver names joined by "+", as written in policies/ ("finance+security")
    logins: tuple[str, ...]  # their GitHub logins, for the pull request's description


@dataclass(frozen=True, slots=True)
class Due:
    line: MemberLine
    grants: tuple[Grant, ...]
    rule: str
    reviewed: dt.date
    basis: str  # "certified" or "written in <sha>"
    due: dt.date
    deadline: dt.date
    owner: Owner
    overdue: bool  # past the deadline: the line gets `expires: <deadline>` instead of `certified`


def member_lines(files: DesiredFiles) -> Iterator[MemberLine]:
    """Every member line of every resource, in every vendor section."""
    for source in files.files:
        model, doc = source.model, source.document

        def lines(path: tuple[str, ...], members: dict[str, Any], doc: Any = doc) -> Iterator[MemberLine]:
            for member, options in members.items():
                first = options[0] if isinstance(options, list) and options else options
                yield MemberLine(
                    doc.file, path, member, str(doc.location((*path, member))),
                    getattr(first, "certified", None), getattr(first, "expires", None),
                )  # fmt: skip

        if model.procore is not None:
            for company, section in model.procore.companies.items():
                for project, resource in section.projects.items():
                    yield from lines(("procore", "companies", company, "projects", project), resource.members)
        if model.concur is not None:
            for role, group in model.concur.roles.items():
                yield from lines(("concur", "roles", role), group.members)
        if model.pingone is not None:
            for group_name, group in model.pingone.groups.items():
                yield from lines(("pingone", "groups", group_name), group.members)
            for role_name, role_resource in model.pingone.roles.items():
                yield from lines(("pingone", "roles", role_name), role_resource.members)


def grants_by_line(desired: AccessSet) -> dict[str, list[Grant]]:
    """file:line -> the grants that line makes (expired lines make none)."""
    found: dict[str, list[Grant]] = {}
    for grant, provenance in desired.provenance.items():
        if isinstance(grant, Grant) and provenance.source is not None:
            found.setdefault(str(provenance.source), []).append(grant)
    return found


def rule_for(policies: Policies, grants: Iterable[Grant]) -> tuple[str, RecertificationRule] | None:
    """The matching rule with the shortest `every_days` (the strictest), or None."""
    best: tuple[str, RecertificationRule] | None = None
    grants = list(grants)
    for name, rule in policies.recertification.items():
        if (best is None or rule.every_days < best[1].every_days) and any(
            grant_matches(m, g) for m in rule.match for g in grants
        ):
            best = (name, rule)
    return best


def owner_of(grant: Grant, policies: Policies, desired: AccessSet, people: Directory) -> Owner:
    """Who the approver rules name for granting `grant` today; the policy owners (or any
    reviewer) when no rule names anyone."""
    change = Change(
        "recertify", grant.vendor, Action.GRANT, grant.tenant, grant.principal, grant.resource_type,
        grant.resource, grant.entitlement,
    )  # fmt: skip
    names: list[str] = []
    logins: set[str] = set()
    for requirement in requirements_for(change, policies, desired, people):
        names += requirement.names
        logins |= requirement.approvers
    if not names and policies.policy_owners is not None:
        names = list(policies.policy_owners.approvers)
        logins = set(people.logins(names))
    key = "+".join(sorted(dict.fromkeys(names), key=str.casefold)) or REVIEWERS
    return Owner(key, tuple(sorted(logins, key=str.casefold)))


def _day(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def find_due(
    lines: Iterable[MemberLine],
    by_line: Mapping[str, list[Grant]],
    policies: Policies,
    desired: AccessSet,
    today: dt.date,
    written: Callable[[MemberLine], tuple[dt.date, str] | None],
) -> list[Due]:
    """The lines due for re-approval on `today`. `written(line)` is the day (and commit) the line
    was last written on main; None when unknown (uncommitted: it is due at once)."""
    people = Directory(desired.people)
    found: list[Due] = []
    for line in lines:
        grants = by_line.get(line.where)
        if not grants:
            continue  # expired, or granting nothing by itself
        matched = rule_for(policies, grants)
        if matched is None:
            continue
        name, rule = matched
        last = written(line)
        reviewed, basis = last if last is not None else (dt.date.min, "never reviewed")
        if line.certified is not None:
            # Never later than the day the line reached main: a `certified` in the future counts
            # from the day it was written.
            reviewed = min(line.certified, reviewed if last is not None else today)
            basis = "certified"
        if reviewed == dt.date.min:
            due = deadline = today
        else:
            due = reviewed + dt.timedelta(days=rule.every_days)
            deadline = due + dt.timedelta(days=rule.grace_days)
        if due > today:
            continue
        if line.expires is not None and _day(line.expires) <= deadline:
            continue  # it lapses by the deadline anyway
        owner = owner_of(grants[0], policies, desired, people)
        found.append(Due(line, tuple(grants), name, reviewed, basis, due, deadline, owner, deadline < today))
    return found


def by_owner(due: Iterable[Due]) -> dict[str, list[Due]]:
    grouped: dict[str, list[Due]] = {}
    for item in due:
        grouped.setdefault(item.owner.key, []).append(item)
    return dict(sorted(grouped.items()))


def branch_name(owner: str) -> str:
    """`access-recertify/<owner>`, with anything a git ref cannot hold replaced."""
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", owner).strip(".-") or REVIEWERS
    return f"access-recertify/{slug}"


# ---------------------------------------------------------------- lapse on no response


# How a plan's revocation of a lapsed line begins (its note: "lapsed: " and `Lapse.why`).
LAPSED_NOTE = "lapsed: recertification "


@dataclass(frozen=True, slots=True)
class Lapse:
    """A line a `recertification` rule with `on_no_response: revoke` takes back (or soon will)."""

    source: Location | None  # None: the approved value the ledger holds against the line's edit
    grants: tuple[Grant, ...]
    rule: str
    reviewed: dt.date
    due: dt.date
    deadline: dt.date  # the last day the line's access lasts without a re-approval

    def why(self) -> str:
        return (
            f"recertification {self.rule}: due {self.due.isoformat()}, not re-approved by "
            f"{self.deadline.isoformat()} (on_no_response: revoke)"
        )


def lapses(
    access: AccessSet,
    policies: Policies,
    today: dt.date,
    written: Callable[[Location], dt.date | None],
    *,
    within_days: int = 0,
) -> list[Lapse]:
    """The lines whose access lapses by policy: past their deadline on `today` (or, with
    `within_days`, due to lapse by then). A line was last reviewed on its `certified` day (as the
    approved state has it: the ledger holds an unreviewed edit of it) and never later than the day
    it was written on main (`written`: from committed history, never the clock); a line with
    neither is not judged. Lines that expire by their deadline anyway are left to their expiry.
    A line lapses the day after its deadline: `deadline < today`."""
    revoking = {name for name, rule in policies.recertification.items() if rule.on_no_response == "revoke"}
    if not revoking:
        return []
    by_line: dict[Provenance, list[Grant]] = {}
    for grant, provenance in access.provenance.items():
        if isinstance(grant, Grant) and (provenance.source or provenance.certified) and access.holds(grant):
            by_line.setdefault(provenance, []).append(grant)  # a held value has no line, but its day
    found: list[Lapse] = []
    for provenance, grants in by_line.items():
        matched = rule_for(policies, grants)
        if matched is None or matched[0] not in revoking:
            continue
        name, rule = matched
        day = written(provenance.source) if provenance.source is not None else None
        certified = dt.date.fromisoformat(provenance.certified) if provenance.certified else None
        if certified is not None:
            reviewed = min(certified, day) if day is not None else certified
        elif day is not None:
            reviewed = day
        else:
            continue
        due = reviewed + dt.timedelta(days=rule.every_days)
        deadline = due + dt.timedelta(days=rule.grace_days)
        if deadline >= today + dt.timedelta(days=within_days):
            continue  # still within its deadline (and, with `within_days`, beyond that window)
        if provenance.expires and _day(dt.date.fromisoformat(provenance.expires[:10])) <= deadline:
            continue
        found.append(Lapse(provenance.source, tuple(sorted(grants)), name, reviewed, due, deadline))
    found.sort(key=lambda lapse: (lapse.deadline, str(lapse.source)))
    return found


def without_lapsed(access: AccessSet, found: Sequence[Lapse]) -> AccessSet:
    """`access` with the grants of lapsed lines set aside as expired, each saying why (`lapsed`):
    the plan revokes them where they are held, as it revokes access whose expiry passed."""
    if not found:
        return access
    gone: dict[Grant, Provenance] = {}
    for lapse in found:
        for grant in lapse.grants:
            gone[grant] = replace(access.provenance[grant], lapsed=lapse.why())
    groups: dict[Head, tuple[str, ...]] | None = None
    grants: frozenset[Grant] | None = None
    if access.grant_groups is not None:
        groups = {head: tuple(held) for head, held in access.grant_groups.items()}
        for head in {grant[:5] for grant in gone}:
            kept = tuple(p for p in groups.get(head, ()) if Grant(*head, p) not in gone)
            if kept:
                groups[head] = kept
            else:
                groups.pop(head, None)
    else:
        grants = access.grants - gone.keys()
    return AccessSet(
        access.accounts,
        grants=grants,
        provenance=access.provenance,
        expired={**access.expired, **gone},
        scope=access.scope,
        people=access.people,
        resource_sources=access.resource_sources,
        tenant_sources=access.tenant_sources,
        grant_groups=groups,
        accounts_of=access.accounts_of,
        account_attributes=access.account_attributes,
    )
