"""Where reminders come from: one function per event, each returning `Reminder`s.

- **recertification due**: `recertification.find_due` (the same lines `access recertify` puts in
  pull requests), looked ahead by the schedule's first step; a line under `on_no_response: revoke`
  says when its access is taken back, and once `recertification.lapses` says it lapsed, that it was;
  the owner's open `access-recertify/<owner>` pull request is the link.
- **held**: the approval ledger's held items (`gate.judge`: the signed apply point's carried items
  and the landings since), one reminder per merged pull request whose change waits for an approver,
  naming who could approve (`Record.could_approve`). It needs the apply point's key and GitHub, as
  apply does; without them, the run says so and sends the rest.
- **expiring**: each holder's grants whose `expires` falls within the schedule's first step.
- **leaver pending**: `leaver_reminders`, a hook for the leavers work (see there); none yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from operator import attrgetter
from pathlib import Path

import git

from reconciler import apply_point, gate
from reconciler.approvers import Directory
from reconciler.canonical import Aliases
from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, Source
from reconciler.errors import AccessError
from reconciler.ledger import Record
from reconciler.ledger_state import GOVERNANCE, GRANT
from reconciler.line_grants import LineGrants
from reconciler.location import Location
from reconciler.policy_model import Policies
from reconciler.provenance import History
from reconciler.recertification import (
    REVIEWERS,
    Due,
    MemberLine,
    find_due,
    grants_by_line,
    lapses,
    member_lines,
    owner_of,
)
from reconciler.records import AccessSet, Grant, Person, Provenance
from reconciler.reminders import Event, Reminder, when
from reconciler.rules.matching import describe_grant


def lead(schedule: Sequence[int]) -> int:
    """How many days before its day a reminder's first step comes."""
    return max((days for days in schedule if days >= 0), default=0)


def _people(access: AccessSet, principals: Iterable[str]) -> list[Person]:
    found = {p: access.people[p] for p in principals if p in access.people}
    return sorted(found.values(), key=attrgetter("key"))


def _teams(people: Iterable[Person], *more: str) -> tuple[str, ...]:
    return tuple(sorted({t for p in people for t in p.teams} | {m for m in more if m}))


def _owners(key: str) -> tuple[str, ...]:
    return tuple(key.split("+")) if key else (REVIEWERS,)


# ---------------------------------------------------------------- recertification due


ByLine = Callable[[MemberLine], "tuple[dt.date, str] | None"]
ByLocation = Callable[[Location], "dt.date | None"]


def _written_on(history: History) -> tuple[ByLine, ByLocation]:
    """The day each line was last written on main (git blame), for `find_due` and `lapses`."""

    def commit_of(file: str, line: int) -> tuple[dt.date, str] | None:
        commit = history.blame(file).get(line)
        if commit is None or not commit.date or set(commit.sha) == {"0"}:
            return None
        return dt.date.fromisoformat(commit.date[:10]), f"written in {commit.sha[:10]}"

    def by_line(line: MemberLine) -> tuple[dt.date, str] | None:
        where = Location.parse(line.where)
        return commit_of(where.file, where.line)

    def by_location(where: Location) -> dt.date | None:
        found = commit_of(where.file, where.line)
        return found[0] if found else None

    return by_line, by_location


def recertification_due(
    repo: Path, desired: Desired, policies: Policies, today: dt.date, ahead: int
) -> tuple[list[Due], set[str], list[str]]:
    """The lines due by `today + ahead`, the sources (file:line) of those already lapsed, and a note
    when there is no history to date the lines by (outside a git repository: none is due)."""
    if not policies.recertification:
        return [], set(), []
    history = History.open(repo)
    if history is None:
        return [], set(), [f"recertification was not looked at: {repo} is not in a git repository (a line's "
                           "last review is the commit that wrote it)"]  # fmt: skip
    by_line, by_location = _written_on(history)
    found = find_due(
        member_lines(desired.files), grants_by_line(desired.access), policies, desired.access,
        today + dt.timedelta(days=ahead), by_line,
    )  # fmt: skip
    # Never reviewed (an uncommitted line): due at once, not `ahead` days from now.
    found = [replace(d, due=today, deadline=today) if d.reviewed == dt.date.min else d for d in found]
    lapsed = {str(x.source) for x in lapses(desired.access, policies, today, by_location) if x.source}
    return found, lapsed, []


def recertification_reminders(
    due: Sequence[Due],
    lapsed: set[str],
    desired: Desired,
    policies: Policies,
    today: dt.date,
    links: Mapping[str, str],
) -> list[Reminder]:
    """One reminder per line due (a flow list such as `[finance, nina]` is one line)."""
    access = desired.access
    keys = {p.key for p in access.people.values()}
    lines: dict[str, list[Due]] = {}
    for item in due:
        lines.setdefault(item.line.where, []).append(item)
    found: list[Reminder] = []
    for where, items in lines.items():
        item, line = items[0], items[0].line
        rule = policies.recertification[item.rule]
        members = [i.line.member for i in items]
        people = _people(access, {g.principal for g in item.grants})
        what = "; ".join(sorted({describe_grant(g) for g in item.grants}))
        if len(people) > 1:
            what += f" ({len(people)} people)"
        reviewed = (
            "never reviewed"
            if item.reviewed == dt.date.min
            else f"last reviewed {item.reviewed} ({item.basis})"
        )
        details = [f"{reviewed}; rule {item.rule}: every {rule.every_days} days; owner: {item.owner.key}"]
        if rule.on_no_response == "revoke":
            if where in lapsed:
                details.append(
                    f"not re-approved by {item.deadline}: its access was taken back "
                    "(on_no_response: revoke); re-approving the line grants it again"
                )
            else:
                details.append(
                    f"re-approve it by {item.deadline} ({when(item.deadline, today)}), or its access "
                    "is taken back the day after (on_no_response: revoke)"
                )
        elif item.deadline < today:
            details.append(
                f"past its deadline {item.deadline}: the recertification pull request sets it to expire"
            )
        else:
            details.append(f"deadline {item.deadline} ({when(item.deadline, today)})")
        link = links.get(item.owner.key, "")
        found.append(
            Reminder(
                Event.RECERTIFICATION_DUE,
                subject=f"{line.file} {'/'.join(line.path)} {'+'.join(sorted(members))}",
                anchor=item.due,
                headline=f"{', '.join(members)}: {what} ({where}) {'was' if item.due < today else 'is'} due "
                f"for re-approval {when(item.due, today)} ({item.due})",
                details=tuple(details),
                link=link,
                link_text="recertification pull request" if link else "",
                owners=_owners(item.owner.key),
                holders=tuple((p.key, p.email) for p in people),
                teams=_teams(people, *(m for m in members if m not in keys)),
                vendor=item.grants[0].vendor,
            )
        )
    return found


# ---------------------------------------------------------------- expiring


def _expiring_lines(access: AccessSet) -> Iterable[tuple[Grant, Provenance]]:
    lines = access.provenance
    if isinstance(lines, LineGrants):  # normalize's: only the lines that set `expires`
        return lines.items_where(attrgetter("expires"))
    return ((g, p) for g, p in lines.items() if isinstance(g, Grant) and p.expires and access.holds(g))


def expiring_reminders(access: AccessSet, policies: Policies, today: dt.date, ahead: int) -> list[Reminder]:
    """Per holder and resource, access whose last day is within `ahead` days."""
    people = Directory(access.people)
    groups: dict[tuple[str, str, str, str, str, str], list[tuple[Grant, Provenance]]] = {}
    for grant, provenance in _expiring_lines(access):
        last = dt.date.fromisoformat(provenance.expires[:10])
        if 0 <= (last - today).days <= ahead:
            key = (
                grant.principal,
                grant.vendor,
                grant.tenant,
                grant.resource_type,
                grant.resource,
                provenance.expires,
            )
            groups.setdefault(key, []).append((grant, provenance))
    found: list[Reminder] = []
    for (principal, vendor, tenant, rtype, resource, expires), items in sorted(groups.items()):
        grant, provenance = items[0]
        last = dt.date.fromisoformat(expires[:10])
        person = access.people.get(principal)
        who = person.key if person is not None else principal
        details = [f"written at {provenance.source}" if provenance.source else "held through the YAML"]
        if provenance.via:
            details[0] += f" (through team {provenance.via})"
        if provenance.reason:
            details.append(f"reason: {provenance.reason}")
        details.append(
            "still needed? extend `expires` (with a reason) in a pull request; it is revoked after that day"
        )
        owner = owner_of(grant, policies, access, people)
        found.append(
            Reminder(
                Event.EXPIRING,
                subject=f"{principal} {vendor}/{tenant}/{rtype}/{resource}",
                anchor=last,
                headline=f"{who}: {'; '.join(sorted({describe_grant(g) for g, _ in items}))} "
                f"expires {expires} ({when(last, today)})",
                details=tuple(details),
                owners=_owners(owner.key),
                holders=((who, person.email),) if person is not None else (),
                teams=_teams([person] if person is not None else [], provenance.via),
                vendor=vendor,
            )
        )
    return found


# ---------------------------------------------------------------- held


async def held_reminders(
    ctx: AppContext, source: Source, access: AccessSet, policies: Policies
) -> tuple[list[Reminder], list[str]]:
    """One reminder per merged pull request whose change the ledger holds, and notes on what could
    not be read (no key, no GitHub): those reminders are then left out, never guessed."""
    try:
        repo = gate.open_repo(ctx.repo)
        key = gate.signing_key(ctx, source)
        repository = gate.repository_identity(ctx, source)
        point = apply_point.read(repo, key, repository)
    except AccessError as exc:  # not configured, not a repository, a point not signed for it
        return [], [f"held pull requests were not looked up: {_first(exc.message)}"]
    if point is None:
        return [], [f"held pull requests were not looked up: no apply point ({apply_point.REF}) yet"]
    factory = gate.github_client_factory(ctx, source)
    try:
        judged = await gate.judge(ctx, repo, point, Aliases(), factory)
    except AccessError as exc:  # GitHub not answering, a rewritten history: apply says it loudly
        return [], [f"held pull requests were not looked up: {_first(exc.message)}"]
    notes = [f"held pull requests: {judged.note}"] if judged.note else []
    by_pull: dict[int, list[tuple[tuple[str, tuple[str, ...]], Record]]] = {}
    for item, record in judged.ledger.held.items():
        if record.pull is not None:  # a direct push waits for a pull request, not for an approver
            by_pull.setdefault(record.pull, []).append((item, record))
    return [
        _held(repo, number, items, access, policies, ctx.today) for number, items in sorted(by_pull.items())
    ], notes


def _first(message: str) -> str:
    """The first clause of an error message (what is wrong, not the whole how-to)."""
    return message.splitlines()[0].split(": ", 1)[0] if message else ""


def _held(
    repo: git.Repo,
    number: int,
    items: list[tuple[tuple[str, tuple[str, ...]], Record]],
    access: AccessSet,
    policies: Policies,
    today: dt.date,
) -> Reminder:
    people = Directory(access.people)
    owners: list[str] = []
    principals: list[str] = []
    vendor = ""
    for (kind, key), record in items:
        if kind == GRANT and len(key) == 6:
            grant = Grant(*key)
            owners += _owners(owner_of(grant, policies, access, people).key)
            principals.append(grant.principal)
            vendor = vendor or grant.vendor
        elif kind == GOVERNANCE or record.rule == "policy-owners":
            owners += list(policies.policy_owners.approvers) if policies.policy_owners else [REVIEWERS]
        else:
            owners.append(REVIEWERS)
    landed = _landed(repo, [r.commit for _, r in items]) or today
    holders = _people(access, principals)
    shown = [
        f"{r.edit}: rule {r.rule}; could approve: {r.could_approve or 'a reviewer'}" for _, r in items[:5]
    ]
    if len(items) > 5:
        shown.append(f"and {len(items) - 5} more held change(s): `access apply --dry-run` lists them")
    record = items[0][1]
    return Reminder(
        Event.HELD,
        subject=f"pull {number}",
        anchor=landed,
        headline=f"Pull request #{number} landed on {landed}, but {len(items)} of its change(s) are held: "
        "not applied until someone who may approve them does",
        details=tuple(shown),
        link=record.url,
        link_text=f"pull request #{number}",
        owners=tuple(dict.fromkeys(owners)),
        holders=tuple((p.key, p.email) for p in holders),
        teams=_teams(holders),
        vendor=vendor,
    )


def _landed(repo: git.Repo, commits: Iterable[str]) -> dt.date | None:
    days: list[dt.date] = []
    for sha in commits:
        try:
            committed = repo.commit(sha).committed_datetime
        except (ValueError, git.BadName):
            continue
        days.append(committed.astimezone(dt.UTC).date())
    return min(days) if days else None


# ---------------------------------------------------------------- leavers pending


def leaver_reminders(ctx: AppContext, desired: Desired, policies: Policies) -> list[Reminder]:
    """People who have left but still hold access: `Event.LEAVER_PENDING` reminders. The hook for
    the leavers work (issue #24, `access leavers`), which finds them from the identity provider
    (an account disabled at PingOne, no sign-in for long at Procore); none until it lands.

    Each reminder should carry: `subject` the person's key (stable), `anchor` the day they were found
    to have left (the schedule, `[0, -1]` by default, counts from it: that day, then daily),
    `holders` the leaver, `owners` who approves their removal (`owner_of` their grants), `teams`
    their teams, and a `link` to the pull request removing them, when there is one.
    """
    del ctx, desired, policies
    return []
