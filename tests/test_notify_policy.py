"""policies/notifications.yaml: every mistake one located error (file:line), all at once, like the
other policies; the example loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ValidationErrors
from reconciler.policy_loader import load_policies
from tests.policy_helpers import write

ROOT = Path(__file__).resolve().parents[1]


def errors_of(repo: Path) -> list[str]:
    with pytest.raises(ValidationErrors) as info:
        load_policies(repo)
    return [e.message for e in info.value.errors]


def test_the_example_loads_with_its_defaults_and_lines() -> None:
    notifications = load_policies(ROOT).notifications
    assert notifications is not None
    assert notifications.channels["security-slack"].type == "slack"
    assert notifications.channels["finance-teams"].url_from == "ACCESS_TEAMS_FINANCE_WEBHOOK_URL"
    assert notifications.events.schedule("recertification_due") == (7, 1, 0, -3)
    assert (
        load_policies(ROOT).where("notifications", "routes", "holders", "to")
        == "policies/notifications.yaml:32"
    )


def test_schedules_default_when_left_out(tmp_path: Path) -> None:
    write(tmp_path, "policies/n.yaml", "notifications:\n  routes:\n    everyone: {to: [holder]}\n")
    notifications = load_policies(tmp_path).notifications
    assert notifications is not None
    assert [notifications.events.schedule(e) for e in ("recertification_due", "held", "expiring", "leaver_pending")] == [
        (7, 1, 0, -3), (0, -2), (7, 1), (0, -1),
    ]  # fmt: skip
    assert notifications.routes["everyone"].events == [
        "recertification_due",
        "held",
        "expiring",
        "leaver_pending",
    ]


def test_every_mistake_is_located_and_reported_together(tmp_path: Path) -> None:
    write(
        tmp_path,
        "policies/notifications.yaml",
        """
        notifications:
          channels:
            ok: {type: slack, url_from: ACCESS_SLACK_WEBHOOK_URL}
            token: {type: slack, url_from: GITHUB_TOKEN}
            url: {type: teams, url_from: https://x.webhook.office.com/abc}
            both: {type: slack, url_from: SLACK_URL, to: [a@b.example]}
            mail: {type: email, to: [nobody]}
            pager: {type: pagerduty, url_from: PAGER_URL}
          events:
            held: {schedule: [1, 7]}
            expiring: {schedule: [7, -1, -3]}
            leaver_pending: {schedule: [true]}
            recertification_due: {shedule: [7]}
          routes:
            security:
              events: [recertification_due, helds]
              to: [ok]
            finance:
              owners: [finance]
              to: [holder]
              tems: [finance]
        """,
    )
    assert errors_of(tmp_path) == [
        "policies/notifications.yaml:4: notifications.channels.token.url_from: GITHUB_TOKEN is named like a "
        "setting of access or a vendor; name the webhook's own variable, e.g. ACCESS_SLACK_WEBHOOK_URL or "
        "ACCESS_TEAMS_FINANCE_WEBHOOK_URL",
        "policies/notifications.yaml:5: notifications.channels.url.url_from: 'https://x.webhook.office.com/abc' "
        "is not an environment variable name (e.g. ACCESS_SLACK_WEBHOOK_URL)",
        "policies/notifications.yaml:6: notifications.channels.both: a slack channel has `url_from` (the variable "
        "holding its webhook URL) and no `to`",
        "policies/notifications.yaml:7: notifications.channels.mail.to.0: 'nobody' is not an email address",
        "policies/notifications.yaml:8: notifications.channels.pager.type: Input should be 'slack', 'teams' or "
        "'email'",
        "policies/notifications.yaml:10: notifications.events.held.schedule: [1, 7]: list the days from the "
        "earliest reminder to the latest (e.g. [7, 1, 0, -3])",
        "policies/notifications.yaml:11: notifications.events.expiring.schedule: [7, -1, -3]: only the last entry "
        "may be negative (-N: then every N days after)",
        "policies/notifications.yaml:12: notifications.events.leaver_pending.schedule.0: Input should be a valid "
        "integer",
        "policies/notifications.yaml:13: notifications.events.recertification_due: unknown field 'shedule' (did "
        "you mean 'schedule'?)",
        "policies/notifications.yaml:16: notifications.routes.security.events.1: Input should be "
        "'recertification_due', 'held', 'expiring' or 'leaver_pending'",
        "policies/notifications.yaml:21: notifications.routes.finance: unknown field 'tems' (did you mean 'teams'?)",
    ]


def test_a_route_to_a_channel_nobody_defined_is_located_at_its_name(tmp_path: Path) -> None:
    write(
        tmp_path,
        "policies/notifications.yaml",
        """
        notifications:
          channels:
            security-slack: {type: slack, url_from: ACCESS_SLACK_WEBHOOK_URL}
          routes:
            security:
              to: [security-slack]
            held:
              events: [held]
              to:
                - holder
                - security-slak
        """,
    )
    assert errors_of(tmp_path) == [
        "policies/notifications.yaml:11: notifications.routes.held.to.1: no channel 'security-slak' (defined: "
        "security-slack, or holder)"
    ]


def test_holder_is_reserved_and_the_section_lives_in_one_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "policies/a.yaml",
        "notifications:\n  channels:\n    holder: {type: email, to: [a@b.example]}\n",
    )
    write(tmp_path, "policies/b.yaml", "notifications:\n  routes:\n    all: {to: [holder]}\n")
    assert errors_of(tmp_path) == [
        "policies/a.yaml:2: notifications.channels: 'holder' is the built-in channel (email to the people concerned): "
        "choose another name"
    ]
    write(tmp_path, "policies/a.yaml", "notifications:\n  channels: {}\n")
    assert errors_of(tmp_path) == [
        "policies/b.yaml:1: notifications is set here and at policies/a.yaml:1; set it in one file"
    ]


def test_the_example_in_the_docs_loads(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    section = docs.split("## Reminders", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "notifications.yaml").write_text(example, encoding="utf-8")
    documented, shipped = load_policies(tmp_path).notifications, load_policies(ROOT).notifications
    assert documented is not None and shipped is not None
    assert (documented.channels, documented.events) == (shipped.channels, shipped.events)
    assert {n: (r.events, r.owners, r.to) for n, r in documented.routes.items()} == {
        n: (r.events, r.owners, r.to) for n, r in shipped.routes.items()
    }
