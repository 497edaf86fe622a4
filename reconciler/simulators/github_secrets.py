"""GitHub's Actions-secrets endpoints, enough for a token store to write a secret back.

- `GET /repos/{owner}/{repo}/actions/secrets/public-key` -> 200 `{key_id, key}` (base64 Curve25519 key)
- `PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}` with `{encrypted_value, key_id}` ->
  201 when the secret is created, 204 when it is updated.

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
from collections import Counter
from dataclasses import dataclass

import httpx
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from reconciler.simulators.base import json_response

DOCS = "https://docs.github.com/rest/actions/secrets"
_PUBLIC_KEY = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/secrets/public-key$")
_SECRET = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/secrets/([^/]+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class StoredSecret:
    value: str  # decrypted: the simulator can read it, GitHub cannot show it
    updated: int  # how many times it was written


class GitHubSecretsSimulator:
    def __init__(
        self, repositories: tuple[str, ...] = ("harborbuild/access",), tokens: tuple[str, ...] = ()
    ) -> None:
        self.lock = threading.RLock()
        self.repositories = {r.casefold() for r in repositories}
        self.tokens = set(tokens)  # empty: any bearer token is accepted
        self._private = PrivateKey.generate()
        self.key_id = "568250167242549743"
        self.secrets: dict[tuple[str, str], StoredSecret] = {}
        self.calls: Counter[str] = Counter()

    @property
    def public_key(self) -> str:
        return base64.b64encode(bytes(self._private.public_key)).decode("ascii")

    def rotate_key(self) -> None:
        """A new repository key pair: values sealed for the old key are refused."""
        with self.lock:
            self._private = PrivateKey.generate()
            self.key_id = str(int(self.key_id) + 1)

    def secret(self, repository: str, name: str) -> str | None:
        found = self.secrets.get((repository.casefold(), name.upper()))
        return found.value if found else None

    def handle(self, request: httpx.Request) -> httpx.Response | None:
        path = request.url.path
        key_match = _PUBLIC_KEY.match(path)
        secret_match = None if key_match else _SECRET.match(path)
        if key_match is None and secret_match is None:
            return None
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
            return self._put(repository, secret_match.group(3), request)

    def _authenticate(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token:
            return _error(401, "Requires authentication")
        if self.tokens and token not in self.tokens:
            return _error(401, "Bad credentials")
        return None

    def _put(self, repository: str, name: str, request: httpx.Request) -> httpx.Response:
        if not _NAME.match(name) or name.upper().startswith("GITHUB_"):
            return _error(422, "Secret names can only contain alphanumeric characters or underscores")
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return _error(400, "Problems parsing JSON")
        if not isinstance(body, dict) or not isinstance(body.get("encrypted_value"), str):
            return _error(422, 'Invalid request.\n\n"encrypted_value" wasn\'t supplied.')
        if str(body.get("key_id", "")) != self.key_id:
            return _error(422, "Bad request - key_id does not match the repository public key")
        try:
            sealed = base64.b64decode(body["encrypted_value"], validate=True)
            value = SealedBox(self._private).decrypt(sealed).decode("utf-8")
        except (binascii.Error, CryptoError, UnicodeDecodeError):
            return _error(422, "Bad request - encrypted_value could not be decrypted with the repository key")
        key = (repository, name.upper())
        previous = self.secrets.get(key)
        self.secrets[key] = StoredSecret(value, (previous.updated if previous else 0) + 1)
        return httpx.Response(201 if previous is None else 204)

    def handle_or_404(self, request: httpx.Request) -> httpx.Response:
        """A standalone handler for `SimulatorTransport`: anything not ours is GitHub's 404."""
        return self.handle(request) or _error(404, "Not Found")


def _error(status: int, message: str) -> httpx.Response:
    return json_response(status, {"message": message, "documentation_url": DOCS, "status": str(status)})
