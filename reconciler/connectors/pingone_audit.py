"""Who made PingOne drift, from its audit activities; and how many identities its licence allows.

**Causes.** For each account with drift (a grant or the account itself that the YAML does not
want), one `GET /environments/{id}/activities` with the filter the docs require, a `recordedAt`
range (the last `PINGONE_ACTIVITY_DAYS`, default 30), and `resources.id eq "<user id>"`, paged by
`_links.next`: only the users that drifted are asked about, never the whole trail (the Audit rate
group is far smaller than the others, 10 requests a second). At most `MAX_USERS` users a run; the
rest say so. The latest successful activity on that user that made the access in question names the
cause: a membership (`GROUP_MEMBERSHIP.*`, naming the group), a role assignment
(`ROLE_ASSIGNMENT.*`, naming the assignment or the role), the account (`USER.CREATED`). Its
`actors.client` is the application whose token made the change, `actors.user` the administrator
who used it (the admin console). One of access's worker apps (`PINGONE_WORKER_CLIENT_IDS`, by
default `PINGONE_CLIENT_ID`) made it: access's own; anyone else: out-of-band.

Reading activities needs a role the worker app may not have: a 403 is an answer here (never retried
as a propagation delay), and every cause then reads "not attributable (the worker may not read
audit activities)". Nothing here ever fails a plan: any error becomes the causes' note.

**Licence.** `GET /environments/{id}` names the environment's licence (`license.id`), and
`GET /organizations/{org}/licenses/{id}` its `users.max`; a 403 or a licence without a maximum
gives no figure, and says why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler import drift
from reconciler.changes import ACCOUNT, Cause, CauseKind
from reconciler.connectors import pingone_shapes as shapes
from reconciler.connectors.pingone_api import PingOneApi, PingOneHttpError
from reconciler.connectors.pingone_sync import Directory
from reconciler.errors import AccessError

MAX_USERS = 200  # users whose activities one run reads (one request each, at least)
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class Licence:
    """The identities the environment's licence allows (None: not known, `note` says why)."""

    users: int | None
    note: str = ""


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Auditor:
    def __init__(
        self, api: PingOneApi, directory: Directory, *, clock: Clock = lambda: dt.datetime.now(dt.UTC)
    ) -> None:
        self.api = api
        self.d = directory
        self.clock = clock

    # ------------------------------------------------------------------ causes

    async def causes(self, items: Sequence[drift.Item]) -> list[Cause]:
        by_user: dict[str, list[drift.Item]] = {}
        out: list[Cause] = []
        for item in items:
            uids = self.d.by_principal.get(item.grant.principal) or []
            if not uids:
                out.append(drift.unknown(item, "not attributable (PingOne holds no such user now)"))
                continue
            by_user.setdefault(uids[0], []).append(item)
        users = list(by_user)
        for uid in users[MAX_USERS:]:
            out += [
                drift.unknown(i, f"not attributed (activities are read for {MAX_USERS} accounts a run)")
                for i in by_user[uid]
            ]
        asked = users[:MAX_USERS]
        end = self.clock()
        start = end - dt.timedelta(days=self.api.settings.activity_days)
        found = await asyncio.gather(
            *(self._activities(uid, start, end + dt.timedelta(minutes=1)) for uid in asked),
            return_exceptions=True,
        )
        for uid, result in zip(asked, found, strict=True):
            for item in by_user[uid]:
                if isinstance(result, BaseException):
                    out.append(drift.unknown(item, self._failed(result)))
                else:
                    out.append(self._cause(item, uid, result))
        return out

    async def _activities(self, uid: str, start: dt.datetime, end: dt.datetime) -> list[shapes.Activity]:
        window = f'recordedAt gt "{_stamp(start)}" AND recordedAt lt "{_stamp(end)}"'
        params = {"filter": f'{window} AND resources.id eq "{uid}"'}
        found: list[shapes.Activity] = []
        async for page in self.api.pages(
            "/activities",
            shapes.ACTIVITIES,
            params=params,
            action="read audit activities",
            forbidden_retries=0,
        ):
            found.extend(page)
        return found

    def _failed(self, error: BaseException) -> str:
        if isinstance(error, PingOneHttpError) and error.status == 403:
            return drift.FORBIDDEN
        if isinstance(error, AccessError):
            first = error.message.splitlines()[0] if error.message else type(error).__name__
            return f"not attributable (reading PingOne's audit activities failed: {first})"
        raise error  # a bug, not an answer: the caller's error boundary reports it

    def _cause(self, item: drift.Item, uid: str, activities: list[shapes.Activity]) -> Cause:
        matching = [a for a in activities if self._made(item, uid, a)]
        if not matching:
            days = self.api.settings.activity_days
            return drift.unknown(
                item, f"not attributable (no PingOne audit activity made it in the last {days} days)"
            )
        latest = max(matching, key=lambda a: a["recordedAt"])
        actors = latest.get("actors") or {}
        client = actors.get("client") or {}
        user = actors.get("user") or {}
        action = (latest.get("action") or {}).get("type") or ""
        client_id = client.get("id") or ""
        if client_id and client_id in self.api.settings.workers and not user:
            return drift.cause(item, CauseKind.ACCESS, actor=client.get("name") or client_id,
                               actor_id=client_id, actor_type="client", at=latest["recordedAt"], action=action)  # fmt: skip
        if user:
            return drift.cause(item, CauseKind.OUT_OF_BAND, actor=user.get("name") or user.get("id") or "",
                               actor_id=user.get("id") or "", actor_type="user",
                               client=client.get("name") or client_id, at=latest["recordedAt"], action=action)  # fmt: skip
        return drift.cause(item, CauseKind.OUT_OF_BAND, actor=client.get("name") or client_id or "an unnamed client",
                           actor_id=client_id, actor_type="client", at=latest["recordedAt"], action=action)  # fmt: skip

    def _made(self, item: drift.Item, uid: str, activity: shapes.Activity) -> bool:
        """Whether `activity` made the access `item` names (not removed it, not something else)."""
        status = ((activity.get("result") or {}).get("status") or "SUCCESS").upper()
        kind = ((activity.get("action") or {}).get("type") or "").upper()
        if status != "SUCCESS" or kind.endswith((".DELETED", ".REMOVED")):
            return False
        resources = activity.get("resources") or []
        if not any(r.get("id") == uid for r in resources):
            return False
        grant = item.grant
        if grant.resource_type == ACCOUNT:
            return kind == "USER.CREATED"
        if grant.resource_type == "group":
            groups = [r for r in resources if (r.get("type") or "").upper() == "GROUP"]
            gid = self.d.group_named(grant.resource)
            named = not groups or any(r.get("id") == gid or r.get("name") == grant.resource for r in groups)
            return kind.startswith("GROUP_MEMBERSHIP.") and named
        if grant.resource_type == "role":
            assignments = {
                a["id"]
                for a in self.d.assignments.get(uid, [])
                if self.d.roles.get(a["role"]["id"]) == grant.resource
                and self.d.scope_text(a["scope"]) == grant.entitlement
            }
            listed = [r for r in resources if (r.get("type") or "").upper() == "ROLE_ASSIGNMENT"]
            named = not listed or any(
                r.get("id") in assignments or r.get("name") == grant.resource for r in listed
            )
            return kind.startswith("ROLE_ASSIGNMENT.") and named
        return False

    # ------------------------------------------------------------------ licence

    async def licence(self) -> Licence:
        try:
            environment = await self.api.get_json("", shapes.ENVIRONMENT, forbidden_retries=0)
            named, owner = environment.get("license"), environment.get("organization")
            licence = named["id"] if named else ""
            organization = self.api.settings.organization_id or (owner["id"] if owner else "")
            if not licence or not organization:
                return Licence(None, "the environment names no licence")
            body = await self.api.get_json(
                f"//organizations/{organization}/licenses/{licence}", shapes.LICENSE,
                action="read the environment's licence", forbidden_retries=0,
            )  # fmt: skip
        except PingOneHttpError as exc:
            if exc.status == 403:
                return Licence(None, "the worker may not read the organization's licences")
            return Licence(None, f"the licence could not be read (HTTP {exc.status})")
        except AccessError as exc:
            return Licence(None, f"the licence could not be read ({exc.message.splitlines()[0]})")
        users = (body.get("users") or {}).get("max")
        if users is None:
            return Licence(None, "the licence sets no maximum of users")
        return Licence(int(users))
