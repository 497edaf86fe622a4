"""Reminder messages as each receiver takes them (pure): Slack and Microsoft Teams webhook payloads,
email, and `access notify`'s own text and JSON.

- **Slack** incoming webhook: JSON with `text` (what notifications and old clients show) and
  `blocks`: a header, one `mrkdwn` section per reminder, a context line. Slack reads `&`, `<` and `>`
  as markup (`<!channel>`, `<url|text>`), so text from the YAML has them as entities.
- **Microsoft Teams** incoming webhook (Workflows): a `message` whose one attachment is an Adaptive
  Card (`application/vnd.microsoft.card.adaptive`). Text from the YAML goes in `TextRun`s of
  `RichTextBlock`s, which Teams shows as plain text (a `TextBlock` would read it as markdown); the
  pull request is an `Action.OpenUrl` button.
- **Email**: plain text.

Everywhere, a web address written in the YAML is made inert (U+2060 WORD JOINER after `://` and
`www`), so a name cannot become a link someone clicks; the only links are the pull requests'.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.reminders import Agenda, Message, Pending, Reminder

WORD_JOINER = "\u2060"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
FOOTER = "Sent by access notify (policies/notifications.yaml)."
SECTION_LIMIT = 2900  # Slack refuses a section text over 3000 characters
HEADER_LIMIT = 150  # and a header over 150
_URL = re.compile(r"https?://[^\s<>|\"'`]+")
_LINKY = re.compile(r"(?i)(?<=:)//|(?<=www)\.")


def inert(text: str) -> str:
    """`text` on one line, with web addresses that no client turns into links."""
    flat = " ".join(text.split())
    return _LINKY.sub(lambda m: WORD_JOINER + m.group(), flat)


def safe_url(url: str) -> str:
    """`url` if it is a plain http(s) address (a pull request's), else ""."""
    return url if _URL.fullmatch(url) else ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- Slack


def slack_text(text: str) -> str:
    return inert(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: Message) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(message.title, HEADER_LIMIT)}}
    ]
    for pending in message.items:
        item = pending.reminder
        lines = [f"*{slack_text(item.headline)}*", *(slack_text(d) for d in item.details)]
        url = safe_url(item.link)
        if url:
            lines.append(f"<{url}|{slack_text(item.link_text or url)}>")
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut("\n".join(lines), SECTION_LIMIT)}}
        )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": FOOTER}]})
    return {"text": f"{message.title}: {len(message.items)}", "blocks": blocks}


# ---------------------------------------------------------------- Microsoft Teams


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": inert(text), **style}


def teams_payload(message: Message) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    for pending in message.items:
        item = pending.reminder
        body.append(
            {"type": "RichTextBlock", "separator": True, "inlines": [_run(item.headline, weight="Bolder")]}
        )
        for detail in item.details:
            body.append(
                {"type": "RichTextBlock", "spacing": "None", "inlines": [_run(detail, isSubtle=True)]}
            )
        url = safe_url(item.link)
        if url:
            button = {"type": "Action.OpenUrl", "title": inert(item.link_text or "Open"), "url": url}
            body.append({"type": "ActionSet", "actions": [button]})
    body.append({"type": "TextBlock", "text": FOOTER, "isSubtle": True, "size": "Small", "wrap": True})
    card = {"$schema": ADAPTIVE_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body}
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


# ---------------------------------------------------------------- email


def email_text(message: Message) -> tuple[str, str]:
    """(subject, body) of the email."""
    subject = f"access: {message.title} ({len(message.items)})"
    lines = [message.title, ""]
    for pending in message.items:
        lines += _item_lines(pending.reminder)
        lines.append("")
    lines.append(FOOTER)
    return subject, "\n".join(lines) + "\n"


def _item_lines(item: Reminder, indent: str = "") -> list[str]:
    lines = [f"{indent}- {inert(item.headline)}", *(f"{indent}    {inert(d)}" for d in item.details)]
    url = safe_url(item.link)
    if url:
        lines.append(f"{indent}    {inert(item.link_text or 'link')}: {url}")
    return lines


# ---------------------------------------------------------------- access notify's own output


def agenda_text(messages: Sequence[Message], agenda: Agenda) -> str:
    """`access notify --dry-run`: what would be sent, where, and what is not sent and why."""
    lines: list[str] = []
    for message in messages:
        lines.append(
            f"would send to {message.destination.describe()}: {message.title} ({len(message.items)})"
        )
        for pending in message.items:
            lines += _item_lines(pending.reminder, "  ")
    lines.append(summary(agenda))
    return "\n".join(lines) + "\n"


def summary(agenda: Agenda) -> str:
    """The dry run's last line: how many reminders would go, and what is left out and why."""
    parts = [f"{len(agenda.due)} reminder(s) to send"]
    if agenda.already:
        parts.append(f"{len(agenda.already)} already sent at this step")
    if agenda.unrouted:
        events = sorted({str(r.event) for r in agenda.unrouted})
        parts.append(f"{len(agenda.unrouted)} no route takes ({', '.join(events)})")
    return "notify (dry run): " + ", ".join(parts)


def pending_json(pending: Pending) -> dict[str, Any]:
    item = pending.reminder
    return {
        "event": str(item.event),
        "subject": item.subject,
        "anchor": item.anchor.isoformat(),
        "step": pending.step,
        "headline": item.headline,
        "details": list(item.details),
        "link": safe_url(item.link),
        "owners": list(item.owners),
        "key": pending.key,
    }


def message_json(message: Message, outcome: str = "", detail: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {
        "destination": message.destination.describe(),
        "channel": message.destination.channel,
        "kind": message.destination.kind,
        "event": str(message.event),
        "title": message.title,
        "items": [pending_json(p) for p in message.items],
    }
    if outcome:
        data["outcome"] = outcome
    if detail:
        data["detail"] = detail
    return data


def agenda_json(
    messages: Sequence[Message],
    agenda: Agenda,
    notes: Iterable[str] = (),
    results: Sequence[tuple[str, str]] = (),
    *,
    dry_run: bool = True,
) -> str:
    """The run as JSON: each message (with its outcome once sent), then what was not sent and why."""
    shown = [message_json(m, *(results[i] if i < len(results) else ("", ""))) for i, m in enumerate(messages)]
    data = {
        "dry_run": dry_run,
        "messages": shown,
        "already_sent": [pending_json(p) for p in agenda.already],
        "unrouted": [
            {"event": str(r.event), "subject": r.subject, "headline": r.headline} for r in agenda.unrouted
        ],
        "notes": list(notes),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
