"""Leavers, at the edge: the HR export read from its file, and the day each person's line reached
main (git blame of people.yaml, never the clock), given to `reconciler.leavers` (pure), which decides.
`leaving` is what `plan` and the gate's approved plan call: the IdP read in the same run says who has
left, and the `leavers` policy says what the plan does about it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError, ValidationErrors
from reconciler.hr_export import HrRow, parse_hr_export
from reconciler.leavers import IDP, Leaver, departed, find_leavers, without_leavers
from reconciler.policy_model import Leavers, Policies
from reconciler.provenance import History
from reconciler.records import AccessSet, AccountKey, Person


def leaving(
    repo: Path, access: AccessSet, actual: Mapping[str, VendorState], policies: Policies, today: dt.date
) -> tuple[AccessSet, list[Leaver]]:
    """The people the IdP read in this run says have left (none without a `leavers` policy, or when
    PingOne was not read), and `access` without their access when the policy says `revoke: true`."""
    policy = policies.leavers
    idp = actual.get(IDP)
    if policy is None or idp is None:
        return access, []
    found = [
        leaver
        for leaver in find_leavers(
            access.people.values(), idp, expected_at_idp(access), policy, today, written=people_written(repo)
        )
        if leaver.idp
    ]
    return (without_leavers(access, found) if policy.revoke else access), found


def departures(
    actual: Mapping[str, VendorState], policies: Policies, today: dt.date, people: Iterable[Person] = ()
) -> dict[str, tuple[str, str]]:
    """principal -> (when, why) for every account the IdP read in this run says has left (disabled,
    or in the leavers population), in the YAML or not: apply's audit records it beside each of their
    revocations, for the deprovisioning SLA. Nothing without a `leavers` policy."""
    if policies.leavers is None:
        return {}
    return departed(actual.get(IDP), policies.leavers, (), today, people)


def expected_at_idp(access: AccessSet) -> Callable[[Person], bool]:
    """Whether the YAML gives a person a PingOne account (only they can be missing from it)."""
    accounts = access.accounts_of(IDP)
    return lambda person: AccountKey(IDP, "", person.principal) in accounts


def people_written(repo: Path, rev: str = "HEAD") -> Callable[[Person], dt.date | None]:
    """The day a person's line in people.yaml was last written on main (first-parent blame of
    committed history); None when uncommitted or unknown. Blamed on first use only."""
    history: list[History | None] = []

    def written(person: Person) -> dt.date | None:
        if person.source is None:
            return None
        if not history:
            history.append(History.open(repo, rev))
        found = history[0]
        if found is None:
            return None
        commit = found.blame(person.source.file).get(person.source.line)
        if commit is None or not commit.date or set(commit.sha) == {"0"}:
            return None
        return dt.date.fromisoformat(commit.date[:10])

    return written


def hr_export_path(repo: Path, policy: Leavers | None, override: Path | None) -> Path | None:
    """The HR export to read: `--hr-export`, else the policy's `hr_export` (relative to the repository)."""
    if override is not None:
        return override
    if policy is not None and policy.hr_export:
        path = Path(policy.hr_export)
        return path if path.is_absolute() else repo / path
    return None


def read_hr_export(path: Path) -> list[HrRow]:
    """The rows of the HR export at `path`; every problem at its line, all at once."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessError(f"{path}: cannot read the HR export ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise AccessError(f"{path}: the HR export is not UTF-8 text") from None
    rows, errors = parse_hr_export(text, str(path))
    if errors:
        raise ValidationErrors(errors)
    return rows
