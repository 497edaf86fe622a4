"""`access leavers` (scheduled): ONE pull request removing from access/ the people who have left.

The IdP (PingOne, read now) says who has left: users it disabled, moved to the `leavers.population`
of policies/, or no longer has although the YAML gives them an account (deleted); an HR export
(`--hr-export`, or the policy's `hr_export`) may add those whose end date has passed. The pull
request, on `access-leavers/remove`, deletes each one's entry in people.yaml and every line that
names them (team members, accounts, populations, every resource's members), and says who left, why,
since when, and what was removed. Run again, it rebuilds that pull request from main (never a
second one), except once someone other than this command has pushed to it: then it is left as is.

Removing a person is a governance change (people.yaml): the policy owners approve it, like any
offboarding; apply then revokes what the person still holds. With `leavers: {revoke: true}` apply
has already taken it back, by policy (`reconciler.leavers`): the pull request makes the YAML say so.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from pathlib import Path

import git

from reconciler import event_loop
from reconciler.commands.branch_pr import (
    Snapshot,
    Target,
    base_snapshot,
    load_at,
    open_pull,
    publish,
    pushed_by_others,
)
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source, open_connectors
from reconciler.connectors.base import VendorState
from reconciler.errors import ConfigError
from reconciler.leavers import IDP, Leaver, NamedIn, find_leavers, lines_naming
from reconciler.leaving import expected_at_idp, hr_export_path, people_written, read_hr_export
from reconciler.location import Location
from reconciler.policy_loader import POLICIES_DIR, load_policies
from reconciler.policy_model import Leavers
from reconciler.records import Scope
from reconciler.render.escape import md_code, md_text
from reconciler.usage import AccountIndex, moment
from reconciler.yaml_edit import diff_sections, remove_entry

BRANCH = "access-leavers/remove"
TITLE = "Remove leavers from access/"


def run(ctx: AppContext, *, target: Target, source: Source, hr_export: Path | None = None) -> int:
    with base_snapshot(ctx, target) as snapshot:
        desired = load_at(ctx, snapshot.root)
        policies = load_policies(snapshot.root)
        policy = policies.leavers or Leavers()
        hr_path = hr_export_path(ctx.repo, policies.leavers, hr_export)
        hr = read_hr_export(hr_path) if hr_path is not None else []
        idp = _read_idp(ctx, source, none_ok=bool(hr))
        found = find_leavers(
            desired.access.people.values(), idp, expected_at_idp(desired.access), policy, ctx.today,
            written=people_written(ctx.repo, snapshot.start), hr=hr,
        )  # fmt: skip
        if not found:
            ctx.output.result("no leavers: no pull request needed")
            return 0
        if pushed_by_others(snapshot.repo, target, BRANCH, lambda message: message.startswith(TITLE)):
            pull = open_pull(ctx, target, BRANCH)
            if pull is not None:
                ctx.output.result(
                    f"{BRANCH}: left as it is (pull request #{pull.number} is open and someone has pushed to "
                    f"it); {len(found)} leaver(s)"
                )
                return 0
        named = {leaver.person: lines_naming(desired.files, leaver.person) for leaver in found}
        texts = _edits(snapshot, named)
        load_at(ctx, snapshot.root, texts)  # the result must still load
        index = AccountIndex([idp]) if idp is not None else None
        body = _body(snapshot, texts, found, named, policy, index, ctx, hr_path)
        pull, created = publish(
            ctx, snapshot, target, branch=BRANCH, files=texts, message=commit_message(found),
            title=TITLE, body=body,
        )  # fmt: skip
    names = ", ".join(x.person for x in found)
    ctx.output.result(
        f"{'opened' if created else 'updated'} pull request #{pull.number} removing {len(found)} leaver(s) "
        f"({names}): {pull.html_url}"
    )
    return 0


TRAILER = "Left:"  # `Left: <person> <when, or "unknown">`: who left and since when, for `pending`


def commit_message(found: list[Leaver]) -> str:
    """The branch's commit: who left and why, for people, and one trailer per leaver for `pending`."""
    lines = [TITLE, "", *(f"{x.person}: {x.why()}" for x in found), ""]
    lines += [f"{TRAILER} {x.person} {x.left_at or 'unknown'}" for x in found]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Pending:
    """A leaver the open leavers pull request removes (read back from its branch's commit)."""

    person: str
    left_at: str  # ISO 8601, "" when not said
    why: str
    found: dt.date  # the day the commit was made: when access last said they left


def pending(repo: git.Repo) -> list[Pending]:
    """The leavers the leavers branch removes, from the last commit this command made on it
    (`origin/access-leavers/remove` in a clone, else the local branch); none without one. Data this
    command wrote, for reminders: nothing decides on it."""
    for ref in (f"refs/remotes/origin/{BRANCH}", f"refs/heads/{BRANCH}"):
        try:
            commits = list(repo.iter_commits(ref, max_count=50))
        except (git.GitCommandError, ValueError):
            continue
        ours = next((c for c in commits if str(c.message).startswith(TITLE)), None)
        if ours is None:
            return []
        message = str(ours.message)
        why = dict(line.split(": ", 1) for line in message.splitlines()[2:] if ": " in line)
        found = ours.committed_datetime.astimezone(dt.UTC).date()
        out = []
        for line in message.splitlines():
            if line.startswith(TRAILER) and len(parts := line.split()) == 3:
                person, when = parts[1], parts[2]
                out.append(Pending(person, "" if when == "unknown" else when, why.get(person, ""), found))
        return out
    return []


def _read_idp(ctx: AppContext, source: Source, *, none_ok: bool) -> VendorState | None:
    """PingOne's users, read now (only the users and populations: no group or role is managed for
    this read); None without PingOne settings when an HR export says who left (else the error)."""
    scope = Scope(vendors=frozenset({IDP}), tenants=frozenset({(IDP, "")}))

    async def read() -> VendorState:
        async with open_connectors(
            replace(ctx, vendors=(IDP,)), source, (IDP,), writable=False
        ) as connectors:
            return await connectors[IDP].sync(scope)

    try:
        return event_loop.run(read())
    except ConfigError as exc:
        if not none_ok:
            raise
        ctx.output.info(f"PingOne not read ({exc.message.splitlines()[0]}): the HR export only")
        return None


def _edits(snapshot: Snapshot, named: dict[str, list[NamedIn]]) -> dict[str, str]:
    """Each file with the leavers' entries and member lines removed (one line, or one list item, each)."""
    texts: dict[str, str] = {}
    for person, places in named.items():
        for place in places:
            text = texts.get(place.file) or (snapshot.root / place.file).read_text(encoding="utf-8")
            texts[place.file] = remove_entry(text, place.file, place.path, person)
    return texts


def _policy_mentions(root: Path, person: str) -> list[str]:
    """file:line of each line of policies/ that names `person` as a word (an approver, an owner):
    the policy owners change those; this pull request does not touch policies/."""
    pattern = re.compile(rf"(?<![\w.@-]){re.escape(person)}(?![\w.@-])")
    found: list[str] = []
    for path in sorted((root / POLICIES_DIR).rglob("*.y*ml")):
        rel = path.relative_to(root).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line.split("#", 1)[0]):
                found.append(str(Location(rel, number)))
    return found


def _body(
    snapshot: Snapshot,
    texts: dict[str, str],
    found: list[Leaver],
    named: dict[str, list[NamedIn]],
    policy: Leavers,
    index: AccountIndex | None,
    ctx: AppContext,
    hr_path: Path | None,
) -> str:
    said = f"PingOne and the HR export ({hr_path.name}) say" if hr_path is not None else "PingOne says"
    lines = [
        f"People who have left, as {md_text(said)} as of {ctx.now:%Y-%m-%d %H:%M} UTC. Merging removes "
        "them from access/: their entry in people.yaml and every line that names them; apply then revokes "
        "what they still hold.",
        "",
    ]
    if policy.revoke:
        lines += [
            "The leavers policy says `revoke: true`: apply has already taken back the access of those the "
            "IdP says have left, at every vendor, as the policy's decision (audited with the rule "
            "`leavers`). This makes the YAML say so.",
            "",
        ]
    else:
        lines += [
            "Until this is merged, apply gives them nothing more (no grant, no account, no reactivation), "
            "but what they hold stays.",
            "",
        ]
    lines += [
        "Removing people changes people.yaml, so the policy owners approve this, like any offboarding.",
        "",
        "| person | left | since | lines removed | last PingOne sign-in |",
        "|---|---|---|---|---|",
    ]
    for leaver in found:
        when = moment(leaver.left_at)
        since = f"{when:%Y-%m-%d %H:%M} UTC" if when else "not said"
        account = index.find(IDP, "", leaver.principal) if index is not None else None
        signed = index.text(IDP, account) if index is not None else "not read"
        lines.append(
            f"| {md_text(leaver.person)} | {md_text(leaver.why())} | {since} | {len(named[leaver.person])} "
            f"| {md_text(signed)} |"
        )
    mentions = {x.person: _policy_mentions(snapshot.root, x.person) for x in found}
    if any(mentions.values()):
        lines += [
            "",
            "### Still named in policies/",
            "",
            "This pull request does not change policies/ (the policy owners do, in a pull request of its own):",
            "",
        ]
        lines += [
            f"- {md_text(person)}: " + ", ".join(md_code(w) for w in where)
            for person, where in mentions.items()
            if where
        ]
    lines += diff_sections(snapshot.root, texts)
    return "\n".join(lines)
