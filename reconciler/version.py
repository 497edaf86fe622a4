"""The version of access: the one place it is written.

pyproject.toml reads it from here (`[tool.setuptools.dynamic]`), so the wheel, the sdist, `access
--version`, the image's tag and the pins `access init` writes all come from this line; the release
workflow refuses a tag that differs from it and a CHANGELOG.md without its entry.
"""

from __future__ import annotations

__version__ = "0.1.0"

DISTRIBUTION = "access-reconciler"


def package_version() -> str:
    return __version__
