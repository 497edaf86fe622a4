"""Output.result writes to a pipe exactly what rich would, only faster (a line per change)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from reconciler.console import Output

LINES = [
    "[green]  would[/green] + PingOne carol@harbor.example: group VPN [dim](PR #12, approved by hbrandt)[/dim]",
    "[bold yellow]   held[/bold yellow] - Procore ivan: project \\[Tower] as Project Engineer",
    "a smiley :smiley: and a tab\there, a bell \a and an escape \x1b[31mred\x1b[0m",
    "[link=https://example.com]a link[/link] and [not a tag and ] brackets [/]",
    "",
]


@pytest.mark.parametrize("line", LINES)
def test_a_pipe_gets_what_rich_prints(line: str) -> None:
    fast, slow = io.StringIO(), io.StringIO()
    Output(out=Console(file=fast, soft_wrap=True, highlight=False)).result(line)
    Console(file=slow, soft_wrap=True, highlight=False).print(line)
    assert fast.getvalue() == slow.getvalue()
