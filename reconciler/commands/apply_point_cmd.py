"""`access apply-point show|set`: read or (as an administrator holding the key) sign the apply point.

`show` verifies the signature and prints the commit. `set COMMIT` signs COMMIT with
`ACCESS_APPLY_POINT_KEY` (or the sandbox key with `--sandbox`) and prints how to push the ref; it
is how the first apply point is set, and how an administrator who has checked a direct push (or a
history rewrite) lets apply move on.
"""

from __future__ import annotations

from reconciler import apply_point, gate
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source


def show(ctx: AppContext, source: Source) -> int:
    repo = gate.open_repo(ctx.repo)
    point = apply_point.read(repo, gate.signing_key(ctx, source), gate.repository_identity(ctx, source))
    if point is None:
        ctx.output.result(
            f"no apply point ({apply_point.REF}); set one with `access apply-point set <commit>`"
        )
        return 1
    subject = str(repo.commit(point.sha).summary)
    ctx.output.result(f"{point.sha}  {subject}")
    ctx.output.info(f"{apply_point.REF} → tag {point.tag[:12]}, signature valid")
    _, held, _ = gate.read_ledger(point.ledger)
    for record in held.values():
        ctx.output.info(f"  held: {record.edit} (rule {record.rule}, landed in {record.commit[:7]})")
    return 0


def set_point(ctx: AppContext, source: Source, commit: str) -> int:
    repo = gate.open_repo(ctx.repo)
    key = gate.signing_key(ctx, source)
    repository = gate.repository_identity(ctx, source)
    gate.record_apply_point(repo, commit, key, repository)
    point = apply_point.read(repo, key, repository)
    assert point is not None
    ctx.output.result(f"apply point {apply_point.REF} set to {point.sha} (signed)")
    if not source.sandbox:
        ctx.output.info(f"publish it: git push origin +{apply_point.REF}:{apply_point.REF}")
    return 0
