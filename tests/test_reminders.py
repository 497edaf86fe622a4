"""Reminders in small: schedule steps, routes, the sent log, the payloads, and the delivery rules
(pace, HTTP 429, SMTP settings) against loopback receivers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import time

import pytest

from reconciler import notifier
from reconciler.errors import ConfigError
from reconciler.notification_policy import Notifications
from reconciler.notifier import Outcome, Smtp, deliver
from reconciler.reminders import (
    MAX_ITEMS,
    Destination,
    Event,
    Message,
    Pending,
    Reminder,
    agenda,
    kept,
    messages,
    step_on,
)
from reconciler.render.reminders import (
    WORD_JOINER,
    email_text,
    inert,
    slack_payload,
    slack_text,
    teams_payload,
)
from reconciler.scrub import Scrubber, scrubbing
from tests.notify_helpers import Answer, closed_port, smtp_receiver, webhook_receiver

DAY = dt.date(2027, 3, 1)


def days(n: int) -> dt.date:
    return DAY + dt.timedelta(days=n)


@pytest.mark.parametrize(
    ("today", "step"),
    [
        (-8, None),
        (-7, "d-7"),
        (-2, "d-7"),
        (-1, "d-1"),
        (0, "d-0"),
        (2, "d-0"),
        (3, "d+3"),
        (5, "d+3"),
        (9, "d+9"),
    ],
)
def test_a_reminder_is_at_the_latest_step_it_reached(today: int, step: str | None) -> None:
    assert step_on((7, 1, 0, -3), DAY, days(today)) == step


def test_schedules_without_a_repeat_or_without_the_day_itself() -> None:
    assert [step_on((7, 1), DAY, days(n)) for n in (-7, 0, 30)] == ["d-7", "d-1", "d-1"]
    assert [step_on((0, -2), DAY, days(n)) for n in (-1, 0, 1, 2, 3, 4)] == [
        None,
        "d-0",
        "d-0",
        "d+2",
        "d+2",
        "d+4",
    ]
    assert [step_on((-3,), DAY, days(n)) for n in (0, 2, 3)] == [None, None, "d+3"]


def reminder(event: Event = Event.RECERTIFICATION_DUE, subject: str = "s", **kw: object) -> Reminder:
    fields: dict[str, object] = {"anchor": DAY, "headline": f"{subject} is due", **kw}
    return Reminder(event, subject, **fields)  # type: ignore[arg-type]


NOTIFICATIONS = Notifications.model_validate(
    {
        "channels": {
            "sec": {"type": "slack", "url_from": "ACCESS_SLACK_WEBHOOK_URL"},
            "fin": {"type": "teams", "url_from": "ACCESS_TEAMS_FINANCE_WEBHOOK_URL"},
            "admins": {"type": "email", "to": ["admins@harbor.example"]},
        },
        "routes": {
            "security": {"events": ["recertification_due", "held"], "owners": ["security"], "to": ["sec"]},
            "finance": {"owners": ["Finance"], "vendors": ["concur"], "to": ["fin"]},
            "site": {"teams": ["site"], "to": ["holder", "sec"]},
            "held": {"events": ["held"], "to": ["admins"]},
        },
    }
)


def test_routes_filter_by_event_owner_team_and_vendor_and_send_once_per_destination() -> None:
    items = [
        reminder(subject="a", owners=("security",)),
        reminder(subject="b", owners=("finance",), vendor="concur"),
        reminder(subject="c", owners=("finance",), vendor="pingone"),
        reminder(Event.EXPIRING, "d", owners=("security",), teams=("site",),
                 holders=(("alice", "alice@harbor.example"), ("bob", "bob@harbor.example"))),
        reminder(Event.HELD, "e", owners=("security",), anchor=days(-7)),
    ]  # fmt: skip
    plan = agenda(items, NOTIFICATIONS, days(-7), sent=set())
    routed = sorted((p.reminder.subject, p.destination.key) for p in plan.due)
    assert routed == [
        ("a", "sec"), ("b", "fin"), ("d", "holder:alice@harbor.example"), ("d", "holder:bob@harbor.example"),
        ("d", "sec"), ("e", "admins"), ("e", "sec"),
    ]  # fmt: skip
    assert [r.subject for r in plan.unrouted] == ["c"]

    sent = {p.key for p in plan.due if p.reminder.subject != "e"}
    again = agenda(items, NOTIFICATIONS, days(-7), sent)
    assert sorted((p.reminder.subject, p.destination.key) for p in again.due) == [
        ("e", "admins"),
        ("e", "sec"),
    ]
    assert len(again.already) == 5
    assert agenda(items, NOTIFICATIONS, days(-8), set()).waiting == 5


def test_messages_group_by_destination_and_event_in_chunks() -> None:
    target = Destination("sec", "slack")
    due = [Pending(reminder(subject=f"{i:02}"), "d-7", target) for i in range(MAX_ITEMS + 3)]
    due.append(Pending(reminder(Event.HELD, "h"), "d-0", target))
    found = messages(due)
    assert [(m.event, len(m.items)) for m in found] == [
        (Event.RECERTIFICATION_DUE, MAX_ITEMS), (Event.RECERTIFICATION_DUE, 3), (Event.HELD, 1),
    ]  # fmt: skip


def test_the_sent_log_keeps_what_is_current_and_what_is_recent() -> None:
    sent = {"old": "2026-01-01", "recent": days(-10).isoformat(), "current": "2026-01-01"}
    assert kept(sent, {"current"}, DAY) == {"current": "2026-01-01", "recent": days(-10).isoformat()}


# ---------------------------------------------------------------- payloads


def message(item: Reminder, kind: str = "slack") -> Message:
    return Message(
        Destination("x", kind, ("a@b.example",) if kind == "email" else ()),
        item.event,
        (Pending(item, "d-0", Destination("x", "slack")),),
    )  # type: ignore[arg-type]


HOSTILE = Reminder(
    Event.HELD, "pull 7", DAY,
    headline="<!channel> *approved* by <https://evil.example|@grace> & [click](https://evil.example)",
    details=("see www.evil.example/login",),
    link="https://github.com/harborbuild/access/pull/7", link_text="pull request #7",
)  # fmt: skip


def test_slack_reads_no_markup_or_link_of_the_yamls_own() -> None:
    payload = slack_payload(message(HOSTILE))
    text = payload["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text
    assert f"https:{WORD_JOINER}//evil.example" in text and f"www{WORD_JOINER}.evil.example" in text
    assert text.endswith("<https://github.com/harborbuild/access/pull/7|pull request #7>")
    assert slack_text("a\nb  c") == "a b c"


def test_teams_shows_the_yamls_text_as_text_in_an_adaptive_card() -> None:
    payload = teams_payload(message(HOSTILE, "teams"))
    [attachment] = payload["attachments"]
    card = attachment["content"]
    inlines = [b["inlines"][0] for b in card["body"] if b["type"] == "RichTextBlock"]
    assert all(run["type"] == "TextRun" for run in inlines)
    assert inlines[0]["text"] == inert(HOSTILE.headline) and "[click]" in inlines[0]["text"]
    [actions] = [b for b in card["body"] if b["type"] == "ActionSet"]
    assert actions["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "pull request #7",
            "url": "https://github.com/harborbuild/access/pull/7",
        }
    ]
    json.dumps(payload)  # serializable as it is


def test_an_email_is_plain_text_with_the_link_on_its_line() -> None:
    subject, body = email_text(message(HOSTILE, "email"))
    assert subject == "access: Pull requests held waiting for approval (1)"
    assert "    pull request #7: https://github.com/harborbuild/access/pull/7\n" in body
    assert "[click](https://evil" not in body and f"(https:{WORD_JOINER}//evil.example)" in body
    unsafe = Reminder(Event.HELD, "x", DAY, "h", link="javascript:alert(1)")
    assert "javascript" not in email_text(message(unsafe, "email"))[1]


# ---------------------------------------------------------------- delivery


def slack_only(url_var: str = "ACCESS_SLACK_WEBHOOK_URL") -> Notifications:
    return Notifications.model_validate(
        {"channels": {"sec": {"type": "slack", "url_from": url_var}}, "routes": {"all": {"to": ["sec"]}}}
    )


def two_messages() -> list[Message]:
    target = Destination("sec", "slack")
    return [
        Message(target, Event.RECERTIFICATION_DUE, (Pending(reminder(subject="a"), "d-0", target),)),
        Message(target, Event.HELD, (Pending(reminder(Event.HELD, "b"), "d-0", target),)),
    ]


@pytest.mark.loopback
def test_one_message_a_second_per_webhook_and_429_waits_as_retry_after_says() -> None:
    with webhook_receiver() as hook:
        env = {"ACCESS_SLACK_WEBHOOK_URL": hook.url(), "ACCESS_ALLOW_HOSTS": hook.host}
        hook.script = [Answer(429, b"rate_limited", {"Retry-After": "1"})]
        started = time.monotonic()
        done, notes = asyncio.run(deliver(two_messages(), slack_only(), env))
        assert [d.outcome for d in done] == [Outcome.SENT, Outcome.SENT]
        assert hook.attempts == 3 and len(hook.posted) == 2
        assert hook.posted[0].at - started >= 1.0, "the 429's Retry-After: 1 was waited out"
        assert hook.posted[1].at - hook.posted[0].at >= notifier.MIN_INTERVAL == 1.0
        assert notes == [
            f"ACCESS_ALLOW_HOSTS: channel sec sends to {hook.host}, not a documented Slack webhook host"
        ]

        hook.script = [Answer(429, b"", {"Retry-After": "3600"})]
        done, _ = asyncio.run(deliver(two_messages(), slack_only(), env))
        assert [(d.outcome, d.detail) for d in done] == [
            (Outcome.DOWN, "rate limited (HTTP 429) for 3600 s")
        ] * 2
        assert len(hook.posted) == 2, "a long wait is left for the next run, and the rest waits with it"


def test_webhooks_go_only_to_documented_hosts_over_https() -> None:
    cases = {
        "https://hooks.slack.com/services/T0/B0/x": "",
        "http://hooks.slack.com/services/T0/B0/x": "must be an https URL",
        "https://hooks.slack.com.evil.example/services/x": "points at hooks.slack.com.evil.example, which is not a Slack",
        "https://user@hooks.slack.com/services/x": "is not a webhook URL",
        "hooks.slack.com/services/x": "is not a webhook URL",
    }
    channel = slack_only().channels["sec"]
    for url, problem in cases.items():
        if not problem:
            assert notifier.webhook("sec", channel, {"ACCESS_SLACK_WEBHOOK_URL": url}).url == url
            continue
        with pytest.raises(ConfigError) as info:
            notifier.webhook("sec", channel, {"ACCESS_SLACK_WEBHOOK_URL": url})
        assert problem in info.value.message and url not in info.value.message
    assert notifier.documented("teams", "prod-12.westeurope.logic.azure.com")
    assert notifier.documented("teams", "harborbuild.webhook.office.com")
    assert not notifier.documented("teams", "logic.azure.com.evil.example")


def test_a_webhook_url_and_the_token_parts_of_it_are_scrubbed_once_read() -> None:
    url = "https://prod-1.westeurope.logic.azure.com/workflows/0a1b2c3d4e/triggers/manual/paths/invoke?api-version=1&sig=AbCdEfGhIjKlMnOpQrStUv"
    with scrubbing(Scrubber()) as scrub:
        notifier.remember_url(url)
        assert scrub(f"echo {url}") == "echo ***"
        assert scrub("sig=AbCdEfGhIjKlMnOpQrStUv; id 0a1b2c3d4e") == "sig=***; id ***"
        assert scrub("the workflows triggers paths invoke") == "the workflows triggers paths invoke"


def test_smtp_settings_refuse_a_password_in_the_clear_unless_the_host_is_opted_in() -> None:
    base = {"ACCESS_SMTP_HOST": "mail.harbor.example", "ACCESS_SMTP_FROM": "access@harbor.example"}
    assert Smtp.from_env(base).port == 587 and Smtp.from_env(base).security == "starttls"
    with pytest.raises(ConfigError, match="ACCESS_SMTP_PASSWORD would go over an unencrypted connection"):
        Smtp.from_env({**base, "ACCESS_SMTP_SECURITY": "none", "ACCESS_SMTP_PASSWORD": "pw-secret"})
    opted = {
        **base,
        "ACCESS_SMTP_SECURITY": "none",
        "ACCESS_SMTP_PASSWORD": "pw",
        "ACCESS_ALLOW_HOSTS": "mail.harbor.example:25",
    }
    assert Smtp.from_env(opted).port == 25
    with pytest.raises(ConfigError, match="ACCESS_SMTP_HOST and ACCESS_SMTP_FROM are not set"):
        Smtp.from_env({})


@pytest.mark.loopback
def test_an_smtp_server_that_is_down_waits_for_the_next_run_and_one_up_takes_the_mail() -> None:
    target = Destination("admins", "email", ("admins@harbor.example",))
    mail = [Message(target, Event.HELD, (Pending(reminder(Event.HELD, "e"), "d-0", target),))]
    policy = Notifications.model_validate(
        {
            "channels": {"admins": {"type": "email", "to": ["admins@harbor.example"]}},
            "routes": {"all": {"to": ["admins"]}},
        }
    )
    env = {
        "ACCESS_SMTP_HOST": "127.0.0.1",
        "ACCESS_SMTP_FROM": "access@harbor.example",
        "ACCESS_SMTP_SECURITY": "none",
    }
    done, _ = asyncio.run(deliver(mail, policy, {**env, "ACCESS_SMTP_PORT": str(closed_port())}))
    assert [d.outcome for d in done] == [Outcome.DOWN] and done[0].detail.startswith(
        "cannot connect to the SMTP server"
    )
    with smtp_receiver() as smtp:
        done, _ = asyncio.run(deliver(mail, policy, {**env, "ACCESS_SMTP_PORT": str(smtp.port)}))
        assert [d.outcome for d in done] == [Outcome.SENT]
        [received] = smtp.mails
        assert received.recipients == ["admins@harbor.example"] and received.auth == ""


def test_the_pure_modules_import_no_io_libraries() -> None:
    code = (
        "import sys; import reconciler.reminders, reconciler.render.reminders, reconciler.notification_policy; "
        "print(','.join(m for m in ('httpx', 'git', 'rich.console', 'smtplib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
