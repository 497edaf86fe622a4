"""`access doctor --github`: what the approval gate needs on GitHub, checked read-only.

One ✓/✗ line each: the repository and token; the environments `access-read` and `access-apply`
allow only the default branch; every secret their jobs use (read from the workflows) is set there;
the default branch needs a pull request with approvals that a push dismisses and that cover the
last push, is up to date before merging, and cannot be force-pushed or deleted (its rulesets and
branch protection, as GitHub enforces them); CODEOWNERS covers `policies/`; the apply point
`refs/access/applied` exists on origin and verifies. Settings come from the environment, else from
the origin remote and `gh auth token` (`reconciler/github_local.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import git

from reconciler import apply_point
from reconciler.branch_rules import BranchFacts, Ruleset, branch_checks, code_owner_review
from reconciler.commands.context import AppContext
from reconciler.errors import AccessError, ConfigError, RefusedError, VendorError
from reconciler.github_admin import GitHubAdminReader
from reconciler.github_api import GitHubError, GitHubPermissionError, GitHubSettings
from reconciler.github_local import fetch_objects, ls_remote, remote_url
from reconciler.resources import data_dir
from reconciler.setup_checks import (
    ENVIRONMENTS,
    Check,
    codeowners_check,
    environment_check,
    environment_secrets,
    needed,
    secrets_check,
)

Report = Callable[[Check], None]
Note = Callable[[str], None]
NEW_POLICY = "policies/new-policy.yaml"  # a file not written yet must have an owner too
REFS_NOTE = (
    "refs/access/*: rulesets protect branches and tags only, so any writer can delete the apply point; "
    "apply then refuses until an administrator re-signs it (a stop, never a bypass)"
)


def _cannot_read(what: str, exc: GitHubError) -> str:
    return (
        f"the token cannot read {what} ({exc.message.split(' for ')[0]}): use a repository administrator's "
        "token (`gh auth login` as one, or a fine-grained token with read access to Administration, "
        "Environments and Secrets)"
    )


def workflow_texts(repo: Path) -> dict[str, str]:
    """The repository's workflows, or the ones `access init` writes when it has none."""
    here = repo / ".github" / "workflows"
    folder = here if here.is_dir() else data_dir("workflows")
    return {
        f".github/workflows/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    }


def _policy_paths(repo: Path) -> list[str]:
    folder = repo / "policies"
    files = (
        sorted(p.relative_to(repo).as_posix() for p in folder.rglob("*") if p.is_file())
        if folder.is_dir()
        else []
    )
    return [*files, NEW_POLICY]


async def _environments(client: GitHubAdminReader, branch: str, report: Report) -> set[str]:
    """Check both environments; returns the names that exist."""
    try:
        listed = {str(e.get("name", "")).casefold(): e for e in await client.environments()}
    except GitHubPermissionError as exc:
        for name in ENVIRONMENTS:
            report(Check("github", f"environment {name}", False, _cannot_read("environments", exc)))
        return set()
    for name in ENVIRONMENTS:
        environment = listed.get(name)
        policy = environment.get("deployment_branch_policy") if environment else None
        custom = policy is not None and policy["custom_branch_policies"]
        rules = await client.branch_policies(name) if custom else []
        report(environment_check(name, environment, rules, branch))
    return {name for name in ENVIRONMENTS if name in listed}


async def _secrets(
    client: GitHubAdminReader, repo: Path, vendors: Iterable[str], existing: set[str], report: Report
) -> None:
    used = environment_secrets(workflow_texts(repo))
    try:
        in_repository = await client.secret_names()
        in_organization = await client.organization_secret_names()
    except GitHubPermissionError as exc:
        for name in sorted(existing):
            report(Check("github", f"secrets of {name}", False, _cannot_read("secrets", exc)))
        return
    for name in ENVIRONMENTS:
        if name not in existing:
            continue  # its line above says to create it
        try:
            in_environment = await client.secret_names(name)
        except GitHubPermissionError as exc:
            report(Check("github", f"secrets of {name}", False, _cannot_read(f"{name}'s secrets", exc)))
            continue
        wanted = needed(used.get(name, {}), vendors)
        report(secrets_check(name, wanted, in_environment, in_repository, in_organization))


async def _branch(client: GitHubAdminReader, branch: str) -> BranchFacts:
    enforced = await client.branch_rules(branch)
    rulesets: dict[int, Ruleset] = {}
    for summary in await client.rulesets():
        ident = summary["id"]
        if summary.get("target", "branch") != "branch":
            continue
        rules: tuple[Mapping[str, Any], ...] = ()
        include: tuple[str, ...] = ()
        exclude: tuple[str, ...] = ()
        if summary["enforcement"] != "active":  # for a hint: would it do what is missing?
            details = await client.ruleset(ident)
            condition = (details.get("conditions") or {}).get("ref_name") or {}
            rules = tuple(details.get("rules") or ())
            include, exclude = tuple(condition.get("include") or ()), tuple(condition.get("exclude") or ())
        rulesets[ident] = Ruleset(
            ident, summary["name"], summary["enforcement"], summary.get("source_type", "Repository"),
            rules, include, exclude,
        )  # fmt: skip
    note = ""
    try:
        protection = await client.branch_protection(branch)
    except GitHubPermissionError as exc:
        protection, note = (
            None,
            f"its classic branch protection could not be read: {exc.message.split(' for ')[0]}",
        )
    return BranchFacts(branch, tuple(enforced), protection, rulesets, note)


def apply_point_check(ctx: AppContext, repository: str, branch: str) -> Check:
    """refs/access/applied on origin: it exists, names this repository, its commit is on the default
    branch, and (with ACCESS_APPLY_POINT_KEY here) its signature is valid."""
    name = "apply point"
    path = ctx.repo
    if remote_url(path) is None:
        return Check("github", name, False, "no origin remote here: run `access doctor --github` in a clone")
    listed = ls_remote(path, "origin", apply_point.REF, f"refs/heads/{branch}")
    if listed is None:
        return Check("github", name, False, "`git ls-remote origin` failed: check that git can reach origin")
    tag = listed.get(apply_point.REF)
    if tag is None:
        return Check(
            "github", name, False,
            f"{apply_point.REF} does not exist on origin: an administrator sets the first one, "
            f"`ACCESS_APPLY_POINT_KEY=... access apply-point set <commit in force>` then "
            f"`git push origin +{apply_point.REF}:{apply_point.REF}` (docs/approval.md)",
        )  # fmt: skip
    head = listed.get(f"refs/heads/{branch}")
    failed = fetch_objects(path, "origin", apply_point.REF, *([f"refs/heads/{branch}"] if head else []))
    if failed:
        return Check("github", name, False, f"cannot fetch {apply_point.REF} from origin: {failed}")
    repo = git.Repo(path, search_parent_directories=True)
    key = ctx.env.get(apply_point.KEY_ENV, "").strip()
    try:
        if key:
            sha = apply_point.verify(repo, tag, apply_point.key_from_env(ctx.env), repository).sha
        else:
            sha, named = apply_point.unverified(repo, tag)
            if named.casefold() != repository.casefold():
                return Check(
                    "github", name, False,
                    f"{apply_point.REF} is signed for {named}, not {repository}: it was copied from another "
                    "repository; an administrator re-signs it with `access apply-point set <commit>`",
                )  # fmt: skip
    except (RefusedError, ConfigError) as exc:
        return Check("github", name, False, exc.message)
    if head and not repo.is_ancestor(repo.commit(sha), repo.commit(head)):
        return Check(
            "github", name, False,
            f"its commit {sha[:12]} is not on {branch}: {branch}'s history was rewritten, or the point was "
            "signed elsewhere; apply refuses until an administrator re-signs it on a commit of "
            f"{branch} (`access apply-point set <commit>`)",
        )  # fmt: skip
    subject = str(repo.commit(sha).summary)
    signature = (
        "signature valid"
        if key
        else f"signature not checked: {apply_point.KEY_ENV} is not set here (a secret of access-apply)"
    )
    return Check(
        "github", name, True, f"{sha[:12]} '{subject}' on {branch}, signed for {repository}; {signature}"
    )


async def check_github(ctx: AppContext, vendors: Iterable[str], report: Report, note: Note) -> None:
    found = ctx.github()
    try:
        settings = GitHubSettings.from_env(found.env)
    except ConfigError as exc:
        report(Check("github", "repository", False, exc.message))
        return
    async with GitHubAdminReader(settings, writable=False) as client:
        try:
            repository = await client.repository()
        except VendorError as exc:  # GitHubError, or an answer that is not GitHub's
            report(Check("github", "repository", False, exc.message))
            return
        branch = repository["default_branch"]
        where = f" (from {found.repository_from})" if found.repository_from else ""
        token = f"token from {found.token_from}" if found.token_from else "token"
        report(
            Check(
                "github",
                "repository",
                True,
                f"{settings.repository}{where}, {token}; default branch {branch}",
            )
        )
        try:
            existing = await _environments(client, branch, report)
            await _secrets(client, ctx.repo, vendors, existing, report)
            facts = await _branch(client, branch)
            for check in branch_checks(facts, branch):
                report(check)
            codeowners = await client.codeowners(branch)
            report(codeowners_check(codeowners, _policy_paths(ctx.repo), code_owner_review(facts), branch))
        except VendorError as exc:  # GitHub failing, or an answer that is not GitHub's: the rest is unknown
            report(Check("github", "reachable", False, exc.message))
    try:
        report(apply_point_check(ctx, settings.repository, branch))
    except (AccessError, git.GitError) as exc:
        report(Check("github", "apply point", False, getattr(exc, "message", str(exc))))
    note(REFS_NOTE)
