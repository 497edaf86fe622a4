"""`access evidence`: a signed pack for an audit period, in real git repositories with the GitHub
simulator and the sandbox vendors, through the real gate (the world of tests/test_gate.py).

The period's story, built once: the example adopted ten days ago (its commits dated then), then,
today: an approved pull request (carol joins VPN), a direct push the gate holds (dan joins VPN), a
leaver (mike's lines deleted in an approved pull request), drift made by hand at the vendors and
repaired, heidi's admin role lapsing by policy (`on_no_response: revoke`, ACCESS_TODAY past its
deadline), her re-approval (a merged `certified:` day), and drift again, kept in the day's stored
snapshot. The audit trail's times are the wall clock's, so the period is the days around today.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import git
import pytest

from reconciler import evidence_key, sandbox
from reconciler.evidence import csv_text
from reconciler.periods import parse_period
from reconciler.vendors import VENDORS
from tests.test_gate import CAROL_VPN, DAN_VPN, Edit, World, replace_text
from tests.test_point_in_time import TODAY, Run, access, adopted

__all__ = ["adopted"]  # the fixture, shared with the point-in-time tests

MIKE_PEOPLE = "  mike:  {email: mike.chen@harborbuild.example, name: Mike Chen, teams: [site-engineering], github: mchen-site}\n"
MIKE_PROCORE = "          mike: Project Engineer\n"
PERIOD = f"{TODAY - dt.timedelta(days=2)}..{TODAY + dt.timedelta(days=1)}"


def _remove(file: str, text: str) -> Edit:
    return replace_text(file, text, "")


@dataclass(frozen=True)
class Story:
    path: Path
    carol_pull: int
    mike_pull: int
    recert_pull: int
    held_push: str


@pytest.fixture(scope="module")
def story(adopted: Path, tmp_path_factory: pytest.TempPathFactory) -> Story:
    path = tmp_path_factory.mktemp("story") / "repo"
    shutil.copytree(adopted, path)
    world = World(git.Repo(path))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACCESS_TODAY", "2026-11-23")

        def apply() -> Run:
            found = access(path, "apply", "--sandbox")
            assert "Traceback" not in found.err, found.err
            return found

        carol = world.open_pull("cokafor", CAROL_VPN)
        world.approve(carol, "hbrandt")
        world.merge(carol)
        assert apply().code == 0
        held = world.direct_push(DAN_VPN)
        result = apply()
        assert result.code == 1 and "rule pull-request:" in result.out, result.out
        mike = world.open_pull(
            "cokafor", _remove("access/people.yaml", MIKE_PEOPLE), _remove("access/procore.yaml", MIKE_PROCORE),
            branch="mike-leaves",
        )  # fmt: skip
        world.approve(mike, "hbrandt")
        world.merge(mike, branch="mike-leaves")
        result = apply()
        assert "- PingOne mike" in result.out or "mike" in result.out, result.out
        sandbox.reset(path, VENDORS)  # drift by hand at the vendors: the seed's (bob's admin role, ...)
        result = apply()
        assert "(restores approved state)" in result.out, result.out
        patch.setenv("ACCESS_TODAY", "2027-02-14")  # past heidi's deadline: her role lapses
        result = apply()
        assert "lapsed:" in result.out, result.out
        recert = world.open_pull(
            "cokafor", replace_text("access/pingone.yaml", "certified: 2026-11-01", "certified: 2027-02-14"),
            branch="recertify",
        )  # fmt: skip
        world.approve(recert, "glin-sec")  # security approves admin roles
        world.merge(recert, branch="recertify")
        result = apply()
        assert "Identity Data Admin" in result.out and "approved by glin-sec" in result.out, result.out
        sandbox.reset(path, ("pingone",))  # drift again, and the day's snapshot keeps it
        snapshot = path.parent / "snapshot"
        assert access(path, "sync", "--sandbox", "--out", str(snapshot)).code == 0
        kept = access(path, "snapshots", "keep", str(snapshot), "--day", TODAY.isoformat())
        assert kept.code == 0, kept.err
    return Story(path, carol, mike, recert, held)


def _rows(directory: Path, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((directory / name).read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def pack(story: Story) -> Path:
    out = story.path.parent / "pack"
    result = access(story.path, "evidence", "--sandbox", "--period", PERIOD, "--out", str(out))
    assert result.code == 0, result.out + result.err
    assert "evidence for" in result.out and "signed with the sandbox's own key" in result.out
    return out


# ---------------------------------------------------------------- what the pack holds


def test_the_pack_lists_every_change_in_the_period_with_its_approval_and_the_vendors_answer(
    story: Story, pack: Path
) -> None:
    changes = _rows(pack, "changes.csv")
    carol = [r for r in changes if r["principal"].startswith("carol") and r["resource"] == "VPN"]
    granted, restored_later = carol  # granted, then lost to the drift made by hand and restored
    assert (restored_later["basis"], restored_later["why"]) == ("restores", "restores the approved state")
    assert (granted["kind"], granted["action"], granted["basis"], granted["outcome"]) == (
        "outcome", "grant", "approved", "applied",
    )  # fmt: skip
    assert granted["pull_request"] == str(story.carol_pull) and granted["approved_by"] == "hbrandt"
    assert granted["requested_by"] == "cokafor" and granted["approved_at"] and granted["vendor_ref"]
    assert granted["landed_in"] and granted["time"].endswith("Z") and granted["record"]
    (held,) = [r for r in changes if r["kind"] == "held" and r["principal"].startswith("dan")]
    assert (held["resource"], held["basis"], held["rule"], held["landed_in"]) == (
        "VPN", "held", "pull-request", story.held_push,
    )  # fmt: skip
    restored = [r for r in changes if r["basis"] == "restores"]
    assert any(r["principal"].startswith("bob") and r["resource"] == "Environment Admin" for r in restored)
    (lapsed,) = [r for r in changes if r["basis"] == "lapsed"]
    assert (lapsed["resource"], lapsed["action"], lapsed["rule"]) == (
        "Identity Data Admin",
        "revoke",
        "admin-roles",
    )
    assert "not re-approved by 2027-02-13" in lapsed["why"]
    times = [r["time"] for r in changes]
    assert times == sorted(times), "chronological"


def test_the_population_at_the_end_carries_the_ledgers_answer_per_grant(story: Story, pack: Path) -> None:
    rows = {(r["principal"].split("@")[0], r["resource"]): r for r in _rows(pack, "population.csv")}
    carol = rows[("carol.okafor", "VPN")]  # approved; taken away again by the last drift made by hand
    assert (carol["status"], carol["approval"], carol["pull_request"], carol["approved_by"]) == (
        "pending", "approved", str(story.carol_pull), "hbrandt",
    )  # fmt: skip
    dan = rows[("dan.whitfield", "VPN")]
    assert (dan["status"], dan["approval"]) == ("pending", "held") and "rule pull-request" in dan["note"]
    alice = rows[("alice.ng", "VPN")]
    assert alice["approval"] == "before the ledger" and alice["source"].startswith("access/pingone.yaml:")
    heidi = rows[("heidi.brandt", "Identity Data Admin")]
    assert heidi["approval"] == "approved" and heidi["approved_by"] == "glin-sec"
    assert heidi["last_certified"] == "2027-02-14"
    drift = [r for r in rows.values() if r["status"] == "not in the YAML"]
    assert drift and all(r["approval"] == "none" and not r["source"] for r in drift)
    mike = [r for key, r in rows.items() if key[0] == "mike.chen"]  # the seed put his PingOne access back
    assert mike and {(r["vendor"], r["status"], r["approval"]) for r in mike} == {
        ("pingone", "not in the YAML", "none")
    }
    counts = {r["vendor"]: r for r in _rows(pack, "counts.csv")}
    population = _rows(pack, "population.csv")
    for vendor in ("concur", "pingone", "procore"):
        assert int(counts[vendor]["population"]) == sum(r["vendor"] == vendor for r in population)
        assert len(counts[vendor]["snapshot_fingerprint"]) == 64
    accounts = _rows(pack, "accounts.csv")
    assert {r["status"] for r in accounts} >= {"managed", "not in the YAML"}
    assert int(counts["pingone"]["accounts"]) == sum(r["vendor"] == "pingone" for r in accounts)


def test_leavers_recertifications_and_parameters(story: Story, pack: Path) -> None:
    leavers = _rows(pack, "leavers.csv")
    assert {r["person"] for r in leavers} == {"mike"}
    by_vendor = {r["vendor"]: r for r in leavers}
    assert set(by_vendor) == {"concur", "pingone", "procore"}
    pingone = by_vendor["pingone"]
    assert pingone["pull_request"] == str(story.mike_pull) and pingone["removed_in"] and pingone["removed_at"]
    assert pingone["deprovisioned_at"] and "revoke" in pingone["actions"] and pingone["outcome"] == "applied"
    assert float(pingone["hours_to_deprovision"]) >= 0
    recertified = _rows(pack, "recertifications.csv")
    results = sorted((r["result"], r["resource"]) for r in recertified)
    assert results == [("lapsed", "Identity Data Admin"), ("re-approved", "Identity Data Admin")]
    (again,) = [r for r in recertified if r["result"] == "re-approved"]
    assert (again["certified"], again["pull_request"], again["approved_by"]) == (
        "2027-02-14", str(story.recert_pull), "glin-sec",
    )  # fmt: skip
    parameters = dict((r["name"], r["value"]) for r in _rows(pack, "parameters.csv") if r["name"] != "note")
    period = parse_period(PERIOD)
    assert parameters["period"] == PERIOD and parameters["generated_at"] == f"{period.end}T23:59:59Z"
    repo = git.Repo(story.path)
    assert parameters["main_at_end"] == repo.head.commit.hexsha
    assert parameters["main_at_start"] and parameters["main_at_start"] != parameters["main_at_end"]
    assert parameters["repository"] == "harborbuild/access"
    assert parameters["snapshot"] == f"refs/access/snapshots/{TODAY}" and parameters["snapshot_day"] == str(
        TODAY
    )
    assert parameters["audit_trail_head"] == repo.git.rev_parse("refs/access/audit")
    key = evidence_key.sandbox_key(sandbox.state_dir(story.path))
    assert parameters["signing_key_sha256"] == evidence_key.fingerprint(key.verify_key)


def test_the_summary_page_is_self_contained_and_escaped(pack: Path) -> None:
    page = (pack / "summary.html").read_text(encoding="utf-8")
    assert (
        page.startswith("<!DOCTYPE html>")
        and "<script" not in page
        and "http" not in page.split("</style>")[0]
    )
    assert "Held back by the approval gate" in page and "pull-request" in page
    assert "Identity Data Admin" in page and "mike" in page


# ---------------------------------------------------------------- the same bytes, verified


def test_a_rerun_is_byte_identical_and_verifies(story: Story, pack: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    result = access(story.path, "evidence", "--sandbox", "--period", PERIOD, "--out", str(again))
    assert result.code == 0, result.err
    names = sorted(p.name for p in pack.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert names == sorted([
        "SHA256SUMS", "SHA256SUMS.sig", "VERIFY.txt", "accounts.csv", "changes.csv", "counts.csv",
        "evidence.pub", "leavers.csv", "parameters.csv", "population.csv", "recertifications.csv", "summary.html",
    ])  # fmt: skip
    for name in names:
        assert (pack / name).read_bytes() == (again / name).read_bytes(), name
    verified = access(story.path, "evidence", "verify", "--sandbox", str(pack))
    assert verified.code == 0, verified.out
    assert verified.out.startswith(f"✓ {pack}: 10 files match SHA256SUMS, signed by the sandbox's own key")


def test_an_auditor_checks_the_pack_with_standard_tools_alone(pack: Path) -> None:
    if shutil.which("sha256sum") is None or shutil.which("openssl") is None:
        pytest.skip("sha256sum or openssl is not installed")
    sums = subprocess.run(
        ["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=pack, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "evidence.pub", "-rawin", "-in", "SHA256SUMS",
               "-sigfile", "SHA256SUMS.sig"]  # fmt: skip
    signed = subprocess.run(command, cwd=pack, capture_output=True, text=True)
    assert signed.returncode == 0 and "Signature Verified Successfully" in signed.stdout, signed.stderr


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("row", "changes.csv: its SHA-256 is not the one signed in SHA256SUMS: the file was changed"),
        ("manifest", "SHA256SUMS.sig: the signature does not verify with the sandbox's own key"),
        ("signature", "SHA256SUMS.sig: the signature does not verify with the sandbox's own key"),
        ("removed", "leavers.csv: missing (listed in SHA256SUMS)"),
        ("added", "extra.csv: not listed in SHA256SUMS: added after signing"),
    ],
)
def test_a_tampered_file_or_signature_is_named_in_one_line(
    story: Story, pack: Path, tmp_path: Path, tamper: str, named: str
) -> None:
    copy = tmp_path / "pack"
    shutil.copytree(pack, copy)
    if tamper == "row":  # an approval credited to someone else
        path = copy / "changes.csv"
        path.write_text(path.read_text(encoding="utf-8").replace("hbrandt", "mallory", 1), encoding="utf-8")
    elif tamper == "manifest":  # the row changed and the manifest made to match it
        path = copy / "changes.csv"
        path.write_text(path.read_text(encoding="utf-8").replace("hbrandt", "mallory", 1), encoding="utf-8")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines = (copy / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
        fixed = [f"{digest}  changes.csv" if line.endswith("  changes.csv") else line for line in lines]
        (copy / "SHA256SUMS").write_text("\n".join(fixed) + "\n", encoding="utf-8")
    elif tamper == "signature":  # re-signed with another key
        other = evidence_key.generate()
        (copy / "SHA256SUMS.sig").write_bytes(evidence_key.sign(other, (copy / "SHA256SUMS").read_bytes()))
    elif tamper == "removed":
        (copy / "leavers.csv").unlink()
    else:
        (copy / "extra.csv").write_text("a,b\n", encoding="utf-8")
    result = access(story.path, "evidence", "verify", "--sandbox", str(copy))
    assert result.code == 1
    assert result.out.count("\n") == 1 and result.out.startswith(f"✗ {copy}/{named}"), result.out


# ---------------------------------------------------------------- keys


def test_keygen_and_a_pack_signed_with_the_live_key_verified_with_the_committed_public_key(
    story: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(story.path, repo)
    made = access(repo, "evidence", "keygen", "--public", str(repo / "policies/evidence.pub"))
    assert made.code == 0, made.err
    secret = next(
        line.split("=", 1)[1]
        for line in made.out.splitlines()
        if line.startswith("ACCESS_EVIDENCE_SIGNING_KEY=")
    )
    assert "-----BEGIN PUBLIC KEY-----" in made.out
    key = evidence_key.parse_private(secret)
    assert (repo / "policies/evidence.pub").read_text(encoding="utf-8") == evidence_key.public_pem(
        key.verify_key
    )
    sandbox_key = evidence_key.sandbox_key(sandbox.state_dir(repo))
    monkeypatch.setenv("ACCESS_EVIDENCE_SIGNING_KEY", evidence_key.private_text(sandbox_key))
    monkeypatch.setenv(
        "ACCESS_APPLY_POINT_KEY", (sandbox.state_dir(repo) / "apply-point.key").read_text().strip()
    )
    monkeypatch.setenv("GITHUB_REPOSITORY", "harborbuild/access")
    wrong = access(repo, "evidence", "--period", PERIOD, "--out", str(tmp_path / "wrong"), "--no-sync")
    assert wrong.code == 1 and "is not the private half of policies/evidence.pub" in wrong.err, wrong.err
    assert "sekrit" not in wrong.err and evidence_key.private_text(sandbox_key) not in wrong.err + wrong.out
    monkeypatch.setenv("ACCESS_EVIDENCE_SIGNING_KEY", secret)
    out = tmp_path / "live"
    made = access(repo, "evidence", "--period", PERIOD, "--out", str(out), "--no-sync")
    assert made.code == 0, made.err
    assert "signed with policies/evidence.pub" in made.out
    assert access(repo, "evidence", "verify", str(out)).code == 0
    other = tmp_path / "other.pub"
    other.write_text(evidence_key.public_pem(evidence_key.generate().verify_key), encoding="utf-8")
    refused = access(repo, "evidence", "verify", str(out), "--key", str(other))
    assert refused.code == 1 and "the signature does not verify with" in refused.out


def test_without_the_signing_key_the_pack_is_refused_naming_what_to_set(story: Story, tmp_path: Path) -> None:
    result = access(story.path, "evidence", "--period", PERIOD, "--out", str(tmp_path / "x"))
    assert result.code == 1
    assert "ACCESS_EVIDENCE_SIGNING_KEY is not set" in result.err and "access evidence keygen" in result.err
    assert not (tmp_path / "x").exists()


def test_a_cell_a_spreadsheet_would_run_is_written_as_text() -> None:
    text = csv_text(("a", "b"), [('=HYPERLINK("x")', "plain"), ("@SUM(1)", "-1+1"), ("ok", "a,=b")])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["a", "b"], ['\'=HYPERLINK("x")', "plain"], ["'@SUM(1)", "'-1+1"], ["ok", "a,=b"]]


def test_the_summary_shows_hostile_names_as_text_in_a_browser(tmp_path: Path) -> None:
    from reconciler.evidence import CHANGE_COLUMNS, LEAVER_COLUMNS
    from reconciler.render.evidence import render_summary
    from tests.test_report import dump_dom

    hostile = '<img src=x onerror="document.title=1">'
    change = dict.fromkeys(CHANGE_COLUMNS, "")
    change.update(
        kind="held", basis="held", outcome="held", resource=hostile, principal="a@b", rule="pull-request"
    )
    leaver = dict.fromkeys(LEAVER_COLUMNS, "")
    leaver.update(person=f"</td><script>{hostile}</script>", vendor="pingone")
    page = tmp_path / "summary.html"
    page.write_text(
        render_summary(
            title=f"Access evidence {hostile}", parameters=[("note", hostile)], counts=[],
            changes=[tuple(change.values())], leavers=[tuple(leaver.values())], recertifications=[], files={},
        ),
        encoding="utf-8",
    )  # fmt: skip
    text = page.read_text(encoding="utf-8")
    assert "<img" not in text and "<script" not in text and text.count("&lt;img src=x") == 5
    dom = dump_dom(page)
    assert "<img" not in dom and "<script" not in dom.split("</head>", 1)[1], "shown as text, never markup"


def test_the_packs_tables_and_page_are_pure() -> None:
    """What makes the tables and the page imports no git, HTTP client, console or settings."""
    code = (
        "import sys, reconciler.evidence, reconciler.periods, reconciler.render.evidence\n"
        "print(sorted(m for m in ('git', 'httpx', 'rich', 'reconciler.settings') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    assert done.stdout.strip() == "[]"


def test_a_period_that_has_not_ended_is_said_so(
    story: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pack is evidence of a period that is over; one asked for sooner says it will change."""
    monkeypatch.setenv("ACCESS_TODAY", TODAY.isoformat())
    early = access(story.path, "evidence", "--sandbox", "--period", PERIOD, "--out", str(tmp_path / "early"))
    assert early.code == 0, early.err
    assert f"has not ended (it ends {TODAY + dt.timedelta(days=1)})" in early.err
    monkeypatch.setenv("ACCESS_TODAY", (TODAY + dt.timedelta(days=2)).isoformat())
    later = access(story.path, "evidence", "--sandbox", "--period", PERIOD, "--out", str(tmp_path / "later"))
    assert later.code == 0 and "has not ended" not in later.err
