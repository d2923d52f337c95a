"""Training ranges of features (prognosis.feature_ranges) and the values of a row that leave
them, on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prognosis.artifacts import FeatureRange
from prognosis.feature_ranges import outside_ranges, training_ranges


def test_ranges_cover_numeric_and_boolean_columns_and_ignore_missing_values() -> None:
    X = pd.DataFrame(
        {
            "age": [18.0, np.nan, 90.0, 45.0],
            "smoker": [True, False, False, True],
            "bmi": pd.array([None, 31, 22, None], dtype="Int64"),
            "site": ["north", "south", "north", "east"],  # not numeric: no range
            "lab": [np.nan] * 4,  # no value at all: no range
        }
    )
    assert training_ranges(X) == {
        "age": FeatureRange(min=18.0, max=90.0),
        "smoker": FeatureRange(min=0.0, max=1.0),
        "bmi": FeatureRange(min=22.0, max=31.0),
    }


def test_values_outside_a_range_are_named_with_the_range() -> None:
    ranges = {"age": FeatureRange(min=18.0, max=90.0), "bmi": FeatureRange(min=22.0, max=31.5)}
    row = pd.Series({"age": 17.0, "bmi": 40.25, "site": "north"})
    assert outside_ranges(row, ranges) == [
        "age 17 (training: 18 to 90)",
        "bmi 40.25 (training: 22 to 31.5)",
    ]


def test_bounds_missing_values_and_absent_features_are_inside() -> None:
    ranges = {"age": FeatureRange(min=18.0, max=90.0), "bmi": FeatureRange(min=22.0, max=31.0)}
    assert outside_ranges(pd.Series({"age": 18.0, "bmi": 31.0}), ranges) == []
    assert outside_ranges(pd.Series({"age": np.nan, "bmi": pd.NA}), ranges) == []
    assert outside_ranges(pd.Series({"weight": 500.0}), ranges) == []


def test_a_model_saved_without_ranges_checks_nothing() -> None:
    assert outside_ranges(pd.Series({"age": 1000.0}), None) == []
