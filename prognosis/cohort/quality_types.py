"""The record of a data problem that a build found and worked around."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_AGE", "Finding"]

MAX_AGE = 120  # years; an older age at index is taken for a wrong year of birth


@dataclass(frozen=True)
class Finding:
    """A data problem found and worked around; ``table`` and ``column`` say where.

    ``count`` is how many rows (or persons) it concerns and ``example`` one offending value
    (never a person id), both also in the message; the message phrases counts as "N rows" or
    "N persons" so that reports can show those under 5 as ``<5``.
    """

    table: str
    column: str
    message: str
    count: int | None = None
    example: str | None = None

    def __str__(self) -> str:
        text = f"table '{self.table}', column '{self.column}': {self.message}"
        if self.example is not None:
            text += f" (e.g. {self.example})"
        return text
