"""Where a rotating refresh token lives between runs: a local file, or a GitHub Actions secret.

SAP Concur may answer a refresh with a new refresh token (and a new geolocation); the old token
stops working. Whoever refreshes must save the new one before the run ends, or the next run fails.

- `FileTokenStore` (the default): a JSON file readable only by its owner.
- `GitHubSecretTokenStore`: in GitHub Actions the token arrives as a secret, and the new one is
  written back to that secret through GitHub's REST API, sealed with the secret's public key
  (libsodium sealed box, PyNaCl). With `<VENDOR>_SECRETS_ENVIRONMENT` set (the job's deployment
  environment, e.g. `access-apply`) it is an **environment secret**, which only jobs of that
  environment can read (so the environment's branch rule guards it); otherwise a repository secret,
  which every branch's workflow can read. The default `GITHUB_TOKEN` of a workflow cannot write
  secrets: this needs a fine-grained token or GitHub App token with "Secrets: write" (and
  "Environments: write" for environment secrets).
- `MemoryTokenStore`: tests and the sandbox.

Values are `SecretStr` throughout; nothing here puts a token in a message, a repr or a log.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from nacl.public import PublicKey, SealedBox
from pydantic import SecretStr
from typing_extensions import TypedDict

from reconciler.connectors.answers import Expected, answer, read
from reconciler.connectors.http import Endpoint, RetryPolicy, send_with_retries
from reconciler.errors import AccessError, ConfigError


@answer
class SecretsKey(TypedDict):
    """GitHub's public key for sealing secrets (`GET .../actions/secrets/public-key`)."""

    key_id: str
    key: str


PUBLIC_KEY = Expected(SecretsKey, "the public key secrets are sealed with")


@dataclass(frozen=True, slots=True)
class StoredToken:
    refresh_token: SecretStr
    geolocation: str


class TokenStore(Protocol):
    @property
    def description(self) -> str:
        """Where the token goes, for messages ("file ~/.config/access/concur-token.json")."""
        ...

    def load(self) -> StoredToken | None:
        """The newest saved token, or None when this store has none (use the configured one)."""
        ...

    async def save(self, token: StoredToken, *, previous: StoredToken | None = None) -> None:
        """Persist `token`; raise AccessError if it could not be saved."""
        ...


@dataclass(slots=True)
class MemoryTokenStore:
    token: StoredToken | None = None
    saved: list[StoredToken] = field(default_factory=list)
    description: str = "memory"

    def load(self) -> StoredToken | None:
        return self.token

    async def save(self, token: StoredToken, *, previous: StoredToken | None = None) -> None:
        self.token = token
        self.saved.append(token)


@dataclass(slots=True)
class FileTokenStore:
    path: Path

    @property
    def description(self) -> str:
        return f"file {self.path}"

    def load(self) -> StoredToken | None:
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return StoredToken(SecretStr(str(data["refresh_token"])), str(data["geolocation"]))
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{self.path}: not a token file written by access; delete it and run `access concur setup`"
            ) from None

    async def save(self, token: StoredToken, *, previous: StoredToken | None = None) -> None:
        data = {
            "refresh_token": token.refresh_token.get_secret_value(),
            "geolocation": token.geolocation,
            "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
                handle.write("\n")
            os.chmod(tmp, 0o600)
            tmp.replace(self.path)
        except OSError as exc:
            raise AccessError(
                f"could not save the new refresh token to {self.path}: {exc.strerror}"
            ) from None


_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENVIRONMENT_MAX = 255  # GitHub: "may not exceed 255 characters"
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def seal(public_key_b64: str, value: str) -> str:
    """A libsodium sealed box of `value` for the base64 public key, base64-encoded (what GitHub wants)."""
    box = SealedBox(PublicKey(base64.b64decode(public_key_b64)))
    sealed: bytes = box.encrypt(value.encode("utf-8"))
    return base64.b64encode(sealed).decode("ascii")


@dataclass(slots=True)
class GitHubSecretsClient:
    """The two Actions-secrets endpoints a token store needs, for a repository or one environment.

    Repository: `GET /repos/{owner}/{repo}/actions/secrets/public-key`, `PUT .../actions/secrets/{name}`.
    Environment: `GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key`,
    `PUT .../environments/{environment_name}/secrets/{name}` (the name URL-encoded; each environment
    has its own key pair).
    """

    api_url: str
    repository: str  # "owner/repo"
    token: SecretStr
    transport: httpx.AsyncBaseTransport | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    environment: str | None = None  # None: repository secrets
    environment_variable: str = "CONCUR_SECRETS_ENVIRONMENT"  # where `environment` came from, for messages
    _key: tuple[str, str] | None = None  # (key_id, key), fetched once

    @property
    def target(self) -> str:
        """Whose secrets these are, for messages."""
        if self.environment is None:
            return self.repository
        return f"environment {self.environment} of {self.repository}"

    def _secrets_path(self) -> str:
        if self.environment is None:
            return f"/repos/{self.repository}/actions/secrets"
        return (
            f"/repos/{self.repository}/environments/{urllib.parse.quote(self.environment, safe='')}/secrets"
        )

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url.rstrip("/"),
            transport=self.transport,
            timeout=30.0,
            headers={**GITHUB_HEADERS, "User-Agent": "access-reconciler"},
        )

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}

    async def public_key(self, client: httpx.AsyncClient) -> tuple[str, str]:
        path = f"{self._secrets_path()}/public-key"
        response = await send_with_retries(client, "GET", path, policy=self.policy, headers=self._auth())
        if response.status_code != 200:
            raise AccessError(f"GitHub: cannot read the public key of {self.target}: {self._error(response)}")
        data = read(response, PUBLIC_KEY, endpoint=Endpoint.of("github", (self.api_url, "GITHUB_API_URL")))
        return data["key_id"], data["key"]

    async def key(self) -> tuple[str, str]:
        """The public key secrets are sealed with, fetched once (so a value can be sealed even when
        GitHub stops answering later in the run)."""
        if self._key is None:
            try:
                async with self._client() as client:
                    self._key = await self.public_key(client)
            except httpx.HTTPError as exc:
                raise AccessError(f"GitHub: cannot reach {self.api_url} ({type(exc).__name__})") from None
        return self._key

    async def sealed(self, name: str, value: str) -> dict[str, str]:
        if not _SECRET_NAME.match(name) or name.upper().startswith("GITHUB_"):
            raise ConfigError(f"{name!r} is not a valid GitHub secret name")
        key_id, key = await self.key()
        return {"name": name, "key_id": key_id, "encrypted_value": seal(key, value)}

    async def put_sealed(self, name: str, key_id: str, encrypted_value: str) -> None:
        body = {"encrypted_value": encrypted_value, "key_id": key_id}
        try:
            async with self._client() as client:
                response = await send_with_retries(
                    client, "PUT", f"{self._secrets_path()}/{name}", policy=self.policy, headers=self._auth(),
                    json=body,
                )  # fmt: skip
        except httpx.HTTPError as exc:
            raise AccessError(
                f"GitHub: cannot write secret {name} of {self.target}: cannot reach {self.api_url} "
                f"({type(exc).__name__})"
            ) from None
        if response.status_code not in (201, 204):
            raise AccessError(f"GitHub: cannot write secret {name} of {self.target}: {self._error(response)}")

    async def put_secret(self, name: str, value: str) -> None:
        sealed = await self.sealed(name, value)
        await self.put_sealed(name, sealed["key_id"], sealed["encrypted_value"])

    def _error(self, response: httpx.Response) -> str:
        hint = ""
        if response.status_code in (401, 403, 404):
            if self.environment is None:
                needs = "the repository permission 'Secrets: write'"
            else:
                needs = (
                    "the repository permissions 'Environments: write' and 'Secrets: write', and the"
                    f" environment {self.environment!r} must exist (it comes from"
                    f" {self.environment_variable})"
                )
            hint = f" (the token needs {needs}; a workflow's GITHUB_TOKEN cannot write secrets)"
        return _github_error(response) + hint


def _github_error(response: httpx.Response) -> str:
    try:
        data = response.json()
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
    except ValueError:
        message = ""
    return f"HTTP {response.status_code} {message}".rstrip()


@dataclass(slots=True)
class GitHubSecretTokenStore:
    """Writes a rotated refresh token (and a changed geolocation) back to repository or environment secrets."""

    client: GitHubSecretsClient
    refresh_secret: str = "CONCUR_REFRESH_TOKEN"
    geolocation_secret: str = "CONCUR_GEOLOCATION"
    pending_file: Path | None = None  # where sealed values wait when GitHub cannot take them

    @property
    def description(self) -> str:
        kind = "repository" if self.client.environment is None else "environment"
        return f"GitHub {kind} secret {self.refresh_secret} of {self.client.target}"

    def load(self) -> StoredToken | None:
        return None  # the workflow passes the secret in as an environment variable

    async def prepare(self) -> None:
        """Fetch the sealing key before the vendor rotates anything; a failure here is not fatal."""
        with contextlib.suppress(AccessError):
            await self.client.key()

    async def save(self, token: StoredToken, *, previous: StoredToken | None = None) -> None:
        """Seal each changed value, then write it. When GitHub cannot take it, the SEALED values
        (which only GitHub can decrypt) go to `pending_file`, from where `access concur recover`
        writes them once GitHub answers again: the rotated token is never lost, never in clear."""
        values: list[tuple[str, str]] = []
        if (
            previous is None
            or previous.refresh_token.get_secret_value() != token.refresh_token.get_secret_value()
        ):
            values.append((self.refresh_secret, token.refresh_token.get_secret_value()))
        if self.geolocation_secret and (previous is None or previous.geolocation != token.geolocation):
            values.append((self.geolocation_secret, token.geolocation))
        sealed = [await self.client.sealed(name, value) for name, value in values]
        try:
            for item in sealed:
                await self.client.put_sealed(item["name"], item["key_id"], item["encrypted_value"])
        except AccessError as exc:
            if self.pending_file is None:
                raise
            write_pending(self.pending_file, self.client, sealed)
            raise AccessError(
                f"{exc.message}. The new refresh token is kept, sealed with the secret's public key (only "
                f"GitHub can read it), in {self.pending_file}; once GitHub answers, run "
                f"`access concur recover {self.pending_file}` (the apply workflow keeps the file as an "
                "artifact), or `access concur setup` with a new Company Request Token"
            ) from None


def write_pending(path: Path, client: GitHubSecretsClient, sealed: list[dict[str, str]]) -> None:
    data = {
        "repository": client.repository,
        "environment": client.environment,
        "secrets": sealed,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


async def recover_pending(path: Path, client: GitHubSecretsClient) -> list[str]:
    """Write the sealed values of a pending file to their secrets; returns their names."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        secrets = [(str(s["name"]), str(s["key_id"]), str(s["encrypted_value"])) for s in data["secrets"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise AccessError(f"{path}: not a pending-token file written by access") from None
    if data.get("repository") != client.repository or data.get("environment") != client.environment:
        raise ConfigError(
            f"{path} holds secrets of {data.get('repository')} environment {data.get('environment')}, but the "
            f"settings name {client.target} (GITHUB_REPOSITORY, {client.environment_variable})"
        )
    for name, key_id, value in secrets:
        await client.put_sealed(name, key_id, value)
    path.unlink()
    return [name for name, _, _ in secrets]


def default_token_file(env: Mapping[str, str], vendor: str = "concur") -> Path:
    base = env.get("XDG_CONFIG_HOME") or (str(Path(env["HOME"]) / ".config") if env.get("HOME") else "")
    root = Path(base) if base else Path.home() / ".config"
    return root / "access" / f"{vendor}-token.json"


def token_store_from_env(
    env: Mapping[str, str], *, vendor: str = "concur", transport: httpx.AsyncBaseTransport | None = None
) -> TokenStore:
    """`<VENDOR>_TOKEN_STORE` = file (default outside GitHub Actions) | github (default inside) | memory.

    For `github`, `<VENDOR>_SECRETS_ENVIRONMENT` names the deployment environment whose secrets hold
    the token (read by the workflow, written back here); unset, they are repository secrets.
    """
    prefix = vendor.upper()
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    kind = (env.get(f"{prefix}_TOKEN_STORE") or ("github" if in_actions else "file")).strip().lower()
    environment_variable = f"{prefix}_SECRETS_ENVIRONMENT"
    environment = _environment_name(env, environment_variable)
    if environment is not None and kind != "github":
        raise ConfigError(
            f"{environment_variable} is set (environment {environment!r}), but the {vendor} token store is"
            f" {kind!r}: {environment_variable} applies only to {prefix}_TOKEN_STORE=github. Unset one of them"
        )
    if kind == "file":
        path = env.get(f"{prefix}_TOKEN_FILE")
        return FileTokenStore(Path(path).expanduser() if path else default_token_file(env, vendor))
    if kind == "memory":
        return MemoryTokenStore()
    if kind != "github":
        raise ConfigError(f"{prefix}_TOKEN_STORE={kind!r}: expected 'file', 'github' or 'memory'")
    token = env.get(f"{prefix}_SECRETS_TOKEN") or env.get("ACCESS_SECRETS_TOKEN")
    repository = env.get("GITHUB_REPOSITORY")
    missing = [
        name
        for name, value in ((f"{prefix}_SECRETS_TOKEN", token), ("GITHUB_REPOSITORY", repository))
        if not value
    ]
    if missing:
        where = "a repository secret" if environment is None else f"a secret of environment {environment!r}"
        raise ConfigError(
            f"{vendor}: the rotated refresh token must be written back to {where}, but "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Give the workflow a"
            f" token with 'Secrets: write' as {prefix}_SECRETS_TOKEN (GITHUB_TOKEN cannot write secrets),"
            f" or set {prefix}_TOKEN_STORE=file to keep it in a file instead"
        )
    assert token is not None and repository is not None
    client = GitHubSecretsClient(
        api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
        repository=repository,
        token=SecretStr(token),
        transport=transport,
        environment=environment,
        environment_variable=environment_variable,
    )
    state = env.get("ACCESS_STATE_DIR", "").strip()
    return GitHubSecretTokenStore(
        client,
        refresh_secret=env.get(f"{prefix}_REFRESH_TOKEN_SECRET") or f"{prefix}_REFRESH_TOKEN",
        geolocation_secret=env.get(f"{prefix}_GEOLOCATION_SECRET", f"{prefix}_GEOLOCATION"),
        pending_file=(Path(state) if state else Path(".access")) / f"{vendor}.token.pending.json",
    )


def _environment_name(env: Mapping[str, str], variable: str) -> str | None:
    """The deployment environment `variable` names, or None when unset; a ConfigError when unusable."""
    raw = env.get(variable)
    if raw is None:
        return None
    name = raw.strip()
    if not name:
        raise ConfigError(
            f"{variable} is set but empty: set it to the job's deployment environment (e.g. access-apply),"
            " or remove it to keep the refresh token in repository secrets"
        )
    if len(name) > _ENVIRONMENT_MAX or any(not ch.isprintable() for ch in name):
        raise ConfigError(
            f"{variable}={name[:40]!r}: not a GitHub environment name (at most {_ENVIRONMENT_MAX}"
            " printable characters); set it to the job's deployment environment, e.g. access-apply"
        )
    return name
