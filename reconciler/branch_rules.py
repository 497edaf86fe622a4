"""`access doctor --github`'s verdict on the default branch (pure): from the rules GitHub enforces on
it (`GET /rules/branches/{branch}`: every active ruleset's, the organization's included) and its
classic branch protection, one `Check` per thing the approval gate relies on: a pull request, at
least one approval, approvals dismissed by a push and covering the last push, branches up to date
with the required checks, no force push, no deletion. A ruleset in evaluate mode enforces nothing;
when one would satisfy a failing check, the ✗ says to activate it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.setup_checks import Check


def ref_matches(pattern: str, ref: str, default_branch: str) -> bool:
    """A ruleset's `ref_name` pattern against a full ref (`~ALL`, `~DEFAULT_BRANCH`, fnmatch)."""
    if pattern == "~ALL":
        return ref.startswith("refs/heads/")
    if pattern == "~DEFAULT_BRANCH":
        return ref == f"refs/heads/{default_branch}"
    body = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    return re.fullmatch(body, ref) is not None


@dataclass(frozen=True, slots=True)
class Ruleset:
    """What `GET /repos/{o}/{r}/rulesets/{id}` says of one ruleset (for naming and for hints)."""

    id: int
    name: str
    enforcement: str
    source_type: str = "Repository"
    rules: tuple[Mapping[str, Any], ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        kind = "organization ruleset" if self.source_type == "Organization" else "ruleset"
        return f"{kind} '{self.name}'"

    def targets(self, branch: str, default_branch: str) -> bool:
        ref = f"refs/heads/{branch}"
        return any(ref_matches(p, ref, default_branch) for p in self.include) and not any(
            ref_matches(p, ref, default_branch) for p in self.exclude
        )


@dataclass(frozen=True, slots=True)
class BranchFacts:
    branch: str
    rules: tuple[Mapping[str, Any], ...]  # GET /rules/branches/{branch}: what is enforced
    protection: Mapping[str, Any] | None  # classic branch protection, None when unprotected or unreadable
    rulesets: Mapping[int, Ruleset]  # by id: names, and the inactive ones that target the branch
    protection_note: str = ""  # why classic protection could not be read


@dataclass(frozen=True, slots=True)
class _Found:
    ok: bool
    source: str
    detail: str = ""


def _source(facts: BranchFacts, rule: Mapping[str, Any]) -> str:
    found = facts.rulesets.get(rule.get("ruleset_id") or -1)
    return found.label if found else f"ruleset {rule.get('ruleset_id')}"


def _params(rule: Mapping[str, Any]) -> Mapping[str, Any]:
    params = rule.get("parameters")
    return params if isinstance(params, Mapping) else {}


def _of_type(facts: BranchFacts, kind: str) -> list[Mapping[str, Any]]:
    return [r for r in facts.rules if r.get("type") == kind]


def _classic(facts: BranchFacts, key: str) -> Mapping[str, Any] | None:
    found = (facts.protection or {}).get(key)
    return found if isinstance(found, Mapping) else None


def _pull_request_flag(facts: BranchFacts, ruleset_key: str, classic_key: str) -> _Found:
    for rule in _of_type(facts, "pull_request"):
        if _params(rule).get(ruleset_key) is True:
            return _Found(True, _source(facts, rule))
    reviews = _classic(facts, "required_pull_request_reviews")
    if reviews is not None and reviews.get(classic_key) is True:
        return _Found(True, "branch protection")
    return _Found(False, "")


def _approvals(facts: BranchFacts) -> tuple[int, str]:
    best, source = 0, ""
    for rule in _of_type(facts, "pull_request"):
        count = _params(rule).get("required_approving_review_count")
        if isinstance(count, int) and count > best:
            best, source = count, _source(facts, rule)
    reviews = _classic(facts, "required_pull_request_reviews")
    count = reviews.get("required_approving_review_count") if reviews else None
    if isinstance(count, int) and count > best:
        best, source = count, "branch protection"
    return best, source


def _status_checks(facts: BranchFacts) -> tuple[list[str], bool, str]:
    """(required check names, whether branches must be up to date, where it is required)."""
    names: list[str] = []
    strict, source = False, ""
    for rule in _of_type(facts, "required_status_checks"):
        params = _params(rule)
        for check in params.get("required_status_checks") or ():
            if isinstance(check, Mapping) and isinstance(check.get("context"), str):
                names.append(check["context"])
        if params.get("strict_required_status_checks_policy") is True:
            strict, source = True, _source(facts, rule)
        source = source or _source(facts, rule)
    classic = _classic(facts, "required_status_checks")
    if classic is not None:
        names += [c for c in classic.get("contexts") or () if isinstance(c, str)]
        names += [
            c["context"]
            for c in classic.get("checks") or ()
            if isinstance(c, Mapping) and isinstance(c.get("context"), str)
        ]
        if classic.get("strict") is True and not strict:
            strict, source = True, "branch protection"
        source = source or "branch protection"
    return sorted(set(names)), strict, source


def _blocked(facts: BranchFacts, rule_type: str, classic_key: str) -> _Found:
    rules = _of_type(facts, rule_type)
    if rules:
        return _Found(True, _source(facts, rules[0]))
    if facts.protection is not None:
        allowed = _classic(facts, classic_key)
        if not (allowed or {}).get("enabled"):
            return _Found(True, "branch protection")
    return _Found(False, "")


def _inactive_hint(facts: BranchFacts, default_branch: str, has: Any) -> str:
    """A ruleset targeting the branch that would satisfy the check, were it active."""
    for ruleset in sorted(facts.rulesets.values(), key=lambda r: r.id):
        if ruleset.enforcement == "active" or not ruleset.targets(facts.branch, default_branch):
            continue
        if any(has(rule) for rule in ruleset.rules):
            mode = "in evaluate mode" if ruleset.enforcement == "evaluate" else "disabled"
            return f"; {ruleset.label} has it but is {mode}: set its enforcement to Active"
    return ""


def branch_checks(facts: BranchFacts, default_branch: str) -> list[Check]:
    b = facts.branch
    where = f"a branch ruleset on {b} (Settings > Rules > Rulesets; target ~DEFAULT_BRANCH)"
    note = f" ({facts.protection_note})" if facts.protection_note else ""
    checks: list[Check] = []

    def add(name: str, found: _Found, ok_detail: str, fix: str, has: Any) -> None:
        if found.ok:
            checks.append(Check("github", f"{b}: {name}", True, f"{ok_detail} ({found.source})"))
        else:
            hint = _inactive_hint(facts, default_branch, has)
            checks.append(Check("github", f"{b}: {name}", False, f"{fix}{hint}{note}"))

    def pr(key: str) -> Any:
        return lambda rule: rule.get("type") == "pull_request" and _params(rule).get(key) is True

    pull_rules = _of_type(facts, "pull_request")
    has_pr = _Found(True, _source(facts, pull_rules[0])) if pull_rules else (
        _Found(True, "branch protection") if _classic(facts, "required_pull_request_reviews") else _Found(False, "")
    )  # fmt: skip
    add(
        "pull request required", has_pr, "every change arrives as a pull request",
        f"changes can be pushed to {b} without a pull request: add {where} with 'Require a pull request before merging'",
        lambda rule: rule.get("type") == "pull_request",
    )  # fmt: skip
    count, source = _approvals(facts)
    add(
        "approvals", _Found(count >= 1, source), f"at least {count} approval{'s' if count != 1 else ''} before merging",
        f"no approval is required to merge into {b}: set 'Required approvals' to 1 or more in {where}",
        lambda rule: rule.get("type") == "pull_request" and (_params(rule).get("required_approving_review_count") or 0) >= 1,
    )  # fmt: skip
    add(
        "stale approvals dismissed", _pull_request_flag(facts, "dismiss_stale_reviews_on_push", "dismiss_stale_reviews"),
        "a push dismisses earlier approvals",
        "approvals survive new pushes: turn on 'Dismiss stale pull request approvals when new commits are pushed'",
        pr("dismiss_stale_reviews_on_push"),
    )  # fmt: skip
    add(
        "last push approved", _pull_request_flag(facts, "require_last_push_approval", "require_last_push_approval"),
        "someone other than the last pusher approves the final head",
        "whoever pushes last can merge their own push: turn on 'Require approval of the most recent reviewable push'",
        pr("require_last_push_approval"),
    )  # fmt: skip
    names, strict, source = _status_checks(facts)
    if not names:
        fix = (
            f"no status check is required on {b}: require the plan and validate checks, with 'Require "
            "branches to be up to date before merging', in " + where
        )
    else:
        fix = (
            f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} required, but a branch may merge without "
            "being up to date (its plan is then not of what merges): turn on 'Require branches to be up to "
            "date before merging'"
        )
    add(
        "up to date before merging", _Found(bool(names) and strict, source),
        f"branches must be up to date and pass {', '.join(names)}", fix,
        lambda rule: rule.get("type") == "required_status_checks"
        and _params(rule).get("strict_required_status_checks_policy") is True,
    )  # fmt: skip
    add(
        "force pushes blocked", _blocked(facts, "non_fast_forward", "allow_force_pushes"),
        f"{b}'s history cannot be rewritten",
        f"{b} can be force-pushed: turn on 'Block force pushes' in {where}",
        lambda rule: rule.get("type") == "non_fast_forward",
    )  # fmt: skip
    add(
        "deletion blocked", _blocked(facts, "deletion", "allow_deletions"), f"{b} cannot be deleted",
        f"{b} can be deleted: turn on 'Restrict deletions' in {where}",
        lambda rule: rule.get("type") == "deletion",
    )  # fmt: skip
    return checks


def code_owner_review(facts: BranchFacts) -> bool:
    return _pull_request_flag(facts, "require_code_owner_review", "require_code_owner_reviews").ok
