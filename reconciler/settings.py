"""The environment: the only module that reads os.environ and the clock for the CLI.

It also declares every setting (environment variable) access reads and what its value is. The
scrubber masks the values of the `secret` ones, in every encoding, and never those of the others:
names, ids, paths, modes, URLs and environments are what messages are made of (`CONCUR_TOKEN_STORE=file`
must not turn "No such file" into "No such ***"). `tests/test_settings.py` checks that every
setting the code reads is declared here, so a new secret cannot go unmasked by being forgotten.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

from reconciler.errors import ConfigError

# name -> what its value is. "secret": masked in every output; anything else: never masked.
SETTINGS: dict[str, str] = {
    # Procore (connectors/procore_settings.py)
    "PROCORE_CLIENT_SECRET": "secret",
    "PROCORE_CLIENT_ID": "id",
    "PROCORE_COMPANY_ID": "ids",
    "PROCORE_ENVIRONMENT": "name",
    "PROCORE_API_URL": "url",
    "PROCORE_LOGIN_URL": "url",
    "PROCORE_CONCURRENCY": "number",
    # SAP Concur (connectors/concur_settings.py, commands/concur.py)
    "CONCUR_CLIENT_SECRET": "secret",
    "CONCUR_REFRESH_TOKEN": "secret",
    "CONCUR_REQUEST_TOKEN": "secret",  # the one-time Company Request Token of `access concur setup`
    "CONCUR_CLIENT_ID": "id",
    "CONCUR_COMPANY_ID": "id",
    "CONCUR_GEOLOCATION": "url",
    "CONCUR_AUTH_HOST": "url",
    "CONCUR_DEFAULT_COUNTRY": "name",
    "CONCUR_DEFAULT_LOCALE": "name",
    "CONCUR_DEFAULT_CURRENCY": "name",
    "CONCUR_CONCURRENCY": "number",
    "CONCUR_PROVISION_TIMEOUT": "number",
    # where Concur's rotating refresh token is kept (token_store.py, for vendor "concur")
    "CONCUR_SECRETS_TOKEN": "secret",
    "ACCESS_SECRETS_TOKEN": "secret",
    "CONCUR_TOKEN_STORE": "mode",
    "CONCUR_TOKEN_FILE": "path",
    "CONCUR_SECRETS_ENVIRONMENT": "name",
    "CONCUR_REFRESH_TOKEN_SECRET": "name",  # the name of the GitHub secret, not its value
    "CONCUR_GEOLOCATION_SECRET": "name",
    "XDG_CONFIG_HOME": "path",
    "HOME": "path",
    # PingOne (connectors/pingone_settings.py)
    "PINGONE_CLIENT_SECRET": "secret",
    "PINGONE_CLIENT_ID": "id",
    "PINGONE_ENVIRONMENT_ID": "id",
    "PINGONE_AUTH_ENVIRONMENT_ID": "id",
    "PINGONE_ORGANIZATION_ID": "id",
    "PINGONE_REGION": "name",
    "PINGONE_TOKEN_AUTH_METHOD": "mode",
    "PINGONE_API_URL": "url",
    "PINGONE_AUTH_URL": "url",
    "PINGONE_MAX_CONCURRENCY": "number",
    "PINGONE_WORKER_CLIENT_IDS": "ids",  # the worker apps whose changes are access's own (drift causes)
    "PINGONE_ACTIVITY_DAYS": "number",  # how far back drift causes are looked for
    # GitHub (github_api.py, git_repo.py, gate.py, cli.py, commands/comment.py)
    "GITHUB_TOKEN": "secret",
    "GITHUB_API_URL": "url",
    "GITHUB_REPOSITORY": "name",
    "GITHUB_ACTIONS": "flag",
    "GITHUB_EVENT_PATH": "path",
    # access itself
    "ACCESS_APPLY_POINT_KEY": "secret",  # signs the apply point (apply_point.py)
    "ACCESS_EVIDENCE_SIGNING_KEY": "secret",  # signs evidence packs (evidence_key.py): Ed25519, private half
    "ACCESS_SNAPSHOT_RETENTION_DAYS": "number",  # how long refs/access/snapshots/* are kept (snapshot_store.py)
    "ACCESS_ALLOW_HOSTS": "hosts",
    "ACCESS_STATE_DIR": "path",
    "ACCESS_LOG": "mode",
    "ACCESS_TODAY": "date",
    "ACCESS_PROGRESS_INTERVAL": "number",
    "ACCESS_PLAN_COMMENT_AUTHORS": "names",
    "ACCESS_TEST_HANG_AFTER": "number",
    # pip's own: the package index `access init` asks for this release's hashes (a URL's user and
    # password are never shown: package_index.shown)
    "PIP_INDEX_URL": "url",
    # email reminders (`access notify`, notifier.py); webhook URLs come from variables that
    # policies/notifications.yaml names, and are scrubbed once read
    "ACCESS_SMTP_HOST": "name",
    "ACCESS_SMTP_PORT": "number",
    "ACCESS_SMTP_FROM": "email",
    "ACCESS_SMTP_USERNAME": "name",
    "ACCESS_SMTP_PASSWORD": "secret",
    "ACCESS_SMTP_SECURITY": "mode",
    # the terminal
    "NO_COLOR": "flag",  # https://no-color.org: no colours (console.py)
}
SECRET_SETTINGS = frozenset(name for name, kind in SETTINGS.items() if kind == "secret")


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
