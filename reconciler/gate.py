"""The approval gate's I/O: the commits since the last apply, their pull requests, what was approved.

**The apply point** is the git ref `refs/access/applied`: the commit whose `access/` and
`policies/` were last applied with nothing held back, i.e. a desired state that is fully approved.
`apply` moves it to HEAD when nothing was held and every new commit came through an approved pull
request; in CI the apply job fetches it before (`git fetch origin +refs/access/applied:refs/access/applied`)
and pushes it after (`git push origin refs/access/applied`). A ref, unlike a file the job commits,
adds no commit to the branch (which would itself be a push without a pull request) and cannot be
edited through a pull request. With no apply point, apply refuses and says how to set the first
one: `git update-ref refs/access/applied <commit>` for the commit already in force.

**The plan the approvers saw** is recorded in the plan comment the plan workflow keeps on each pull
request: a hidden `<!-- access-plan-record {...} -->` block (see `approval.plan_record`) with the
head commit it was planned for, the `changes_hash`, and a digest of every change. Only comments
written by a trusted author count (`ACCESS_PLAN_COMMENT_AUTHORS`, default `github-actions[bot]`),
only a record for the PR's final head commit counts, and an approval counts only if it was given
after that record was last written.

**Approver rules** come from `policies/` and people/teams from `access/` as of the apply point, not
HEAD (like GitHub reading CODEOWNERS from the base branch): a pull request cannot loosen the rules
that judge it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import git
from pydantic import SecretStr

from reconciler import sandbox
from reconciler.approval import (
    CommitFacts,
    Decision,
    GateFacts,
    PlanRecord,
    PullFacts,
    ReviewFact,
    clean_history,
    decide,
    identity_digest,
    parse_plan_record,
)
from reconciler.approvers import beneficiary_login, requirements_for
from reconciler.changes import Change, Plan
from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, Source, load_desired
from reconciler.connectors.base import VendorState
from reconciler.connectors.http import gather_bounded
from reconciler.errors import AccessError, RefusedError
from reconciler.github_api import GitHubClient, GitHubSettings, IssueComment, PullRequest
from reconciler.planner import build_plan
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from reconciler.rules import plan_options
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.github import API, DEFAULT_TOKEN, GitHubSimulator

APPLIED_REF = "refs/access/applied"
GATED_PATHS = ("access", "policies")
TRUSTED_AUTHORS_ENV = "ACCESS_PLAN_COMMENT_AUTHORS"
DEFAULT_TRUSTED_AUTHORS = ("github-actions[bot]",)
SANDBOX_GITHUB_FILE = "github.sim.json"
_CONCURRENCY = 8


# ---------------------------------------------------------------- git


def open_repo(path: Path) -> git.Repo:
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise AccessError(
            f"{path} is not in a git repository: the approval gate needs the repository's history"
        ) from None


def head_sha(repo: git.Repo) -> str:
    try:
        return str(repo.head.commit.hexsha)
    except ValueError:
        raise AccessError("the repository has no commits yet") from None


def apply_point(repo: git.Repo) -> str | None:
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{APPLIED_REF}^{{commit}}")) or None
    except git.GitCommandError:
        return None


def record_apply_point(repo: git.Repo, sha: str) -> None:
    repo.git.update_ref(APPLIED_REF, sha)


def new_commits(repo: git.Repo, since: str, head: str) -> tuple[str, ...]:
    """Commits in since..head that touch access/ or policies/, oldest first."""
    if since == head:
        return ()
    if not repo.is_ancestor(repo.commit(since), repo.commit(head)):
        raise RefusedError(
            f"the apply point {since[:12]} ({APPLIED_REF}) is not an ancestor of HEAD {head[:12]}: "
            "the branch's history was rewritten; check it, then move the point with "
            f"`git update-ref {APPLIED_REF} <commit>`"
        )
    out = repo.git.rev_list("--reverse", f"{since}..{head}", "--", *GATED_PATHS)
    return tuple(line for line in out.splitlines() if line)


def export_tree(repo: git.Repo, sha: str, dest: Path) -> None:
    """Write access/ and policies/ as they were at `sha` into `dest`."""
    tree = repo.commit(sha).tree
    for top in GATED_PATHS:
        try:
            sub = tree / top
        except KeyError:
            continue
        for item in sub.traverse():
            if item.type == "blob":  # type: ignore[union-attr]
                target = dest / item.path  # type: ignore[union-attr]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(item.data_stream.read())  # type: ignore[union-attr]


# ---------------------------------------------------------------- GitHub


def trusted_authors(env: Mapping[str, str]) -> frozenset[str]:
    raw = env.get(TRUSTED_AUTHORS_ENV, "")
    names = [n.strip() for n in raw.split(",") if n.strip()] or list(DEFAULT_TRUSTED_AUTHORS)
    return frozenset(n.casefold() for n in names)


def sandbox_github_file(repo: Path) -> Path:
    return sandbox.state_dir(repo) / SANDBOX_GITHUB_FILE


def github_client(ctx: AppContext, source: Source) -> GitHubClient | None:
    """The read-only GitHub client the gate uses; None in a sandbox without a GitHub simulator."""
    if source.sandbox:
        path = sandbox_github_file(ctx.repo)
        if not path.exists():
            return None
        simulator = GitHubSimulator.from_json(path.read_text(encoding="utf-8"))
        owner, _, name = simulator.default_repository.partition("/")
        settings = GitHubSettings(api_url=API, owner=owner, repo=name, token=SecretStr(DEFAULT_TOKEN))
        return GitHubClient(settings, writable=False, transport=SimulatorTransport(simulator.handle))
    return GitHubClient.from_env(ctx.env, writable=False)


def _record(
    comments: tuple[IssueComment, ...], pull: PullRequest, trusted: frozenset[str]
) -> PlanRecord | None:
    """The newest plan record for the PR's head commit, from a trusted author."""
    for comment in reversed(comments):
        if (comment.user or "").casefold() not in trusted:
            continue
        record = parse_plan_record(comment.body, posted_at=comment.updated_at or comment.created_at)
        if record is not None and record.head_sha == pull.head_sha:
            return record
    return None


async def gather_facts(
    client: GitHubClient, since: str, commits: tuple[str, ...], trusted: frozenset[str]
) -> GateFacts:
    found = await gather_bounded(_CONCURRENCY, (client.pulls_for_commit(sha) for sha in commits))
    pulls: dict[int, PullRequest] = {}
    commit_facts: list[CommitFacts] = []
    for sha, prs in zip(commits, found, strict=True):
        merged = [p for p in prs if p.merged or p.merged_at is not None]
        chosen = merged or list(prs)
        commit_facts.append(CommitFacts(sha, tuple(p.number for p in chosen)))
        for pr in chosen:
            pulls.setdefault(pr.number, pr)

    async def facts_of(pr: PullRequest) -> PullFacts:
        reviews = await client.reviews(pr.number)
        comments = await client.issue_comments(pr.number)
        return PullFacts(
            number=pr.number,
            author=pr.author,
            merged=pr.merged or pr.merged_at is not None,
            head_sha=pr.head_sha,
            reviews=tuple(ReviewFact(r.user, r.state, r.commit_id, r.submitted_at) for r in reviews),
            record=_record(comments, pr, trusted),
            url=pr.html_url,
        )

    facts = await gather_bounded(_CONCURRENCY, (facts_of(pr) for pr in pulls.values()))
    return GateFacts(since, tuple(commit_facts), {f.number: f for f in facts})


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True, slots=True)
class GateReport:
    since: str
    head: str
    facts: GateFacts
    decisions: tuple[Decision, ...]

    @property
    def held(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.allowed)

    @property
    def may_advance(self) -> bool:
        return clean_history(self.facts, self.decisions)

    def decision_of(self) -> dict[str, Decision]:
        return {d.change.id: d for d in self.decisions}


def _baseline(
    ctx: AppContext, repo: git.Repo, since: str, actual: Mapping[str, VendorState]
) -> tuple[Desired, frozenset[str], Policies]:
    """The desired state and policies at the apply point, and the digests of its plan now."""
    with tempfile.TemporaryDirectory(prefix="access-applied-") as tmp:
        root = Path(tmp)
        export_tree(repo, since, root)
        at = replace(ctx, repo=root)
        try:
            desired = load_desired(at)
            policies = load_policies(root)
        except AccessError as exc:
            raise AccessError(
                f"cannot read access/ at the apply point {since[:12]} ({APPLIED_REF}):\n{exc.message}"
            ) from None
    plan = build_plan(desired.access, actual, today=ctx.today, options=plan_options(policies))
    return desired, frozenset(identity_digest(c) for c in plan.changes), policies


async def evaluate(
    ctx: AppContext,
    plan: Plan,
    head_desired: Desired,
    actual: Mapping[str, VendorState],
    client: GitHubClient,
) -> GateReport:
    repo = open_repo(ctx.repo)
    head = head_sha(repo)
    since = apply_point(repo)
    if since is None and not plan.changes:
        return GateReport(head, head, GateFacts(head, ()), ())
    if since is None:
        raise RefusedError(
            f"no apply point recorded ({APPLIED_REF}): apply cannot tell which commits are new and need "
            "approval. Point it at the commit whose access/ is already in force, once:\n"
            f"  git update-ref {APPLIED_REF} <commit>   (in CI: git push origin <commit>:{APPLIED_REF})"
        )
    commits = new_commits(repo, since, head)
    facts = (
        await gather_facts(client, since, commits, trusted_authors(ctx.env))
        if commits
        else GateFacts(since, ())
    )
    baseline, restoring, policies = _baseline(ctx, repo, since, actual)

    def beneficiaries(change: Change) -> frozenset[str]:
        logins = (beneficiary_login(change, baseline.access), beneficiary_login(change, head_desired.access))
        return frozenset(login for login in logins if login)

    decisions = decide(
        plan.changes,
        facts,
        restoring=restoring,
        requirements=lambda change: requirements_for(change, policies, baseline.access),
        beneficiaries=beneficiaries,
    )
    return GateReport(since, head, facts, decisions)


def advance(ctx: AppContext, report: GateReport) -> bool:
    """Move the apply point to the HEAD that was judged, when the history allows it."""
    if not report.may_advance or report.since == report.head:
        return False
    record_apply_point(open_repo(ctx.repo), report.head)
    return True
