"""`access adopt` (the scheduled drift run): ONE pull request per out-of-band grant, to keep it.

For each grant the plan revokes as drift and the vendor's audit records name someone other than
access for (`reconciler.drift`: out-of-band), a pull request on `access-adopt/<person>-<vendor>-
<resource>-<entitlement>` adds the YAML line, with `reason: adopted drift (granted by X at T)` (and
the expiry the `privileged` rules ask for). One per grant, not per person: each is reviewed under the
approver rules of its own resource, by its own owners.

- **Merged and approved**, the line is approved access like any request (the approval gate judges
  it; the administrator who made the change by hand is named in a `Requested-by:` trailer when
  access/ knows them, so they cannot approve keeping it).
- **Closed unmerged**, nothing changes in git: the grant stays drift, and apply's drift repair
  revokes it. The pull request is never an input to apply: an open one does not hold the revert
  back (the scheduled run revokes the grant the same day; merging grants it back).
- **Never duplicated**: an open pull request on the branch is rebuilt from main (unless someone else
  pushed to it: then it is left as it is); one closed or merged for the same change (the same
  actor and time, recorded in its description) is not asked again.

With `--unattributed`, drift that nobody can name (Procore, SAP Concur, or credentials that may not
read PingOne's activities) is offered too: off by default, since such a revocation may be a line
someone deleted from the YAML on purpose that apply has yet to carry out.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from reconciler import drift
from reconciler.changes import ACCOUNT, Cause, CauseKind, Plan
from reconciler.commands.branch_pr import (
    Snapshot,
    Target,
    base_snapshot,
    github,
    load_at,
    publish,
    pushed_by_others,
)
from reconciler.commands.comment import obtain_plan
from reconciler.commands.context import AppContext
from reconciler.commands.request import Ask, Spot, find_spots, privileged_terms
from reconciler.commands.state import Desired, Source
from reconciler.errors import AccessError
from reconciler.github_api import PullRequest
from reconciler.policy_loader import load_policies
from reconciler.records import Grant, Person
from reconciler.render.escape import md_code, md_fence, md_text
from reconciler.yaml_edit import Member, add_member, changed_lines

TITLE = "Adopt drift:"
BRANCH_PREFIX = "access-adopt/"
MARKER = "<!-- access-adopt {} -->"


@dataclass(frozen=True, slots=True)
class Outcome:
    grant: Grant
    what: str  # "opened", "updated", "left", "skipped"
    message: str
    pull: PullRequest | None = None


def branch_name(person: str, grant: Grant) -> str:
    slug = re.sub(
        r"[^a-z0-9]+", "-", f"{person} {grant.vendor} {grant.resource} {grant.entitlement}".casefold()
    ).strip("-")
    return f"{BRANCH_PREFIX}{slug}"


def change_key(cause: Cause) -> str:
    """Names the change at the vendor (the access, who made it and when): one decision per change."""
    text = "\x1f".join((*drift.grant_of(cause), cause.actor_id, cause.at))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reason(cause: Cause, today: str) -> str:
    """The line's `reason`: 'adopted drift (granted by X at T)'."""
    if cause.kind is CauseKind.UNKNOWN:
        return f"adopted drift (found {today}, not attributable)"
    return f"adopted drift (granted by {cause.actor or cause.actor_id} at {drift.when(cause.at)})"


def eligible(plan: Plan, *, unattributed: bool) -> list[Cause]:
    """The grants to offer: out-of-band drift that the plan revokes (and, asked for, unattributed)."""
    if plan.causes is None:
        raise AccessError(
            "the plan says nothing about who made its drift (it was made from a snapshot): plan against "
            "the vendors (`access plan --out plan.json`, or --sandbox) and adopt from that plan"
        )
    kinds = {CauseKind.OUT_OF_BAND, *([CauseKind.UNKNOWN] if unattributed else [])}
    return [c for c in plan.causes if c.kind in kinds and c.resource_type != ACCOUNT and c.change]


def run(
    ctx: AppContext, *, plan_file: Path | None, source: Source, target: Target, unattributed: bool = False
) -> int:
    # With a plan file, --sandbox names only the GitHub to open the pull requests at.
    plan = obtain_plan(ctx, plan_file, Source() if plan_file is not None else source)
    offered = eligible(plan, unattributed=unattributed)
    if not offered:
        ctx.output.result("no out-of-band drift to adopt: no pull request needed")
        return 0
    with base_snapshot(ctx, target) as snapshot:
        desired = load_at(ctx, snapshot.root)
        outcomes = [_one(ctx, snapshot, target, desired, cause) for cause in offered]
    for outcome in outcomes:
        where = f" #{outcome.pull.number} {outcome.pull.html_url}" if outcome.pull else ""
        ctx.output.result(f"{outcome.what}{where}: {outcome.message}")
    return 0


def _one(ctx: AppContext, snapshot: Snapshot, target: Target, desired: Desired, cause: Cause) -> Outcome:
    grant = drift.grant_of(cause)
    described = drift.what(cause)
    person = desired.access.people.get(grant.principal)
    if person is None:
        return Outcome(
            grant, "skipped", f"{grant.principal} is not in access/people.yaml: add them first ({described})"
        )
    spot = _spot(desired, grant)
    if spot is None:
        return Outcome(
            grant, "skipped", f"{described} is not listed in access/: add the resource by hand ({person.key})"
        )
    branch = branch_name(person.key, grant)
    key = change_key(cause)
    earlier = asyncio.run(_pulls(ctx, target, branch))
    decided = next((p for p in earlier if p.state == "closed" and MARKER.format(key) in p.body), None)
    if decided is not None:
        verdict = "merged" if decided.merged else "closed unmerged"
        return Outcome(
            grant, "skipped", f"{person.key} → {described}: decided in #{decided.number} ({verdict})"
        )
    is_open = any(p.state == "open" for p in earlier)
    if is_open and pushed_by_others(snapshot.repo, target, branch, lambda m: m.startswith(TITLE)):
        return Outcome(grant, "left", f"{branch}: left as it is (someone has pushed to it)")
    policies = load_policies(snapshot.root)
    why = reason(cause, ctx.today.isoformat())
    expires, problems = privileged_terms(
        policies, grant, Ask(person.key, grant.resource, reason=why), ctx.today
    )
    member = Member(
        person.key, grant.entitlement if spot.entitlement_key else "", spot.entitlement_key, expires, why
    )
    text = (snapshot.root / spot.file).read_text(encoding="utf-8")
    try:
        new_text = add_member(text, spot.file, spot.path, member)
    except AccessError as exc:
        return Outcome(grant, "skipped", f"{person.key} → {described}: {exc.message}")
    load_at(ctx, snapshot.root, {spot.file: new_text})  # the result must still load
    title = f"{TITLE} {person.key} → {described}"
    requester = _requester(desired, cause)
    message = f"{title}\n\n{why}" + (f"\n\nRequested-by: {requester}" if requester else "")
    body = _body(person, described, cause, spot, text, new_text, problems, key)
    pull, created = publish(
        ctx,
        snapshot,
        target,
        branch=branch,
        files={spot.file: new_text},
        message=message,
        title=title,
        body=body,
    )
    return Outcome(grant, "opened" if created else "updated", f"{person.key} → {described}", pull)


def _spot(desired: Desired, grant: Grant) -> Spot | None:
    spots = [
        s
        for s in find_spots(desired.files, grant.resource, (grant.vendor,))
        if (s.vendor, s.tenant, s.resource_type) == (grant.vendor, grant.tenant, grant.resource_type)
    ]
    return spots[0] if len(spots) == 1 else None


async def _pulls(ctx: AppContext, target: Target, branch: str) -> list[PullRequest]:
    with github(ctx, target) as factory:
        async with factory() as client:
            return await client.pulls_for(branch)


def _requester(desired: Desired, cause: Cause) -> str:
    """The GitHub login of the administrator who made the change by hand, when access/ knows them
    (by email or vendor login): named in `Requested-by:`, they cannot approve keeping it."""
    if cause.actor_type != "user" or not cause.actor:
        return ""
    folded = cause.actor.casefold()
    for person in desired.access.people.values():
        if folded == person.principal or folded == person.login(cause.vendor).casefold():
            return person.github
    return ""


def _body(
    person: Person,
    described: str,
    cause: Cause,
    spot: Spot,
    old: str,
    new: str,
    problems: list[str],
    key: str,
) -> str:
    if cause.kind is CauseKind.UNKNOWN:
        made = f"Who made it is not known: {cause.note}."
    else:
        made = f"It was {drift.text(cause)}, not through `access/`."
    lines = [
        f"**{md_text(person.name)}** ({md_text(person.key)}) holds **{md_text(described)}**, which "
        f"`access/` does not list. {md_text(made, code_spans=True)}",
        "",
        "- **Keep it**: approve and merge this pull request. It is judged like any request: the approver "
        f"rules of this resource apply, and {md_text(person.key)} cannot approve it.",
        "- **Revert it**: close this pull request. The access stays drift, and apply revokes it "
        "(restoring the approved state needs no approval).",
        "",
        "This pull request never holds the revert back: until it is merged, the scheduled apply treats "
        "the access as drift and revokes it; once merged and approved, the next apply grants it back.",
    ]
    if problems:
        lines += ["", "**Privileged:** " + md_text("; ".join(problems)) + ". Edit the line before approving."]
    lines += [
        "",
        f"The change, one line in {md_code(spot.file)}:",
        "",
        *md_fence(changed_lines(old, new), "diff"),
        "",
        MARKER.format(key),
    ]
    return "\n".join(lines)
