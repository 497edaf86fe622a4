"""Reminders (pure): what is due today under each schedule, where it goes, and what was sent.

A `Reminder` is one thing someone should act on (a line due for re-approval, a held pull request,
access about to expire, a leaver still holding access), with the day its schedule counts from
(`anchor`). A schedule such as `[7, 1, 0, -3]` has steps 7 and 1 days before the anchor, the day
itself, then every 3 days after; on any day the reminder is at the latest step reached, and it is
sent once per step and destination: the step's key goes into the sent log only once the receiver
took the message, so a receiver that was down gets it on the next run. A run that skipped days
sends the step it is at, not the ones it missed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.notification_policy import HOLDER, Channel, ChannelKind, Notifications, Route


class Event(StrEnum):
    RECERTIFICATION_DUE = "recertification_due"
    HELD = "held"
    EXPIRING = "expiring"
    LEAVER_PENDING = "leaver_pending"


TITLES = {
    Event.RECERTIFICATION_DUE: "Access due for re-approval",
    Event.HELD: "Pull requests held waiting for approval",
    Event.EXPIRING: "Access about to expire",
    Event.LEAVER_PENDING: "Leavers who still hold access",
}
MAX_ITEMS = 20  # reminders per message (Slack allows 50 blocks; a card or email stays readable)


@dataclass(frozen=True, slots=True)
class Reminder:
    event: Event
    subject: str  # what it is about, the same on every run ("access/pingone.yaml pingone/roles/X heidi")
    anchor: dt.date  # the day the schedule counts from
    headline: str  # one line, data from the YAML included (escaped by each renderer)
    details: tuple[str, ...] = ()
    link: str = ""  # the pull request to act on
    link_text: str = ""
    owners: tuple[str, ...] = ()  # approver names as policies/ write them ("finance", "@glin-sec")
    holders: tuple[tuple[str, str], ...] = ()  # (person key, email) of the people it is about
    teams: tuple[str, ...] = ()  # the teams those people (or the line's member) belong to
    vendor: str = ""


def step_on(schedule: Sequence[int], anchor: dt.date, today: dt.date) -> str | None:
    """The latest step of `schedule` reached on `today` ("d-7", "d-0", "d+6"); None before the first."""
    before = (anchor - today).days  # days until the anchor; negative once it has passed
    every = -schedule[-1] if schedule and schedule[-1] < 0 else 0
    if every and before < 0 and -before >= every:
        return f"d+{(-before // every) * every}"
    reached = [days for days in schedule if days >= 0 and days >= before]
    return f"d-{min(reached)}" if reached else None


def when(anchor: dt.date, today: dt.date) -> str:
    """'today', 'tomorrow', 'in 7 days', 'yesterday', '3 days ago'."""
    days = (anchor - today).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday"
    return f"in {days} days" if days > 0 else f"{-days} days ago"


@dataclass(frozen=True, slots=True)
class Destination:
    channel: str  # the channel's name, or HOLDER
    kind: ChannelKind
    recipients: tuple[str, ...] = ()  # email addresses

    @property
    def key(self) -> str:
        return f"{HOLDER}:{self.recipients[0].casefold()}" if self.channel == HOLDER else self.channel

    def describe(self) -> str:
        if self.channel == HOLDER:
            return f"{self.recipients[0]} (email to the holder)"
        return f"{self.channel} ({self.kind})"


def _matches(route: Route, reminder: Reminder) -> bool:
    if reminder.event not in route.events:
        return False
    if route.owners and not {o.casefold() for o in route.owners} & {o.casefold() for o in reminder.owners}:
        return False
    if route.teams and not {t.casefold() for t in route.teams} & {t.casefold() for t in reminder.teams}:
        return False
    return not route.vendors or reminder.vendor in route.vendors


def destinations(reminder: Reminder, notifications: Notifications) -> list[Destination]:
    """Every destination the routes send `reminder` to, once each, in the routes' order."""
    found: dict[str, Destination] = {}
    for route in notifications.routes.values():
        if not _matches(route, reminder):
            continue
        for name in route.to:
            if name == HOLDER:
                for _key, email in reminder.holders:
                    if email:
                        holder = Destination(HOLDER, "email", (email,))
                        found.setdefault(holder.key, holder)
                continue
            channel: Channel = notifications.channels[name]
            found.setdefault(name, Destination(name, channel.type, tuple(channel.to)))
    return list(found.values())


@dataclass(frozen=True, slots=True)
class Pending:
    """One reminder at one step for one destination."""

    reminder: Reminder
    step: str
    destination: Destination

    @property
    def key(self) -> str:
        r = self.reminder
        return f"{r.event}|{r.subject}|{r.anchor.isoformat()}|{self.step}|{self.destination.key}"


@dataclass
class Agenda:
    """What a run does: `due` (not sent at this step yet), `sent` before, reminders no route takes."""

    due: list[Pending] = field(default_factory=list)
    already: list[Pending] = field(default_factory=list)
    unrouted: list[Reminder] = field(default_factory=list)
    waiting: int = 0  # reminders before their first step

    @property
    def current(self) -> set[str]:
        """The keys this run computed (kept in the sent log while they stay current)."""
        return {p.key for p in (*self.due, *self.already)}


def agenda(
    reminders: Iterable[Reminder], notifications: Notifications, today: dt.date, sent: Collection[str]
) -> Agenda:
    plan = Agenda()
    for reminder in reminders:
        step = step_on(notifications.events.schedule(reminder.event), reminder.anchor, today)
        if step is None:
            plan.waiting += 1
            continue
        targets = destinations(reminder, notifications)
        if not targets:
            plan.unrouted.append(reminder)
            continue
        for target in targets:
            pending = Pending(reminder, step, target)
            (plan.already if pending.key in sent else plan.due).append(pending)
    return plan


@dataclass(frozen=True, slots=True)
class Message:
    """What one destination receives: reminders of one event (at most MAX_ITEMS)."""

    destination: Destination
    event: Event
    items: tuple[Pending, ...]

    @property
    def title(self) -> str:
        return TITLES[self.event]


def messages(due: Iterable[Pending]) -> list[Message]:
    """`due` grouped by destination and event, in chunks of MAX_ITEMS."""
    groups: dict[tuple[str, Event], list[Pending]] = {}
    targets: dict[str, Destination] = {}
    for pending in due:
        targets[pending.destination.key] = pending.destination
        groups.setdefault((pending.destination.key, pending.reminder.event), []).append(pending)
    found: list[Message] = []
    for (key, event), items in groups.items():
        items.sort(key=lambda p: (p.reminder.anchor, p.reminder.subject))
        for start in range(0, len(items), MAX_ITEMS):
            found.append(Message(targets[key], event, tuple(items[start : start + MAX_ITEMS])))
    return found


def kept(sent: Mapping[str, str], current: Collection[str], today: dt.date, days: int = 60) -> dict[str, str]:
    """The sent log to keep: keys still current, and any sent within the last `days` days (a key
    forgotten while still current would be sent again)."""
    horizon = (today - dt.timedelta(days=days)).isoformat()
    return {key: day for key, day in sorted(sent.items()) if key in current or day >= horizon}
