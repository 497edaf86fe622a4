"""Actual state as files: `access sync --out DIR` writes them, `access plan --state DIR` reads them.

One JSON file per vendor, compact, so a bug report or a benchmark can replay a state offline.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from itertools import groupby, islice, repeat
from operator import itemgetter, lt, methodcaller
from pathlib import Path
from typing import Any

import msgspec

from reconciler.connectors.base import VendorState, columns_fingerprint, with_fingerprint
from reconciler.errors import AccessError
from reconciler.gcpause import paused_gc
from reconciler.jsonfile import write_json
from reconciler.records import Account, Grant, Head, ResourceKey, ungroup

SNAPSHOT_VERSION = 2  # 1: accounts as objects, grants as 5-string rows (still read)

# Version 2 is laid out for speed (a million grants read in about a second): accounts as columns,
# grants grouped by (tenant, resource type, resource, entitlement) with the sorted principals that
# hold it, groups sorted. Reading keeps each group's list as the file has it (the planner works per
# group; the flat set of grants is built only if something asks for it), and the fingerprint hashes
# a group's sorted lines at a time. `aliases` (other spellings of a resource and the one its grants
# use: `[tenant, type, spelling, canonical]` rows) came later; a snapshot without them reads as none.
# A version 1 file (accounts as objects, a grant per row) reads into the same parts as version 2:
# its accounts made columns and its rows grouped by head (in C: a million rows in a few tenths of a
# second), so the second process reads it too and the planner works on its groups.


def state_to_json(state: VendorState) -> dict[str, Any]:
    accounts = sorted(state.accounts, key=lambda a: (a.tenant, a.principal, a.native_id))
    attribute_sets: dict[tuple[tuple[str, str], ...], int] = {}
    for a in accounts:
        attribute_sets.setdefault(a.attributes, len(attribute_sets))
    return {
        "snapshot_version": SNAPSHOT_VERSION,
        "vendor": state.vendor,
        "fingerprint": state.fingerprint,
        "accounts": {
            "tenant": [a.tenant for a in accounts],
            "principal": [a.principal for a in accounts],
            "active": [a.active for a in accounts],
            "email": [a.email for a in accounts],
            "display_name": [a.display_name for a in accounts],
            "native_id": [a.native_id for a in accounts],
            "attributes": [attribute_sets[a.attributes] for a in accounts],
            "attribute_sets": [[list(pair) for pair in attrs] for attrs in attribute_sets],
            # Optional columns (a snapshot without them reads as ""): written where the vendor says.
            **{name: column for name, column in _optional_columns(accounts).items() if any(column)},
        },
        "grants": _grants_of(state),
        "indirect": _grouped(state.indirect),
        "read_only": _grouped(state.read_only),
        "unreadable": [[*k[1:], why] for k, why in sorted(state.unreadable.items())],
        "catalog": {k: sorted(v) for k, v in state.catalog.items()},
        "known_resources": {k: sorted(v) for k, v in state.known_resources.items()},
        "aliases": sorted(
            [tenant, rtype, spelling, canonical]
            for (tenant, rtype), names in state.aliases.items()
            for spelling, canonical in names.items()
        ),
    }


# Account columns a snapshot may leave out: when each account last signed in, and when the vendor
# last changed it (neither is part of the fingerprint).
_OPTIONAL_COLUMNS = ("last_sign_in", "changed_at")


def _optional_columns(accounts: list[Account]) -> dict[str, list[str]]:
    return {name: [getattr(a, name) for a in accounts] for name in _OPTIONAL_COLUMNS}


def _grants_of(state: VendorState) -> list[list[Any]]:
    """The state's grants as groups; a state read grouped (a snapshot) is written from its groups,
    without making a million grants."""
    groups = state.grant_groups
    if groups is None:
        return _grouped(state.grants)
    return [
        [*head[1:], held if all(map(lt, held, islice(held, 1, None))) else sorted(set(held))]
        for head, held in ((head, list(groups[head])) for head in sorted(groups))
        if held
    ]


def _grouped(grants: Iterable[Grant]) -> list[list[Any]]:
    groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for grant in grants:
        groups[grant[1:5]].append(grant[5])
    return [[*head, sorted(groups[head])] for head in sorted(groups)]


def state_from_json(data: Mapping[str, Any], *, origin: str = "snapshot") -> VendorState:
    return state_of(*_read_json(data, origin))


# What a version 2 snapshot reads as, before its records are made: the vendor; the accounts'
# tenant, principal, active, email, display name, attributes, native id, last sign-in and changed-at
# columns; the grants',
# indirect and read-only grants' groups; catalog; known resources; unreadable resources' rows;
# aliases' rows.
# Lists, dicts and strings only (marshal carries them from a second process: see snapshot_reading).
Parts = tuple[
    str,
    tuple[
        list[str],
        list[str],
        list[bool],
        list[str],
        list[str],
        list[tuple[tuple[str, str], ...]],
        list[str],
        list[str],
        list[str],
    ],
    dict[Head, list[str]],
    dict[Head, list[str]],
    dict[Head, list[str]],
    dict[str, frozenset[str]],
    dict[str, frozenset[str]],
    list[tuple[str, str, str, str]],
    list[tuple[str, str, str, str]],
]


def _read_json(data: Mapping[str, Any], origin: str) -> tuple[Parts, str]:
    """A snapshot's parts and fingerprint (a version 1 snapshot's made the parts of version 2)."""
    with paused_gc():
        try:
            version = data.get("snapshot_version", 1)
            if version in (1, SNAPSHOT_VERSION):
                parts = _shared(_parts_v1(data) if version == 1 else _parts_v2(data))
                (_, (tenants, principals, actives, _, _, attributes, *_), groups, *_) = parts
                return parts, columns_fingerprint(
                    tenants, principals, actives, attributes, groups=groups, groups_sorted=True
                )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise AccessError(f"{origin}: not a valid state snapshot ({exc})") from None
    raise AccessError(f"{origin}: snapshot_version {version!r}; this access reads versions 1 and 2")


def _parts_v1(data: Mapping[str, Any]) -> Parts:
    """A version 1 snapshot's parts: each account object's fields made columns (text as `str`
    makes it, as this version always read them), and the grant rows grouped by head."""
    vendor = str(data["vendor"])
    accounts = data.get("accounts", [])
    if not isinstance(accounts, list) or not set(map(type, accounts)) <= {dict}:
        raise ValueError("accounts: expected a list of objects")
    principals = _as_text(list(map(itemgetter("principal"), accounts)))
    tenants, emails, names, ids, signed_in, changed = (
        _as_text(list(map(methodcaller("get", name, ""), accounts)))
        for name in ("tenant", "email", "display_name", "native_id", *_OPTIONAL_COLUMNS)
    )
    actives = list(map(methodcaller("get", "active", True), accounts))
    if not set(map(type, actives)) <= {bool}:
        actives = list(map(bool, actives))
    attributes = _v1_attributes(list(map(methodcaller("get", "attributes", {}), accounts)))
    return (
        vendor,
        (tenants, principals, actives, emails, names, attributes, ids, signed_in, changed),
        _rows_grouped(vendor, data.get("grants", [])),
        _rows_grouped(vendor, data.get("indirect", [])),
        _rows_grouped(vendor, data.get("read_only", [])),
        _sets(data, "catalog"),
        _sets(data, "known_resources"),
        [
            (str(tenant), str(rtype), str(resource), str(why))
            for tenant, rtype, resource, why in data.get("unreadable", [])
        ],
        _alias_rows(data),
    )


def _shared(parts: Parts) -> Parts:
    """`parts` with each principal (and email) one string, however many groups hold it: a JSON
    decoder makes a string of each occurrence (ten a person, a million in all), and `marshal`
    carries one object once (the second process's answer: a fraction of the size and of the
    memory it takes here)."""
    share: dict[str, str] = {}
    one = share.setdefault
    _, (_, principals, _, emails, *_), grants, indirect, read_only, *_ = parts
    principals[:] = map(one, principals, principals)
    emails[:] = map(one, emails, emails)
    for groups in (grants, indirect, read_only):
        for held in groups.values():
            held[:] = map(one, held, held)
    return parts


def _as_text(values: list[Any]) -> list[str]:
    return values if set(map(type, values)) <= {str} else list(map(str, values))


def _v1_attributes(written: list[Any]) -> list[tuple[tuple[str, str], ...]]:
    """Each account's attributes as sorted (name, value) text pairs; each distinct set made once."""
    made: dict[Any, tuple[tuple[str, str], ...]] = {}
    try:
        if not set(map(type, written)) <= {dict}:
            raise TypeError
        pairs = list(map(tuple, map(sorted, map(dict.items, written))))
        for one in set(pairs):
            made[one] = tuple(sorted((str(k), str(v)) for k, v in one))
        return list(map(made.__getitem__, pairs))
    except TypeError:  # (not objects, or values that do not sort or hash): each made on its own
        return [tuple(sorted((str(k), str(v)) for k, v in dict(one).items())) for one in written]


def _rows_grouped(vendor: str, rows: Any) -> dict[Head, list[str]]:
    """Version 1's `[tenant, type, resource, entitlement, principal]` rows as version 2's groups:
    runs of rows with one head (a written file holds one run per head, sorted) taken in C."""
    if not isinstance(rows, list):
        raise ValueError("expected a list of grant rows")
    if not rows:
        return {}
    if set(map(len, rows)) != {5}:
        raise ValueError("a grant row is [tenant, type, resource, entitlement, principal]")
    groups: list[list[Any]] = []
    for head, run in groupby(rows, _ROW_HEAD):
        groups.append([*head, list(map(_ROW_PRINCIPAL, run))])
    return _grant_groups(vendor, groups)


_ROW_HEAD = itemgetter(0, 1, 2, 3)
_ROW_PRINCIPAL = itemgetter(4)


def _parts_v2(data: Mapping[str, Any]) -> Parts:
    vendor = str(data["vendor"])
    columns = data.get("accounts") or {}
    principals = _strings(columns.get("principal", []))
    count = len(principals)
    attribute_sets = [
        tuple(sorted((str(k), str(v)) for k, v in pairs)) for pairs in columns.get("attribute_sets", [])
    ]
    indexes = columns.get("attributes", [0] * count)
    attributes = [attribute_sets[i] for i in indexes] if attribute_sets else [()] * count
    actives = columns.get("active", [True] * count)
    if not set(map(type, actives)) <= {bool}:
        raise ValueError("accounts.active holds a value that is not true or false")
    fields = [
        _strings(columns.get(name, [""] * count))
        for name in ("tenant", "email", "display_name", "native_id", *_OPTIONAL_COLUMNS)
    ]
    if any(len(f) != count for f in (*fields, attributes, actives)):
        raise ValueError("the account columns differ in length")
    tenants, emails, names, ids, signed_in, changed = fields
    return (
        vendor,
        (tenants, principals, actives, emails, names, attributes, ids, signed_in, changed),
        _grant_groups(vendor, data.get("grants", [])),
        _grant_groups(vendor, data.get("indirect", [])),
        _grant_groups(vendor, data.get("read_only", [])),
        _sets(data, "catalog"),
        _sets(data, "known_resources"),
        [
            (str(tenant), str(rtype), str(resource), str(why))
            for tenant, rtype, resource, why in data.get("unreadable", [])
        ],
        _alias_rows(data),
    )


def state_of(parts: Parts, fingerprint: str) -> VendorState:
    """The state of a version 2 snapshot's parts (made in C: no Python per account or grant)."""
    vendor, columns, groups, indirect, read_only, catalog, known_resources, unreadable, aliases = parts
    tenants, principals, actives, emails, names, attributes, ids, signed_in, changed = columns
    with paused_gc():
        rows = zip(  # (checked)
            repeat(vendor), tenants, principals, actives, emails, names, attributes, ids, signed_in, changed
        )
        state = VendorState(
            vendor, tuple(map(tuple.__new__, repeat(Account), rows)), catalog=catalog,
            known_resources=known_resources, indirect=frozenset(ungroup(indirect)),
            read_only=frozenset(ungroup(read_only)),
            unreadable={ResourceKey(vendor, *row): why for *row, why in unreadable}, grant_groups=groups,
            aliases=_aliases(aliases),
        )  # fmt: skip
    return with_fingerprint(state, fingerprint)


def _grant_groups(vendor: str, groups: Iterable[list[Any]]) -> dict[Head, list[str]]:
    """`[tenant, type, resource, entitlement, [principal, ...]]` groups by head, each head's
    principals sorted and once each: as written, a file does so (a file that repeats a group, or a
    principal in one, is still read)."""
    by_head: dict[Head, list[str]] = {}
    for tenant, rtype, resource, entitlement, holders in groups:
        tenant, rtype, resource, entitlement = _strings([tenant, rtype, resource, entitlement])
        head = (vendor, tenant, rtype, resource, entitlement)
        holders = _strings(holders)
        if not holders:
            continue
        if head in by_head:
            holders = by_head[head] + holders
        elif all(map(lt, holders, islice(holders, 1, None))):
            by_head[head] = holders  # the usual case: the file's own list, as it is
            continue
        by_head[head] = sorted(set(holders))
    return by_head


def _strings(values: list[Any]) -> list[str]:
    if not isinstance(values, list) or not set(map(type, values)) <= {str}:
        raise ValueError("expected a list of strings")
    return values


def _alias_rows(data: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for row in data.get("aliases", []):
        tenant, rtype, spelling, canonical = _strings(row)
        rows.append((tenant, rtype, spelling, canonical))
    return rows


def _aliases(rows: Iterable[tuple[str, str, str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    aliases: dict[tuple[str, str], dict[str, str]] = {}
    for tenant, rtype, spelling, canonical in rows:
        aliases.setdefault((tenant, rtype), {})[spelling] = canonical
    return aliases


def _sets(data: Mapping[str, Any], key: str) -> dict[str, frozenset[str]]:
    return {str(k): frozenset(v) for k, v in dict(data.get(key, {})).items()}


def write_state(directory: Path, state: VendorState) -> Path:
    return write_json(directory / f"{state.vendor}.json", state_to_json(state))


def is_current(path: Path) -> bool:
    """Whether the snapshot file at `path` is in today's format, as `write_state` writes it (its first
    key says so); False for a version 1 file, or one whose first bytes do not say."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError:
        return True  # nothing to convert: reading it said what was wrong
    return head.startswith(b'{"snapshot_version":%d,' % SNAPSHOT_VERSION)


def convert(directory: Path, state: VendorState) -> str:
    """Rewrite `state`'s snapshot in `directory` (read whole, as it was read) in today's format, once:
    later reads take a third of the time. The records and the fingerprint are the same. Returns what
    to tell the user."""
    path = directory / f"{state.vendor}.json"
    try:
        write_state(directory, state)
    except OSError as exc:
        return f"{path}: an older snapshot format, read more slowly (could not rewrite it: {exc.strerror})"
    return f"{path}: converted from snapshot format 1 to {SNAPSHOT_VERSION} (the same state; read faster from now on)"


def read_state(directory: Path, vendor: str) -> VendorState | None:
    read = read_snapshot(directory, vendor)
    return None if read is None else state_of(*read)


def read_snapshot(directory: Path, vendor: str) -> tuple[Parts, str] | None:
    """`read_state`, the state left as its parts and fingerprint; None: no file."""
    path = directory / f"{vendor}.json"
    if not path.exists():
        return None
    try:
        with paused_gc():
            data = _decoded(path)
    except json.JSONDecodeError as exc:
        raise AccessError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    return _read_json(data, str(path))


def _decoded(path: Path) -> Any:
    """The file's JSON, as `json.loads` reads its text: decoded by msgspec (in half the time,
    from the bytes: the values it accepts are the ones json makes), and by json itself when msgspec
    refuses the file (not UTF-8, not JSON, NaN or a number out of range, a lone surrogate escape),
    for the same value or the same error."""
    try:
        return msgspec.json.decode(path.read_bytes())
    except msgspec.MsgspecError:
        return json.loads(path.read_text(encoding="utf-8"))
