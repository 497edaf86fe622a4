"""What every command gets from the global options."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.console import Output
from reconciler.errors import AccessError
from reconciler.settings import environment, now, today
from reconciler.vendors import VENDORS

if TYPE_CHECKING:
    from reconciler.github_local import GitHubEnv


@dataclass
class AppContext:
    repo: Path
    vendors: tuple[str, ...] | None = None  # --vendor filter; None = all in the YAML
    output: Output = field(default_factory=Output)
    env: Mapping[str, str] = field(default_factory=environment)
    # What the command keeps until the process ends (`retain`); the CLI's entry point owns the list.
    retained: list[object] = field(default_factory=list, repr=False)
    _github: tuple[Path, GitHubEnv] | None = field(default=None, repr=False, compare=False)

    def retain(self, *records: object) -> None:
        """Keep `records` alive to the end of the process: the console script then exits without
        freeing them one by one (a million grants take most of a second to free; the operating
        system takes the whole process back at once). In tests nothing is different."""
        self.retained.extend(records)

    def __post_init__(self) -> None:
        if self.vendors:
            unknown = [v for v in self.vendors if v not in VENDORS]
            if unknown:
                raise AccessError(f"--vendor: unknown vendor {unknown[0]!r}; known: {', '.join(VENDORS)}")

    def github(self) -> GitHubEnv:
        """GitHub's settings: the environment's, completed from the origin remote and `gh auth token`
        where unset (`reconciler.github_local`); asked once per repository and run."""
        if self._github is None or self._github[0] != self.repo:
            from reconciler.github_local import complete

            self._github = (self.repo, complete(self.env, self.repo))
        return self._github[1]

    @property
    def today(self) -> dt.date:
        return today(self.env)

    @property
    def now(self) -> dt.datetime:
        return now(self.env)
