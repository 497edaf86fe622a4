"""Files the package ships: the example repository (for `access demo`), and the workflows, the
issue template and the release's lock (for `access init`).

An installed wheel carries them under `reconciler/data/` (copied there by `setup.py` at build time);
a source checkout reads them where they live in the repository.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import AccessError

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent

# data name -> where it lives in a checkout (relative to the repository root)
SOURCES: dict[str, str] = {
    "example": ".",  # holds access/ and policies/
    "workflows": ".github/workflows",
    "issue_templates": ".github/ISSUE_TEMPLATE",
    "lock": ".",  # requirements.lock
}


def data_dir(name: str) -> Path:
    """The directory of packaged data `name`: from the wheel, else from the source checkout."""
    packaged = PACKAGE / "data" / name
    if packaged.is_dir():
        return packaged
    checkout = CHECKOUT / SOURCES[name]
    marker = {"example": "access", "lock": "requirements.lock"}.get(name)
    if checkout.is_dir() and (marker is None or (checkout / marker).exists()):
        return checkout
    return packaged  # absent: the caller says what is missing


def require_dir(name: str) -> Path:
    found = data_dir(name)
    if not found.is_dir():
        raise AccessError(f"this installation lacks its {name} files ({found}); reinstall access-reconciler")
    return found
