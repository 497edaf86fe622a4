"""The environment: the only module that reads os.environ and the clock for the CLI."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

from reconciler.errors import ConfigError


def environment() -> Mapping[str, str]:
    return dict(os.environ)


def today(env: Mapping[str, str]) -> dt.date:
    """`ACCESS_TODAY` (YYYY-MM-DD) pins the date for demos and tests; otherwise today in UTC."""
    pinned = env.get("ACCESS_TODAY")
    if pinned:
        try:
            return dt.date.fromisoformat(pinned)
        except ValueError:
            raise ConfigError(f"ACCESS_TODAY must be a date like 2026-11-23, not {pinned!r}") from None
    return dt.datetime.now(dt.UTC).date()


def now(env: Mapping[str, str]) -> dt.datetime:
    day = today(env)
    real = dt.datetime.now(dt.UTC)
    return real if real.date() == day else dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)
