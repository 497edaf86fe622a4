"""Static catalogues of entitlements a vendor does not list through its API (Concur's roles).

Pure data. `reconciler.catalogs.<vendor>` may define `CATALOGS: dict[str, Catalog]` keyed by
resource type; normalization resolves names and aliases through it, offline.
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Catalog:
    """Known names of one resource type: canonical name -> display label, plus aliases."""

    labels: Mapping[str, str]
    aliases: Mapping[str, str] = field(default_factory=dict)  # casefolded alias -> canonical
    exclusive_pairs: tuple[tuple[str, str], ...] = ()  # canonical names one person must not hold both of

    def resolve(self, name: str) -> str | None:
        if name in self.labels:
            return name
        folded = name.casefold()
        for canonical, label in self.labels.items():
            if folded in (canonical.casefold(), label.casefold()):
                return canonical
        return self.aliases.get(folded)

    def label(self, canonical: str) -> str:
        return self.labels.get(canonical, canonical)

    def suggestions(self, name: str, n: int = 3) -> list[str]:
        return closest(name, [*self.labels, *self.labels.values()], n)


def closest(name: str, candidates: list[str] | tuple[str, ...] | frozenset[str], n: int = 3) -> list[str]:
    """The closest names to `name`, for 'did you mean' messages."""
    by_fold = {c.casefold(): c for c in candidates}
    matches = difflib.get_close_matches(name.casefold(), list(by_fold), n=n, cutoff=0.6)
    return [by_fold[m] for m in matches]


@functools.cache  # pure data; a vendor without a module raised ModuleNotFoundError on every call
def static_catalog(vendor: str, resource_type: str) -> Catalog | None:
    try:
        module = importlib.import_module(f"reconciler.catalogs.{vendor}")
    except ModuleNotFoundError:
        return None
    catalogs: Mapping[str, Catalog] = getattr(module, "CATALOGS", {})
    return catalogs.get(resource_type)
