"""Where a value came from: file and line."""

from __future__ import annotations

from typing import NamedTuple


class Location(NamedTuple):
    """A NamedTuple, so that hashing and equality run in C: normalize keys a few hundred thousand
    accounts and grants by the line that explains them, and makes one per person in bulk."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def sort_key(self) -> tuple[str, int]:
        return (self.file, self.line)

    @classmethod
    def parse(cls, text: str) -> Location:
        file, _, line = text.rpartition(":")
        if file and line.isdigit():
            return cls(file, int(line))
        return cls(text, 0)
