"""`access notify` (scheduled, daily): reminders to the people who have to act, as
`policies/notifications.yaml` routes them (reconciler/notification_policy.py).

Gathers today's reminders (reconciler/reminder_sources.py: recertification due, pull requests held
waiting for an approver, access about to expire, leavers), works out which are at a schedule step
not yet sent to each destination (reconciler/reminders.py, the sent log in the state directory),
and sends them (reconciler/notifier.py). `--dry-run` prints what it would send and sends nothing.
Exit 0 when everything went or waits for a receiver that is down; 1 when a channel is not
configured or refused a message (after sending everything else).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from reconciler.commands.context import AppContext
from reconciler.commands.formats import TextOrJson
from reconciler.commands.state import Desired, Source, load_desired, state_dir
from reconciler.errors import AccessError, ConfigError
from reconciler.gate import github_client_factory
from reconciler.notification_policy import Notifications
from reconciler.notifier import Delivery, Outcome, deliver, read_sent, write_sent
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from reconciler.recertification import branch_name
from reconciler.reminder_sources import (
    expiring_reminders,
    held_reminders,
    lead,
    leaver_reminders,
    recertification_due,
    recertification_reminders,
)
from reconciler.reminders import Agenda, Event, Reminder, agenda, kept, messages
from reconciler.render.reminders import agenda_json, agenda_text


@dataclass
class Gathered:
    reminders: list[Reminder] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run(ctx: AppContext, *, source: Source, dry_run: bool = False, fmt: TextOrJson = "text") -> int:
    policies = load_policies(ctx.repo)
    notifications = policies.notifications
    if notifications is None or not notifications.routes:
        ctx.output.raw(
            "no routes under `notifications` in policies/: nothing to send "
            "(see docs/lifecycle.md, Reminders)\n"
        )
        return 0
    desired = load_desired(ctx)
    gathered = asyncio.run(_gather(ctx, source, desired, policies, notifications))
    directory = state_dir(ctx, source)
    sent = read_sent(directory)
    plan = agenda(gathered.reminders, notifications, ctx.today, sent)
    outgoing = messages(plan.due)
    if fmt != "json":  # what was left out and why: diagnostics, on stderr (in the JSON with --format json)
        for note in gathered.notes:
            ctx.output.warn(note)
    if dry_run:
        if fmt == "json":
            ctx.output.raw(agenda_json(outgoing, plan, gathered.notes))
        else:
            ctx.output.raw(agenda_text(outgoing, plan))
        return 0
    deliveries, notes = asyncio.run(deliver(outgoing, notifications, ctx.env)) if outgoing else ([], [])
    for note in notes:
        ctx.output.warn(note, once=True)
    day = ctx.today.isoformat()
    newly = {p.key: day for d in deliveries if d.outcome is Outcome.SENT for p in d.message.items}
    latest = read_sent(directory)  # another run may have written since: keep its keys too
    write_sent(directory, kept({**sent, **latest, **newly}, plan.current, ctx.today))
    if fmt == "json":
        results = [(str(d.outcome), d.detail) for d in deliveries]
        shown = [d.message for d in deliveries]
        ctx.output.raw(agenda_json(shown, plan, gathered.notes, results, dry_run=False))
    else:
        ctx.output.raw(_report(deliveries, plan))
    return 1 if any(d.outcome is Outcome.FAILED for d in deliveries) else 0


async def _gather(
    ctx: AppContext, source: Source, desired: Desired, policies: Policies, notifications: Notifications
) -> Gathered:
    routed = {event for route in notifications.routes.values() for event in route.events}
    found = Gathered()
    today = ctx.today
    if Event.RECERTIFICATION_DUE in routed:
        ahead = lead(notifications.events.schedule(Event.RECERTIFICATION_DUE))
        due, lapsed, notes = recertification_due(ctx.repo, desired, policies, today, ahead)
        found.notes += notes
        links, note = await _recertification_links(ctx, source, sorted({d.owner.key for d in due}))
        found.notes += note
        found.reminders += recertification_reminders(due, lapsed, desired, policies, today, links)
    if Event.HELD in routed:
        held, notes = await held_reminders(ctx, source, desired.access, policies)
        found.reminders += held
        found.notes += notes
    if Event.EXPIRING in routed:
        ahead = lead(notifications.events.schedule(Event.EXPIRING))
        found.reminders += expiring_reminders(desired.access, policies, today, ahead)
    if Event.LEAVER_PENDING in routed:
        leavers, notes = await leaver_reminders(ctx, source, desired, policies)
        found.reminders += leavers
        found.notes += notes
    return found


async def _recertification_links(
    ctx: AppContext, source: Source, owners: list[str]
) -> tuple[dict[str, str], list[str]]:
    """Each owner's open recertification pull request (`access recertify` opens them)."""
    if not owners:
        return {}, []
    factory = github_client_factory(ctx, source)
    if factory is None:
        return {}, []
    try:
        client = factory()
    except ConfigError as exc:
        return {}, [f"recertification pull requests were not looked up: {exc.message.splitlines()[0]}"]
    links: dict[str, str] = {}
    try:
        async with client:
            for owner in owners:
                pull = await client.open_pull_for(branch_name(owner))
                if pull is not None:
                    links[owner] = pull.html_url
    except AccessError as exc:  # GitHub not answering: the reminders go without their link
        return links, [f"recertification pull requests were not looked up: {exc.message.splitlines()[0]}"]
    return links, []


def _report(deliveries: list[Delivery], plan: Agenda) -> str:
    """A line per message sent or refused, one per receiver that was down, then the totals."""
    lines: list[str] = []
    down: dict[str, tuple[str, int]] = {}
    for d in deliveries:
        target = d.message.destination.describe()
        count = len(d.message.items)
        if d.outcome is Outcome.SENT:
            lines.append(f"sent to {target}: {d.message.title} ({count})")
        elif d.outcome is Outcome.FAILED:
            lines.append(f"not sent to {target}: {d.detail}; {d.message.title} ({count}) not sent")
        else:
            detail, before = down.get(target, (d.detail, 0))
            down[target] = (detail, before + count)
    for target, (detail, count) in down.items():
        lines.append(f"{target} is down ({detail}): {count} reminder(s) wait for the next run")
    counts = Counter(d.outcome for d in deliveries for _ in d.message.items)
    total = [f"{counts[Outcome.SENT]} reminder(s) sent"]
    if counts[Outcome.DOWN]:
        total.append(f"{counts[Outcome.DOWN]} waiting for a receiver")
    if counts[Outcome.FAILED]:
        total.append(f"{counts[Outcome.FAILED]} not sent")
    if plan.already:
        total.append(f"{len(plan.already)} already sent at this step")
    if plan.unrouted:
        total.append(f"{len(plan.unrouted)} no route takes")
    lines.append("notify: " + ", ".join(total))
    return "\n".join(lines) + "\n"
