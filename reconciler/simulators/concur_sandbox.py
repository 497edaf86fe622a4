"""The sandbox's Concur company: `reconciler.sandbox_seed.concur()` plus the ids Concur would assign."""

from __future__ import annotations

import uuid

from reconciler.sandbox_seed import concur
from reconciler.simulators.concur_state import DEFAULT_SPEND, ConcurState, SimUser, seed_roles

_NAMESPACE = uuid.UUID("0f5b8c9e-2d41-4b7a-9c1e-6a3d2f8b7c10")


def sandbox_state() -> ConcurState:
    seed = concur()
    state = ConcurState()
    by_principal: dict[str, SimUser] = {}
    for number, account in enumerate(seed.accounts, start=1):
        given, _, family = account.display_name.partition(" ")
        user = SimUser(
            id=str(uuid.uuid5(_NAMESPACE, account.principal)),
            user_name=account.attribute("login") or account.email,
            email=account.email,
            given_name=given,
            family_name=family,
            active=account.active,
            employee_number=str(1000 + number),
            spend=dict(DEFAULT_SPEND),
        )
        by_principal[account.principal] = state.add(user)
    for grant in seed.grants:
        seed_roles(by_principal[grant.principal], [grant.resource])
    return state
