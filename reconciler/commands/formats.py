"""The `--format` choices of the commands, kept apart so the CLI declares them without importing
the commands themselves (each command's modules load only when it runs)."""

from __future__ import annotations

from typing import Literal

TextOrJson = Literal["text", "json"]
PlanFormat = Literal["text", "markdown", "json"]
