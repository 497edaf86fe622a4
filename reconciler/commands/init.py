"""`access init`: scaffold a repository that manages access, installing exactly this release.

It writes `access/`, `policies/` with safe defaults and an example recertification policy,
`.github/CODEOWNERS`, the workflows with the access-request issue template they need,
`requirements-access.lock` (this release and every dependency, hash-pinned: what the workflows
install), the JSON Schemas, a dependabot configuration for the pinned actions, a
`.pre-commit-config.yaml` pinned to this release and a `.gitignore`. Existing files are kept.

`access init --upgrade`, run with the release to upgrade to, rewrites the files it manages (see
`init_files.py`) that nobody changed since it wrote them, shows their diff, and keeps and diffs the
ones the company changed; `.github/access-init.json` records what it wrote.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from reconciler import init_files, release
from reconciler.commands import schema as schema_cmd
from reconciler.commands.context import AppContext
from reconciler.errors import AccessError
from reconciler.init_files import MANIFEST, Manifest
from reconciler.resources import require_dir
from reconciler.version import DISTRIBUTION, __version__

POLICY_HEADER = "# yaml-language-server: $schema=../schema/policies.schema.json\n#\n"

POLICIES: dict[str, str] = {
    "safety.yaml": POLICY_HEADER
    + """\
# What access must never touch, what it does with accounts nobody listed, and the limits that make
# apply refuse (each refusal names its override flag). See docs/policies.md.
protected:
  principals: []             # emails never revoked or deactivated (break-glass accounts, services)
  resources: []              # e.g. {vendor: pingone, resource_type: group, resource: Break Glass Admins}

unmanaged_accounts:          # accounts at a vendor that are not in access/: ignore | report | deactivate
  procore: report
  concur: report
  pingone: report

limits:
  max_revocations: 20        # revocations plus deactivations in one apply
  max_revocation_share: 0.10 # of a vendor's current grants...
  min_revocations_for_share: 5   # ...once at least this many are revoked there
  empty_vendor_min_accounts: 10  # a sync returning 0 accounts where there were 10+ is refused
""",
    "approvers.yaml": POLICY_HEADER
    + """\
# Who may approve a pull request's changes. Every rule that matches a change must be satisfied; a
# change no rule matches needs `default_approval`. Nobody approves access for themselves, and
# revocations need no approval. Add rules per vendor and resource (see docs/approval.md).
default_approval:
  minimum: 1                 # any reviewer other than the author

approvers: {}
""",
    "controls.yaml": POLICY_HEADER
    + """\
# Controls checked by `access validate` and `access plan`; an `error` blocks apply. Start with the
# examples below commented out, import, then turn them on once the findings are understood.
expiry_warnings:
  within_days: 30            # assignments lapsing within 30 days are listed in every plan

# separation_of_duties:
#   expense-duties:
#     description: whoever approves expense reports must not also process (pay) them
#     conflicting:
#       - {vendor: concur, resource_type: role, resource: EXP_APPROVER}
#       - {vendor: concur, resource_type: role, resource: EXP_PROCESSOR}
#
# privileged:
#   admin-roles:
#     description: administrator roles are granted for a ticket and for at most 90 days
#     entitlements:
#       - {vendor: pingone, resource_type: role, resource: Environment Admin}
#     max_days: 90
#     reason_pattern: '^(SEC|IT)-\\d+$'
""",
}

GITIGNORE = """\
# access: local sandbox state, journals and plan files
.access-sandbox/
.access/
plan.json
"""

ACCESS_README = """\
# access/

The YAML here says who has which access at each vendor. Start with `access import` (it reads what the
vendors have today), then change access with pull requests. The schema line at the top of each file
lets an editor check and complete it.
"""

NEXT_STEPS = """\
next steps:
  1. access import --sandbox        try it on the simulated vendors first (or: access import --vendor procore)
  2. access validate && access plan --sandbox    the plan right after an import shows no changes
  3. set the vendor credentials (docs/adopting.md), run `access doctor`, then `access import` for real
  4. replace @your-org/security in .github/CODEOWNERS; commit everything, push, protect main
  5. set the first apply point once (docs/adopting.md): access apply-point set <commit in force>
"""


@dataclass
class _Report:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    upgraded: list[tuple[str, str, str]] = field(default_factory=list)  # path, before, after
    changed_here: list[tuple[str, str, str]] = field(default_factory=list)  # kept: the company's edit
    removed_here: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _release_number(version: str) -> tuple[int, ...]:
    """`0.10.2` -> (0, 10, 2): enough to tell an older release from a newer one."""
    return tuple(int(part) for part in re.findall(r"(?:^|\.)(\d+)", version.split("+")[0]))


def _lock(ctx: AppContext, index_url: str | None, *, upgrade: bool) -> tuple[str | None, str]:
    """The adopter's lock and a note; None (and why) when this access cannot pin itself."""
    from reconciler import package_index

    installed = release.installation()
    if index_url is None and not installed.from_index:
        why = (
            f"{release.LOCK_NAME} not written: this access is {installed.describe()}, so the hashes of "
            f"{DISTRIBUTION} {__version__} as an index serves it are unknown; the workflows install from that "
            "file: run `access init --upgrade` with a released access (pip install access-reconciler), "
            "or pass --index-url to the index that serves this version"
        )
        if upgrade:
            raise AccessError(why)
        return None, why
    index = index_url or ctx.env.get("PIP_INDEX_URL") or package_index.PYPI
    hashes = package_index.release_hashes(index, DISTRIBUTION, __version__)
    text = release.adopter_lock(release.release_lock(), __version__, list(hashes.values()))
    return (
        text,
        f"{release.LOCK_NAME}: {DISTRIBUTION} {__version__} as {package_index.shown(index)} serves it",
    )


def managed_files(lock: str | None) -> dict[str, str]:
    """path -> text of each file the release manages in an adopter's repository."""
    files: dict[str, str] = {}
    for source in sorted(require_dir("workflows").glob("*.yml")):
        if source.name in init_files.NOT_SHIPPED:
            continue
        text = source.read_text(encoding="utf-8")
        files[f".github/workflows/{source.name}"] = init_files.adopter_workflow(source.name, text)
    for source in sorted(require_dir("issue_templates").glob("*.yml")):
        files[f".github/ISSUE_TEMPLATE/{source.name}"] = source.read_text(encoding="utf-8")
    files[".github/dependabot.yml"] = init_files.DEPENDABOT
    files[".pre-commit-config.yaml"] = init_files.precommit_config(__version__)
    for name in schema_cmd.SCHEMAS:
        files[f"schema/{name}"] = schema_cmd.render(name)
    if lock is not None:
        files[release.LOCK_NAME] = lock
    return files


def scaffold_files() -> dict[str, str]:
    """path -> text of each file written once, the company's from then on."""
    files = {"access/README.md": ACCESS_README}
    files |= {f"policies/{name}": text for name, text in POLICIES.items()}
    files["policies/recertification.yaml"] = init_files.RECERTIFICATION
    files[".github/CODEOWNERS"] = init_files.CODEOWNERS
    return files


def _read_manifest(repo: Path) -> Manifest:
    path = repo / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        return Manifest.parse(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AccessError(
            f"{MANIFEST}: cannot read what access init wrote ({exc}); restore it from git"
        ) from None


def _diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _managed(
    path: str, new: str, current: str | None, manifest: Manifest, report: _Report, *, upgrade: bool
) -> str | None:
    """What to write at `path` (None: leave it), noting why in `report` and `manifest`."""
    recorded = path in manifest.files
    if current is None:
        if upgrade and recorded:
            report.removed_here.append(path)
            return None
        manifest.files[path] = init_files.digest(new)
        report.written.append(path)
        return new
    if current == new:
        manifest.files[path] = init_files.digest(new)
        return None
    if recorded and manifest.unchanged(path, current):
        if not upgrade:
            report.kept.append(path)
            return None
        merged = init_files.keep_newer_pins(current, new)
        manifest.files[path] = init_files.digest(merged)
        if merged == current:
            return None
        report.upgraded.append((path, current, merged))
        return merged
    if upgrade:
        report.changed_here.append((path, current, new))
    else:
        report.kept.append(path)
    return None


def _gitignore(current: str | None) -> str | None:
    if current is None:
        return GITIGNORE
    missing = [line for line in GITIGNORE.splitlines() if line and line not in current.splitlines()]
    if not missing:
        return None
    return current.rstrip("\n") + "\n" + "\n".join(missing) + "\n"


def run(
    ctx: AppContext, *, upgrade: bool = False, index_url: str | None = None, dry_run: bool = False
) -> int:
    repo = ctx.repo
    manifest = _read_manifest(repo)
    if manifest.version and _release_number(manifest.version) > _release_number(__version__):
        raise AccessError(
            f"{MANIFEST}: the files were written by access {manifest.version}, newer than this access "
            f"{__version__}; install access-reconciler=={manifest.version} (or later) first"
        )
    report = _Report()
    lock, lock_note = _lock_or_problem(ctx, index_url, upgrade=upgrade, report=report)
    writes: dict[str, str] = {}

    def read(path: str) -> str | None:
        file = repo / path
        return file.read_text(encoding="utf-8") if file.is_file() else None

    for path, text in managed_files(lock).items():
        chosen = _managed(path, text, read(path), manifest, report, upgrade=upgrade)
        if chosen is not None:
            writes[path] = chosen
    if not upgrade:
        for path, text in scaffold_files().items():
            if read(path) is None:
                writes[path] = text
                report.written.append(path)
            else:
                report.kept.append(path)
        gitignore = _gitignore(read(".gitignore"))
        if gitignore is not None:
            writes[".gitignore"] = gitignore
            report.written.append(".gitignore")
    if writes or not (repo / MANIFEST).is_file():
        manifest.version = __version__
        writes[MANIFEST] = manifest.dump()
    if not dry_run:
        for path, text in writes.items():
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    _show(ctx, report, lock_note, upgrade=upgrade, dry_run=dry_run)
    if report.problems:
        raise AccessError("\n".join(report.problems))
    return 0


def _lock_or_problem(
    ctx: AppContext, index_url: str | None, *, upgrade: bool, report: _Report
) -> tuple[str | None, str]:
    try:
        return _lock(ctx, index_url, upgrade=upgrade)
    except AccessError as exc:
        if upgrade:
            raise
        report.problems.append(f"{release.LOCK_NAME} not written: {exc.message}")
        return None, ""


def _show(ctx: AppContext, report: _Report, lock_note: str, *, upgrade: bool, dry_run: bool) -> None:
    out = ctx.output
    verb = "would write" if dry_run else "wrote"
    for path in report.written:
        out.result(f"{verb} {path}")
    for path, before, after in report.upgraded:
        out.result(f"{'would upgrade' if dry_run else 'upgraded'} {path}")
        out.raw(_diff(path, before, after))
    for path, before, after in report.changed_here:
        out.result(
            f"kept {path}: changed here since access init wrote it (or not written by it); "
            f"this release's version differs, merge by hand:"
        )
        out.raw(_diff(path, before, after))
    for path in report.removed_here:
        out.info(f"left out {path}: removed here since access init wrote it")
    for path in report.kept:
        out.info(f"kept {path} (exists)")
    if lock_note:
        out.info(lock_note)
    if upgrade:
        changed = len(report.upgraded) + len(report.written)
        out.result(
            f"access {__version__}: {changed} file(s) {'to upgrade' if dry_run else 'upgraded'}, "
            f"{len(report.changed_here)} kept with changes of yours"
        )
    else:
        out.info(NEXT_STEPS.rstrip("\n"))
