"""The policies' own consistency with access/: approvers that exist and can approve."""

from __future__ import annotations

from itertools import chain
from operator import attrgetter

from reconciler.catalogs import closest
from reconciler.changes import Finding, Severity
from reconciler.policy_model import Policies
from reconciler.records import AccessSet

CODE = "approvers"


def check(desired: AccessSet, policies: Policies) -> list[Finding]:
    if not policies.approvers:
        return []  # (nothing names anyone: the people's index of 100,000 is not made)
    records = list(desired.people.values())
    people = dict(zip(map(attrgetter("key"), records), records, strict=True))  # (in C: 100,000 people)
    teams = set(chain.from_iterable(map(attrgetter("teams"), records)))
    findings: list[Finding] = []
    for rule_name, rule in policies.approvers.items():
        named: list[tuple[tuple[str | int, ...], str]] = [(("approvers", n), n) for n in rule.approvers]
        for resource, owners in rule.owners.items():
            named += [(("owners", resource, n), n) for n in owners]
        for path, name in named:
            where = policies.where("approvers", rule_name, *path)
            if name.startswith("@"):
                continue
            if name in people:
                if not people[name].github:
                    findings.append(
                        Finding(
                            Severity.WARNING, f"{CODE}/{rule_name}",
                            f"approvers.{rule_name}: {name} has no `github` login in access/,"
                            " so cannot approve",
                            source=where, hint=f"add `github: <login>` to {name} in access/",
                        )
                    )  # fmt: skip
            elif name not in teams:
                found = closest(name, [*people, *teams], 2)
                hint = f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""
                findings.append(
                    Finding(
                        Severity.ERROR, f"{CODE}/{rule_name}",
                        f"approvers.{rule_name}: unknown person or team {name!r}{hint}",
                        source=where, hint="name a person or team in access/, or a GitHub login as `@login`",
                    )
                )  # fmt: skip
    return findings
