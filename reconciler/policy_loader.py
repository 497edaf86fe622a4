"""policies/*.yaml -> Policies, every problem located (placeholder: issue #7)."""

from __future__ import annotations

from pathlib import Path

from reconciler.policy_model import Policies


def load_policies(repo: Path) -> Policies:
    return Policies()
