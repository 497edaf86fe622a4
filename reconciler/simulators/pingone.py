"""A PingOne Platform API simulator, faithful to the management OpenAPI document.

Serves `POST /{envId}/as/token` (client_credentials, basic or post) and, under `/v1`, users
(paged with `limit`/`cursor`, SCIM `filter` incl. `memberOfGroups[id eq ".."]`), a user's enabled
flag, population (moves only through `PUT …/population`), group memberships (DIRECT and INDIRECT:
nested groups and dynamic `userFilter` groups), role assignments (`readOnly` honoured),
populations, groups, built-in roles (`/v1/roles`), custom roles and the environment itself; the
audit activities every write leaves and the organization's licences (`pingone_audit`).

Faithful details worth knowing: the users page is capped below the `limit` asked for
(`users_page_cap`, 200 by default, as PingOne's paging docs warn); `_links.next.href` carries an
opaque cursor; `count` is omitted for large collections; errors are P1Error bodies
(`id`, `code`, `message`, `details[]`); 429 `REQUEST_LIMITED` with `Retry-After` once the rate
budget (`rate_limit` requests per second, bucket of `burst`) runs out.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx

from reconciler.simulators.base import json_response
from reconciler.simulators.pingone_access import PingOneAccessRoutes
from reconciler.simulators.pingone_audit import PingOneAuditRoutes
from reconciler.simulators.pingone_base import RateBudget, p1_error
from reconciler.simulators.pingone_filter import FilterError, compile_filter, member_filter_group

__all__ = ["PingOneSimulator", "RateBudget"]


class PingOneSimulator(PingOneAuditRoutes, PingOneAccessRoutes):
    def routes(self) -> dict[tuple[str, str], Callable[..., httpx.Response]]:
        e = "/v1/environments/{env}"
        return {
            ("POST", "/{env}/as/token"): self.token,
            ("GET", "/v1/roles"): self.list_roles,
            ("GET", "/v1/roles/{role}"): self.get_role,
            ("GET", e): self.get_environment,
            ("GET", e + "/users"): self.list_users,
            ("POST", e + "/users"): self.create_user,
            ("GET", e + "/users/{user}"): self.get_user,
            ("PATCH", e + "/users/{user}"): self.update_user,
            ("PUT", e + "/users/{user}"): self.update_user,
            ("DELETE", e + "/users/{user}"): self.delete_user,
            ("GET", e + "/users/{user}/enabled"): self.get_enabled,
            ("PUT", e + "/users/{user}/enabled"): self.set_enabled,
            ("GET", e + "/users/{user}/population"): self.get_population,
            ("PUT", e + "/users/{user}/population"): self.set_population,
            ("GET", e + "/users/{user}/memberOfGroups"): self.list_memberships,
            ("POST", e + "/users/{user}/memberOfGroups"): self.add_membership,
            ("GET", e + "/users/{user}/memberOfGroups/{group}"): self.get_membership,
            ("DELETE", e + "/users/{user}/memberOfGroups/{group}"): self.remove_membership,
            ("GET", e + "/users/{user}/roleAssignments"): self.list_user_assignments,
            ("POST", e + "/users/{user}/roleAssignments"): self.create_user_assignment,
            ("GET", e + "/users/{user}/roleAssignments/{assignment}"): self.get_user_assignment,
            ("DELETE", e + "/users/{user}/roleAssignments/{assignment}"): self.delete_user_assignment,
            ("GET", e + "/populations"): self.list_populations,
            ("GET", e + "/populations/{population}"): self.get_population_by_id,
            ("GET", e + "/groups"): self.list_groups,
            ("GET", e + "/groups/{group}"): self.get_group,
            ("GET", e + "/groups/{group}/memberOfGroups"): self.list_group_nesting,
            ("GET", e + "/groups/{group}/roleAssignments"): self.list_group_assignments,
            ("GET", e + "/roles"): self.list_custom_roles,
            ("GET", e + "/applications"): self.list_applications,
            ("GET", e + "/activities"): self.list_activities,
            ("GET", e + "/activities/{activity}"): self.get_activity,
            ("GET", "/v1/organizations/{organization}/licenses"): self.list_licenses,
            ("GET", "/v1/organizations/{organization}/licenses/{license}"): self.get_license,
        }

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                client_id = secret = ""
        if form.get("grant_type") != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
            )
        if not client_id or self.state.clients.get(client_id) != secret:
            return json_response(
                401, {"error": "invalid_client", "error_description": "Client authentication failed."}
            )
        token = self.issue_token(self.client_actor(client_id))
        return json_response(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        )

    def get_environment(self, request: httpx.Request) -> httpx.Response:
        body: dict[str, object] = {
            "id": self.state.environment_id,
            "name": "Sandbox",
            "type": "SANDBOX",
            "organization": {"id": self.state.organization_id},
        }
        if self.state.license_id:
            body["license"] = {"id": self.state.license_id}
        return json_response(200, body)

    def list_roles(self, request: httpx.Request) -> httpx.Response:
        return self.collection(request, "roles", list(self.state.roles.values()), self.render_role)

    def get_role(self, request: httpx.Request, role: str) -> httpx.Response:
        return json_response(200, self.render_role(self.state.roles[role]))

    def list_custom_roles(self, request: httpx.Request) -> httpx.Response:
        roles = [{**r, "environment": self.env(), "type": "CUSTOM"} for r in self.state.custom_roles.values()]
        return self.collection(request, "roles", roles, lambda r: r)

    def list_applications(self, request: httpx.Request) -> httpx.Response:
        apps = [{**a, "environment": self.env()} for a in self.state.applications.values()]
        return self.collection(request, "applications", apps, lambda a: a)

    def list_users(self, request: httpx.Request) -> httpx.Response:
        text = request.url.params.get("filter")
        order = self.user_order()
        if text:
            try:
                group = member_filter_group(text)
                if group is not None:
                    order = self.group_members(group)
                else:
                    match = compile_filter(text, lambda u: self.all_groups_of(str(u["id"])))
                    order = [uid for uid in order if match(self.state.users[uid])]
            except FilterError as exc:
                return p1_error(400, code="INVALID_FILTER", message=f"The filter is not valid: {exc}")
        return self.page(request, "users", order, self.render_user, self.users_page_cap)

    def create_user(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        username, email = body.get("username"), body.get("email")
        missing = [
            f for f, v in (("username", username), ("email", email)) if not isinstance(v, str) or not v
        ]
        if missing:
            return p1_error(
                400,
                details=[
                    {"code": "REQUIRED_VALUE", "target": f, "message": f"{f} is required"} for f in missing
                ],
            )
        assert isinstance(username, str) and isinstance(email, str)
        if any(u["username"].casefold() == username.casefold() for u in self.state.users.values()):
            return p1_error(
                400,
                details=[{"code": "UNIQUENESS_VIOLATION", "target": "username", "message": "must be unique"}],
            )
        population_id = (body.get("population") or {}).get("id") or self.state.default_population()
        if population_id not in self.state.populations:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "population.id",
                        "message": "population does not exist",
                    }
                ],
            )
        name = body.get("name") or {}
        user = self.state.new_user(
            username,
            email,
            name.get("given", ""),
            name.get("family", ""),
            population_id,
            user_id=str(uuid.uuid4()),
        )
        if name.get("formatted"):
            user["name"]["formatted"] = name["formatted"]
        self.touched(user)
        user["createdAt"] = user["updatedAt"]
        self.record("USER.CREATED", "User Created", [self.user_resource(user["id"])])
        return json_response(201, self.render_user(user["id"]))

    def get_user(self, request: httpx.Request, user: str) -> httpx.Response:
        body = self.render_user(user)
        include = request.url.params.get("include")
        if include == "memberOfGroupIDs":
            body["memberOfGroupIDs"] = sorted(self.all_groups_of(user))
        elif include == "memberOfGroupNames":
            body["memberOfGroupNames"] = sorted(
                self.state.groups[g]["name"] for g in self.all_groups_of(user)
            )
        return json_response(200, body)

    def update_user(self, request: httpx.Request, user: str) -> httpx.Response:
        record = self.state.users[user]
        body = self.body(request)
        moved = (body.get("population") or {}).get("id")
        if moved and moved != record["population"]["id"]:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "population",
                        "message": "population cannot be updated with this operation; use "
                        "PUT /users/{userID}/population",
                    }
                ],
            )
        if "enabled" in body and body["enabled"] != record["enabled"]:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "enabled",
                        "message": "enabled is read-only here; use PUT /users/{userID}/enabled",
                    }
                ],
            )
        username = body.get("username")
        taken = isinstance(username, str) and username.casefold() != record["username"].casefold()
        if taken and any(
            u["username"].casefold() == str(username).casefold() for u in self.state.users.values()
        ):
            return p1_error(
                400,
                details=[{"code": "UNIQUENESS_VIOLATION", "target": "username", "message": "must be unique"}],
            )
        for key in ("username", "email", "name", "title", "externalId"):
            if key in body:
                record[key] = body[key]
        self.touched(record)
        self.record("USER.UPDATED", "User Updated", [self.user_resource(user)])
        return json_response(200, self.render_user(user))

    def delete_user(self, request: httpx.Request, user: str) -> httpx.Response:
        gone = self.user_resource(user)
        self.state.delete_user(user)
        self.record("USER.DELETED", "User Deleted", [gone])
        return httpx.Response(204)

    def get_enabled(self, request: httpx.Request, user: str) -> httpx.Response:
        return json_response(
            200,
            {
                "enabled": self.state.users[user]["enabled"],
                "_links": self.links(request, f"/users/{user}/enabled"),
            },
        )

    def set_enabled(self, request: httpx.Request, user: str) -> httpx.Response:
        record = self.state.users[user]
        body = self.body(request)
        if not isinstance(body.get("enabled"), bool):
            return p1_error(
                400, details=[{"code": "INVALID_VALUE", "target": "enabled", "message": "must be boolean"}]
            )
        if record["enabled"] != body["enabled"]:
            self.touched(record)
        record["enabled"] = body["enabled"]
        self.record(
            "USER.UPDATED", "User Enabled" if body["enabled"] else "User Disabled", [self.user_resource(user)]
        )
        return json_response(
            200, {"enabled": record["enabled"], "_links": self.links(request, f"/users/{user}/enabled")}
        )

    def get_population(self, request: httpx.Request, user: str) -> httpx.Response:
        pid = self.state.users[user]["population"]["id"]
        return json_response(200, {"id": pid, "_links": self.links(request, f"/users/{user}/population")})

    def set_population(self, request: httpx.Request, user: str) -> httpx.Response:
        record = self.state.users[user]
        pid = self.body(request).get("id")
        if pid not in self.state.populations:
            return p1_error(
                400,
                details=[{"code": "INVALID_VALUE", "target": "id", "message": "population does not exist"}],
            )
        old = record["population"]["id"]
        if old != pid:
            self.touched(record)
        record["population"] = {"id": pid}
        for gid in list(self.state.user_groups.get(user, set())):  # population groups of the old population
            if self.state.groups[gid].get("population", {}).get("id") == old:
                self.state.remove_member(user, gid)
        self.record("USER.UPDATED", "User Population Updated", [self.user_resource(user)])
        return json_response(200, {"id": pid, "_links": self.links(request, f"/users/{user}/population")})

    def list_populations(self, request: httpx.Request) -> httpx.Response:
        ids = self.filtered(request, self.state.populations)
        if isinstance(ids, httpx.Response):
            return ids
        return self.page(request, "populations", ids, self.render_population, self.page_cap)

    def get_population_by_id(self, request: httpx.Request, population: str) -> httpx.Response:
        return json_response(200, self.render_population(population))

    def list_groups(self, request: httpx.Request) -> httpx.Response:
        ids = self.filtered(request, self.state.groups)
        if isinstance(ids, httpx.Response):
            return ids
        return self.page(request, "groups", ids, self.render_group, self.page_cap)

    def get_group(self, request: httpx.Request, group: str) -> httpx.Response:
        body = self.render_group(group)
        if request.url.params.get("include") == "totalMemberCounts":
            body["totalMemberCounts"] = {"users": len(self.group_members(group))}
        return json_response(200, body)
