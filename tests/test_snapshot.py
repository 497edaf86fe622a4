"""Snapshots (`sync --out`, `plan --state`): what is written reads back as the same state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.connectors.base import VendorState, fingerprint
from reconciler.errors import AccessError
from reconciler.records import Account, Grant, Head, ungroup
from reconciler.snapshot import _read_json, read_state, state_of, write_state
from tests.helpers import run_cli

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


def test_sign_ins_and_changes_are_kept_optional_and_outside_the_fingerprint(tmp_path: Path) -> None:
    state = _state()
    plain = json.loads(write_state(tmp_path, state).read_text())["accounts"]
    assert "last_sign_in" not in plain and "changed_at" not in plain  # none known: the columns are left out
    signed = (
        state.accounts[0]._replace(last_sign_in="2026-11-30T08:12:00Z", changed_at="2026-01-05T09:00:00Z"),
        *state.accounts[1:],
    )
    used = state.replace(accounts=signed)
    assert used.fingerprint == state.fingerprint  # a sign-in changes no access: a plan is not stale
    columns = json.loads(write_state(tmp_path, used).read_text())["accounts"]
    assert columns["last_sign_in"] == ["2026-11-30T08:12:00Z", "", ""]
    back = read_state(tmp_path, "pingone")
    assert back is not None and set(back.accounts) == set(signed)
    assert back.accounts[0].last_sign_in == "2026-11-30T08:12:00Z"
    assert back.accounts[1].last_sign_in == back.accounts[1].changed_at == ""


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


def _as_version_1(state: VendorState) -> dict[str, object]:
    """`state` as `sync --out` wrote it before format 2 (accounts as objects, a grant a row)."""
    return {
        "snapshot_version": 1, "vendor": state.vendor, "fingerprint": state.fingerprint,
        "accounts": [
            {"tenant": a.tenant, "principal": a.principal, "active": a.active, "email": a.email,
             "display_name": a.display_name, "attributes": dict(a.attributes), "native_id": a.native_id}
            for a in state.accounts
        ],
        "grants": [list(g[1:]) for g in sorted(state.grants)],
        "indirect": [list(g[1:]) for g in sorted(state.indirect)],
        "catalog": {k: sorted(v) for k, v in state.catalog.items()},
        "known_resources": {k: sorted(v) for k, v in state.known_resources.items()},
    }  # fmt: skip


def test_a_version_1_snapshot_reads_as_the_same_state_as_version_2(tmp_path: Path) -> None:
    """Whatever order its rows come in, repeated or not: the same records, groups and fingerprint."""
    state = _state()
    data = _as_version_1(state)
    rows = data["grants"]
    assert isinstance(rows, list)
    data["grants"] = [*reversed(rows), rows[0], rows[2]]  # out of order, and two rows twice
    (tmp_path / "pingone.json").write_text(json.dumps(data))
    back = read_state(tmp_path, "pingone")
    assert back is not None and back.grant_groups is not None
    assert back.accounts == state.accounts
    assert back.grants == state.grants and back.grant_count == len(state.grants)
    assert back.indirect == state.indirect and back.catalog == state.catalog
    assert back.fingerprint == state.fingerprint


def test_a_version_1_snapshot_reads_its_values_as_text_as_it_always_did(tmp_path: Path) -> None:
    data = {
        "snapshot_version": 1, "vendor": "procore", "grants": [[CO, "project", "Harbor Tower", "Superintendent", "a@x"]],
        "accounts": [{"tenant": int(CO), "principal": "a@x", "active": 1, "attributes": {"login": 7}},
                     {"principal": "b@x", "attributes": [["login", "b"]]}],
    }  # fmt: skip
    (tmp_path / "procore.json").write_text(json.dumps(data))
    back = read_state(tmp_path, "procore")
    assert back is not None
    assert back.accounts == (
        Account("procore", CO, "a@x", attributes=(("login", "7"),)),
        Account("procore", "", "b@x", attributes=(("login", "b"),)),
    )


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


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["grants"][0].append("one too many"),
        lambda d: d["grants"][1].__setitem__(4, 7),
        lambda d: d["accounts"][0].pop("principal"),
        lambda d: d.__setitem__("accounts", {"principal": []}),
        lambda d: d.__setitem__("grants", "none"),
    ],
)
def test_a_damaged_version_1_snapshot_is_one_clear_error(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    data = _as_version_1(_state())
    damage(data)
    (tmp_path / "pingone.json").write_text(json.dumps(data))
    with pytest.raises(AccessError, match=r"pingone\.json: not a valid state snapshot"):
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


def _fingerprint_as_defined(accounts: tuple[Account, ...], grants: frozenset[Grant]) -> str:
    """The fingerprint's definition, written out plainly: apply compares the plan's with the live
    state's, so however it is computed it must come to this."""
    import hashlib

    digest = hashlib.sha256()
    digest.update(
        "\n".join(
            sorted(f"{a.tenant}\x1f{a.principal}\x1f{a.active}\x1f{a.attributes}" for a in accounts)
        ).encode()
    )
    digest.update(b"\n--\n")
    digest.update("\n".join(sorted("\x1f".join(g) for g in grants)).encode())
    return digest.hexdigest()


# Names that sort unlike their joined lines would (separators, control characters, prefixes).
_NAME = st.text(alphabet="ab\x1f\x01\x00 Zé\n", max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    accounts=st.lists(
        st.builds(
            Account,
            st.just("pingone"),
            _NAME,
            _NAME,
            st.booleans(),
            _NAME,
            _NAME,
            st.dictionaries(_NAME, _NAME, max_size=2).map(lambda d: tuple(sorted(d.items()))),
            _NAME,
        ),
        max_size=6,
    ),
    grants=st.frozensets(
        st.builds(Grant, st.just("pingone"), _NAME, _NAME, _NAME, _NAME, _NAME), max_size=25
    ),
)
def test_a_snapshot_and_a_live_sync_of_the_same_state_have_the_same_fingerprint(
    tmp_path: Path, accounts: list[Account], grants: frozenset[Grant]
) -> None:
    live = VendorState("pingone", tuple(accounts), grants)
    write_state(tmp_path, live)
    snapshot = read_state(tmp_path, "pingone")
    assert snapshot is not None and snapshot.grant_groups is not None
    assert snapshot.fingerprint == live.fingerprint == _fingerprint_as_defined(tuple(accounts), grants)
    assert snapshot.grants == grants and snapshot.grant_count == len(grants)


def test_a_snapshot_that_repeats_a_group_or_a_holder_reads_as_each_grant_once(tmp_path: Path) -> None:
    state = _state()
    path = write_state(tmp_path, state)
    data = json.loads(path.read_text())
    first = data["grants"][0]
    data["grants"].append([*first[:4], list(reversed(first[4]))])  # the group again, holders reversed
    data["grants"][1][4] = data["grants"][1][4] * 2
    path.write_text(json.dumps(data))
    back = read_state(tmp_path, "pingone")
    assert back is not None
    assert back.grants == state.grants and back.grant_count == len(state.grants)
    assert back.fingerprint == state.fingerprint


@settings(max_examples=300, deadline=None)
@given(
    groups=st.dictionaries(
        st.tuples(st.just("pingone"), _NAME, _NAME, _NAME, _NAME), st.lists(_NAME, max_size=5), max_size=8
    )
)
@example(
    groups={("v", "a", "b", "c", "d"): ["z"], ("v", "a", "b", "c", "d\x1fx"): ["a"]}
)  # a prefix of another
@example(groups={("v", "a", "b", "c", "d"): ["b", "a", "b"], ("v", "a", "b", "c", "d\x01"): ["a"]})
def test_the_fingerprint_of_grouped_grants_is_the_fingerprint_of_the_grants(
    groups: dict[Head, list[str]],
) -> None:
    """Groups as any reader may hold them (holders unsorted, repeated, none) come to the same."""
    grants = frozenset(ungroup(groups))
    assert fingerprint((), groups=groups) == fingerprint((), grants) == _fingerprint_as_defined((), grants)


def test_the_offline_connector_keeps_the_same_grants_of_a_snapshot_and_a_live_state(tmp_path: Path) -> None:
    """`plan --state` syncs the snapshot through MemoryConnector: what it keeps of a grouped
    (snapshot) state is what it keeps of the same state as a connector returns it."""
    import asyncio

    from reconciler.connectors.memory import MemoryConnector
    from reconciler.records import ResourceKey, Scope

    live = _state()
    write_state(tmp_path, live)
    snapshot = read_state(tmp_path, "pingone")
    assert snapshot is not None
    tenants = frozenset({("pingone", "")})
    for scope in (
        Scope(vendors=frozenset({"pingone"}), tenants=tenants, resources={ResourceKey("pingone", "", "group", "VPN"): True}),
        Scope(vendors=frozenset({"pingone"}), tenants=tenants, all_of=frozenset({("pingone", "", "group"), ("pingone", "", "role")})),
        Scope(vendors=frozenset({"pingone"}), tenants=frozenset({("pingone", "elsewhere")})),
    ):  # fmt: skip
        synced = [asyncio.run(MemoryConnector(s).sync(scope)) for s in (live, snapshot)]
        assert synced[0].grants == synced[1].grants
        assert synced[0].accounts == synced[1].accounts
        assert synced[0].fingerprint == synced[1].fingerprint
    whole = Scope(
        vendors=frozenset({"pingone"}),
        tenants=tenants,
        all_of=frozenset({("pingone", "", "group"), ("pingone", "", "role")}),
    )
    assert asyncio.run(MemoryConnector(snapshot).sync(whole)) is snapshot  # (its fingerprint known)
    kept = asyncio.run(
        MemoryConnector(snapshot).sync(
            Scope(
                vendors=frozenset({"pingone"}),
                tenants=tenants,
                resources={ResourceKey("pingone", "", "group", "VPN"): True},
            )
        )
    )
    assert kept.grants == {g for g in live.grants if g.resource == "VPN"}


def test_plan_converts_a_version_1_snapshot_once_and_plans_the_same(
    example_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An older snapshot reads three times slower: the first plan that reads one rewrites it in
    today's format (same state, same fingerprint), says so, and plans exactly what it planned."""
    snapshot = tmp_path / "snapshot"
    assert run_cli(capsys, "--repo", str(example_repo), "sync", "--sandbox", "--out", str(snapshot))[0] == 0
    states = {p.stem: read_state(snapshot, p.stem) for p in snapshot.glob("*.json")}
    for vendor, state in states.items():
        assert state is not None
        (snapshot / f"{vendor}.json").write_text(json.dumps(_as_version_1(state)))
    states = {vendor: read_state(snapshot, vendor) for vendor in states}  # as version 1 says it
    plan = ["--repo", str(example_repo), "plan", "--state", str(snapshot), "--format", "json"]

    code, first, err = run_cli(capsys, *plan)
    assert code == 0
    for vendor, state in states.items():
        assert f"{vendor}.json: converted from snapshot format 1 to 2" in err
        written = json.loads((snapshot / f"{vendor}.json").read_text())
        assert written["snapshot_version"] == 2
        back = read_state(snapshot, vendor)
        assert back is not None and state is not None
        assert back.fingerprint == state.fingerprint and back.grants == state.grants
        assert back.accounts == state.accounts
    code, second, err = run_cli(capsys, *plan)
    assert code == 0 and second == first and "converted" not in err


def test_a_version_1_snapshot_that_cannot_be_rewritten_is_still_read(
    example_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = tmp_path / "snapshot"
    assert run_cli(capsys, "--repo", str(example_repo), "sync", "--sandbox", "--out", str(snapshot))[0] == 0
    state = read_state(snapshot, "procore")
    assert state is not None
    (snapshot / "procore.json").write_text(json.dumps(_as_version_1(state)))
    (snapshot / "procore.json.tmp").mkdir()  # where the rewrite would go: taken
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "plan", "--state", str(snapshot))
    assert (
        code == 0 and "procore.json: an older snapshot format, read more slowly (could not rewrite it" in err
    )
    assert json.loads((snapshot / "procore.json").read_text())["snapshot_version"] == 1


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text,
        lambda text: text.replace('"catalog":{', '"catalog":{"big":[],"x":1e400,', 1),  # json: inf
        lambda text: text.replace(
            '"grants":[', '"grants":[["","group","G\\udc00","member",["ann@x.example"]],', 1
        ),
        lambda text: text.replace('"catalog":{', '"catalog":{"n":NaN,', 1),
        lambda text: "\ufeff" + text,
        lambda text: text + " ]",
        lambda text: text.replace("ann@x.example", "ann\x01@x.example", 1),
    ],
)
def test_a_snapshot_msgspec_refuses_reads_as_json_reads_it(tmp_path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    """Snapshots are decoded by msgspec, and by json where msgspec refuses: the same state, or the
    same error, as json.loads of the file's text."""
    path = write_state(tmp_path, _state())
    text = edit(path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    try:
        expected: object = read_snapshot_by_json(path)
    except Exception as exc:  # the same kind of error either way
        with pytest.raises(type(exc)) as raised:
            read_state(tmp_path, "pingone")
        assert str(raised.value) == str(exc)
        return
    assert read_state(tmp_path, "pingone") == expected


def read_snapshot_by_json(path: Path) -> VendorState:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AccessError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    return state_of(*_read_json(data, str(path)))
