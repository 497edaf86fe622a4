"""The one scrubber: every secret, in every encoding a server or proxy might echo, becomes `***`.

It knows the configured secrets (the settings `reconciler.settings.SETTINGS` declares secret) and
every token obtained at run time (`remember`, called where tokens arrive), and replaces each in the
forms an echoed request shows it:

- raw, URL-encoded (`%2F` or `%2f`, `+` for spaces, twice-encoded), JSON- and HTML-escaped, hex;
- base64 (standard or URL-safe, padded or not) at any offset within a longer base64 string, which
  covers `Basic base64(client_id:secret)` whatever the client id: the whole base64 run is replaced.

The values of the other declared settings (names, ids, paths, modes, URLs) are never masked: they
are ordinary words (`CONCUR_TOKEN_STORE=file`). A variable access does not declare is masked when its
name says SECRET, TOKEN, PASSWORD, KEY or CREDENTIAL, unless its value cannot be a secret (a number,
true/false); a value under 6 characters only where it stands alone, never inside a word.

Every message that reaches output, logs, plan files, journals and audit lines passes `scrub`; a
vendor's body is quoted only through `quote_body` (scrub, then truncate, so a cut cannot leave half a
secret behind). The CLI installs one scrubber per run (`scrubbing`); code outside a run gets one
built from the environment.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import quote, quote_plus

from reconciler.settings import SECRET_SETTINGS, SETTINGS, environment

SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|KEY|CREDENTIAL)", re.IGNORECASE)
MIN_LENGTH = 4  # shorter values are not treated as secrets (they would match everywhere)
WORD_LENGTH = 6  # an unknown variable's value shorter than this is masked only as a whole word
_NOT_SECRET = re.compile(r"(true|false|yes|no|on|off|none|null|[-+]?[0-9]+(\.[0-9]+)?)", re.IGNORECASE)
MASK = "***"
_B64_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")


def _base64_cores(secret: bytes) -> set[str]:
    """Substrings every base64 encoding of a text containing `secret` must contain.

    For each of the three alignments a secret can have within the encoded bytes, the characters
    whose 6 bits come only from the secret are fixed; those runs are what to look for.
    """
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode()
        first = -(-offset * 8 // 6)  # ceil: the first character made only of the secret's bits
        last = ((offset + len(secret)) * 8 - 6) // 6  # the last such character
        core = encoded[first : last + 1]
        if len(core) >= 6:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def _text_forms(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), html.escape(secret)}
    forms.add(quote(quote(secret, safe=""), safe=""))
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret)[1:-1].replace("/", "\\/"))
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    raw = secret.encode()
    forms.update({raw.hex(), raw.hex().upper()})
    for form in list(forms):
        if "%" in form:  # lower-case percent escapes (%2f) are as common as upper-case ones
            forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), form))
    return {f for f in forms if len(f) >= MIN_LENGTH}


def _mask_runs(text: str, core: str) -> str:
    """Replace each whole base64 run that contains `core` (a Basic header, a JWT part) with MASK."""
    pieces: list[str] = []
    done = 0
    start = text.find(core)
    while start != -1:
        left = start
        while left > done and text[left - 1] in _B64_SET:
            left -= 1
        right = start + len(core)
        while right < len(text) and text[right] in _B64_SET:
            right += 1
        while right < len(text) and text[right] == "=":
            right += 1
        pieces += [text[done:left], MASK]
        done = right
        start = text.find(core, done)
    pieces.append(text[done:])
    return "".join(pieces)


class Scrubber:
    """Replaces known secrets in text. Add secrets as they become known; scrubbing is thread-safe."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._words: set[str] = set()  # short values masked only where they stand alone
        self._built: tuple[list[str], list[str], re.Pattern[str] | None] | None = None
        for secret in secrets:
            self.remember(secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Scrubber:
        """The declared secret settings; of the variables access does not declare, those whose name
        says they hold a secret (see the module's docstring)."""
        scrubber = cls()
        for name, value in env.items():
            if name in SECRET_SETTINGS:
                scrubber.remember(value)
            elif name not in SETTINGS and SECRET_NAME.search(name):
                scrubber.remember_unknown(value)
        return scrubber

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def remember(self, secret: str | None) -> None:
        """Scrub `secret` (and its encodings) from now on."""
        if secret is None:
            return
        secret = str(secret)
        if len(secret) < MIN_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        self._built = None

    def remember_unknown(self, value: str) -> None:
        """The value of a variable access does not declare, whose name suggests a secret."""
        value = value.strip()
        if len(value) < MIN_LENGTH or _NOT_SECRET.fullmatch(value) or value in self._words:
            return
        if len(value) >= WORD_LENGTH:
            self.remember(value)
            return
        self._words.add(value)
        self._built = None

    def _forms(self) -> tuple[list[str], list[str], re.Pattern[str] | None]:
        """(text forms, base64 cores, whole words), longest first; rebuilt when a secret is added."""
        if self._built is None:
            texts: set[str] = set()
            cores: set[str] = set()
            for secret in self._secrets:
                texts |= _text_forms(secret)
                cores |= _base64_cores(secret.encode())
            words = "|".join(re.escape(w) for w in sorted(self._words, key=len, reverse=True))
            self._built = (
                sorted(texts, key=len, reverse=True),
                sorted(cores, key=len, reverse=True),
                re.compile(rf"(?<![\w-])(?:{words})(?![\w-])") if words else None,
            )
        return self._built

    @property
    def idle(self) -> bool:
        """Whether there is nothing to scrub (then text may pass in pieces: no secret spans two)."""
        return not (self._secrets or self._words)

    def __call__(self, text: str) -> str:
        if not (self._secrets or self._words) or not text:
            return text
        texts, cores, words = self._forms()
        # substring tests run in C at memory speed: a long clean text costs next to nothing
        for core in cores:
            if core in text:
                text = _mask_runs(text, core)
        for form in texts:
            if form in text:
                text = text.replace(form, MASK)
        if words is not None:
            text = words.sub(MASK, text)
        return text

    def quote_body(self, body: str | bytes, limit: int = 300) -> str:
        """A vendor's response body fit to quote in a message: scrubbed, on one line, then truncated."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        text = " ".join(self(text).split())
        if len(text) > limit:
            text = text[:limit] + "…"
        return text


_current: ContextVar[Scrubber | None] = ContextVar("access_scrubber", default=None)


def current() -> Scrubber:
    """The run's scrubber; outside a run, one that knows the environment's secrets."""
    found = _current.get()
    if found is None:
        found = Scrubber.from_env(environment())
    return found


@contextmanager
def scrubbing(scrubber: Scrubber) -> Iterator[Scrubber]:
    """Make `scrubber` the one every message passes through, for the duration of a run."""
    token = _current.set(scrubber)
    try:
        yield scrubber
    finally:
        _current.reset(token)


def scrub(text: str) -> str:
    return current()(text)


def scrubbable(pieces: Iterable[str]) -> Iterator[str]:
    """The text `pieces` make together, in pieces each of which `scrub` may take alone: as they
    come when there is nothing to scrub, else the whole text in one (a secret may span two)."""
    if current().idle:
        return iter(pieces)
    return iter(("".join(pieces),))


def remember(secret: str | None) -> None:
    """A token obtained at run time: scrub it from everything from now on."""
    current().remember(secret)


def quote_body(body: str | bytes, limit: int = 300) -> str:
    return current().quote_body(body, limit)


TOKEN_FIELDS = ("access_token", "refresh_token", "id_token", "token")


def remember_token_response(body: object) -> None:
    """Remember every token a token endpoint answered with (any vendor's JSON shape)."""
    if isinstance(body, dict):
        for name in TOKEN_FIELDS:
            value = body.get(name)
            if isinstance(value, str):
                remember(value)
