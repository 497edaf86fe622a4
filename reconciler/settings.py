"""The environment: the only module that reads os.environ and the clock for the CLI."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping

from reconciler.errors import ConfigError

SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|KEY|CREDENTIAL)", re.IGNORECASE)


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


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Values of variables that look secret, longest first, for scrubbing crash logs."""
    values = [v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 4]
    return sorted(set(values), key=len, reverse=True)


def scrub(text: str, env: Mapping[str, str]) -> str:
    for value in secret_values(env):
        text = text.replace(value, "***")
    return text
