"""The sandbox's demo state: what the vendors "have" before the first apply.

It differs from the example in `access/` in instructive ways:
- Procore: Bob is on Harbor Tower as Superintendent (the YAML says Project Engineer: an update);
  Mike is missing from Pier 7 Retrofit (a grant); Ivan's expired Eastside Depot assignment is still
  there (a revocation); Pat Sullivan was added to Harbor Tower by hand (a revocation) and has a
  directory account nobody manages (unmanaged); Heidi has no directory account yet (a creation).
- SAP Concur: Carol holds Expense Processor granted by hand (a revocation); Nina lacks Expense
  Approver (a grant); Judy has no account (a creation, then Expense User and Request User, which
  Concur grants through the user's entitlements rather than the Spend role extension); Frank's
  login differs from his email; Temp Auditor has an account nobody manages (unmanaged). Grants name
  roles by their Concur code (EXP_APPROVER), as the catalogue in `reconciler.catalogs.concur` does.
- PingOne: Oscar sits in the Employees population (the YAML says Contractors: an update); Bob holds
  Environment Admin granted by hand (a revocation); Mike is missing from VPN (a grant). Oscar is in
  VPN only through the nested group Contractor Leads, and everyone in Employees is in the dynamic
  group All Staff: both are indirect memberships, shown and never revoked. svc-backup is an account
  nobody manages; Bob's username (bruiz) differs from his email.

Sign-ins (`SIGN_INS`): PingOne says when each user last signed on and Procore when each user last
logged in; Ivan has not opened Procore since May, Oscar has never signed on to PingOne, and Concur
does not say.

Each vendor's simulator seeds itself from these records plus its own extras (ids, templates,
indirect memberships); `reconciler.sandbox.<vendor>` does that in its `reset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.records import Account, Grant

DOMAIN = "harborbuild.example"
PROCORE_COMPANY = "562949953421312"

PEOPLE: dict[str, str] = {
    "alice": "Alice Ng",
    "bob": "Bob Ruiz",
    "ivan": "Ivan Petrov",
    "mike": "Mike Chen",
    "carol": "Carol Okafor",
    "dan": "Dan Whitfield",
    "judy": "Judy Alvarez",
    "erin": "Erin Walsh",
    "frank": "Frank Osei",
    "nina": "Nina Kowalski",
    "grace": "Grace Lin",
    "heidi": "Heidi Brandt",
}
_SURNAMES = {
    "alice": "ng", "bob": "ruiz", "ivan": "petrov", "mike": "chen", "carol": "okafor",
    "dan": "whitfield", "judy": "alvarez", "erin": "walsh", "frank": "osei", "nina": "kowalski",
    "grace": "lin", "heidi": "brandt",
}  # fmt: skip


def email(key: str) -> str:
    if key == "oscar":
        return "oscar.reyes@steelframe.example"
    if key == "pat":
        return f"pat.sullivan@{DOMAIN}"
    return f"{key}.{_SURNAMES[key]}@{DOMAIN}"


SITE = ("alice", "bob", "ivan", "mike")
PM = ("carol", "dan", "judy")
FINANCE = ("erin", "frank", "nina")
OFFICE = (*PM, *FINANCE, "grace", "heidi")
STAFF = (*OFFICE, *SITE)


@dataclass(frozen=True, slots=True)
class VendorSeed:
    accounts: tuple[Account, ...]
    grants: tuple[Grant, ...]
    resources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # resource type -> names
    catalog: dict[str, tuple[str, ...]] = field(default_factory=dict)  # resource type -> entitlements


# When each person last signed in, per vendor that says (PingOne `lastSignOn.at`, Procore
# `last_login_at`); missing: never.
SIGN_INS: dict[str, dict[str, str]] = {
    "pingone": {
        **{key: f"2026-11-{10 + n:02d}T08:{n:02d}:00.000Z" for n, key in enumerate(STAFF)},
        "ivan": "2026-11-30T07:45:00.000Z",
    },
    "procore": {
        **{key: f"2026-11-{12 + n:02d}T14:{n:02d}:11Z" for n, key in enumerate((*PM, *SITE, "grace"))},
        "ivan": "2026-05-14T16:20:05Z",
        "oscar": "2026-10-02T11:00:00Z",
        "pat": "2025-12-01T09:30:00Z",
    },
}


def _account(vendor: str, key: str, tenant: str = "", *, active: bool = True, **attrs: str) -> Account:
    name = {"oscar": "Oscar Reyes", "pat": "Pat Sullivan"}.get(key) or PEOPLE[key]
    return Account(
        vendor, tenant, email(key).casefold(), active=active, email=email(key), display_name=name,
        attributes=tuple(sorted(attrs.items())), last_sign_in=SIGN_INS.get(vendor, {}).get(key, ""),
    )  # fmt: skip


def procore() -> VendorSeed:
    c = PROCORE_COMPANY
    accounts = [_account("procore", k, c) for k in STAFF if k != "heidi"]
    accounts += [_account("procore", "oscar", c), _account("procore", "pat", c)]
    accounts.append(
        Account("procore", c, f"former.foreman@{DOMAIN}", active=False, email=f"former.foreman@{DOMAIN}",
                display_name="Former Foreman")
    )  # fmt: skip

    def g(project: str, key: str, template: str) -> Grant:
        return Grant("procore", c, "project", project, template, email(key).casefold())

    grants = [g("Harbor Tower", k, "Project Manager") for k in PM]
    grants += [g("Harbor Tower", k, "Project Engineer") for k in ("alice", "ivan", "mike")]
    grants += [
        g("Harbor Tower", "bob", "Superintendent"),
        g("Harbor Tower", "oscar", "Subcontractor"),
        g("Harbor Tower", "pat", "Project Engineer"),
        g("Pier 7 Retrofit", "dan", "Project Manager"),
        g("Pier 7 Retrofit", "alice", "Superintendent"),
        g("Eastside Depot", "judy", "Project Manager"),
        g("Eastside Depot", "ivan", "Project Engineer"),
        g("Warehouse 12", "pat", "Superintendent"),  # a project the YAML does not manage
    ]
    return VendorSeed(
        tuple(accounts),
        tuple(grants),
        resources={"project": ("Harbor Tower", "Pier 7 Retrofit", "Eastside Depot", "Warehouse 12")},
        catalog={
            "project": ("Architect", "Project Engineer", "Project Manager", "Read Only", "Subcontractor",
                        "Superintendent"),
        },
    )  # fmt: skip


def concur() -> VendorSeed:
    keys = [k for k in STAFF if k != "judy"]
    accounts = [_account("concur", k, login=f"fosei@{DOMAIN}" if k == "frank" else email(k)) for k in keys]
    accounts.append(
        Account("concur", "", f"temp.auditor@{DOMAIN}", email=f"temp.auditor@{DOMAIN}",
                display_name="Temp Auditor", attributes=(("login", f"temp.auditor@{DOMAIN}"),))
    )  # fmt: skip

    def g(role: str, key: str) -> Grant:
        return Grant("concur", "", "role", role, "member", email(key).casefold())

    grants = [g("EXP_USER", k) for k in keys] + [g("REQ_USER", k) for k in keys]  # Expense User, Request User
    grants += [g("EXP_APPROVER", k) for k in ("carol", "dan")]  # Expense Approver
    grants += [g("EXP_PROCESSOR", k) for k in ("erin", "carol")]  # Expense Processor
    grants += [g("INV_APPROVER", k) for k in ("frank", "nina")]  # Invoice Approver
    grants += [g("SHD_WEB_SERVICES_ADMIN", "heidi")]  # Web Services Administrator
    return VendorSeed(tuple(accounts), tuple(grants))


def pingone() -> VendorSeed:
    accounts = [
        _account("pingone", k, population="Employees", login="bruiz" if k == "bob" else email(k))
        for k in STAFF
    ]
    accounts.append(_account("pingone", "oscar", population="Employees", login=email("oscar")))
    accounts.append(
        Account("pingone", "", f"svc-backup@{DOMAIN}", email=f"svc-backup@{DOMAIN}",
                display_name="Backup Service",
                attributes=(("login", "svc-backup"), ("population", "Employees")))
    )  # fmt: skip

    def g(rtype: str, name: str, key: str, entitlement: str = "member") -> Grant:
        return Grant("pingone", "", rtype, name, entitlement, email(key).casefold())

    grants = [g("group", "Procore Users", k) for k in (*STAFF, "oscar")]
    grants += [g("group", "Concur Users", k) for k in (*OFFICE, *SITE)]
    grants += [g("group", "VPN", k) for k in ("alice", "bob", "ivan", "heidi")]
    grants += [g("group", "Finance Systems", k) for k in FINANCE]
    grants += [g("group", "Contractor Leads", "oscar")]  # nested in VPN by the simulator
    grants += [
        g("role", "Identity Data Admin", "heidi", "environment"),
        g("role", "Identity Data Read Only", "grace", "environment"),
        g("role", "Environment Admin", "grace", "environment"),
        g("role", "Environment Admin", "bob", "environment"),
    ]
    return VendorSeed(
        tuple(accounts),
        tuple(grants),
        resources={
            "population": ("Employees", "Contractors"),
            "group": ("Procore Users", "Concur Users", "VPN", "Finance Systems", "All Staff",
                      "Contractor Leads"),
            "role": ("Environment Admin", "Identity Data Admin", "Identity Data Read Only",
                     "Client Application Developer", "Organization Admin"),
        },
    )  # fmt: skip


SEEDS = {"procore": procore, "concur": concur, "pingone": pingone}
