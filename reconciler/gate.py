"""The approval gate's I/O: the ledger's facts from git and GitHub, and its verdict on a plan.

The decision is pure (`reconciler/ledger.py`); this module gathers what it reads, each beyond a
repository writer's reach:
- the **apply point** `refs/access/applied`, verified by its HMAC over the repository, the commit,
  the approved governance and the ledger it carries (`reconciler/apply_point.py`);
- the **first-parent history** of HEAD since then (a rewrite is refused: the point is no longer
  an ancestor), and each commit's access/ and policies/ read object by object from git;
- per landing that changed the desired state: the merged pull request it **belongs to** (GitHub's
  `merge_commit_sha`, or a rebased commit of it; anything else is a direct push);
- per such pull request: its head and merge base (what it asked for), its reviews (reviewer id,
  state, commit, time, association), who pushed to its head (repository activity), its commits'
  authors, committers, co-authors and `Requested-by:` trailers, and each approver's permission.
Comments, labels, check runs and artifacts are never read.

States are normalized once per (access/, policies/) tree pair and kept as ledger items; the
ledger keeps only the deltas it judged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import git

from reconciler import apply_point, sandbox
from reconciler.approvers import (
    PlanRequirements,
    directory,
    governance_fingerprint,
    policy_owner_requirements,
)
from reconciler.canonical import Aliases, aliases_of, canonical_access
from reconciler.changes import ACCOUNT, Action, Change, Plan, change_identity
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source
from reconciler.connectors.base import VendorState
from reconciler.connectors.http import gather_bounded
from reconciler.errors import AccessError, ConfigError, RefusedError
from reconciler.gate_setup import open_repo as open_repo
from reconciler.gate_setup import repository_identity as repository_identity
from reconciler.gate_setup import signing_key as signing_key
from reconciler.git_tree import export_tree, yaml_blobs
from reconciler.github_api import GitHubClient, GitHubError, PullRequest
from reconciler.lapse import lapsed
from reconciler.leavers import LEFT_NOTE, settle
from reconciler.leavers import RULE as LEAVERS_RULE
from reconciler.leaving import leaving
from reconciler.ledger import (
    Beneficiary,
    Decision,
    ItemId,
    Landing,
    Ledger,
    PullFacts,
    Record,
    ReviewFact,
    Rules,
    Verdict,
    fold,
)
from reconciler.ledger_state import (
    ACCOUNT_ITEM,
    GOVERNANCE,
    GRANT,
    SCOPE,
    DesiredState,
    Edit,
    diff,
    expired_on,
    overlay,
)
from reconciler.loader import ACCESS_DIR, Blob, FileCache, blob_key, read_blobs
from reconciler.normalize import PeopleMemo, PeopleNotKept, normalize
from reconciler.planner import build_plan
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from reconciler.recertification import LAPSED_NOTE
from reconciler.records import AccessSet, Account, Person
from reconciler.rules import plan_options
from reconciler.rules.aliases import canonical_policies
from reconciler.rules.protected import drop_protected

__all__ = ["Decision", "GateReport", "evaluate"]

APPLIED_REF = apply_point.REF
GATED_PATHS = ("access", "policies")
_CONCURRENCY = 8

ClientFactory = Callable[[], GitHubClient]


# ---------------------------------------------------------------- git


def head_sha(repo: git.Repo) -> str:
    try:
        return str(repo.head.commit.hexsha)
    except ValueError:
        raise AccessError("the repository has no commits yet") from None


def record_apply_point(
    repo: git.Repo, sha: str, key: bytes, repository: str, *, governance: str = "", ledger: str = ""
) -> None:
    """Sign `sha` as the apply point (the apply job, `access apply-point set`, the demo and tests)."""
    when = int(dt.datetime.now(dt.UTC).timestamp())
    apply_point.write(repo, key, repository, sha, when=when, governance=governance, ledger=ledger)


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


def clean(repo: git.Repo) -> bool:
    """Whether access/ and policies/ in the working tree are exactly HEAD's (nothing uncommitted)."""
    return not repo.git.status("--porcelain", "--untracked-files=all", "--", *GATED_PATHS).strip()


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
class Loaded:
    """One commit's access/ and policies/, compiled (or why they do not load). Only the items and
    what the rules read (people, policies) are kept: a whole desired set is 300 MiB at 100,000
    people, and the ledger reads dozens of states."""

    state: DesiredState | None
    people: Mapping[str, Person] | None = None  # by principal
    policies: Policies | None = None
    problem: str = ""

    @property
    def directory(self) -> AccessSet:
        """What the approver rules read of a desired set: its people."""
        return AccessSet({}, grants=frozenset(), people=self.people or {})


_RECENT = 2  # states kept beyond the pinned ones (a landing and its parent)
_FILE_STATES = 4  # the states whose parsed files are kept (a landing, its parent, a head and its base)


@dataclass
class States:
    """Each commit's desired state, compiled on demand (a few recent ones kept, and those pinned:
    the governance states the rules are read from). Besides the states, it gathers who each person
    was in every state it read (beneficiaries, writers) and the governance of each tree pair."""

    ctx: AppContext
    repo: git.Repo
    aliases: Aliases = field(default_factory=Aliases)  # how the vendors spell resources
    _recent: dict[tuple[str, str], Loaded] = field(default_factory=dict)
    _pinned: dict[tuple[str, str], Loaded] = field(default_factory=dict)
    governance_of: dict[tuple[str, str], str] = field(default_factory=dict)
    keys_of: dict[str, str] = field(default_factory=dict)  # principal -> person key (first seen)
    more_keys: dict[str, set[str]] = field(default_factory=dict)  # principal -> other keys it had
    logins_of: dict[str, set[str]] = field(default_factory=dict)  # person key -> GitHub logins
    named: set[str] = field(default_factory=set)  # `@login`s the policies name
    known: dict[tuple[str, str], AccessSet] = field(default_factory=dict)  # sets already loaded, by trees
    files: FileCache = field(default_factory=dict)  # each file version parsed once
    _file_uses: deque[set[tuple[str, str]]] = field(default_factory=lambda: deque(maxlen=_FILE_STATES))
    people: PeopleMemo = field(default_factory=PeopleMemo)  # people.yaml compiled once per version
    # The last state's people (by identity: the memo shares them) and governance, by policies/ tree.
    _seen_people: Mapping[str, Person] | None = None
    _governance: tuple[str, Mapping[str, Person], str] | None = None

    def at(self, sha: str, *, pin: bool = False) -> Loaded:
        trees = gated_trees(self.repo, sha)
        found = self._pinned.get(trees) or self._recent.pop(trees, None)
        if found is None:
            found = self._compute(sha, trees)[1]
            if found.state is not None:
                self.governance_of[trees] = found.state.governance
        if pin:
            self._pinned[trees] = found
        else:
            self._recent[trees] = found
            while len(self._recent) > _RECENT:
                self._recent.pop(next(iter(self._recent)))
        return found

    def access_at(self, sha: str) -> AccessSet:
        """The whole desired set of a commit (HEAD's, for the approved plan)."""
        access, loaded = self._compute(sha, gated_trees(self.repo, sha))
        if access is None:
            raise AccessError(f"cannot read {sha[:12]}: {loaded.problem}")
        return access

    def keys(self, principal: str) -> frozenset[str]:
        first = self.keys_of.get(principal)
        return frozenset(({first} if first else set()) | self.more_keys.get(principal, set()))

    def _compute(self, sha: str, trees: tuple[str, str]) -> tuple[AccessSet | None, Loaded]:
        policies_tree = trees[1]
        loaded = self.known.get(trees)
        if loaded is not None:  # HEAD's, which apply already compiled
            return loaded, self._loaded(loaded, load_policies_at(self.repo, sha, self.aliases), policies_tree)
        try:
            blobs = yaml_blobs(self.repo, sha, ACCESS_DIR)
            self._forget_files_but({blob_key(name, blob) for name, blob, _ in blobs})
            try:
                access = self._compile(blobs)
            except PeopleNotKept:  # people moved between files: read the lean copies again whole
                for key in [key for key, source in self.files.items() if source.people_elsewhere]:
                    del self.files[key]
                self.people = PeopleMemo()
                access = self._compile(blobs)
            self.people.compact(self.files)
            access = canonical_access(access, self.aliases)  # one spelling per resource
            policies = load_policies_at(self.repo, sha, self.aliases)
        except AccessError as exc:
            first = exc.message.splitlines()[0] if exc.message else type(exc).__name__
            return None, Loaded(None, problem=f"access/ at {sha[:7]}: {first}")
        return access, self._loaded(access, policies, policies_tree)

    def _compile(self, blobs: list[Blob]) -> AccessSet:
        ctx = self.ctx
        files = read_blobs(blobs, self.files)  # each version parsed once
        return normalize(files, today=ctx.today, now=ctx.now, vendors=ctx.vendors, people=self.people)

    def _forget_files_but(self, wanted: set[tuple[str, str]]) -> None:
        """Keep the parsed file versions of the last few states read (a landing, its parent, a pull
        request's head and base), not every version of the run: each is ~1 KiB per person."""
        self._file_uses.append(wanted)
        keep = set().union(*self._file_uses)
        for key in [key for key in self.files if key not in keep]:
            del self.files[key]

    def _loaded(self, access: AccessSet, policies: Policies, policies_tree: str) -> Loaded:
        if access.people is not self._seen_people:  # the same people as the last state: known
            keys_of = self.keys_of
            for principal, person in access.people.items():
                known = keys_of.setdefault(principal, person.key)
                if known != person.key:
                    self.more_keys.setdefault(principal, set()).add(person.key)
                if person.github:
                    self.logins_of.setdefault(person.key, set()).add(person.github.casefold())
            self._seen_people = access.people
        self.named.update(named_logins(policies))
        return Loaded(DesiredState.of(access, self._governance_of(policies_tree, policies, access)),
                      access.people, policies)  # fmt: skip

    def _governance_of(self, policies_tree: str, policies: Policies, access: AccessSet) -> str:
        """`governance`, once per policies/ tree and people (the policies are the tree's)."""
        last = self._governance
        if last is not None and last[0] == policies_tree and last[1] is access.people:
            return last[2]
        found = governance(policies_tree, policies, access)
        self._governance = (policies_tree, access.people, found)
        return found


def load_policies_at(repo: git.Repo, sha: str, aliases: Aliases) -> Policies:
    with tempfile.TemporaryDirectory(prefix="access-policies-") as tmp:
        export_tree(repo, sha, Path(tmp), ("policies",))
        return canonical_policies(load_policies(Path(tmp)), aliases)


def governance(policies_tree: str, policies: Policies, access: AccessSet) -> str:
    """What decides who approves: policies/, whom each rule resolves to, and who each person with a
    GitHub login is (their key, email and login)."""
    identities = sorted((p.key, p.principal, p.github.casefold()) for p in access.people.values() if p.github)
    text = json.dumps([governance_fingerprint(policies_tree, policies, access), identities])
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- the ledger carried by the point


def _value_json(kind: str, value: object) -> object:
    if kind == ACCOUNT_ITEM and isinstance(value, Account):
        return [*value[:6], [list(a) for a in value.attributes], value.native_id]
    return value


def _value_of(kind: str, raw: object) -> object:
    if kind == ACCOUNT_ITEM and isinstance(raw, list) and len(raw) == 8:
        vendor, tenant, principal, active, email, name, attributes, native = raw
        return Account(vendor, tenant, principal, bool(active), email, name,
                       tuple((str(a), str(b)) for a, b in attributes), native)  # fmt: skip
    return raw


def ledger_json(ledger: Ledger, ids: Mapping[str, int], audit: str = "") -> str:
    """What the apply point carries: the held items (approved value and why), the GitHub ids, and
    the head of the audit trail (so a trail moved back is caught)."""
    held = [
        [
            kind,
            list(key),
            _value_json(kind, ledger.overrides.get((kind, key))),
            ledger.held[(kind, key)].to_json(),
        ]
        for (kind, key) in sorted(ledger.overrides)
        if (kind, key) in ledger.held
    ]
    data: dict[str, object] = {"held": held, "ids": dict(sorted(ids.items()))}
    if audit:
        data["audit"] = audit
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def read_ledger(text: str) -> tuple[dict[ItemId, object], dict[ItemId, Record], dict[str, int]]:
    if not text:
        return {}, {}, {}
    data = json.loads(text)
    overrides: dict[ItemId, object] = {}
    held: dict[ItemId, Record] = {}
    for kind, key, value, record in data.get("held", []):
        item = (str(kind), tuple(str(k) for k in key))
        overrides[item] = _value_of(item[0], value)
        held[item] = Record.from_json(record)
    ids = {str(k): int(v) for k, v in data.get("ids", {}).items()}
    return overrides, held, ids


# ---------------------------------------------------------------- pull requests


@dataclass
class Attribution:
    pull: PullRequest | None
    note: str = ""
    unmerged: tuple[int, ...] = ()


def attribute(
    repo: git.Repo,
    sha: str,
    pulls: Sequence[PullRequest],
    position: Mapping[str, int],
    first_parent: Sequence[str],
    commit_counts: Mapping[int, int],
) -> Attribution:
    """The merged pull request `sha` belongs to: its merge or squash commit (`merge_commit_sha`), or
    one of its rebased commits (a single-parent run on the first-parent line ending at it, no longer
    than the pull request's commits, not in
    the pull request's own history). Listing a commit is not landing it: a commit pushed directly
    and later contained in a pull request is still a direct push."""
    for pull in pulls:
        if not (pull.merged or pull.merged_at is not None) or pull.merge_commit_sha is None:
            continue
        if pull.merge_commit_sha == sha:
            return Attribution(pull)
        end = position.get(pull.merge_commit_sha)
        start = position.get(sha)
        if end is None or start is None or end < start:
            continue
        run = first_parent[start : end + 1]
        if (
            len(run) <= commit_counts.get(pull.number, 0)  # a rebase lands at most the PR's commits
            and all(len(repo.commit(s).parents) == 1 for s in run)
            and ensure_pull_head(repo, pull.number, pull.head_sha)
            and not _in_history(repo, sha, pull.head_sha)
        ):
            return Attribution(pull)
    others = [f"#{p.number} is {'merged, landing elsewhere' if p.merged else p.state}" for p in pulls]
    return Attribution(None, ", ".join(others), tuple(p.number for p in pulls if not p.merged))


def _in_history(repo: git.Repo, sha: str, head: str) -> bool:
    if not has_commit(repo, head):
        return True  # unknown: not a rebased commit
    try:
        repo.git.merge_base("--is-ancestor", sha, head)
        return True
    except git.GitCommandError:
        return False


_LOGIN = re.compile(r"^@?([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))$")
_NOREPLY = re.compile(r"^(?:(\d+)\+)?([A-Za-z0-9-]+)@users\.noreply\.github\.com$", re.IGNORECASE)
_CO_AUTHOR = re.compile(r"<([^>]+)>")


def commit_people(repo: git.Repo, base: str, head: str) -> tuple[set[str], set[str]]:
    """The emails of the pull request's commits' authors, committers and `Co-authored-by:`s, and
    the logins its `Requested-by:` trailers name (read from git: both can only take approvers away)."""
    fmt = "%ae%x1f%ce%x1f%(trailers:key=Co-authored-by,valueonly,separator=%x1e)%x1f%(trailers:key=Requested-by,valueonly,separator=%x1e)%x00"
    raw = repo.git.log(f"--format={fmt}", f"{base}..{head}")
    emails: set[str] = set()
    logins: set[str] = set()
    for record in raw.split("\x00"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) < 4:
            continue
        author, committer, co, requested = parts[:4]
        emails.update(e.strip().casefold() for e in (author, committer) if e.strip())
        emails.update(m.group(1).strip().casefold() for m in _CO_AUTHOR.finditer(co))
        for value in requested.split("\x1e"):
            found = _LOGIN.match(value.strip())
            if found:
                logins.add(found.group(1).casefold())
    return emails, logins


@dataclass
class Resolver:
    """GitHub logins -> user ids: those the apply point recorded first, then GitHub's answer."""

    client: GitHubClient | None
    ids: dict[str, int]
    unknown: set[str] = field(default_factory=set)

    async def resolve(self, logins: Iterable[str]) -> None:
        todo = sorted({x.casefold() for x in logins if x} - self.ids.keys() - self.unknown)
        if not todo or self.client is None:
            return
        client = self.client
        found = await gather_bounded(_CONCURRENCY, (client.user(login) for login in todo))
        for login, user in zip(todo, found, strict=True):
            if user is None:
                self.unknown.add(login)
            else:
                self.ids[login] = user.id


async def pull_facts(
    client: GitHubClient,
    repo: git.Repo,
    states: States,
    resolver: Resolver,
    pr: PullRequest,
    first_landed: str,
    requested: Requested,
) -> PullFacts:
    """What a merged pull request asked for, who wrote it, and its reviews."""
    reviews = await client.reviews(pr.number)
    activity = await client.activity(f"refs/heads/{pr.head_ref}")
    commits = await client.pull_commits(pr.number)
    facts = PullFacts(
        number=pr.number, author=pr.author, head_sha=pr.head_sha, merged_at=pr.merged_at,
        reviews=tuple(ReviewFact(r.user, r.state, r.commit_id, r.submitted_at, r.association, r.bot, r.user_id)
                      for r in reviews),
        url=pr.html_url, author_id=pr.author_id,
    )  # fmt: skip
    writers: dict[int, str] = {}
    writer_logins: dict[str, str] = {}
    if pr.author_id is not None:
        writers[pr.author_id] = "opened the pull request"
    for event in activity:
        if event.actor_id is not None and event.activity_type in ("push", "force_push", "branch_creation"):
            writers.setdefault(event.actor_id, f"pushed to its head branch ({event.activity_type})")
    for commit in commits:
        for who, what in ((commit.author_id, "authored"), (commit.committer_id, "committed")):
            if who is not None:
                writers.setdefault(who, f"{what} its commit {commit.sha[:7]}")
    if not ensure_pull_head(repo, pr.number, pr.head_sha):
        return replace(
            facts, writers=writers,
            problem=f"its head commit {pr.head_sha[:7]} is not in this clone; fetch "
            "`+refs/pull/*/head:refs/pull/*/head` before apply (the apply workflow does)",
        )  # fmt: skip
    parent = repo.commit(first_landed).parents[0].hexsha
    bases = repo.merge_base(pr.head_sha, parent)
    if not bases:
        return replace(
            facts, writers=writers, problem=f"its head {pr.head_sha[:7]} shares no history with the branch"
        )
    base = bases[0].hexsha
    emails, requested_by = commit_people(repo, base, pr.head_sha)
    # Emails: GitHub's noreply addresses carry the id; a person of access/ by email, their logins.
    email_logins: dict[str, str] = {}
    for email in emails:
        found = _NOREPLY.match(email)
        if found and found.group(1):
            writers.setdefault(int(found.group(1)), f"is named by {email} in its commits")
        elif found:
            email_logins[found.group(2).casefold()] = f"is named by {email} in its commits"
        for key in states.keys(email):
            for login in states.logins_of.get(key, ()):
                email_logins.setdefault(login, f"is {key}, whose email {email} wrote its commits")
    for login in requested_by:
        email_logins.setdefault(login, "requested it (a `Requested-by:` trailer)")
    await resolver.resolve(email_logins)
    for login, why in email_logins.items():
        if login in resolver.ids:
            writers.setdefault(resolver.ids[login], why)
        writer_logins.setdefault(login, why)
    approving = sorted({r.user for r in reviews if r.state == "APPROVED" and r.user})
    roles = await gather_bounded(_CONCURRENCY, (client.permission(login) for login in approving))
    permissions = {login.casefold(): role for login, role in zip(approving, roles, strict=True)}
    facts = replace(facts, writers=writers, writer_logins=writer_logins, permissions=permissions)
    known = requested(pr, base)
    if isinstance(known, str):
        return replace(facts, problem=known)
    edits, base_governance, head_governance = known
    return replace(facts, requested=edits, base_governance=base_governance, head_governance=head_governance)


# What a pull request asked for, given its merge base: (item -> value at its head, the governance
# of its base, of its head), or why that cannot be read.
Requested = Callable[[PullRequest, str], "tuple[dict[ItemId, object], str, str] | str"]


# ---------------------------------------------------------------- rules of an approved governance


def rules_of(loaded: Loaded, sha: str, ids: Mapping[str, int]) -> Rules:
    assert loaded.policies is not None
    policies, access = loaded.policies, loaded.directory
    requirements = PlanRequirements(policies, access, directory(access))
    person_of = {
        ids[p.github.casefold()]: p.key
        for p in access.people.values()
        if p.github and p.github.casefold() in ids
    }
    # Only the logins this governance knows: its people's, and those its rules name with `@`.
    known = {p.github.casefold() for p in access.people.values() if p.github} | named_logins(policies)
    return Rules(
        sha,
        lambda change: requirements.decide(change).requirements,
        policy_owner_requirements(policies, access),
        person_of,
        {login: ids[login] for login in known if login in ids},
    )


def named_logins(policies: Policies) -> set[str]:
    """The `@login`s the approver rules and the policy owners name."""
    names = [n for rule in policies.approvers.values() for n in rule.approvers]
    names += [n for rule in policies.approvers.values() for owners in rule.owners.values() for n in owners]
    if policies.policy_owners is not None:
        names += list(policies.policy_owners.approvers)
    return {n[1:].casefold() for n in names if n.startswith("@")}


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True, slots=True)
class GateReport:
    since: str
    head: str
    landings: tuple[Landing, ...]
    pulls: tuple[int, ...]
    decisions: tuple[Decision, ...]
    approved_plan: Plan
    ledger: Ledger | None = None
    ids: Mapping[str, int] = field(default_factory=dict)
    note: str = ""  # e.g. "GitHub is not configured": the point cannot move
    complete: bool = True  # every fact was read: the point may move
    audit: str = ""  # the audit trail's head the apply point recorded

    @property
    def held(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.allowed)

    @property
    def carried(self) -> tuple[Record, ...]:
        """Held edits of the desired state (whether or not the vendor shows a change for them)."""
        return tuple(self.ledger.held.values()) if self.ledger else ()

    @property
    def may_advance(self) -> bool:
        """Every fact was read, and HEAD is not a pull request's unmerged branch (the point moves
        only along the history that merges land on)."""
        on_branch = (
            bool(self.landings) and self.landings[-1].sha == self.head and bool(self.landings[-1].unmerged)
        )
        return self.complete and not self.note and not on_branch

    def decision_of(self) -> dict[str, Decision]:
        return {d.change.id: d for d in self.decisions}


def item_of(change: Change) -> ItemId:
    if change.resource_type == ACCOUNT:
        return (ACCOUNT_ITEM, (change.vendor, change.tenant, change.principal))
    return (
        GRANT,
        (
            change.vendor,
            change.tenant,
            change.resource_type,
            change.resource,
            change.entitlement,
            change.principal,
        ),
    )


def _restores(change: Change, today: dt.date) -> Record:
    if change.action in (Action.REVOKE, Action.DEACTIVATE_ACCOUNT) and change.note.startswith(LEFT_NOTE):
        return Record(Verdict.LEFT, rule=LEAVERS_RULE, message=change.note)  # the IdP says they left
    if change.action is Action.REVOKE and change.note.startswith(LAPSED_NOTE):
        rule = change.note.removeprefix(LAPSED_NOTE).split(":", 1)[0].strip()
        return Record(Verdict.LAPSED, rule=rule, message=change.note)
    if change.action is Action.REVOKE and change.expires and expired_on(change.expires, today):
        return Record(Verdict.EXPIRED, message=f"the approved expiry {change.expires} passed")
    return Record(Verdict.RESTORES, message="restores the approved state")


def decisions_for(approved: Plan, live: Plan, ledger: Ledger, today: dt.date) -> tuple[Decision, ...]:
    """Every change of the approved plan with its record, then every change the YAML at HEAD asks
    for that the approved state does not (held, with why)."""
    out: list[Decision] = []
    planned = {change_identity(c) for c in approved.changes}
    for change in approved.changes:
        record = ledger.records.get(item_of(change))
        if (
            record is None
            or (record.verdict is Verdict.APPROVED and change.action is Action.REVOKE)
            or change.note.startswith(LEFT_NOTE)
        ):
            record = _restores(change, today)
        out.append(Decision(change, record))
    for change in live.changes:
        if change_identity(change) in planned:
            continue
        record = ledger.held.get(item_of(change)) or _held_scope(change, ledger)
        out.append(Decision(change, record))
    return tuple(out)


_COMMITTED = Record(
    Verdict.HELD, rule="committed",
    message="not in the desired state of any commit on the branch (an uncommitted edit?): only committed, "
    "reviewed changes are applied",
)  # fmt: skip


def _held_scope(change: Change, ledger: Ledger) -> Record:
    """The held scope edit that keeps `change` out (its resource, type, tenant or vendor), else the
    change is in no commit at all."""
    for key in (
        ("resource", change.vendor, change.tenant, change.resource_type, change.resource),
        ("all", change.vendor, change.tenant, change.resource_type),
        ("tenant", change.vendor, change.tenant),
        ("vendor", change.vendor),
    ):
        found = ledger.held.get((SCOPE, key))
        if found is not None:
            return found
    return _COMMITTED


@dataclass
class Judged:
    """The ledger over the window since the apply point, and what it was read from."""

    point: apply_point.ApplyPoint
    head: str
    states: States
    ledger: Ledger
    landings: tuple[Landing, ...]
    pulls: tuple[int, ...]
    ids: Mapping[str, int]
    note: str
    complete: bool


async def judge(
    ctx: AppContext,
    repo: git.Repo,
    point: apply_point.ApplyPoint,
    aliases: Aliases,
    client_factory: ClientFactory | None,
    head_access: AccessSet | None = None,
    parsed: tuple[FileCache, PeopleMemo] | None = None,
) -> Judged:
    """Fold `main`'s history since the apply point into the approved state (no vendor is read).
    `head_access`: HEAD's desired set, canonical, when the caller has it (not compiled again);
    `parsed`: the files and people the caller parsed, to start the states' caches with."""
    head = head_sha(repo)
    since = point.sha
    first_parent = window(repo, since, head)
    states = States(ctx, repo, aliases)
    if parsed is not None:
        states.files, states.people = parsed
    if head_access is not None:
        states.known[gated_trees(repo, head)] = head_access
    states.at(point.approved_governance, pin=True)  # the rules in force at the point
    baseline = states.at(since)
    if baseline.state is None:
        raise AccessError(f"cannot read the apply point {since[:12]} ({APPLIED_REF}): {baseline.problem}")
    start, start_held, recorded_ids = read_ledger(point.ledger)

    # The landings: first-parent commits whose desired state differs from the one before. Only the
    # edits are kept (and, for the rules, the states whose governance changed).
    previous = baseline.state
    trees = before = gated_trees(repo, since)
    changed: list[tuple[str, list[Edit]]] = []
    spans: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}  # landing -> (trees before, after)
    for sha in first_parent:
        now = gated_trees(repo, sha)
        if now == trees:
            continue
        trees = now
        loaded = states.at(sha)
        if loaded.state is None:
            continue  # unreadable here: its edits are judged with the next readable landing
        edits = diff(previous, loaded.state)
        previous = loaded.state
        if edits:
            changed.append((sha, edits))
            spans[sha] = (before, now)
            if any(e.kind == GOVERNANCE for e in edits):
                states.at(sha, pin=True)
        before = now
    del previous

    client: GitHubClient | None = None
    note = ""
    if changed:
        try:
            if client_factory is None:
                raise ConfigError("no GitHub to ask")
            client = client_factory()
        except ConfigError as exc:
            note = f"GitHub is not configured, so no pull request was looked up: {exc.message}"
    resolver = Resolver(client, dict(recorded_ids))
    landings: list[Landing] = []
    pulls: dict[int, PullFacts] = {}
    complete = not note
    try:
        if client is not None:
            position = {s: i for i, s in enumerate(first_parent)}
            found = await gather_bounded(_CONCURRENCY, (client.pulls_for_commit(s) for s, _ in changed))
            # A landing that is not a pull request's merge_commit_sha may be one of its rebased
            # commits: how many commits the pull request has bounds that.
            maybe_rebased = {
                p.number
                for (sha, _), prs in zip(changed, found, strict=True)
                for p in prs
                if p.merged and p.merge_commit_sha not in (None, sha)
            }
            counts = await gather_bounded(
                _CONCURRENCY, (client.pull_commits(n) for n in sorted(maybe_rebased))
            )
            commit_counts = {n: len(c) for n, c in zip(sorted(maybe_rebased), counts, strict=True)}
            chosen: dict[int, tuple[PullRequest, str]] = {}
            for (sha, edits), prs in zip(changed, found, strict=True):
                who = attribute(repo, sha, prs, position, first_parent, commit_counts)
                if who.pull is not None:
                    chosen.setdefault(who.pull.number, (who.pull, sha))
                landings.append(
                    Landing(sha, tuple(edits), who.pull.number if who.pull else None, who.note, who.unmerged)
                )
            await resolver.resolve(_all_logins(states))
            owner = {landing.sha: landing.pull for landing in landings}
            order = [sha for sha, _ in changed]
            edits_of = dict(changed)

            def requested(pr: PullRequest, base: str) -> tuple[dict[ItemId, object], str, str] | str:
                mine = [i for i, sha in enumerate(order) if owner.get(sha) == pr.number]
                base_trees, head_trees = gated_trees(repo, base), gated_trees(repo, pr.head_sha)
                contiguous = bool(mine) and mine == list(range(mine[0], mine[-1] + 1))
                if (
                    contiguous
                    and base_trees == spans[order[mine[0]]][0]
                    and head_trees == spans[order[mine[-1]]][1]
                    and base_trees in states.governance_of
                    and head_trees in states.governance_of
                ):  # up to date with main: what it asked for is what its landings brought
                    return (
                        composed([edits_of[order[i]] for i in mine]),
                        states.governance_of[base_trees],
                        states.governance_of[head_trees],
                    )
                base_state, head_state = states.at(base).state, states.at(pr.head_sha).state
                if base_state is None or head_state is None:
                    return states.at(pr.head_sha).problem or states.at(base).problem
                asked = {(e.kind, tuple(e.key)): e.after for e in diff(base_state, head_state)}
                return asked, base_state.governance, head_state.governance

            facts = await gather_bounded(
                _CONCURRENCY,
                (
                    pull_facts(client, repo, states, resolver, pr, sha, requested)
                    for pr, sha in chosen.values()
                ),
            )
            pulls = {f.number: f for f in facts}
            complete = complete and not any(f.problem for f in facts)
        else:
            landings = [Landing(sha, tuple(edits), None, note) for sha, edits in changed]
    except GitHubError as exc:
        raise AccessError(f"the approval gate cannot read GitHub: {exc.message}") from None
    finally:
        if client is not None:
            await client.aclose()

    rules_cache: dict[str, Rules] = {}

    def rules_at(sha: str) -> Rules:
        found = rules_cache.get(sha)
        if found is None:
            loaded = states.at(sha, pin=True)
            if loaded.policies is None:
                loaded = states.at(point.approved_governance, pin=True)
            found = rules_cache[sha] = rules_of(loaded, sha, resolver.ids)
        return found

    def beneficiary(edit: Edit) -> Beneficiary:
        principal = edit.key[5] if edit.kind == GRANT else edit.key[2] if edit.kind == ACCOUNT_ITEM else ""
        keys = states.keys(principal)
        logins = {login for k in keys for login in states.logins_of.get(k, ())}
        ids = frozenset(resolver.ids[x] for x in logins if x in resolver.ids)
        return Beneficiary(keys, ids, frozenset(logins))

    ledger = fold(
        landings, pulls, start=start, start_held=start_held, governance=point.approved_governance,
        rules_at=rules_at, beneficiary=beneficiary,
    )  # fmt: skip
    ids = {login: resolver.ids[login] for login in sorted(_all_logins(states)) if login in resolver.ids}
    return Judged(point, head, states, ledger, tuple(landings), tuple(sorted(pulls)), ids, note, complete)


async def evaluate(
    ctx: AppContext,
    live: Plan,
    actual: Mapping[str, VendorState],
    client_factory: ClientFactory,
    key: bytes,
    repository: str,
    head_access: AccessSet | None = None,
    parsed: tuple[FileCache, PeopleMemo] | None = None,
) -> GateReport:
    """The ledger's verdict on a plan. `head_access`: the desired set apply already loaded, used
    for HEAD's when the working tree's access/ and policies/ are HEAD's (else HEAD is read);
    `parsed`: the files and people it parsed (older commits share most of them)."""
    repo = open_repo(ctx.repo)
    head = head_sha(repo)
    point = apply_point.read(repo, key, repository)
    if point is None:
        if not live.changes:
            return GateReport(head, head, (), (), (), live)
        raise RefusedError(
            f"no apply point recorded ({APPLIED_REF}): apply cannot tell which commits are new and need "
            "approval. An administrator points it, once, at the commit whose access/ is already in force:\n"
            f"  {apply_point.KEY_ENV}=… access apply-point set <commit>   then   git push origin {APPLIED_REF}"
        )
    aliases = aliases_of(actual)
    reuse = head_access is not None and clean(repo)
    head_set = canonical_access(head_access, aliases) if head_access is not None and reuse else None
    judged = await judge(ctx, repo, point, aliases, client_factory, head_set, parsed)
    states, ledger = judged.states, judged.ledger
    policies = states.at(ledger.governance, pin=True).policies or states.at(head).policies
    assert policies is not None
    if head_set is not None and not ledger.overrides:
        plan = live  # nothing held: the approved state is HEAD's YAML, which `live` planned
    else:
        approved_access = overlay(head_set or states.access_at(head), ledger.overrides, ctx.today)
        approved_access, _ = lapsed(ctx.repo, approved_access, policies, ctx.today)  # by policy, as plan does
        approved_access, left = leaving(ctx.repo, approved_access, actual, policies, ctx.today)
        plan = build_plan(
            approved_access, actual, today=ctx.today, options=plan_options(policies),
            desired_digest=live.desired_digest, git_commit=live.git_commit,
        )  # fmt: skip
        plan = settle(plan, left, policies.leavers)
        del approved_access
    kept, _ = drop_protected(plan, policies)
    approved_plan = replace(plan, changes=kept)
    decisions = decisions_for(approved_plan, live, ledger, ctx.today)
    return GateReport(
        point.sha, head, judged.landings, judged.pulls, decisions, approved_plan, ledger, judged.ids,
        judged.note, judged.complete, audit_head(point.ledger),
    )  # fmt: skip


def composed(landings: Sequence[Sequence[Edit]]) -> dict[ItemId, object]:
    """What consecutive landings changed together: each item's last value, where it differs from
    its value before the first."""
    first: dict[ItemId, object] = {}
    last: dict[ItemId, object] = {}
    for edits in landings:
        for edit in edits:
            key = (edit.kind, tuple(edit.key))
            first.setdefault(key, edit.before)
            last[key] = edit.after
    return {key: after for key, after in last.items() if after != first[key]}


def _all_logins(states: States) -> set[str]:
    return {login for logins in states.logins_of.values() for login in logins} | states.named


def audit_head(text: str) -> str:
    """The audit trail's head an apply point recorded ("" for none)."""
    if not text:
        return ""
    found = json.loads(text).get("audit")
    return found if isinstance(found, str) else ""


def advance(ctx: AppContext, report: GateReport, key: bytes, repository: str, audit: str = "") -> bool:
    """Sign the HEAD that was judged as the new apply point, carrying what is still held."""
    if not report.may_advance or report.ledger is None:
        return False
    text = ledger_json(report.ledger, report.ids, audit)
    repo = open_repo(ctx.repo)
    current = apply_point.read(repo, key, repository)
    if current is not None and current.sha == report.head and current.ledger == text:
        return False
    record_apply_point(repo, report.head, key, repository, governance=report.ledger.governance, ledger=text)
    return True


def github_client_factory(ctx: AppContext, source: Source) -> ClientFactory | None:
    """How the gate reaches GitHub; None in a sandbox without a GitHub simulator (ungated)."""
    if source.sandbox:
        return sandbox.github_client_factory(ctx.repo)
    return lambda: GitHubClient.from_env(ctx.github().env, writable=False)
