"""The one place that owns output: results on stdout, diagnostics and progress on stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.control import strip_control_codes
from rich.text import Text

from reconciler.scrub import scrub

if TYPE_CHECKING:
    from rich.progress import Progress


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


CHUNK = 1 << 22  # characters


def write_chunks(write: Callable[[str], object], text: str) -> None:
    """`write(text)`, four mebibytes at a time: a text file encodes what it is given in one piece,
    and a plan file of 70 MB would be encoded into a fresh 70 MB of memory (the operating system's
    page faults cost more than the encoding), where a chunk's memory is reused by the next."""
    if len(text) <= CHUNK:
        write(text)
        return
    for start in range(0, len(text), CHUNK):
        write(text[start : start + CHUNK])


def no_color_wanted(env: Mapping[str, str], flag: bool = False) -> bool:
    """`--no-color`, or `NO_COLOR` set to anything but the empty string (https://no-color.org)."""
    return flag or bool(env.get("NO_COLOR", ""))


@dataclass
class Output:
    """Every message passes the run's scrubber on its way out. With `no_color`, nothing is coloured
    or styled, on a terminal or not."""

    quiet: bool = False
    annotations: bool = False  # in GitHub Actions: problems also as ::error file=…,line=…:: commands
    out: Console = None  # type: ignore[assignment]  # made in __post_init__ unless given
    err: Console = None  # type: ignore[assignment]
    no_color: bool = False
    _warned: set[str] = field(default_factory=set, repr=False)
    _plain_out: bool | None = field(default=None, repr=False)  # stdout takes no styles: asked once

    def __post_init__(self) -> None:
        plain = {"no_color": True, "color_system": None} if self.no_color else {}
        if self.out is None:
            self.out = Console(soft_wrap=True, highlight=False, **plain)
        if self.err is None:
            self.err = Console(stderr=True, soft_wrap=True, highlight=False, **plain)

    def result(self, markup: str) -> None:
        text = scrub(markup)
        if self._plain():
            # What rich writes for a pipe or a file (no colour, no wrapping), made in a fifth of the
            # time: apply --dry-run prints a line per change, 20,000 of them at 100,000 people.
            file, line = self.out.file, Text.from_markup(text)
            if "\t" in line.plain:
                line.expand_tabs(self.out.tab_size)
            file.write(strip_control_codes(line.plain) + "\n")
            file.flush()
            return
        self.out.print(text)

    def _plain(self) -> bool:
        if self._plain_out is None:
            self._plain_out = self.out.color_system is None and not self.out.is_terminal
        return self._plain_out

    def raw(self, text: str) -> None:
        """Exactly `text` on stdout (JSON, markdown): no markup, no wrapping."""
        write_chunks(sys.stdout.write, scrub(text))
        sys.stdout.flush()

    def info(self, markup: str) -> None:
        if not self.quiet:
            self.err.print(scrub(markup))

    def warn(self, message: str, *, once: bool = False) -> None:
        """A warning on stderr that --quiet does not hide (e.g. credentials going to an undocumented
        host); with `once`, not again in this run."""
        if once:
            if message in self._warned:
                return
            self._warned.add(message)
        self.err.print(f"warning: {message}", markup=False, style="yellow")

    def error(self, message: str) -> None:
        self.err.print(scrub(message), markup=False, style="red")

    def annotate(self, level: str, source: str, message: str) -> None:
        """A GitHub Actions workflow command, so the problem shows on the pull request's diff at
        `source` (`file:line`). Written to stderr (the runner reads both streams), so that
        `--format json` keeps stdout for JSON; nothing outside GitHub Actions."""
        if not self.annotations:
            return
        command = {"error": "error", "warning": "warning"}.get(level, "notice")
        file, _, line = source.rpartition(":")
        where = f" file={_escape_property(file)},line={line}" if file and line.isdigit() else ""
        if not where and source:
            where = f" file={_escape_property(source)}"
        sys.stderr.write(f"::{command}{where}::{_escape_data(message)}\n")
        sys.stderr.flush()

    @property
    def plain_progress(self) -> bool:
        """Progress as plain lines instead of a spinner: stderr is no terminal (a CI log), no --quiet."""
        return not self.quiet and not self.err.is_terminal

    def progress_line(self, text: str) -> None:
        """One plain progress line on stderr (never with --quiet)."""
        if not self.quiet:
            self.err.print(scrub(text), markup=False)

    @contextmanager
    def progress(self, description: str) -> Iterator[Progress | None]:
        """A transient spinner on stderr, only for a terminal and without --quiet."""
        if self.quiet or not self.err.is_terminal:
            yield None
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # only for a spinner

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        ) as progress:
            progress.add_task(scrub(description), total=None)
            yield progress


LOGGER = "reconciler"


class _ConsoleLog(logging.Handler):
    """Log records as plain lines on stderr, passed through `scrub` (secrets from the environment)."""

    def __init__(self, output: Output, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self._output = output
        self._scrub = scrub

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self._scrub(record.getMessage())
        except Exception:  # a broken log line must not end the run
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self._output.err.print(f"warning: {text}", markup=False, style="yellow")
        else:
            self._output.err.print(text, markup=False, style="dim")


def configure_logging(
    output: Output, env: Mapping[str, str], *, verbose: bool, scrub: Callable[[str], str]
) -> None:
    """Warnings (a rate-limit wait) on stderr; with --verbose or ACCESS_LOG=debug, every request too
    (vendor, method, path, status, time, retry reason; never headers, query strings or bodies)."""
    debug = verbose or env.get("ACCESS_LOG", "").strip().lower() == "debug"
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, _ConsoleLog)]:
        logger.removeHandler(handler)
    logger.addHandler(_ConsoleLog(output, scrub))
    logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.ERROR if output.quiet else logging.WARNING)
