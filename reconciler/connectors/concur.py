"""SAP Concur: accounts from Identity v4.1, roles from Spend v4.1, changes through User Provisioning.

- Auth: the company refresh token at `{geolocation}/oauth2/v0/token`; rotated tokens are saved
  through the token store (`reconciler.token_store`).
- Sync: Identity v4.1 pages of 1,000 by cursor (one after another) while Spend v4.1 pages of 100
  by `startIndex` are fetched side by side (their offsets are known once the first page gives
  `totalResults`). A principal is the casefolded work email; the login is `userName`.
- Apply: UPS POST/PATCH return a provision id; a change counts as done only when the provision
  status says completed and successful (polled with backoff, `vendor_ref` = provision id).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import httpx

from reconciler.catalogs import static_catalog
from reconciler.catalogs.concur import ENTITLEMENT_ROLES
from reconciler.changes import Action, Change
from reconciler.connectors import concur_api as api
from reconciler.connectors import concur_shapes as shapes
from reconciler.connectors.answers import Expected, prepare_while_sending, read
from reconciler.connectors.base import ChangeResult, Outcome, VendorState
from reconciler.connectors.concur_auth import TOKEN_PATH, ConcurAuth, ConcurAuthError
from reconciler.connectors.concur_company import FirstCreate, check_listed, refused
from reconciler.connectors.concur_settings import ConcurSettings
from reconciler.connectors.http import (
    CachedToken,
    Endpoint,
    RequestStats,
    RetryPolicy,
    VendorClient,
    build_client,
    retried,
    send_with_retries,
)
from reconciler.errors import VendorError, VendorHalt
from reconciler.records import Account, Grant, Scope
from reconciler.token_store import TokenStore, token_store_from_env

VENDOR = "concur"
IDENTITY_PAGE = 1000  # Identity v4.1 `count` maximum
SPEND_PAGE = 100  # Spend v4.1 `count` maximum
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


def concur_endpoint() -> Endpoint:
    """Every Concur host comes from the geolocation (configured, or moved by a token response)."""
    return Endpoint(VENDOR, default="CONCUR_GEOLOCATION")


def allow_reads(request: httpx.Request) -> bool:
    """What a read-only client may POST: the token endpoint and the Identity search."""
    return request.url.path.endswith((TOKEN_PATH, "/Users/.search"))  # a geolocation may carry a path


class ConcurConnector:
    vendor = VENDOR

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: ConcurSettings,
        store: TokenStore,
        *,
        policy: RetryPolicy | None = None,
        poll_sleep: Sleep | None = None,
    ) -> None:
        self._client = client
        self.settings = settings
        self.stats = RequestStats()
        self._policy = policy or RetryPolicy()
        self._poll_sleep = poll_sleep or self._policy.sleep
        self.auth = ConcurAuth(
            client,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            refresh_token=settings.refresh_token,
            geolocation=settings.geolocation,
            store=store,
            policy=self._policy,
            stats=self.stats,
            allowed_hosts=settings.allowed_hosts,
        )
        self._token = CachedToken(self.auth.fetch)
        self._headers = {"Accept": "application/json", "concur-correlationid": str(uuid.uuid4())}
        self._catalog = static_catalog("concur", "role")
        self._ids: dict[str, str] = {}  # principal or "login:<casefolded userName>" -> user id
        self._roles: dict[str, frozenset[str]] = {}  # user id -> role codes, as synced
        self._spend_synced = False  # the sync read Spend profiles: a user missing from them has none
        self._first_create = FirstCreate()

    def __repr__(self) -> str:
        return f"ConcurConnector({self.auth!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request at the company's geolocation. A 401 drops the token this request used; the
        refresh may name a new geolocation (a data-center move), so the URL is built again after it
        and the refused request is sent there, once."""
        auth, stale = self._token.for_request()
        for attempt in (1, 2):
            await self._token.get()  # a refresh may move the geolocation: fetch before building the URL
            response = await send_with_retries(
                self._client,
                method,
                self.auth.geolocation + path,
                policy=self._policy,
                stats=self.stats,
                auth_headers=auth,
                headers=self._headers,
                **kwargs,
            )
            if response.status_code != 401 or attempt == 2:
                return response
            await stale()
        raise AssertionError("unreachable")

    async def _json(self, method: str, path: str, expected: Expected[T], **kwargs: Any) -> T:
        return _checked(await self._send(method, path, **kwargs), expected)

    # --- sync ------------------------------------------------------------------------------------

    async def sync(self, scope: Scope) -> VendorState:
        before = self.stats.requests
        spelled: dict[str, str] = {}  # role code -> the scope's spelling of it
        for key in scope.resources:
            if key.vendor == VENDOR and key.resource_type == "role":
                spelled[self._code(key.resource) or key.resource] = key.resource
        every_role = (VENDOR, "", "role") in scope.all_of
        want_roles = every_role or bool(spelled)
        # The token first; while it travels, the checks of its answer and of the pages are built.
        token = asyncio.ensure_future(self._token.get())
        await prepare_while_sending(shapes.TOKEN, shapes.IDENTITIES, shapes.SPEND_USERS)
        await token
        # Each page is made into records as it comes, while the next pages travel: when the last
        # page is in, little is left to do.
        synced = _Synced(self, every_role, spelled)
        await asyncio.gather(
            self._identity_users(synced), self._spend_roles(synced) if want_roles else _nothing()
        )
        check_listed(self.settings.company_id, synced.companies)
        self._roles = synced.roles
        self._spend_synced = want_roles
        known = frozenset(self._catalog.labels) | synced.seen if self._catalog else frozenset(synced.seen)
        return VendorState(
            VENDOR,
            tuple(synced.accounts),
            synced.grants(),
            catalog={"role": frozenset({"member"})},
            known_resources={"role": known},
            requests=self.stats.requests - before,
        )

    async def _identity_users(self, synced: _Synced) -> None:
        """Identity pages by cursor: each names the next, so they come one after another and their
        round trips add up. The next page is asked for as soon as this one's bytes show its cursor
        (`concur_api.cursor_in`), and this one is checked and read while it travels: a guess the
        checked page confirms; when it does not, the guessed page is dropped and the right one asked
        for. (A 1,000-user page takes ~4 ms to check and read.)"""
        self._ids.clear()
        response = await self._identity_page(None)
        ahead: tuple[str, asyncio.Task[httpx.Response]] | None = None
        try:
            while True:
                guess = api.cursor_in(response.content) if response.status_code == 200 else None
                if guess is not None:
                    ahead = (guess, asyncio.ensure_future(self._identity_page(guess)))
                    await asyncio.sleep(0)  # let it go out now, not when this page has been read
                page = _checked(response, shapes.IDENTITIES)
                synced.identities(page.get("Resources") or [])
                self._counted(page)
                cursor = page.get("nextCursor")
                if not cursor or not page.get("Resources"):
                    return
                if ahead is not None and ahead[0] == cursor:
                    response = await ahead[1]
                    ahead = None
                else:
                    await _drop(ahead)
                    ahead = None
                    response = await self._identity_page(cursor)
        finally:
            await _drop(ahead)

    async def _identity_page(self, cursor: str | None) -> httpx.Response:
        params = {"count": str(IDENTITY_PAGE), "attributes": api.IDENTITY_ATTRIBUTES}
        if cursor:
            params["cursor"] = cursor
        return await self._send("GET", api.IDENTITY_USERS, params=params)

    async def _spend_roles(self, synced: _Synced) -> None:
        """Spend pages by offset, side by side once the first gives `totalResults`, at most
        `concurrency` in flight. A page's slot is free once its answer is in: the next page's request
        goes out before this one is checked and read. Each is read as soon as it and the pages before
        it are in (in order: a user listed twice, as Concur's list moved between pages, keeps the
        roles of the later page)."""
        first = self._spend_read(await self._spend_response(1))
        synced.spend(first)
        total = first.get("totalResults") or 0
        starts = range(1 + SPEND_PAGE, total + 1, SPEND_PAGE)
        arrived: dict[int, shapes.ListResponse[shapes.SpendUser]] = {}
        following = iter(starts)
        awaited = next(following, None)
        slots = asyncio.Semaphore(self.settings.concurrency)

        async def fetch(start: int) -> None:
            nonlocal awaited
            async with slots:
                response = await self._spend_response(start)
            await asyncio.sleep(0)  # the page waiting for this slot goes out first
            arrived[start] = self._spend_read(response)
            while awaited is not None and awaited in arrived:
                synced.spend(arrived.pop(awaited))
                awaited = next(following, None)

        await asyncio.gather(*(fetch(s) for s in starts))

    async def _spend_response(self, start: int) -> httpx.Response:
        params = {"startIndex": str(start), "count": str(SPEND_PAGE)}
        return await self._send("GET", api.SPEND_USERS, params=params)

    def _spend_read(self, response: httpx.Response) -> shapes.ListResponse[shapes.SpendUser]:
        page = _checked(response, shapes.SPEND_USERS)
        self._counted(page)
        return page

    def _counted(self, page: shapes.ListResponse[Any]) -> None:
        self.stats.pages += 1
        self.stats.resources += len(page.get("Resources") or [])

    # --- apply -----------------------------------------------------------------------------------

    async def apply(self, change: Change) -> ChangeResult:
        try:
            if change.action is Action.CREATE_ACCOUNT:
                return await self._create(change)
            if change.action is Action.DEACTIVATE_ACCOUNT:
                return await self._update(change, api.set_active(False), missing_ok=True)
            if change.is_account_change:
                if change.resource == "active":
                    return await self._update(change, api.set_active(change.entitlement == "true"))
                if change.resource == "login":
                    return await self._update(change, api.set_login(change.entitlement))
                return _failed(change, f"Concur accounts have no managed attribute {change.resource!r}")
            if change.resource_type != "role":
                return _failed(change, f"Concur has no resource type {change.resource_type!r}")
            code = self._code(change.resource)
            if code is None:
                return _failed(change, f"{change.resource!r} is not a documented Concur role code or name")
            if change.action is Action.GRANT:
                return await self._grant(change, code)
            if change.action is Action.REVOKE:
                return await self._revoke(change, code)
            return _failed(change, "a Concur role has one entitlement (member); there is nothing to update")
        except (ConcurAuthError, VendorHalt):
            raise  # no token, a wrong company id, an answer not understood: the others would fail too
        except VendorError as exc:
            if exc.status is None:
                raise  # not an HTTP answer about this change (see _check_kept): stop the run
            return _failed(change, exc.message)

    def _code(self, resource: str) -> str | None:
        if self._catalog is None:
            return resource
        return self._catalog.resolve(resource)

    def _remember(self, user: api.IdentityUser) -> None:
        self._ids.setdefault(user.principal, user.id)
        self._ids.setdefault(f"login:{user.user_name.casefold()}", user.id)

    async def _user_id(self, principal: str) -> str | None:
        login = principal.removeprefix("login:") if principal.startswith("login:") else ""
        known = self._ids.get(principal) or (self._ids.get(f"login:{login.casefold()}") if login else None)
        if known:
            return known
        filters = (
            [f'userName eq "{api.quoted(login)}"']
            if login
            else [
                f'emails.value eq "{api.quoted(principal)}"',
                f'userName eq "{api.quoted(principal)}"',
            ]
        )
        for text in filters:
            page = await self._json(
                "POST", f"{api.IDENTITY_USERS}/.search", shapes.IDENTITIES, json=api.search(text)
            )
            users = [api.read_identity(u) for u in page.get("Resources") or []]
            if users:
                for user in users:
                    self._remember(user)
                return users[0].id
        return None

    async def _create(self, change: Change) -> ChangeResult:
        return await self._first_create.create(lambda: self._create_account(change))

    def _wrong_company(self, detail: str) -> VendorHalt:
        """Concur refused CONCUR_COMPANY_ID: no Concur write goes out after this one."""
        error = refused(self.settings.company_id, detail)
        if isinstance(self._client, VendorClient):
            self._client.halt(error)
        return error

    async def _create_account(self, change: Change) -> ChangeResult:
        attrs = dict(change.attributes)
        email = attrs.get("email") or change.principal
        login = attrs.get("login") or email
        spend = self._spend_profile(attrs)
        body = api.new_user(
            email=email, name=attrs.get("name", ""), login=login, company_id=self.settings.company_id, **spend
        )
        response = await self._send("POST", api.UPS_USERS, json=body)
        if response.status_code == 409:
            # Taken: by this very request when its first answer was lost (a retry after a dropped
            # connection), by this person's account made meanwhile, or by someone else.
            existing = await self._user_id(f"login:{login}")
            if existing is not None and self._ids.get(change.principal) == existing:
                if retried(response):
                    return ChangeResult(
                        change.id, Outcome.APPLIED, "created (Concur's first answer was lost)", existing
                    )
                return ChangeResult(change.id, Outcome.ALREADY, "the account exists", vendor_ref=existing)
            return _failed(
                change,
                f"{api.scim_message(response)} (a Concur userName is unique across every Concur company)",
            )
        if api.refuses_company(response):
            raise self._wrong_company(api.scim_message(response))
        if response.status_code not in (200, 201):
            return _failed(change, api.scim_message(response))
        data = read(response, shapes.CREATED)
        user_id = data["id"]
        self._ids[change.principal] = user_id
        self._ids[f"login:{login.casefold()}"] = user_id
        self._roles[user_id] = frozenset()
        provision_id = (data.get("meta") or {}).get("provisionId") or ""
        status = await self._await_provision(provision_id) if provision_id else None
        if status is not None and not status.success and status.company:
            self._roles.pop(user_id, None)
            raise self._wrong_company(f"provision {provision_id}: {'; '.join(status.messages)}")
        if status is not None and not status.success and status.failed == (api.SPEND_USER,):
            # Identity succeeded, the Spend part did not: the docs say to retry just that part.
            repaired = await self._patch(change, user_id, api.spend_profile(**spend))
            first = "; ".join(status.messages)
            if repaired.outcome is Outcome.APPLIED or repaired.outcome is Outcome.ALREADY:
                return ChangeResult(
                    change.id,
                    Outcome.APPLIED,
                    f"created; its Spend profile failed at first ({first}) and was provisioned again",
                    user_id,
                )
            self._roles.pop(user_id, None)
            return ChangeResult(
                change.id,
                Outcome.FAILED,
                f"account {user_id} was created, but its Spend profile was not ({repaired.message}); "
                "the next apply provisions it again before granting roles",
                user_id,
            )
        return self._outcome(change, provision_id, status)

    def _spend_profile(self, attrs: Mapping[str, str]) -> dict[str, str]:
        return {
            "country": attrs.get("country") or self.settings.country,
            "locale": attrs.get("locale") or self.settings.locale,
            "currency": attrs.get("currency") or self.settings.currency,
        }

    async def _repair_spend(self, change: Change, user_id: str) -> ChangeResult | None:
        """A user the sync saw without a Spend profile (its create's Spend part failed) gets one
        before a Spend role, which needs it. None when there was nothing to repair."""
        if not self._spend_synced or user_id in self._roles:
            return None
        result = await self._patch(change, user_id, api.spend_profile(**self._spend_profile({})))
        if not result.ok:
            return ChangeResult(
                change.id,
                Outcome.FAILED,
                f"the account has no Spend profile and provisioning one failed: {result.message}",
                result.vendor_ref,
            )
        self._roles[user_id] = frozenset()
        return None

    async def _target(self, change: Change) -> str | None:
        """The Concur user id a change acts on: the account the plan matched (by email or by a login
        override), else, for an account created in this run or a plan without ids, a lookup."""
        if change.account_id:
            return change.account_id
        return await self._user_id(change.principal)

    async def _update(
        self, change: Change, body: dict[str, Any], *, missing_ok: bool = False
    ) -> ChangeResult:
        user_id = await self._target(change)
        if user_id is None:
            return _failed(
                change, f"no Concur account for {change.principal} (searched by email and userName)"
            )
        return await self._patch(change, user_id, body, missing_ok=missing_ok)

    async def _patch(
        self, change: Change, user_id: str, body: dict[str, Any], *, missing_ok: bool = False
    ) -> ChangeResult:
        response = await self._send("PATCH", f"{api.UPS_USERS}/{user_id}", json=body)
        if response.status_code == 404 and missing_ok:  # Concur says this account is gone
            return ChangeResult(change.id, Outcome.ALREADY, f"Concur has no account {user_id}", user_id)
        if response.status_code != 200:
            return _failed(change, api.scim_message(response))
        answer = read(response, shapes.PROVISIONED)
        result = await self._finish(change, (answer.get("meta") or {}).get("provisionId") or "")
        if result.outcome is Outcome.ALREADY and retried(
            response
        ):  # this request did it; its answer was lost
            return replace(result, outcome=Outcome.APPLIED, message="done (Concur's first answer was lost)")
        return result

    async def _grant(self, change: Change, code: str) -> ChangeResult:
        user_id = await self._target(change)
        if user_id is None:
            return _failed(
                change, f"no Concur account for {change.principal} (searched by email and userName)"
            )
        if code not in ENTITLEMENT_ROLES:
            repaired = await self._repair_spend(change, user_id)
            if repaired is not None:
                return repaired
        result = await self._patch(change, user_id, api.grant_role(code))
        if result.outcome is Outcome.APPLIED and code not in ENTITLEMENT_ROLES:
            await self._check_kept(change, user_id, code)
        elif result.ok:
            self._note(user_id, add=code)
        return result

    async def _revoke(self, change: Change, code: str) -> ChangeResult:
        user_id = await self._target(change)
        if user_id is None:
            return _failed(
                change, f"no Concur account for {change.principal} (searched by email and userName)"
            )
        result = await self._patch(change, user_id, api.revoke_role(code), missing_ok=True)
        if result.ok:
            self._note(user_id, remove=code)
        return result

    def _note(self, user_id: str, *, add: str = "", remove: str = "") -> None:
        """Keep the synced roles current, so a later grant's check compares with the truth."""
        if user_id in self._roles:
            self._roles[user_id] = (self._roles[user_id] - {remove}) | ({add} if add else set())

    async def _check_kept(self, change: Change, user_id: str, code: str) -> None:
        """After a grant, the user still holds every role held before (an add must not replace the list)."""
        held = self._roles.get(user_id)
        if not held:
            return
        now = set(api.read_roles(await self._json("GET", f"{api.SPEND_USERS}/{user_id}", shapes.SPEND_USER)))
        lost = sorted(held - now)
        if lost:
            raise VendorError(
                VENDOR,
                f"granting {code} to {change.principal} removed roles it did not name ({', '.join(lost)}): "
                "stopping so no other user is affected; restore them in Concur",
            )
        self._roles[user_id] = frozenset(now)

    async def _finish(self, change: Change, provision_id: str) -> ChangeResult:
        status = await self._await_provision(provision_id) if provision_id else None
        return self._outcome(change, provision_id, status)

    def _outcome(self, change: Change, provision_id: str, status: api.ProvisionStatus | None) -> ChangeResult:
        if not provision_id:
            return ChangeResult(change.id, Outcome.APPLIED, "Concur returned no provision id to follow")
        if status is None:
            return ChangeResult(
                change.id,
                Outcome.FAILED,
                f"provision {provision_id} was still pending after {self.settings.provision_timeout:g} s; "
                f"check GET /profile/v4/provisions/{provision_id}/status",
                vendor_ref=provision_id,
            )
        if not status.success:
            detail = "; ".join(status.messages) or "Concur reported the provision failed"
            return ChangeResult(change.id, Outcome.FAILED, detail, vendor_ref=provision_id)
        outcome = Outcome.ALREADY if status.changed_nothing else Outcome.APPLIED
        return ChangeResult(change.id, outcome, vendor_ref=provision_id)

    async def _await_provision(self, provision_id: str) -> api.ProvisionStatus | None:
        """Poll the provision status with backoff; None if it did not complete in time."""
        waited = 0.0
        delays = self.settings.poll_delays or (5.0,)
        for attempt in range(1_000_000):
            delay = delays[min(attempt, len(delays) - 1)]
            if waited + delay > self.settings.provision_timeout:
                return None
            await self._poll_sleep(delay)
            waited += delay
            data = await self._json(
                "GET", f"/profile/v4/provisions/{provision_id}/status", shapes.STATUS,
                params={"attributes": "operations"},
            )  # fmt: skip
            status = api.read_status(data)
            if status.completed:
                return status
        return None


class _Synced:
    """A sync's records, made page by page as Identity and Spend pages come in. A profile's grants
    are made once both its roles (Spend) and its principal (Identity) are in, whichever came last,
    and made again when either changes (a user listed twice, as Concur's list moved between two
    pages, has the later page's roles and principal): with the last page in, they are all made."""

    def __init__(self, connector: ConcurConnector, every_role: bool, spelled: Mapping[str, str]) -> None:
        self._connector = connector
        self._every_role = every_role
        self._spelled = spelled
        self.accounts: list[Account] = []
        self.companies: set[str] = set()
        self.roles: dict[str, frozenset[str]] = {}  # user id -> role codes, as synced
        self.seen: set[str] = set()  # every role code a profile holds
        self._principal_of: dict[str, str] = {}
        self._made: dict[str, tuple[Grant, ...]] = {}  # user id -> its grants
        self._held: dict[
            Grant, int
        ] = {}  # grant -> how many users' grants hold it (one principal may be two users)

    def identities(self, page: list[shapes.Identity]) -> None:
        ids, principal_of, companies, roles = (
            self._connector._ids,
            self._principal_of,
            self.companies,
            self.roles,
        )
        add = self.accounts.append
        for data in page:
            user = api.read_identity(data)
            principal = user.principal
            principal_of[user.id] = principal
            companies.add(user.company_id)
            ids.setdefault(principal, user.id)  # as _remember
            ids.setdefault(f"login:{user.user_name.casefold()}", user.id)
            # (Account's fields in order: made positionally, 20,000 times a sync)
            add(Account(VENDOR, "", principal, user.active, user.email, user.display_name,
                        (("login", user.user_name),), user.id))  # fmt: skip
            if user.id in roles:  # its Spend profile came first
                self._grant(user.id)

    def spend(self, page: shapes.ListResponse[shapes.SpendUser]) -> None:
        """One Spend page; pages are taken in order, so a later listing of a user wins."""
        for user in page.get("Resources") or []:
            user_id = user["id"]
            codes = frozenset(api.read_roles(user))
            self.roles[user_id] = codes
            self.seen.update(codes)
            if user_id in self._principal_of:  # else when its Identity page comes, if it does
                self._grant(user_id)

    def grants(self) -> frozenset[Grant]:
        return frozenset(self._held)

    def _grant(self, user_id: str) -> None:
        held = self._held
        for grant in self._made.get(user_id, ()):  # made before, from an earlier listing
            left = held[grant] - 1
            if left:
                held[grant] = left
            else:
                del held[grant]
        principal, spelled = self._principal_of[user_id], self._spelled
        made = self._made[user_id] = tuple(
            Grant(VENDOR, "", "role", spelled.get(code, code), "member", principal)
            for code in self.roles[user_id]
            if self._every_role or code in spelled
        )
        for grant in made:
            held[grant] = held.get(grant, 0) + 1


def _failed(change: Change, message: str) -> ChangeResult:
    return ChangeResult(change.id, Outcome.FAILED, message)


def _checked(response: httpx.Response, expected: Expected[T]) -> T:
    """A read's answer as `expected` declares it; any status but 200 is a VendorError."""
    if response.status_code != 200:
        raise VendorError(VENDOR, api.scim_message(response), status=response.status_code)
    return read(response, expected)


async def _drop(ahead: tuple[str, asyncio.Task[httpx.Response]] | None) -> None:
    """A page asked for on a guess that turned out wrong (or not needed): cancelled, its outcome
    whatever it was (a GET: nothing to undo)."""
    if ahead is not None:
        ahead[1].cancel()
        await asyncio.gather(ahead[1], return_exceptions=True)


async def _nothing() -> None:
    return None


class ConcurPlugin:
    name = VENDOR

    def from_env(
        self, env: Mapping[str, str], *, writable: bool, transport: httpx.AsyncBaseTransport | None = None
    ) -> ConcurConnector:
        store = token_store_from_env(env)
        settings = ConcurSettings.from_env(env, store.load())
        client = build_client(
            settings.geolocation,
            transport=transport,
            writable=writable,
            allow_write=allow_reads,
            max_connections=settings.concurrency + 2,
            endpoint=concur_endpoint(),
        )
        return ConcurConnector(client, settings, store)


PLUGIN = ConcurPlugin()
