"""Pydantic models of the files in `policies/`: the rules every plan is checked against.

Any file under `policies/` may hold any section. Sections that are named rules (`approvers`,
`separation_of_duties`, `privileged`, `recertification`) merge across files, a rule name being
unique; the other sections (`protected`, `unmanaged_accounts`, `limits`, `expiry_warnings`, `default_approval`,
`notifications`, `seats`, `leavers`) may be set in one file only. `Policies()` (no `policies/` directory) is the default: one approval by anyone
but the author, unmanaged accounts reported, the default safety limits, expiry warnings at 14 days.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from reconciler.catalogs import static_catalog
from reconciler.location import Location
from reconciler.notification_policy import NOTIFICATION_MODELS, Notifications
from reconciler.vendors import RESOURCE_TYPES, VENDORS
from reconciler.yaml_source import Path

Vendor = Literal["procore", "concur", "pingone"]
Severity = Literal["error", "warning"]
ApprovalAction = Literal["create_account", "update", "grant", "revoke", "deactivate_account"]
UnmanagedMode = Literal["ignore", "report", "deactivate"]
GLOB_CHARS = frozenset("*?[")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Match(Strict):
    """Which grants (or changes) a rule is about. Names may be globs (`*Admin*`), compared ignoring case."""

    vendor: Vendor
    resource_type: str | None = Field(
        default=None,
        description="`project` (Procore), `role` (Concur, PingOne), `group` (PingOne); any if unset.",
    )
    resource: str = Field(
        default="*", description="Resource name or glob; a Concur role by code (EXP_APPROVER) or by name."
    )
    entitlement: str = Field(
        default="*", description="Entitlement or glob: a Procore permission template, a PingOne role scope."
    )
    tenant: str = Field(default="*", description="Procore company id, or glob.")

    @field_validator("tenant", mode="before")
    @classmethod
    def _tenant_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("resource", "entitlement", "tenant")
    @classmethod
    def _globs_can_match(cls, value: str) -> str:
        check_glob(value)
        check_glob(value.casefold())  # names are compared ignoring case
        return value

    @model_validator(mode="after")
    def _known_names(self) -> Match:
        known = sorted(name for vendor, name in RESOURCE_TYPES if vendor == self.vendor)
        if self.resource_type is not None and self.resource_type not in (*known, "account"):
            raise ValueError(
                f"unknown resource_type {self.resource_type!r} for {self.vendor} (known: {', '.join(known)})"
            )
        catalog = static_catalog(self.vendor, self.resource_type or "role")
        if (
            catalog is not None
            and self.resource_type in (None, "role")
            and not is_glob(self.resource)
            and catalog.resolve(self.resource) is None
        ):
            found = catalog.suggestions(self.resource)
            hint = f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""
            raise ValueError(f"unknown Concur role {self.resource!r}{hint}")
        return self


def is_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def check_glob(pattern: str) -> None:
    """Refuse a bracket range written backwards (`[z-a]`): fnmatch accepts it and it never matches."""
    index = 0
    while (start := pattern.find("[", index)) != -1:
        body = start + 1
        if pattern[body : body + 1] == "!":
            body += 1
        end = pattern.find("]", body + 1)  # a `]` right after `[` or `[!` is a literal
        if end == -1:
            return
        inside = pattern[body:end]
        for i in range(len(inside) - 2):
            low, dash, high = inside[i], inside[i + 1], inside[i + 2]
            if dash == "-" and low > high:
                raise ValueError(
                    f"glob {pattern!r}: the range [{low}-{high}] is backwards and can never match;"
                    f" write [{high}-{low}]"
                )
        index = end + 1


def _approval_actions() -> list[ApprovalAction]:
    return ["create_account", "update", "grant"]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


Matches = Annotated[
    list[Match],
    BeforeValidator(_one_or_many, json_schema_input_type=Match | list[Match]),
    Field(min_length=1),
]
Names = list[Annotated[str, Field(min_length=1)]]


class ApproverRule(Strict):
    """Who may approve changes that match, and how many of them must."""

    description: str = ""
    match: Matches = Field(description="The changes this rule covers (one match or a list).")
    actions: list[ApprovalAction] = Field(
        default_factory=_approval_actions,
        description="Which actions need this approval. Revocations restore approved state: none by default.",
    )
    approvers: Names = Field(
        default_factory=list, description="People or teams (by their key in access/), or `@github-login`."
    )
    owners: dict[str, Names] = Field(
        default_factory=dict,
        description="Per resource name: who approves changes to it (instead of `approvers`).",
    )
    minimum: int = Field(default=1, ge=1, description="How many of them must approve.")

    @model_validator(mode="after")
    def _someone(self) -> ApproverRule:
        if not self.approvers and not self.owners:
            raise ValueError("a rule needs `approvers`, `owners`, or both")
        return self

    def approvers_for(self, resource: str) -> list[str] | None:
        """The names that approve `resource`; None if this rule names nobody for it."""
        folded = resource.casefold()
        for name, people in self.owners.items():
            if name.casefold() == folded:
                return people
        return self.approvers or None


class PolicyOwners(Strict):
    """Who approves changes to policies/ and to the teams approver rules name."""

    description: str = ""
    approvers: Names = Field(description="People or teams (by their key in access/), or `@github-login`.")
    minimum: int = Field(default=1, ge=1, description="How many of them must approve.")

    @model_validator(mode="after")
    def _someone(self) -> PolicyOwners:
        if not self.approvers:
            raise ValueError("policy_owners needs `approvers`")
        return self


class DefaultApproval(Strict):
    """Changes no approver rule covers."""

    minimum: int = Field(
        default=1, ge=0, description="Approvals by anyone other than the author (0: none needed)."
    )
    actions: list[ApprovalAction] = Field(default_factory=_approval_actions)


class SeparationRule(Strict):
    """Entitlements one person must not hold together, across vendors too."""

    description: str = ""
    conflicting: Annotated[list[Match], Field(min_length=2)] = Field(
        description="No person may hold grants matching two or more of these."
    )
    severity: Severity = "error"


class PrivilegedRule(Strict):
    """Entitlements that must be time-bound and justified."""

    description: str = ""
    entitlements: Matches
    max_days: int = Field(ge=1, description="`expires` must be set and at most this many days from today.")
    reason_pattern: str = Field(
        default=r"[A-Z][A-Z0-9]+-\d+",
        description="A regular expression the `reason` must contain (a ticket id).",
    )
    severity: Severity = "error"

    @field_validator("reason_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class RecertificationRule(Strict):
    """How often assignments that match must be re-approved by their owners (`access recertify`)."""

    description: str = ""
    match: Matches = Field(description="The grants this rule covers (one match or a list).")
    every_days: int = Field(
        ge=1, description="Re-approve at least this often: days since `certified` (or the line was written)."
    )
    grace_days: int = Field(
        default=14,
        ge=0,
        description="Days after falling due before the line gets an `expires` (through the same pull request).",
    )
    on_no_response: Literal["revoke", "keep"] = Field(
        default="keep",
        description="What happens to a line nobody re-approved by its deadline (due + grace_days): `revoke` "
        "takes its access back at the next apply, by policy, with no merge needed; `keep` (the default) "
        "leaves it until someone merges the recertification pull request.",
    )
    notice_days: int = Field(
        default=14, ge=0, description="With `revoke`: plans list the lines that lapse within this many days."
    )
    unused_days: int | None = Field(
        default=None,
        ge=1,
        description="Lines whose people have not signed in to the vendor for this many days (or never) are "
        "removed in the recertification pull request, listed as unused with their last sign-in: the owner "
        "keeps one by putting it back before merging. Only where the vendor says when (PingOne, Procore).",
    )


class Leavers(Strict):
    """Who has left, as the IdP (PingOne) and HR say (`access leavers`), and what apply does about it."""

    population: str | None = Field(
        default=None,
        description="A PingOne population people are moved to when they leave: its members have left.",
    )
    hr_export: str | None = Field(
        default=None,
        description="A CSV from HR (columns `person` or `email`, and `end_date`), relative to the repository "
        "(`access leavers --hr-export` overrides it). It feeds the leavers pull request and the SLA view; "
        "it never takes access back without review.",
    )
    revoke: bool = Field(
        default=False,
        description="true: apply takes a leaver's access back at every vendor at once, before the leavers "
        "pull request merges, as this policy's decision (revocations only, audited). false (the default): "
        "apply only stops giving them anything until the pull request is merged.",
    )
    sla_hours: int = Field(
        default=24,
        ge=1,
        description="Deprovisioning SLA: every vendor's access revoked within this many hours of leaving "
        "(the report's SLA view).",
    )
    deleted_after_days: int = Field(
        default=7,
        ge=0,
        description="A person the YAML gives a PingOne account but who has no PingOne user counts as deleted "
        "at the IdP once their line in people.yaml has been on main this many days (a newcomer's account "
        "is created by apply meanwhile).",
    )


class Protected(Strict):
    principals: Names = Field(
        default_factory=list,
        description="Emails of accounts never revoked or deactivated (break-glass admins, service accounts).",
    )
    resources: list[Match] = Field(default_factory=list, description="Resources the tool never changes.")

    @field_validator("principals")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for item in value:
            if "@" not in item and not item.startswith("login:"):
                raise ValueError(
                    f"{item!r} is not an email (protected principals are emails, or login:<name>)"
                )
        return value


class UnmanagedRule(Strict):
    mode: UnmanagedMode = Field(
        default="report", description="`ignore`, `report` (a finding) or `deactivate` (a planned change)."
    )
    deprovision: Literal["disable", "delete"] = Field(
        default="disable", description="How `deactivate` removes the account."
    )


def _mode_short_form(value: Any) -> Any:
    return {"mode": value} if isinstance(value, str) else value


Unmanaged = Annotated[
    UnmanagedRule | None,
    BeforeValidator(_mode_short_form, json_schema_input_type=UnmanagedMode | UnmanagedRule | None),
]


class UnmanagedAccounts(Strict):
    """Per vendor: what to do with accounts at the vendor that are not in the YAML."""

    procore: Unmanaged = None
    concur: Unmanaged = None
    pingone: Unmanaged = None

    def rule(self, vendor: str) -> UnmanagedRule:
        found = getattr(self, vendor, None) if vendor in VENDORS else None
        return found if isinstance(found, UnmanagedRule) else UnmanagedRule()


class Limits(Strict):
    """The safety limits of apply. Each refusal names its override flag."""

    max_revocations: int | None = Field(
        default=None,
        ge=0,
        description="Most revocations plus deactivations one apply may make (unset: no limit).",
    )
    max_revocation_share: float | None = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Most revocations one apply may make, as a share of a vendor's grants.",
    )
    min_revocations_for_share: int = Field(
        default=5, ge=0, description="The share limit applies only from this many revocations at a vendor."
    )
    empty_vendor_min_accounts: int = Field(
        default=10,
        ge=1,
        description="A sync with zero accounts where there were at least this many is refused.",
    )


class SeatBudget(Strict):
    """The most active accounts a vendor may have once a plan is applied."""

    max: int = Field(ge=0, description="Active accounts allowed (seats paid for).")
    severity: Severity = Field(
        default="warning", description="`warning`, or `error` (the plan fails: nothing is applied over it)."
    )


def _max_short_form(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"max": value}
    if value is not None and not isinstance(value, dict):
        raise ValueError("a number of seats (`pingone: 250`), or `{max: 250, severity: error}`")
    return value


Budget = Annotated[
    SeatBudget | None,
    BeforeValidator(_max_short_form, json_schema_input_type=int | SeatBudget | None),
]


class SeatBudgets(Strict):
    """Per vendor: a budget of seats (active accounts); a plan that would exceed it is a finding."""

    procore: Budget = None
    concur: Budget = None
    pingone: Budget = None

    def of(self, vendor: str) -> SeatBudget | None:
        found = getattr(self, vendor, None) if vendor in VENDORS else None
        return found if isinstance(found, SeatBudget) else None


class ExpiryWarnings(Strict):
    within_days: int = Field(
        default=14, ge=0, description="Warn about assignments expiring within this many days."
    )


class Policies(Strict):
    """Every policy in force. The empty default means: the default rules only."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, str_strip_whitespace=True)

    schema_: str | None = Field(default=None, alias="$schema")
    approvers: dict[str, ApproverRule] = Field(default_factory=dict, description="Approver rules by name.")
    default_approval: DefaultApproval = Field(default_factory=DefaultApproval)
    policy_owners: PolicyOwners | None = Field(
        default=None,
        description="Who approves changes to policies/ and to approver teams. Default: the approvers of "
        "every approver rule (each rule's minimum), or the default approval when there are no rules.",
    )
    separation_of_duties: dict[str, SeparationRule] = Field(default_factory=dict)
    privileged: dict[str, PrivilegedRule] = Field(default_factory=dict)
    recertification: dict[str, RecertificationRule] = Field(
        default_factory=dict,
        description="How often access must be re-approved; the shortest `every_days` that matches applies.",
    )
    protected: Protected = Field(default_factory=Protected)
    unmanaged_accounts: UnmanagedAccounts = Field(default_factory=UnmanagedAccounts)
    limits: Limits = Field(default_factory=Limits)
    expiry_warnings: ExpiryWarnings = Field(default_factory=ExpiryWarnings)
    notifications: Notifications | None = Field(
        default=None, description="Reminders `access notify` sends: channels, schedules and routes."
    )
    seats: SeatBudgets = Field(
        default_factory=SeatBudgets,
        description="Per vendor, the most active accounts after a plan (`pingone: 250`, or `{max: 250, "
        "severity: error}`).",
    )
    leavers: Leavers | None = Field(
        default=None,
        description="People who have left (`access leavers`): the leavers pull request, and whether apply "
        "revokes their access before it merges. Unset: apply does nothing about leavers.",
    )

    _lines: dict[Path, Location] = PrivateAttr(default_factory=dict)

    def where(self, *path: str | int) -> str:
        """`file:line` of a path in the policy files (the longest prefix known), or ""."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(tuple(path[:end]))
            if found is not None:
                return str(found)
        return ""

    def with_lines(self, lines: dict[Path, Location]) -> Policies:
        self._lines = dict(lines)
        return self


RULE_SECTIONS = ("approvers", "separation_of_duties", "privileged", "recertification")
SINGLE_SECTIONS = (
    "default_approval",
    "policy_owners",
    "protected",
    "unmanaged_accounts",
    "limits",
    "expiry_warnings",
    "notifications",
    "seats",
    "leavers",
)

POLICY_MODELS: tuple[type[BaseModel], ...] = (
    Policies, Match, ApproverRule, PolicyOwners, DefaultApproval, SeparationRule, PrivilegedRule, RecertificationRule, Protected, UnmanagedRule,
    UnmanagedAccounts, Limits, ExpiryWarnings, SeatBudget, SeatBudgets, Leavers, *NOTIFICATION_MODELS,
)  # fmt: skip


def field_names() -> set[str]:
    names: set[str] = {"$schema"}
    for model in POLICY_MODELS:
        names.update(model.model_fields)
    names.discard("schema_")
    return names
