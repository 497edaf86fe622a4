"""A simulator of the SAP Concur APIs the connector uses, faithful to Concur's documentation.

- `POST /oauth2/v0/token`: the password grant with `credtype=authtoken` (Company Request Token ->
  refresh token, on the GLZ host or the company's geolocation) and the refresh_token grant (only at
  the company's geolocation, else code 16 "user lives elsewhere"). Refresh tokens rotate: the old one
  answers code 108 once a new one is issued. Every token response carries `geolocation`.
- Identity v4.1: `GET /profile/identity/v4.1/Users` (cursor paging, `count` <= 1000),
  `GET .../Users/{id}`, `POST .../Users/.search` (`userName`/`emails.value` eq filters).
- Spend v4.1: `GET /profile/spend/v4.1/Users` (`startIndex` >= 1, 1 <= `count` <= 100) and `/{id}`.
- User Provisioning Service: `POST /profile/v4/Users` (201), `PATCH /profile/v4/Users/{id}` (200),
  both answering a `provisionId`; `GET /profile/v4/provisions/{id}/status` moves from pending to
  completed over `provision_polls` polls, then reports success or the failure with its messages.
  Identity attributes change at once; Spend Role changes only when the provision completes. A
  `companyId` that is not the token's company fails like the docs' other validation failures
  (vendor-apis §2.5: "asynchronously in the provision status with code 400 per extension"; "if the
  identity extension fails, nothing else is processed"): 201, then a failed provision, no user;
  `reject_company_at_once` answers 400 at once instead.
- Identity answers carry the enterprise extension (`companyId`) only when the app's scopes include
  `identity.user.enterprise.read`.
- SCIM error bodies; injected 429/5xx (optionally with Retry-After), dropped connections and
  expired tokens through `SimulatorBase.faults`; latency through the transport.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from random import Random
from typing import Any
from urllib.parse import parse_qs

import httpx

from reconciler.simulators.base import SimulatorBase, json_response, route_table
from reconciler.simulators.concur_state import (
    CORE,
    DEFAULT_SPEND,
    ENTERPRISE,
    ENTITLEMENTS,
    SPEND_APPROVER,
    SPEND_DELEGATE,
    SPEND_ROLE,
    SPEND_USER,
    ConcurState,
    CoreChange,
    PatchError,
    RoleChange,
    RoleOutcome,
    SimUser,
    apply_core,
    check_roles,
    parse_patch,
)

US2 = "https://us2.api.concursolutions.com"
GLZ = "https://glz.api.concursolutions.com"
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
CONCUR_ERROR = "urn:ietf:params:scim:api:messages:concur:2.0:Error"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PROVISION_STATUS = "urn:ietf:params:scim:schemas:extension:concur:2.0:Provision:Status"
SCIM_RESOURCE = "urn:ietf:params:scim:schemas:ScimResource"
SPEND_DEFAULTS = {**DEFAULT_SPEND, "testEmployee": False, "nonEmployee": False, "customData": []}
_FILTER = re.compile(r'^\s*(userName|emails\.value|id)\s+eq\s+"([^"]*)"\s*$', re.IGNORECASE)

# code -> (HTTP status, error, error_description): Concur's documented /token response codes
OAUTH_ERRORS: dict[int, tuple[int, str, str]] = {
    5: (400, "invalid_grant", "Incorrect Credentials. Please Retry"),
    16: (400, "invalid_request", "user lives elsewhere"),
    53: (401, "invalid_client", "company is not enabled for this client"),
    61: (401, "invalid_client", "client not found"),
    62: (400, "invalid_request", "client_id was not supplied"),
    63: (400, "invalid_request", "client_secret was not supplied"),
    64: (401, "invalid_client", "Incorrect Credentials. Please Retry"),
    65: (400, "invalid_request", "grant_type was not supplied"),
    106: (400, "invalid_request", "refresh_token was not supplied"),
    108: (400, "invalid_grant", "bad or expired refresh token"),
    120: (400, "invalid_request", "credtype is invalid"),
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def scim_error(
    status: int, detail: str, scim_type: str = "", messages: tuple[str, ...] = ()
) -> httpx.Response:
    body: dict[str, Any] = {"schemas": [SCIM_ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    if messages:
        body["schemas"].append(CONCUR_ERROR)
        body[CONCUR_ERROR] = {
            "messages": [{"code": str(status), "message": m, "type": "error"} for m in messages]
        }
    return json_response(status, body)


@dataclass(slots=True)
class SimProvision:
    id: str
    user_id: str
    provision_type: str  # "User"
    polls_left: int
    core_result: str  # "success" | "no-op"
    roles: RoleChange | None
    spend_error: str = ""  # a Spend User extension that could not be created
    spend: dict[str, Any] | None = None  # a Spend User extension to save when the provision completes
    forced_failure: str = ""
    identity_error: str = ""  # the identity (enterprise extension) failed: nothing else is processed
    created: str = field(default_factory=_now)
    completed: bool = False
    extensions: list[dict[str, Any]] = field(default_factory=list)


GRANTED_SCOPE = (
    "identity.user.core.read identity.user.enterprise.read spend.user.general.read "
    "spend.user.general.writeonly user.provision.read user.provision.write"
)


class ConcurSimulator(SimulatorBase):
    def __init__(self, state: ConcurState | None = None, *, geolocation: str = US2, seed: int = 1) -> None:
        super().__init__()
        self.state = state or ConcurState()
        self.geolocation = geolocation.rstrip("/")
        self.glz = GLZ
        self.next_geolocation: str | None = None  # the next refresh moves the company there
        self.rotate_refresh_tokens = True
        self.clock: Callable[[], float] = time.time
        self.access_ttl = 3600
        self.granted_scope = GRANTED_SCOPE  # the scopes the app registration grants, as the token lists them
        self.provision_polls = 2  # status polls until a provision completes
        self.provision_failures: list[str] = []  # the next provisions fail with these messages
        # The Spend part of the next creates fails with these messages: the identity is created, the
        # Spend profile is not (the docs: retry just the failed part with PATCH).
        self.spend_failures: list[str] = []
        self.base_path = ""  # a path before every route: a geolocation like https://host/concur
        self.retry_after: str | None = None  # Retry-After on injected 429/503, if any
        # The docs do not say whether `add` on the roles list appends (RFC 7644) or replaces it;
        # True makes the simulator replace, to prove the connector notices and stops.
        self.add_replaces_roles = False
        self.reject_company_at_once = False  # a wrong companyId: 400 at once, not a failed provision
        self.clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}  # token -> company id
        self.request_tokens: dict[str, tuple[str, float]] = {}  # token -> (company id, expires at)
        self.access_tokens: dict[str, tuple[float, str]] = {}  # token -> (expires at, geolocation)
        self.provisions: dict[str, SimProvision] = {}
        self.changed = False
        self._listing: tuple[int, list[SimUser], list[SimUser]] | None = None
        self._frozen: _Frozen | None = None  # see freeze()
        self._rng = Random(seed)
        self._match = route_table(
            {
                ("POST", "/oauth2/v0/token"): self._token,
                ("GET", "/profile/identity/v4.1/Users"): self._identity_list,
                ("POST", "/profile/identity/v4.1/Users/.search"): self._identity_search,
                ("GET", "/profile/identity/v4.1/Users/{user_id}"): self._identity_get,
                ("GET", "/profile/spend/v4.1/Users"): self._spend_list,
                ("GET", "/profile/spend/v4.1/Users/{user_id}"): self._spend_get,
                ("POST", "/profile/v4/Users"): self._ups_create,
                ("PATCH", "/profile/v4/Users/{user_id}"): self._ups_patch,
                ("GET", "/profile/v4/provisions/{provision_id}/status"): self._provision_status,
            }
        )

    # --- set-up helpers ------------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def issue_refresh_token(self, token: str | None = None) -> str:
        value = token or secrets.token_urlsafe(24)
        self.refresh_tokens[value] = self.state.company_id
        return value

    def issue_request_token(self, *, ttl: float = 24 * 3600) -> str:
        value = secrets.token_hex(16)
        self.request_tokens[value] = (self.state.company_id, self.clock() + ttl)
        return value

    def _lists(self) -> tuple[list[SimUser], list[SimUser]]:
        """All users, and those with a spend profile, in listing order (rebuilt when users are added)."""
        if self._listing is None or self._listing[0] != len(self.state.users):
            everyone = list(self.state.users.values())
            self._listing = (len(everyone), everyone, [u for u in everyone if u.spend is not None])
        return self._listing[1], self._listing[2]

    def freeze(self) -> None:
        """Declare the users unchanging until the next write (a benchmark's server): list pages are
        then joined from each user's JSON, made once here, instead of made again for every page (a
        page of 1,000 Identity users took 10-20 ms of the server's time, on the sync's critical path).
        The same bytes either way; a request that may change users (or the geolocation or scopes,
        which the JSON shows) makes them again."""
        everyone, spenders = self._lists()
        identity: dict[str, tuple[tuple[str, ...], tuple[bytes, ...]]] = {}
        for user in everyone:
            data = self.identity_json(user)
            identity[user.id] = (
                tuple(data),
                tuple(f"{json.dumps(key)}: {json.dumps(value)}".encode() for key, value in data.items()),
            )
        spend = {user.id: json.dumps(self.spend_json(user)).encode() for user in spenders}
        self._frozen = _Frozen(self.geolocation, self.granted_scope, len(everyone), identity, spend)

    def _frozen_now(self) -> _Frozen | None:
        frozen = self._frozen
        if frozen is not None and (frozen.geolocation, frozen.scope, frozen.users) != (
            self.geolocation, self.granted_scope, len(self.state.users)
        ):  # fmt: skip
            frozen = self._frozen = None
        return frozen

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # --- dispatch -------------------------------------------------------------------------------

    def move_to(self, geolocation: str) -> None:
        """A data-center move: the company lives at `geolocation` from now on; access tokens issued
        before no longer work, and a refresh at the old place answers code 16 naming the new one."""
        self.geolocation = geolocation.rstrip("/")
        self.access_tokens.clear()

    def route(self, request: httpx.Request) -> httpx.Response:
        if self.base_path:
            if not request.url.path.startswith(self.base_path + "/"):
                return scim_error(404, f"no resource at {request.method} {request.url.path}")
            request = httpx.Request(
                request.method,
                request.url.copy_with(path=request.url.path[len(self.base_path) :]),
                headers=request.headers,
                content=request.content,
            )
        found = self._match(request)
        if found is None:
            return scim_error(404, f"no resource at {request.method} {request.url.path}")
        handler, params = found
        if self._frozen is not None and handler.__name__ not in _READS:
            self._frozen = None  # it may change users: made again by the next freeze()
        if request.url.path != "/oauth2/v0/token":
            denied = self._authorize(request)
            if denied is not None:
                return denied
        response: httpx.Response = handler(request, **params)
        return response

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response | None:
        if kind == "expire-token":
            self.access_tokens.clear()
            return None
        if kind.isdigit():
            response = scim_error(int(kind), "Too Many Requests" if kind == "429" else "Service Unavailable")
            if self.retry_after is not None and kind in ("429", "503"):
                response.headers["Retry-After"] = self.retry_after
            return response
        return None

    def _host(self, request: httpx.Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc.decode('ascii')}{self.base_path}"

    def _authorize(self, request: httpx.Request) -> httpx.Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        if found is None or found[0] <= self.clock():
            return scim_error(401, "Unauthorized: the access token is missing, invalid or expired")
        if found[1] != self._host(request):
            return scim_error(
                401, f"Unauthorized: this token is valid at {found[1]}, not {self._host(request)}"
            )
        return None

    # --- OAuth2 ---------------------------------------------------------------------------------

    def _oauth_error(self, code: int, **extra: str) -> httpx.Response:
        status, error, description = OAUTH_ERRORS[code]
        return json_response(
            status, {"code": code, "error": error, "error_description": description, **extra}
        )

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode("utf-8"), keep_blank_values=True).items()}
        if not form.get("client_id"):
            return self._oauth_error(62)
        if not form.get("client_secret"):
            return self._oauth_error(63)
        if form["client_id"] not in self.clients:
            return self._oauth_error(61)
        if self.clients[form["client_id"]] != form["client_secret"]:
            return self._oauth_error(64)
        grant = form.get("grant_type", "")
        host = self._host(request)
        if grant == "password":
            if form.get("credtype") != "authtoken":
                return self._oauth_error(120)
            if host not in (self.glz, self.geolocation):
                return self._oauth_error(16, geolocation=self.geolocation)
            found = self.request_tokens.get(form.get("password", ""))
            if found is None or found[0] != form.get("username") or found[1] <= self.clock():
                return self._oauth_error(5)
            return self._issue(self.issue_refresh_token())
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            if not token:
                return self._oauth_error(106)
            if token not in self.refresh_tokens:
                return self._oauth_error(108)
            if host != self.geolocation:
                return self._oauth_error(16, geolocation=self.geolocation)
            if self.next_geolocation:
                self.geolocation, self.next_geolocation = self.next_geolocation.rstrip("/"), None
            if not self.rotate_refresh_tokens:
                return self._issue(token)
            del self.refresh_tokens[token]
            return self._issue(self.issue_refresh_token())
        if not grant:
            return self._oauth_error(65)
        return json_response(
            400,
            {
                "code": 60,
                "error": "invalid_grant",
                "error_description": "these are not the grants you are looking for",
            },
        )

    def _issue(self, refresh_token: str) -> httpx.Response:
        access = secrets.token_urlsafe(32)
        self.access_tokens[access] = (self.clock() + self.access_ttl, self.geolocation)
        return json_response(
            200,
            {
                "expires_in": str(self.access_ttl),
                "scope": self.granted_scope,
                "token_type": "Bearer",
                "access_token": access,
                "refresh_token": refresh_token,
                "refresh_expires_in": str(int(self.clock()) + 180 * 24 * 3600),
                "id_token": "oidc_token",
                "geolocation": self.geolocation,
            },
        )

    # --- Identity v4.1 --------------------------------------------------------------------------

    def identity_json(
        self, user: SimUser, attributes: list[str] | frozenset[str] | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schemas": [CORE, ENTERPRISE],
            "id": user.id,
            "userName": user.user_name,
            "displayName": user.display_name,
            "name": {
                "givenName": user.given_name,
                "familyName": user.family_name,
                "formatted": f"{user.family_name}, {user.given_name}".strip(", "),
            },
            "active": user.active,
            "emails": [{"value": user.email, "type": "work", "verified": False, "notifications": False}]
            if user.email
            else [],
            "entitlements": list(user.entitlements),
            "timezone": "America/New_York",
            "preferredLanguage": "en-US",
            ENTERPRISE: {"companyId": self.state.company_id, "employeeNumber": user.employee_number},
            "meta": {
                "resourceType": "User",
                "created": user.created,
                "lastModified": user.modified,
                "version": user.version,
                "location": f"{self.geolocation}/profile/identity/v4.1/Users/{user.id}",
            },
        }
        if "identity.user.enterprise.read" not in self.granted_scope.split():
            del data[ENTERPRISE]
        if attributes:
            wanted = attributes if isinstance(attributes, frozenset) else _wanted(attributes)
            data = {k: v for k, v in data.items() if k in wanted}
        return data

    def _list(
        self, users: list[SimUser], count: int, cursor: str | None, attributes: list[str] | None
    ) -> httpx.Response:
        offset = 0
        if cursor:
            try:
                offset = int(base64.urlsafe_b64decode(cursor.encode()).decode())
            except (ValueError, binascii.Error):
                return scim_error(400, "the cursor is not valid", "invalidValue")
        page = users[offset : offset + count]
        wanted = _wanted(attributes) if attributes else None
        following = offset + len(page)
        cursor_out = (
            base64.urlsafe_b64encode(str(following).encode()).decode()
            if following < len(users) and len(page) != len(users)
            else None
        )
        frozen = self._frozen_now()
        if frozen is not None:
            return frozen.identity_page(len(users), page, wanted, cursor_out)
        body: dict[str, Any] = {
            "schemas": [LIST_RESPONSE],
            "totalResults": len(users),
            "itemsPerPage": len(page),
            "Resources": [self.identity_json(u, wanted) for u in page],
        }
        if cursor_out is not None:
            body["nextCursor"] = cursor_out
        return json_response(200, body)

    def _count(self, raw: str | None, default: int, low: int, high: int) -> int | httpx.Response:
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            return scim_error(400, f"count must be an integer between {low} and {high}", "invalidValue")
        if not low <= value <= high:
            return scim_error(400, f"count must be between {low} and {high}", "invalidValue")
        return value

    def _identity_list(self, request: httpx.Request) -> httpx.Response:
        count = self._count(request.url.params.get("count"), 100, 0, 1000)
        if isinstance(count, httpx.Response):
            return count
        attributes = request.url.params.get("attributes")
        wanted = [a.strip() for a in attributes.split(",")] if attributes else None
        return self._list(self._lists()[0], count, request.url.params.get("cursor"), wanted)

    def _identity_search(self, request: httpx.Request) -> httpx.Response:
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            return scim_error(400, "the request body is not JSON", "invalidSyntax")
        count = self._count(str(body.get("count", 100)), 100, 1, 1000)
        if isinstance(count, httpx.Response):
            return count
        users = list(self.state.users.values())
        if body.get("filter"):
            match = _FILTER.match(str(body["filter"]))
            if match is None:
                return scim_error(400, f"unsupported filter {body['filter']!r}", "invalidFilter")
            attribute, value = match.group(1).lower(), match.group(2).casefold()
            users = [
                u
                for u in users
                if (attribute == "username" and u.user_name.casefold() == value)
                or (attribute == "emails.value" and u.email.casefold() == value)
                or (attribute == "id" and u.id == match.group(2))
            ]
        return self._list(users, count, body.get("cursor"), body.get("attributes"))

    def _identity_get(self, request: httpx.Request, user_id: str) -> httpx.Response:
        user = self.state.users.get(user_id)
        if user is None:
            return scim_error(404, f"User {user_id} not found", "noTarget")
        return json_response(200, self.identity_json(user))

    # --- Spend v4.1 -----------------------------------------------------------------------------

    def spend_json(self, user: SimUser) -> dict[str, Any]:
        return {
            "schemas": [SCIM_RESOURCE, SPEND_USER, SPEND_APPROVER, SPEND_DELEGATE, SPEND_ROLE],
            "id": user.id,
            "meta": {
                "resourceType": "User",
                "created": None,
                "lastModified": user.modified,
                "location": f"{self.geolocation}/profile/spend/v4/Users/{user.id}",
                "version": None,
            },
            SPEND_USER: {**SPEND_DEFAULTS, **(user.spend or {})},
            SPEND_APPROVER: {},
            SPEND_DELEGATE: {},
            SPEND_ROLE: {
                "roles": [
                    {"roleName": code, **({"roleGroups": user.roles[code]} if user.roles.get(code) else {})}
                    for code in user.role_names()
                ]
            },
        }  # fmt: skip

    def _spend_list(self, request: httpx.Request) -> httpx.Response:
        count = self._count(request.url.params.get("count"), 100, 1, 100)
        if isinstance(count, httpx.Response):
            return count
        start_raw = request.url.params.get("startIndex", "1")
        if not start_raw.isdigit() or int(start_raw) < 1:
            return scim_error(400, "startIndex must be an integer >= 1", "invalidValue")
        start = int(start_raw)
        users = self._lists()[1]
        page = users[start - 1 : start - 1 + count]
        frozen = self._frozen_now()
        if frozen is not None:
            return frozen.spend_page(len(users), page, start)
        return json_response(
            200,
            {
                "schemas": [LIST_RESPONSE],
                "totalResults": len(users),
                "Resources": [self.spend_json(u) for u in page],
                "startIndex": start,
                "itemsPerPage": len(page),
            },
        )

    def _spend_get(self, request: httpx.Request, user_id: str) -> httpx.Response:
        user = self.state.users.get(user_id)
        if user is None or user.spend is None:
            return scim_error(404, f"Spend User {user_id} not found", "noTarget")
        return json_response(200, self.spend_json(user))

    # --- User Provisioning Service ---------------------------------------------------------------

    def _provision(
        self, user: SimUser, core_result: str, roles: RoleChange | None, spend_error: str = ""
    ) -> SimProvision:
        provision = SimProvision(
            id=self._uuid(),
            user_id=user.id,
            provision_type="User",
            polls_left=self.provision_polls,
            core_result=core_result,
            roles=roles,
            spend_error=spend_error,
            forced_failure=self.provision_failures.pop(0) if self.provision_failures else "",
        )
        self.provisions[provision.id] = provision
        self.changed = True
        return provision

    def _ups_user_json(self, user: SimUser, provision: SimProvision) -> dict[str, Any]:
        data = self.identity_json(user)
        data["meta"]["location"] = f"{self.geolocation}/profile/identity/v4/Users/{user.id}"
        data["meta"]["statusUrl"] = f"{self.geolocation}/profile/v4/provisions/{provision.id}/status"
        data["meta"]["provisionId"] = provision.id
        return data

    def _ups_create(self, request: httpx.Request) -> httpx.Response:
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return scim_error(400, "the request body is not JSON", "invalidSyntax")
        if not isinstance(body, dict):
            return scim_error(400, "the request body must be a User", "invalidSyntax")
        user_name = body.get("userName")
        enterprise = body.get(ENTERPRISE) or {}
        if not isinstance(user_name, str) or not user_name:
            return scim_error(400, "userName is required", "invalidValue")
        if not enterprise.get("companyId"):
            return scim_error(400, f"{ENTERPRISE}:companyId is required", "invalidValue")
        wrong_company = enterprise["companyId"] != self.state.company_id
        if wrong_company and self.reject_company_at_once:
            return scim_error(400, "companyId does not match the company of the access token", "invalidValue")
        if self.state.by_user_name(user_name) is not None:
            return scim_error(409, f"userName {user_name} is already in use", "uniqueness")
        entitlements = body.get("entitlements") or []
        if any(e not in ENTITLEMENTS for e in entitlements):
            return scim_error(400, f"entitlements must be among {', '.join(ENTITLEMENTS)}", "invalidValue")
        emails = [e for e in body.get("emails") or [] if isinstance(e, dict) and e.get("value")]
        work = next((e for e in emails if e.get("type") == "work"), emails[0] if emails else {})
        name = body.get("name") or {}
        spend = body.get(SPEND_USER)
        spend_error = ""
        if spend is not None:
            missing = [k for k in ("country", "locale", "reimbursementCurrency") if not spend.get(k)]
            if missing:
                spend_error = f"Spend User: {', '.join(missing)} required"
                spend = None
            elif self.spend_failures:
                spend_error, spend = self.spend_failures.pop(0), None
        stamp = _now()
        user = SimUser(
            id=self._uuid(),
            user_name=user_name,
            email=str(work.get("value", "")),
            given_name=str(name.get("givenName", "")),
            family_name=str(name.get("familyName", "")),
            active=bool(body.get("active", True)),
            employee_number=str(enterprise.get("employeeNumber", "")),
            entitlements=list(dict.fromkeys(entitlements)),
            spend=dict(spend) if isinstance(spend, dict) else None,
            created=stamp,
            modified=stamp,
        )
        if not wrong_company:
            user = self.state.add(user)
        roles = RoleChange()
        role_ext = body.get(SPEND_ROLE)
        if isinstance(role_ext, dict) and role_ext.get("roles"):
            try:
                roles.add = [(r["roleName"], list(r.get("roleGroups") or [])) for r in role_ext["roles"]]
            except (TypeError, KeyError):
                return scim_error(400, "each role needs a roleName", "invalidValue")
        provision = self._provision(user, "success", roles, spend_error)
        if wrong_company:  # validated asynchronously: the identity fails, nothing else is processed
            provision.identity_error = "companyId does not match the company of the access token"
        return json_response(201, self._ups_user_json(user, provision))

    def _ups_patch(self, request: httpx.Request, user_id: str) -> httpx.Response:
        user = self.state.users.get(user_id)
        if user is None:
            return scim_error(404, f"User {user_id} not found", "noTarget")
        try:
            core, roles = parse_patch(json.loads(request.content or b"null"))
        except ValueError:
            return scim_error(400, "the request body is not JSON", "invalidSyntax")
        except PatchError as exc:
            return scim_error(400, exc.detail, exc.scim_type)
        new_name = core.values.get("userName")
        if new_name is not None:
            other = self.state.by_user_name(str(new_name))
            if other is not None and other.id != user.id:
                return scim_error(409, f"userName {new_name} is already in use", "uniqueness")
        core_result = self._apply_core(user, core)
        provision = self._provision(user, core_result, roles if not roles.empty else None)
        provision.spend = core.spend
        return json_response(200, self._ups_user_json(user, provision))

    def _apply_core(self, user: SimUser, core: CoreChange) -> str:
        if core.empty:
            return "no-op"
        if not apply_core(user, core):
            return "no-op"
        user.version += 1
        user.modified = _now()
        return "success"

    def _complete(self, provision: SimProvision) -> None:
        """Process the asynchronous part of a provision: the Spend extensions."""
        provision.completed = True
        if provision.identity_error:
            path = f"{ENTERPRISE}:companyId"
            provision.extensions = [_extension(ENTERPRISE, "error", (provision.identity_error,), path)]
            return
        user = self.state.users.get(provision.user_id)
        extensions: list[dict[str, Any]] = [_extension(CORE, provision.core_result)]
        if provision.spend_error:
            extensions.append(_extension(SPEND_USER, "error", (provision.spend_error,)))
        if provision.spend is not None and user is not None:
            merged = {**(user.spend or {}), **provision.spend}
            missing = [k for k in ("country", "locale", "reimbursementCurrency") if not merged.get(k)]
            if missing:
                extensions.append(
                    _extension(SPEND_USER, "error", (f"Spend User: {', '.join(missing)} required",))
                )
            else:
                result = "no-op" if merged == user.spend else "success"
                user.spend = merged
                self._listing = None  # the spend list now holds this user
                extensions.append(_extension(SPEND_USER, result))
        if provision.roles is not None:
            if provision.forced_failure:
                outcome = RoleOutcome("error", (provision.forced_failure,))
            elif user is None:
                outcome = RoleOutcome("error", ("User not found",))
            else:
                change = provision.roles
                if self.add_replaces_roles and change.add and change.replace is None:
                    change = RoleChange(remove=change.remove, replace=list(change.add))
                outcome = check_roles(user, change)
            if outcome.result == "success" and user is not None and outcome.roles is not None:
                user.roles = outcome.roles
                user.version += 1
                user.modified = _now()
            extensions.append(_extension(SPEND_ROLE, outcome.result, outcome.messages))
        elif provision.forced_failure:
            extensions[0] = _extension(CORE, "error", (provision.forced_failure,))
        provision.extensions = extensions

    def _provision_status(self, request: httpx.Request, provision_id: str) -> httpx.Response:
        provision = self.provisions.get(provision_id)
        if provision is None:
            return scim_error(404, f"Provision {provision_id} not found", "noTarget")
        if not provision.completed:
            provision.polls_left -= 1
            if provision.polls_left <= 0:
                self._complete(provision)
        failed = any(not e["status"]["success"] for e in provision.extensions)
        done = provision.completed
        body: dict[str, Any] = {
            "schemas": [PROVISION_STATUS],
            "id": provision.id,
            "operationsCount": {
                "total": 1,
                "success": int(done and not failed),
                "failed": int(done and failed),
                "pending": int(not done),
            },
            "status": {"completed": done, "success": done and not failed},
            "meta": {
                "location": f"{self.geolocation}/profile/v4/provisions/{provision.id}/status",
                "created": provision.created,
                "lastModified": _now(),
                "provisionType": provision.provision_type,
                "resourceType": "ProvisionRequest",
                "correlationId": provision.id,
            },
        }
        if request.url.params.get("attributes") == "operations":
            body["operations"] = [
                {
                    "id": "1",
                    "status": {"completed": done, "success": done and not failed},
                    "resource": {"id": provision.user_id, "type": "User"},
                    "bulkId": "gen-temp-bulk-id",
                    "extensions": provision.extensions,
                }
            ]
            body.update({"totalResults": 1, "itemsPerPage": 1, "startIndex": 1})
        return json_response(200, body)


# The routes that only read users: they leave a frozen listing as it is (see `freeze`).
_READS = frozenset(
    {"_token", "_identity_list", "_identity_search", "_identity_get", "_spend_list", "_spend_get"}
)


@dataclass(frozen=True, slots=True)
class _Frozen:
    """Each user's JSON, made once, and what it depended on: pages are joined from it, byte for byte
    what `json.dumps` makes of the same page."""

    geolocation: str
    scope: str
    users: int
    identity: dict[str, tuple[tuple[str, ...], tuple[bytes, ...]]]  # user id -> keys, `"key": value`s
    spend: dict[str, bytes]  # user id -> its Spend profile's JSON

    def identity_page(
        self, total: int, page: list[SimUser], wanted: frozenset[str] | None, cursor: str | None
    ) -> httpx.Response:
        pickers: dict[tuple[str, ...], Callable[[tuple[bytes, ...]], tuple[bytes, ...]]] = {}
        parts: list[bytes] = []
        for user in page:
            keys, fragments = self.identity[user.id]
            pick = pickers.get(keys)
            if pick is None:  # (every user has the same keys: one picker a page)
                chosen = [i for i, key in enumerate(keys) if wanted is None or key in wanted]
                pick = pickers[keys] = _picker(chosen)
            parts.append(b"{" + b", ".join(pick(fragments)) + b"}")
        resources = b", ".join(parts)
        head = f'{{"schemas": {json.dumps([LIST_RESPONSE])}, "totalResults": {total}, "itemsPerPage": {len(page)}, "Resources": ['
        tail = f', "nextCursor": {json.dumps(cursor)}}}' if cursor is not None else "}"
        return _json_bytes(head.encode() + resources + b"]" + tail.encode())

    def spend_page(self, total: int, page: list[SimUser], start: int) -> httpx.Response:
        resources = b", ".join(self.spend[u.id] for u in page)
        head = f'{{"schemas": {json.dumps([LIST_RESPONSE])}, "totalResults": {total}, "Resources": ['
        tail = f'], "startIndex": {start}, "itemsPerPage": {len(page)}}}'
        return _json_bytes(head.encode() + resources + tail.encode())


def _picker(indexes: list[int]) -> Callable[[tuple[bytes, ...]], tuple[bytes, ...]]:
    if len(indexes) == 1:
        return lambda fragments: (fragments[indexes[0]],)
    return itemgetter(*indexes) if indexes else lambda fragments: ()


def _json_bytes(content: bytes) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": "application/json"})


def _wanted(attributes: list[str] | frozenset[str]) -> frozenset[str]:
    """The top-level attributes a SCIM `attributes` list asks for (id and schemas always come); a
    fully qualified extension attribute (`urn:…:User:companyId`) asks for its extension."""
    top = set()
    for a in attributes:
        extension = next(
            (x for x in (ENTERPRISE, SPEND_USER, SPEND_ROLE) if a == x or a.startswith(x + ":")), None
        )
        top.add(extension or a.split(".")[0])
    return frozenset(top) | {"id", "schemas"}


def _extension(name: str, result: str, messages: tuple[str, ...] = (), path: str = "") -> dict[str, Any]:
    ok = result != "error"
    extension: dict[str, Any] = {
        "name": name,
        "status": {"completed": True, "success": ok, "code": "200" if ok else "400", "result": result},
    }
    if messages:
        extension["messages"] = [
            {"code": "400", "message": m, "schemaPath": path or name, "type": "error"} for m in messages
        ]
    return extension
