"""The ledger reads a commit's accounts without making their records, and reads a people.yaml that did
not change once: the account edits and compiled states it finds are exactly those of the records.

The gate compiles every commit landed since the apply point; at 100,000 people a commit's accounts
are 300,000 records. So `DesiredState` keeps each (vendor, tenant)'s managed attributes by principal
plus the people, and normalize reuses the people and teams of the file versions it saw last. These
tests hold both shortcuts to the long way round, commit after commit.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from reconciler.commands.context import AppContext
from reconciler.errors import ValidationErrors
from reconciler.gate import States
from reconciler.ledger_state import ACCOUNT_ITEM, AccountItems, DesiredState, Edit, diff
from reconciler.loader import FileCache, read_files
from reconciler.normalize import PeopleMemo, normalize
from reconciler.records import AccessSet
from tests.helpers import write

TODAY = dt.date(2026, 12, 7)
CO = "562949953421312"
PEOPLE = """
people:
  alice: {email: alice@harbor.example, name: Alice Ng, teams: [site]}
  bob: {email: bob@harbor.example, name: Bob Ruiz, teams: [site], concur: bob.r}
  carol: {email: carol@harbor.example, name: Carol Diaz, pingone: cdiaz}
teams:
  site: {}
"""
GRANTS = f"""
procore:
  companies:
    "{CO}":
      projects:
        Tower:
          site: Project Engineer
concur:
  accounts: [site]
  roles:
    Expense Approver: [alice]
pingone:
  populations:
    Employees: [site, carol]
  groups:
    VPN: [carol]
"""

# Each step edits one file of the commit before; the ledger must see every account edit it makes.
STEPS: list[tuple[str, str, str]] = [
    ("access/people.yaml", "name: Alice Ng", "name: Alice Ng-Park"),  # a name: every account of hers
    ("access/people.yaml", "concur: bob.r", "concur: bob.ruiz"),  # a login override: Concur only
    ("access/grants.yaml", "Employees: [site, carol]", "Employees: [site]\n    Contractors: [carol]"),
    ("access/people.yaml", "alice@harbor.example", "alice.ng@harbor.example"),  # a new principal
    ("access/grants.yaml", "    VPN: [carol]\n", "    VPN: [carol, bob]\n"),  # no account changes
    ("access/grants.yaml", "  accounts: [site]\n", "  accounts: [alice]\n"),  # bob's Concur account goes
    ("access/people.yaml", "name: Carol Diaz, pingone: cdiaz", "name: Carol Diaz"),  # her login goes
]


def compile_at(repo: Path, cache: FileCache | None = None, memo: PeopleMemo | None = None) -> AccessSet:
    return normalize(read_files(repo, cache), today=TODAY, people=memo)


def by_records(access: AccessSet) -> DesiredState:
    """The long way: every account as its record."""
    state = DesiredState.of(access, "g")
    return DesiredState(state.groups, state.expiry, AccountItems({}, {}, dict(access.accounts)),
                        state.scope, state.governance)  # fmt: skip


def account_edits(edits: list[Edit]) -> list[Edit]:
    return [edit for edit in edits if edit.kind == ACCOUNT_ITEM]


def commits(tmp_path: Path) -> list[Path]:
    """The example as a series of commits, each a directory."""
    repos: list[Path] = []
    texts = {"access/people.yaml": PEOPLE, "access/grants.yaml": GRANTS}
    for step in [None, *STEPS]:
        if step is not None:
            name, old, new = step
            assert old in texts[name], step
            texts[name] = texts[name].replace(old, new)
        repo = tmp_path / f"commit-{len(repos)}"
        for name, text in texts.items():
            write(repo, name, text)
        repos.append(repo)
    return repos


def test_every_account_normalize_makes_is_read_back_without_its_record(tmp_path: Path) -> None:
    for repo in commits(tmp_path):
        access = compile_at(repo)
        items = AccountItems.of(access)
        assert items.attributes, "normalize gives the attributes: no records are made"
        assert not items.exact
        records = dict(access.accounts)
        assert records, repo
        assert {key: items.get(key) for key in records} == records
        held = {(*bucket, principal) for bucket, found in items.attributes.items() for principal in found}
        assert held == set(records), "no account the records do not have"


def test_each_commits_account_edits_are_those_of_the_records(tmp_path: Path) -> None:
    states = [compile_at(repo) for repo in commits(tmp_path)]
    seen = []
    for before, after in itertools.pairwise(states):
        quick = account_edits(diff(DesiredState.of(before, "g"), DesiredState.of(after, "g")))
        assert quick == account_edits(diff(by_records(before), by_records(after)))
        seen.append(sorted((edit.key[0], edit.key[2]) for edit in quick))
    assert seen[0] == [  # a name changed: each of Alice's three accounts shows it
        ("concur", "alice@harbor.example"),
        ("pingone", "alice@harbor.example"),
        ("procore", "alice@harbor.example"),
    ]
    assert seen[1] == [("concur", "bob@harbor.example")]  # her login at Concur only
    assert seen[2] == [("pingone", "carol@harbor.example")]  # another population
    assert seen[4] == []
    assert seen[5] == [("concur", "bob@harbor.example")]
    assert seen[6] == [("pingone", "carol@harbor.example")]
    login = next(
        e for e in account_edits(diff(DesiredState.of(states[1], "g"), DesiredState.of(states[2], "g")))
    )
    assert login.before is not None and login.after is not None
    assert dict(login.after.attributes)["login"] == "bob.ruiz"  # type: ignore[attr-defined]


def same(quick: AccessSet, slow: AccessSet) -> None:
    assert quick.grants == slow.grants
    assert dict(quick.accounts) == dict(slow.accounts)
    assert dict(quick.people) == dict(slow.people)
    assert {g: quick.provenance[g] for g in quick.grants} == {g: slow.provenance[g] for g in slow.grants}


def test_people_yaml_read_once_while_it_does_not_change(tmp_path: Path) -> None:
    cache: FileCache = {}
    memo = PeopleMemo()
    repos = commits(tmp_path)
    last: AccessSet | None = None
    for index, repo in enumerate(repos):
        quick = compile_at(repo, cache, memo)
        memo.compact(cache)  # as the gate does: the cached people.yaml keeps no people now
        same(quick, compile_at(repo))
        if last is not None:
            people_changed = STEPS[index - 1][0] == "access/people.yaml"
            assert (quick.people is last.people) is not people_changed, STEPS[index - 1]
        last = quick
    assert any(source.people_elsewhere for source in cache.values())


def test_the_gate_reads_people_split_over_files_as_a_checkout_does(
    git_repo: Callable[..., git.Repo],
) -> None:
    """People in two files, one of them edited: the lean copy of the other is read again whole."""
    repo = git_repo(with_example=False)
    root = Path(repo.working_dir)
    alice, rest = PEOPLE.split("  bob:", 1)
    versions = [
        {
            "access/people.yaml": alice,
            "access/more-people.yaml": "people:\n  bob:" + rest,
            "access/grants.yaml": GRANTS,
        },
        {"access/grants.yaml": GRANTS.replace("VPN: [carol]", "VPN: [carol, alice]")},
        {"access/more-people.yaml": "people:\n  bob:" + rest.replace("Bob Ruiz", "Bob R. Ruiz")},
        {"access/people.yaml": alice.replace("Alice Ng", "Alice N.")},
        {"access/grants.yaml": GRANTS},
    ]
    shas = []
    for files in versions:
        for name, text in files.items():
            write(root, name, text)
        repo.git.add("--all")
        shas.append(repo.index.commit("step").hexsha)
    states = States(AppContext(root, env={"ACCESS_TODAY": TODAY.isoformat()}), repo)
    for sha in shas:
        repo.git.checkout(sha)
        quick = states.access_at(sha)
        same(quick, compile_at(root))
        assert any(source.people_elsewhere for source in states.files.values())


def test_a_people_yaml_with_an_error_is_never_kept(tmp_path: Path) -> None:
    cache: FileCache = {}
    memo = PeopleMemo()
    write(tmp_path, "access/people.yaml", PEOPLE.replace("teams: [site]}", "teams: [sight]}", 1))
    write(tmp_path, "access/grants.yaml", GRANTS)
    for _ in range(2):  # the second read must find the same error, not a kept half
        with pytest.raises(ValidationErrors, match="unknown team 'sight'"):
            compile_at(tmp_path, cache, memo)
