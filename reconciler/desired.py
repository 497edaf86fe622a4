"""Pydantic models of the files in `access/`: the schema of desired state.

Member collections may be written as a list (`[alice, site-engineering]`) or as a mapping
(`alice: Project Engineer`, `carol: {template: ..., expires: ..., reason: ...}`); validators fold
both into a mapping of member name -> options, so a request for access is a one-line diff.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

M = TypeVar("M")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _to_str_keys(value: Any) -> Any:
    """YAML reads `562949953421312:` as an int; ids are names here."""
    if isinstance(value, dict) and not set(map(type, value)) <= {str}:  # (checked in C: 100k people)
        return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v for k, v in value.items()}
    return value


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_expiry(value: Any) -> Any:
    """`2027-03-31` (the last day) or `2027-03-31T17:00:00Z` / `...+02:00` (the exact end).

    A time without a zone would end at a different moment on each runner, so it is refused.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            if _DATE.fullmatch(text):
                return dt.date.fromisoformat(text)
            moment = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a real date or time ({exc})") from None
        value = moment
    elif value is not None and not isinstance(value, dt.date):
        raise ValueError(f"expected a date like 2027-03-31, not {value!r}")
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise ValueError(
            f"{value.isoformat()} has no time zone, so it would end at a different moment on each runner:"
            f" write {value.isoformat()}Z (UTC) or an offset such as +02:00, or just the date"
        )
    return value


Expiry = Annotated[dt.date | dt.datetime | None, BeforeValidator(parse_expiry)]


def parse_day(value: Any) -> Any:
    """`2026-11-29`: a calendar day (`certified`), never a time."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"expected a date like 2026-11-29, not a time ({value.isoformat()})")
    if isinstance(value, str):
        text = value.strip()
        if not _DATE.fullmatch(text):
            raise ValueError(f"expected a date like 2026-11-29, not {text!r}")
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a real date ({exc})") from None
    if value is not None and not isinstance(value, dt.date):
        raise ValueError(f"expected a date like 2026-11-29, not {value!r}")
    return value


Day = Annotated[dt.date | None, BeforeValidator(parse_day)]


class Expiring(Strict):
    """What any assignment may carry."""

    expires: Expiry = Field(
        default=None,
        description="Last day the assignment is valid (2027-03-31), or the exact end with a time zone"
        " (2027-03-31T17:00:00Z); dropped after it.",
    )
    reason: str = Field(default="", description="Why: free text, e.g. a ticket id.")
    certified: Day = Field(
        default=None,
        description="The day the owner last re-approved this assignment (`access recertify` sets it).",
    )


class Membership(Expiring):
    """A member of a group, role or account list."""


class ProjectMember(Expiring):
    template: str = Field(description="The Procore permission template, by name.")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"template": value} if isinstance(value, str) else value


class RoleMember(Expiring):
    scope: str = Field(
        default="environment",
        description="`environment` (default), `organization`, `population/<name>` or `application/<name>`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {"scope": value} if isinstance(value, str) else value


def fold_members(value: Any) -> Any:
    """`[a, {b: {...}}]` or `{a: ..., b: ...}` -> `{a: ..., b: ...}`; a name listed twice is an error."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if not isinstance(value, list):
        return value
    folded: dict[str, Any] = {}
    for item in value:
        if isinstance(item, dict) and len(item) == 1:
            name, options = next(iter(item.items()))
        elif isinstance(item, str | int) and not isinstance(item, bool):
            name, options = item, None
        else:
            raise ValueError(f"a member is a name or `name: options`, not {item!r}")
        if str(name) in folded:
            raise ValueError(f"member {name!r} is listed twice")
        folded[str(name)] = options
    return folded


def _membership(value: Any) -> Any:
    return {} if value is None else value


MembershipValue = Annotated[Membership, BeforeValidator(_membership)]
Members = Annotated[dict[str, MembershipValue], BeforeValidator(fold_members)]
ProjectMembers = Annotated[dict[str, ProjectMember], BeforeValidator(fold_members)]


def one_or_many(value: Any) -> Any:
    """`alice: environment` or `alice: [environment, population/Contractors]`: one role, many scopes."""
    return value if isinstance(value, list) else [value]


RoleScopes = Annotated[list[RoleMember], BeforeValidator(one_or_many)]
RoleMembers = Annotated[dict[str, RoleScopes], BeforeValidator(fold_members)]


class LoginOverride(Strict):
    login: str = Field(description="The vendor login when it differs from the email.")


def _login(value: Any) -> Any:
    return {"login": value} if isinstance(value, str) else value


Login = Annotated[LoginOverride | None, BeforeValidator(_login)]


class PersonModel(Strict):
    email: str = Field(pattern=EMAIL_PATTERN, description="The join key across vendors.")
    name: str
    teams: list[str] = Field(default_factory=list, description="Teams this person belongs to.")
    github: str | None = Field(
        default=None, description="GitHub login: who this person is when they open or approve a pull request."
    )
    procore: Login = None
    concur: Login = Field(default=None, description="Concur login (userName) when not the email.")
    pingone: Login = Field(default=None, description="PingOne username when not the email.")


class TeamModel(Strict):
    description: str = ""
    members: list[str] = Field(default_factory=list, description="People or teams.")


class Resource(Strict, Generic[M]):
    """The long form of a resource: members plus its own `authoritative` switch."""

    authoritative: StrictBool | None = None
    members: M


def _long_or_short(value: Any) -> Any:
    if isinstance(value, dict) and "members" in value and set(value) <= {"members", "authoritative"}:
        return value
    return {"members": value}


GroupResource = Annotated[Resource[Members], BeforeValidator(_long_or_short)]
ProjectResource = Annotated[Resource[ProjectMembers], BeforeValidator(_long_or_short)]
RoleResource = Annotated[Resource[RoleMembers], BeforeValidator(_long_or_short)]


class VendorSection(Strict):
    authoritative: StrictBool = Field(
        default=False,
        description="On every resource listed here, members not listed are revoked (a resource may override).",
    )


class ProcoreCompany(Strict):
    name: str = ""
    accounts: Members = Field(default_factory=dict, description="Directory accounts: people or teams.")
    projects: Annotated[dict[str, ProjectResource], BeforeValidator(_to_str_keys)] = Field(
        default_factory=dict
    )


class ProcoreSection(VendorSection):
    exhaustive: list[Literal["projects"]] = Field(
        default_factory=list, description="Resource kinds managed in full: unlisted ones are revoked too."
    )
    companies: Annotated[dict[str, ProcoreCompany], BeforeValidator(_to_str_keys)] = Field(
        default_factory=dict
    )


class ConcurSection(VendorSection):
    exhaustive: list[Literal["roles"]] = Field(default_factory=list)
    accounts: Members = Field(default_factory=dict)
    roles: dict[str, GroupResource] = Field(default_factory=dict)


class PingOneSection(VendorSection):
    exhaustive: list[Literal["groups", "roles"]] = Field(default_factory=list)
    populations: dict[str, Members] = Field(
        default_factory=dict, description="Each account is in exactly one."
    )
    groups: dict[str, GroupResource] = Field(default_factory=dict)
    roles: dict[str, RoleResource] = Field(default_factory=dict)


class AccessFile(Strict):
    """One YAML file under access/. Any file may hold any section; sections merge across files."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: str | None = Field(default=None, alias="$schema")
    people: dict[str, PersonModel] = Field(default_factory=dict)
    teams: dict[str, TeamModel] = Field(default_factory=dict)
    procore: ProcoreSection | None = None
    concur: ConcurSection | None = None
    pingone: PingOneSection | None = None

    @field_validator("people", "teams", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return _to_str_keys(value)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    AccessFile, PersonModel, TeamModel, LoginOverride, Membership, ProjectMember, RoleMember,
    ProcoreSection, ProcoreCompany, ConcurSection, PingOneSection,
)  # fmt: skip


def field_names() -> set[str]:
    names: set[str] = {"members", "authoritative", "$schema"}
    for model in ALL_MODELS:
        names.update(model.model_fields)
    names.discard("schema_")
    return names
