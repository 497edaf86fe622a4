"""Snapshots (`sync --out`, `plan --state`): what is written reads back as the same state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.connectors.base import VendorState, fingerprint
from reconciler.errors import AccessError
from reconciler.records import Account, Grant
from reconciler.snapshot import read_state, write_state

CO = "562949953421312"


def _state() -> VendorState:
    accounts = (
        Account("pingone", "", "ann@x.example", email="Ann@x.example", display_name="Ann", native_id="u1",
                attributes=(("login", "ann"), ("population", "Employees"))),
        Account("pingone", "", "bo@x.example", active=False, display_name="Bo", native_id="u2",
                attributes=(("population", "Contractors"),)),
        Account("pingone", "", "cy@x.example", native_id="u3"),
    )  # fmt: skip
    grants = frozenset(
        {
            Grant("pingone", "", "group", "VPN", "member", "ann@x.example"),
            Grant("pingone", "", "group", "VPN", "member", "bo@x.example"),
            Grant("pingone", "", "group", "VPN 2", "member", "ann@x.example"),
            Grant("pingone", "", "role", "Environment Admin", "environment", "cy@x.example"),
            Grant("pingone", "", "role", "Environment Admin", "population/Employees", "cy@x.example"),
        }
    )
    indirect = frozenset({Grant("pingone", "", "group", "VPN", "member", "cy@x.example")})
    return VendorState(
        "pingone", accounts, grants, catalog={"role": frozenset({"Environment Admin"})},
        known_resources={"group": frozenset({"VPN", "VPN 2"})}, indirect=indirect,
    )  # fmt: skip


def test_a_written_snapshot_reads_back_as_the_same_state_and_fingerprint(tmp_path: Path) -> None:
    state = _state()
    write_state(tmp_path, state)
    back = read_state(tmp_path, "pingone")
    assert back is not None
    assert set(back.accounts) == set(state.accounts)
    assert back.grants == state.grants
    assert back.indirect == state.indirect
    assert back.catalog == state.catalog and back.known_resources == state.known_resources
    assert back.fingerprint == fingerprint(state.accounts, state.grants) == state.fingerprint
    assert json.loads((tmp_path / "pingone.json").read_text())["fingerprint"] == state.fingerprint


def test_version_1_snapshots_still_read(tmp_path: Path) -> None:
    row = [CO, "project", "Harbor Tower", "Project Manager", "ann@x.example"]
    (tmp_path / "procore.json").write_text(
        json.dumps(
            {
                "snapshot_version": 1, "vendor": "procore", "grants": [row], "indirect": [],
                "accounts": [{"tenant": CO, "principal": "ann@x.example", "active": True, "attributes": {}}],
            }
        )
    )  # fmt: skip
    state = read_state(tmp_path, "procore")
    assert state is not None
    assert state.grants == {Grant("procore", *row)}
    assert state.accounts == (Account("procore", CO, "ann@x.example"),)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["grants"][0].__setitem__(4, ["ann@x.example", 7]),
        lambda d: d["accounts"]["principal"].pop(),
        lambda d: d["accounts"]["active"].__setitem__(0, "yes"),
        lambda d: d.__setitem__("grants", [["", "group"]]),
        lambda d: d.__setitem__("snapshot_version", 9),
    ],
)
def test_a_damaged_snapshot_is_one_clear_error(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    path = write_state(tmp_path, _state())
    data = json.loads(path.read_text())
    damage(data)
    path.write_text(json.dumps(data))
    with pytest.raises(AccessError, match=r"pingone\.json: (not a valid state snapshot|snapshot_version 9)"):
        read_state(tmp_path, "pingone")


def test_a_plan_from_a_snapshot_equals_the_plan_from_the_live_state(tmp_path: Path) -> None:
    """The snapshot's grouped grants let the planner work per resource on sets of principals: the
    plan must be the same as from the state a connector returns (not grouped), managed or not."""
    import datetime as dt

    from reconciler.planner import build_plan
    from reconciler.records import AccessSet, AccountKey, ResourceKey, Scope

    live = _state()
    write_state(tmp_path, live)
    snapshot = read_state(tmp_path, "pingone")
    assert snapshot is not None and snapshot.grant_groups is not None and live.grant_groups is None
    wanted = {
        AccountKey("pingone", "", p): Account("pingone", "", p, display_name=p.split("@")[0].title())
        for p in ("ann@x.example", "cy@x.example")
    }
    for resources in (
        {ResourceKey("pingone", "", "group", "VPN"): True},  # VPN 2 and the role are not managed
        {ResourceKey("pingone", "", "group", "VPN"): True, ResourceKey("pingone", "", "group", "VPN 2"): True,
         ResourceKey("pingone", "", "role", "Environment Admin"): True},  # all of them
    ):  # fmt: skip
        desired = AccessSet(
            accounts=wanted,
            grants=frozenset({Grant("pingone", "", "group", "VPN", "member", "ann@x.example")}),
            scope=Scope(
                vendors=frozenset({"pingone"}), tenants=frozenset({("pingone", "")}), resources=resources
            ),
        )
        plans = [
            build_plan(desired, {"pingone": state}, today=dt.date(2026, 11, 23)) for state in (live, snapshot)
        ]
        assert plans[0].changes == plans[1].changes
        revoked = {(c.resource, c.principal) for c in plans[0].changes if c.action == "revoke"}
        assert ("VPN", "bo@x.example") in revoked
        assert (("VPN 2", "ann@x.example") in revoked) == (len(resources) == 3)


def test_a_snapshot_account_matched_by_login_keeps_its_access_in_the_plan(tmp_path: Path) -> None:
    """A vendor account under another email, matched to a person by their login override: its grants
    are that person's, planned from a snapshot (grouped) exactly as from a live state."""
    import datetime as dt

    from reconciler.planner import build_plan
    from reconciler.records import AccessSet, AccountKey, Person, ResourceKey, Scope

    old = "ann.old@x.example"
    live = VendorState(
        "pingone",
        (Account("pingone", "", old, display_name="Ann", native_id="u1", attributes=(("login", "ann"),)),),
        frozenset({Grant("pingone", "", "group", "VPN", "member", old)}),
    )
    write_state(tmp_path, live)
    snapshot = read_state(tmp_path, "pingone")
    assert snapshot is not None and snapshot.grant_groups is not None
    ann = "ann@x.example"
    desired = AccessSet(
        accounts={AccountKey("pingone", "", ann): Account("pingone", "", ann, display_name="Ann",
                                                           attributes=(("login", "ann"),))},
        grants=frozenset({Grant("pingone", "", "group", "VPN", "member", ann)}),
        scope=Scope(vendors=frozenset({"pingone"}), tenants=frozenset({("pingone", "")}),
                    resources={ResourceKey("pingone", "", "group", "VPN"): True}),
        people={ann: Person("ann", ann, "Ann", (("pingone", "ann"),))},
        grant_groups={("pingone", "", "group", "VPN", "member"): [ann]},
    )  # fmt: skip
    plans = [build_plan(desired, {"pingone": s}, today=dt.date(2026, 11, 23)) for s in (live, snapshot)]
    assert plans[0].changes == plans[1].changes == ()
