"""`access sandbox reset`: restore the built-in vendors to their seed state."""

from __future__ import annotations

from reconciler import sandbox
from reconciler.commands.context import AppContext
from reconciler.vendors import VENDORS


def reset(ctx: AppContext) -> int:
    vendors = ctx.vendors or VENDORS
    directory = sandbox.reset(ctx.repo, vendors)
    ctx.output.result(f"sandbox reset: {', '.join(vendors)} seeded in {directory}")
    return 0
