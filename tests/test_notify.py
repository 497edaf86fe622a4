"""`access notify` end to end: a real git repository, the GitHub simulator and the sandbox (the gate
tests' `World`, with the example's policies/notifications.yaml), and loopback receivers: two
webhooks on 127.0.0.1 and a tiny SMTP server. Reminders arrive once per schedule step, in the
formats Slack and Microsoft Teams document; a receiver that is down never fails the run; no secret
reaches any output.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler import notifier, sandbox
from reconciler.notifier import SENT_FILE
from tests.conftest import ROOT
from tests.notify_helpers import (
    Answer,
    SmtpReceiver,
    WebhookReceiver,
    closed_port,
    smtp_receiver,
    webhook_receiver,
)
from tests.test_gate import MIKE_ADMIN, Run, World, adopted, replace_text, world

__all__ = ["adopted", "world"]

pytestmark = pytest.mark.loopback

SLACK_CANARY = "sekrit-canary-slack"
TEAMS_CANARY = "sekrit-canary-teams"
SMTP_CANARY = "sekrit-canary-smtp"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


@dataclass
class Receivers:
    slack: WebhookReceiver
    teams: WebhookReceiver
    smtp: SmtpReceiver


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receivers]:
    """The example's channels pointed at loopback receivers (URLs carrying canaries, an SMTP
    password), allowed by ACCESS_ALLOW_HOSTS; no pause between messages (its own test has one)."""
    with (
        webhook_receiver() as slack,
        webhook_receiver() as teams,
        smtp_receiver(password=SMTP_CANARY) as smtp,
    ):
        monkeypatch.setenv("ACCESS_SLACK_WEBHOOK_URL", slack.url(f"/services/T0/B0/{SLACK_CANARY}"))
        monkeypatch.setenv(
            "ACCESS_TEAMS_FINANCE_WEBHOOK_URL",
            teams.url(f"/workflows/1/triggers/manual/paths/invoke?api-version=1&sig={TEAMS_CANARY}"),
        )
        monkeypatch.setenv("ACCESS_ALLOW_HOSTS", f"{slack.host},{teams.host},127.0.0.1:{smtp.port}")
        monkeypatch.setenv("ACCESS_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ACCESS_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("ACCESS_SMTP_FROM", "access@harborbuild.example")
        monkeypatch.setenv("ACCESS_SMTP_SECURITY", "none")
        monkeypatch.setenv("ACCESS_SMTP_PASSWORD", SMTP_CANARY)
        monkeypatch.setattr(notifier, "MIN_INTERVAL", 0.0)
        yield Receivers(slack, teams, smtp)


def written(world: World) -> dt.date:
    """The day the example's lines were committed (the real clock: the tests move ACCESS_TODAY)."""
    return list(world.repo.iter_commits("main"))[-1].committed_datetime.astimezone(dt.UTC).date()


def notify(world: World, monkeypatch: pytest.MonkeyPatch, today: dt.date, *args: str) -> Run:
    monkeypatch.setenv("ACCESS_TODAY", today.isoformat())
    result = world.access("notify", "--sandbox", *args)
    for canary in (SLACK_CANARY, TEAMS_CANARY, SMTP_CANARY):
        assert canary not in result.out + result.err
    return result


def sent_log(world: World) -> dict[str, str]:
    path = sandbox.state_dir(world.path) / SENT_FILE
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    assert not any(c in text for c in (SLACK_CANARY, TEAMS_CANARY, SMTP_CANARY))
    sent = json.loads(text)["sent"]
    assert isinstance(sent, dict)
    return sent


def sections(posted: object) -> list[str]:
    assert isinstance(posted, dict)
    return [b["text"]["text"] for b in posted["blocks"] if b["type"] == "section"]


def test_recertification_reminders_arrive_once_per_schedule_step(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PingOne roles are re-approved every 90 days (security owns them): 7 and 1 days before the due
    day, on the day, then every 3 days, each once, whatever the number of runs."""
    due = written(world) + dt.timedelta(days=90)
    slack = receivers.slack

    result = notify(world, monkeypatch, due - dt.timedelta(days=7))
    assert result.code == 0, result.out + result.err
    assert "sent to security-slack (slack): Access due for re-approval (2)" in result.out, result.out
    [first] = slack.posted
    assert first.headers["content-type"] == "application/json"
    assert first.path.endswith(SLACK_CANARY), "posted to the URL of the variable the channel names"
    body = first.body
    assert body["text"] == "Access due for re-approval: 2"  # what Slack shows in notifications
    assert body["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Access due for re-approval"},
    }
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "context"]
    assert all(b["text"]["type"] == "mrkdwn" for b in body["blocks"][1:-1])
    heidi, security = sections(body)
    assert heidi.startswith("*heidi: PingOne role Identity Data Admin (access/pingone.yaml:")
    assert f"is due for re-approval in 7 days ({due})*" in heidi
    assert "rule admin-roles: every 90 days; owner: security" in heidi
    assert (
        security.startswith("*security: PingOne role Identity Data Read Only")
        and "(1 people)" not in security
    )

    # The same day again: nothing new.
    again = notify(world, monkeypatch, due - dt.timedelta(days=7))
    assert again.code == 0 and len(slack.posted) == 1, again.out
    assert "2 already sent at this step" in again.out

    # Each next step: one more message; the days between steps: none.
    expected = {-6: 1, -1: 2, 0: 3, 1: 3, 2: 3, 3: 4, 4: 4, 6: 5}
    for offset, count in expected.items():
        day = due + dt.timedelta(days=offset)
        assert notify(world, monkeypatch, day).code == 0
        assert len(slack.posted) == count, (offset, [sections(p.body)[0] for p in slack.posted])
    texts = [sections(p.body)[0] for p in slack.posted]
    assert "due for re-approval tomorrow" in texts[1]
    assert "due for re-approval today" in texts[2]
    assert "was due for re-approval 3 days ago" in texts[3] and "deadline" in texts[3]
    assert receivers.teams.posted == [], "finance's lines are due at 180 days"
    steps = sorted({key.split("|")[3] for key in sent_log(world)})
    assert steps == ["d+3", "d+6", "d-0", "d-1", "d-7"]


def test_under_on_no_response_revoke_the_reminder_says_when_access_is_taken_back(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    replace_text(
        "policies/recertification.yaml",
        "    grace_days: 14\n",
        "    grace_days: 14\n    on_no_response: revoke\n",
    )(world.path)
    due = written(world) + dt.timedelta(days=90)
    deadline = due + dt.timedelta(days=14)
    assert notify(world, monkeypatch, due - dt.timedelta(days=7)).code == 0
    heidi = sections(receivers.slack.posted[-1].body)[0]
    assert f"re-approve it by {deadline} (in 21 days), or its access is taken back the day after" in heidi
    assert notify(world, monkeypatch, deadline + dt.timedelta(days=1)).code == 0
    heidi = sections(receivers.slack.posted[-1].body)[0]
    assert f"not re-approved by {deadline}: its access was taken back (on_no_response: revoke)" in heidi


def test_a_recertification_reminder_links_the_owners_pull_request(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = written(world) + dt.timedelta(days=90)
    monkeypatch.setenv("ACCESS_TODAY", due.isoformat())
    assert world.access("recertify", "--sandbox").code == 0  # opens access-recertify/security: #1
    result = notify(world, monkeypatch, due)
    assert result.code == 0, result.out + result.err
    link = "<https://github.com/harborbuild/access/pull/1|recertification pull request>"
    assert [s.endswith(link) for s in sections(receivers.slack.posted[0].body)] == [True, True]


def test_a_held_pull_request_reminds_who_could_approve_with_its_link(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mike's PingOne admin role needs security; carol approved, so the merged change is held: the
    security channel and the access administrators hear about it, with the pull request's link."""
    number = world.open_pull("dwhitfield", MIKE_ADMIN)
    world.approve(number, "cokafor")
    world.merge(number)
    landed = world.repo.head.commit.committed_datetime.astimezone(dt.UTC).date()

    result = notify(world, monkeypatch, landed)
    assert result.code == 0, result.out + result.err
    assert "sent to security-slack (slack): Pull requests held waiting for approval (1)" in result.out
    assert "sent to access-admins@harborbuild.example" not in result.out
    assert "sent to access-admins (email): Pull requests held waiting for approval (1)" in result.out
    [held] = sections(receivers.slack.posted[0].body)
    url = f"https://github.com/harborbuild/access/pull/{number}"
    assert held.startswith(f"*Pull request #{number} landed on {landed}, but 1 of its change(s) are held")
    assert "+ pingone mike.chen@harborbuild.example: role Identity Data Admin (environment)" in held
    assert "rule pingone-roles; could approve: glin-sec" in held, held
    assert held.endswith(f"<{url}|pull request #{number}>")

    # (the example's grace holds a role expiring 2026-12-15: on the days her reminder is due, she gets
    # a mail of her own as well)
    [mail] = [m for m in receivers.smtp.mails if m.recipients == ["access-admins@harborbuild.example"]]
    assert mail.sender == "access@harborbuild.example"
    assert mail.auth == f"access@harborbuild.example\0{SMTP_CANARY}", "the password went to the server only"
    assert mail.message["Subject"] == "access: Pull requests held waiting for approval (1)"
    text = mail.message.get_content()
    assert f"pull request #{number}: {url}" in text and "could approve: glin-sec" in text

    def admins() -> int:
        return sum(m.recipients == ["access-admins@harborbuild.example"] for m in receivers.smtp.mails)

    assert notify(world, monkeypatch, landed).code == 0
    assert len(receivers.slack.posted) == 1 and admins() == 1
    assert notify(world, monkeypatch, landed + dt.timedelta(days=1)).code == 0
    assert len(receivers.slack.posted) == 1, "the schedule [0, -2]: the next step is 2 days on"
    assert notify(world, monkeypatch, landed + dt.timedelta(days=2)).code == 0
    assert len(receivers.slack.posted) == 2 and admins() == 2
    assert "landed on" in sections(receivers.slack.posted[1].body)[0]


def test_teams_gets_an_adaptive_card_and_the_holder_an_email(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    finance_due = written(world) + dt.timedelta(days=180)
    result = notify(world, monkeypatch, finance_due - dt.timedelta(days=7))
    assert result.code == 0, result.out + result.err
    [posted] = receivers.teams.posted
    assert "sig=" + TEAMS_CANARY in posted.path
    body = posted.body
    assert body["type"] == "message" and len(body["attachments"]) == 1
    attachment = body["attachments"][0]
    assert attachment["contentType"] == ADAPTIVE and attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["body"][0] == {
        "type": "TextBlock", "text": "Access due for re-approval", "weight": "Bolder", "size": "Medium", "wrap": True,
    }  # fmt: skip
    runs = [
        run["text"] for block in card["body"] if block["type"] == "RichTextBlock" for run in block["inlines"]
    ]
    assert all(block["type"] in ("TextBlock", "RichTextBlock") for block in card["body"])
    headlines = [t for t in runs if "is due for re-approval in 7 days" in t]
    assert headlines and all("SAP Concur role" in t or "Finance Systems" in t for t in headlines), headlines
    assert any(
        t.startswith("project-management, nina: SAP Concur role Expense Approver") for t in headlines
    ), headlines

    # grace's Environment Admin role (example: expires 2026-12-15) reaches her, by email, at 7 and 1 days.
    receivers.smtp.mails.clear()
    for day, count in (
        ("2026-12-07", 0),
        ("2026-12-08", 1),
        ("2026-12-13", 1),
        ("2026-12-14", 2),
        ("2026-12-15", 2),
    ):
        assert notify(world, monkeypatch, dt.date.fromisoformat(day)).code == 0
        assert len(receivers.smtp.mails) == count, day
    first, second = receivers.smtp.mails
    assert first.recipients == ["grace.lin@harborbuild.example"]
    assert first.message["To"] == "grace.lin@harborbuild.example"
    assert first.message["Subject"] == "access: Access about to expire (1)"
    assert (
        "- grace: PingOne role Environment Admin expires 2026-12-15 (in 7 days)"
        in first.message.get_content()
    )
    assert "expires 2026-12-15 (tomorrow)" in second.message.get_content()


def test_a_receiver_that_is_down_never_fails_the_run_and_gets_it_next_time(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = written(world) + dt.timedelta(days=180)  # security's lines are overdue, finance's are due
    refused = f"http://127.0.0.1:{closed_port()}/services/T0/B0/{SLACK_CANARY}"
    monkeypatch.setenv("ACCESS_SLACK_WEBHOOK_URL", refused)
    monkeypatch.setenv(
        "ACCESS_ALLOW_HOSTS", f"127.0.0.1,{receivers.teams.host},127.0.0.1:{receivers.smtp.port}"
    )
    receivers.teams.script = [Answer(503, b"Service Unavailable")]

    result = notify(world, monkeypatch, due)
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    slack_line = next(line for line in lines if line.startswith("security-slack (slack) is down"))
    assert re.fullmatch(
        r"security-slack \(slack\) is down \(cannot connect: .+\): \d+ reminder\(s\) wait for the next run",
        slack_line,
    ), slack_line
    assert "finance-teams (teams) is down (it answered HTTP 503): " in result.out
    assert sum("is down" in line for line in lines) == 2, "one line per receiver"
    assert receivers.teams.posted == [] and sent_log(world) == {}

    # The next run, both up: everything arrives, once.
    monkeypatch.setenv("ACCESS_SLACK_WEBHOOK_URL", receivers.slack.url(f"/services/T0/B0/{SLACK_CANARY}"))
    monkeypatch.setenv(
        "ACCESS_ALLOW_HOSTS", f"{receivers.slack.host},{receivers.teams.host},127.0.0.1:{receivers.smtp.port}"
    )
    result = notify(world, monkeypatch, due)
    assert result.code == 0 and "is down" not in result.out, result.out
    assert len(receivers.slack.posted) == 1 and len(receivers.teams.posted) == 1
    assert notify(world, monkeypatch, due).code == 0
    assert len(receivers.slack.posted) == 1 and len(receivers.teams.posted) == 1


def test_a_missing_or_refusing_channel_fails_the_run_after_the_others_were_sent(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = written(world) + dt.timedelta(days=180)  # finance's lines; security's are overdue
    monkeypatch.delenv("ACCESS_TEAMS_FINANCE_WEBHOOK_URL")
    result = notify(world, monkeypatch, due - dt.timedelta(days=7))
    assert result.code == 1
    assert (
        "not sent to finance-teams (teams): channel finance-teams: ACCESS_TEAMS_FINANCE_WEBHOOK_URL is not set "
        "(it holds the Microsoft Teams webhook's URL)" in result.out
    ), result.out
    assert "sent to security-slack (slack): Access due for re-approval (2)" in result.out
    assert len(receivers.slack.posted) == 1
    assert {key.split("|")[-1] for key in sent_log(world)} == {"security-slack"}, (
        "finance's wait for their channel"
    )

    # A receiver that refuses (a revoked webhook), and an address no documented webhook host serves
    # (refused before anything is sent to it): the run fails; what they would echo is masked.
    receivers.slack.script = [Answer(404, f"no_service: /services/T0/B0/{SLACK_CANARY}".encode())]
    monkeypatch.setenv("ACCESS_TEAMS_FINANCE_WEBHOOK_URL", f"https://collector.example/hook/{TEAMS_CANARY}")
    result = notify(world, monkeypatch, due)
    assert result.code == 1
    assert (
        "not sent to security-slack (slack): it refused the message: HTTP 404 (no_service: ***)" in result.out
    )
    assert (
        "channel finance-teams: ACCESS_TEAMS_FINANCE_WEBHOOK_URL points at collector.example, which is not a "
        "Microsoft Teams webhook host" in result.out
    ), result.out
    assert len(receivers.slack.posted) == 1 and receivers.teams.posted == []


def test_a_crash_after_the_url_was_read_leaves_no_secret_in_its_log(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The webhook URL's variable is not named like a secret: it is masked because notify read it."""

    async def explode(client: object, url: str, body: bytes) -> object:
        raise RuntimeError(f"unexpected bug posting to {url}")

    monkeypatch.setattr(notifier, "_post", explode)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = notify(world, monkeypatch, written(world) + dt.timedelta(days=90))
    assert result.code == 1 and "access crashed unexpectedly (RuntimeError); details in" in result.err
    log = Path(result.err.rsplit("details in ", 1)[1].strip()).read_text(encoding="utf-8")
    assert "unexpected bug posting to ***" in log and SLACK_CANARY not in log


def test_the_dry_run_sends_nothing_and_says_what_it_would_send(
    world: World, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = written(world) + dt.timedelta(days=90)
    result = notify(world, monkeypatch, due, "--dry-run")
    assert result.code == 0, result.err
    assert result.out.startswith(
        "would send to security-slack (slack): Access due for re-approval (2)\n  - heidi: "
    )
    assert result.out.rstrip().endswith("notify (dry run): 2 reminder(s) to send")
    data = json.loads(notify(world, monkeypatch, due, "--dry-run", "--format", "json").out)
    assert data["dry_run"] is True
    [message] = data["messages"]
    assert message["channel"] == "security-slack" and message["event"] == "recertification_due"
    assert [i["step"] for i in message["items"]] == ["d-0", "d-0"]
    assert receivers.slack.posted == [] and receivers.smtp.mails == [] and sent_log(world) == {}

    sent = json.loads(notify(world, monkeypatch, due, "--format", "json").out)
    assert sent["dry_run"] is False
    assert [(m["channel"], m["outcome"]) for m in sent["messages"]] == [("security-slack", "sent")]
    assert len(receivers.slack.posted) == 1 and len(sent_log(world)) == 2


def test_without_notifications_there_is_nothing_to_send(tmp_path: Path) -> None:
    """The CLI as a process: a repository whose policies/ has no notifications."""
    (tmp_path / "access").mkdir()
    (tmp_path / "access" / "people.yaml").write_text("people: {}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--repo", str(tmp_path), "notify"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "ACCESS_TODAY": "2026-11-23"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no routes under `notifications` in policies/: nothing to send")
