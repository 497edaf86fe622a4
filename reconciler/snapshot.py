"""Actual state as files: `access sync --out DIR` writes them, `access plan --state DIR` reads them.

One JSON file per vendor, compact (grants as arrays), so a bug report or a benchmark can replay a
state offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError
from reconciler.gcpause import paused_gc
from reconciler.jsonfile import write_json
from reconciler.records import Account, Grant, ResourceKey

SNAPSHOT_VERSION = 1


def state_to_json(state: VendorState) -> dict[str, Any]:
    return {
        "snapshot_version": SNAPSHOT_VERSION,
        "vendor": state.vendor,
        "fingerprint": state.fingerprint,
        "accounts": [
            {
                "tenant": a.tenant,
                "principal": a.principal,
                "active": a.active,
                "email": a.email,
                "display_name": a.display_name,
                "attributes": dict(a.attributes),
                "native_id": a.native_id,
            }
            for a in sorted(state.accounts, key=lambda a: (a.tenant, a.principal, a.native_id))
        ],
        "grants": [list(g[1:]) for g in sorted(state.grants)],
        "indirect": [list(g[1:]) for g in sorted(state.indirect)],
        "read_only": [list(g[1:]) for g in sorted(state.read_only)],
        "unreadable": [[*k[1:], why] for k, why in sorted(state.unreadable.items())],
        "catalog": {k: sorted(v) for k, v in state.catalog.items()},
        "known_resources": {k: sorted(v) for k, v in state.known_resources.items()},
    }


def state_from_json(data: Mapping[str, Any], *, origin: str = "snapshot") -> VendorState:
    with paused_gc():
        return _state_from_json(data, origin)


def _state_from_json(data: Mapping[str, Any], origin: str) -> VendorState:
    try:
        vendor = str(data["vendor"])
        accounts = tuple(
            Account(
                vendor,
                str(a.get("tenant", "")),
                str(a["principal"]),
                active=bool(a.get("active", True)),
                email=str(a.get("email", "")),
                display_name=str(a.get("display_name", "")),
                attributes=tuple(sorted((str(k), str(v)) for k, v in dict(a.get("attributes", {})).items())),
                native_id=str(a.get("native_id", "")),
            )
            for a in data.get("accounts", [])
        )
        grants = frozenset(_grants(vendor, data.get("grants", [])))
        indirect = frozenset(_grants(vendor, data.get("indirect", [])))
        read_only = frozenset(_grants(vendor, data.get("read_only", [])))
        unreadable = {
            ResourceKey(vendor, str(tenant), str(rtype), str(resource)): str(why)
            for tenant, rtype, resource, why in data.get("unreadable", [])
        }
        catalog = {str(k): frozenset(v) for k, v in dict(data.get("catalog", {})).items()}
        known = {str(k): frozenset(v) for k, v in dict(data.get("known_resources", {})).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise AccessError(f"{origin}: not a valid state snapshot ({exc})") from None
    return VendorState(
        vendor,
        accounts,
        grants,
        catalog=catalog,
        known_resources=known,
        indirect=indirect,
        read_only=read_only,
        unreadable=unreadable,
    )


def _grants(vendor: str, rows: Iterable[list[str]]) -> Iterable[Grant]:
    for row in rows:
        tenant, rtype, resource, entitlement, principal = row
        yield Grant(vendor, tenant, rtype, resource, entitlement, principal)


def write_state(directory: Path, state: VendorState) -> Path:
    return write_json(directory / f"{state.vendor}.json", state_to_json(state))


def read_state(directory: Path, vendor: str) -> VendorState | None:
    path = directory / f"{vendor}.json"
    if not path.exists():
        return None
    try:
        with paused_gc():
            data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AccessError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    return state_from_json(data, origin=str(path))
