"""Delivering reminders: Slack and Microsoft Teams incoming webhooks (httpx), email (SMTP), and the
log of what was sent, kept in the state directory next to the apply journal.

- **Where**: a webhook's URL is read from the variable its channel names (`url_from`) and is from
  then on scrubbed from every output like any secret. Messages go only to the webhook hosts Slack
  and Microsoft document (`hooks.slack.com`; `*.webhook.office.com`, and for Workflows
  `*.logic.azure.com` / `*.powerplatform.com`), over https; any other host (a loopback receiver in
  a test, a proxy) must be listed in `ACCESS_ALLOW_HOSTS`, and the run says so.
- **Pace**: at most one message per second per webhook (Slack's posting limit); an HTTP 429 is
  waited out as its Retry-After says (up to a minute, three times), then left for the next run.
- **A receiver that is down** (refused, unreachable, no answer in time, HTTP 5xx, a temporary SMTP
  failure) does not fail the run: its messages are not marked sent, so the next run sends them;
  the run reports it in one line. A receiver that refuses the message (a revoked webhook: HTTP
  404; a bad address) or a channel whose setting is missing fails the run after everything else
  was sent.
- **Email**: `ACCESS_SMTP_HOST`, `ACCESS_SMTP_PORT`, `ACCESS_SMTP_FROM`, `ACCESS_SMTP_USERNAME`,
  `ACCESS_SMTP_PASSWORD` (a secret) and `ACCESS_SMTP_SECURITY` (`starttls`, the default; `tls`;
  `none`). A password goes over an unencrypted connection only to a host in `ACCESS_ALLOW_HOSTS`.
- **The sent log** (`<state>/notify-sent.json`): each reminder's key (event, subject, anchor,
  step, destination) and the day it was sent, written atomically (a temporary file, then a
  rename) after the run.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from reconciler.connectors.http import retry_after_seconds
from reconciler.errors import ConfigError
from reconciler.hosts import ALLOW_ENV, allowed_hosts
from reconciler.jsonfile import write_json
from reconciler.notification_policy import Channel, Notifications
from reconciler.reminders import Message
from reconciler.render.reminders import email_text, slack_payload, teams_payload
from reconciler.scrub import quote_body, remember, scrub

SENT_FILE = "notify-sent.json"
FORMAT_VERSION = 1
MIN_INTERVAL = 1.0  # seconds between two messages to one webhook
MAX_RETRY_AFTER = 60.0  # a longer Retry-After: left for the next run
RATE_LIMIT_ATTEMPTS = 3
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SMTP_TIMEOUT = 10.0

SLACK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
TEAMS_SUFFIXES = (".webhook.office.com", ".logic.azure.com", ".powerplatform.com")
_HINTS = {
    "slack": "hooks.slack.com",
    "teams": "*.webhook.office.com, or a Workflows URL under *.logic.azure.com or *.powerplatform.com",
}
_LABELS = {"slack": "Slack", "teams": "Microsoft Teams"}


class Outcome(StrEnum):
    SENT = "sent"
    DOWN = "down"  # not taken now; the next run sends it
    FAILED = "failed"  # refused, or the channel is not configured: the run fails


@dataclass(frozen=True, slots=True)
class Delivery:
    message: Message
    outcome: Outcome
    detail: str = ""


# ---------------------------------------------------------------- where webhooks may go


def _opted_in(host: str, port: int | None, allowed: frozenset[str]) -> bool:
    names = {host, f"{host}:{port}"} if port is not None else {host}
    return bool(names & allowed)


def documented(kind: str, host: str) -> bool:
    host = host.lower().rstrip(".")
    if kind == "slack":
        return host in SLACK_HOSTS
    return kind == "teams" and any(host.endswith(s) and len(host) > len(s) for s in TEAMS_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Hook:
    url: str
    opted_in: str = ""  # the host:port ACCESS_ALLOW_HOSTS let through ("" for a documented host)


def remember_url(url: str) -> None:
    """Scrub a webhook's URL from now on, and the parts of it a receiver might echo: its path and
    query, and each segment or value that looks like a token (long, or with digits)."""
    remember(url)
    parts = urlsplit(url)
    for piece in (parts.path, parts.query, f"{parts.path}?{parts.query}" if parts.query else ""):
        if len(piece) >= 8:
            remember(piece)
    values = [v for pair in parts.query.split("&") for v in pair.split("=", 1)[1:]]
    for token in [*parts.path.split("/"), *values]:
        if len(token) >= 20 or (len(token) >= 8 and any(c.isdigit() for c in token)):
            remember(token)


def webhook(name: str, channel: Channel, env: Mapping[str, str]) -> Hook:
    """The channel's webhook URL from its variable, checked; ConfigError naming the channel and the
    variable (never the value) when it is missing or points elsewhere."""
    kind, variable = channel.type, channel.url_from
    assert variable is not None
    raw = (env.get(variable) or "").strip()
    if not raw:
        raise ConfigError(
            f"channel {name}: {variable} is not set (it holds the {_LABELS[kind]} webhook's URL)"
        )
    remember_url(raw)  # a credential: masked in everything printed or written from now on
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("https", "http") or not parts.hostname or port == -1 or parts.username:
        raise ConfigError(f"channel {name}: {variable} is not a webhook URL (https://…)")
    host = parts.hostname.lower()
    if _opted_in(host, port, allowed_hosts(env)):
        return Hook(raw, f"{host}:{port}" if port else host)
    if parts.scheme != "https":
        raise ConfigError(
            f"channel {name}: {variable} must be an https URL (http only to a host in {ALLOW_ENV})"
        )
    if port not in (None, 443) or not documented(kind, host):
        raise ConfigError(
            f"channel {name}: {variable} points at {host}, which is not a {_LABELS[kind]} webhook host "
            f"({_HINTS[kind]}); reminders go only there, or to a host listed in {ALLOW_ENV}"
        )
    return Hook(raw)


# ---------------------------------------------------------------- webhooks


def _down(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {TIMEOUT.read:.0f} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {scrub(str(exc)) or type(exc).__name__}"
    return f"the connection failed ({type(exc).__name__})"


async def _post(client: httpx.AsyncClient, url: str, body: bytes) -> tuple[Outcome, str]:
    for attempt in range(RATE_LIMIT_ATTEMPTS):
        try:
            response = await client.post(url, content=body, headers={"content-type": "application/json"})
        except httpx.TransportError as exc:
            return Outcome.DOWN, _down(exc)
        if response.is_success:
            return Outcome.SENT, ""
        code = response.status_code
        if code == 429:
            wait = retry_after_seconds(response.headers)
            wait = float(2**attempt) if wait is None else wait
            if wait > MAX_RETRY_AFTER:
                return Outcome.DOWN, f"rate limited (HTTP 429) for {wait:.0f} s"
            if attempt < RATE_LIMIT_ATTEMPTS - 1:
                await asyncio.sleep(wait)
            continue
        if code >= 500:
            return Outcome.DOWN, f"it answered HTTP {code}"
        said = quote_body(response.content, 120)
        return Outcome.FAILED, f"it refused the message: HTTP {code}{f' ({said})' if said else ''}"
    return Outcome.DOWN, f"still rate limited (HTTP 429) after {RATE_LIMIT_ATTEMPTS} attempts"


def payload(message: Message) -> bytes:
    """The JSON the channel's webhook takes, scrubbed."""
    data = slack_payload(message) if message.destination.kind == "slack" else teams_payload(message)
    return scrub(json.dumps(data, ensure_ascii=False)).encode()


async def _to_webhook(client: httpx.AsyncClient, hook: Hook, items: Sequence[Message]) -> list[Delivery]:
    """One webhook's messages in order, at most one a second; once it is down, the rest wait."""
    done: list[Delivery] = []
    last = 0.0
    for i, message in enumerate(items):
        pause = last + MIN_INTERVAL - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        outcome, detail = await _post(client, hook.url, payload(message))
        last = time.monotonic()
        done.append(Delivery(message, outcome, detail))
        if outcome is Outcome.DOWN:
            done += [Delivery(m, Outcome.DOWN, detail) for m in items[i + 1 :]]
            break
    return done


# ---------------------------------------------------------------- email


@dataclass(frozen=True, slots=True)
class Smtp:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    security: str = "starttls"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Smtp:
        host = env.get("ACCESS_SMTP_HOST", "").strip()
        sender = env.get("ACCESS_SMTP_FROM", "").strip()
        missing = [n for n, v in (("ACCESS_SMTP_HOST", host), ("ACCESS_SMTP_FROM", sender)) if not v]
        if missing:
            raise ConfigError(
                f"email: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"
            )
        security = env.get("ACCESS_SMTP_SECURITY", "").strip().lower() or "starttls"
        if security not in ("starttls", "tls", "none"):
            raise ConfigError(f"ACCESS_SMTP_SECURITY must be starttls, tls or none, not {security!r}")
        raw_port = env.get("ACCESS_SMTP_PORT", "").strip()
        try:
            port = int(raw_port) if raw_port else {"starttls": 587, "tls": 465, "none": 25}[security]
        except ValueError:
            raise ConfigError(f"ACCESS_SMTP_PORT must be a number, not {raw_port!r}") from None
        username = env.get("ACCESS_SMTP_USERNAME", "").strip()
        password = env.get("ACCESS_SMTP_PASSWORD", "")
        if password and security == "none" and not _opted_in(host.lower(), port, allowed_hosts(env)):
            raise ConfigError(
                "ACCESS_SMTP_PASSWORD would go over an unencrypted connection (ACCESS_SMTP_SECURITY=none): "
                f"use starttls or tls, or list {host}:{port} in {ALLOW_ENV} (a relay on this machine)"
            )
        return cls(host, port, sender, username or sender, password, security)


def _email(smtp: Smtp, message: Message) -> EmailMessage:
    subject, body = email_text(message)
    mail = EmailMessage()
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(message.destination.recipients)
    mail["Subject"] = scrub(" ".join(subject.split()))
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    mail.set_content(scrub(body))
    return mail


def _smtp_failure(exc: Exception) -> tuple[Outcome, str]:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Outcome.FAILED, "the SMTP server refused ACCESS_SMTP_USERNAME / ACCESS_SMTP_PASSWORD"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Outcome.FAILED, "the SMTP server does not offer STARTTLS (set ACCESS_SMTP_SECURITY)"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return Outcome.FAILED, "the SMTP server refused the recipient(s)"
    if isinstance(exc, smtplib.SMTPResponseException):
        kind = Outcome.DOWN if 400 <= exc.smtp_code < 500 else Outcome.FAILED
        return kind, f"the SMTP server answered {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return Outcome.DOWN, "the SMTP server closed the connection"
    if isinstance(exc, TimeoutError):
        return Outcome.DOWN, f"the SMTP server did not answer within {SMTP_TIMEOUT:.0f} s"
    if isinstance(exc, ssl.SSLError):
        return Outcome.FAILED, f"TLS with the SMTP server failed ({type(exc).__name__})"
    return Outcome.DOWN, f"cannot connect to the SMTP server ({scrub(str(exc)) or type(exc).__name__})"


def _send_mail(smtp: Smtp, items: Sequence[Message]) -> list[Delivery]:
    """Every email over one SMTP connection (blocking: run in a thread)."""
    done: list[Delivery] = []
    try:
        context = ssl.create_default_context()
        server = (
            smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=SMTP_TIMEOUT, context=context)
            if smtp.security == "tls"
            else smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT)
        )
        with server:
            if smtp.security == "starttls":
                server.starttls(context=context)
            if smtp.password:
                server.login(smtp.username, smtp.password)
            for message in items:
                try:
                    server.send_message(_email(smtp, message))
                except (
                    smtplib.SMTPRecipientsRefused,
                    smtplib.SMTPDataError,
                    smtplib.SMTPSenderRefused,
                ) as exc:
                    done.append(Delivery(message, *_smtp_failure(exc)))
                    continue
                done.append(Delivery(message, Outcome.SENT))
    except (OSError, smtplib.SMTPException) as exc:
        outcome, detail = _smtp_failure(exc)
        sent = {id(d.message) for d in done}
        done += [Delivery(m, outcome, detail) for m in items if id(m) not in sent]
    return done


# ---------------------------------------------------------------- a run's deliveries


async def deliver(
    messages: Sequence[Message], notifications: Notifications, env: Mapping[str, str]
) -> tuple[list[Delivery], list[str]]:
    """Send every message; returns each one's outcome and the notes to show (hosts opted in)."""
    notes: list[str] = []
    done: list[Delivery] = []
    hooks: dict[str, tuple[Hook, list[Message]]] = {}
    mail: list[Message] = []
    for message in messages:
        target = message.destination
        if target.kind == "email":
            mail.append(message)
            continue
        if target.channel not in hooks:
            try:
                hook = webhook(target.channel, notifications.channels[target.channel], env)
            except ConfigError as exc:
                done.append(Delivery(message, Outcome.FAILED, exc.message))
                continue
            if hook.opted_in:
                notes.append(
                    f"{ALLOW_ENV}: channel {target.channel} sends to {hook.opted_in}, not a documented "
                    f"{_LABELS[target.kind]} webhook host"
                )
            hooks[target.channel] = (hook, [])
        hooks[target.channel][1].append(message)
    failed_channels = {d.message.destination.channel for d in done}
    jobs = []
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        for channel, (hook, items) in hooks.items():
            if channel not in failed_channels:
                jobs.append(_to_webhook(client, hook, items))
        if mail:
            try:
                smtp = Smtp.from_env(env)
            except ConfigError as exc:
                done += [Delivery(m, Outcome.FAILED, exc.message) for m in mail]
            else:
                jobs.append(asyncio.to_thread(_send_mail, smtp, mail))
        for found in await asyncio.gather(*jobs):
            done += found
    order = {id(m): i for i, m in enumerate(messages)}
    done.sort(key=lambda d: order[id(d.message)])
    return done, notes


# ---------------------------------------------------------------- the sent log


def read_sent(directory: Path) -> dict[str, str]:
    """key -> the day it was sent; {} without a log (or with one this version cannot read)."""
    path = directory / SENT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path}: cannot read the log of reminders sent ({exc}); move it aside to start over"
        ) from None
    sent = data.get("sent") if isinstance(data, dict) else None
    if not isinstance(sent, dict):
        return {}
    return {str(k): str(v) for k, v in sent.items()}


def write_sent(directory: Path, sent: Mapping[str, str]) -> Path:
    return write_json(
        directory / SENT_FILE, {"format_version": FORMAT_VERSION, "sent": dict(sorted(sent.items()))}
    )
