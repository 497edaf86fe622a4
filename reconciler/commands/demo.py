"""`access demo`: the approval gate at work, in a temporary repository.

The walkthrough lives in `reconciler/sandbox/demo.py`: it drives the simulated GitHub and vendors,
and the sandbox is the one place that knows the simulators. Imported on use, so that loading the
CLI loads no simulator.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.commands.context import AppContext


def run(ctx: AppContext, *, keep: Path | None = None) -> int:
    from reconciler.sandbox import demo

    return demo.run(ctx, keep=keep)
