"""The range of each feature seen in training, and the features of new rows that leave it.

:func:`training_ranges` runs at fit time; its result is stored in ``model.json`` as
``feature_ranges`` (``{name: {"min": ..., "max": ...}}``, numeric features only, missing
values ignored). :func:`outside_ranges` names what a row to be scored holds outside them: a
model says nothing reliable there (a tree model stays flat, a Cox model extrapolates its log
hazard linearly), so one-person scoring warns (:class:`~prognosis.exceptions.ScoringWarning`).
Models saved before ranges were stored have none, and the check is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from prognosis.artifacts import FeatureRange

__all__ = ["outside_ranges", "training_ranges"]


def training_ranges(X: pd.DataFrame) -> dict[str, FeatureRange]:
    """Smallest and largest value of each numeric feature column of ``X``.

    Parameters
    ----------
    X : the training rows' features (:func:`prognosis.dataset.feature_frame`)

    Returns
    -------
    dict of feature name to :class:`~prognosis.artifacts.FeatureRange`; columns that are not
    numeric, or hold no value at all, are left out.
    """
    ranges = {}
    for name in X.columns:
        column = X[name]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            continue
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(values).all():
            continue
        ranges[str(name)] = FeatureRange(float(np.nanmin(values)), float(np.nanmax(values)))
    return ranges


def outside_ranges(row: pd.Series, ranges: Mapping[str, FeatureRange] | None) -> list[str]:
    """One phrase per feature of ``row`` outside its training range, e.g. ``"age 17 (training:
    18 to 90)"``; empty when every value is inside, missing, or ``ranges`` is None."""
    found = []
    for name, bounds in (ranges or {}).items():
        if name not in row.index:
            continue
        value = float(row[name]) if not pd.isna(row[name]) else math.nan
        low, high = float(bounds.min), float(bounds.max)
        if not math.isnan(value) and not low <= value <= high:
            found.append(f"{name} {value:g} (training: {low:g} to {high:g})")
    return found
