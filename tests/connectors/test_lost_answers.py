"""A removal whose answer was lost (done, then the connection dropped) is reported as done.

The retry finds nothing to remove; "already gone" would tell the audit log that someone else
removed it, when this run did.
"""

from __future__ import annotations

import asyncio
from typing import Any

from reconciler.changes import Action
from reconciler.connectors.base import ChangeResult, Outcome
from reconciler.sandbox_seed import email
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.pingone import PingOneSimulator
from tests.connectors import procore_fixtures as procore
from tests.connectors.test_concur_correctness import apply_all
from tests.connectors.test_concur_correctness import change as concur_change
from tests.connectors.test_pingone import BOB, seed_state, synced, user_id
from tests.connectors.test_pingone import change as pingone_change


def test_procore_a_lost_answer_to_removing_a_project_member() -> None:
    sim, connector, _ = procore.make()
    sim.faults.add("lose-answer", 1, match="DELETE /rest/v1.0/projects/")
    revoke = procore.change(
        Action.REVOKE, email("ivan"), resource="Eastside Depot", entitlement="Project Engineer"
    )

    async def go() -> ChangeResult:
        await connector.sync(procore.scope())
        result = await connector.apply(revoke)
        await connector.aclose()
        return result

    result = asyncio.run(go())
    assert (result.outcome, result.message) == (Outcome.APPLIED, "removed (Procore's first answer was lost)")
    assert sim.faults.fired["lose-answer"] == 1


def test_pingone_a_lost_answer_to_removing_a_member_or_a_role() -> None:
    sim = PingOneSimulator(seed_state())
    uid = user_id(sim, BOB)
    sim.faults.add("lose-answer", 1, match=f"DELETE /v1/environments/{sim.state.environment_id}/users/{uid}/")
    sim.faults.add("lose-answer", 1, match="/roleAssignments/")
    revokes = [
        pingone_change(Action.REVOKE, BOB, "group", "VPN", "member"),
        pingone_change(Action.REVOKE, BOB, "role", "Environment Admin", "environment"),
    ]

    async def go() -> list[Any]:
        connector = await synced(sim)
        try:
            return [await connector.apply(c) for c in revokes]
        finally:
            await connector.aclose()

    group, role = asyncio.run(go())
    assert (group.outcome, group.message) == (Outcome.APPLIED, "removed (PingOne's first answer was lost)")
    assert role.outcome is Outcome.APPLIED
    assert sim.faults.fired["lose-answer"] == 2
    assert uid not in sim.state.direct[sim.state.group_named("VPN")]


def test_concur_a_lost_answer_to_removing_a_role() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.faults.add("lose-answer", 1, match="PATCH /profile/v4/Users")
    [result] = apply_all(simulator, concur_change(Action.REVOKE, email("carol"), "EXP_USER"))
    assert (result.outcome, result.message) == (Outcome.APPLIED, "done (Concur's first answer was lost)")
    assert simulator.faults.fired["lose-answer"] == 1
