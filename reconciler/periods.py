"""Periods and points in time as an auditor writes them (pure).

- a period: `2026-Q3`, `2026-07-01..2026-09-30` (both days included), a month `2026-09` or a year
  `2026`; days are UTC days, so a period is the same span on every runner;
- a point in time: a day `2026-09-30` (its last second, UTC) or a time with its zone
  `2026-09-30T17:00:00Z` / `...+02:00` (a time without one is refused, as in the YAML).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from reconciler.errors import AccessError

_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_FORMS = "2026-Q3, 2026-07-01..2026-09-30, 2026-09 or 2026"


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days, `start` and `end` included."""

    start: dt.date
    end: dt.date
    label: str

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(0, 0), tzinfo=dt.UTC)

    @property
    def end_at(self) -> dt.datetime:
        """The period's last second (what "at the period's end" means)."""
        return dt.datetime.combine(self.end, dt.time(23, 59, 59), tzinfo=dt.UTC)

    def contains(self, when: dt.datetime) -> bool:
        return self.start_at <= when <= self.end_at

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def parse_period(text: str) -> Period:
    raw = text.strip()
    try:
        if found := _QUARTER.match(raw):
            year, quarter = int(found[1]), int(found[2])
            start = dt.date(year, 3 * quarter - 2, 1)
            return Period(start, _month_end(year, 3 * quarter), f"{year}-Q{quarter}")
        if found := _MONTH.match(raw):
            year, month = int(found[1]), int(found[2])
            return Period(dt.date(year, month, 1), _month_end(year, month), raw)
        if found := _YEAR.match(raw):
            year = int(found[1])
            return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), raw)
        first, sep, last = raw.partition("..")
        if sep:
            start, end = dt.date.fromisoformat(first.strip()), dt.date.fromisoformat(last.strip())
            if end < start:
                raise AccessError(f"--period {text!r}: it ends ({end}) before it starts ({start})")
            return Period(start, end, f"{start.isoformat()}..{end.isoformat()}")
    except ValueError:
        pass
    raise AccessError(f"--period {text!r} is not a period: write it as {_FORMS}")


def _month_end(year: int, month: int) -> dt.date:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Instant:
    """A point in time: `at` (aware, UTC) and the UTC day it falls on."""

    at: dt.datetime
    label: str

    @property
    def day(self) -> dt.date:
        return self.at.date()

    @property
    def timestamp(self) -> int:
        return int(self.at.timestamp())

    def iso(self) -> str:
        return self.at.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str, *, option: str = "--at") -> Instant:
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return Instant(dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC), raw)
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise AccessError(
            f"{option} {text!r} is not a day or a time: write 2026-09-30 (its end, UTC) or "
            "2026-09-30T17:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise AccessError(
            f"{option} {text!r} has no time zone: it would be another moment on each runner; add Z or +02:00"
        )
    return Instant(when.astimezone(dt.UTC).replace(microsecond=0), raw)


def end_of(period: Period) -> Instant:
    return Instant(period.end_at, period.end.isoformat())


def iso_time(text: str) -> dt.datetime | None:
    """An audit entry's time (ISO 8601 with a zone) as an aware datetime; None if it is not one."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return when if when.tzinfo is not None else None
