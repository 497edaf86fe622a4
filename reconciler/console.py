"""The one place that owns output: results on stdout, diagnostics and progress on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from reconciler.scrub import scrub


@dataclass
class Output:
    quiet: bool = False
    out: Console = field(default_factory=lambda: Console(soft_wrap=True, highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True, highlight=False))

    """Every message passes the run's scrubber on its way out."""

    def result(self, markup: str) -> None:
        self.out.print(scrub(markup))

    def raw(self, text: str) -> None:
        """Exactly `text` on stdout (JSON, markdown): no markup, no wrapping."""
        sys.stdout.write(scrub(text))
        sys.stdout.flush()

    def info(self, markup: str) -> None:
        if not self.quiet:
            self.err.print(scrub(markup))

    def error(self, message: str) -> None:
        self.err.print(scrub(message), markup=False, style="red")

    @contextmanager
    def progress(self, description: str) -> Iterator[Progress | None]:
        """A transient spinner on stderr, only for a terminal and without --quiet."""
        if self.quiet or not self.err.is_terminal:
            yield None
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        ) as progress:
            progress.add_task(scrub(description), total=None)
            yield progress
