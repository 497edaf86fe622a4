"""An in-package simulator of the part of Procore's REST API that access uses.

Same paths, methods, bodies, status codes and headers as Procore documents them (see
docs/procore.md for what is unverified and how the simulator chose). Checks, in Procore's order:
rate limit (429 with X-Rate-Limit-*), bearer token (401 "The access token is invalid"),
`Procore-Company-Id` (400 "Missing Procore-Company-Id header!", 403 "App is not connected to this
company"), then the resource (404 when the caller cannot see it).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from reconciler.simulators.base import SimulatorBase, json_response, route_table
from reconciler.simulators.procore_http import (
    INVALID_TOKEN,
    MISSING_COMPANY,
    NOT_CONNECTED,
    RateLimits,
    body_of,
    error,
    int_param,
    invalid,
    not_found,
    paginate,
    with_headers,
)
from reconciler.simulators.procore_state import ProcoreState, SimCompany, SimProject, SimUser

TOKEN_TTL = 5400  # seconds (oauth/oauth_client_credentials.md)
MAX_PER_PAGE = 2000  # the docs' recommended ceiling; endpoints without a documented maximum use it
MAX_PER_PAGE_PROJECTS = 300
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DIRECTORY_DISABLED = "The Directory tool is not enabled for this project"

Handler = Callable[..., httpx.Response]


class ProcoreSimulator(SimulatorBase):
    def __init__(
        self,
        state: ProcoreState,
        *,
        clock: Callable[[], float] = time.time,
        hourly_limit: int | None = 3600,
        spike_limit: int | None = None,
        token_ttl: int = TOKEN_TTL,
    ) -> None:
        super().__init__()
        self.state = state
        self.clock = clock
        self.limits = RateLimits(clock, hourly=hourly_limit, spike=spike_limit)
        self.token_ttl = token_ttl
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (client_id, expires at)
        self.tokens_issued = 0
        self.version = 0  # bumped by every successful write; the sandbox saves when it moved
        self._frozen: dict[int, bytes] | None = None  # user id -> its JSON (see freeze)
        self._match = route_table(
            {
                ("GET", "/rest/v1.0/companies"): self._companies,
                ("GET", "/rest/v1.0/companies/{company_id}/permission_templates"): self._templates,
                ("GET", "/rest/v1.3/companies/{company_id}/users"): self._active_users,
                ("POST", "/rest/v1.3/companies/{company_id}/users"): self._create_user,
                ("GET", "/rest/v1.3/companies/{company_id}/users/{id}"): self._get_user,
                ("PATCH", "/rest/v1.3/companies/{company_id}/users/{id}"): self._update_user,
                ("GET", "/rest/v1.0/companies/{company_id}/users/inactive"): self._inactive_users,
                ("PATCH", "/rest/v1.0/companies/{company_id}/users/inactive/{id}"): self._reactivate,
                ("GET", "/rest/v1.1/projects"): self._projects,
                ("GET", "/rest/v1.0/projects/{project_id}/permission_templates"): self._project_templates,
                ("GET", "/rest/v1.0/projects/{project_id}/users"): self._project_users,
                ("GET", "/rest/v1.0/projects/{project_id}/users/inactive"): self._project_inactive_users,
                ("GET", "/rest/v1.0/projects/{project_id}/users/{id}"): self._project_user,
                ("POST", "/rest/v1.0/projects/{project_id}/users/{id}/actions/add"): self._add,
                ("DELETE", "/rest/v1.0/projects/{project_id}/users/{id}/actions/remove"): self._remove,
                ("PATCH", "/rest/v1.0/projects/{project_id}/permission_template_assignments"): self._assign,
            }
        )

    # -- persistence ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path, **options: Any) -> ProcoreSimulator:
        return cls(ProcoreState.load(path), **options)

    def save(self, path: Path) -> None:
        with self.lock:
            self.state.save(path)

    def freeze(self) -> None:
        """Declare the users unchanging until the next write (a benchmark's server): directory pages
        are then joined from each user's JSON, made once here (a page of 2,000 users took 10-25 ms
        of the server's time, holding up the answers due meanwhile). The same bytes either way."""
        with self.lock:
            self._frozen = {
                user.id: json.dumps(_user_json(user)).encode()
                for company in self.state.companies.values()
                for user in company.users.values()
            }

    def _users_page(self, request: httpx.Request, rows: list[SimUser]) -> httpx.Response:
        page, headers = paginate(request, rows, max_per_page=MAX_PER_PAGE)
        if self._frozen is None:
            return json_response(200, [_user_json(u) for u in page], headers)
        content = b"[" + b", ".join(self._frozen[u.id] for u in page) + b"]"
        return httpx.Response(200, content=content, headers={"content-type": "application/json", **headers})

    # -- faults -----------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {t: (client, 0.0) for t, (client, _) in self.tokens.items()}

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response | None:
        if kind == "expire-token":
            self.expire_tokens()
            return None
        if kind == "429":
            now = int(self.clock())
            return error(
                429,
                "Rate limit exceeded",
                {"X-Rate-Limit-Limit": "25", "X-Rate-Limit-Remaining": "0",
                 "X-Rate-Limit-Reset": str(now + 2), "Retry-After": "2"},
            )  # fmt: skip
        if kind == "503":
            return error(503, "Service Unavailable", {"Retry-After": "1"})
        if kind.isdigit():
            return error(int(kind), "Internal Server Error" if kind == "500" else "Bad Gateway")
        return None

    # -- dispatch ---------------------------------------------------------------------------------

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return self._token(request) if request.method == "POST" else not_found()
        if request.method != "GET":
            self._frozen = None  # a write may change users: made again by the next freeze()
        allowed, rate_headers = self.limits.take()
        if not allowed:
            return error(429, "Rate limit exceeded", rate_headers)
        return with_headers(self._authorized(request), rate_headers)

    def _authorized(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        held = self.tokens.get(token)
        if held is None or held[1] <= self.clock():
            return error(
                401, INVALID_TOKEN, {"WWW-Authenticate": 'Bearer realm="Doorkeeper", error="invalid_token"'}
            )
        header = request.headers.get("procore-company-id")
        if header is None or not header.strip():
            return error(400, MISSING_COMPANY)
        company = self.state.companies.get(int(header)) if header.strip().isdigit() else None
        if company is None or not company.installed:
            return error(403, NOT_CONNECTED)
        found = self._match(request)
        if found is None:
            return not_found()
        handler, params = found
        try:
            ids = {k: int(v) for k, v in params.items()}
        except ValueError:
            return not_found()
        if "company_id" in ids and ids.pop("company_id") != company.id:
            return not_found()  # another company's directory is not visible under this header
        if "project_id" in ids:
            project = company.projects.get(ids.pop("project_id"))
            if project is None:
                return not_found()
            if not project.directory and (
                "/users" in request.url.path or "template_assign" in request.url.path
            ):
                return error(403, DIRECTORY_DISABLED)  # error_reference.md: 403 when a tool is disabled
            return handler(request, company, project, **ids)
        return handler(request, company, **ids)

    # -- OAuth ------------------------------------------------------------------------------------

    def _token(self, request: httpx.Request) -> httpx.Response:
        content_type = request.headers.get("content-type", "")
        fields: dict[str, Any]
        if content_type.startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(request.content.decode(errors="replace")))
        else:
            parsed = body_of(request)
            fields = parsed if isinstance(parsed, dict) else {}
        if fields.get("grant_type") != "client_credentials":
            description = "The authorization grant type is not supported."
            return json_response(400, {"error": "unsupported_grant_type", "error_description": description})
        client_id = str(fields.get("client_id", ""))
        expected = self.state.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, str(fields.get("client_secret", ""))):
            return json_response(
                401, {"error": "invalid_client", "error_description": "Client authentication failed."}
            )
        token = secrets.token_urlsafe(24)
        now = self.clock()
        self.tokens[token] = (client_id, now + self.token_ttl)
        self.tokens_issued += 1
        return json_response(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl,
                "created_at": int(now),
            },
        )

    # -- companies and templates ------------------------------------------------------------------

    def _companies(self, request: httpx.Request, company: SimCompany) -> httpx.Response:
        rows = [
            {"id": c.id, "name": c.name, "is_active": True, "logo_url": "", "my_company": c.id == company.id}
            for c in self.state.companies.values()
            if c.installed
        ]
        page, headers = paginate(request, rows, max_per_page=MAX_PER_PAGE)
        return json_response(200, list(page), headers)

    def _templates(self, request: httpx.Request, company: SimCompany) -> httpx.Response:
        rows = [_template_json(t.id, t.name, t.project_specific) for t in company.templates.values()
                if not t.project_specific]  # fmt: skip
        return json_response(200, rows)

    def _project_templates(
        self, request: httpx.Request, company: SimCompany, project: SimProject
    ) -> httpx.Response:
        rows = [_template_json(t.id, t.name, t.project_specific) for t in company.templates.values()]
        return json_response(200, rows)

    # -- company users ----------------------------------------------------------------------------

    def _active_users(self, request: httpx.Request, company: SimCompany) -> httpx.Response:
        rows = [u for u in company.users.values() if u.is_active]
        search = (request.url.params.get("filters[search]") or "").casefold()
        if search:
            rows = [
                u
                for u in rows
                if search in f"{u.first_name} {u.last_name} {u.email} {u.job_title or ''}".casefold()
            ]
        return self._users_page(request, rows)

    def _inactive_users(self, request: httpx.Request, company: SimCompany) -> httpx.Response:
        return self._users_page(request, [u for u in company.users.values() if not u.is_active])

    def _get_user(self, request: httpx.Request, company: SimCompany, id: int) -> httpx.Response:
        user = company.users.get(id)
        return json_response(200, _user_json(user)) if user else not_found()

    def _create_user(self, request: httpx.Request, company: SimCompany) -> httpx.Response:
        body = body_of(request)
        fields = body.get("user") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return invalid(400, "param is missing or the value is empty: user")
        email = fields.get("email_address")
        last_name = fields.get("last_name")
        if not isinstance(email, str) or not _EMAIL.match(email):
            return invalid(400, "email_address is missing or not an email address")
        if not isinstance(last_name, str) or not last_name.strip():
            return invalid(400, "last_name can't be blank")
        if company.user_by_email(email) is not None:
            return invalid(409, "Email address has already been taken")
        now = self._now_text()
        user = SimUser(
            self.state.new_id(), email, str(fields.get("first_name") or ""), last_name,
            is_active=fields.get("is_active", True) is not False,
            is_employee=fields.get("is_employee", False) is True,
            job_title=_opt_str(fields.get("job_title")), employee_id=_opt_str(fields.get("employee_id")),
            created_at=now, updated_at=now,
        )  # fmt: skip
        company.users[user.id] = user
        self.version += 1
        return json_response(201, _user_json(user))

    def _update_user(self, request: httpx.Request, company: SimCompany, id: int) -> httpx.Response:
        user = company.users.get(id)
        if user is None:
            return not_found()
        body = body_of(request)
        fields = body.get("user") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return invalid(400, "param is missing or the value is empty: user")
        if "is_active" in fields:
            if not isinstance(fields["is_active"], bool):
                return invalid(400, "is_active must be true or false")
            user.is_active = fields["is_active"]
        for name in ("first_name", "last_name", "job_title", "employee_id"):
            if name in fields:
                setattr(user, name, _opt_str(fields[name]) or ("" if name.endswith("_name") else None))
        if "email_address" in fields:
            email = fields["email_address"]
            other = company.user_by_email(str(email))
            if (
                not isinstance(email, str)
                or not _EMAIL.match(email)
                or (other is not None and other is not user)
            ):
                return invalid(422, "Email address is invalid or already taken")
            user.email = email
        user.updated_at = self._now_text()
        self.version += 1
        return json_response(200, _user_json(user))

    def _reactivate(self, request: httpx.Request, company: SimCompany, id: int) -> httpx.Response:
        user = company.users.get(id)
        if user is None or user.is_active:
            return not_found()  # not in the inactive list
        user.is_active = True
        user.updated_at = self._now_text()
        self.version += 1
        return json_response(200, _user_json(user))

    # -- projects ---------------------------------------------------------------------------------

    def _projects(self, request: httpx.Request, company: SimCompany) -> httpx.Response:
        raw = request.url.params.get("company_id")
        if raw is None:
            return invalid(400, "company_id is missing")
        if raw != str(company.id):
            return error(403, "You do not have access to this company")
        status = request.url.params.get("filters[by_status]", "Active")
        rows = [p for p in company.projects.values()
                if status == "All" or p.active == (status != "Inactive")]  # fmt: skip
        name = request.url.params.get("filters[name]")
        if name:
            rows = [p for p in rows if name.casefold() in p.name.casefold()]
        page, headers = paginate(request, rows, max_per_page=MAX_PER_PAGE_PROJECTS)
        return json_response(200, [_project_json(p, company) for p in page], headers)

    def _project_users(
        self, request: httpx.Request, company: SimCompany, project: SimProject
    ) -> httpx.Response:
        if not project.directory:  # Procore: 403 when the tool is disabled in the project
            return invalid(403, "The Directory tool is not enabled for this project")
        rows = [(company.users[uid], tid) for uid, tid in project.members.items()
                if uid in company.users and company.users[uid].is_active]  # fmt: skip
        wanted = int_param(request, "filters[permission_template]")
        if wanted is not None:
            rows = [(u, tid) for u, tid in rows if tid == wanted]
        only = int_param(request, "filters[id]")
        if only is not None:
            rows = [(u, tid) for u, tid in rows if u.id == only]
        page, headers = paginate(request, rows, max_per_page=MAX_PER_PAGE)
        return json_response(200, [self._member_json(company, u, tid) for u, tid in page], headers)

    def _project_inactive_users(
        self, request: httpx.Request, company: SimCompany, project: SimProject
    ) -> httpx.Response:
        """Members whose directory account is inactive: they stay on the project, listed here only."""
        rows = [(company.users[uid], tid) for uid, tid in project.members.items()
                if uid in company.users and not company.users[uid].is_active]  # fmt: skip
        page, headers = paginate(request, rows, max_per_page=MAX_PER_PAGE)
        return json_response(200, [self._member_json(company, u, tid) for u, tid in page], headers)

    def _project_user(
        self, request: httpx.Request, company: SimCompany, project: SimProject, id: int
    ) -> httpx.Response:
        user = company.users.get(id)
        if user is None or id not in project.members:
            return not_found()
        return json_response(200, self._member_json(company, user, project.members[id]))

    def _add(
        self, request: httpx.Request, company: SimCompany, project: SimProject, id: int
    ) -> httpx.Response:
        user = company.users.get(id)
        if user is None:
            return not_found()
        if not project.directory:  # "The project must have the Directory tool enabled"
            return invalid(403, "The Directory tool is not enabled for this project")
        body = body_of(request)
        fields = body.get("user") if isinstance(body, dict) else None
        template_id = fields.get("permission_template_id") if isinstance(fields, dict) else None
        if template_id is not None and (
            not isinstance(template_id, int) or template_id not in company.templates
        ):
            return invalid(422, "Permission template is invalid")
        if not user.is_active:
            return invalid(422, "User is inactive in the company directory")
        if id not in project.members:  # an existing member keeps the template (as bulk_add documents)
            project.members[id] = template_id
            self.version += 1
        return json_response(201, _user_json(user))

    def _remove(
        self, request: httpx.Request, company: SimCompany, project: SimProject, id: int
    ) -> httpx.Response:
        if id not in project.members:
            return not_found()
        del project.members[id]
        self.version += 1
        return httpx.Response(204)

    def _assign(self, request: httpx.Request, company: SimCompany, project: SimProject) -> httpx.Response:
        body = body_of(request)
        fields = body.get("permission_template_assignments") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return invalid(400, "param is missing or the value is empty: permission_template_assignments")
        user_id, template_id = fields.get("user_id"), fields.get("permission_template_id")
        if not isinstance(user_id, int) or not isinstance(template_id, int):
            return invalid(400, "user_id and permission_template_id must be integers")
        user = company.users.get(user_id)
        if user is None or user_id not in project.members or not user.is_active:
            return invalid(422, "User is not an active member of this project")
        if template_id not in company.templates:
            return invalid(422, "Permission template is invalid")
        if project.members[user_id] != template_id:
            project.members[user_id] = template_id
            self.version += 1
        return json_response(
            200, {"user_id": user_id, "permission_template_id": template_id, "project_id": project.id}
        )

    # -- helpers ----------------------------------------------------------------------------------

    def _now_text(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _member_json(self, company: SimCompany, user: SimUser, template_id: int | None) -> dict[str, Any]:
        row = _user_json(user)
        template = company.templates.get(template_id) if template_id is not None else None
        row["permission_template"] = (
            _template_json(template.id, template.name, template.project_specific) if template else None
        )
        return row


def _opt_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _template_json(tid: int, name: str, project_specific: bool) -> dict[str, Any]:
    return {"id": tid, "name": name, "project_specific": project_specific,
            "type": "project_specific" if project_specific else "global", "category": "internal"}  # fmt: skip


def _user_json(user: SimUser) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "name": user.name,
        "initials": "".join(part[:1] for part in user.name.split()).upper(),
        "email_address": user.email,
        "is_active": user.is_active,
        "is_employee": user.is_employee,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }
    if user.last_login_at is not None:
        row["last_login_at"] = user.last_login_at
    if user.job_title is not None:
        row["job_title"] = user.job_title
    if user.employee_id is not None:
        row["employee_id"] = user.employee_id
    return row


def _project_json(project: SimProject, company: SimCompany) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "display_name": project.name,
        "active": project.active,
        "company": {"id": company.id, "name": company.name},
    }


def main(argv: list[str] | None = None) -> int:
    """Serve the simulator on loopback: `python -m reconciler.simulators.procore [--state FILE]`."""
    import argparse

    from reconciler.simulators.procore_state import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, demo_state
    from reconciler.simulators.serve import serve

    parser = argparse.ArgumentParser(description="Serve the Procore simulator on 127.0.0.1.")
    parser.add_argument(
        "--state", type=Path, help="a procore.sim.json to load and save (default: the demo seed)"
    )
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    state = ProcoreState.load(args.state) if args.state and args.state.exists() else demo_state()
    simulator = ProcoreSimulator(state)
    with serve(simulator.handle, latency=args.latency) as url:
        print(f"PROCORE_API_URL={url} PROCORE_LOGIN_URL={url} PROCORE_CLIENT_ID={SANDBOX_CLIENT_ID} "
              f"PROCORE_CLIENT_SECRET={SANDBOX_CLIENT_SECRET} "
              f"PROCORE_COMPANY_ID={','.join(str(c) for c in state.companies)}", flush=True)  # fmt: skip
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    if args.state:
        simulator.save(args.state)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
