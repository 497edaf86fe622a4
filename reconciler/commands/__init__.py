"""One module per command: each orchestrates and returns an exit code."""
