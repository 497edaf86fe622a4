"""`access undo RUN`: ONE pull request reversing the YAML effect of one apply run.

The run's outcomes are read from the audit log (`<state>/audit.jsonl`, run ids of the journal) and
from the audit trail `refs/access/audit` when its key is at hand (run ids of the trail): every
outcome names the landing on main that asked for it (`landed_in`). The undo reverts the `access/`
edits of exactly those landings, newest first, onto the base branch: per file, a 3-way merge
(`git merge-file`) of main's text with the landing's edit taken back (its text → its first
parent's), so later edits to other lines stay. A later edit to the same lines is a conflict: undo
refuses, naming the file. Outcomes that came from no landing (drift repaired, expiry) have no YAML
to revert and are listed as such. The pull request, on `access-undo/<run>`, is an ordinary
request: the gate judges it when it is merged; run again, it is rebuilt from main (never a second).

Limits: a landing's whole `access/` edit is reverted (also its lines that changed nothing at a
vendor); a landing that created or deleted a file is refused (revert it by hand); `policies/` is
never touched.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git

from reconciler import audit_trail
from reconciler.audit import AUDIT_FILE
from reconciler.commands.audit_cmd import trail_settings
from reconciler.commands.branch_pr import Snapshot, Target, base_snapshot, load_at, publish
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source
from reconciler.errors import AccessError, ConfigError, RefusedError
from reconciler.render.escape import md_code, md_text
from reconciler.yaml_edit import diff_sections

TITLE = "Undo apply run"
_RUN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True, slots=True)
class Landing:
    sha: str
    subject: str


def branch_name(run: str) -> str:
    return f"access-undo/{run}"


def run(ctx: AppContext, run_id: str, *, target: Target, audit_log: Path | None, dry_run: bool) -> int:
    if not _RUN.match(run_id):
        raise AccessError(f"{run_id!r} is not an apply run id (see `access audit show`)")
    with base_snapshot(ctx, target) as snapshot:
        entries = run_entries(ctx, snapshot.repo, run_id, Source(sandbox=target.sandbox), audit_log)
        landings = _landings(snapshot, entries)
        texts = reverted(snapshot, landings) if landings else {}
        if not texts:
            ctx.output.result(
                f"nothing to undo for run {run_id}: "
                + ("its landings' access/ edits are already reversed on main" if landings
                   else "none of its changes came from a landing on main (drift repaired, expiry)")
            )  # fmt: skip
            return 0
        load_at(ctx, snapshot.root, texts)  # the result must still load
        if dry_run:
            ctx.output.raw(_diff(snapshot.root, texts))
            ctx.output.info(f"dry run: no pull request opened ({len(landings)} landing(s) reverted)")
            return 0
        title = f"{TITLE} {run_id}"
        message = f"{title}\n\nReverts the access/ edits of:\n" + "\n".join(
            f"{landing.sha} {landing.subject}" for landing in landings
        )
        pull, created = publish(
            ctx, snapshot, target, branch=branch_name(run_id), files=texts,
            message=message, title=title, body=_body(snapshot, texts, run_id, entries, landings),
        )  # fmt: skip
    ctx.output.result(
        f"{'opened' if created else 'updated'} pull request #{pull.number} undoing run {run_id} "
        f"({len(landings)} landing(s)): {pull.html_url}"
    )
    return 0


# ---------------------------------------------------------------- the run's entries


def run_entries(
    ctx: AppContext, repo: git.Repo, run_id: str, source: Source, audit_log: Path | None
) -> list[dict[str, Any]]:
    """The run's outcomes, from the audit log and (key permitting) the audit trail; refused when
    neither knows the run."""
    from reconciler.commands.state import state_dir

    path = audit_log or state_dir(ctx, source) / AUDIT_FILE
    found: list[dict[str, Any]] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line) if line.strip() else None
            if isinstance(entry, dict) and entry.get("run") == run_id:
                found.append(entry)
    if not found:
        try:
            trail = trail_settings(ctx, source)
        except ConfigError:
            trail = None  # no key here: the audit log is the only source
        if trail is not None:
            for record in audit_trail.records(repo, trail.key, trail.repository):
                if record.run == run_id:
                    found += [e for e in record.entries if e.get("kind", "outcome") == "outcome"]
    outcomes = [e for e in found if e.get("action")]
    if not outcomes:
        raise RefusedError(
            f"no apply run {run_id} in {path} or {audit_trail.REF}: see `access audit show` "
            "(or pass --audit-log with the run's audit log)"
        )
    return outcomes


def _landings(snapshot: Snapshot, entries: list[dict[str, Any]]) -> list[Landing]:
    """The run's landings on the base branch, newest first."""
    repo = snapshot.repo
    wanted = {str(e["landed_in"]) for e in entries if e.get("landed_in")}
    for sha in sorted(wanted):
        try:
            repo.git.merge_base("--is-ancestor", sha, snapshot.start)
        except git.GitCommandError:
            raise RefusedError(
                f"the run's landing {sha[:12]} is not on the base branch ({snapshot.start[:12]}): "
                "fetch it, or undo by hand"
            ) from None
    order = str(repo.git.rev_list("--topo-order", snapshot.start)).split()
    position = {sha: i for i, sha in enumerate(order)}
    newest = sorted(wanted, key=lambda sha: position.get(sha, len(order)))
    return [Landing(sha, str(repo.commit(sha).summary)) for sha in newest]


# ---------------------------------------------------------------- the revert


def _blob(repo: git.Repo, sha: str, file: str) -> str | None:
    try:
        return str(repo.git.show(f"{sha}:{file}", strip_newline_in_stdout=False))
    except git.GitCommandError:
        return None


def reverted(snapshot: Snapshot, landings: list[Landing]) -> dict[str, str]:
    """access/ files (path -> text) with each landing's edit taken back, newest landing first."""
    repo = snapshot.repo
    texts: dict[str, str] = {}
    for landing in landings:
        parent = f"{landing.sha}^1"
        names = str(repo.git.diff("--no-renames", "--name-only", parent, landing.sha, "--", "access/"))
        for file in names.splitlines():
            theirs, before = _blob(repo, landing.sha, file), _blob(repo, parent, file)
            path = snapshot.root / file
            current = texts.get(file) or (path.read_text(encoding="utf-8") if path.exists() else None)
            if theirs is None or before is None:
                made = "created" if before is None else "deleted"
                raise RefusedError(
                    f"{file}: landing {landing.sha[:12]} {made} this file; undo does not {made[:-1]}e "
                    "files back: revert it by hand in a pull request"
                )
            if current is None:
                raise RefusedError(
                    f"{file}: deleted on main since landing {landing.sha[:12]}: nothing to revert"
                )
            texts[file] = _merge(file, current, theirs, before, landing)
    return {f: t for f, t in texts.items() if t != (snapshot.root / f).read_text(encoding="utf-8")}


def _merge(file: str, current: str, base: str, other: str, landing: Landing) -> str:
    """Take the edit base → other into current (a revert: base is the landing's text)."""
    if current == base:
        return other
    with tempfile.TemporaryDirectory(prefix="access-undo-") as tmp:
        paths = []
        for name, text in (("current", current), ("base", base), ("other", other)):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        done = subprocess.run(
            ["git", "merge-file", "-p", "--quiet", *paths],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
    if done.returncode != 0:
        raise RefusedError(
            f"{file}: edited on main since landing {landing.sha[:12]} on the lines it changed: "
            "undo would conflict; revert those lines by hand in a pull request"
        )
    return done.stdout


# ---------------------------------------------------------------- output


def _diff(root: Path, texts: dict[str, str]) -> str:
    out: list[str] = []
    for file, text in texts.items():
        before = (root / file).read_text(encoding="utf-8")
        out += difflib.unified_diff(
            before.splitlines(keepends=True), text.splitlines(keepends=True), f"a/{file}", f"b/{file}"
        )
    return "".join(out)


def _describe(entry: dict[str, Any]) -> str:
    parts = (entry.get(k) for k in ("action", "vendor", "resource", "entitlement"))
    who = entry.get("person") or entry.get("principal") or ""
    return f"{' '.join(str(p) for p in parts if p)} → {who}"


def _body(
    snapshot: Snapshot,
    texts: dict[str, str],
    run_id: str,
    entries: list[dict[str, Any]],
    landings: list[Landing],
) -> str:
    commits = sorted({str(e["commit"]) for e in entries if e.get("commit")})
    lines = [
        f"Reverses the YAML effect of apply run {md_code(run_id)}"
        + (f" (applied {', '.join(md_code(c[:12]) for c in commits)})" if commits else "")
        + ". Review and approve it like any request: the gate judges it when it is merged, and the "
        "next apply takes the access back.",
        "",
        "### Changes reversed",
        "",
        "| change | outcome | pull request | landed in |",
        "|---|---|---|---|",
    ]
    reversed_, other = (
        [e for e in entries if e.get("landed_in")],
        [e for e in entries if not e.get("landed_in")],
    )
    for entry in reversed_:
        pull = entry.get("pull_request")
        lines.append(
            f"| {md_text(_describe(entry))} | {md_text(str(entry.get('outcome') or '?'))} "
            f"| {'#' + str(int(pull)) if isinstance(pull, int) else ''} "
            f"| {md_code(str(entry['landed_in'])[:12], in_table=True)} |"
        )
    if other:
        lines += ["", "Not from a landing (nothing in the YAML to revert):", ""]
        lines += [f"- {md_text(_describe(e))}: {md_text(str(e.get('outcome') or '?'))}" for e in other]
    lines += ["", "### Commits reverted (their `access/` edits)", ""]
    lines += [f"- {md_code(landing.sha)} {md_text(landing.subject)}" for landing in landings]
    lines += diff_sections(snapshot.root, texts)
    return "\n".join(lines)
