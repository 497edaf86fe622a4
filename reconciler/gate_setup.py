"""What the approval gate reads before it judges anything: the repository, the apply point's key
and which repository the apply point is signed for.

Apart from `reconciler.gate` (which re-exports them) so that a command that only asks whether
approvals can be read at all (`access report`, `access why` without a key) loads no GitHub client,
planner or simulator for it.
"""

from __future__ import annotations

from pathlib import Path

import git

from reconciler import apply_point, github_local
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source
from reconciler.errors import AccessError, ConfigError
from reconciler.git_repo import check_readable

REPOSITORY_ENV = "GITHUB_REPOSITORY"


def open_repo(path: Path) -> git.Repo:
    check_readable(path)
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise AccessError(
            f"{path} is not in a git repository: the approval gate needs the repository's history"
        ) from None


def signing_key(ctx: AppContext, source: Source) -> bytes:
    if source.sandbox:
        from reconciler import sandbox  # the simulators load only for --sandbox

        return apply_point.sandbox_key(sandbox.state_dir(ctx.repo))
    return apply_point.key_from_env(ctx.env)


def repository_identity(ctx: AppContext, source: Source) -> str:
    """Which repository the apply point belongs to: `GITHUB_REPOSITORY` (Actions sets it), the
    sandbox's simulated repository, or the `origin` remote on github.com."""
    if source.sandbox:
        from reconciler import sandbox

        return sandbox.github_repository(ctx.repo)
    found = github_local.with_repository(ctx.env, ctx.repo).repository.strip()
    if not found:
        raise ConfigError(
            f"{REPOSITORY_ENV} is not set and the origin remote is not on github.com: the apply point is "
            "signed for one repository (owner/name); set GITHUB_REPOSITORY"
        )
    return found
