"""The model report's coefficient table: hazard ratios with their 95% intervals and the
proportional-hazards test for the Cox families, the non-zero coefficients of a penalised one.

Each family says what its table is (``summary_table()``, a hook of the estimator); this module
only lays out tables that give hazard ratios, whatever the family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CoefficientRow", "Coefficients", "coefficient_table"]


@dataclass(frozen=True)
class CoefficientRow:
    """One covariate (a model input column) of the table."""

    group: str  # the cause of a cause-specific model, "" otherwise
    covariate: str
    label: str
    hazard_ratio: float
    lower: float | None
    upper: float | None
    p: float | None
    proportional_hazards_p: float | None


@dataclass(frozen=True)
class Coefficients:
    """The table, and which of its columns the family could fill."""

    rows: tuple[CoefficientRow, ...]
    intervals: bool
    proportional_hazards: bool
    dropped: int  # covariates a penalised fit set to zero, not listed

    @property
    def grouped(self) -> bool:
        """Whether rows belong to several causes (cause-specific models)."""
        return any(row.group for row in self.rows)


def coefficient_table(estimator: Any, labels: Mapping[str, str]) -> Coefficients | None:
    """The hazard-ratio table of ``estimator``, or None when its family has none.

    Parameters
    ----------
    estimator : a fitted survival estimator (its ``summary_table()`` hook)
    labels : clinical labels of dataset features, by name; model columns that are not dataset
        features (one-hot levels, missing indicators) keep their column name
    """
    table = estimator.summary_table()
    if table is None or "hazard_ratio" not in table.columns:
        return None
    kept = table[table["coef"] != 0] if "se" not in table.columns else table
    rows = tuple(_row(key, values, labels) for key, values in kept.iterrows())
    return Coefficients(
        rows=rows,
        intervals="hazard_ratio_lower_95" in table.columns,
        proportional_hazards="proportional_hazards_p" in table.columns,
        dropped=len(table) - len(kept),
    )


def _row(key: Any, values: pd.Series, labels: Mapping[str, str]) -> CoefficientRow:
    group, covariate = (str(key[0]), str(key[1])) if isinstance(key, tuple) else ("", str(key))
    return CoefficientRow(
        group=group,
        covariate=covariate,
        label=labels.get(covariate, covariate),
        hazard_ratio=float(values["hazard_ratio"]),
        lower=_number(values.get("hazard_ratio_lower_95")),
        upper=_number(values.get("hazard_ratio_upper_95")),
        p=_number(values.get("p")),
        proportional_hazards_p=_number(values.get("proportional_hazards_p")),
    )


def _number(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
