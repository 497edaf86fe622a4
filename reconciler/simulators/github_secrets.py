"""GitHub's Actions-secrets endpoints, enough for a token store to write a secret back.

Repository secrets:
- `GET /repos/{owner}/{repo}/actions/secrets/public-key` -> 200 `{key_id, key}` (base64 Curve25519 key)
- `PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}` with `{encrypted_value, key_id}` ->
  201 when the secret is created, 204 when it is updated.

Listing names (never values), `{total_count, secrets: [{name, created_at, updated_at}]}`, paginated:
- `GET /repos/{owner}/{repo}/actions/secrets`, `GET /repos/{owner}/{repo}/actions/organization-secrets`
  (the organization's secrets shared with the repository), and
  `GET /repos/{owner}/{repo}/environments/{environment_name}/secrets`.

Environment secrets (readable only by jobs that run in that deployment environment):
- `GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key` -> 200 `{key_id, key}`,
  the environment's own key pair;
- `PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}` -> 201 / 204.
The environment name is URL-encoded in the path (a `/` is `%2F`) and not case-sensitive; an
environment that does not exist is a 404, like a repository that does not.

The simulator holds the private key and really opens the sealed box, so a test can read back the
value a client stored. `handle(request)` answers None for requests that are not its own, so the full
GitHub simulator can compose it: `SecretsSimulator.handle(r) or other.handle(r)`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from reconciler.simulators.base import json_response
from reconciler.simulators.github_http import page

DOCS = "https://docs.github.com/rest/actions/secrets"
_PUBLIC_KEY = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/secrets/public-key$")
_SECRET = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/secrets/([^/]+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_PUBLIC_KEY = re.compile(r"^/repos/([^/]+)/([^/]+)/environments/([^/]+)/secrets/public-key$")
_ENV_SECRET = re.compile(r"^/repos/([^/]+)/([^/]+)/environments/([^/]+)/secrets/([^/]+)$")
_LIST = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/(secrets|organization-secrets)$")
_ENV_LIST = re.compile(r"^/repos/([^/]+)/([^/]+)/environments/([^/]+)/secrets$")
STAMP = "2026-01-05T09:00:00Z"
DEFAULT_ENVIRONMENTS = ("access-read", "access-apply")
_K = TypeVar("_K", tuple[str, str], tuple[str, str, str])


@dataclass(frozen=True, slots=True)
class StoredSecret:
    value: str  # decrypted: the simulator can read it, GitHub cannot show it
    updated: int  # how many times it was written


@dataclass(slots=True)
class _KeyPair:
    key_id: str
    private: PrivateKey

    @property
    def public_key(self) -> str:
        return base64.b64encode(bytes(self.private.public_key)).decode("ascii")


class GitHubSecretsSimulator:
    """Repository and environment secrets of `repositories`.

    `environments` exist in every repository (default: the two the workflows use); each
    (repository, environment) gets its own key pair on first use.
    """

    def __init__(
        self,
        repositories: tuple[str, ...] = ("harborbuild/access",),
        tokens: tuple[str, ...] = (),
        environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS,
    ) -> None:
        self.lock = threading.RLock()
        self.repositories = {r.casefold() for r in repositories}
        self.environments = {e.casefold() for e in environments}
        self.tokens = set(tokens)  # empty: any bearer token is accepted
        self._private = PrivateKey.generate()
        self.key_id = "568250167242549743"
        self.secrets: dict[tuple[str, str], StoredSecret] = {}
        # (repository, environment, NAME), all casefolded but NAME upper-cased
        self.environment_secrets: dict[tuple[str, str, str], StoredSecret] = {}
        self._environment_keys: dict[tuple[str, str], _KeyPair] = {}
        self._next_key_id = 3380204578043523366
        self.calls: Counter[str] = Counter()
        # (repository, NAME) -> value: the organization's secrets shared with a repository
        self.organization_secrets: dict[tuple[str, str], StoredSecret] = {}
        # Whether an environment exists, when a fuller simulator knows (per repository); else `environments`.
        self.environment_exists: Callable[[str, str], bool] | None = None
        self.listing_denied = False  # listing answers 403, as to a token without Secrets: read

    @property
    def public_key(self) -> str:
        return base64.b64encode(bytes(self._private.public_key)).decode("ascii")

    def rotate_key(self) -> None:
        """A new repository key pair: values sealed for the old key are refused."""
        with self.lock:
            self._private = PrivateKey.generate()
            self.key_id = str(int(self.key_id) + 1)

    def environment_public_key(self, repository: str, environment: str) -> tuple[str, str]:
        """(key_id, base64 key) of an environment, as its public-key endpoint answers."""
        with self.lock:
            pair = self._environment_key(repository.casefold(), environment.casefold())
            return pair.key_id, pair.public_key

    def rotate_environment_key(self, repository: str, environment: str) -> None:
        """A new key pair for one environment: values sealed for its old key are refused."""
        with self.lock:
            self._environment_keys.pop((repository.casefold(), environment.casefold()), None)

    def secret(self, repository: str, name: str, *, environment: str | None = None) -> str | None:
        """The decrypted value of a repository secret, or of an environment's when `environment` is given."""
        if environment is None:
            found = self.secrets.get((repository.casefold(), name.upper()))
        else:
            found = self.environment_secrets.get(
                (repository.casefold(), environment.casefold(), name.upper())
            )
        return found.value if found else None

    def put(self, repository: str, name: str, value: str = "x", *, environment: str | None = None) -> None:
        """Store a secret as if written through the API (tests set up a repository with it)."""
        with self.lock:
            if environment is None:
                self._store(self.secrets, (repository.casefold(), name.upper()), value)
            else:
                key = (repository.casefold(), environment.casefold(), name.upper())
                self._store(self.environment_secrets, key, value)

    def share_organization_secret(self, repository: str, name: str, value: str = "x") -> None:
        with self.lock:
            self._store(self.organization_secrets, (repository.casefold(), name.upper()), value)

    def remove(self, repository: str, name: str, *, environment: str | None = None) -> None:
        with self.lock:
            if environment is None:
                self.secrets.pop((repository.casefold(), name.upper()), None)
            else:
                self.environment_secrets.pop(
                    (repository.casefold(), environment.casefold(), name.upper()), None
                )

    def _exists(self, repository: str, environment: str) -> bool:
        if self.environment_exists is not None:
            return self.environment_exists(repository, environment)
        return repository in self.repositories and environment in self.environments

    def _environment_key(self, repository: str, environment: str) -> _KeyPair:
        pair = self._environment_keys.get((repository, environment))
        if pair is None:
            self._next_key_id += 1
            pair = _KeyPair(str(self._next_key_id), PrivateKey.generate())
            self._environment_keys[(repository, environment)] = pair
        return pair

    def handle(self, request: httpx.Request) -> httpx.Response | None:
        listed = self._handle_list(request)
        if listed is not None:
            return listed
        path = request.url.path
        key_match = _PUBLIC_KEY.match(path)
        secret_match = None if key_match else _SECRET.match(path)
        if key_match is None and secret_match is None:
            return self._handle_environment(request)
        with self.lock:
            self.calls[f"{request.method} {path}"] += 1
            denied = self._authenticate(request)
            if denied is not None:
                return denied
            match = key_match or secret_match
            assert match is not None
            repository = f"{match.group(1)}/{match.group(2)}".casefold()
            if repository not in self.repositories:
                return _error(404, "Not Found")
            if key_match is not None:
                if request.method != "GET":
                    return _error(404, "Not Found")
                return json_response(200, {"key_id": self.key_id, "key": self.public_key})
            assert secret_match is not None
            if request.method != "PUT":
                return _error(404, "Not Found")
            value = self._open(request, self.key_id, self._private, secret_match.group(3))
            if isinstance(value, httpx.Response):
                return value
            return self._store(self.secrets, (repository, secret_match.group(3).upper()), value)

    def _handle_list(self, request: httpx.Request) -> httpx.Response | None:
        raw = request.url.raw_path.decode("ascii").partition("?")[0]
        repo_list, env_list = _LIST.match(raw), _ENV_LIST.match(raw)
        if repo_list is None and env_list is None:
            return None
        with self.lock:
            self.calls[f"{request.method} {raw}"] += 1
            denied = self._authenticate(request)
            if denied is not None:
                return denied
            if request.method != "GET":
                return _error(404, "Not Found")
            if self.listing_denied:
                return _error(403, "Resource not accessible by personal access token")
            match = repo_list or env_list
            assert match is not None
            owner, repo, which = (urllib.parse.unquote(g) for g in match.groups())
            repository = f"{owner}/{repo}".casefold()
            if repository not in self.repositories:
                return _error(404, "Not Found")
            if env_list is not None:
                if not self._exists(repository, which):
                    return _error(404, "Not Found")
                names = sorted(
                    n for (r, e, n) in self.environment_secrets if (r, e) == (repository, which.casefold())
                )
            else:
                table = self.secrets if which == "secrets" else self.organization_secrets
                names = sorted(n for (r, n) in table if r == repository)
            items: list[dict[str, Any]] = [
                {"name": n, "created_at": STAMP, "updated_at": STAMP} for n in names
            ]
            if repo_list is not None and which == "organization-secrets":
                items = [item | {"visibility": "selected"} for item in items]
            listed = page(request, items)
            body = {"total_count": len(items), "secrets": listed.json()}
            link = {"link": listed.headers["link"]} if "link" in listed.headers else None
            return json_response(200, body, link)

    def _handle_environment(self, request: httpx.Request) -> httpx.Response | None:
        # The raw path: the environment name is URL-encoded and may itself contain "%2F".
        raw = request.url.raw_path.decode("ascii").partition("?")[0]
        key_match = _ENV_PUBLIC_KEY.match(raw)
        secret_match = None if key_match else _ENV_SECRET.match(raw)
        match = key_match or secret_match
        if match is None:
            return None
        owner, repo, environment = (urllib.parse.unquote(g) for g in match.groups()[:3])
        with self.lock:
            self.calls[f"{request.method} {raw}"] += 1
            denied = self._authenticate(request)
            if denied is not None:
                return denied
            repository = f"{owner}/{repo}".casefold()
            environment = environment.casefold()
            if repository not in self.repositories or not self._exists(repository, environment):
                return _error(404, "Not Found")
            pair = self._environment_key(repository, environment)
            if key_match is not None:
                if request.method != "GET":
                    return _error(404, "Not Found")
                return json_response(200, {"key_id": pair.key_id, "key": pair.public_key})
            if request.method != "PUT":
                return _error(404, "Not Found")
            name = urllib.parse.unquote(match.group(4))
            value = self._open(request, pair.key_id, pair.private, name)
            if isinstance(value, httpx.Response):
                return value
            return self._store(self.environment_secrets, (repository, environment, name.upper()), value)

    def _authenticate(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token:
            return _error(401, "Requires authentication")
        if self.tokens and token not in self.tokens:
            return _error(401, "Bad credentials")
        return None

    def _open(
        self, request: httpx.Request, key_id: str, private: PrivateKey, name: str
    ) -> str | httpx.Response:
        """The decrypted value of a PUT's body, or GitHub's error response."""
        if not _NAME.match(name) or name.upper().startswith("GITHUB_"):
            return _error(422, "Secret names can only contain alphanumeric characters or underscores")
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return _error(400, "Problems parsing JSON")
        if not isinstance(body, dict) or not isinstance(body.get("encrypted_value"), str):
            return _error(422, 'Invalid request.\n\n"encrypted_value" wasn\'t supplied.')
        if str(body.get("key_id", "")) != key_id:
            return _error(422, "Bad request - key_id does not match the public key")
        try:
            sealed = base64.b64decode(body["encrypted_value"], validate=True)
            return SealedBox(private).decrypt(sealed).decode("utf-8")
        except (binascii.Error, CryptoError, UnicodeDecodeError):
            return _error(422, "Bad request - encrypted_value could not be decrypted with the public key")

    @staticmethod
    def _store(table: dict[_K, StoredSecret], key: _K, value: str) -> httpx.Response:
        previous = table.get(key)
        table[key] = StoredSecret(value, (previous.updated if previous else 0) + 1)
        return httpx.Response(201 if previous is None else 204)

    def handle_or_404(self, request: httpx.Request) -> httpx.Response:
        """A standalone handler for `SimulatorTransport`: anything not ours is GitHub's 404."""
        return self.handle(request) or _error(404, "Not Found")


def _error(status: int, message: str) -> httpx.Response:
    return json_response(status, {"message": message, "documentation_url": DOCS, "status": str(status)})
