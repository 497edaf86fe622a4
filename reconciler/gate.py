"""The approval gate's I/O: the history of `main` since the apply point, the pull requests that
landed it and their reviews. The decision itself is pure (`reconciler/approval.py`).

What is read, and why each is beyond a repository writer's reach:
- the **apply point** `refs/access/applied`, verified by its HMAC (`reconciler/apply_point.py`);
- the **first-parent history** of HEAD since then (branch protection forbids rewriting it; a
  rewrite is refused because the apply point is no longer an ancestor);
- for each commit that changed `access/` or `policies/`: its **tree** and its parent's, and the
  **merged pull request** that landed it (`GET /commits/{sha}/pulls`, checked against the pull
  request's `merge_commit_sha` on this first-parent line);
- for each such pull request: its **head commit's tree** (fetched from `refs/pull/N/head` when the
  branch is gone, and checked against the head sha GitHub reports) and its merge base, and its
  **reviews** (reviewer, state, commit, time, association).
Comments, labels, check runs and artifacts are never read.

Every state (a commit's `access/` and `policies/`) is normalized and planned against today's
actual state once (cached by tree ids); the identities of those plans are what `approval.decide`
compares.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import git

from reconciler import apply_point, sandbox
from reconciler.approval import (
    Decision,
    GateFacts,
    PullFacts,
    ReviewFact,
    StateFacts,
    clean_history,
    decide,
    entry_index,
    identity_digest,
)
from reconciler.approvers import (
    Requirement,
    beneficiary_login,
    directory,
    governance_fingerprint,
    policy_owner_requirements,
    requirements_for,
)
from reconciler.changes import Change, Plan
from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, Source, load_desired
from reconciler.connectors.base import VendorState
from reconciler.connectors.http import gather_bounded
from reconciler.errors import AccessError, ConfigError, RefusedError
from reconciler.github_api import GitHubClient, PullRequest
from reconciler.planner import build_plan
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from reconciler.rules import plan_options
from reconciler.rules.protected import drop_protected

APPLIED_REF = apply_point.REF
GATED_PATHS = ("access", "policies")
_CONCURRENCY = 8

ClientFactory = Callable[[], GitHubClient]


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


def signing_key(ctx: AppContext, source: Source) -> bytes:
    if source.sandbox:
        return apply_point.sandbox_key(sandbox.state_dir(ctx.repo))
    return apply_point.key_from_env(ctx.env)


def record_apply_point(repo: git.Repo, sha: str, key: bytes) -> None:
    """Sign `sha` as the apply point (the apply job, `access apply-point set`, the demo and tests)."""
    apply_point.write(repo, key, sha, when=int(dt.datetime.now(dt.UTC).timestamp()))


def window(repo: git.Repo, since: str, head: str) -> tuple[str, ...]:
    """HEAD's first-parent commits after the apply point, oldest first."""
    if since == head:
        return ()
    if not repo.is_ancestor(repo.commit(since), repo.commit(head)):
        raise RefusedError(
            f"the apply point {since[:12]} ({APPLIED_REF}) is not an ancestor of HEAD {head[:12]}: the "
            "branch's history was rewritten; check it, then re-sign the point with "
            "`access apply-point set <commit>`"
        )
    out = repo.git.rev_list("--first-parent", "--reverse", f"{since}..{head}")
    return tuple(line for line in out.splitlines() if line)


def gated_trees(repo: git.Repo, sha: str) -> tuple[str, str]:
    """The tree ids of access/ and policies/ at `sha` ("" when absent)."""
    tree = repo.commit(sha).tree
    ids: list[str] = []
    for top in GATED_PATHS:
        try:
            ids.append(str((tree / top).hexsha))
        except KeyError:
            ids.append("")
    return ids[0], ids[1]


def export_tree(repo: git.Repo, sha: str, dest: Path) -> None:
    """Write access/ and policies/ as they were at `sha` into `dest` (symlinks are refused)."""
    tree = repo.commit(sha).tree
    for top in GATED_PATHS:
        try:
            sub = tree / top
        except KeyError:
            continue
        for item in sub.traverse():
            if item.type != "blob":  # type: ignore[union-attr]
                continue
            if item.mode == 0o120000:  # type: ignore[union-attr]
                raise AccessError(f"{item.path}: a symlink in {top}/ at {sha[:12]}: not allowed")  # type: ignore[union-attr]
            target = dest / item.path  # type: ignore[union-attr]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.data_stream.read())  # type: ignore[union-attr]


def has_commit(repo: git.Repo, sha: str) -> bool:
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
        return True
    except git.GitCommandError:
        return False


def ensure_pull_head(repo: git.Repo, number: int, sha: str) -> bool:
    """Make the pull request's head commit available: fetch `refs/pull/N/head` when it is missing."""
    if has_commit(repo, sha):
        return True
    try:
        repo.git.fetch(
            "--no-tags", "--quiet", "origin", f"+refs/pull/{number}/head:refs/access/pull/{number}"
        )
    except git.GitCommandError:
        return False
    return has_commit(repo, sha)


# ---------------------------------------------------------------- states


@dataclass(frozen=True, slots=True)
class State:
    digests: frozenset[str] | None
    governance: str
    desired: Desired | None = None
    policies: Policies | None = None
    problem: str = ""


@dataclass
class States:
    """The plan identities of each commit's access/ and policies/, computed once per tree pair."""

    ctx: AppContext
    repo: git.Repo
    actual: Mapping[str, VendorState]
    _cache: dict[tuple[str, str], State] = field(default_factory=dict)

    def at(self, sha: str) -> State:
        trees = gated_trees(self.repo, sha)
        found = self._cache.get(trees)
        if found is None:
            found = self._cache[trees] = self._compute(sha, trees[1])
        return found

    def _compute(self, sha: str, policies_tree: str) -> State:
        with tempfile.TemporaryDirectory(prefix="access-state-") as tmp:
            root = Path(tmp)
            try:
                export_tree(self.repo, sha, root)
                desired = load_desired(replace(self.ctx, repo=root))
                policies = load_policies(root)
            except AccessError as exc:
                first = exc.message.splitlines()[0] if exc.message else type(exc).__name__
                return State(None, f"unreadable:{policies_tree}", problem=f"access/ at {sha[:7]}: {first}")
        plan = build_plan(desired.access, self.actual, today=self.ctx.today, options=plan_options(policies))
        changes, _ = drop_protected(plan, policies)
        digests = frozenset(identity_digest(c) for c in changes)
        governance = governance_fingerprint(policies_tree, policies, desired.access)
        return State(digests, governance, desired, policies)


# ---------------------------------------------------------------- pull requests


def _attribute(
    sha: str, pulls: Sequence[PullRequest], position: Mapping[str, int]
) -> tuple[PullRequest | None, str, tuple[int, ...]]:
    """The merged pull request that landed `sha` on this first-parent line, or why there is none."""
    landed = [
        p
        for p in pulls
        if (p.merged or p.merged_at is not None)
        and p.merge_commit_sha is not None
        and p.merge_commit_sha in position
        and position[p.merge_commit_sha] >= position[sha]
    ]
    if landed:
        landed.sort(key=lambda p: (p.merge_commit_sha != sha, position[p.merge_commit_sha or ""]))
        return landed[0], "", ()
    others = [f"#{p.number} is {'merged elsewhere' if p.merged else p.state}" for p in pulls]
    return None, ", ".join(others), tuple(p.number for p in pulls)


async def gather_facts(
    client: GitHubClient | None,
    states: States,
    since: str,
    commits: Sequence[str],
    first_parent: Sequence[str],
    missing_github: str = "",
) -> GateFacts:
    """Attribute each commit to the merged pull request that landed it; read what each asked for."""
    repo = states.repo
    position = {sha: i for i, sha in enumerate(first_parent)}
    if client is None:
        found: list[tuple[PullRequest, ...]] = [() for _ in commits]
    else:
        found = list(await gather_bounded(_CONCURRENCY, (client.pulls_for_commit(s) for s in commits)))
    chosen: dict[int, PullRequest] = {}
    landing_start: dict[int, str] = {}
    attributed: list[StateFacts] = []
    for sha, prs in zip(commits, found, strict=True):
        pull, note, unmerged = _attribute(sha, prs, position)
        if client is None:
            note = missing_github
        if pull is not None:
            chosen.setdefault(pull.number, pull)
            landing_start.setdefault(pull.number, sha)
        state = states.at(sha)
        number = pull.number if pull else None
        attributed.append(StateFacts(sha, state.digests, state.governance, number, note, unmerged))

    async def facts_of(pr: PullRequest) -> PullFacts:
        assert client is not None
        reviews = await client.reviews(pr.number)
        facts = PullFacts(
            number=pr.number, author=pr.author, head_sha=pr.head_sha, merged_at=pr.merged_at,
            reviews=tuple(
                ReviewFact(r.user, r.state, r.commit_id, r.submitted_at, r.association, r.bot) for r in reviews
            ),
            url=pr.html_url,
        )  # fmt: skip
        return _requested(facts, repo, states, landing_start[pr.number])

    pulls = await gather_bounded(_CONCURRENCY, (facts_of(pr) for pr in chosen.values()))
    chain = [_state_facts(states, since, None, ""), *attributed]
    return GateFacts(tuple(chain), {p.number: p for p in pulls})


def _state_facts(states: States, sha: str, pull: int | None, note: str) -> StateFacts:
    state = states.at(sha)
    return StateFacts(sha, state.digests, state.governance, pull, note)


def _requested(facts: PullFacts, repo: git.Repo, states: States, first_landed: str) -> PullFacts:
    """What the pull request asked for: the plan of its head minus the plan of its merge base."""
    if not ensure_pull_head(repo, facts.number, facts.head_sha):
        return replace(
            facts,
            problem=f"its head commit {facts.head_sha[:7]} is not in this clone; fetch "
            "`+refs/pull/*/head:refs/pull/*/head` before apply (the apply workflow does)",
        )
    parent = repo.commit(first_landed).parents[0].hexsha
    bases = repo.merge_base(facts.head_sha, parent)
    if not bases:
        return replace(facts, problem=f"its head {facts.head_sha[:7]} shares no history with the branch")
    facts = replace(facts, committers=requested_by(repo, bases[0].hexsha, facts.head_sha))
    head = states.at(facts.head_sha)
    base = states.at(bases[0].hexsha)
    if head.digests is None or base.digests is None:
        return replace(facts, problem=head.problem or base.problem, governance=head.governance)
    return replace(facts, requested=head.digests - base.digests, governance=head.governance)


_LOGIN = re.compile(r"^@?([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))$")


def requested_by(repo: git.Repo, base: str, head: str) -> tuple[str, ...]:
    """GitHub logins named by `Requested-by:` trailers of the pull request's commits: who asked for
    it when a bot opened it for them (the access-request workflow writes the trailer). They cannot
    approve it. A trailer can only take approvers away, never add one, so a forged one is harmless."""
    raw = repo.git.log("--format=%(trailers:key=Requested-by,valueonly,separator=%x0a)", f"{base}..{head}")
    logins = {m.group(1) for m in map(_LOGIN.match, (v.strip() for v in raw.splitlines())) if m}
    return tuple(sorted(logins, key=str.casefold))


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True, slots=True)
class GateReport:
    since: str
    head: str
    facts: GateFacts
    decisions: tuple[Decision, ...]
    owners: tuple[Requirement, ...] = ()
    note: str = ""  # e.g. "GitHub was not asked: every change restores approved state"

    @property
    def held(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.allowed)

    @property
    def may_advance(self) -> bool:
        return not self.note and clean_history(self.facts, self.decisions, self.owners)

    def decision_of(self) -> dict[str, Decision]:
        return {d.change.id: d for d in self.decisions}


async def evaluate(
    ctx: AppContext,
    plan: Plan,
    head_desired: Desired,
    actual: Mapping[str, VendorState],
    client_factory: ClientFactory,
    key: bytes,
) -> GateReport:
    repo = open_repo(ctx.repo)
    head = head_sha(repo)
    point = apply_point.read(repo, key)
    if point is None and not plan.changes:
        return GateReport(head, head, GateFacts((StateFacts(head, frozenset(), ""),)), ())
    if point is None:
        raise RefusedError(
            f"no apply point recorded ({APPLIED_REF}): apply cannot tell which commits are new and need "
            "approval. An administrator points it, once, at the commit whose access/ is already in force:\n"
            f"  {apply_point.KEY_ENV}=… access apply-point set <commit>   then   git push origin {APPLIED_REF}"
        )
    since = point.sha
    first_parent = window(repo, since, head)
    states = States(ctx, repo, actual)
    baseline = states.at(since)
    if baseline.desired is None or baseline.policies is None:
        raise AccessError(f"cannot read the apply point {since[:12]} ({APPLIED_REF}): {baseline.problem}")
    previous = gated_trees(repo, since)
    commits: list[str] = []
    for sha in first_parent:
        trees = gated_trees(repo, sha)
        if trees != previous:
            commits.append(sha)
        previous = trees

    # Ask GitHub only when something needs it: restores alone are decided from git.
    head_state = states.at(head)
    restores_only = head_state.digests is not None and all(
        entry_index([_state_facts(states, s, None, "") for s in (since, *commits)], identity_digest(c)) == 0
        for c in plan.changes
    )
    client: GitHubClient | None = None
    missing = ""
    note = ""
    if commits and not restores_only:
        try:
            client = client_factory()
        except ConfigError as exc:
            missing = f"GitHub is not configured ({exc.message})"
    elif commits:
        note = "GitHub was not asked: every change restores approved state"
    try:
        facts = await gather_facts(client, states, since, commits, first_parent, missing)
    finally:
        if client is not None:
            await client.aclose()
    if missing:
        note = missing

    policies, base_access = baseline.policies, baseline.desired.access
    people = directory(base_access)
    owners = policy_owner_requirements(policies, base_access)

    def beneficiaries(change: Change) -> frozenset[str]:
        logins = (beneficiary_login(change, base_access), beneficiary_login(change, head_desired.access))
        return frozenset(login for login in logins if login)

    decisions = decide(
        plan.changes,
        facts,
        requirements=lambda change: requirements_for(change, policies, base_access, people),
        beneficiaries=beneficiaries,
        governance=owners,
    )
    return GateReport(since, head, facts, decisions, owners, note)


def advance(ctx: AppContext, report: GateReport, key: bytes) -> bool:
    """Sign the HEAD that was judged as the new apply point, when the history allows it."""
    if not report.may_advance or report.since == report.head:
        return False
    record_apply_point(open_repo(ctx.repo), report.head, key)
    return True


def github_client_factory(ctx: AppContext, source: Source) -> ClientFactory | None:
    """How the gate reaches GitHub; None in a sandbox without a GitHub simulator (ungated)."""
    if source.sandbox:
        return sandbox.github_client_factory(ctx.repo)
    return lambda: GitHubClient.from_env(ctx.env, writable=False)
