"""The Procore REST edge: token, mandatory headers, retries, pacing, pagination, one method per call.

Everything Procore-shaped about HTTP lives here; `procore_connector` turns the JSON into records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from reconciler.connectors import procore_shapes as shapes
from reconciler.connectors.answers import Expected, read
from reconciler.connectors.http import (
    CachedToken,
    Clock,
    RequestStats,
    RetryPolicy,
    build_client,
    error_summary,
    gather_bounded,
    pooled_transport,
    said,
    send_with_retries,
)
from reconciler.connectors.procore_ratelimit import PacingTransport, RatePacer, wait_for_429
from reconciler.connectors.procore_settings import ProcoreSettings
from reconciler.errors import VendorError

COMPANY_HEADER = "Procore-Company-Id"
# The largest page each list endpoint allows. Projects: 300 (v1.1 projects reference). The others
# document no maximum; Procore's pagination guide recommends per_page at or below 2,000.
PER_PAGE_PROJECTS = 300
PER_PAGE_USERS = 2000
MOST_PAGES = 10_000  # a count of more pages than this is not believed: the pages are followed by Link
RATE_LIMIT_PATIENCE = 3700.0  # seconds of 429s a request sits out before the run stops

Json = dict[str, Any]
T = TypeVar("T")


def procore_retry_policy(**overrides: Any) -> RetryPolicy:
    """Waits up to an hour: a 429 on the hourly window must wait for its reset, not give up."""
    values: dict[str, Any] = {"attempts": 10, "base_delay": 0.5, "max_delay": 3700.0}
    values.update(overrides)
    return RetryPolicy(**values)


class ProcoreAPI:
    def __init__(
        self,
        settings: ProcoreSettings,
        *,
        writable: bool,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        now: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.policy = policy or procore_retry_policy()
        self.stats = RequestStats()
        self._now = now
        api_host = urlsplit(settings.api_url).hostname or ""
        self.endpoint = settings.endpoint()
        self.pacer = RatePacer(
            sleep=self.policy.sleep, now=now, rng=self.policy.rng, announcer=self.endpoint.announcer
        )
        inner = transport or pooled_transport(settings.concurrency + 2)
        token_path = urlsplit(settings.token_url).path
        login_host = urlsplit(settings.login_url).hostname

        def is_token_request(request: httpx.Request) -> bool:
            return (
                request.method == "POST" and request.url.host == login_host and request.url.path == token_path
            )

        self.client = build_client(
            settings.api_url,
            transport=PacingTransport(inner, self.pacer, api_host),
            writable=writable,
            allow_write=is_token_request,
            headers={"Accept": "application/json"},
            endpoint=self.endpoint,
        )
        self.token = CachedToken(self._fetch_token, clock=monotonic, margin=120.0)
        self._api = urlsplit(settings.api_url)

    def __repr__(self) -> str:
        return f"ProcoreAPI(api={self.settings.api_url!r}, client_id={self.settings.client_id!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- auth -------------------------------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float]:
        body = {
            "grant_type": "client_credentials",
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret.get_secret_value(),
        }
        response = await send_with_retries(
            self.client, "POST", self.settings.token_url, policy=self.policy, stats=self.stats, json=body
        )
        if response.status_code in (400, 401, 403):
            raise VendorError(
                "procore",
                f"the token endpoint {self.settings.token_url} refused the client credentials "
                f"(HTTP {response.status_code}); check PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET and "
                f"that they belong to PROCORE_ENVIRONMENT={self.settings.environment}",
                status=response.status_code,
            )
        if response.status_code != 200:
            raise VendorError(
                "procore", f"token request failed: HTTP {response.status_code}", status=response.status_code
            )
        data = read(response, shapes.TOKEN)
        expires_in = data.get("expires_in")
        return data["access_token"], 3600.0 if expires_in is None else expires_in

    # -- requests ---------------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        url: str,
        company: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """One API call with `Procore-Company-Id`, a bearer token, retries and one re-auth per 401."""
        auth, unauthorized = self.token.for_request()
        kwargs: dict[str, Any] = {}
        if params is not None:
            kwargs["params"] = dict(params)
        if json is not None:
            kwargs["json"] = json
        wait_for = wait_for_429(self._now)
        started = self._now()
        while True:
            response = await send_with_retries(
                self.client,
                method,
                url,
                policy=self.policy,
                stats=self.stats,
                headers={COMPANY_HEADER: company},
                auth_headers=auth,
                on_unauthorized=unauthorized,
                wait_for=wait_for,
                **kwargs,
            )
            # A 429 means "wait", not "failed": keep waiting for the reset, up to an hourly window.
            if response.status_code != 429 or self._now() - started > RATE_LIMIT_PATIENCE:
                return response
            delay = self.policy.jitter(wait_for(response) or self.policy.base_delay)
            self.endpoint.announcer.wait("procore", delay, "still rate limited (HTTP 429)")
            await self.policy.sleep(delay)

    async def get_list(
        self, path: str, company: str, params: Mapping[str, str | int], expected: Expected[list[T]]
    ) -> list[T]:
        """Every page of a list endpoint, following `Link: rel="next"` until it is absent."""
        return await self._follow(path, {**params, "page": 1}, company, expected)

    async def _follow(
        self, url: str, query: Mapping[str, str | int] | None, company: str, expected: Expected[list[T]]
    ) -> list[T]:
        items: list[T] = []
        while True:
            response = await self.send("GET", url, company, params=query)
            check(response, company)
            items += self._page(response, expected, None)
            following = response.links.get("next", {}).get("url")
            if not following:
                return items
            url, query = self._same_host(following), None

    async def get_pages(
        self,
        path: str,
        company: str,
        params: Mapping[str, str | int],
        expected: Expected[list[T]],
        *,
        at_once: int,
        on_page: Callable[[list[T]], None] | None = None,
    ) -> list[T]:
        """Every page of a list endpoint, in order: the first, then, when it says how many there are
        (`Total` and `Per-Page`, pagination.md), the others side by side, `at_once` at a time, each
        handed to `on_page` as it comes. Whatever the count said, the last page's `Link:
        rel="next"` is followed on, one page after another, as `get_list` does (a list that grew
        meanwhile); a list that shrank ends with short or empty pages."""
        first = await self.send("GET", path, company, params={**params, "page": 1})
        check(first, company)
        items = list(self._page(first, expected, on_page))
        following = first.links.get("next", {}).get("url")
        total, per_page = _count(first.headers.get("Total")), _count(first.headers.get("Per-Page"))
        last = -(-total // per_page) if total is not None and per_page else 0
        if following and 2 <= last <= MOST_PAGES:
            numbers = range(2, last + 1)

            async def page(number: int) -> tuple[httpx.Response, list[T]]:
                response = await self.send("GET", path, company, params={**params, "page": number})
                check(response, company)
                return response, self._page(response, expected, on_page)

            pages = await gather_bounded(at_once, (page(n) for n in numbers))
            for _, found in pages:
                items += found
            if pages:
                following = pages[-1][0].links.get("next", {}).get("url")
        if following:
            items += await self._follow(self._same_host(following), None, company, expected)
        return items

    def _page(
        self, response: httpx.Response, expected: Expected[list[T]], on_page: Callable[[list[T]], None] | None
    ) -> list[T]:
        page = read(response, expected)
        self.stats.pages += 1
        self.stats.resources += len(page)
        if on_page is not None:
            on_page(page)
        return page

    def _same_host(self, url: str) -> str:
        """A Link URL must stay on the API host: the bearer token goes wherever we follow."""
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != (self._api.scheme, self._api.netloc):
            raise VendorError(
                "procore", f"refusing to follow a pagination link to another host: {parts.netloc}"
            )
        return url

    # -- reads ------------------------------------------------------------------------------------

    async def companies(self, company_header: str) -> list[shapes.Company]:
        return await self.get_list(
            "/rest/v1.0/companies", company_header, {"per_page": PER_PAGE_USERS}, shapes.COMPANIES
        )

    async def permission_templates(self, company: str) -> list[shapes.Template]:
        response = await self.send("GET", f"/rest/v1.0/companies/{company}/permission_templates", company)
        check(response, company)
        return read(response, shapes.TEMPLATES)

    async def active_users(self, company: str) -> list[shapes.User]:
        return await self.get_list(
            f"/rest/v1.3/companies/{company}/users", company, {"per_page": PER_PAGE_USERS}, shapes.USERS
        )

    async def inactive_users(self, company: str) -> list[shapes.User]:
        return await self.get_list(
            f"/rest/v1.0/companies/{company}/users/inactive", company, {"per_page": PER_PAGE_USERS},
            shapes.USERS,
        )  # fmt: skip

    async def projects(
        self, company: str, on_page: Callable[[list[shapes.Project]], None] | None = None
    ) -> list[shapes.Project]:
        """Every project, its pages side by side (`get_pages`); a project listed twice (the list
        moved between two pages) once."""
        params: dict[str, str | int] = {
            "company_id": company,
            "per_page": PER_PAGE_PROJECTS,
            "filters[by_status]": "All",
        }
        found = await self.get_pages(
            "/rest/v1.1/projects", company, params, shapes.PROJECTS, at_once=self.settings.concurrency,
            on_page=on_page,
        )  # fmt: skip
        return list({p["id"]: p for p in reversed(found)}.values())[::-1]

    async def project_users(self, company: str, project_id: int) -> list[shapes.Member]:
        return await self.get_list(
            f"/rest/v1.0/projects/{project_id}/users", company, {"per_page": PER_PAGE_USERS}, shapes.MEMBERS
        )

    async def project_inactive_users(self, company: str, project_id: int) -> list[shapes.Member]:
        """Members whose directory account is inactive: the active list leaves them out, but they stay
        on the project (and come back with their template when reactivated)."""
        return await self.get_list(
            f"/rest/v1.0/projects/{project_id}/users/inactive", company, {"per_page": PER_PAGE_USERS},
            shapes.MEMBERS,
        )  # fmt: skip

    async def project_user(self, company: str, project_id: int, user_id: int) -> shapes.Member | None:
        """One member with their template: the list filtered by id (its items carry
        `permission_template`; the single-user GET documents no template)."""
        params: dict[str, str | int] = {"filters[id]": user_id, "per_page": PER_PAGE_USERS}
        rows = await self.get_list(f"/rest/v1.0/projects/{project_id}/users", company, params, shapes.MEMBERS)
        return next((row for row in rows if row["id"] == user_id), None)

    async def company_user(self, company: str, user_id: int) -> shapes.User | None:
        """One directory user by id (active or not); None when Procore answers 404."""
        response = await self.send("GET", f"/rest/v1.3/companies/{company}/users/{user_id}", company)
        if response.status_code == 404:
            return None
        check(response, company)
        return read(response, shapes.USER)

    async def find_user(self, company: str, email: str) -> shapes.User | None:
        """A directory user by email (case-insensitive), active or inactive."""
        params: dict[str, str | int] = {"per_page": PER_PAGE_USERS, "filters[search]": email}
        found = await self.get_list(f"/rest/v1.3/companies/{company}/users", company, params, shapes.USERS)
        for source in (found, await self.inactive_users(company)):
            for user in source:
                if str(user.get("email_address") or "").casefold() == email.casefold():
                    return user
        return None

    # -- writes (each returns the raw response; the connector decides what a status means) -------

    async def create_user(self, company: str, user: Json) -> httpx.Response:
        return await self.send("POST", f"/rest/v1.3/companies/{company}/users", company, json={"user": user})

    async def set_user_active(self, company: str, user_id: int, active: bool) -> httpx.Response:
        if active:  # the documented reactivation call
            return await self.send(
                "PATCH", f"/rest/v1.0/companies/{company}/users/inactive/{user_id}", company
            )
        return await self.send(
            "PATCH",
            f"/rest/v1.3/companies/{company}/users/{user_id}",
            company,
            json={"user": {"is_active": False}},
        )

    async def add_to_project(
        self, company: str, project_id: int, user_id: int, template_id: int
    ) -> httpx.Response:
        body = {"user": {"permission_template_id": template_id}}
        return await self.send(
            "POST", f"/rest/v1.0/projects/{project_id}/users/{user_id}/actions/add", company, json=body
        )

    async def remove_from_project(self, company: str, project_id: int, user_id: int) -> httpx.Response:
        return await self.send(
            "DELETE", f"/rest/v1.0/projects/{project_id}/users/{user_id}/actions/remove", company
        )

    async def assign_template(
        self, company: str, project_id: int, user_id: int, template_id: int
    ) -> httpx.Response:
        body = {
            "permission_template_assignments": {"user_id": user_id, "permission_template_id": template_id}
        }
        return await self.send(
            "PATCH", f"/rest/v1.0/projects/{project_id}/permission_template_assignments", company, json=body
        )


def _count(header: str | None) -> int | None:
    """A `Total` or `Per-Page` header's number; None when there is none or it is not one."""
    text = (header or "").strip()
    return int(text) if text.isdigit() and len(text) <= 9 else None


def check(response: httpx.Response, company: str) -> None:
    """Raise a VendorError for a read that failed; the message names the company and a fix."""
    if response.is_success:
        return
    hint = ""
    if response.status_code == 401:
        hint = " (the token was refused twice; check the app's credentials)"
    elif response.status_code == 403:
        hint = (
            f" (is the app installed in company {company} and does its service account have Directory "
            "permissions there? See Company Admin > App Management)"
        )
    elif response.status_code == 404:
        hint = f" (not visible to the app in company {company})"
    elif response.status_code == 429:
        hint = " (still rate limited after retrying)"
    raise ProcoreError(error_summary(response) + hint, status=response.status_code, said=said(response))


class ProcoreError(VendorError):
    """A Procore read that failed; `said` is what Procore's answer says, briefly."""

    def __init__(self, message: str, *, status: int, said: str) -> None:
        super().__init__("procore", message, status=status)
        self.said = said
