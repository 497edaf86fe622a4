"""`access request PERSON RESOURCE [ENTITLEMENT]`: ask for access without editing YAML.

Makes the one-line change in access/ (ruamel.yaml round trip: comments and layout kept) on a new
branch from the default branch, commits, pushes, and opens the pull request with the plan preview.
Privileged entitlements (policies' `privileged`) get an expiry by default (the rule's `max_days`)
and need a `reason` matching the rule. The pull request is reviewed and applied like any other:
the person receiving the access can never approve it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import git

from reconciler.catalogs import closest, static_catalog
from reconciler.commands.branch_pr import Target, base_snapshot, load_at, preview, publish
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source
from reconciler.errors import AccessError
from reconciler.loader import DesiredFiles
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from reconciler.records import Grant, Person
from reconciler.render.escape import md_code, md_fence, md_text, mention
from reconciler.rules.matching import describe_grant, grant_matches
from reconciler.yaml_edit import Member, add_member, changed_lines


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a resource is listed: file, YAML path, and what its members' entitlements are."""

    file: str
    path: tuple[str, ...]
    vendor: str
    tenant: str
    resource_type: str
    resource: str  # canonical (a Concur role's code)
    entitlement_key: str  # "template", "scope" or "" (plain membership)


@dataclass(frozen=True, slots=True)
class Ask:
    person: str
    resource: str
    entitlement: str = ""
    expires: dt.date | None = None
    reason: str = ""
    issue: int | None = None  # the issue the request came from (the issue form)
    requested_by: str = ""  # GitHub login of whoever asked (the issue's author)


def find_spots(files: DesiredFiles, resource: str, vendors: tuple[str, ...] | None) -> list[Spot]:
    folded = resource.casefold()
    spots: list[Spot] = []
    for source in files.files:
        model, name = source.model, source.document.file
        if model.procore is not None and (vendors is None or "procore" in vendors):
            for company, section in model.procore.companies.items():
                for project in section.projects:
                    if project.casefold() == folded:
                        path = ("procore", "companies", company, "projects", project)
                        spots.append(Spot(name, path, "procore", company, "project", project, "template"))
        if model.concur is not None and (vendors is None or "concur" in vendors):
            catalog = static_catalog("concur", "role")
            wanted = catalog.resolve(resource) if catalog is not None else None
            for role in model.concur.roles:
                code = catalog.resolve(role) if catalog is not None else role
                if role.casefold() == folded or (wanted is not None and code == wanted):
                    spots.append(
                        Spot(name, ("concur", "roles", role), "concur", "", "role", code or role, "")
                    )
        if model.pingone is not None and (vendors is None or "pingone" in vendors):
            for group in model.pingone.groups:
                if group.casefold() == folded:
                    spots.append(Spot(name, ("pingone", "groups", group), "pingone", "", "group", group, ""))
            for role in model.pingone.roles:
                if role.casefold() == folded:
                    spots.append(Spot(name, ("pingone", "roles", role), "pingone", "", "role", role, "scope"))
    return spots


def _all_resources(files: DesiredFiles) -> list[str]:
    names: list[str] = []
    for source in files.files:
        m = source.model
        if m.procore is not None:
            names += [p for c in m.procore.companies.values() for p in c.projects]
        if m.concur is not None:
            names += list(m.concur.roles)
        if m.pingone is not None:
            names += [*m.pingone.groups, *m.pingone.roles]
    return names


def resolve_person(people: dict[str, Person], name: str) -> Person:
    folded = name.casefold()
    for person in people.values():
        if folded in (person.key.casefold(), person.principal, person.github.casefold()):
            return person
    found = closest(name, [p.key for p in people.values()], 2)
    hint = f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""
    raise AccessError(
        f"no person {name!r} in access/people.yaml{hint}; add them there first (a new person is a "
        "change to people.yaml, reviewed like any other)"
    )


def privileged_terms(
    policies: Policies, grant: Grant, ask: Ask, today: dt.date
) -> tuple[dt.date | None, list[str]]:
    """The expiry to write, and what is wrong, for a grant the `privileged` rules cover."""
    expires = ask.expires
    problems: list[str] = []
    for name, rule in policies.privileged.items():
        if not any(grant_matches(m, grant) for m in rule.entitlements):
            continue
        latest = today + dt.timedelta(days=rule.max_days)
        if expires is None:
            expires = latest
        elif expires > latest:
            problems.append(
                f"--expires {expires} is more than {rule.max_days} days away (privileged rule {name!r}: "
                f"{latest} at the latest)"
            )
        if not re.search(rule.reason_pattern, ask.reason):
            problems.append(
                f"--reason {ask.reason!r} does not match {rule.reason_pattern!r} (privileged rule {name!r}: "
                "give the ticket)"
            )
    return expires, problems


def branch_name(person: str, spot: Spot, entitlement: str) -> str:
    slug = re.sub(
        r"[^a-z0-9]+", "-", f"{person} {spot.vendor} {spot.resource} {entitlement}".casefold()
    ).strip("-")
    return f"access-request/{slug}"


def run(ctx: AppContext, ask: Ask, *, target: Target, source: Source | None, fmt: str = "text") -> int:
    with base_snapshot(ctx, target) as snapshot:
        before = load_at(ctx, snapshot.root)
        person = resolve_person({p.key: p for p in before.access.people.values()}, ask.person)
        spot = _one_spot(before.files, ask.resource, ctx.vendors)
        entitlement = _entitlement(spot, ask.entitlement)
        grant = Grant(
            spot.vendor, spot.tenant, spot.resource_type, spot.resource, entitlement, person.principal
        )
        policies = load_policies(snapshot.root)
        expires, problems = privileged_terms(policies, grant, ask, ctx.today)
        if problems:
            raise AccessError(f"{describe_grant(grant)} is privileged: " + "; ".join(problems))
        text = (snapshot.root / spot.file).read_text(encoding="utf-8")
        member = Member(
            person.key, entitlement if spot.entitlement_key else "", spot.entitlement_key, expires, ask.reason
        )
        new_text = add_member(text, spot.file, spot.path, member)
        after = load_at(ctx, snapshot.root, {spot.file: new_text})
        plan_md, note = preview(ctx, snapshot.root, before, after, source)
        what = describe_grant(grant)
        title = f"Access request: {person.key} → {what}"
        body = _body(ask, person, what, spot, new_text, text, expires, plan_md, note)
        pull, created = publish(
            ctx, snapshot, target, branch=branch_name(person.key, spot, entitlement), files={spot.file: new_text},
            message=_message(title, ask), title=title, body=body, author=_author(ask),
        )  # fmt: skip
    if ask.issue is not None:
        _link_issue(ctx, target, ask.issue, pull.number, pull.html_url)
    verb = "opened" if created else "updated"
    if fmt == "json":
        ctx.output.raw(
            json.dumps({"pull_request": pull.number, "url": pull.html_url, "created": created}) + "\n"
        )
    else:
        ctx.output.result(f"{verb} pull request #{pull.number}: {pull.html_url}")
    return 0


def _message(title: str, ask: Ask) -> str:
    """The commit message; `Requested-by:` names who asked, so that the gate never counts their
    approval of their own request (the pull request's author is the workflow's bot)."""
    trailer = f"\n\nRequested-by: {ask.requested_by}" if ask.requested_by else ""
    return f"{title}\n\n{ask.reason}".strip() + trailer


def _author(ask: Ask) -> git.Actor | None:
    if not ask.requested_by:
        return None
    return git.Actor(ask.requested_by, f"{ask.requested_by}@users.noreply.github.com")


def _one_spot(files: DesiredFiles, resource: str, vendors: tuple[str, ...] | None) -> Spot:
    spots = find_spots(files, resource, vendors)
    if not spots:
        found = closest(resource, _all_resources(files), 3)
        hint = f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""
        raise AccessError(
            f"no project, role or group {resource!r} in access/{hint}; a resource nobody manages yet is "
            "added to the YAML by hand"
        )
    if len(spots) > 1:
        where = ", ".join(f"{s.vendor} ({s.file})" for s in spots)
        raise AccessError(f"{resource!r} is listed more than once: {where}; choose one with --vendor")
    return spots[0]


def _entitlement(spot: Spot, given: str) -> str:
    if spot.entitlement_key == "template":
        if not given:
            raise AccessError(
                f"Procore project {spot.resource!r} needs a permission template: "
                f"`access request PERSON {spot.resource!r} 'Project Engineer'`"
            )
        return given
    if spot.entitlement_key == "scope":
        return given or "environment"
    if given and given.casefold() != "member":
        raise AccessError(
            f"{spot.vendor} {spot.resource_type} {spot.resource!r} has no entitlements: leave it out"
        )
    return "member"


def _body(
    ask: Ask,
    person: Person,
    what: str,
    spot: Spot,
    new: str,
    old: str,
    expires: dt.date | None,
    plan: str,
    note: str,
) -> str:
    # The person, the resource and the reason are YAML or the issue form's text: escaped. The issue
    # and whoever asked are GitHub's own facts: linked and pinged on purpose.
    lines = [
        f"**{md_text(person.name)}** ({md_text(person.key)}) asks for **{md_text(what)}**.",
        "",
        f"- reason: {md_text(ask.reason) if ask.reason else '(none given)'}",
        f"- expires: {expires or 'never'}",
    ]
    if ask.issue is not None:
        lines.append(
            f"- requested in #{ask.issue}" + (f" by {mention(ask.requested_by)}" if ask.requested_by else "")
        )
    lines += [
        "",
        f"The change, one line in {md_code(spot.file)}:",
        "",
        *md_fence(changed_lines(old, new), "diff"),
        "",
        f"{md_text(person.key)} cannot approve this request for themselves; an approval by someone the "
        "approver rules name (policies/approvers.yaml) lets `access apply` grant it after the merge.",
        "",
        f"<sub>{md_text(note)}</sub>",
        "",
        plan,
    ]
    return "\n".join(lines)


def _link_issue(ctx: AppContext, target: Target, issue: int, number: int, url: str) -> None:
    import asyncio

    from reconciler.commands.branch_pr import github

    async def comment() -> None:
        with github(ctx, target) as factory:
            async with factory() as client:
                await client.upsert_comment(
                    issue,
                    f"Opened #{number} for this request: {url}\nIt is applied once approved and merged.",
                    marker="<!-- access-request -->",
                )

    asyncio.run(comment())


def read_issue_form(event_path: Path) -> Ask:
    """An issue opened from `.github/ISSUE_TEMPLATE/access-request.yml`, read from the event file:
    the form's fields are `### Label` sections of the issue body."""
    try:
        event = json.loads(event_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AccessError(f"{event_path}: cannot read the GitHub event ({exc})") from None
    issue = event.get("issue") if isinstance(event, dict) else None
    if not isinstance(issue, dict):
        raise AccessError(f"{event_path}: not an `issues` event")
    fields = parse_form(str(issue.get("body") or ""))
    person, resource = fields.get("person", ""), fields.get("resource", "")
    if not person or not resource:
        raise AccessError(f"issue #{issue.get('number')}: the form needs a person and a resource")
    expires_text = fields.get("expires", "")
    try:
        expires = dt.date.fromisoformat(expires_text) if expires_text else None
    except ValueError:
        raise AccessError(
            f"issue #{issue.get('number')}: expires {expires_text!r} is not a date (YYYY-MM-DD)"
        ) from None
    user = issue.get("user")
    return Ask(
        person=person, resource=resource, entitlement=fields.get("entitlement", ""), expires=expires,
        reason=fields.get("reason", ""), issue=int(issue["number"]),
        requested_by=str(user.get("login", "")) if isinstance(user, dict) else "",
    )  # fmt: skip


FORM_FIELDS = {
    "person": "person",
    "resource": "resource",
    "entitlement": "entitlement",
    "expires": "expires",
    "reason": "reason",
}


def parse_form(body: str) -> dict[str, str]:
    """`### Person\\n\\nalice\\n\\n### Resource\\n\\nVPN` -> {"person": "alice", "resource": "VPN"};
    GitHub writes `_No response_` for an empty optional field."""
    fields: dict[str, str] = {}
    for block in re.split(r"^###\s+", body, flags=re.M)[1:]:
        label, _, value = block.partition("\n")
        key = label.strip().split(" ")[0].casefold().strip("()")
        if key in FORM_FIELDS:
            text = value.strip()
            fields[FORM_FIELDS[key]] = (
                "" if text == "_No response_" else text.splitlines()[0].strip() if text else ""
            )
    return fields
