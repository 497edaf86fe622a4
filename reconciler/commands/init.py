"""`access init`: scaffold a repository that manages access: access/, policies/ with safe defaults,
the three workflows, the JSON Schemas and a .gitignore. Existing files are kept, never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.commands import schema as schema_cmd
from reconciler.commands.context import AppContext
from reconciler.resources import require_dir

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
  4. commit, push, protect main, then set the first apply point once (docs/approval.md):
     ACCESS_APPLY_POINT_KEY=... access apply-point set <commit in force>
     git push origin +refs/access/applied:refs/access/applied
"""


def _write(path: Path, text: str, created: list[Path], kept: list[Path]) -> None:
    if path.exists():
        kept.append(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    created.append(path)


def run(ctx: AppContext) -> int:
    repo = ctx.repo
    created: list[Path] = []
    kept: list[Path] = []
    _write(repo / "access" / "README.md", ACCESS_README, created, kept)
    for name, text in POLICIES.items():
        _write(repo / "policies" / name, text, created, kept)
    workflows = require_dir("workflows")
    for source in sorted(workflows.glob("*.yml")):
        _write(
            repo / ".github" / "workflows" / source.name, source.read_text(encoding="utf-8"), created, kept
        )
    for name in schema_cmd.SCHEMAS:
        _write(repo / "schema" / name, schema_cmd.render(name), created, kept)
    gitignore = repo / ".gitignore"
    if gitignore.exists():
        current = gitignore.read_text(encoding="utf-8")
        missing = [line for line in GITIGNORE.splitlines() if line and line not in current.splitlines()]
        if missing:
            gitignore.write_text(current.rstrip("\n") + "\n" + "\n".join(missing) + "\n", encoding="utf-8")
            created.append(gitignore)
    else:
        _write(gitignore, GITIGNORE, created, kept)
    for path in created:
        ctx.output.result(f"wrote {path.relative_to(repo).as_posix()}")
    for path in kept:
        ctx.output.info(f"kept {path.relative_to(repo).as_posix()} (exists)")
    ctx.output.info(NEXT_STEPS.rstrip("\n"))
    return 0
