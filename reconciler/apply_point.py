"""The apply point: the commit whose `access/` and `policies/` are approved and applied, signed.

It lives in the git ref `refs/access/applied`, which points at an annotated tag object naming the
commit and carrying an HMAC-SHA256 of it under `ACCESS_APPLY_POINT_KEY`, a secret of the
`access-apply` environment (which only the default branch can use). Any repository writer can move
a ref, but not sign one: a ref moved *forward* past an unapproved commit carries no valid MAC and
apply refuses it. Moving it *back* to an older signed point (a replay) only makes the gate examine
more history: a change counts as a restore only when it was in the approved plan at every commit
since, each landing under the governance it had (see `reconciler/ledger.py`).

The apply job signs HEAD when nothing was held; the workflow's separate push job (the only one
with `contents: write`) recreates the same tag object from its text (`git mktag`) and pushes the
ref. The first apply point is set once by an administrator holding the key:
`ACCESS_APPLY_POINT_KEY=… access apply-point set <commit>` then `git push origin +refs/access/applied:refs/access/applied`.
In the sandbox the key is a random file in `.access-sandbox/` (never a real secret).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import git

from reconciler.errors import ConfigError, RefusedError

REF = "refs/access/applied"
KEY_ENV = "ACCESS_APPLY_POINT_KEY"
SANDBOX_KEY_FILE = "apply-point.key"
_TAG_NAME = "access-applied"
_MAC = re.compile(r"^access-apply-point-mac: ([0-9a-f]{64})$", re.MULTILINE)
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True)
class ApplyPoint:
    sha: str  # the commit
    tag: str  # the tag object's sha (what the ref points at)
    governance: str = ""  # the commit whose policies/ and people are the approved governance
    ledger: str = ""  # the ledger carried at this point (JSON: held items, GitHub ids), "" for none

    @property
    def approved_governance(self) -> str:
        return self.governance or self.sha


def mac(key: bytes, repository: str, sha: str, governance: str, ledger: str) -> str:
    """The MAC of an apply point: the repository it belongs to, the commit, the approved
    governance and the digest of the ledger it carries (a key reused elsewhere gives nothing)."""
    digest = hashlib.sha256(ledger.encode()).hexdigest()
    text = f"access-apply-point/v2\n{repository.casefold()}\n{sha}\n{governance}\n{digest}\n"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def key_from_env(env: Mapping[str, str]) -> bytes:
    raw = env.get(KEY_ENV, "").strip()
    if len(raw) < 16:
        raise ConfigError(
            f"{KEY_ENV} is {'too short' if raw else 'not set'}: the approval gate signs the apply point "
            "with it. Generate one (`python -c 'import secrets; print(secrets.token_hex(32))'`), store it as "
            "a secret of the access-apply environment, and see docs/approval.md"
        )
    return raw.encode()


def sandbox_key(directory: Path) -> bytes:
    """The sandbox's own random key (created on first use): the demo's stand-in for the secret."""
    path = directory / SANDBOX_KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip().encode()


def tag_text(
    key: bytes, repository: str, sha: str, *, when: int, governance: str = "", ledger: str = ""
) -> str:
    """The annotated tag object that records `sha` as applied (deterministic for a given time)."""
    governance = governance or sha
    return (
        f"object {sha}\ntype commit\ntag {_TAG_NAME}\n"
        f"tagger access <access@localhost> {when} +0000\n\n"
        f"access apply point: {sha}\n"
        f"access-apply-point-repository: {repository}\n"
        f"access-apply-point-governance: {governance}\n"
        f"access-apply-point-ledger: {ledger}\n"
        f"access-apply-point-mac: {mac(key, repository, sha, governance, ledger)}\n"
    )


def _field(body: str, name: str) -> str:
    found = re.search(rf"^access-apply-point-{name}: (.*)$", body, re.MULTILINE)
    return found.group(1).strip() if found else ""


def read(repo: git.Repo, key: bytes, repository: str) -> ApplyPoint | None:
    """The verified apply point; None when there is none; RefusedError when it is not signed by us
    for this repository."""
    try:
        target = str(repo.git.rev_parse("--verify", "--quiet", REF))
    except git.GitCommandError:
        return None
    if not target:
        return None
    return verify(repo, target, key, repository)


def verify(repo: git.Repo, target: str, key: bytes, repository: str) -> ApplyPoint:
    """The apply point whose tag object is `target` (the ref's, or one fetched from a remote), once
    its MAC is checked; RefusedError when it is not signed by us for this repository."""
    kind = str(repo.git.cat_file("-t", target))
    if kind != "tag":
        raise RefusedError(
            f"{REF} points at a {kind}, not at a signed apply point: it was moved by hand (or by an older "
            f"version of access). An administrator who has checked the history re-signs it with "
            f"`access apply-point set <commit>`"
        )
    body = str(repo.git.cat_file("tag", target))
    first = body.split("\n", 1)[0]
    sha = first.removeprefix("object ").strip()
    found = _MAC.search(body)
    governance, ledger = _field(body, "governance"), _field(body, "ledger")
    if not _field(body, "repository") and found is not None:
        raise RefusedError(
            f"{REF} ({target[:12]}) was signed by an older version of access (it names no repository): an "
            "administrator who has checked the history re-signs it with `access apply-point set <commit>`"
        )
    if (
        not _SHA.match(sha)
        or not _SHA.match(governance)
        or found is None
        or not hmac.compare_digest(found.group(1), mac(key, repository, sha, governance, ledger))
    ):
        raise RefusedError(
            f"{REF} ({target[:12]}) is not signed with {KEY_ENV} for {repository}: someone other than the "
            "apply job moved it (or copied it from another repository). Nothing is applied until an "
            "administrator who has checked the history re-signs it with `access apply-point set <commit>`"
        )
    return ApplyPoint(sha, target, governance, ledger)


def unverified(repo: git.Repo, target: str) -> tuple[str, str]:
    """(commit, repository it names) of the tag object `target`, for a look without the key
    (`access doctor`); RefusedError when it is no apply point at all."""
    kind = str(repo.git.cat_file("-t", target))
    if kind != "tag":
        raise RefusedError(
            f"{REF} points at a {kind}, not at a signed apply point: an administrator who has checked the "
            "history re-signs it with `access apply-point set <commit>`"
        )
    body = str(repo.git.cat_file("tag", target))
    sha = body.split("\n", 1)[0].removeprefix("object ").strip()
    if _MAC.search(body) is None or not _field(body, "repository"):
        raise RefusedError(
            f"{REF} ({target[:12]}) carries no signature for a repository: an administrator who has checked "
            "the history re-signs it with `access apply-point set <commit>`"
        )
    return sha, _field(body, "repository")


def write(
    repo: git.Repo,
    key: bytes,
    repository: str,
    sha: str,
    *,
    when: int,
    governance: str = "",
    ledger: str = "",
) -> ApplyPoint:
    """Sign `sha` and point the ref at the new tag object (locally; the workflow pushes it)."""
    full = str(repo.git.rev_parse("--verify", f"{sha}^{{commit}}"))
    governance = str(repo.git.rev_parse("--verify", f"{governance}^{{commit}}")) if governance else full
    text = tag_text(key, repository, full, when=when, governance=governance, ledger=ledger)
    with tempfile.TemporaryFile() as stream:
        stream.write(text.encode())
        stream.seek(0)
        tag = str(repo.git.mktag(istream=stream)).strip()
    repo.git.update_ref(REF, tag)
    return ApplyPoint(full, tag, governance, ledger)
