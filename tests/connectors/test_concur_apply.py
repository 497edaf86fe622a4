"""Concur provisioning through the User Provisioning Service: every action, asynchronous completion."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from reconciler.changes import Action, Change
from reconciler.connectors.base import ChangeResult, Outcome
from reconciler.connectors.concur import ConcurConnector
from reconciler.connectors.http import ReadOnlyViolation
from reconciler.errors import VendorError
from reconciler.records import Scope
from reconciler.sandbox.concur import simulated
from reconciler.sandbox_seed import DOMAIN, email
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state

T = TypeVar("T")
ROLES = "urn:ietf:params:scim:schemas:extension:spend:2.0:Role:roles"
SCOPE = Scope(
    vendors=frozenset({"concur"}),
    tenants=frozenset({("concur", "")}),
    all_of=frozenset({("concur", "", "role")}),
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def change(action: Action, who: str, resource: str = "", entitlement: str = "member", **attrs: str) -> Change:
    resource_type = "role" if action in (Action.GRANT, Action.REVOKE) else "account"
    principal = who if "@" in who else email(who).casefold()
    return Change(
        f"c-{action}-{who}-{resource}",
        "concur",
        action,
        "",
        principal,
        resource_type,
        resource,
        entitlement,
        attributes=tuple(sorted(attrs.items())),
    )


class Harness:
    def __init__(self, *, sync_first: bool = True) -> None:
        self.simulator = ConcurSimulator(sandbox_state())
        self.simulator.keep_log = True
        self.sleeps: list[float] = []
        self.sync_first = sync_first

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def connector(self) -> ConcurConnector:
        return simulated(self.simulator, poll_sleep=self._sleep)

    def apply(self, *changes: Change) -> list[ChangeResult]:
        async def go() -> list[ChangeResult]:
            connector = self.connector()
            try:
                if self.sync_first:
                    await connector.sync(SCOPE)
                return [await connector.apply(c) for c in changes]
            finally:
                await connector.aclose()

        return run(go())

    def roles(self, who: str) -> list[str]:
        user = self.simulator.state.by_user_name(email(who))
        assert user is not None
        return user.role_names()

    def patches(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.simulator.log if r.method == "PATCH"]


def test_grant_adds_one_role_and_keeps_the_others() -> None:
    harness = Harness()
    before = harness.roles("carol")
    [result] = harness.apply(change(Action.GRANT, "carol", "SHD_BUDGET_VIEWER"))
    assert result.outcome is Outcome.APPLIED
    assert result.vendor_ref in harness.simulator.provisions
    assert harness.roles("carol") == [*before, "SHD_BUDGET_VIEWER"]
    [body] = harness.patches()
    assert body["Operations"] == [
        {
            "op": "add",
            "path": ROLES,
            "value": [{"roleName": "SHD_BUDGET_VIEWER", "roleGroups": []}],
        }
    ]


def test_grant_by_display_name_resolves_to_the_code() -> None:
    harness = Harness()
    [result] = harness.apply(change(Action.GRANT, "nina", "expense approver"))
    assert result.outcome is Outcome.APPLIED
    assert "EXP_APPROVER" in harness.roles("nina")


def test_grant_of_a_held_role_is_already() -> None:
    harness = Harness()
    [result] = harness.apply(change(Action.GRANT, "carol", "EXP_APPROVER"))
    assert result.outcome is Outcome.ALREADY


def test_expense_user_is_granted_and_revoked_through_entitlements() -> None:
    harness = Harness()
    user = harness.simulator.state.by_user_name(email("grace"))
    assert user is not None
    user.entitlements = []
    grant, revoke = harness.apply(
        change(Action.GRANT, "grace", "Expense User"), change(Action.REVOKE, "grace", "REQ_USER")
    )
    assert (grant.outcome, revoke.outcome) == (Outcome.APPLIED, Outcome.ALREADY)
    assert user.entitlements == ["Expense"]
    assert [p["Operations"][0]["path"] for p in harness.patches()] == [
        "entitlements",
        'entitlements[value eq "Request"]',
    ]


def test_revoke_removes_only_that_role() -> None:
    harness = Harness()
    [result] = harness.apply(change(Action.REVOKE, "carol", "EXP_PROCESSOR"))
    assert result.outcome is Outcome.APPLIED
    assert harness.roles("carol") == ["EXP_USER", "REQ_USER", "EXP_APPROVER"]
    [body] = harness.patches()
    assert body["Operations"] == [
        {
            "op": "remove",
            "path": ROLES + '[roleName eq "EXP_PROCESSOR"]',
        }
    ]


def test_revoke_of_a_role_not_held_is_already() -> None:
    harness = Harness()
    [result] = harness.apply(change(Action.REVOKE, "alice", "EXP_PROCESSOR"))
    assert result.outcome is Outcome.ALREADY


def test_a_failed_asynchronous_provision_is_reported_as_failed_with_concurs_message() -> None:
    harness = Harness()
    harness.simulator.provision_failures.append("Role group R&D-QA does not exist")
    [result] = harness.apply(change(Action.GRANT, "nina", "EXP_APPROVER"))
    assert result.outcome is Outcome.FAILED
    assert "Role group R&D-QA does not exist" in result.message
    assert result.vendor_ref in harness.simulator.provisions
    assert "EXP_APPROVER" not in harness.roles("nina")


def test_a_conflicting_role_fails_with_the_documented_rule() -> None:
    harness = Harness()
    [result] = harness.apply(change(Action.GRANT, "erin", "EXP_PROCESSOR_AUDIT"))
    assert result.outcome is Outcome.FAILED
    assert "cannot be assigned EXP_PROCESSOR_AUDIT and EXP_PROCESSOR" in result.message


def test_polling_backs_off_until_the_provision_completes() -> None:
    harness = Harness()
    harness.simulator.provision_polls = 4
    [result] = harness.apply(change(Action.GRANT, "nina", "EXP_APPROVER"))
    assert result.outcome is Outcome.APPLIED
    assert harness.sleeps == [5.0, 10.0, 20.0, 40.0]
    assert harness.simulator.calls[f"GET /profile/v4/provisions/{result.vendor_ref}/status"] == 4


def test_a_provision_that_never_completes_times_out_as_failed() -> None:
    harness = Harness()
    harness.simulator.provision_polls = 10**6
    [result] = harness.apply(change(Action.GRANT, "nina", "EXP_APPROVER"))
    assert result.outcome is Outcome.FAILED
    assert "still pending after 600 s" in result.message
    assert sum(harness.sleeps) <= 600


def test_create_account_provisions_identity_and_spend_profile() -> None:
    harness = Harness()
    created, granted = harness.apply(
        change(Action.CREATE_ACCOUNT, "judy", email=email("judy"), name="Judy Alvarez"),
        change(Action.GRANT, "judy", "EXP_APPROVER"),
    )
    assert (created.outcome, granted.outcome) == (Outcome.APPLIED, Outcome.APPLIED)
    user = harness.simulator.state.by_user_name(email("judy"))
    assert user is not None and user.active and user.spend is not None
    assert (user.given_name, user.family_name) == ("Judy", "Alvarez")
    assert user.role_names() == ["EXP_APPROVER"]


def test_create_account_uses_the_login_attribute_as_username() -> None:
    harness = Harness()
    [result] = harness.apply(
        change(
            Action.CREATE_ACCOUNT,
            "judy",
            email=email("judy"),
            name="Judy Alvarez",
            login=f"jalvarez@{DOMAIN}",
        )
    )
    assert result.outcome is Outcome.APPLIED
    assert harness.simulator.state.by_user_name(f"jalvarez@{DOMAIN}") is not None


def test_creating_an_existing_account_is_already() -> None:
    harness = Harness(sync_first=False)
    [result] = harness.apply(
        change(Action.CREATE_ACCOUNT, "carol", email=email("carol"), name="Carol Okafor")
    )
    assert result.outcome is Outcome.ALREADY


def test_a_username_taken_by_someone_else_fails_readably() -> None:
    harness = Harness()
    [result] = harness.apply(change(Action.CREATE_ACCOUNT, "judy", email=email("judy"), login=email("carol")))
    assert result.outcome is Outcome.FAILED
    assert "uniqueness" in result.message and "unique across every Concur company" in result.message


def test_deactivate_sets_active_false_and_is_idempotent() -> None:
    harness = Harness()
    first, second = harness.apply(
        change(Action.DEACTIVATE_ACCOUNT, f"temp.auditor@{DOMAIN}"),
        change(Action.DEACTIVATE_ACCOUNT, f"temp.auditor@{DOMAIN}"),
    )
    assert (first.outcome, second.outcome) == (Outcome.APPLIED, Outcome.ALREADY)
    user = harness.simulator.state.by_user_name(f"temp.auditor@{DOMAIN}")
    assert user is not None and user.active is False
    assert harness.patches()[0]["Operations"] == [{"op": "replace", "path": "active", "value": False}]


def test_deactivating_an_account_concur_no_longer_has_is_already() -> None:
    harness = Harness()
    gone = replace(change(Action.DEACTIVATE_ACCOUNT, f"nobody@{DOMAIN}"), account_id=str(uuid.uuid4()))
    [result] = harness.apply(gone)
    assert result.outcome is Outcome.ALREADY  # Concur answered 404 for exactly that account
    assert "has no account" in result.message


def test_a_revocation_without_a_matched_account_is_never_reported_as_gone() -> None:
    harness = Harness()
    [result] = harness.apply(change(Action.REVOKE, f"nobody@{DOMAIN}", "EXP_APPROVER"))
    assert result.outcome is Outcome.FAILED
    assert result.message == f"no Concur account for nobody@{DOMAIN} (searched by email and userName)"


def test_update_active_true_reactivates() -> None:
    harness = Harness()
    user = harness.simulator.state.by_user_name(email("grace"))
    assert user is not None
    user.active = False
    [result] = harness.apply(change(Action.UPDATE, "grace", "active", "true"))
    assert result.outcome is Outcome.APPLIED and user.active


def test_apply_without_sync_finds_the_user_through_search() -> None:
    harness = Harness(sync_first=False)
    [result] = harness.apply(change(Action.GRANT, "nina", "EXP_APPROVER"))
    assert result.outcome is Outcome.APPLIED
    assert harness.simulator.calls["POST /profile/identity/v4.1/Users/.search"] == 1


def test_unknown_role_fails_without_a_request() -> None:
    harness = Harness()
    [result] = harness.apply(change(Action.GRANT, "nina", "Expense Approvr"))
    assert result.outcome is Outcome.FAILED
    assert not harness.patches()


def test_a_grant_that_replaced_other_roles_stops_the_run() -> None:
    harness = Harness()
    harness.simulator.add_replaces_roles = True  # what Concur would do if `add` replaced the list
    with pytest.raises(VendorError) as caught:
        harness.apply(change(Action.GRANT, "carol", "SHD_BUDGET_VIEWER"))
    assert "removed roles it did not name (EXP_APPROVER, EXP_PROCESSOR)" in caught.value.message


def test_a_read_only_connector_refuses_to_apply() -> None:
    simulator = ConcurSimulator(sandbox_state())

    async def go() -> None:
        connector = simulated(simulator, writable=False)
        try:
            await connector.sync(SCOPE)
            await connector.apply(change(Action.GRANT, "nina", "EXP_APPROVER"))
        finally:
            await connector.aclose()

    with pytest.raises(ReadOnlyViolation):
        run(go())
    assert not [k for k in simulator.calls if k.startswith("PATCH")]
