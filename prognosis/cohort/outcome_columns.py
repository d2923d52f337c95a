"""The names of a dataset's survival columns when its definition has several outcomes.

A one-outcome dataset has ``time``, ``event`` and ``censor_reason``. A dataset built from
``outcomes:`` has, for each outcome ``k``, ``time__k``, ``event__k`` and ``censor_reason__k``
(NULL in the rows not at risk of ``k``: a prior record when ``k`` excludes them); the names
alone say which columns are outcomes, so a Parquet file read without its manifest is still read
right.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "SURVIVAL_PARTS",
    "event_columns",
    "event_count_key",
    "outcome_column",
    "outcome_names_in",
    "parse_outcome_column",
    "survival_names",
]

#: The three survival columns of one outcome, in dataset order.
SURVIVAL_PARTS = ("time", "event", "censor_reason")
_SEPARATOR = "__"
_PATTERN = re.compile(r"^(time|event|censor_reason)__([a-z][a-z0-9_]*)$")


def outcome_column(part: str, outcome: str) -> str:
    """The column ``part`` (``time``, ``event``, ``censor_reason``, or a work column such as
    ``first``) of outcome ``outcome``: ``time__stroke``."""
    return f"{part}{_SEPARATOR}{outcome}"


def survival_names(outcomes: Iterable[str] = ()) -> list[str]:
    """The survival columns after ``person_id`` and ``index_date``: ``time``, ``event``,
    ``censor_reason``, or each outcome's three when ``outcomes`` are named."""
    outcomes = list(outcomes)
    if not outcomes:
        return list(SURVIVAL_PARTS)
    return [outcome_column(part, name) for name in outcomes for part in SURVIVAL_PARTS]


def parse_outcome_column(column: str) -> tuple[str, str] | None:
    """``(part, outcome)`` of an outcome's survival column, or ``None`` for any other."""
    match = _PATTERN.match(column)
    return (match.group(1), match.group(2)) if match else None


def outcome_names_in(columns: Iterable[str]) -> list[str]:
    """The outcomes whose ``time__k`` column is in ``columns``, in column order."""
    names = []
    for column in columns:
        parsed = parse_outcome_column(column)
        if parsed is not None and parsed[0] == "time":
            names.append(parsed[1])
    return names


def event_columns(columns: Iterable[str]) -> list[str]:
    """The event columns among ``columns``: ``event``, or each outcome's ``event__k``."""
    return [c for c in columns if c == "event" or (parse_outcome_column(c) or ("",))[0] == "event"]


def event_count_key(column: str, code: int | None) -> str:
    """The manifest's key for the rows of event ``code`` in ``column``: ``"1"`` for a
    one-outcome dataset, ``"stroke:1"`` for outcome ``stroke`` (``"stroke:not_at_risk"`` for
    the rows not at risk of it)."""
    text = "not_at_risk" if code is None else str(code)
    parsed = parse_outcome_column(column)
    return text if parsed is None else f"{parsed[1]}:{text}"
