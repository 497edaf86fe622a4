"""Build step: copy the example repository, the workflows, the issue template and the lock into the
wheel as package data.

They live at the repository root (`access/`, `policies/`, `.github/`, `requirements.lock`) where
people read and edit them; an installed `access` needs them for `access demo` and `access init`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = {  # destination under reconciler/data -> (source directory, file patterns)
    "example/access": ("access", ("*.yaml",)),
    "example/policies": ("policies", ("*.yaml",)),
    "workflows": (".github/workflows", ("*.yml",)),
    "issue_templates": (".github/ISSUE_TEMPLATE", ("*.yml",)),
    "lock": (".", ("requirements.lock",)),  # `access init` pins the dependencies as this release does
}
# This repository's own workflows, which `access init` does not write into a company's repository
# (reconciler/init_files.py NOT_SHIPPED says the same; tests/test_release.py checks they agree).
NOT_SHIPPED = {".github/workflows/release.yml"}


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        for target, (source, patterns) in DATA.items():
            destination = Path(self.build_lib) / "reconciler" / "data" / target
            destination.mkdir(parents=True, exist_ok=True)
            for pattern in patterns:
                for path in sorted((ROOT / source).glob(pattern)):
                    if path.relative_to(ROOT).as_posix() not in NOT_SHIPPED:
                        shutil.copy2(path, destination / path.name)


setup(cmdclass={"build_py": BuildWithData})
