"""The audit trail: every apply run's audit entries, kept in git as a MAC-signed hash chain.

`refs/access/audit` points at the newest *record*, a git commit whose tree holds one file,
`entries.jsonl` (that run's audit lines, the dicts `reconciler.audit.entry` makes), and whose only
parent is the record before it. Its message carries the sequence number, the run, the time, the
repository it was written for, the sha256 of the entries and an HMAC-SHA256 under the apply-point
key (`ACCESS_APPLY_POINT_KEY`), domain-separated from the apply point's own MAC:

    HMAC(key, "access-audit/v1\\n" repository \\n previous-record-or-none \\n sequence \\n run \\n
         time \\n sha256(entries) \\n)

Commits rather than annotated tags: the chain *is* git's own history of the ref, so `git log
refs/access/audit` reads it, a push of it is checked as a fast-forward (a run that raced another
fails instead of overwriting its record), and a bundle or fetch carries exactly the chain. A tag
object can only point at one object; chaining tags would need the previous id in the message, and
git would neither check nor show the chain.

A record is deterministic: fixed author and committer (`access <access@localhost>`), the run's time,
objects written from their text (`git hash-object`, `git mktree`: no user config, signing or
encoding header gets in), so the same inputs give the same object ids anywhere.

Verification (`records`, `verify`) walks from the oldest record and rebuilds each from its parts:
the sequence must count 1, 2, 3…, the tree must hold exactly the entries whose digest was signed,
the MAC must match for *this* repository and *this* previous record, and the commit must be
byte-for-byte the one `append` writes. The first record that fails is named with the reason.

What a MAC cannot show: that records were dropped from the *end* (the ref moved back to an older,
valid record). Pass the head noted earlier (`expect`; the apply point can carry it) to catch that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git

from reconciler.errors import AccessError, ConfigError, RefusedError
from reconciler.scrub import scrub

REF = "refs/access/audit"
ENTRIES_FILE = "entries.jsonl"
SANDBOX_REPOSITORY = "sandbox/access"
_DOMAIN = "access-audit/v1"
_IDENTITY = "access <access@localhost>"
_FIELD = "access-audit-"
_FIELDS = ("repository", "sequence", "run", "time", "entries-sha256", "mac")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Record:
    """One apply run's entries, verified."""

    id: str  # the commit's object id
    sequence: int  # 1 for the first record
    previous: str | None  # the record before it
    run: str
    when: int  # seconds since the epoch, UTC
    entries: tuple[dict[str, Any], ...]

    @property
    def time(self) -> str:
        return iso(self.when)


@dataclass(frozen=True, slots=True)
class Verification:
    """What `verify` found: the intact prefix of the chain and, if the chain breaks, where and why."""

    head: str | None  # what the ref points at (None: no trail)
    count: int  # records verified before the break (all of them when intact)
    first: int | None  # the first and last verified records' times
    last: int | None
    problem: str | None = None  # the break, naming the record

    @property
    def intact(self) -> bool:
        return self.head is not None and self.problem is None


def iso(when: int) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normal_repository(repository: str) -> str:
    """`owner/name` as signed: stripped and casefolded (GitHub's names are case-insensitive)."""
    name = repository.strip().casefold()
    if not name or "\n" in name or "\r" in name:
        raise ConfigError(f"the audit trail's repository identity {repository!r} is not a repository name")
    return name


def repository_identity(env: Mapping[str, str], sandbox_github: Path | None) -> str:
    """The repository the trail is signed for: the sandbox's simulated GitHub repository (or a fixed
    sandbox name) when `sandbox_github` is given, else `GITHUB_REPOSITORY`."""
    if sandbox_github is not None:
        try:
            data = json.loads(sandbox_github.read_text(encoding="utf-8"))
            name = data.get("default_repository") if isinstance(data, dict) else None
        except (OSError, ValueError):
            name = None
        return normal_repository(name if isinstance(name, str) and name.strip() else SANDBOX_REPOSITORY)
    found = env.get("GITHUB_REPOSITORY", "").strip()
    if not found:
        raise ConfigError(
            "GITHUB_REPOSITORY is not set: the audit trail is signed for one repository. Set it to the "
            "repository's owner/name (GitHub Actions sets it), e.g. GITHUB_REPOSITORY=harborbuild/access"
        )
    return normal_repository(found)


def mac(
    key: bytes, repository: str, previous: str | None, sequence: int, run: str, when: int, digest: str
) -> str:
    message = "\n".join(
        (_DOMAIN, normal_repository(repository), previous or "none", str(sequence), run, str(when), digest)
    )
    return hmac.new(key, (message + "\n").encode(), hashlib.sha256).hexdigest()


def entries_text(entries: Sequence[Mapping[str, Any]]) -> bytes:
    """The entries as stored: one JSON object a line, keys sorted, scrubbed like the audit log."""
    return "".join(scrub(json.dumps(dict(e), sort_keys=True)) + "\n" for e in entries).encode()


def _tree_text(blob: bytes) -> bytes:
    """A tree's raw object: one regular file, `entries.jsonl`, holding `blob` (a binary object id)."""
    return b"100644 " + ENTRIES_FILE.encode() + b"\0" + blob


def _commit_text(
    *, tree: str, previous: str | None, sequence: int, run: str, when: int, repository: str,
    digest: str, signature: str, count: int,
) -> bytes:  # fmt: skip
    parent = f"parent {previous}\n" if previous else ""
    fields = dict(zip(_FIELDS, (repository, str(sequence), run, str(when), digest, signature), strict=True))
    trailer = "".join(f"{_FIELD}{name}: {value}\n" for name, value in fields.items())
    return (
        f"tree {tree}\n{parent}author {_IDENTITY} {when} +0000\ncommitter {_IDENTITY} {when} +0000\n\n"
        f"access audit record {sequence}: run {run}, {count} {'entry' if count == 1 else 'entries'}\n\n"
        f"{trailer}"
    ).encode()


def _check_line(what: str, value: str) -> None:
    if not value.strip() or any(c in value for c in "\n\r\0"):
        raise AccessError(f"the audit record's {what} {value!r} must be one non-empty line")


# ------------------------------------------------------------------ git


def _head(repo: git.Repo) -> str | None:
    try:
        found = str(repo.git.rev_parse("--verify", "--quiet", REF)).strip()
    except git.GitCommandError:
        return None
    return found or None


def _write(repo: git.Repo, kind: str, data: bytes) -> str:
    with tempfile.TemporaryFile() as stream:
        stream.write(data)
        stream.seek(0)
        return str(repo.git.hash_object("-w", "-t", kind, "--stdin", istream=stream)).strip()


def _read(repo: git.Repo, sha: str) -> tuple[str, bytes] | None:
    """(type, raw data) of an object; None when the repository lacks it."""
    try:
        _, kind, _, data = repo.git.get_object_data(sha)
    except (ValueError, git.GitCommandError):
        return None
    return (kind.decode() if isinstance(kind, bytes) else str(kind)), bytes(data)


def append(
    repo: git.Repo,
    key: bytes,
    repository: str,
    entries: Sequence[Mapping[str, Any]],
    *,
    run: str,
    when: int,
) -> str:
    """Add one run's entries as the next record and move `refs/access/audit` to it (locally; the
    workflow pushes it). Returns the record's object id. Refuses to build on a chain that does not
    verify, so a forged record is never extended."""
    _check_line("run", run)
    if when < 0:
        raise AccessError(f"the audit record's time {when} is before 1970")
    chain = records(repo, key, repository)
    previous = chain[-1].id if chain else None
    sequence = len(chain) + 1
    text = entries_text(entries)
    digest = hashlib.sha256(text).hexdigest()
    blob = _write(repo, "blob", text)
    tree = _write(repo, "tree", _tree_text(bytes.fromhex(blob)))
    name = normal_repository(repository)
    commit = _commit_text(
        tree=tree, previous=previous, sequence=sequence, run=run, when=when, repository=name,
        digest=digest, signature=mac(key, name, previous, sequence, run, when, digest), count=len(entries),
    )  # fmt: skip
    sha = _write(repo, "commit", commit)
    # Compare-and-swap: another append since `records` read the chain fails instead of being lost.
    repo.git.update_ref(REF, sha, previous or "")
    return sha


# ------------------------------------------------------------------ reading and verifying


class _Broken(Exception):
    """The chain breaks at a record (internal: `records` raises RefusedError, `verify` reports)."""


def _chain_ids(repo: git.Repo, head: str) -> list[str]:
    """The record ids from `head` back to the first, oldest first (following the only parent)."""
    ids: list[str] = []
    seen: set[str] = set()
    sha: str | None = head
    while sha is not None:
        if sha in seen:  # not possible with real hashes; a guard against a corrupt repository
            raise _Broken(f"record {sha[:12]} appears twice in the chain")
        seen.add(sha)
        ids.append(sha)
        found = _read(repo, sha)
        if found is None:
            where = "the ref points at" if sha == head else f"record {ids[-2][:12]}'s previous record"
            raise _Broken(
                f"{where} {sha[:12]}, which this repository does not have (a shallow or partial fetch? "
                f"`git fetch origin {REF}:{REF}`)"
            )
        kind, data = found
        if kind != "commit":
            raise _Broken(f"{sha[:12]} is a {kind}, not an audit record: the ref was moved by hand")
        parents = re.findall(rb"^parent ([0-9a-f]+)$", data.split(b"\n\n", 1)[0], re.MULTILINE)
        sha = parents[0].decode() if parents else None
    ids.reverse()
    return ids


def _fields(message: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in message.splitlines():
        if line.startswith(_FIELD):
            name, sep, value = line[len(_FIELD) :].partition(": ")
            if sep and name in _FIELDS and name not in found:
                found[name] = value
    return found


def _verify_one(
    repo: git.Repo, key: bytes, repository: str, sha: str, position: int, previous: str | None
) -> Record:
    """The record at `position` (1-based) whose parent must be `previous`, checked whole."""
    found = _read(repo, sha)
    assert found is not None  # _chain_ids read it
    data = found[1]
    header, _, body = data.partition(b"\n\n")
    parents = re.findall(rb"^parent ([0-9a-f]+)$", header, re.MULTILINE)
    if len(parents) > 1:
        raise _Broken(f"is a merge of {len(parents)} commits; audit records have one previous record")
    fields = _fields(body.decode("utf-8", "replace"))
    missing = [name for name in _FIELDS if name not in fields]
    if missing:
        raise _Broken(f"is not an audit record (no {', '.join(_FIELD + m for m in missing)})")
    if not fields["sequence"].isdigit() or not fields["time"].isdigit():
        raise _Broken("has a malformed sequence number or time")
    sequence, when = int(fields["sequence"]), int(fields["time"])
    if sequence != position:
        detail = (
            "a record before it is missing, or records were reordered"
            if sequence > position
            else "records were reordered or repeated"
        )
        raise _Broken(f"says it is record {sequence}: {detail}")
    name = normal_repository(repository)
    if fields["repository"] != name:
        raise _Broken(
            f"was written for {fields['repository']}, not {name}: a chain copied from another repository "
            "(or the repository was renamed: verify with --repository OLD/NAME)"
        )
    tree_line = re.search(rb"^tree ([0-9a-f]+)$", header, re.MULTILINE)
    tree = _read(repo, tree_line.group(1).decode()) if tree_line else None
    blob_id = tree[1][len(_tree_text(b"")) :] if tree is not None else b""
    if tree is None or tree[0] != "tree" or tree[1] != _tree_text(blob_id) or len(blob_id) * 2 != len(sha):
        raise _Broken(f"does not hold exactly one file, {ENTRIES_FILE}")
    blob = _read(repo, blob_id.hex())
    if blob is None or blob[0] != "blob":
        raise _Broken(f"lacks its {ENTRIES_FILE}")
    text = blob[1]
    digest = hashlib.sha256(text).hexdigest()
    if not _HEX64.match(fields["entries-sha256"]) or not _HEX64.match(fields["mac"]):
        raise _Broken("has a malformed digest or MAC")
    expected = mac(key, name, previous, sequence, fields["run"], when, fields["entries-sha256"])
    if not hmac.compare_digest(fields["mac"], expected):
        after = f" after {previous[:12]}" if previous else ""
        raise _Broken(
            f"is not signed with this key for {name} as record {sequence}{after}: it was signed with "
            "another key, taken from another chain, or its signed fields were edited"
        )
    if digest != fields["entries-sha256"]:
        raise _Broken(f"has entries that are not the ones signed: its {ENTRIES_FILE} was rewritten")
    try:
        entries = tuple(json.loads(line) for line in text.decode("utf-8").splitlines())
    except ValueError:
        raise _Broken(f"has a {ENTRIES_FILE} that is not JSON lines") from None
    if not all(isinstance(e, dict) for e in entries):
        raise _Broken(f"has a {ENTRIES_FILE} line that is not a JSON object")
    rebuilt = _commit_text(
        tree=tree_line.group(1).decode() if tree_line else "", previous=previous, sequence=sequence,
        run=fields["run"], when=when, repository=name, digest=digest, signature=fields["mac"],
        count=len(entries),
    )  # fmt: skip
    if rebuilt != data:
        raise _Broken(
            "is not byte for byte the record access writes (its author, date or message was edited)"
        )
    return Record(sha, sequence, previous, fields["run"], when, entries)


def _walk(repo: git.Repo, key: bytes, repository: str) -> tuple[str | None, list[Record], str | None]:
    """(head, the verified records oldest first, the break or None)."""
    head = _head(repo)
    if head is None:
        return None, [], None
    good: list[Record] = []
    try:
        ids = _chain_ids(repo, head)
    except _Broken as exc:
        return head, good, f"{REF}: {exc}"
    previous: str | None = None
    for position, sha in enumerate(ids, start=1):
        try:
            good.append(_verify_one(repo, key, repository, sha, position, previous))
        except _Broken as exc:
            return head, good, f"{REF}: record {position} ({sha[:12]}) {exc}"
        previous = sha
    return head, good, None


def records(repo: git.Repo, key: bytes, repository: str) -> tuple[Record, ...]:
    """Every record, oldest first, each link verified; () when there is no trail yet. RefusedError
    names the first record that fails and why."""
    _, good, problem = _walk(repo, key, repository)
    if problem is not None:
        raise RefusedError(problem)
    return tuple(good)


def verify(repo: git.Repo, key: bytes, repository: str, *, expect: str | None = None) -> Verification:
    """The chain checked end to end. With `expect` (a record id noted earlier, or the audit head the
    apply point carries) the chain must also contain that record: a ref moved back is caught."""
    head, good, problem = _walk(repo, key, repository)
    if problem is None and head is not None and expect:
        wanted = expect.strip().casefold()
        matches = [r for r in good if r.id.startswith(wanted)] if len(wanted) >= 7 else []
        if not matches:
            problem = (
                f"{REF}: the chain ({len(good)} records, head {head[:12]}) does not contain record "
                f"{expect}: records were dropped from its end (the ref was moved back) or it is another chain"
            )
    first = good[0].when if good else None
    last = good[-1].when if good else None
    return Verification(head, len(good), first, last, problem)
