"""Builders for policy tests: a small access/ and policies/ written to a temp repo, then loaded."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

from reconciler.changes import Action, Change, change_id
from reconciler.loader import read_files
from reconciler.normalize import normalize
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from reconciler.records import AccessSet

TODAY = dt.date(2026, 11, 23)
CO = "562949953421312"

PEOPLE = """
people:
  alice: {email: alice@harbor.example, name: Alice Ng, teams: [site], github: alice-ng}
  bob:   {email: bob@harbor.example, name: Bob Ruiz, teams: [site], github: bruiz}
  carol: {email: carol@harbor.example, name: Carol Okafor, teams: [pm], github: cokafor}
  erin:  {email: erin@harbor.example, name: Erin Walsh, teams: [finance], github: ewalsh}
  nina:  {email: nina@harbor.example, name: Nina Kowalski, teams: [finance], github: NKowalski}
  grace: {email: grace@harbor.example, name: Grace Lin, teams: [security], github: glin-sec}
  heidi: {email: heidi@harbor.example, name: Heidi Brandt, teams: [it]}
teams:
  site: {}
  pm: {}
  finance: {}
  security: {}
  it: {}
"""


def write(repo: Path, name: str, text: str) -> Path:
    """Like tests.helpers.write, without importing the CLI."""
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def desired_from(repo: Path, **files: str) -> AccessSet:
    """access/people.yaml plus `files` (name -> YAML), normalized at TODAY."""
    write(repo, "access/people.yaml", PEOPLE)
    for name, text in files.items():
        write(repo, f"access/{name}.yaml", text)
    return normalize(read_files(repo), today=TODAY)


def policies_from(repo: Path, text: str, name: str = "policies/rules.yaml") -> Policies:
    write(repo, name, text)
    return load_policies(repo)


def change(
    action: Action,
    vendor: str,
    rtype: str,
    resource: str,
    entitlement: str,
    principal: str,
    *,
    tenant: str = "",
    person: str = "",
    source: str = "",
) -> Change:
    return Change(
        id=change_id(vendor, action, tenant, rtype, resource, entitlement, principal),
        vendor=vendor,
        action=action,
        tenant=tenant,
        principal=principal,
        resource_type=rtype,
        resource=resource,
        entitlement=entitlement,
        person=person,
        source=source,
    )
