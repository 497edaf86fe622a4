"""The release this access is, and the lock that installs exactly it in an adopter's repository.

`access init` writes `requirements-access.lock`: the tool at its version and every runtime
dependency, each with its sha256 hashes, installed with `pip install --require-hashes --no-deps`.
The dependencies' hashes come from the release's own `requirements.lock` (shipped in the wheel); the
tool's own hashes cannot be in its own wheel, so they come from the package index that served it
(`package_index.py`). Pure, but for reading this installation's metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from reconciler.resources import require_dir
from reconciler.version import DISTRIBUTION, __version__

# Where the project lives: the pre-commit hook, the image and the release notes point here.
SOURCE_REPOSITORY = "access-reconciler/access"
SOURCE_URL = f"https://github.com/{SOURCE_REPOSITORY}"
IMAGE = f"ghcr.io/{SOURCE_REPOSITORY}"
LOCK_NAME = "requirements-access.lock"
LOCK_DATA = "lock"  # packaged data: the release's own requirements.lock
_NOT_INSTALLED = {"setuptools"}  # the release lock pins the build backend; installing wheels needs none
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)


def normalize(name: str) -> str:
    """PEP 503: `Ruamel.YAML` and `ruamel_yaml` are `ruamel-yaml`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Installation:
    """How the running access was installed, which decides what `access init` can pin."""

    kind: str  # "index": from a package index; "file": a wheel or sdist file; "source": a checkout
    where: str = ""

    @property
    def from_index(self) -> bool:
        return self.kind == "index"

    def describe(self) -> str:
        if self.kind == "file":
            return f"installed from the file {self.where}, not from a package index"
        return (
            f"a development build ({self.where or 'a source checkout'}), not a release from a package index"
        )


def installation() -> Installation:
    """From the installer's record (PEP 610, PEP 376): an install from an index leaves no
    `direct_url.json`; a file or a directory (editable or not) does. Code imported from elsewhere than the installed distribution
    (a checkout on PYTHONPATH) is a development build whatever is installed."""
    package = Path(__file__).resolve().parent
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        return Installation("source", str(package.parent))
    if dist.version != __version__:
        return Installation("source", str(package.parent))
    installed = Path(str(dist.locate_file("reconciler"))).resolve()
    if installed != package:
        return Installation("source", str(package.parent))
    if not dist.read_text("INSTALLER"):  # an .egg-info a build left in a source tree
        return Installation("source", str(package.parent))
    text = dist.read_text("direct_url.json")
    if not text:
        return Installation("index")
    try:
        record = json.loads(text)
    except ValueError:
        return Installation("source", str(package.parent))
    url = str(record.get("url", ""))
    if "archive_info" in record:
        return Installation("file", url.removeprefix("file://"))
    return Installation("source", url.removeprefix("file://"))


def release_lock() -> str:
    """The release's own requirements.lock (every runtime dependency, hash-pinned)."""
    return (require_dir(LOCK_DATA) / "requirements.lock").read_text(encoding="utf-8")


def _entries(lock: str) -> list[tuple[str, str]]:
    """(normalized name, the entry's text) for each pinned requirement, comments dropped."""
    body = "\n".join(line for line in lock.splitlines() if not line.lstrip().startswith("#"))
    starts = [m.start() for m in _ENTRY.finditer(body)]
    out: list[tuple[str, str]] = []
    for begin, end in zip(starts, [*starts[1:], len(body)], strict=True):
        text = body[begin:end].rstrip()
        name = _ENTRY.match(text)
        assert name is not None
        out.append((normalize(name["name"]), text))
    return out


def adopter_lock(lock: str, version: str, tool_hashes: list[str]) -> str:
    """`requirements-access.lock`: access at `version` with `tool_hashes`, then the release lock's
    runtime entries. Installed with `pip install --require-hashes --no-deps -r`."""
    if not tool_hashes:
        raise ValueError("the tool's own hashes are required")
    lines = [
        f"# access {version}: the tool and every dependency, hash-pinned. Written by `access init`;",
        "# `access init --upgrade` (run with the release you upgrade to) rewrites it. Installed with",
        f"#   python -m pip install --require-hashes --no-deps -r {LOCK_NAME}",
        f"{DISTRIBUTION}=={version} \\",
        *(f"    --hash=sha256:{h} \\" for h in sorted(tool_hashes)[:-1]),
        f"    --hash=sha256:{sorted(tool_hashes)[-1]}",
    ]
    for name, text in _entries(lock):
        if name not in _NOT_INSTALLED and name != DISTRIBUTION:
            lines.append(text)
    return "\n".join(lines) + "\n"


def pinned(lock: str) -> dict[str, str]:
    """name -> version of each entry of a lock (for the upgrade's summary and the tests)."""
    found: dict[str, str] = {}
    for name, text in _entries(lock):
        version = text.split("==", 1)[1].split()[0].rstrip("\\").strip()
        found[name] = version.split(";")[0].strip()
    return found
