"""Pydantic models of the files in `policies/` (placeholder: issue #7 fills in the rules)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Policies(BaseModel):
    """Every policy in force. The empty default means: no extra rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)
