"""Procore provisioning through the real connector: every action, idempotency, one request each."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from reconciler.changes import Action
from reconciler.connectors.base import ChangeResult, Outcome, VendorState
from reconciler.connectors.http import ReadOnlyViolation
from reconciler.connectors.procore_connector import ProcoreConnector
from reconciler.records import Grant
from reconciler.simulators.procore import ProcoreSimulator
from tests.connectors.procore_fixtures import COMPANY, change, email, make, scope

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def apply_after_sync(connector: ProcoreConnector, *changes: Any) -> list[ChangeResult]:
    async def go() -> list[ChangeResult]:
        await connector.sync(scope())
        return [await connector.apply(c) for c in changes]

    return run(go())


def writes(sim: ProcoreSimulator) -> dict[str, int]:
    return {k: v for k, v in sim.calls.items() if not k.startswith("GET") and "/oauth/" not in k}


def fresh_sync(sim: ProcoreSimulator) -> VendorState:
    _, connector, _ = make(sim.state)
    return run(connector.sync(scope()))


def test_create_account_splits_the_name_and_returns_the_new_id() -> None:
    sim, connector, _ = make()
    heidi = email("heidi")
    attrs = [("email", "Heidi.Brandt@harborbuild.example"), ("name", "Heidi Brandt")]
    [result] = apply_after_sync(
        connector, change(Action.CREATE_ACCOUNT, heidi, resource_type="account", attributes=attrs)
    )
    assert result.outcome is Outcome.APPLIED
    user = sim.state.companies[int(COMPANY)].users[int(result.vendor_ref)]
    assert (user.first_name, user.last_name, user.email) == (
        "Heidi",
        "Brandt",
        "Heidi.Brandt@harborbuild.example",
    )
    account = next(a for a in fresh_sync(sim).accounts if a.principal == heidi)
    assert (account.active, account.display_name, account.email) == (True, "Heidi Brandt", user.email)
    assert writes(sim) == {"POST /rest/v1.3/companies/562949953421312/users": 1}


def test_create_account_is_idempotent() -> None:
    sim, connector, _ = make()
    create = change(
        Action.CREATE_ACCOUNT,
        email("alice"),
        resource_type="account",
        attributes=[("email", email("alice")), ("name", "Alice Ng")],
    )
    [result] = apply_after_sync(connector, create)
    assert result.outcome is Outcome.ALREADY
    assert writes(sim) == {}


def test_create_account_without_a_sync_finds_the_existing_user_by_email() -> None:
    sim, connector, _ = make()
    create = change(
        Action.CREATE_ACCOUNT, email("bob"), resource_type="account", attributes=[("name", "Bob Ruiz")]
    )
    result = run(connector.apply(create))
    assert result.outcome is Outcome.ALREADY
    assert writes(sim) == {}


def test_create_account_of_a_deactivated_user_reactivates_it() -> None:
    sim, connector, _ = make()
    former = "former.foreman@harborbuild.example"
    [result] = apply_after_sync(connector, change(Action.CREATE_ACCOUNT, former, resource_type="account"))
    assert result.outcome is Outcome.APPLIED
    assert "reactivated" in result.message
    assert next(a for a in fresh_sync(sim).accounts if a.principal == former).active


def test_deactivate_and_reactivate_an_account() -> None:
    sim, connector, _ = make()
    pat = email("pat")
    deactivate = change(Action.DEACTIVATE_ACCOUNT, pat, resource_type="account")
    [first, again] = apply_after_sync(connector, deactivate, deactivate)
    assert (first.outcome, again.outcome) == (Outcome.APPLIED, Outcome.ALREADY)
    state = fresh_sync(sim)
    assert not next(a for a in state.accounts if a.principal == pat).active
    # an inactive user stays on their projects (the projects' inactive lists show them)
    assert any(g.principal == pat for g in state.grants)
    assert writes(sim) == {f"PATCH /rest/v1.3/companies/{COMPANY}/users/{first.vendor_ref}": 1}

    reactivate = change(
        Action.UPDATE, pat, resource_type="account", resource="active", entitlement="true", before="false"
    )
    _, connector2, _ = make(sim.state)
    [back, back_again] = apply_after_sync(connector2, reactivate, reactivate)
    assert (back.outcome, back_again.outcome) == (Outcome.APPLIED, Outcome.ALREADY)
    assert next(a for a in fresh_sync(sim).accounts if a.principal == pat).active


def test_deactivating_a_user_procore_no_longer_has_is_already_done() -> None:
    _, connector, _ = make()
    gone = change(Action.DEACTIVATE_ACCOUNT, "nobody@x.example", resource_type="account", account_id="42")
    [result] = apply_after_sync(connector, gone)
    assert result.outcome is Outcome.ALREADY  # Procore answered 404 for exactly that user
    assert result.message == "Procore has no user 42"


def test_a_revocation_without_a_matched_account_is_never_reported_as_gone() -> None:
    _, connector, _ = make()
    revoke = change(Action.REVOKE, "nobody@x.example", resource="Harbor Tower", entitlement="Read Only")
    [result] = apply_after_sync(connector, revoke)
    assert result.outcome is Outcome.FAILED
    assert result.message == f"no directory account for nobody@x.example in company {COMPANY}"


def test_grant_adds_to_the_project_with_the_template() -> None:
    sim, connector, _ = make()
    grant = change(Action.GRANT, email("mike"), resource="Pier 7 Retrofit", entitlement="Project Engineer")
    [first, again] = apply_after_sync(connector, grant, grant)
    assert (first.outcome, again.outcome) == (Outcome.APPLIED, Outcome.ALREADY)
    assert Grant("procore", COMPANY, "project", "Pier 7 Retrofit", "Project Engineer", email("mike")) in (
        fresh_sync(sim).grants
    )
    [(call, count)] = writes(sim).items()
    assert call.endswith("/actions/add") and count == 1


def test_grant_sends_the_template_id_in_the_body() -> None:
    sim, connector, _ = make()
    sim.keep_log = True
    apply_after_sync(
        connector,
        change(Action.GRANT, email("mike"), resource="Pier 7 Retrofit", entitlement="Project Engineer"),
    )
    [add] = [r for r in sim.log if r.url.path.endswith("/actions/add")]
    template = next(
        t for t in sim.state.companies[int(COMPANY)].templates.values() if t.name == "Project Engineer"
    )
    assert add.read() == b'{"user":{"permission_template_id":%d}}' % template.id
    assert add.headers["Procore-Company-Id"] == COMPANY


def test_template_change_is_one_request_to_the_assignments_endpoint() -> None:
    sim, connector, _ = make()
    update = change(
        Action.UPDATE,
        email("bob"),
        resource="Harbor Tower",
        entitlement="Project Engineer",
        before="Superintendent",
    )
    [first, again] = apply_after_sync(connector, update, update)
    assert (first.outcome, again.outcome) == (Outcome.APPLIED, Outcome.ALREADY)
    project = next(p for p in sim.state.companies[int(COMPANY)].projects.values() if p.name == "Harbor Tower")
    assert writes(sim) == {f"PATCH /rest/v1.0/projects/{project.id}/permission_template_assignments": 1}
    assert Grant("procore", COMPANY, "project", "Harbor Tower", "Project Engineer", email("bob")) in (
        fresh_sync(sim).grants
    )


def test_revoke_removes_from_the_project_and_is_idempotent() -> None:
    sim, connector, _ = make()
    revoke = change(Action.REVOKE, email("ivan"), resource="Eastside Depot", entitlement="Project Engineer")
    [first, again] = apply_after_sync(connector, revoke, revoke)
    assert (first.outcome, again.outcome) == (Outcome.APPLIED, Outcome.ALREADY)
    assert not any(
        g.principal == email("ivan") and g.resource == "Eastside Depot" for g in fresh_sync(sim).grants
    )
    assert [k for k in writes(sim)] == [k for k in writes(sim) if k.endswith("/actions/remove")]
    assert sum(writes(sim).values()) == 1


def test_apply_without_sync_looks_memberships_up() -> None:
    sim, connector, _ = make()
    grant = change(Action.GRANT, email("alice"), resource="Pier 7 Retrofit", entitlement="Superintendent")
    revoke = change(Action.REVOKE, email("mike"), resource="Eastside Depot", entitlement="Project Engineer")
    results = [run(connector.apply(grant)), run(connector.apply(revoke))]
    assert [r.outcome for r in results] == [Outcome.ALREADY, Outcome.ALREADY]
    assert writes(sim) == {}


def test_unknown_template_fails_with_the_closest_names() -> None:
    _, connector, _ = make()
    grant = change(Action.GRANT, email("mike"), resource="Pier 7 Retrofit", entitlement="Project Enginer")
    [result] = apply_after_sync(connector, grant)
    assert result.outcome is Outcome.FAILED
    assert result.message == (
        "no permission template 'Project Enginer' in company 562949953421312; "
        "closest: Project Engineer, Project Manager"
    )


def test_a_rejected_write_fails_that_change_only() -> None:
    sim, connector, _ = make()
    sim.faults.add("422", count=1, match="/actions/add")
    grant = change(Action.GRANT, email("mike"), resource="Pier 7 Retrofit", entitlement="Project Engineer")
    [result] = apply_after_sync(connector, grant)
    assert result.outcome is Outcome.FAILED
    assert "HTTP 422 POST" in result.message


def test_grant_for_someone_without_an_account_fails_clearly() -> None:
    _, connector, _ = make()
    [result] = apply_after_sync(
        connector, change(Action.GRANT, email("heidi"), resource="Harbor Tower", entitlement="Read Only")
    )
    assert result.outcome is Outcome.FAILED
    assert result.message == f"no directory account for {email('heidi')} in company {COMPANY}"


def test_a_read_only_connector_refuses_writes_but_may_fetch_a_token() -> None:
    sim, connector, _ = make(writable=False)
    grant = change(Action.GRANT, email("mike"), resource="Pier 7 Retrofit", entitlement="Project Engineer")
    with pytest.raises(ReadOnlyViolation):
        apply_after_sync(connector, grant)
    assert writes(sim) == {}
    assert sim.tokens_issued == 1
