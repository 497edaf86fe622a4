"""`access concur setup`'s work: the company grant exchanged for a refresh token, stored."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from pydantic import SecretStr

from reconciler.connectors.concur_auth import GLZ, password_grant
from reconciler.connectors.http import RetryPolicy
from reconciler.hosts import allowed_hosts, check_url
from reconciler.token_store import StoredToken, TokenStore, token_store_from_env


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
