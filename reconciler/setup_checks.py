"""`access doctor`'s verdicts (pure): one `Check` per thing to set up, from facts read elsewhere.

The GitHub half judges what the approval gate relies on: the two deployment environments allow only
the default branch; every secret their jobs use is set there (and not where any branch's workflow
could read it); CODEOWNERS covers `policies/`. The default branch's rules are judged in
`reconciler/branch_rules.py`. Each ✗ says what to change, and where.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler import codeowners

ENVIRONMENTS = ("access-read", "access-apply")
VENDOR_PREFIXES = {"procore": "PROCORE_", "concur": "CONCUR_", "pingone": "PINGONE_"}
_SECRET_REF = re.compile(
    r"""secrets(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\])"""
)
AUTOMATIC = frozenset({"GITHUB_TOKEN"})  # GitHub provides it to every job
PLACEHOLDER = "@your-org/"  # the owner `access init` writes into CODEOWNERS, to be replaced


@dataclass(frozen=True, slots=True)
class Check:
    area: str  # a vendor, or "github"
    name: str
    ok: bool
    detail: str  # what was found (✓) or what to do (✗)

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.area}: {self.name}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {"area": self.area, "check": self.name, "ok": self.ok, "detail": self.detail}


# ---------------------------------------------------------------- workflows -> secrets


def environment_secrets(workflows: Mapping[str, str]) -> dict[str, dict[str, list[str]]]:
    """environment -> secret -> the workflow files whose jobs in that environment use it.

    `workflows` maps a file name to its text. A job's environment is `environment: NAME` or
    `environment: {name: NAME}`; its secrets are every `secrets.NAME` (or `secrets['NAME']`) in it.
    """
    found: dict[str, dict[str, list[str]]] = {}
    for file, text in sorted(workflows.items()):
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        jobs = document.get("jobs") if isinstance(document, dict) else None
        for job in (jobs or {}).values() if isinstance(jobs, dict) else ():
            if not isinstance(job, dict):
                continue
            environment = job.get("environment")
            if isinstance(environment, dict):
                environment = environment.get("name")
            if not isinstance(environment, str) or "${{" in environment:
                continue
            for match in _SECRET_REF.finditer(json.dumps(job)):
                name = (match.group(1) or match.group(2)).upper()
                if name not in AUTOMATIC:
                    users = found.setdefault(environment, {}).setdefault(name, [])
                    if file not in users:
                        users.append(file)
    return found


def needed(secrets: Mapping[str, list[str]], vendors: Iterable[str]) -> dict[str, list[str]]:
    """The secrets of `vendors` (a vendor's secrets start with its prefix) and those of no vendor."""
    others = tuple(p for v, p in VENDOR_PREFIXES.items() if v not in set(vendors))
    return {name: files for name, files in secrets.items() if not name.startswith(others)}


def secrets_check(
    environment: str,
    wanted: Mapping[str, list[str]],
    in_environment: set[str],
    in_repository: set[str],
    in_organization: set[str],
) -> Check:
    name = f"secrets of {environment}"
    if not wanted:
        return Check("github", name, True, "its workflows use no secret")
    shared = sorted(n for n in wanted if n not in in_environment and n in in_repository | in_organization)
    missing = sorted(n for n in wanted if n not in in_environment and n not in shared)
    if not shared and not missing:
        return Check(
            "github",
            name,
            True,
            f"all {len(wanted)} secrets its jobs use are set: {', '.join(sorted(wanted))}",
        )
    problems = []
    if missing:
        files = sorted({f for n in missing for f in wanted[n]})
        problems.append(
            f"missing {', '.join(missing)} (used by {', '.join(files)}): add them as secrets of the "
            f"{environment} environment (Settings > Environments > {environment})"
        )
    if shared:
        problems.append(
            f"{', '.join(shared)} {'is' if len(shared) == 1 else 'are'} set for the whole repository or "
            f"organization, where a workflow on any branch can read {'it' if len(shared) == 1 else 'them'}: "
            f"move {'it' if len(shared) == 1 else 'them'} to the {environment} environment"
        )
    return Check("github", name, False, "; ".join(problems))


# ---------------------------------------------------------------- environments


def environment_check(
    name: str, environment: Mapping[str, Any] | None, policies: Sequence[Mapping[str, Any]], branch: str
) -> Check:
    """Only `branch` may deploy to the environment: a custom deployment branch policy naming exactly it."""
    label = f"environment {name}"
    how = (
        f"set Deployment branches and tags to 'Selected branches and tags' with the one branch rule {branch}"
    )
    if environment is None:
        return Check(
            "github", label, False, f"does not exist: create it (Settings > Environments), then {how}"
        )
    policy = environment.get("deployment_branch_policy")
    if not isinstance(policy, Mapping):
        return Check(
            "github", label, False,
            f"any branch may deploy to it, so a workflow pushed to any branch gets its secrets: {how}",
        )  # fmt: skip
    if policy.get("protected_branches"):
        return Check(
            "github", label, False, f"every protected branch may deploy to it, not only {branch}: {how}"
        )
    rules = [(str(p.get("name", "")), str(p.get("type") or "branch")) for p in policies]
    if rules == [(branch, "branch")]:
        return Check("github", label, True, f"only {branch} may deploy to it")
    others = [
        f"{'tag ' if kind == 'tag' else ''}{pattern}"
        for pattern, kind in rules
        if (pattern, kind) != (branch, "branch")
    ]
    if (branch, "branch") not in rules:
        listed = ", ".join(others) or "nothing"
        return Check("github", label, False, f"{branch} may not deploy to it (allowed: {listed}): {how}")
    return Check(
        "github",
        label,
        False,
        f"{', '.join(others)} may deploy to it too: remove {'it' if len(others) == 1 else 'them'}, keep only {branch}",
    )


# ---------------------------------------------------------------- CODEOWNERS


def codeowners_check(
    found: tuple[str, str] | None, paths: Sequence[str], review_required: bool, branch: str
) -> Check:
    """`found`: (where, text) of the CODEOWNERS GitHub reads; `paths`: files under policies/ (and a new one)."""
    if found is None:
        return Check(
            "github", "CODEOWNERS", False,
            f"there is none on {branch}: add .github/CODEOWNERS with a line such as "
            "`/policies/ @your-org/security`, and turn on 'Require review from Code Owners'",
        )  # fmt: skip
    where, text = found
    rules = codeowners.parse(text)
    owners: dict[tuple[str, ...], int] = {}
    unowned: list[str] = []
    for path in paths:
        decided = codeowners.owner_rule(rules, path)
        if decided is None or not decided.owners:
            unowned.append(path)
        else:
            owners.setdefault(decided.owners, decided.line)
    if unowned:
        return Check(
            "github", "CODEOWNERS", False,
            f"{where} leaves {', '.join(unowned)} without an owner: add a line such as "
            "`/policies/ @your-org/security` after the others (the last matching line wins)",
        )  # fmt: skip
    named = "; ".join(f"{' '.join(o)} ({where}:{line})" for o, line in owners.items())
    placeholders = sorted({o for found in owners for o in found if o.casefold().startswith(PLACEHOLDER)})
    if placeholders:
        return Check(
            "github", "CODEOWNERS", False,
            f"policies/ is owned by {', '.join(placeholders)}, the placeholder `access init` wrote: replace it "
            f"in {where} with the team that owns access policy",
        )  # fmt: skip
    if not review_required:
        return Check(
            "github", "CODEOWNERS", False,
            f"policies/ is owned by {named}, but their review is not required: turn on 'Require review "
            f"from Code Owners' in the {branch} ruleset",
        )  # fmt: skip
    return Check("github", "CODEOWNERS", True, f"policies/ is owned by {named}, whose review is required")
