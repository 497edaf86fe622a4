"""Concur request bodies and response readers: pure functions, no I/O.

Role grants and revocations are PATCH operations that name one role, never the whole list: an
unfiltered `replace` of `roles` replaces every role the user holds. The three roles Concur ties to
entitlements (Expense User, Request User, Invoice User) change through `entitlements` instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import httpx

from reconciler.catalogs.concur import ENTITLEMENT_ROLES
from reconciler.connectors import concur_shapes as shapes
from reconciler.scrub import quote_body

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SPEND_USER = "urn:ietf:params:scim:schemas:extension:spend:2.0:User"
SPEND_ROLE: Final = "urn:ietf:params:scim:schemas:extension:spend:2.0:Role"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:concur:2.0:SearchRequest"
CONCUR_ERROR = "urn:ietf:params:scim:api:messages:concur:2.0:Error"
ROLES_PATH = f"{SPEND_ROLE}:roles"

IDENTITY_USERS = "/profile/identity/v4.1/Users"
SPEND_USERS = "/profile/spend/v4.1/Users"
UPS_USERS = "/profile/v4/Users"
IDENTITY_ATTRIBUTES = f"id,userName,displayName,name,emails,active,{ENTERPRISE}:companyId"


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def grant_role(code: str) -> dict[str, Any]:
    if code in ENTITLEMENT_ROLES:
        return patch({"op": "add", "path": "entitlements", "value": [ENTITLEMENT_ROLES[code]]})
    return patch({"op": "add", "path": ROLES_PATH, "value": [{"roleName": code, "roleGroups": []}]})


def revoke_role(code: str) -> dict[str, Any]:
    if code in ENTITLEMENT_ROLES:
        return patch({"op": "remove", "path": f'entitlements[value eq "{ENTITLEMENT_ROLES[code]}"]'})
    return patch({"op": "remove", "path": f'{ROLES_PATH}[roleName eq "{code}"]'})


def set_active(active: bool) -> dict[str, Any]:
    return patch({"op": "replace", "path": "active", "value": active})


def set_login(login: str) -> dict[str, Any]:
    return patch({"op": "replace", "path": "userName", "value": login})


def spend_profile(*, country: str, locale: str, currency: str) -> dict[str, Any]:
    """The Spend User extension alone: what to PATCH when a create's Spend part failed (UPS: "if only
    spend or travel fails, retry just those parts with PATCH"; spend user provisioning PATCH, an
    `add` whose value is keyed by the extension)."""
    return patch(
        {
            "op": "add",
            "value": {SPEND_USER: {"country": country, "locale": locale, "reimbursementCurrency": currency}},
        }
    )


def new_user(
    *, email: str, name: str, login: str, company_id: str, country: str, locale: str, currency: str
) -> dict[str, Any]:
    given, _, family = name.strip().partition(" ")
    return {
        "schemas": [CORE, ENTERPRISE, SPEND_USER],
        "userName": login or email,
        "active": True,
        "displayName": name or email,
        "name": {
            "givenName": given or email,
            "familyName": family or given or email,
            "formatted": name or email,
        },
        "emails": [{"value": email, "type": "work", "notifications": True}],
        ENTERPRISE: {"companyId": company_id},
        SPEND_USER: {"country": country, "locale": locale, "reimbursementCurrency": currency},
    }


def search(filter_text: str) -> dict[str, Any]:
    return {
        "schemas": [SEARCH_REQUEST],
        "filter": filter_text,
        "count": 10,
        "attributes": ["id", "userName", "emails", "active", "displayName", "name"],
    }


def quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class IdentityUser(NamedTuple):
    """(A NamedTuple: made 20,000 times a sync, where a frozen dataclass's __init__ runs in Python.)"""

    id: str
    user_name: str
    email: str  # the work email, else the first one
    display_name: str
    active: bool
    company_id: str = ""  # the enterprise extension's companyId

    @property
    def principal(self) -> str:
        return self.email.casefold() if self.email else f"login:{self.user_name}"


_NEXT_CURSOR = re.compile(rb'"nextCursor"[ \t\r\n]*:[ \t\r\n]*"([^"\\]*)"')


def cursor_in(body: bytes) -> str | None:
    """The `nextCursor` a page's bytes seem to carry, found without parsing them, so the next page
    can be asked for while this one is checked; None when unsure (the key appears more than once, or
    the cursor holds escapes). Only a guess: the checked page says what the cursor is."""
    at = body.rfind(b'"nextCursor"')  # (Concur writes it last; the regex runs only from there)
    if at < 0 or body.find(b'"nextCursor"', 0, at) >= 0:
        return None
    match = _NEXT_CURSOR.match(body, at)
    if match is None:
        return None
    try:
        return match.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_identity(data: shapes.Identity) -> IdentityUser:
    primary = typed = first = None  # the email marked primary, else the first of type work, else the first
    for each in data.get("emails") or ():
        if not each.get("value"):
            continue
        if each.get("primary") is True:
            primary = each
            break
        if first is None:
            first = each
        if typed is None and each.get("type") == "work":
            typed = each
    work = primary or typed or first
    name = data.get("name") or {}
    display = (data.get("displayName") or name.get("formatted") or "").strip()
    if not display:
        display = f"{name.get('givenName') or ''} {name.get('familyName') or ''}".strip()
    enterprise = data.get(ENTERPRISE)
    return IdentityUser(
        data["id"],
        data.get("userName") or "",
        (work.get("value") if work else None) or "",
        display,
        data.get("active") is not False,
        (enterprise.get("companyId") if enterprise else None) or "",
    )


def read_roles(data: shapes.SpendUser) -> tuple[str, ...]:
    extension = data.get(SPEND_ROLE) or {}
    return tuple(name for r in extension.get("roles") or [] if (name := r.get("roleName")))


def scim_message(response: httpx.Response) -> str:
    """A readable, secret-free description of a SCIM (or Concur) error response."""
    try:
        body = response.json()
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        if body.get("scimType"):
            parts.append(str(body["scimType"]))
        if body.get("detail"):
            parts.append(str(body["detail"]))
        parts += messages_of(body.get(CONCUR_ERROR) or {})
        if not parts and body.get("message"):
            parts.append(str(body["message"]))
    text = ": ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if parts[2:] else "") if parts else ""
    text = quote_body(text or response.text, 200)
    return (
        f"HTTP {response.status_code} {response.request.method} {response.request.url.path}: {text}".rstrip(
            ": "
        )
    )


def about_company(value: object) -> bool:
    """Whether Concur's error (an error body, a failed extension's messages) is about the companyId."""
    return "companyid" in json.dumps(value, default=str).casefold()


def refuses_company(response: httpx.Response) -> bool:
    """A 400 to a create that is about the companyId it carried."""
    try:
        body = response.json()
    except ValueError:
        return False
    return response.status_code == 400 and about_company(body)


def messages_of(holder: Mapping[str, Any]) -> list[str]:
    """Concur `messages`: documented as an array of {code, message, ...}; the UPS spec says an object."""
    raw = holder.get("messages")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    found: list[str] = []
    for item in items:
        if isinstance(item, dict) and (item.get("message") or item.get("code")):
            code = f" (code {item['code']})" if item.get("code") else ""
            found.append(f"{item.get('message') or 'error'}{code}")
    return found


@dataclass(frozen=True, slots=True)
class ProvisionStatus:
    completed: bool
    success: bool
    results: tuple[str, ...]  # the extensions' results: success, no-op, error, not-processed
    messages: tuple[str, ...]
    failed: tuple[str, ...] = ()  # the names (URNs) of the extensions that failed
    company: bool = False  # a failure is about the companyId (the identity failed: nothing else ran)

    @property
    def changed_nothing(self) -> bool:
        return bool(self.results) and all(r == "no-op" for r in self.results)


def read_status(data: shapes.Status) -> ProvisionStatus:
    status = data["status"]
    results: list[str] = []
    messages: list[str] = []
    failed: list[str] = []
    company = False
    for operation in data.get("operations") or []:
        for extension in operation.get("extensions") or []:
            state: Mapping[str, Any] = extension.get("status") or {}
            results.append(str(state.get("result") or ("success" if state.get("success") else "error")))
            if state.get("success") is False or state.get("result") == "error":
                failed.append(extension.get("name") or "")
                name = (extension.get("name") or "").rsplit(":", 1)[-1] or "extension"
                found = messages_of(extension) or [f"HTTP {state.get('code', '?')}"]
                messages += [f"{name}: {m}" for m in found]
                company = company or about_company(extension.get("messages"))
    return ProvisionStatus(
        bool(status.get("completed")),
        bool(status.get("success")),
        tuple(results),
        tuple(messages),
        tuple(failed),
        company,
    )
