"""The audit trail in git (`refs/access/audit`): appended, verified, and every tamper caught through
`access audit verify`, in real git repositories. Tampering is done with git's own plumbing, as a
repository writer without the key would do it."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from reconciler import apply_point, audit_trail, sandbox
from reconciler.errors import ConfigError, RefusedError
from tests.helpers import run_cli

KEY = b"0123456789abcdef0123456789abcdef"
OTHER_KEY = b"fedcba9876543210fedcba9876543210"
REPO = "harborbuild/access"
DAY = 86_400
T0 = 1_795_410_000  # 2026-11-23T05:00:00Z
ROOT = Path(__file__).resolve().parents[1]


def entry(n: int, *, approver: str = "bob", outcome: str = "applied") -> dict[str, Any]:
    """An audit line as `reconciler.audit.entry` makes it."""
    return {
        "time": audit_trail.iso(T0 + n * DAY).replace("Z", "+00:00"),
        "run": f"run-{n}",
        "commit": f"{n:040x}",
        "vendor": "pingone",
        "action": "grant",
        "tenant": "env-1",
        "principal": "carol@harbor.example",
        "person": "carol",
        "resource_type": "group",
        "resource": "VPN",
        "entitlement": "member",
        "before": None,
        "source": "access/pingone.yaml:12",
        "outcome": outcome,
        "message": "",
        "vendor_ref": f"ref-{n}",
        "basis": "approved",
        "pull_request": 40 + n,
        "pull_request_url": f"https://github.com/{REPO}/pull/{40 + n}",
        "requested_by": "alice",
        "approved_by": [approver],
        "approvals": [{"login": approver, "at": audit_trail.iso(T0 + n * DAY - 3600)}],
        "pull_request_head": f"{n + 100:040x}",
        "landed_in": f"{n:040x}",
    }


def three_runs(repo: git.Repo, *, key: bytes = KEY, repository: str = REPO) -> list[str]:
    return [
        audit_trail.append(repo, key, repository, [entry(n), entry(n, approver="dave")], run=f"run-{n}", when=T0 + n * DAY)
        for n in range(3)
    ]  # fmt: skip


@pytest.fixture
def repo(git_repo: Callable[..., git.Repo]) -> git.Repo:
    return git_repo("trail", with_example=False)


@pytest.fixture
def live_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(apply_point.KEY_ENV, KEY.decode())
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)


def verify_cli(capsys: pytest.CaptureFixture[str], repo: git.Repo, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--repo", str(repo.working_dir), "audit", "verify", *args)


# ------------------------------------------------------------------ plumbing a forger would use


def raw(repo: git.Repo, sha: str) -> str:
    return str(repo.git.cat_file("commit", sha)) + "\n"


def plumbing(repo: git.Repo, *args: str, data: bytes) -> str:
    """A git plumbing command fed `data` on stdin; its output's first line."""
    done = subprocess.run(["git", *args], input=data, cwd=repo.working_dir, capture_output=True, check=True)
    return done.stdout.decode().strip()


def write_object(repo: git.Repo, kind: str, data: bytes) -> str:
    return plumbing(repo, "hash-object", "-w", "-t", kind, "--stdin", data=data)


def with_entries(repo: git.Repo, text: bytes) -> str:
    """A tree holding `text` as entries.jsonl."""
    blob = write_object(repo, "blob", text)
    return plumbing(repo, "mktree", data=f"100644 blob {blob}\tentries.jsonl\n".encode())


def forge(repo: git.Repo, sha: str, *, parent: str | None = None, tree: str | None = None,
          fields: dict[str, str] | None = None) -> str:  # fmt: skip
    """Record `sha` rewritten: another parent, tree or message fields; everything else as it was."""
    text = raw(repo, sha)
    if parent is not None:
        text = re.sub(r"^parent [0-9a-f]+$", f"parent {parent}", text, count=1, flags=re.M)
    if tree is not None:
        text = re.sub(r"^tree [0-9a-f]+$", f"tree {tree}", text, count=1, flags=re.M)
    for name, value in (fields or {}).items():
        text = re.sub(
            rf"^access-audit-{name}: .*$", f"access-audit-{name}: {value}", text, count=1, flags=re.M
        )
    return write_object(repo, "commit", text.encode())


def entries_of(repo: git.Repo, sha: str) -> str:
    return str(repo.git.show(f"{sha}:entries.jsonl")) + "\n"


def move_ref(repo: git.Repo, sha: str) -> None:
    repo.git.update_ref(audit_trail.REF, sha)


# ------------------------------------------------------------------ the chain


def test_three_runs_appended_verify_intact_through_the_cli(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = three_runs(repo)
    assert repo.git.rev_parse(audit_trail.REF) == ids[-1]
    assert (
        str(repo.git.rev_list("--reverse", audit_trail.REF)).split() == ids
    )  # git's own history is the chain
    code, out, err = verify_cli(capsys, repo)
    assert (code, out) == (
        0,
        "✓ refs/access/audit: 3 records, chain intact, 2026-11-23T05:00:00Z\u20132026-11-25T05:00:00Z\n",
    )
    assert ids[-1] in err

    found = audit_trail.verify(repo, KEY, REPO)
    assert found == audit_trail.Verification(ids[-1], 3, T0, T0 + 2 * DAY, None) and found.intact
    chain = audit_trail.records(repo, KEY, REPO)
    assert [(r.id, r.sequence, r.previous, r.run, r.when) for r in chain] == [
        (ids[0], 1, None, "run-0", T0), (ids[1], 2, ids[0], "run-1", T0 + DAY),
        (ids[2], 3, ids[1], "run-2", T0 + 2 * DAY),
    ]  # fmt: skip
    assert chain[1].entries == (entry(1), entry(1, approver="dave"))


def test_a_record_reads_as_git_shows_it(repo: git.Repo) -> None:
    first, second, _ = three_runs(repo)
    text = raw(repo, second)
    lines = entries_of(repo, second)
    digest = hashlib.sha256(lines.encode()).hexdigest()
    mac = audit_trail.mac(KEY, REPO, first, 2, "run-1", T0 + DAY, digest)
    assert text.split("\n", 1)[1] == (
        f"parent {first}\n"
        f"author access <access@localhost> {T0 + DAY} +0000\ncommitter access <access@localhost> {T0 + DAY} +0000\n\n"
        "access audit record 2: run run-1, 2 entries\n\n"
        f"access-audit-repository: {REPO}\naccess-audit-sequence: 2\naccess-audit-run: run-1\n"
        f"access-audit-time: {T0 + DAY}\naccess-audit-entries-sha256: {digest}\naccess-audit-mac: {mac}\n"
    )
    assert lines == "".join(
        json.dumps(e, sort_keys=True) + "\n" for e in (entry(1), entry(1, approver="dave"))
    )
    assert str(repo.git.ls_tree("--name-only", second)) == "entries.jsonl"


def test_the_mac_is_domain_separated_from_the_apply_points() -> None:
    sha = "a" * 40
    assert audit_trail.mac(KEY, REPO, None, 1, "r", 0, "0" * 64) != apply_point.mac(KEY, REPO, sha, sha, "")
    # The repository is casefolded (GitHub's names are case-insensitive); everything else counts.
    base = audit_trail.mac(KEY, REPO, sha, 2, "r", 5, "0" * 64)
    assert audit_trail.mac(KEY, "HarborBuild/Access", sha, 2, "r", 5, "0" * 64) == base
    for changed in (
        audit_trail.mac(KEY, "harborbuild/other", sha, 2, "r", 5, "0" * 64),
        audit_trail.mac(KEY, REPO, "b" * 40, 2, "r", 5, "0" * 64),
        audit_trail.mac(KEY, REPO, sha, 3, "r", 5, "0" * 64),
        audit_trail.mac(KEY, REPO, sha, 2, "s", 5, "0" * 64),
        audit_trail.mac(KEY, REPO, sha, 2, "r", 6, "0" * 64),
        audit_trail.mac(KEY, REPO, sha, 2, "r", 5, "1" * 64),
        audit_trail.mac(OTHER_KEY, REPO, sha, 2, "r", 5, "0" * 64),
    ):
        assert changed != base


def test_the_same_inputs_give_the_same_object_ids_in_two_fresh_repositories(
    git_repo: Callable[..., git.Repo],
) -> None:
    one = git_repo("one", with_example=False)
    two = git_repo("two", with_example=False)
    # Configuration that would change a commit made by `git commit`: none of it reaches a record.
    with two.config_writer() as config:
        config.set_value("user", "name", "Someone Else")
        config.set_value("commit", "gpgsign", "true")
        config.set_value("gpg", "program", "/bin/false")
        config.set_value("i18n", "commitEncoding", "ISO-8859-1")
    assert three_runs(one) == three_runs(two)
    # ... and a different input, a different record
    other = git_repo("three", with_example=False)
    audit_trail.append(other, KEY, REPO, [entry(0)], run="run-0", when=T0)
    assert audit_trail.records(other, KEY, REPO)[0].id != audit_trail.records(one, KEY, REPO)[0].id


def test_an_empty_run_is_a_record_too(repo: git.Repo) -> None:
    sha = audit_trail.append(repo, KEY, REPO, [], run="run-0", when=T0)
    (record,) = audit_trail.records(repo, KEY, REPO)
    assert (record.id, record.entries) == (sha, ())
    assert "0 entries" in raw(repo, sha)


def test_no_trail_yet(repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit_trail.records(repo, KEY, REPO) == ()
    assert audit_trail.verify(repo, KEY, REPO) == audit_trail.Verification(None, 0, None, None)
    code, out, _ = verify_cli(capsys, repo)
    assert code == 1
    assert out.startswith("✗ refs/access/audit: no audit records here")
    assert "git fetch origin refs/access/audit:refs/access/audit" in out


# ------------------------------------------------------------------ every tamper, caught by the CLI


def _assert_broken(
    capsys: pytest.CaptureFixture[str], repo: git.Repo, position: int, sha: str, why: str
) -> None:
    code, out, _ = verify_cli(capsys, repo)
    assert code == 1, out
    assert out.startswith(f"✗ refs/access/audit: record {position} ({sha[:12]}) "), out
    assert why in out, out
    assert out.count("\n") == 1
    with pytest.raises(RefusedError, match=re.escape(f"record {position} ({sha[:12]})")):
        audit_trail.records(repo, KEY, REPO)


@pytest.mark.parametrize("position", [1, 2, 3])
def test_an_entry_rewritten_is_caught(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str], position: int
) -> None:
    ids = three_runs(repo)
    old = ids[position - 1]
    tree = with_entries(repo, entries_of(repo, old).replace('"bob"', '"mallory"').encode())
    forged = forge(repo, old, tree=tree)  # a new object with the old message, MAC and all
    head = forged
    for sha in ids[position:]:  # the records after it, re-parented onto the forgery
        head = forge(repo, sha, parent=head)
    move_ref(repo, head)
    _assert_broken(capsys, repo, position, forged, "entries that are not the ones signed")


def test_a_rewritten_entry_with_its_digest_updated_fails_the_mac(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = three_runs(repo)
    text = entries_of(repo, ids[2]).replace('"applied"', '"failed"').encode()
    forged = forge(
        repo,
        ids[2],
        tree=with_entries(repo, text),
        fields={"entries-sha256": hashlib.sha256(text).hexdigest()},
    )
    move_ref(repo, forged)
    _assert_broken(capsys, repo, 3, forged, "is not signed with this key for harborbuild/access")


def test_a_record_dropped_from_the_middle_is_caught(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, third = three_runs(repo)
    forged = forge(repo, third, parent=first)
    move_ref(repo, forged)
    _assert_broken(capsys, repo, 2, forged, "says it is record 3: a record before it is missing")


def test_a_record_dropped_and_the_rest_renumbered_fails_the_mac(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, third = three_runs(repo)
    forged = forge(repo, third, parent=first, fields={"sequence": "2"})
    move_ref(repo, forged)
    _assert_broken(capsys, repo, 2, forged, "is not signed")


def test_two_records_swapped_are_caught(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third = three_runs(repo)
    new_third = forge(repo, third, parent=first)
    new_second = forge(repo, second, parent=new_third)
    move_ref(repo, new_second)
    _assert_broken(capsys, repo, 2, new_third, "says it is record 3")


def test_a_record_signed_with_another_key_is_caught(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = three_runs(repo)
    # A writer without the key adds a fourth record, well formed, MAC made with a key of their own.
    text = json.dumps(entry(9, approver="mallory"), sort_keys=True).encode() + b"\n"
    digest = hashlib.sha256(text).hexdigest()
    when = T0 + 9 * DAY
    signature = audit_trail.mac(OTHER_KEY, REPO, ids[2], 4, "run-9", when, digest)
    forged = forge(
        repo, ids[2], parent=ids[2], tree=with_entries(repo, text),
        fields={"sequence": "4", "run": "run-9", "time": str(when), "entries-sha256": digest, "mac": signature},
    )  # fmt: skip
    move_ref(repo, forged)
    _assert_broken(capsys, repo, 4, forged, "is not signed with this key for harborbuild/access")
    # ... and a whole chain under another key fails at its first record
    other = git.Repo.init(Path(repo.working_dir).parent / "other")
    three_runs(other, key=OTHER_KEY)
    repo.git.fetch(other.git_dir, f"+{audit_trail.REF}:{audit_trail.REF}")
    _assert_broken(capsys, repo, 1, audit_trail.records(other, OTHER_KEY, REPO)[0].id, "with this key")


def test_a_chain_from_another_repository_with_the_same_key_is_caught(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    other = git.Repo.init(Path(repo.working_dir).parent / "other")
    ids = three_runs(other, repository="harborbuild/access-staging")  # the same key, another repository
    repo.git.fetch(other.git_dir, f"+{audit_trail.REF}:{audit_trail.REF}")
    _assert_broken(
        capsys, repo, 1, ids[0], "was written for harborbuild/access-staging, not harborbuild/access"
    )
    # Relabelled to claim this repository: the MAC still names the other one.
    forged = forge(repo, ids[0], fields={"repository": REPO})
    head = forged
    for sha in ids[1:]:
        head = forge(repo, sha, parent=head, fields={"repository": REPO})
    move_ref(repo, head)
    _assert_broken(capsys, repo, 1, forged, "is not signed with this key for harborbuild/access as record 1:")


def test_an_edited_author_or_date_is_caught(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = three_runs(repo)
    text = raw(repo, ids[2]).replace("author access <access@localhost>", "author mallory <m@evil.example>")
    forged = write_object(repo, "commit", text.encode())
    move_ref(repo, forged)
    _assert_broken(capsys, repo, 3, forged, "not byte for byte the record access writes")


def test_a_merge_or_a_ref_moved_to_a_branch_is_caught(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = three_runs(repo)
    text = raw(repo, ids[2]).replace(f"parent {ids[1]}\n", f"parent {ids[1]}\nparent {ids[0]}\n")
    merge = write_object(repo, "commit", text.encode())
    move_ref(repo, merge)
    _assert_broken(capsys, repo, 3, merge, "is a merge of 2 commits")
    (Path(repo.working_dir) / "f").write_text("x", encoding="utf-8")
    repo.index.add(["f"])
    commit = repo.index.commit("a commit")
    move_ref(repo, commit.hexsha)
    _assert_broken(capsys, repo, 1, commit.hexsha, "is not an audit record")
    tree = with_entries(repo, b"")
    move_ref(
        repo,
        plumbing(
            repo, "mktag", data=f"object {tree}\ntype tree\ntag x\ntagger a <a@b> 0 +0000\n\nx\n".encode()
        ),
    )
    code, out, _ = verify_cli(capsys, repo)
    assert code == 1 and "is a tag, not an audit record" in out


def test_the_ref_moved_back_verifies_alone_and_is_caught_with_the_head_noted(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a MAC cannot tell: records dropped from the END leave a shorter chain that is intact.
    Someone who noted the head (an auditor, or the apply point carrying it) catches it."""
    ids = three_runs(repo)
    code, out, _ = verify_cli(capsys, repo, "--expect", ids[2][:12])
    assert code == 0, out
    move_ref(repo, ids[1])
    code, out, _ = verify_cli(capsys, repo)
    assert (code, out.split(",")[0]) == (0, "✓ refs/access/audit: 2 records")  # alone: cannot tell
    code, out, _ = verify_cli(capsys, repo, "--expect", ids[2])
    assert code == 1
    assert out == (
        f"✗ refs/access/audit: the chain (2 records, head {ids[1][:12]}) does not contain record {ids[2]}: "
        "records were dropped from its end (the ref was moved back) or it is another chain\n"
    )
    found = audit_trail.verify(repo, KEY, REPO, expect=ids[2])
    assert (found.count, found.intact) == (2, False)
    assert audit_trail.verify(repo, KEY, REPO, expect=ids[0][:7]).intact


def test_append_never_builds_on_a_broken_chain(repo: git.Repo) -> None:
    first, _, third = three_runs(repo)
    forged = forge(repo, third, parent=first)
    move_ref(repo, forged)
    with pytest.raises(RefusedError, match=r"record 2 .* says it is record 3"):
        audit_trail.append(repo, KEY, REPO, [entry(4)], run="run-4", when=T0 + 4 * DAY)
    assert repo.git.rev_parse(audit_trail.REF) == forged
    with pytest.raises(RefusedError, match="with this key"):  # and never under another key
        audit_trail.append(repo, OTHER_KEY, REPO, [entry(4)], run="run-4", when=T0)


def test_append_refuses_a_run_label_that_is_not_one_line(repo: git.Repo) -> None:
    with pytest.raises(Exception, match="one non-empty line"):
        audit_trail.append(repo, KEY, REPO, [], run="1\naccess-audit-sequence: 9", when=T0)
    with pytest.raises(ConfigError, match="not a repository name"):
        audit_trail.append(repo, KEY, "", [], run="1", when=T0)


def test_entries_are_scrubbed_on_their_way_into_git(repo: git.Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGONE_CLIENT_SECRET", "sekrit-canary-value")
    from reconciler.scrub import Scrubber, scrubbing
    from reconciler.settings import environment

    with scrubbing(Scrubber.from_env(environment())):
        sha = audit_trail.append(repo, KEY, REPO, [{"message": "echo sekrit-canary-value"}], run="1", when=T0)
    assert "sekrit-canary" not in entries_of(repo, sha)
    assert audit_trail.records(repo, KEY, REPO)[0].entries == ({"message": "echo ***"},)


# ------------------------------------------------------------------ the CLI's settings and show


def test_the_repository_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert audit_trail.repository_identity({"GITHUB_REPOSITORY": "HarborBuild/Access"}, None) == REPO
    with pytest.raises(ConfigError, match="GITHUB_REPOSITORY is not set"):
        audit_trail.repository_identity({}, None)
    github = tmp_path / "github.sim.json"
    assert audit_trail.repository_identity({"GITHUB_REPOSITORY": REPO}, github) == "sandbox/access"
    github.write_text(json.dumps({"default_repository": "harborbuild/demo", "state": {}}), encoding="utf-8")
    assert audit_trail.repository_identity({}, github) == "harborbuild/demo"


def test_verify_without_the_key_or_the_repository_says_what_to_set(
    repo: git.Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    three_runs(repo)
    code, _, err = verify_cli(capsys, repo)
    assert code == 1 and "ACCESS_APPLY_POINT_KEY is not set" in err
    monkeypatch.setenv(apply_point.KEY_ENV, KEY.decode())
    code, _, err = verify_cli(capsys, repo)
    assert code == 1 and "GITHUB_REPOSITORY is not set" in err
    code, out, _ = verify_cli(capsys, repo, "--repository", "HarborBuild/Access")
    assert code == 0 and out.startswith("✓ refs/access/audit: 3 records, chain intact")
    monkeypatch.setenv("GITHUB_REPOSITORY", "harborbuild/renamed")
    code, out, _ = verify_cli(capsys, repo)
    assert code == 1 and "verify with --repository OLD/NAME" in out


def test_the_sandbox_uses_its_own_key_and_the_simulated_repository(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(repo.working_dir)
    key = apply_point.sandbox_key(sandbox.state_dir(path))
    sandbox.github_file(path).write_text(
        json.dumps({"default_repository": REPO, "state": {}}), encoding="utf-8"
    )
    three_runs(repo, key=key)
    code, out, _ = verify_cli(capsys, repo, "--sandbox")
    assert code == 0 and out.startswith("✓ refs/access/audit: 3 records, chain intact")
    sandbox.github_file(path).unlink()  # without the simulated GitHub: the fixed sandbox name
    code, out, _ = verify_cli(capsys, repo, "--sandbox")
    assert code == 1 and "was written for harborbuild/access, not sandbox/access" in out


def test_show_prints_who_approved_what_and_when(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = three_runs(repo)
    code, out, _ = run_cli(capsys, "--repo", str(repo.working_dir), "audit", "show")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"record 1  2026-11-23T05:00:00Z  run run-0  2 entries  ({ids[0][:12]})"
    assert lines[1] == (
        "  2026-11-23T05:00:00+00:00  grant pingone VPN member → carol: applied; PR #40 by alice; "
        "approved by bob (2026-11-23T04:00:00Z)"
    )
    assert len(lines) == 9 and "approved by dave" in lines[8]

    code, out, _ = run_cli(capsys, "--repo", str(repo.working_dir), "audit", "show", "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["repository"] == REPO
    assert [r["id"] for r in document["records"]] == ids
    assert document["records"][2]["entries"] == [entry(2), entry(2, approver="dave")]
    assert document["records"][0]["time"] == "2026-11-23T05:00:00Z"


def test_show_prints_nothing_of_a_broken_chain(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, third = three_runs(repo)
    move_ref(repo, forge(repo, third, parent=first))
    code, out, err = run_cli(capsys, "--repo", str(repo.working_dir), "audit", "show")
    assert (code, out) == (1, "")
    assert "record 2" in err and "says it is record 3" in err


# ------------------------------------------------------------------ the workflow carries the chain


def test_the_record_job_pushes_the_chain_fast_forward_only_without_project_code_or_secrets() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/apply.yml").read_text(encoding="utf-8"))
    apply_job, record = workflow["jobs"]["apply"], workflow["jobs"]["record"]
    fetch = next(
        s for s in apply_job["steps"] if s.get("name") == "Fetch the apply point and the pull requests' heads"
    )
    assert "refs/access/audit:refs/access/audit" in fetch["run"]
    hand = next(s for s in apply_job["steps"] if "git bundle create" in s.get("run", ""))
    assert hand["if"] == "${{ !cancelled() }}"
    assert apply_job["outputs"]["audit"] == "${{ steps.audit.outputs.moved }}"
    assert "needs.apply.outputs.audit == 'true'" in record["if"]
    assert record["permissions"] == {"contents": "write"}
    scripts = "\n".join(s.get("run", "") for s in record["steps"])
    assert "access " not in scripts and "pip" not in scripts and "secrets." not in yaml.safe_dump(record)
    pushes = [line.strip() for line in scripts.splitlines() if " push " in line]
    audit_push = next(p for p in pushes if "refs/access/audit" in p)
    assert "--force" not in audit_push and "+refs/access/audit" not in audit_push  # a fast-forward or nothing
    assert scripts.index('refs/access/audit:refs/access/audit"') < scripts.index("push --force origin")


def _step(job: str, name: str) -> str:
    workflow = yaml.safe_load((ROOT / ".github/workflows/apply.yml").read_text(encoding="utf-8"))
    script = next(s["run"] for s in workflow["jobs"][job]["steps"] if s.get("name") == name)
    assert isinstance(script, str)
    return script


class Job:
    """One job of apply.yml on a fresh clone of `origin`: its steps' scripts run with bash as Actions
    runs them (-e, pipefail), origin a local bare repository."""

    def __init__(self, origin: Path, where: Path) -> None:
        git.Repo.clone_from(origin, where)
        self.repo = git.Repo(where)
        self.temp = where.parent / f"{where.name}-temp"
        self.temp.mkdir()
        self.outputs: dict[str, str] = {}

    def run(self, job: str, name: str) -> subprocess.CompletedProcess[str]:
        output = self.temp / "github-output"
        output.write_text("", encoding="utf-8")
        env = {
            "PATH": "/usr/bin:/bin", "HOME": str(self.temp), "GITHUB_TOKEN": "not-a-token",
            "RUNNER_TEMP": str(self.temp), "GITHUB_OUTPUT": str(output), "GITHUB_RUN_ID": "7",
            "GITHUB_RUN_ATTEMPT": "1",
        }  # fmt: skip
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _step(job, name)],
            cwd=self.repo.working_dir, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        for line in output.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            self.outputs[key] = value
        return done


def apply_run(origin: Path, where: Path, n: int) -> Job:
    """apply.yml's apply job: fetch, apply (here: the append the apply wiring will make), bundle."""
    job = Job(origin, where)
    fetched = job.run("apply", "Fetch the apply point and the pull requests' heads")
    assert fetched.returncode == 0, fetched.stderr
    audit_trail.append(job.repo, KEY, REPO, [entry(n)], run=f"run-{n}", when=T0 + n * DAY)
    bundled = job.run("apply", "Bundle the new audit records for the record job")
    assert bundled.returncode == 0 and job.outputs == {"moved": "true"}, bundled.stderr
    return job


def record_run(origin: Path, where: Path, applied: Job) -> subprocess.CompletedProcess[str]:
    """apply.yml's record job, the apply job's bundle handed over as the artifact would be."""
    job = Job(origin, where)
    (job.temp / "audit-record").mkdir()
    shutil.copy(applied.temp / "audit-record" / "audit.bundle", job.temp / "audit-record" / "audit.bundle")
    return job.run("record", "Push the audit records (a fast-forward, or nothing)")


def test_the_workflow_carries_the_records_to_origin_and_a_raced_run_fails_without_overwriting(
    git_repo: Callable[..., git.Repo], tmp_path: Path
) -> None:
    seed = git_repo("seed", with_example=False)
    (Path(seed.working_dir) / "README").write_text("x\n", encoding="utf-8")
    seed.index.add(["README"])
    seed.index.commit("first")
    origin = tmp_path / "origin.git"
    git.Repo.clone_from(seed.working_dir, origin, bare=True)
    bare = git.Repo(origin)

    first = apply_run(origin, tmp_path / "apply-1", 0)  # the first run starts the trail
    assert (
        "no audit trail yet"
        in first.run("apply", "Fetch the apply point and the pull requests' heads").stdout
    )
    done = record_run(origin, tmp_path / "record-1", first)
    assert done.returncode == 0, done.stderr
    assert len(audit_trail.records(bare, KEY, REPO)) == 1

    # Two runs whose apply jobs both read the trail before either's record job pushed.
    second = apply_run(origin, tmp_path / "apply-2", 1)
    third = apply_run(origin, tmp_path / "apply-3", 2)
    assert (
        len(
            str(
                second.repo.git.bundle("list-heads", str(second.temp / "audit-record/audit.bundle"))
            ).splitlines()
        )
        == 1
    )
    done = record_run(origin, tmp_path / "record-2", second)
    assert done.returncode == 0, done.stderr
    pushed = bare.git.rev_parse(audit_trail.REF)
    raced = record_run(origin, tmp_path / "record-3", third)
    assert raced.returncode == 1
    assert "::error::refs/access/audit on origin is not an ancestor of this run's records" in raced.stdout
    assert "access-audit-record-7-1" in raced.stdout
    assert bare.git.rev_parse(audit_trail.REF) == pushed  # nothing overwritten
    assert [r.run for r in audit_trail.records(bare, KEY, REPO)] == ["run-0", "run-1"]

    # The next run extends what origin has.
    fourth = apply_run(origin, tmp_path / "apply-4", 3)
    assert record_run(origin, tmp_path / "record-4", fourth).returncode == 0
    assert [r.run for r in audit_trail.records(bare, KEY, REPO)] == ["run-0", "run-1", "run-3"]

    # Origin's ref moved back below a run's starting point: the bundle's prerequisite is gone.
    fifth = apply_run(origin, tmp_path / "apply-5", 4)
    bare.git.update_ref(audit_trail.REF, audit_trail.records(bare, KEY, REPO)[0].id)
    bare.git.reflog("expire", "--expire=now", "--all")
    bare.git.gc("--prune=now", "--quiet")
    moved_back = record_run(origin, tmp_path / "record-5", fifth)
    assert moved_back.returncode == 1
    assert (
        "::error::origin's refs/access/audit no longer holds the record this run extended"
        in moved_back.stdout
    )
    assert len(audit_trail.records(bare, KEY, REPO)) == 1


def test_a_record_whose_previous_is_missing_says_so(
    repo: git.Repo, live_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = three_runs(repo)
    forged = forge(repo, ids[2], parent="1" * 40)  # as a shallow fetch, or a record pruned away, leaves it
    move_ref(repo, forged)
    code, out, _ = verify_cli(capsys, repo)
    assert code == 1
    assert out.startswith(
        f"✗ refs/access/audit: record {forged[:12]}'s previous record 111111111111, which this"
    )
