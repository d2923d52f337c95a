"""Table 1: baseline characteristics of the cohort, overall and by outcome status.

Binary features (only 0 and 1) show n (%); counts and skewed features the median [IQR];
other numbers the mean (SD). The statistic is chosen once, on the whole cohort, so every column
of a row shows the same one. Counts from 1 to 4 show as ``<5``, and a summary of fewer than 5
persons is not shown at all.

The last column is the standardized mean difference (SMD) of each characteristic between the
outcome and the no-event columns (Austin 2009, "Balance diagnostics for comparing the
distribution of baseline covariates between treatment groups in propensity-score matched
samples", Stat Med 28:3083): ``(m1 - m2) / sqrt((s1² + s2²) / 2)`` for numbers (means and
sample SDs, whatever the row's statistic), ``(p1 - p2) / sqrt((p1 (1 - p1) + p2 (1 - p2)) / 2)``
for binary features (proportions among the persons with a value). Signed: positive when the
outcome column has more. An SMD rests on the same figures as the row's cells, and is hidden
wherever one of them is: a small or hidden count, or a summary of fewer than 5 values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prognosis.artifacts import Feature
from prognosis.dataset import SURVIVAL_COLUMNS
from prognosis.report.privacy import HIDDEN, MIN_CELL, SUPPRESSED, CountTable, Published, protect

__all__ = ["TableOne", "TableOneRow", "standardized_difference", "table_one"]

_HIDDEN = f"n {SUPPRESSED}"
OUTCOME, NO_EVENT = "Outcome", "No event (censored)"


@dataclass(frozen=True)
class TableOneRow:
    label: str
    statistic: str
    cells: list[str]
    indent: bool = False
    smd: str = ""  # outcome against no event; "" where it does not apply


@dataclass(frozen=True)
class TableOne:
    columns: list[str]
    sizes: list[str]
    rows: list[TableOneRow]
    notes: list[str]
    smd_columns: tuple[str, str] = (OUTCOME, NO_EVENT)  # the two columns the SMD compares


def _groups(event: np.ndarray) -> list[tuple[str, np.ndarray]]:
    groups = [("Overall", np.ones(event.shape, dtype=bool)), (OUTCOME, event == 1)]
    if np.any(event >= 2):
        groups.append(("Competing event", event >= 2))
    groups.append((NO_EVENT, event == 0))
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
        "SMD: standardized mean difference between the outcome and the no-event columns "
        "(Austin 2009; means and SDs for numbers, proportions for yes/no features; positive "
        "when the outcome column has more; above 0.1 in size is commonly read as a "
        f"noticeable difference), {HIDDEN} where a figure it rests on is not shown, \u2014 "
        "where neither column varies.",
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
    pair = [mask for name, mask in groups if name in (OUTCOME, NO_EVENT)]
    if _binary(values):
        cells = [published.percent(f"{key}|yes|{g}", f"n|{g}") for g in names]
        # proportions among persons with a value: the yes, size and missing counts, all shown
        needed = [f"{key}|{part}|{g}" for g in (OUTCOME, NO_EVENT) for part in ("yes", "missing")]
        needed += [f"n|{OUTCOME}", f"n|{NO_EVENT}"]
        shown = all(published.shown(c) for c in needed if c in published.values)
        smd = _smd_text(values, pair, binary=True) if shown else HIDDEN
        rows = [TableOneRow(label, "n (%)", cells, smd=smd)]
    else:
        skewed = entry.statistic == "count" or abs(_skew(values[present])) > 1
        counted = [f"{key}|present|{g}" if not present.all() else f"n|{g}" for g in names]
        hidden = [cell in published.hidden for cell in counted]
        row = _numeric_row(label, values, groups, "median" if skewed else "mean", hidden)
        # shown beside two shown summaries (5 or more values in each column)
        enough = all(np.isfinite(values[mask]).sum() >= MIN_CELL for mask in pair)
        smd = _smd_text(values, pair, binary=False) if enough else HIDDEN
        rows = [dataclasses.replace(row, smd=smd)]
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


def standardized_difference(first: np.ndarray, second: np.ndarray, *, binary: bool) -> float:
    """Austin's standardized mean difference of ``first`` against ``second`` (NaN ignored).

    Numbers: ``(m1 - m2) / sqrt((s1² + s2²) / 2)`` with sample standard deviations; binary
    (0/1) values: ``(p1 - p2) / sqrt((p1 (1 - p1) + p2 (1 - p2)) / 2)``. NaN (undefined) when
    neither group varies, or when a group has too few values (none; for numbers, one).

    Parameters
    ----------
    first, second : the values of the two groups
    binary : whether the values are 0/1 (proportions) or numbers (means)

    Returns
    -------
    float
    """
    a, b = first[np.isfinite(first)], second[np.isfinite(second)]
    if min(a.size, b.size) < (1 if binary else 2):
        return float("nan")
    if binary:
        p, q = a.mean(), b.mean()
        difference, spread = p - q, (p * (1 - p) + q * (1 - q)) / 2
    else:
        difference, spread = a.mean() - b.mean(), (a.var(ddof=1) + b.var(ddof=1)) / 2
    return float(difference / np.sqrt(spread)) if spread > 0 else float("nan")


def _smd_text(values: np.ndarray, pair: list[np.ndarray], *, binary: bool) -> str:
    value = standardized_difference(values[pair[0]], values[pair[1]], binary=binary)
    return "\u2014" if not np.isfinite(value) else f"{value:+.2f}"


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
