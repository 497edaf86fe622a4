"""Where a desired grant is written and whose it is: the words every finding starts from."""

from __future__ import annotations

from reconciler.records import AccessSet, Grant


def grant_source(desired: AccessSet, grant: Grant) -> str:
    provenance = desired.provenance.get(grant)
    return str(provenance.source) if provenance is not None and provenance.source else ""


def person_name(desired: AccessSet, grant: Grant) -> str:
    person = desired.people.get(grant.principal)
    return person.key if person is not None else grant.principal
