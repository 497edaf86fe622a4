"""SAP Concur's Spend role codes: Concur has no API that lists them, so the documented table is shipped.

Source: SAP Concur developer docs, "Spend Role Codes"
(src/api-reference/user-provisioning/spend/v4.spend-role-code-definition.md in
SAP-docs/preview.developer.concur.com). Rows whose code is `N/A`, "not supported" or "retired" are left
out: they cannot be provisioned. The canonical name of a role is its CODE (`EXP_APPROVER`); the label
is the documented "Role Full Name". The YAML may use either, in any letter case.

Pure data: no I/O.
"""

from __future__ import annotations

from itertools import combinations

from reconciler.catalogs import Catalog, closest

# (code, documented full name, group-aware)
ROLES: tuple[tuple[str, str, bool], ...] = (
    # Expense product roles
    ("SHD_APP_CENTER_ADMIN", "App Center Listing Administrator", False),
    ("EXP_ATTENDEE_ADMIN", "Attendee Administrator", True),
    ("EXP_ATTENDEE_ADMIN_RO", "Attendee Administrator (Read only)", True),
    ("SHD_AUTHORIZED_APPROVER", "Authorized Approver", False),
    ("SHD_BILLING_ATTRIBUTES_USER", "Billing Attributes User", False),
    ("SHD_BUDGET_ADMIN", "Budget Administrator", False),
    ("SHD_BUDGET_APPROVER", "Budget Approver/Manager", False),
    ("SHD_BUDGET_OWNER", "Budget Owner", False),
    ("SHD_BUDGET_VIEWER", "Budget Viewer", False),
    ("EXP_PCARD_ADMIN", "Card Program Administrator", True),
    ("EXP_PROCESSOR_CR", "Central Reconciliation Processor", True),
    ("TRAVEL_USER", "Cliqbook User", False),
    ("EXP_CONFIG_ADMIN_CLIENT", "Client Expense Administrator", True),
    ("STATEMENT_APPROVER", "Company Bill Statement Approver", False),
    ("STATEMENT_PROCESSOR", "Company Bill Statement Processor", True),
    ("STATEMENT_PROCESSOR_AUDITOR", "Company Bill Statement Processor (Audit)", False),
    ("STATEMENT_PROCESSOR_ADMIN", "Company Bill Statement Processor Manager", True),
    ("STATEMENT_USER", "Company Bill Statement User", False),
    ("SHD_COMPANY_INFO_ADMIN", "Company Info Administrator", False),
    ("SHD_COST_OBJECT_APPROVER", "Cost Object Approver", False),
    ("SHD_DATA_RETENTION_ADMIN", "Data Retention Administrator", False),
    ("SHD_EMPLOYEE_ADMIN", "Employee Administrator", True),
    ("SHD_EMPLOYEE_ADMIN_RO", "Employee Administrator (Read Only)", True),
    ("EXP_APPROVER", "Expense Approver", False),
    ("EXP_CASHADVANCE_ADMIN", "Expense Cash Advance Administrator", True),
    ("EXP_CARD_ADMIN", "Expense Company Card Administrator", True),
    ("EXP_CONFIG_ADMIN", "Expense Configuration Administrator", True),
    ("EXP_CONFIG_ADMIN_RO", "Expense Configuration Administrator (Restricted)", True),
    ("EXP_PROCESSOR", "Expense Processor", True),
    ("EXP_PROCESSOR_AUDIT", "Expense Processor (Audit)", True),
    ("EXP_PROCESSOR_ADMIN", "Expense Processor Manager", True),
    ("EXP_PROXY_USER", "Expense Proxy Logon", True),
    ("EXP_RECEIPT_PROCESSOR", "Expense Receipt Processor", False),
    ("EXP_USER", "Expense User", False),
    ("EXP_EMPLOYEE_ADMIN", "Employee Admin Permission on Expense Hierarchy", True),
    ("EXP_FIND_ATTENDEES_USER", "Employee (while finding attendees)", False),
    ("EXP_EXTRACT_ADMIN", "Extract Administrator", False),
    ("EXP_FB_TAX_ADMIN", "Fringe Benefits Tax Administrator", False),
    ("SHD_IMPORT_EXTRACT_ADMIN_RO", "Import/Extract Monitor", False),
    ("SHD_PASSWORD_ADMIN", "Password Manager", True),
    ("SHD_PAYROLL_ADMIN", "Payroll Administrator", False),
    ("EXP_REIMBURSEMENT_AUDITOR", "Reimbursement Auditor", False),
    ("EXP_REIMBURSEMENT_APPROVER", "Reimbursement Manager", True),
    ("SHD_ROLE_ADMIN", "Role Administrator", True),
    ("SHD_CONFIG_ADMIN", "Shared Configuration Administrator", True),
    ("SHD_CONFIG_ADMIN_RO", "Shared Configuration Administrator (Restricted)", True),
    ("SHD_TAX_ADMIN", "Tax Administrator", False),
    ("SHD_TAX_ADMIN_RO", "Tax Administrator (Restricted)", False),
    ("SHD_TRAINING_ADMIN", "Training Administrator", False),
    ("SHD_WEB_SERVICES_ADMIN", "Web Services Administrator", False),
    # Request product roles
    ("REQ_PROCESSOR_ADMIN", "Request Administrator", True),
    ("REQ_APPROVER", "Request Approver", False),
    ("REQ_PROCESSOR_AUDIT", "Request Auditor", True),
    ("REQ_CONFIG_ADMIN", "Request Configuration Administrator", True),
    ("REQ_CONFIG_ADMIN_RO", "Request Configuration Administrator (restricted)", True),
    ("REQ_EVENT_ADMIN", "Request Event Manager", False),
    ("REQ_PROXY_USER", "Request Proxy Logon", True),
    ("REQ_USER", "Request User", False),
    ("REQ_RISK_ADMIN", "Risk Manager", True),
    ("REQ_PROCESSOR", "TMC Agent", True),
    # Invoice (Payment) product roles
    ("INV_PURCH_RECEIVER", "Central Receiver", True),
    ("INV_IC_VERIFIER", "Client Managed Capture Verifier", False),
    ("INV_EMPLOYEE_ADMIN", "Employee Admin Permission on Invoice Hierarchy", True),
    ("INV_AP_USER", "Invoice AP User", True),
    ("INV_APPROVER", "Invoice Approver", False),
    ("INV_CONFIG_ADMIN", "Invoice(Payment) Configuration Administrator", True),
    ("INV_CONFIG_ADMIN_RO", "Invoice (Payment) Configuration Administrator (Restricted)", True),
    ("INV_PMT_MANAGER", "Invoice Payment Manager", False),
    ("INV_IMAGE_PROCESSOR", "Invoice Image Processor", False),
    ("INV_PROCESSOR", "Invoice(Payment) Processor", True),
    ("INV_PROCESSOR_AUDIT", "Invoice(Payment) Processor (Audit)", True),
    ("INV_PROCESSOR_MANAGER", "Invoice(Payment) Processor Manager", True),
    ("INV_PROXY_USER", "Invoice(Payment) Proxy Logon", True),
    ("INV_PURCH_USER", "Invoice Purchasing User", False),
    ("INV_RECEIPT_PROCESSOR", "Invoice(Payment) Receipt Processor", True),
    ("INV_TAX_ADMIN", "Invoice Tax Administrator", False),
    ("INV_PMT_USER", "Invoice User", False),
    ("INV_VENDOR_ADMIN", "Invoice Vendor Manager", True),
    ("INV_PURCH_ORDER_PROCESSOR", "Purchase Order Processor", True),
    ("INV_PURCH_ORDER_PROCESSOR_AUDIT", "Purchase Order Processor (Audit)", True),
    ("INV_PURCH_REQ_APPROVER", "Purchase Request Approver", False),
    ("INV_PURCH_REQ_PROCESSOR", "Purchase Request Processor", True),
    ("INV_PURCH_REQ_PROCESSOR_AUDIT", "Purchase Request Processor (Audit)", True),
    ("INV_PURCH_REQ_PROXY_USER", "Purchase Request Proxy Logon", True),
    ("INV_PURCH_REQ_USER", "Purchase Request User", False),
    ("INV_RECEIPT_USER", "Receipt User", False),
    # Reporting product roles
    ("BUDGET_REPORTING_USER", "Budget Role for Cognos", True),
    ("REPORTING_BUSINESS_AUTHOR", "Cognos Business Author", True),
    ("REPORTING_CONSUMER", "Cognos Consumer", True),
    ("REPORTING_PRO_AUTHOR", "Cognos Professional Author", True),
    ("REPORTING_CONFIG_ADMIN", "Consolidation Configuration Administrator", False),
    ("REPORTING_HIST_DATA_USER", "Cognos Hist Data Access", False),
    ("REPORTING_EMPLOYEE_ADMIN", "Employee Admin Permission on Reporting Hierarchy", True),
)

# Roles the docs say "map to entitlements, which cannot be modified through the Spend role extension
# individually, but only entitlement": they are granted and revoked through the user's `entitlements`.
ENTITLEMENT_ROLES: dict[str, str] = {"EXP_USER": "Expense", "REQ_USER": "Request", "INV_PMT_USER": "Invoice"}

# Roles that accept `roleGroups` (a node of a feature hierarchy). Without groups Concur assigns the
# global group, which is what a grant from this tool does.
GROUP_AWARE: frozenset[str] = frozenset(code for code, _, aware in ROLES if aware)


def _all_pairs(*codes: str) -> tuple[tuple[str, str], ...]:
    return tuple(combinations(codes, 2))


# "A user cannot be assigned X and Y", as the role table says it.
EXCLUSIVE_PAIRS: tuple[tuple[str, str], ...] = (
    ("EXP_ATTENDEE_ADMIN", "EXP_ATTENDEE_ADMIN_RO"),
    *_all_pairs("SHD_EMPLOYEE_ADMIN", "SHD_EMPLOYEE_ADMIN_RO", "SHD_PASSWORD_ADMIN"),
    ("EXP_CONFIG_ADMIN", "EXP_CONFIG_ADMIN_RO"),
    ("EXP_PROCESSOR_AUDIT", "EXP_PROCESSOR"),
    ("EXP_PROCESSOR_AUDIT", "EXP_PROCESSOR_ADMIN"),
    ("SHD_CONFIG_ADMIN", "SHD_CONFIG_ADMIN_RO"),
    ("SHD_TAX_ADMIN", "SHD_TAX_ADMIN_RO"),
    *_all_pairs("REQ_PROCESSOR_ADMIN", "REQ_PROCESSOR_AUDIT", "REQ_PROCESSOR", "REQ_RISK_ADMIN"),
    ("REQ_CONFIG_ADMIN", "REQ_CONFIG_ADMIN_RO"),
    ("INV_CONFIG_ADMIN", "INV_CONFIG_ADMIN_RO"),
    *_all_pairs("INV_PROCESSOR", "INV_PROCESSOR_MANAGER", "INV_PROCESSOR_AUDIT"),
    *_all_pairs("REPORTING_BUSINESS_AUTHOR", "REPORTING_CONSUMER", "REPORTING_PRO_AUTHOR"),
)

# "This user must also be assigned the ... role": a role and the one it depends on.
REQUIRES: dict[str, str] = {
    "STATEMENT_APPROVER": "EXP_APPROVER",
    "STATEMENT_PROCESSOR": "EXP_PROCESSOR",
    "STATEMENT_PROCESSOR_AUDITOR": "EXP_PROCESSOR_AUDIT",
    "STATEMENT_PROCESSOR_ADMIN": "EXP_PROCESSOR_ADMIN",
    "STATEMENT_USER": "EXP_USER",
    "REQ_EVENT_ADMIN": "REQ_PROXY_USER",
}


def _fold(name: str) -> str:
    """Casefolded, spaces around brackets and slashes evened out: 'A (B) C' = 'A(B) C'."""
    text = " ".join(name.casefold().split())
    for mark in ("(", ")", "/"):
        text = text.replace(f" {mark}", mark).replace(f"{mark} ", mark)
    return text


def _aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for code, label, _ in ROLES:
        aliases[_fold(code)] = code
        aliases[_fold(label)] = code
        if "(payment)" in _fold(label):  # "Invoice Processor" for "Invoice(Payment) Processor"
            aliases[_fold(label.replace("(Payment)", " "))] = code
    aliases.update(
        {
            "integration administrator - restricted": "SHD_IMPORT_EXTRACT_ADMIN_RO",
            "import/extract monitor(formerly integration administrator - restricted)": (
                "SHD_IMPORT_EXTRACT_ADMIN_RO"
            ),
            "budget approver": "SHD_BUDGET_APPROVER",
            "budget manager": "SHD_BUDGET_APPROVER",
        }
    )
    return aliases


class RoleCatalog(Catalog):
    """The Catalog, with names compared after evening out case and spacing around brackets."""

    __slots__ = ()

    def resolve(self, name: str) -> str | None:
        found = Catalog.resolve(self, name)
        if found is not None:
            return found
        return self.aliases.get(_fold(name))

    def suggestions(self, name: str, n: int = 3) -> list[str]:
        """The closest roles, one spelling each: a code for a code-like name, else the label."""
        spellings = [*self.labels, *self.labels.values()]
        seen: set[str] = set()
        found: list[str] = []
        for candidate in closest(name, spellings, n * 2):
            canonical = Catalog.resolve(self, candidate)
            if canonical is None or canonical in seen:
                continue
            seen.add(canonical)
            found.append(canonical if "_" in name or name.isupper() else self.label(canonical))
            if len(found) == n:
                break
        return found


CATALOGS: dict[str, Catalog] = {
    "role": RoleCatalog(
        labels={code: label for code, label, _ in ROLES},
        aliases=_aliases(),
        exclusive_pairs=EXCLUSIVE_PAIRS,
    )
}


def is_group_aware(code: str) -> bool:
    return code in GROUP_AWARE
