"""Table 1: baseline characteristics of the cohort, overall and by outcome status.

Binary features (only 0 and 1) show n (%); counts and skewed features the median [IQR];
other numbers the mean (SD). The statistic is chosen once, on the whole cohort, so every column
of a row shows the same one. Counts under 5 show as ``<5``, and a summary of fewer than 5
persons is not shown at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prognosis.dataset import SURVIVAL_COLUMNS
from prognosis.report.privacy import MIN_CELL, SUPPRESSED, percent_of, suppress

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


def table_one(frame: pd.DataFrame, features: list[dict[str, Any]]) -> TableOne:
    """Table 1 of ``frame`` (a cohort dataset) with labels from ``features`` (features.json)."""
    event = frame["event"].to_numpy()
    groups = _groups(event)
    described = {f["name"]: f for f in features if f.get("name") in frame.columns}
    names = list(described) + [
        c for c in frame.columns if c not in SURVIVAL_COLUMNS and c not in described
    ]
    rows = [_numeric_row("Follow-up, days", frame["time"].to_numpy(float), groups, "median")]
    for name in names:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        entry = described.get(name, {})
        rows.extend(_feature_rows(str(entry.get("label") or name), values, entry, groups))
    notes = [
        f"Counts under {MIN_CELL} are shown as {SUPPRESSED}; means, medians and spreads of "
        f"fewer than {MIN_CELL} persons are not shown ({_HIDDEN}).",
        "Outcome: the outcome occurred during follow-up; No event: follow-up ended without it.",
    ]
    return TableOne(
        columns=[name for name, _ in groups],
        sizes=[suppress(int(mask.sum())) for _, mask in groups],
        rows=rows,
        notes=notes,
    )


def _feature_rows(
    label: str, values: np.ndarray, entry: dict[str, Any], groups: list[tuple[str, np.ndarray]]
) -> list[TableOneRow]:
    present = np.isfinite(values)
    seen = np.unique(values[present])
    if seen.size and np.all(np.isin(seen, (0.0, 1.0))):
        cells = [percent_of(int(np.sum(values[mask] == 1)), int(mask.sum())) for _, mask in groups]
        rows = [TableOneRow(label, "n (%)", cells)]
    else:
        skewed = entry.get("statistic") == "count" or abs(_skew(values[present])) > 1
        rows = [_numeric_row(label, values, groups, "median" if skewed else "mean")]
    if not present.all():
        cells = [percent_of(int(np.sum(~present[mask])), int(mask.sum())) for _, mask in groups]
        rows.append(TableOneRow("missing", "n (%)", cells, indent=True))
    return rows


def _numeric_row(
    label: str, values: np.ndarray, groups: list[tuple[str, np.ndarray]], kind: str
) -> TableOneRow:
    cells = []
    for _, mask in groups:
        chosen = values[mask & np.isfinite(values)]
        if chosen.size < MIN_CELL:
            cells.append(_HIDDEN)
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
