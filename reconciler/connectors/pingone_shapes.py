"""What the PingOne connector reads from PingOne's answers (vendor-apis.md §3.2-§3.4), checked at the
boundary by `answers.read`: ids (and a role assignment's role and scope) are required, every other
field may be absent or null. A list comes in pages of `_embedded.<kind>`; `Listing` names the kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NotRequired, TypeVar

from typing_extensions import TypedDict

from reconciler.connectors.answers import BearerToken, Expected, LinkUrl, PathId, answer

T = TypeVar("T")


@answer
class Token(TypedDict):
    access_token: BearerToken
    expires_in: NotRequired[float | None]


@answer
class Href(TypedDict):
    href: NotRequired[LinkUrl | None]


@answer
class Links(TypedDict):
    next: NotRequired[Href | None]


@answer
class Page(TypedDict, Generic[T]):
    _embedded: NotRequired[dict[str, list[T]] | None]
    _links: NotRequired[Links | None]


@answer
class IdRef(TypedDict):
    id: PathId


@answer
class Named(TypedDict):
    """A population, role or application."""

    id: PathId
    name: NotRequired[str | None]


@answer
class Counts(TypedDict):
    users: NotRequired[int | None]


@answer
class Group(Named):
    directMemberCounts: NotRequired[Counts | None]


@answer
class UserName(TypedDict):
    formatted: NotRequired[str | None]
    given: NotRequired[str | None]
    family: NotRequired[str | None]


@answer
class User(TypedDict):
    id: PathId
    username: NotRequired[str | None]
    email: NotRequired[str | None]
    name: NotRequired[UserName | None]
    enabled: NotRequired[bool | None]
    population: NotRequired[IdRef | None]


@answer
class Membership(TypedDict):
    """One of a user's groups (`users/{id}/memberOfGroups`): DIRECT or INDIRECT."""

    id: PathId
    type: NotRequired[str | None]


@answer
class Scope(TypedDict):
    id: NotRequired[str | None]
    type: NotRequired[str | None]


@answer
class RoleAssignment(TypedDict):
    id: PathId
    role: IdRef
    scope: Scope
    readOnly: NotRequired[bool | None]


@answer
class Environment(TypedDict):
    id: NotRequired[str | None]
    name: NotRequired[str | None]
    type: NotRequired[str | None]
    organization: NotRequired[IdRef | None]


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """A collection: the `_embedded` key its items come under, and the shape of its pages."""

    kind: str
    page: Expected[Page[T]]


def listing(kind: str, item: type[T], description: str) -> Listing[T]:
    return Listing(kind, Expected(Page[item], f"a page of {description}"))  # type: ignore[valid-type]


TOKEN = Expected(Token, "a token with an access_token")
POPULATIONS = listing("populations", Named, "populations")
GROUPS = listing("groups", Group, "groups")
ROLES = listing("roles", Named, "roles")
APPLICATIONS = listing("applications", Named, "applications")
USERS = listing("users", User, "users")
MEMBERSHIPS = listing("groupMemberships", Membership, "group memberships")
ROLE_ASSIGNMENTS = listing("roleAssignments", RoleAssignment, "role assignments")
GROUP = Expected(Group, "a group")
USER = Expected(User, "a user")
MEMBERSHIP = Expected(Membership, "a group membership")
ROLE_ASSIGNMENT = Expected(RoleAssignment, "a role assignment")
ENVIRONMENT = Expected(Environment, "an environment")
