"""What the Concur connector reads from Concur's answers (vendor-apis.md §2.2-§2.5), checked at the
boundary by `answers.read`: user ids and the provision `status` are required, every other field may
be absent or null. The extension keys are Concur's schema URNs, spelled out (TypedDict keys must be
literal); `concur_api` names the same URNs."""

from __future__ import annotations

from typing import Annotated, Any, Generic, NotRequired, TypeVar

from pydantic import Field
from typing_extensions import TypedDict

from reconciler.connectors.answers import BearerToken, Expected, LinkUrl, PathId, answer, answer_in_part

T = TypeVar("T")
MOST_USERS = 10_000_000  # a larger totalResults is garbage: it would be read as that many pages to fetch


@answer
class Token(TypedDict):
    access_token: BearerToken
    expires_in: NotRequired[float | None]  # Concur sends "3600", a string
    refresh_token: NotRequired[str | None]
    geolocation: NotRequired[LinkUrl | None]
    scope: NotRequired[str | None]


@answer_in_part  # the pages' other keys are not used
class ListResponse(TypedDict, Generic[T]):
    Resources: NotRequired[list[T] | None]  # RFC 7644: may be left out when there is none
    nextCursor: NotRequired[str | None]
    totalResults: NotRequired[Annotated[int, Field(ge=0, le=MOST_USERS)] | None]


@answer_in_part  # read only through read_identity / read_roles: the rest is not kept
class Email(TypedDict):
    value: NotRequired[str | None]
    type: NotRequired[str | None]
    primary: NotRequired[bool | None]


@answer_in_part  # read only through read_identity / read_roles: the rest is not kept
class Name(TypedDict):
    formatted: NotRequired[str | None]
    givenName: NotRequired[str | None]
    familyName: NotRequired[str | None]


@answer_in_part  # read only through read_identity / read_roles: the rest is not kept
class Enterprise(TypedDict):
    companyId: NotRequired[str | None]


_IdentityExtensions = TypedDict(
    "_IdentityExtensions",
    {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": NotRequired[Enterprise | None]},
)


@answer_in_part  # read only through read_identity: the rest of each user is not kept
class Identity(_IdentityExtensions):
    id: PathId
    userName: NotRequired[str | None]
    displayName: NotRequired[str | None]
    name: NotRequired[Name | None]
    emails: NotRequired[list[Email] | None]
    active: NotRequired[bool | None]


@answer_in_part  # read only through read_identity / read_roles: the rest is not kept
class Role(TypedDict):
    roleName: NotRequired[str | None]


@answer_in_part  # read only through read_identity / read_roles: the rest is not kept
class Roles(TypedDict):
    roles: NotRequired[list[Role] | None]


_SpendExtensions = TypedDict(
    "_SpendExtensions",
    {"urn:ietf:params:scim:schemas:extension:spend:2.0:Role": NotRequired[Roles | None]},
)


@answer_in_part  # read only through read_roles: a Spend profile's other extensions are not kept
class SpendUser(_SpendExtensions):
    id: PathId


@answer
class Meta(TypedDict):
    provisionId: NotRequired[PathId | None]


@answer
class Provisioned(TypedDict):
    """The answer to a UPS PATCH: the provision to follow."""

    meta: NotRequired[Meta | None]


@answer
class Created(Provisioned):
    id: PathId


@answer
class Flags(TypedDict):
    completed: NotRequired[bool | None]
    success: NotRequired[bool | None]
    result: NotRequired[str | None]


@answer
class Extension(TypedDict):
    name: NotRequired[str | None]
    status: NotRequired[Flags | None]
    messages: NotRequired[Any]  # an array of {code, message}, or (the UPS spec) one object


@answer
class Operation(TypedDict):
    extensions: NotRequired[list[Extension] | None]


@answer
class Status(TypedDict):
    status: Flags
    operations: NotRequired[list[Operation] | None]


TOKEN = Expected(Token, "a token with an access_token")
IDENTITIES = Expected(ListResponse[Identity], "a list of Identity users")
SPEND_USERS = Expected(ListResponse[SpendUser], "a list of Spend users")
SPEND_USER = Expected(SpendUser, "a Spend user")
CREATED = Expected(Created, "the created user with its id")
PROVISIONED = Expected(Provisioned, "the provision of the change")
STATUS = Expected(Status, "a provision status")
