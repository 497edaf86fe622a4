"""`access concur`: first-time setup and recovery of the company refresh token.

The commands import their work when they run (`access validate` loads none of this).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from reconciler.errors import ConfigError
from reconciler.hosts import CONCUR_COMPANY_GRANT_HOST
from reconciler.settings import environment

app = typer.Typer(
    help="SAP Concur: first-time setup of the company refresh token.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


# Each input of `concur setup`: its prompt, and how to give it without a terminal. The secrets have
# no option: a command line is visible to every user of the machine and kept in shell history.
SETUP_INPUTS = {
    "company_id": ("Company id", "pass --company-id or set CONCUR_COMPANY_ID"),
    "client_id": ("Client id", "pass --client-id or set CONCUR_CLIENT_ID"),
    "client_secret": ("Client secret", "set CONCUR_CLIENT_SECRET"),
    "request_token": ("Company Request Token", "set CONCUR_REQUEST_TOKEN"),
}
_SECRET_INPUTS = ("client_secret", "request_token")


def _interactive() -> bool:
    """Whether there is someone to ask: a prompt on a closed or piped stdin reads nothing."""
    return sys.stdin is not None and sys.stdin.isatty()


def _ask(name: str) -> str:
    return str(typer.prompt(SETUP_INPUTS[name][0], hide_input=name in _SECRET_INPUTS))


@app.callback()
def concur() -> None:
    """SAP Concur: first-time setup of the company refresh token."""


@app.command("setup")
def setup(
    company_id: Annotated[
        str | None,
        typer.Option(
            "--company-id", envvar="CONCUR_COMPANY_ID", help="The company UUID.", show_default="asked for"
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id", envvar="CONCUR_CLIENT_ID", help="The app's client id.", show_default="asked for"
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option("--host", envvar="CONCUR_AUTH_HOST", help="Where the company grant goes (Concur: GLZ)."),
    ] = CONCUR_COMPANY_GRANT_HOST,
) -> None:
    """Exchange a Company Request Token for a refresh token and store it.

    The token (Concur: Administration > Company > Authentication Admin > Company Request Token,
    valid 24 hours) and the client secret are asked for without echo, or read from
    CONCUR_REQUEST_TOKEN and CONCUR_CLIENT_SECRET; never pass them as arguments.
    """
    from pydantic import SecretStr

    from reconciler.commands.concur_setup import run_setup

    env = environment()
    given = {
        "company_id": company_id or "",
        "client_id": client_id or "",
        "client_secret": env.get("CONCUR_CLIENT_SECRET", ""),
        "request_token": env.get("CONCUR_REQUEST_TOKEN", ""),
    }
    missing = [name for name, value in given.items() if not value.strip()]
    if missing and not _interactive():
        raise ConfigError(
            "concur setup: stdin is not a terminal, so nothing can be asked for; "
            + "; ".join(SETUP_INPUTS[name][1] for name in missing)
        )
    answers = {name: value if value.strip() else _ask(name) for name, value in given.items()}
    company_id, client_id = answers["company_id"], answers["client_id"]
    client_secret, request_token = answers["client_secret"], answers["request_token"]
    if not request_token.strip() or not client_secret.strip():
        raise ConfigError("concur setup: the Company Request Token and the client secret must not be empty")
    import asyncio  # (not at import: the CLI mounts this app on every run)

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
    from reconciler.token_store import GitHubSecretTokenStore, recover_pending, token_store_from_env

    env = {**environment(), "CONCUR_TOKEN_STORE": "github"}
    store = token_store_from_env(env)
    if not isinstance(store, GitHubSecretTokenStore):
        raise ConfigError(
            "concur recover: the pending file goes to GitHub secrets (CONCUR_TOKEN_STORE=github)"
        )
    import asyncio

    names = asyncio.run(recover_pending(pending, store.client))
    typer.echo(f"Wrote {', '.join(names)} to {store.client.target} from {pending}.")
