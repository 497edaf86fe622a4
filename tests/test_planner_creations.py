"""Changes planned in bulk. Accounts to create are planned a line at a time (`planner._creations`): the same rows, in the
same order, as looking at each account alone (`planner._account_changes`), on random repositories
with login overrides, populations, accounts listed twice, and lines that give accounts one by one."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from reconciler.catalogs import static_catalog
from reconciler.changes import ACTION_ORDER, Action
from reconciler.loader import read_files
from reconciler.normalize import normalize
from reconciler.planner import _ABSENT, MANAGED_ATTRIBUTES, _account_changes, _creations, _sort_order
from reconciler.records import AccessSet, Account, AccountKey
from reconciler.vendors import vendor_label
from tests.helpers import write

CO = "562949953421312"


def _repository(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    people = [f"p{i:03d}" for i in range(rng.randint(3, 30))]
    teams = [f"t{i}" for i in range(rng.randint(1, 4))]
    lines = ["people:"]
    for person in people:
        extra = ""
        for vendor in ("procore", "concur", "pingone"):
            if rng.random() < 0.15:
                extra += f", {vendor}: {person}-{vendor}"
        lines.append(
            f"  {person}: {{email: {person}@x.example, name: N {person}, teams: [{rng.choice(teams)}]{extra}}}"
        )
    lines += ["teams:", *(f"  {t}: {{}}" for t in teams)]
    write(root, "access/people.yaml", "\n".join(lines) + "\n")

    def members() -> str:
        chosen = rng.sample(people + teams, rng.randint(1, 4))
        return "[" + ", ".join(chosen) + "]"

    procore = ["procore:", "  companies:", f'    "{CO}":']
    if rng.random() < 0.5:
        procore.append(f"      accounts: {members()}")
    procore.append("      projects:")
    for k in range(rng.randint(1, 3)):
        procore += [f"        Project {k}:"] + [
            f"          {m}: {rng.choice(['Engineer', 'Manager'])}" for m in rng.sample(people + teams, 2)
        ]
    roles = sorted(static_catalog("concur", "role").labels)[:3]  # type: ignore[union-attr]
    concur = ["concur:", "  roles:", *(f"    {role}: {members()}" for role in roles[: rng.randint(1, 3)])]
    if rng.random() < 0.5:
        concur.append(f"  accounts: {members()}")
    population = rng.sample(people, len(people) // 2) + rng.sample(teams, 1)
    pingone = ["pingone:", "  populations:", f"    Employees: [{', '.join(population)}]"]
    pingone += ["  groups:", *(f"    G{k}: {members()}" for k in range(rng.randint(1, 3)))]
    for name, text in (("procore", procore), ("concur", concur), ("pingone", pingone)):
        write(root, f"access/{name}.yaml", "\n".join(text) + "\n")


def _one_by_one(
    vendor: str, tenant: str, line: tuple[object, ...], desired: AccessSet
) -> list[tuple[object, ...]]:
    _, principals, names, emails, listed = line
    rows: list[tuple[object, ...]] = []
    for i, principal in enumerate(principals):  # type: ignore[arg-type]
        account = Account(vendor, tenant, principal, True, emails[i], names[i], listed[i])  # type: ignore[index]
        rows += _account_changes(
            vendor_label(vendor), AccountKey(vendor, tenant, principal), account, _ABSENT,
            MANAGED_ATTRIBUTES.get(vendor, ()), desired, [], lambda p: "",
        )  # fmt: skip
    return rows


@pytest.mark.parametrize("seed", range(40))
def test_accounts_to_create_are_the_rows_each_account_makes_alone(tmp_path: Path, seed: int) -> None:
    _repository(tmp_path, seed)
    desired = normalize(read_files(tmp_path), today=dt.date(2026, 11, 23))
    plain = AccessSet(  # provenance as a plain mapping (not normalize's LineGrants): the other way
        accounts={}, grants=desired.grants, provenance=dict(desired.provenance.items()), people=desired.people
    )
    compared = 0
    for vendor in sorted(desired.scope.vendors):
        for line in desired.account_lines(vendor).lines:
            tenant, principals, names, emails, listed = line
            everyone = list(range(len(principals)))
            expected = _one_by_one(vendor, tenant, line, desired)
            assert (
                _creations(vendor, tenant, everyone, principals, names, emails, listed, desired) == expected
            )
            assert _creations(vendor, tenant, everyone, principals, names, emails, listed, plain) == expected
            some = everyone[::2]
            assert _creations(vendor, tenant, some, principals, names, emails, listed, desired) == [
                expected[i] for i in some
            ]
            compared += len(principals)
    assert compared


@pytest.mark.parametrize("seed", range(20))
def test_changes_are_ordered_by_their_sort_key(seed: int) -> None:
    """`_sort_order` (grouped, then each group by principal and entitlement) is a stable sort by
    `Change.sort_key`."""
    rng = random.Random(seed)
    n = rng.randint(0, 300)
    pick = lambda *values: [rng.choice(values) for _ in range(n)]  # noqa: E731
    action = pick(*Action)
    tenant, rtype = pick("", "1", "2"), pick("project", "role")
    resource, entitlement = pick("A", "B", "C", "b"), pick("member", "Engineer", "")
    principal = pick(*(f"p{i}@x" for i in range(12)))
    expected = sorted(
        range(n),
        key=lambda i: (
            tenant[i],
            ACTION_ORDER[action[i]],
            rtype[i],
            resource[i],
            principal[i],
            entitlement[i],
        ),
    )
    assert _sort_order(action, tenant, principal, rtype, resource, entitlement) == expected
