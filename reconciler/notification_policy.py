"""The `notifications` section of policies/ (by convention policies/notifications.yaml): which
reminders `access notify` sends, on which days, and where (pure pydantic models).

- `channels`: named receivers, each of a `type`. A `slack` or `teams` incoming webhook names the
  environment variable that holds its URL (`url_from`): the URL is a credential, so it never sits in
  the YAML. An `email` channel lists addresses (`to`); the SMTP server comes from ACCESS_SMTP_*.
- `events`: per kind of reminder, its `schedule`: days relative to the event's day (the day a
  recertification is due, the last day of expiring access, the day a held change landed). `[7, 1, 0,
  -3]` is 7 days before, 1 day before, on the day, then every 3 days after; only the last entry may
  be negative.
- `routes`: named; which reminders go to which channels, filtered by event, owner (the approver names the
  rules in policies/ give, as written), team and vendor. `holder` is a built-in channel: an email to
  the people the reminder is about (their address in access/people.yaml).
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

EventName = Literal["recertification_due", "held", "expiring", "leaver_pending"]
EVENT_NAMES: tuple[EventName, ...] = ("recertification_due", "held", "expiring", "leaver_pending")
NotifiedVendor = Literal["procore", "concur", "pingone"]
HOLDER = "holder"  # the built-in channel: email to the people a reminder is about
ChannelKind = Literal["slack", "teams", "email"]
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# Settings access reads for itself (reconciler/settings.py): never a webhook's URL. Kept here as
# prefixes and names so that this module stays free of the environment.
_OWN_PREFIXES = ("ACCESS_", "GITHUB_", "PROCORE_", "CONCUR_", "PINGONE_")
_WEBHOOK_PREFIXES = ("ACCESS_SLACK_", "ACCESS_TEAMS_")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _schedule(days: list[int]) -> list[int]:
    if any(a <= b for a, b in pairwise(days)):
        raise ValueError(
            f"{days}: list the days from the earliest reminder to the latest (e.g. [7, 1, 0, -3])"
        )
    if any(day < 0 for day in days[:-1]):
        raise ValueError(f"{days}: only the last entry may be negative (-N: then every N days after)")
    return days


Schedule = Annotated[
    list[StrictInt],
    Field(
        min_length=1,
        description="Days relative to the event's day: 7 is 7 days before, 0 the day itself, and a last "
        "negative entry -N repeats every N days after it.",
    ),
    AfterValidator(_schedule),
]


def _variable(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name (e.g. ACCESS_SLACK_WEBHOOK_URL)")
    if value.startswith(_OWN_PREFIXES) and not value.startswith(_WEBHOOK_PREFIXES):
        raise ValueError(
            f"{value} is named like a setting of access or a vendor; name the webhook's own variable, "
            "e.g. ACCESS_SLACK_WEBHOOK_URL or ACCESS_TEAMS_FINANCE_WEBHOOK_URL"
        )
    return value


def _address(value: str) -> str:
    if value.count("@") != 1 or any(c.isspace() or c in '<>,;"' for c in value):
        raise ValueError(f"{value!r} is not an email address")
    return value


class Channel(Strict):
    """One receiver: a Slack or Microsoft Teams incoming webhook (`url_from`), or email (`to`)."""

    type: ChannelKind = Field(
        description="`slack`, `teams` (a Workflows webhook: Adaptive Cards) or `email`."
    )
    url_from: Annotated[str, AfterValidator(_variable)] | None = Field(
        default=None,
        description="slack, teams: the environment variable holding the webhook URL (a secret; never the URL).",
    )
    to: list[Annotated[str, AfterValidator(_address)]] = Field(
        default_factory=list,
        description="email: the addresses (the SMTP server is set by ACCESS_SMTP_HOST and friends).",
    )
    description: str = ""

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> Channel:
        if self.type == "email":
            if self.url_from is not None or not self.to:
                raise ValueError("an email channel has `to` (a list of addresses) and no `url_from`")
        elif self.url_from is None or self.to:
            raise ValueError(
                f"a {self.type} channel has `url_from` (the variable holding its webhook URL) and no `to`"
            )
        return self


def _schedule_of(*days: int) -> Any:
    return lambda: EventSettings(schedule=list(days))


class EventSettings(Strict):
    schedule: Schedule


class Events(Strict):
    """When each kind of reminder is sent (the defaults: as written below)."""

    recertification_due: EventSettings = Field(
        default_factory=_schedule_of(7, 1, 0, -3),
        description="Lines due for re-approval, to their owner; counted from the due day.",
    )
    held: EventSettings = Field(
        default_factory=_schedule_of(0, -2),
        description="Merged pull requests whose change is held waiting for an approver; counted from the day "
        "it landed.",
    )
    expiring: EventSettings = Field(
        default_factory=_schedule_of(7, 1),
        description="Access about to expire, counted from its last day (`expires`).",
    )
    leaver_pending: EventSettings = Field(
        default_factory=_schedule_of(0, -1),
        description="People who left but still hold access; counted from the day they were found.",
    )

    def schedule(self, event: str) -> tuple[int, ...]:
        settings = getattr(self, event)
        assert isinstance(settings, EventSettings)
        return tuple(settings.schedule)


Names = list[Annotated[str, Field(min_length=1)]]


def _all_events() -> list[EventName]:
    return list(EVENT_NAMES)


class Route(Strict):
    """Reminders that match go to `to`. Every filter given must match; an unset filter matches all."""

    description: str = ""
    events: list[EventName] = Field(default_factory=_all_events, description="Which events (default: all).")
    owners: Names = Field(
        default_factory=list,
        description="Owners, as the approver rules name them (people or teams of access/, or `@login`).",
    )
    teams: Names = Field(
        default_factory=list, description="Teams of access/: the reminder is about someone in one of them."
    )
    vendors: list[NotifiedVendor] = Field(default_factory=list)
    to: Annotated[Names, Field(min_length=1)] = Field(
        description="Channel names, or `holder` (an email to the people the reminder is about)."
    )


class Notifications(Strict):
    """Reminders (`access notify`): channels, schedules and routes."""

    channels: dict[str, Channel] = Field(default_factory=dict, description="Receivers by name.")
    events: Events = Field(default_factory=Events)
    routes: dict[str, Route] = Field(default_factory=dict, description="Which reminders go where, by name.")

    @field_validator("channels")
    @classmethod
    def _reserved(cls, value: dict[str, Channel]) -> dict[str, Channel]:
        if HOLDER in value:
            raise ValueError(
                f"{HOLDER!r} is the built-in channel (email to the people concerned): choose another name"
            )
        return value

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """What the models cannot check alone, each with its path under `notifications`: a route
        sending to a channel that is not defined."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        known = sorted(self.channels)
        for route_name, route in self.routes.items():
            for j, name in enumerate(route.to):
                if name != HOLDER and name not in self.channels:
                    defined = (
                        f"defined: {', '.join(known)}, or {HOLDER}" if known else f"none is defined; {HOLDER}"
                    )
                    found.append((("routes", route_name, "to", j), f"no channel {name!r} ({defined})"))
        return found


NOTIFICATION_MODELS: tuple[type[BaseModel], ...] = (Notifications, Channel, Events, EventSettings, Route)
