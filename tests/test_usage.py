"""Usage: each account's last sign-in, read by sync where the vendor says (PingOne `lastSignOn.at`,
Procore `last_login_at`; SAP Concur: not available), shown by `why`, `report` and the
recertification pull requests, and a recertification rule's `unused_days`.

A real git repository, the GitHub simulator and the sandbox vendors (the `World` of the gate tests).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from reconciler import sandbox
from reconciler.records import Account
from reconciler.sandbox import pingone
from reconciler.simulators.github import GitHubSimulator
from reconciler.simulators.pingone_state import PingOneState
from reconciler.usage import NEVER_DAYS, days_unused, sign_in_text
from tests.test_gate import World, adopt_example, adopted, world
from tests.test_recertify import BRANCH, diff, lapse, written

__all__ = ["adopted", "world"]

HEIDI = "heidi.brandt@harborbuild.example"
GRACE = "grace.lin@harborbuild.example"


def edit_pingone(world: World, edit: Callable[[PingOneState], None]) -> None:
    """Change the sandbox's PingOne as its administrators (or its users signing on) would."""
    path, simulator = pingone.load_simulator(sandbox.state_dir(world.path))
    edit(simulator.state)
    pingone.write_state(path, simulator.state)


def user(state: PingOneState, email: str) -> dict[str, object]:
    return next(u for u in state.users.values() if str(u["email"]).casefold() == email)


def test_why_shows_each_accounts_last_sign_in_and_says_where_the_vendor_does_not(world: World) -> None:
    result = world.access("why", "bob", "--sandbox")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1:6] == [
        "",
        "accounts",
        "  SAP Concur                 active · last sign-in not available",
        "  PingOne                    active · last sign-in 2026-11-19 08:09 UTC",
        "  Procore 562949953421312    active · last sign-in 2026-11-16 14:04 UTC",
    ], result.out
    found = json.loads(world.access("why", "oscar", "--sandbox", "--format", "json").out)
    by_vendor = {a["vendor"]: a for a in found["accounts"]}
    assert by_vendor["pingone"]["last_sign_in"] is None  # never signed on
    assert by_vendor["pingone"]["last_sign_in_shown"] == "never"
    assert by_vendor["procore"]["last_sign_in"] == "2026-10-02T11:00:00Z"
    assert "concur" not in by_vendor  # a subcontractor: no Concur account
    assert json.loads(world.access("why", "bob", "--no-sync", "--format", "json").out)["accounts"] is None


def test_the_report_has_a_last_sign_in_column_and_counts_the_unused_accounts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESS_TODAY", "2026-12-20")
    out = world.path / "report.csv"
    result = world.access("report", "--sandbox", "--out", str(out))
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    signed = {(r["vendor"], r["person"]): r["last_sign_in"] for r in rows}
    assert signed[("procore", "ivan")] == "2026-05-14 16:20 UTC"
    assert signed[("pingone", "bob")] == "2026-11-19 08:09 UTC"
    assert signed[("concur", "bob")] == "not available"
    # Ivan's Procore account (May) and Oscar's PingOne account (never): 90 days by default
    assert "2 account(s) unused for 90+ days" in result.err, result.err
    page = world.path / "report.html"
    assert world.access("report", "--sandbox", "--out", str(page)).code == 0
    assert "<b>2</b><span>accounts unused 90+ days</span>" in page.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def adopted_unused(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, adopted, with `unused_days: 60` on the admin-roles recertification rule."""

    def unused_days(repo: Path) -> None:
        rules = repo / "policies/recertification.yaml"
        text = rules.read_text(encoding="utf-8")
        rules.write_text(text.replace("    every_days: 90\n", "    every_days: 90\n    unused_days: 60\n", 1))

    return adopt_example(
        tmp_path_factory.mktemp("unused"),
        unused_days,
        "example access; admin roles unused for 60 days are removed at recertification",
    )


def test_the_recertification_pull_request_shows_the_last_sign_in_and_removes_lines_unused_for_the_rules_days(
    adopted_unused: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(adopted_unused, tmp_path / "repo")
    world = World(git.Repo(tmp_path / "repo"), capsys)
    today = written(world) + dt.timedelta(days=100)  # PingOne roles are due (heidi's and security's)
    lapse(world, monkeypatch, today)
    recent = (dt.datetime.combine(today, dt.time(8), dt.UTC) - dt.timedelta(days=3)).isoformat()
    edit_pingone(
        world, lambda state: PingOneState.signed_on(user(state, GRACE), recent.replace("+00:00", "Z"))
    )
    monkeypatch.setenv("ACCESS_TODAY", today.isoformat())
    result = world.access("recertify", "--sandbox")
    assert result.code == 0, result.out + result.err
    sim = GitHubSimulator.from_json(sandbox.github_file(world.path).read_text(encoding="utf-8"))
    body = sim.repo().pulls[1].body or ""
    assert "| line | who | access | last reviewed | last sign-in | due | deadline | rule |" in body
    grace_at = dt.datetime.fromisoformat(recent).strftime("%Y-%m-%d %H:%M UTC")
    assert f"| security | PingOne role Identity Data Read Only | {written(world)}" in body
    assert f"| {grace_at} |" in body, body  # the security team is grace: she signed on 3 days ago
    assert "| 2026-11-17 08:07 UTC |" in body  # heidi: more than 60 days before
    assert "### Removed as unused" in body
    assert "`access/pingone.yaml:18` heidi: last sign-in 2026-11-17 08:07 UTC" in body, body
    assert diff(world, BRANCH) == [
        "-      heidi: environment",
        "-      security: environment",
        f"+      security: {{scope: environment, certified: {today}}}",
    ]


def test_sign_ins_are_shown_as_the_vendor_says_and_counted_in_whole_days() -> None:
    bob = Account("pingone", "", "bob@x.example", last_sign_in="2026-11-19T08:09:00.000Z")
    assert sign_in_text("pingone", bob) == "2026-11-19 08:09 UTC"
    assert sign_in_text("pingone", bob._replace(last_sign_in="")) == "never"
    assert sign_in_text("pingone", None) == "no account"
    assert sign_in_text("concur", bob._replace(vendor="concur")) == "not available"
    assert days_unused(bob, dt.date(2026, 12, 19)) == 30
    assert days_unused(bob._replace(last_sign_in="garbage"), dt.date(2026, 12, 19)) == NEVER_DAYS
    assert days_unused(bob._replace(vendor="concur"), dt.date(2026, 12, 19)) is None
