"""`access recertify` (scheduled): per owner, ONE pull request re-approving the access they own.

The assignments due (`reconciler.recertification`) are grouped by owner; each owner's pull request,
on `access-recertify/<owner>`, lists them in its description and sets `certified: <today>` on each
line. The owner deletes the lines no longer needed and approves: the merge and its approval are the
evidence, and the gate applies the revocations of the deleted lines. Lines past their deadline get
`expires: <deadline>` in the same pull request instead, so nothing lapses without a reviewed change.
Run again, it rebuilds each open pull request from main (never a second one), except one the owner
has already pushed to: that one is left as it is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import git

from reconciler import event_loop
from reconciler.commands.branch_pr import (
    Snapshot,
    Target,
    base_snapshot,
    github,
    load_at,
    publish,
    pushed_by_others,
)
from reconciler.commands.context import AppContext
from reconciler.commands.formats import TextOrJson
from reconciler.commands.state import Desired, Source, open_connectors, sync_all
from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError
from reconciler.location import Location
from reconciler.policy_loader import load_policies
from reconciler.provenance import History
from reconciler.recertification import (
    Due,
    MemberLine,
    branch_name,
    by_owner,
    find_due,
    grants_by_line,
    member_lines,
)
from reconciler.records import Account, Grant, Person
from reconciler.render.escape import md_code, md_text, mention
from reconciler.rules.matching import describe_grant
from reconciler.usage import (
    NOT_AVAILABLE,
    UNKNOWN,
    AccountIndex,
    moment,
    reports_sign_ins,
    sign_in_text,
)
from reconciler.yaml_edit import diff_sections, remove_member, set_member_option

TITLE = "Recertify access owned by"


@dataclass(frozen=True, slots=True)
class SignIns:
    """When the people of the lines due last signed in, per vendor (the vendors read for it), or why
    not known."""

    index: AccountIndex | None
    people: Mapping[str, Person]
    today: dt.date
    note: str = ""  # why the vendors were not read

    def of(self, grant: Grant) -> Account | None:
        if self.index is None:
            return None
        return self.index.find(grant.vendor, grant.tenant, grant.principal, self.people.get(grant.principal))

    def cell(self, grants: Sequence[Grant]) -> str:
        """The table's cell: one person's last sign-in; for several, the latest and how many never."""
        vendor = grants[0].vendor
        if not reports_sign_ins(vendor):
            return NOT_AVAILABLE
        if self.index is None:
            return "not read"
        by = {g.principal: g for g in grants}
        if len(by) == 1:
            return self.index.text(vendor, self.of(grants[0]))
        accounts = [self.of(g) for g in by.values()]
        signed = [a for a in accounts if a is not None and moment(a.last_sign_in) is not None]
        if not self.index.knows(vendor):
            return UNKNOWN
        parts = [f"latest {sign_in_text(vendor, max(signed, key=_signed_at))}"] if signed else []
        if len(signed) < len(accounts):
            parts.append(f"{len(accounts) - len(signed)} never")
        return f"{len(by)} people: " + ", ".join(parts)

    def unused(self, grants: Sequence[Grant], days: int | None) -> bool:
        """Whether everyone the line grants has not signed in to the vendor for `days` days (or
        never): False when unknown (no rule, the vendor does not say, not read, no account)."""
        if days is None or self.index is None or not reports_sign_ins(grants[0].vendor):
            return False
        found = [self.index.days_unused(self.of(g), self.today) for g in grants]
        return all(d is not None and d >= days for d in found)


def _signed_at(account: Account) -> dt.datetime:
    return moment(account.last_sign_in) or dt.datetime.min.replace(tzinfo=dt.UTC)


def sign_ins(ctx: AppContext, desired: Desired, source: Source) -> SignIns:
    """Read the vendors that say when accounts last signed in (PingOne, Procore) for the table's
    "last sign-in" column and the rules' `unused_days`; without their settings, or when they cannot
    be read, say so and go on (nothing is then removed as unused)."""
    people = desired.access.people
    vendors = tuple(v for v in sorted(desired.access.scope.vendors) if reports_sign_ins(v))
    if not vendors:
        return SignIns(None, people, ctx.today)
    try:
        actual = event_loop.run(_read(replace(ctx, vendors=vendors), desired, source, vendors))
    except AccessError as exc:  # not configured, or not answering: the review goes on without them
        return SignIns(None, people, ctx.today, note=exc.message.splitlines()[0])
    return SignIns(AccountIndex(actual.values()), people, ctx.today)


async def _read(
    ctx: AppContext, desired: Desired, source: Source, vendors: tuple[str, ...]
) -> dict[str, VendorState]:
    async with open_connectors(ctx, source, vendors, writable=False) as connectors:
        return await sync_all(ctx, connectors, desired.access)


def run(ctx: AppContext, *, target: Target, fmt: TextOrJson = "text", source: Source | None = None) -> int:
    """With `fmt` json, stdout is one document: per owner, the pull request and the lines due.
    `source`: where the last sign-ins come from (the sandbox with a sandbox target, else live)."""
    if fmt == "json":
        ctx = replace(ctx, output=replace(ctx.output, out=ctx.output.err))
    found: list[dict[str, Any]] = []
    code = _run(ctx, target, found, source or Source(sandbox=target.sandbox))
    if fmt == "json":
        ctx.output.raw(json.dumps({"owners": found}, indent=2, ensure_ascii=False) + "\n")
    return code


def _run(ctx: AppContext, target: Target, found: list[dict[str, Any]], source: Source) -> int:
    today = ctx.today
    with base_snapshot(ctx, target) as snapshot:
        desired = load_at(ctx, snapshot.root)
        policies = load_policies(snapshot.root)
        if not policies.recertification:
            ctx.output.result("no recertification rules in policies/: nothing to recertify")
            return 0
        history = History(snapshot.repo, snapshot.start)

        def written(line: MemberLine) -> tuple[dt.date, str] | None:
            where = Location.parse(line.where)
            commit = history.blame(where.file).get(where.line)
            if commit is None or not commit.date:
                return None
            return dt.date.fromisoformat(commit.date[:10]), f"written in {commit.sha[:10]}"

        due = find_due(
            member_lines(desired.files),
            grants_by_line(desired.access),
            policies,
            desired.access,
            today,
            written,
        )
        if not due:
            ctx.output.result("nothing due for recertification: no pull request needed")
            return 0
        revoking = frozenset(n for n, r in policies.recertification.items() if r.on_no_response == "revoke")
        used = sign_ins(ctx, desired, source)
        if used.note:
            ctx.output.info(f"last sign-ins not shown: {used.note}")
        for owner, items in by_owner(due).items():
            unused = {
                id(i) for i in items if used.unused(i.grants, policies.recertification[i.rule].unused_days)
            }
            found.append(_one_owner(ctx, snapshot, target, owner, items, today, revoking, used, unused))
    return 0


def _one_owner(
    ctx: AppContext,
    snapshot: Snapshot,
    target: Target,
    owner: str,
    items: list[Due],
    today: dt.date,
    revoking: frozenset[str],
    used: SignIns,
    unused: set[int],
) -> dict[str, Any]:
    """Open or update the owner's pull request; what was done, for --format json. `unused`: the
    items (by id) whose people have not signed in for their rule's `unused_days`: their lines are
    removed here, not certified."""
    branch = branch_name(owner)
    done: dict[str, Any] = {
        "owner": owner,
        "branch": branch,
        "lines": [
            {"line": i.line.where, "member": i.line.member, "due": str(i.due), "deadline": str(i.deadline),
             "overdue": i.overdue, "rule": i.rule, "last_sign_in": used.cell(i.grants),
             "removed_as_unused": id(i) in unused}
            for i in items
        ],
        "pull_request": None,
        "left_as_is": False,
    }  # fmt: skip
    if _owner_pushed(snapshot.repo, target, branch) and asyncio.run(_is_open(ctx, target, branch)):
        ctx.output.result(
            f"{branch}: left as it is (its pull request is open and someone has pushed to it); "
            f"{len(items)} line(s) due"
        )
        done["left_as_is"] = True
        return done
    texts: dict[str, str] = {}
    for item in items:
        line = item.line
        text = texts.get(line.file) or (snapshot.root / line.file).read_text(encoding="utf-8")
        if id(item) in unused:
            texts[line.file] = remove_member(text, line.file, line.path, line.member)
        elif item.overdue:
            texts[line.file] = set_member_option(
                text, line.file, line.path, line.member, "expires", item.deadline
            )
        else:
            texts[line.file] = set_member_option(text, line.file, line.path, line.member, "certified", today)
    load_at(ctx, snapshot.root, texts)  # the result must still load
    title = f"{TITLE} {owner}"
    pull, created = publish(
        ctx, snapshot, target, branch=branch, files=texts,
        message=f"{title}\n\n" + "\n".join(
            f"{i.line.member}: {i.line.where}, "
            + ("removed as unused" if id(i) in unused else f"expires {i.deadline}" if i.overdue else "certified")
            for i in items
        ),
        title=title, body=_body(snapshot, texts, owner, items, today, revoking, used, unused),
    )  # fmt: skip
    ctx.output.result(
        f"{'opened' if created else 'updated'} pull request #{pull.number} for {owner} "
        f"({len(items)} line(s)): {pull.html_url}"
    )
    done["pull_request"] = {"number": pull.number, "url": pull.html_url, "created": created}
    return done


def _owner_pushed(repo: git.Repo, target: Target, branch: str) -> bool:
    """Whether the branch's tip was written by someone other than this command."""
    return pushed_by_others(repo, target, branch, lambda message: message.startswith(TITLE))


async def _is_open(ctx: AppContext, target: Target, branch: str) -> bool:
    with github(ctx, target) as factory:
        async with factory() as client:
            return await client.open_pull_for(branch) is not None


def _body(
    snapshot: Snapshot,
    texts: dict[str, str],
    owner: str,
    items: list[Due],
    today: dt.date,
    revoking: frozenset[str] = frozenset(),
    used: SignIns | None = None,
    unused: set[int] | frozenset[int] = frozenset(),
) -> str:
    """The pull request's description; `revoking`: the rules whose lines lapse on no response;
    `used`: when the lines' people last signed in; `unused`: the items removed as unused."""
    logins = sorted({login for i in items for login in i.owner.logins}, key=str.casefold)
    asked = ", ".join(map(mention, logins)) or "any reviewer"  # the owners are asked: pinged on purpose
    lapsing = sorted((i for i in items if i.rule in revoking), key=lambda i: i.deadline)
    lines = (
        [
            f"**Lapses without an answer:** {len(lapsing)} line(s) here lose their access after "
            f"{lapsing[0].deadline} unless this is merged by then (each line's deadline is below; the "
            "recertification policy says `on_no_response: revoke`, so apply takes it back without a merge).",
            "",
        ]
        if lapsing
        else []
    )
    lines += [
        f"Access that **{md_text(owner)}** ({asked}) approves is due for re-approval (as of {today}).",
        "",
        "- **Keep** a line: leave it; this pull request sets `certified` on it.",
        "- **Remove** access: delete the line in this pull request (push to this branch).",
        "- Then approve. The merge and your approval are the evidence; apply revokes the deleted lines.",
        "",
        "| line | who | access | last reviewed | last sign-in | due | deadline | rule |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i in sorted(items, key=lambda x: Location.parse(x.line.where).sort_key()):
        reviewed = "never" if i.reviewed == dt.date.min else f"{i.reviewed} ({i.basis})"
        access = "; ".join(sorted({describe_grant(g) for g in i.grants}))
        if len({g.principal for g in i.grants}) > 1:
            access = f"{access} ({len({g.principal for g in i.grants})} people)"
        lines.append(
            f"| {md_code(i.line.where, in_table=True)} | {md_text(i.line.member)} | {md_text(access)} "
            f"| {md_text(reviewed)} | {md_text(used.cell(i.grants) if used else 'not read')} | {i.due} "
            f"| {i.deadline} | {md_text(i.rule)} |"
        )
    removed = [i for i in items if id(i) in unused]
    if removed:
        lines += [
            "",
            "### Removed as unused",
            "",
            "Nobody these lines grant has signed in to the vendor for the rule's `unused_days` (or ever): "
            "this pull request deletes them, so merging it revokes their access. To keep one, put its "
            "line back (push to this branch) before approving.",
            "",
        ]
        lines += [
            f"- {md_code(i.line.where)} {md_text(i.line.member)}: last sign-in "
            f"{md_text(used.cell(i.grants) if used else 'not read')}"
            for i in removed
        ]
    if used is not None and used.note:
        lines += ["", f"Last sign-ins were not read: {md_text(used.note)}."]
    overdue = [i for i in items if i.overdue and id(i) not in unused]
    if overdue:
        lines += [
            "",
            "### Past the deadline",
            "",
            "Not re-approved in time: these lines get `expires: <deadline>` here, and lapse once this is "
            "merged. To keep one, replace its `expires` with `certified: " + str(today) + "`.",
            "",
        ]
        lines += [
            f"- {md_code(i.line.where)} {md_text(i.line.member)}: deadline {i.deadline}" for i in overdue
        ]
    lines += diff_sections(snapshot.root, texts)
    return "\n".join(lines)
