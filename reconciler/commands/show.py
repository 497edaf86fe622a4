"""`access show PLAN_FILE`: a saved plan (`access plan --out`) rendered as `plan` would show it, without
asking any vendor (as `terraform show` does for a saved plan). What apply would do with it is another
question: apply re-syncs and refuses a plan that is stale."""

from __future__ import annotations

from pathlib import Path

from reconciler.changes import Plan
from reconciler.commands.context import AppContext
from reconciler.commands.formats import PlanFormat
from reconciler.errors import AccessError


def run(ctx: AppContext, plan_file: Path, *, fmt: PlanFormat) -> int:
    try:
        text = plan_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessError(f"{plan_file}: cannot read the plan file ({exc.strerror})") from None
    try:
        plan = Plan.loads(text)
    except AccessError as exc:
        raise AccessError(f"{plan_file}: {exc.message} (write one with `access plan --out FILE`)") from None
    if fmt == "text":
        from reconciler.render.text import render_text

        ctx.output.result(render_text(plan))
    elif fmt == "markdown":
        from reconciler.render.markdown import render_markdown

        ctx.output.raw(render_markdown(plan))
    else:
        ctx.output.raw(plan.dumps())
    return 0
