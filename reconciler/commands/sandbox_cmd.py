"""`access sandbox reset` (the built-in vendors back to their seed state) and `access sandbox serve`."""

from __future__ import annotations

import shlex
import threading
from contextlib import ExitStack

from reconciler import sandbox
from reconciler.commands.context import AppContext
from reconciler.gcpause import resumed_gc
from reconciler.hosts import ALLOW_ENV
from reconciler.vendors import VENDORS


def reset(ctx: AppContext) -> int:
    vendors = ctx.vendors or VENDORS
    directory = sandbox.reset(ctx.repo, vendors, everything=ctx.vendors is None)
    ctx.output.result(f"sandbox reset: {', '.join(vendors)} seeded in {directory}")
    return 0


def serve(ctx: AppContext, *, stop: threading.Event | None = None) -> int:
    """Serve the sandbox vendors on loopback until interrupted; print the variables that reach them.

    With those variables exported, `access plan` (no --sandbox) runs the live code path, over real
    HTTP, against the simulators.
    """
    vendors = ctx.vendors or VENDORS
    # absolute: the printed variables (CONCUR_TOKEN_FILE) must mean the same file from any directory
    directory = sandbox.state_dir(ctx.repo).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    stop = stop or threading.Event()
    with resumed_gc(), ExitStack() as stack:  # serves until interrupted: collect cycles
        allowed: list[str] = []
        for vendor in vendors:
            env = dict(stack.enter_context(sandbox.vendor_sandbox(vendor).loopback(directory)))
            allowed += [h for h in env.pop(ALLOW_ENV, "").split(",") if h]
            for key, value in env.items():
                ctx.output.raw(f"export {key}={shlex.quote(value)}\n")
        # the simulators are not documented vendor hosts: the explicit opt-in names each one
        ctx.output.raw(f"export {ALLOW_ENV}={shlex.quote(','.join(allowed))}\n")
        ctx.output.info("serving the sandbox vendors on 127.0.0.1; Ctrl-C stops (state is saved)")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0
