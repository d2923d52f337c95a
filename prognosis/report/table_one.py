"""Table 1: baseline characteristics of the cohort, overall and by outcome status.

Binary features (only 0 and 1) show n (%); counts and skewed features the median [IQR];
other numbers the mean (SD). The statistic is chosen once, on the whole cohort, so every column
of a row shows the same one. Counts from 1 to 4 show as ``<5``, and a summary of fewer than 5
persons is not shown at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prognosis.artifacts import Feature
from prognosis.dataset import SURVIVAL_COLUMNS
from prognosis.report.privacy import HIDDEN, MIN_CELL, SUPPRESSED, CountTable, Published, protect

__all__ = ["TableOne", "TableOneRow", "table_one"]

_HIDDEN = f"n {SUPPRESSED}"


@dataclass(frozen=True)
class TableOneRow:
    label: str
    statistic: str
    cells: list[str]
    indent: bool = False


@dataclass(frozen=True)
class TableOne:
    columns: list[str]
    sizes: list[str]
    rows: list[TableOneRow]
    notes: list[str]


def _groups(event: np.ndarray) -> list[tuple[str, np.ndarray]]:
    groups = [("Overall", np.ones(event.shape, dtype=bool)), ("Outcome", event == 1)]
    if np.any(event >= 2):
        groups.append(("Competing event", event >= 2))
    groups.append(("No event (censored)", event == 0))
    return groups


class _Counts:
    """The counts Table 1 shows or implies, and how they add up (for :func:`protect`)."""

    def __init__(self, groups: list[tuple[str, np.ndarray]]) -> None:
        self.groups = [name for name, _ in groups]
        self.values: dict[str, int] = {}
        self.sums: list[tuple[str, tuple[str, ...]]] = []
        self.implicit: set[str] = set()
        self.five_or_more: set[str] = set()
        for name, mask in groups:
            self.values[f"n|{name}"] = int(mask.sum())
        self._across("n")

    def _across(self, prefix: str) -> None:
        overall, *others = self.groups
        self.sums.append((f"{prefix}|{overall}", tuple(f"{prefix}|{g}" for g in others)))

    def split(self, key: str, parts: dict[str, list[int]]) -> None:
        """Each group's persons split into ``parts`` (name → count per group). Persons without
        a binary feature are never shown; persons with a value are shown only as ``n <5``."""
        for part, counts in parts.items():
            for group, count in zip(self.groups, counts, strict=True):
                cell = f"{key}|{part}|{group}"
                self.values[cell] = count
                if part == "no" or (part == "present" and count >= MIN_CELL):
                    self.implicit.add(cell)
                    self.five_or_more |= {cell} if part == "present" else set()
            self._across(f"{key}|{part}")
        for group in self.groups:
            self.sums.append((f"n|{group}", tuple(f"{key}|{part}|{group}" for part in parts)))

    def protect(self) -> Published:
        return protect(
            CountTable(
                self.values,
                sums=self.sums,
                implicit=frozenset(self.implicit),
                keep=frozenset(f"n|{g}" for g in self.groups[:2]),
                five_or_more=frozenset(self.five_or_more),
            )
        )


def table_one(frame: pd.DataFrame, features: Sequence[Feature]) -> TableOne:
    """Table 1 of ``frame`` (a cohort dataset) with labels from ``features`` (features.json).

    Every count (group sizes, persons with a feature, persons missing it, and the ones these
    imply: persons without it, persons with a value) is protected by
    :func:`~prognosis.report.privacy.protect`: under 5 shows as ``<5``, and counts from which
    one could work a small one out show as ``hidden``; a percentage is shown only beside a
    count and a group size that are both shown.
    """
    event = frame["event"].to_numpy()
    groups = _groups(event)
    described = {f.name: f for f in features if f.name in frame.columns}
    names = list(described) + [
        c for c in frame.columns if c not in SURVIVAL_COLUMNS and c not in described
    ]
    counts = _Counts(groups)
    plans = []
    for k, name in enumerate(names):
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        entry = described.get(name, Feature(name))
        plans.append((str(entry.label or name), f"f{k}", values, entry))
        _count(counts, f"f{k}", values, groups)
    published = counts.protect()
    sizes_hidden = [f"n|{name}" in published.hidden for name, _ in groups]
    time = frame["time"].to_numpy(float)
    rows = [_numeric_row("Follow-up, days", time, groups, "median", sizes_hidden)]
    for label, key, values, entry in plans:
        rows.extend(_feature_rows(label, key, values, entry, groups, published))
    notes = [
        f"Counts from 1 to {MIN_CELL - 1} are shown as {SUPPRESSED}, and counts from which one "
        f"could be worked out as {HIDDEN}; means, medians and spreads of fewer than {MIN_CELL} "
        f"persons are not shown ({_HIDDEN}).",
        "Outcome: the outcome occurred during follow-up; No event: follow-up ended without it.",
    ]
    return TableOne(
        columns=[name for name, _ in groups],
        sizes=[published.text(f"n|{name}") for name, _ in groups],
        rows=rows,
        notes=notes,
    )


def _binary(values: np.ndarray) -> bool:
    seen = np.unique(values[np.isfinite(values)])
    return bool(seen.size) and bool(np.all(np.isin(seen, (0.0, 1.0))))


def _count(
    counts: _Counts, key: str, values: np.ndarray, groups: list[tuple[str, np.ndarray]]
) -> None:
    """Record the counts the rows of one feature show or imply."""
    present = np.isfinite(values)
    parts: dict[str, list[int]] = {}
    if _binary(values):
        parts["yes"] = [int(np.sum(values[mask] == 1)) for _, mask in groups]
        parts["no"] = [int(np.sum(values[mask] == 0)) for _, mask in groups]
    elif not present.all():
        parts["present"] = [int(np.sum(present[mask])) for _, mask in groups]
    if not present.all():
        parts["missing"] = [int(np.sum(~present[mask])) for _, mask in groups]
    if parts:
        counts.split(key, parts)


def _feature_rows(
    label: str,
    key: str,
    values: np.ndarray,
    entry: Feature,
    groups: list[tuple[str, np.ndarray]],
    published: Published,
) -> list[TableOneRow]:
    present = np.isfinite(values)
    names = [name for name, _ in groups]
    if _binary(values):
        cells = [published.percent(f"{key}|yes|{g}", f"n|{g}") for g in names]
        rows = [TableOneRow(label, "n (%)", cells)]
    else:
        skewed = entry.statistic == "count" or abs(_skew(values[present])) > 1
        counted = [f"{key}|present|{g}" if not present.all() else f"n|{g}" for g in names]
        hidden = [cell in published.hidden for cell in counted]
        rows = [_numeric_row(label, values, groups, "median" if skewed else "mean", hidden)]
    if not present.all():
        cells = [published.percent(f"{key}|missing|{g}", f"n|{g}") for g in names]
        rows.append(TableOneRow("missing", "n (%)", cells, indent=True))
    return rows


def _numeric_row(
    label: str,
    values: np.ndarray,
    groups: list[tuple[str, np.ndarray]],
    kind: str,
    hidden: list[bool],
) -> TableOneRow:
    """Mean (SD) or median [IQR] per group; ``n 0`` without values, ``n <5`` over 1 to 4,
    ``n hidden`` instead where the number of values is itself hidden."""
    cells = []
    for (_, mask), secret in zip(groups, hidden, strict=True):
        chosen = values[mask & np.isfinite(values)]
        if chosen.size == 0:
            cells.append("n 0")
        elif chosen.size < MIN_CELL:
            cells.append(f"n {HIDDEN}" if secret else _HIDDEN)
        elif kind == "median":
            q1, median, q3 = np.percentile(chosen, [25, 50, 75])
            cells.append(f"{_fmt(median)} [{_fmt(q1)}\u2013{_fmt(q3)}]")
        else:
            cells.append(f"{_fmt(chosen.mean())} ({_fmt(chosen.std(ddof=1))})")
    return TableOneRow(label, "median [IQR]" if kind == "median" else "mean (SD)", cells)


def _skew(values: np.ndarray) -> float:
    if values.size < 3 or np.std(values) == 0:
        return 0.0
    centred = values - values.mean()
    return float(np.mean(centred**3) / np.std(values) ** 3)


def _fmt(value: float) -> str:
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if size >= 10 else f"{value:.2f}"
