"""The fast indented JSON of plan files is exactly what `json.dumps(..., indent=2)` writes."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from reconciler.jsonfile import dumps_indented

LEAVES: list[Any] = ["", 'a"b', "é\u2028x", "line\nbreak", "\x1f", 0, -3, 1.5, 1e300, True, False, None]
KEYS: list[Any] = ["a", "é", "c d", "1", 7, None, True, 2.5]


def _document(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(LEAVES)
    if roll < 0.7:
        return {
            rng.choice(KEYS) if rng.random() < 0.3 else f"k{i}": _document(rng, depth + 1)
            for i in range(rng.randint(0, 5))
        }
    return [_document(rng, depth + 1) for _ in range(rng.randint(0, 5))]


@pytest.mark.parametrize("seed", range(20))
def test_same_bytes_as_the_standard_library(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        document = _document(rng)
        assert dumps_indented(document) == json.dumps(document, indent=2)
