"""`access concur setup`: turn a Company Request Token into a stored refresh token;
`access concur recover`: write a rotated token that GitHub could not take during a run.

The request token and the client secret are read from a hidden prompt (or the environment in CI),
never from the command line, so they stay out of shell history; nothing secret is printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import httpx
import typer
from pydantic import SecretStr

from reconciler.connectors.concur_auth import GLZ, password_grant
from reconciler.connectors.http import RetryPolicy
from reconciler.errors import ConfigError
from reconciler.hosts import allowed_hosts, check_url
from reconciler.settings import environment
from reconciler.token_store import (
    GitHubSecretTokenStore,
    StoredToken,
    TokenStore,
    recover_pending,
    token_store_from_env,
)

app = typer.Typer(
    help="SAP Concur: first-time setup of the company refresh token.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def concur() -> None:
    """SAP Concur: first-time setup of the company refresh token."""


async def run_setup(
    *,
    env: Mapping[str, str],
    client_id: str,
    client_secret: SecretStr,
    company_id: str,
    request_token: SecretStr,
    host: str = GLZ,
    store: TokenStore | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[StoredToken, TokenStore]:
    """Exchange the request token (password grant, credtype=authtoken) and save the refresh token."""
    target = store or token_store_from_env(env, transport=transport)
    allowed = allowed_hosts(env)
    host = check_url("concur", "CONCUR_AUTH_HOST (--host)", host, allowed)
    async with httpx.AsyncClient(transport=transport, timeout=30.0, follow_redirects=False) as client:
        grant = await password_grant(
            client,
            host=host,
            client_id=client_id,
            client_secret=client_secret,
            company_id=company_id,
            request_token=request_token,
            policy=RetryPolicy(attempts=3),
        )
    assert grant.refresh_token is not None
    geolocation = grant.geolocation or host
    token = StoredToken(
        grant.refresh_token,
        check_url("concur", "the geolocation Concur's token endpoint returned", geolocation, allowed),
    )
    await target.save(token)
    return token, target


@app.command("setup")
def setup(
    company_id: Annotated[
        str, typer.Option("--company-id", envvar="CONCUR_COMPANY_ID", help="The company UUID.", prompt=True)
    ],
    client_id: Annotated[
        str, typer.Option("--client-id", envvar="CONCUR_CLIENT_ID", help="The app's client id.", prompt=True)
    ],
    host: Annotated[
        str,
        typer.Option("--host", envvar="CONCUR_AUTH_HOST", help="Where the company grant goes (Concur: GLZ)."),
    ] = GLZ,
) -> None:
    """Exchange a Company Request Token for a refresh token and store it.

    The token (Concur: Administration > Company > Authentication Admin > Company Request Token,
    valid 24 hours) and the client secret are asked for without echo, or read from
    CONCUR_REQUEST_TOKEN and CONCUR_CLIENT_SECRET; never pass them as arguments.
    """
    env = environment()
    client_secret = env.get("CONCUR_CLIENT_SECRET") or typer.prompt("Client secret", hide_input=True)
    request_token = env.get("CONCUR_REQUEST_TOKEN") or typer.prompt("Company Request Token", hide_input=True)
    if not request_token.strip() or not client_secret.strip():
        raise ConfigError("concur setup: the Company Request Token and the client secret must not be empty")
    token, store = asyncio.run(
        run_setup(
            env=env,
            client_id=client_id.strip(),
            client_secret=SecretStr(client_secret.strip()),
            company_id=company_id.strip(),
            request_token=SecretStr(request_token.strip()),
            host=host,
        )
    )
    typer.echo(f"Stored the Concur refresh token for company {company_id.strip()} in {store.description}.")
    typer.echo(f"The company's data center (geolocation) is {token.geolocation}, stored with it.")


@app.command("recover")
def recover(
    pending: Annotated[
        Path, typer.Argument(help="The pending-token file an apply left (kept as an artifact of its run).")
    ],
) -> None:
    """Write a rotated refresh token that GitHub could not take during an apply to its secret.

    The file holds the values sealed with the secret's public key (only GitHub can read them). Needs
    GITHUB_REPOSITORY, CONCUR_SECRETS_TOKEN (Secrets: write) and CONCUR_SECRETS_ENVIRONMENT as the
    apply job had them. If the environment's key has changed since, run `access concur setup` instead.
    """
    env = {**environment(), "CONCUR_TOKEN_STORE": "github"}
    store = token_store_from_env(env)
    if not isinstance(store, GitHubSecretTokenStore):
        raise ConfigError(
            "concur recover: the pending file goes to GitHub secrets (CONCUR_TOKEN_STORE=github)"
        )
    names = asyncio.run(recover_pending(pending, store.client))
    typer.echo(f"Wrote {', '.join(names)} to {store.client.target} from {pending}.")
