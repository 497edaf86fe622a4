"""`reconciler.git_tree.export_tree` and `access export-tree`: a commit's access/ and policies/ as the
blobs of its tree, whatever its `.gitattributes` say, in a real git repository.

`git archive`, which the plan workflow used, honours `export-ignore` (a file left out: the preview
said "No changes" while the gate saw the grant), `export-subst` and `ident` (text rewritten) and
`eol` (line endings changed). The gate reads blobs; so must the preview.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from reconciler.errors import AccessError
from reconciler.git_tree import export_tree, yaml_blobs
from reconciler.loader import FileCache, read_blobs, read_files
from tests.helpers import run_cli

NEW = b"# granted by a file the archive leaves out\npingone:\n  groups:\n    VPN: [carol]\n"
SUBST = b"# $Format:%H$ and $Format:%an$ stay as written\npingone: {}\n"
IDENT = b"# $Id$\npingone: {}\n"
CRLF = b"# line endings as committed\npingone: {}\n"
ATTRIBUTES = (
    "access/new.yaml export-ignore\n"
    "access/subst.yaml export-subst\n"
    "access/ident.yaml ident\n"
    "access/crlf.yaml text eol=crlf\n"
    "policies/* export-ignore\n"
)


def commit(repo: git.Repo, files: dict[str, bytes], message: str) -> str:
    root = Path(repo.working_dir)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    repo.git.add("--all")
    return str(repo.index.commit(message).hexsha)


def blobs(repo: git.Repo, sha: str) -> dict[str, bytes]:
    """Every file of access/ and policies/ at `sha`, as git stores it."""
    names = repo.git.ls_tree("-r", "--name-only", sha, "access", "policies").splitlines()
    return {
        name: repo.git.cat_file(
            "blob", f"{sha}:{name}", stdout_as_string=False, strip_newline_in_stdout=False
        )
        for name in names
    }


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def attributed(git_repo: Callable[..., git.Repo]) -> tuple[git.Repo, str]:
    """The example repository, then a commit whose .gitattributes would hide and rewrite files."""
    repo = git_repo()
    sha = commit(
        repo,
        {
            ".gitattributes": ATTRIBUTES.encode(),
            "access/.gitattributes": b"people.yaml export-ignore\n",
            "access/new.yaml": NEW,
            "access/subst.yaml": SUBST,
            "access/ident.yaml": IDENT,
            "access/crlf.yaml": CRLF,
        },
        "a grant the archive would not show",
    )
    return repo, sha


def test_the_attributes_really_bend_git_archive(attributed: tuple[git.Repo, str]) -> None:
    repo, sha = attributed
    tar = repo.git.archive(sha, "access", "policies", stdout_as_string=False, strip_newline_in_stdout=False)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archived:
        read = {m.name: archived.extractfile(m).read() for m in archived.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert "access/new.yaml" not in read and "access/people.yaml" not in read
    assert not any(n.startswith("policies/") for n in read)
    assert read["access/subst.yaml"] != SUBST and read["access/ident.yaml"] != IDENT
    assert read["access/crlf.yaml"] == CRLF.replace(b"\n", b"\r\n")


def test_every_file_is_written_byte_for_byte_whatever_the_attributes(
    attributed: tuple[git.Repo, str], tmp_path: Path
) -> None:
    repo, sha = attributed
    dest = tmp_path / "pull-request"
    export_tree(repo, sha, dest)
    written = files(dest)
    assert written == blobs(repo, sha), "exactly the tree's blobs: none left out, none rewritten"
    assert written["access/new.yaml"] == NEW and written["access/subst.yaml"] == SUBST
    assert written["access/ident.yaml"] == IDENT and written["access/crlf.yaml"] == CRLF
    assert "access/people.yaml" in written and any(n.startswith("policies/") for n in written)
    assert ".gitattributes" not in written, "only access/ and policies/"


def test_only_the_tops_asked_for_and_a_missing_top_is_left_out(
    git_repo: Callable[..., git.Repo], tmp_path: Path
) -> None:
    repo = git_repo()
    sha = commit(repo, {"README.md": b"docs\n"}, "docs")
    export_tree(repo, sha, tmp_path / "a", tops=("access",))
    assert {n.split("/")[0] for n in files(tmp_path / "a")} == {"access"}
    export_tree(repo, sha, tmp_path / "b", tops=("access", "nothing-here"))
    assert files(tmp_path / "b") == files(tmp_path / "a")


def test_a_symlink_is_refused_with_one_line(git_repo: Callable[..., git.Repo], tmp_path: Path) -> None:
    repo = git_repo()
    os.symlink("/etc/passwd", Path(repo.working_dir) / "access" / "extra.yaml")
    sha = commit(repo, {}, "a link out of the tree")
    with pytest.raises(AccessError) as raised:
        export_tree(repo, sha, tmp_path / "out")
    assert raised.value.message == f"access/extra.yaml: a symbolic link in access/ at {sha[:12]}: not allowed"


def test_a_top_that_is_a_symlink_is_refused(git_repo: Callable[..., git.Repo], tmp_path: Path) -> None:
    repo = git_repo(with_example=False)
    root = Path(repo.working_dir)
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "people.yaml").write_text("people: {}\n", encoding="utf-8")
    os.symlink("elsewhere", root / "access")
    sha = commit(repo, {}, "access/ is a link")
    with pytest.raises(AccessError) as raised:
        export_tree(repo, sha, tmp_path / "out")
    assert raised.value.message == f"access: a symbolic link at {sha[:12]}, not a directory: not allowed"


def test_the_command_writes_into_an_empty_directory_and_says_what_it_wrote(
    attributed: tuple[git.Repo, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, sha = attributed
    dest = tmp_path / "pull-request"
    code, out, err = run_cli(capsys, "--repo", repo.working_dir, "export-tree", sha, str(dest))
    assert code == 0, err
    assert files(dest) == blobs(repo, sha)
    assert out.strip() == f"access/ and policies/ of {sha[:12]}: {len(files(dest))} file(s) written to {dest}"

    code, _, err = run_cli(capsys, "--repo", repo.working_dir, "export-tree", sha, str(dest))
    assert (code, err.strip()) == (1, f"{dest}: not an empty directory; export into a new one")
    code, _, err = run_cli(capsys, "--repo", repo.working_dir, "export-tree", "f" * 40, str(tmp_path / "x"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "no such commit" in err


def test_the_command_refuses_a_symlink_in_one_line(
    git_repo: Callable[..., git.Repo], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_repo()
    os.symlink("../../../etc/passwd", Path(repo.working_dir) / "policies" / "approvers.local.yaml")
    sha = commit(repo, {}, "a link out of the tree")
    code, out, err = run_cli(capsys, "--repo", repo.working_dir, "export-tree", sha, str(tmp_path / "out"))
    assert (code, out) == (1, "")
    assert (
        err.strip()
        == f"policies/approvers.local.yaml: a symbolic link in policies/ at {sha[:12]}: not allowed"
    )


def test_the_gate_reads_a_commits_yaml_as_a_checkout_of_it_reads(
    attributed: tuple[git.Repo, str], tmp_path: Path
) -> None:
    """`yaml_blobs` + `read_blobs` (what the gate compiles each landing from) give the files the
    loader reads from the exported tree, and a blob seen before is not read again."""
    repo, sha = attributed
    export_tree(repo, sha, tmp_path / "tree")
    checkout = read_files(tmp_path / "tree")
    cache: FileCache = {}
    found = yaml_blobs(repo, sha, "access")
    yaml = sorted(f"access/{n}" for n in files(tmp_path / "tree/access") if n.endswith((".yaml", ".yml")))
    assert [name for name, _, _ in found] == yaml
    first = read_blobs(found, cache)
    assert [(f.document.file, f.model) for f in first.files] == [
        (f.document.file, f.model) for f in checkout.files
    ]

    def unread(name: str) -> Callable[[], bytes]:
        def read() -> bytes:
            raise AssertionError(f"{name} read again")

        return read

    again = read_blobs([(name, blob, unread(name)) for name, blob, _ in found], cache)
    assert again.files == first.files and again.digest == first.digest
    with pytest.raises(AccessError, match="no such directory"):
        yaml_blobs(repo, sha, "nothing-here")
