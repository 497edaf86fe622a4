"""What the Procore connector reads from Procore's answers (vendor-apis.md §1.4-§1.7), checked at the
boundary by `answers.read`: ids are required, every other field may be absent or null."""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict

from reconciler.connectors.answers import BearerToken, Expected, answer, answer_in_part


@answer
class Token(TypedDict):
    access_token: BearerToken
    expires_in: NotRequired[float | None]


@answer
class Company(TypedDict):
    id: int
    name: NotRequired[str | None]


@answer
class Template(TypedDict):
    id: int
    name: NotRequired[str | None]


@answer_in_part  # only its name is read
class TemplateRef(TypedDict):
    """A member's `permission_template` (null when the member has none)."""

    name: NotRequired[str | None]


@answer_in_part  # read in bulk; the connector uses only what is declared here
class User(TypedDict):
    id: int
    email_address: NotRequired[str | None]
    name: NotRequired[str | None]
    first_name: NotRequired[str | None]
    last_name: NotRequired[str | None]
    is_active: NotRequired[bool | None]
    # When the user last logged in (date-time, nullable): shown, never acted on, so read leniently
    # (what is not text reads as unknown) rather than refusing the page.
    last_login_at: NotRequired[object]


@answer_in_part  # read in bulk; the connector uses only what is declared here
class Member(User):
    permission_template: NotRequired[TemplateRef | None]


@answer_in_part  # read in bulk; the connector uses only what is declared here
class Project(TypedDict):
    id: int
    name: NotRequired[str | None]
    active: NotRequired[bool | None]


@answer
class Added(TypedDict, total=False):
    """The answer to adding a member; Procore may leave out the template (then it is read back)."""

    permission_template: TemplateRef | None


TOKEN = Expected(Token, "a token with an access_token")
COMPANIES = Expected(list[Company], "a list of companies")
TEMPLATES = Expected(list[Template], "a list of permission templates")
USERS = Expected(list[User], "a list of users")
USER = Expected(User, "a user")
MEMBERS = Expected(list[Member], "a list of project members")
PROJECTS = Expected(list[Project], "a list of projects")
ADDED = Expected(Added, "the added member")
