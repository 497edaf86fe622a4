"""What `access init` writes into an adopter's repository, and the record of it.

Two kinds of files:
- **managed**: the workflows, the issue template, `requirements-access.lock`, the JSON Schemas,
  the dependabot and pre-commit configurations. They belong to the release: `access init --upgrade`
  rewrites each one that nobody changed since init wrote it, and keeps (and diffs) the others.
- **scaffold**: `access/README.md`, `policies/*.yaml`, `.github/CODEOWNERS`: written once, the
  company's from then on.

`.github/access-init.json` records the sha256 of each managed file as written (so it is committed,
reviewed with the workflows, and known to every clone). The hash ignores the commit an action is
pinned to, so that dependabot moving a pin is not a change of the company's. Pure.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from reconciler.release import LOCK_NAME, SOURCE_URL

MANIFEST = ".github/access-init.json"
# Workflows of this repository alone (setup.py leaves them out of the wheel too).
NOT_SHIPPED = frozenset({"release.yml"})
FORMAT = 1

# The workflows in this repository install the checkout they run in; an adopter's install the release.
INSTALL_FROM_SOURCE = (
    "python -m pip install --require-hashes --no-deps -r requirements.lock",
    "python -m pip install --no-deps --no-build-isolation .",
)
INSTALL_RELEASE = f"python -m pip install --require-hashes --no-deps -r {LOCK_NAME}"
_INSTALL_BLOCK = re.compile(
    r"^(?P<indent>[ \t]+)"
    + re.escape(INSTALL_FROM_SOURCE[0])
    + r"\n[ \t]+"
    + re.escape(INSTALL_FROM_SOURCE[1]),
    re.MULTILINE,
)
_PIN = re.compile(
    r"(uses:\s*)(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})(?P<rest>\s*#\s*(?P<tag>v[\w.]+))?"
)


def adopter_workflow(name: str, text: str) -> str:
    """A workflow of this repository as an adopter's: it installs the release from the lock."""
    replaced, count = _INSTALL_BLOCK.subn(lambda m: m["indent"] + INSTALL_RELEASE, text)
    if count == 0 and "pip install" in text:
        raise ValueError(f"{name}: no install step of the expected form to point at {LOCK_NAME}")
    return replaced


def precommit_config(version: str) -> str:
    return f"""\
# pre-commit (https://pre-commit.com): `access validate` before each commit, from access {version}.
# Written by `access init`; `access init --upgrade` moves `rev` to the release it runs as.
repos:
  - repo: {SOURCE_URL}
    rev: v{version}
    hooks:
      - id: access-validate
"""


DEPENDABOT = """\
# Dependabot keeps the actions the access workflows pin (full commit SHAs) current, as pull requests
# that the plan and validate checks and your reviewers see. access itself is upgraded with
# `access init --upgrade` (it rewrites requirements-access.lock and the workflows it manages).
version: 2
updates:
  - package-ecosystem: github-actions
    directory: /
    schedule:
      interval: weekly
    groups:
      actions:
        patterns: ["*"]
"""

CODEOWNERS = """\
# Who must review what (Settings -> Rules: require review from Code Owners on main). Replace
# @your-org/security with the team that owns access policy: approver rules, the workflows and the
# lock that decides which access runs with the vendors' credentials (docs/adopting.md, section 4).
/policies/ @your-org/security
/.github/ @your-org/security
/requirements-access.lock @your-org/security
"""

RECERTIFICATION = """\
# yaml-language-server: $schema=../schema/policies.schema.json
#
# How often access must be re-approved by its owners (`access recertify`, the weekly recertify
# workflow). A line is due `every_days` after its `certified` day (or, without one, after the commit
# that last wrote it); its owner (whom the approver rules name for it) gets ONE pull request setting
# `certified` on each line due, and deletes what is no longer needed. Not re-approved `grace_days`
# later, the line gets an `expires` through the same pull request. See docs/policies.md.
recertification:
  admin-roles:
    description: PingOne administrator roles are re-approved every 90 days
    match: {vendor: pingone, resource_type: role}
    every_days: 90
    grace_days: 14

  # finance:
  #   description: Concur roles, twice a year
  #   match: {vendor: concur, resource_type: role}
  #   every_days: 180
  #   grace_days: 30
  #
  # projects:
  #   description: Procore project access, once a year
  #   match: {vendor: procore, resource_type: project}
  #   every_days: 365
  #   grace_days: 30
"""


def _unpinned(text: str) -> str:
    """The text with every action's commit and release comment blanked: what a pin bump leaves alone."""
    return _PIN.sub(lambda m: f"{m[1]}{m['action']}@*", text)


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(_unpinned(text).encode("utf-8")).hexdigest()


def _release(tag: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", tag or ""))


def keep_newer_pins(current: str, new: str) -> str:
    """`new`, with each action pinned as `current` pins it where that is a later release (dependabot
    moved it on since the release was made): an upgrade never moves an action back."""
    theirs = {m["action"]: m for m in _PIN.finditer(current)}

    def pick(m: re.Match[str]) -> str:
        other = theirs.get(m["action"])
        if other is not None and _release(other["tag"]) > _release(m["tag"]):
            return f"{m[1]}{m['action']}@{other['sha']}{other['rest'] or ''}"
        return m[0]

    return _PIN.sub(pick, new)


@dataclass
class Manifest:
    """`.github/access-init.json`: the release that wrote the managed files, and their hashes."""

    version: str = ""
    files: dict[str, str] = field(default_factory=dict)  # path -> digest() as written

    @classmethod
    def parse(cls, text: str) -> Manifest:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise ValueError("not an access init record")
        return cls(str(data.get("access", "")), {str(k): str(v) for k, v in data["files"].items()})

    def dump(self) -> str:
        data = {
            "format": FORMAT,
            "about": "Written by `access init`: the files it manages, as it wrote them (sha256, action "
            "pins ignored). `access init --upgrade` rewrites only files that still match.",
            "access": self.version,
            "files": dict(sorted(self.files.items())),
        }
        return json.dumps(data, indent=2) + "\n"

    def unchanged(self, path: str, text: str) -> bool:
        """True when `path` is as init wrote it (action pins aside)."""
        return self.files.get(path) == digest(text)
