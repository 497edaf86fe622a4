"""Where the repository is found from a subdirectory (`reconciler.repo_root`)."""

from __future__ import annotations

from pathlib import Path

from reconciler.repo_root import default_repo, find_root


def test_outside_git_the_nearest_folder_with_access_is_the_root_but_init_stays_put(tmp_path: Path) -> None:
    (tmp_path / "access" / "teams").mkdir(parents=True)
    deeper = tmp_path / "access" / "teams"
    assert find_root(deeper) == tmp_path
    assert default_repo(deeper) == Path("../..")
    assert default_repo(tmp_path) == Path(".")
    assert find_root(deeper, new=True) == deeper  # init writes: never into a folder above, outside git


def test_inside_git_the_work_tree_root_is_the_answer_when_nothing_nearer_holds_access(tmp_path: Path) -> None:
    (tmp_path / "access").mkdir()  # above the repository: not it
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "docs" / "x").mkdir(parents=True)
    assert find_root(repo / "docs" / "x") == repo
    assert find_root(repo / "docs" / "x", new=True) == repo / "docs" / "x"
    (repo / "policies").mkdir()
    assert find_root(repo / "docs" / "x", new=True) == repo
