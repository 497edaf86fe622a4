"""Where a value came from: file and line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
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
