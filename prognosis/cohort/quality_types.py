"""The record of a data problem that a build found and worked around."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass(frozen=True)
class Finding:
    """A data problem found and worked around; ``table`` and ``column`` say where."""

    table: str
    column: str
    message: str

    def __str__(self) -> str:
        return f"table '{self.table}', column '{self.column}': {self.message}"
