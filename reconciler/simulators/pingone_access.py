"""The PingOne simulator's group-membership and role-assignment routes.

Memberships are DIRECT (added through `POST /users/{id}/memberOfGroups`) or INDIRECT (through a
nested group or a dynamic group's `userFilter`); only DIRECT ones can be removed. Role
assignments carry a scope and `readOnly`; a read-only one answers 403 to a delete.
"""

from __future__ import annotations

import uuid

import httpx

from reconciler.simulators.base import json_response
from reconciler.simulators.pingone_base import PingOneBase, p1_error


class PingOneAccessRoutes(PingOneBase):
    def list_memberships(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.users[user]
        expand = request.url.params.get("expand") == "group"
        gids = sorted(self.all_groups_of(user), key=lambda g: self.state.groups[g]["name"])
        return self.page(
            request,
            "groupMemberships",
            gids,
            lambda g: self.render_membership(user, g, expand),
            self.page_cap,
        )

    def get_membership(self, request: httpx.Request, user: str, group: str) -> httpx.Response:
        self.state.users[user]
        if group not in self.all_groups_of(user):
            return p1_error(404)
        return json_response(
            200, self.render_membership(user, group, request.url.params.get("expand") == "group")
        )

    def add_membership(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.users[user]
        gid = self.body(request).get("id")
        group = self.state.groups.get(str(gid))
        if group is None:
            return p1_error(
                400, details=[{"code": "INVALID_VALUE", "target": "id", "message": "group does not exist"}]
            )
        if group.get("userFilter"):
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "id",
                        "message": "members of a dynamic group are set by its userFilter",
                    }
                ],
            )
        scoped = group.get("population", {}).get("id")
        if scoped and scoped != self.state.users[user]["population"]["id"]:
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "id",
                        "message": "a population group can hold users of its population only",
                    }
                ],
            )
        if user in self.state.direct.get(str(gid), {}):
            return p1_error(
                400,
                details=[
                    {
                        "code": "UNIQUENESS_VIOLATION",
                        "target": "id",
                        "message": "The user is already a member of the group.",
                    }
                ],
            )
        self.state.add_member(user, str(gid))
        self.record(
            "GROUP_MEMBERSHIP.CREATED", "User Added to Group",
            [self.user_resource(user), self.group_resource(str(gid))],
        )  # fmt: skip
        return json_response(201, self.render_membership(user, str(gid), False))

    def remove_membership(self, request: httpx.Request, user: str, group: str) -> httpx.Response:
        self.state.users[user]
        if user not in self.state.direct.get(group, {}):
            return p1_error(404)
        self.state.remove_member(user, group)
        self.record(
            "GROUP_MEMBERSHIP.DELETED", "User Removed from Group",
            [self.user_resource(user), self.group_resource(group)],
        )  # fmt: skip
        return httpx.Response(204)

    def list_user_assignments(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.users[user]
        return self.collection(
            request,
            "roleAssignments",
            list(self.state.user_assignments.get(user, {})),
            self.render_assignment,
        )

    def get_user_assignment(self, request: httpx.Request, user: str, assignment: str) -> httpx.Response:
        if assignment not in self.state.user_assignments.get(user, {}):
            return p1_error(404)
        return json_response(200, self.render_assignment(assignment))

    def create_user_assignment(self, request: httpx.Request, user: str) -> httpx.Response:
        self.state.users[user]
        body = self.body(request)
        role_id = (body.get("role") or {}).get("id")
        scope = body.get("scope") or {}
        role = self.state.roles.get(str(role_id)) or self.state.custom_roles.get(str(role_id))
        if role is None:
            return p1_error(
                400,
                details=[{"code": "INVALID_VALUE", "target": "role.id", "message": "role does not exist"}],
            )
        scope_type, scope_id = scope.get("type"), scope.get("id")
        known = {
            "ENVIRONMENT": {self.state.environment_id},
            "ORGANIZATION": {self.state.organization_id},
            "POPULATION": set(self.state.populations),
            "APPLICATION": set(self.state.applications),
        }.get(str(scope_type))
        if known is None or scope_id not in known or scope_type not in role.get("applicableTo", [scope_type]):
            return p1_error(
                400,
                details=[
                    {
                        "code": "INVALID_VALUE",
                        "target": "scope",
                        "message": f"{role['name']} cannot be assigned at scope {scope_type}",
                    }
                ],
            )
        for aid in self.state.user_assignments.get(user, {}):
            a = self.state.assignments[aid]
            if (a["role"], a["scope_type"], a["scope_id"]) == (role_id, scope_type, scope_id):
                return p1_error(
                    400,
                    details=[
                        {
                            "code": "UNIQUENESS_VIOLATION",
                            "target": "role",
                            "message": "The role assignment already exists.",
                        }
                    ],
                )
        aid = self.state.add_assignment(
            ("user", user), str(role_id), str(scope_type), str(scope_id), assignment_id=str(uuid.uuid4())
        )
        self.record(
            "ROLE_ASSIGNMENT.CREATED",
            "Role Assignment Created",
            [self.user_resource(user), self.role_resource(aid)],
        )
        return json_response(201, self.render_assignment(aid))

    def delete_user_assignment(self, request: httpx.Request, user: str, assignment: str) -> httpx.Response:
        if assignment not in self.state.user_assignments.get(user, {}):
            return p1_error(404)
        if self.state.assignments[assignment].get("readOnly"):
            return p1_error(403, "The actor attempting to perform the request is not authorized.")
        gone = self.role_resource(assignment)
        self.state.remove_assignment(assignment)
        self.record("ROLE_ASSIGNMENT.DELETED", "Role Assignment Deleted", [self.user_resource(user), gone])
        return httpx.Response(204)

    def list_group_assignments(self, request: httpx.Request, group: str) -> httpx.Response:
        self.state.groups[group]
        return self.collection(
            request,
            "roleAssignments",
            list(self.state.group_assignments.get(group, {})),
            self.render_assignment,
        )

    def list_group_nesting(self, request: httpx.Request, group: str) -> httpx.Response:
        self.state.groups[group]
        parents = sorted(self.state.nested.get(group, set()))
        return self.collection(
            request,
            "groupMemberships",
            parents,
            lambda p: {"id": p, "name": self.state.groups[p]["name"], "type": "DIRECT"},
        )
