"""The preprocessor learns everything from training rows and keeps feature names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from prognosis.models.preprocess import make_preprocessor


def _train() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [40.0, 50.0, np.nan, 70.0, 90.0],  # median of the observed values: 60
            "dose": [1, 2, 3, 4, 5],  # integers, never missing
            "site": ["a", "b", "a", "c", np.nan],  # most frequent: "a"
            "smoker": ["no", "yes", "no", "no", "yes"],
            "constant": [7.0, 7.0, 7.0, 7.0, 7.0],
        }
    )


def test_test_row_missing_value_gets_the_training_median():
    pre = make_preprocessor(scale=False).fit(_train())
    test = pd.DataFrame(
        {"age": [np.nan], "dose": [100], "site": ["b"], "smoker": ["no"], "constant": [3.0]}
    )
    row = pre.transform(test).iloc[0]
    # Median of 40, 50, 70, 90 (training rows); the test rows' own values play no part.
    assert row["age"] == 60.0
    assert row["missingindicator_age"] == 1.0
    assert row["dose"] == 100.0


def test_imputation_ignores_the_rows_it_transforms():
    pre = make_preprocessor(scale=False).fit(_train())
    test = pd.DataFrame(
        {
            "age": [np.nan, 1000.0, 1000.0],
            "dose": [1, 1, 1],
            "site": ["a", "a", "a"],
            "smoker": ["no", "no", "no"],
            "constant": [7.0, 7.0, 7.0],
        }
    )
    assert pre.transform(test)["age"].tolist() == [60.0, 1000.0, 1000.0]


def test_missing_indicator_only_for_columns_missing_in_training():
    out = make_preprocessor(scale=False).fit_transform(_train())
    assert out["missingindicator_age"].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert "missingindicator_dose" not in out.columns


def test_constant_column_is_dropped():
    out = make_preprocessor(scale=False).fit_transform(_train())
    assert "constant" not in out.columns


def test_categories_are_one_hot_with_binary_columns_kept_once():
    out = make_preprocessor(scale=False).fit_transform(_train())
    assert {"site_a", "site_b", "site_c"} <= set(out.columns)
    assert [c for c in out.columns if c.startswith("smoker")] == ["smoker_yes"]
    # The missing site (row 5) is imputed with the most frequent one, "a".
    assert out["site_a"].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]


def test_unseen_category_encodes_as_no_known_level():
    pre = make_preprocessor(scale=False).fit(_train())
    test = pd.DataFrame(
        {"age": [50.0], "dose": [1], "site": ["z"], "smoker": ["no"], "constant": [7.0]}
    )
    # scikit-learn warns about categories it has not seen; the warning is the point here.
    with pytest.warns(UserWarning, match="unknown categories"):
        row = pre.transform(test).iloc[0]
    assert row[["site_a", "site_b", "site_c"]].tolist() == [0.0, 0.0, 0.0]


def test_drop_first_leaves_a_reference_level():
    out = make_preprocessor(scale=False, drop="first").fit_transform(_train())
    assert [c for c in out.columns if c.startswith("site")] == ["site_b", "site_c"]


def test_integer_coded_column_named_categorical_is_one_hot():
    out = make_preprocessor(scale=False, categorical=["dose"]).fit_transform(_train())
    assert "dose" not in out.columns
    assert {"dose_1", "dose_5"} <= set(out.columns)


def test_scaling_standardises_numeric_columns_with_training_statistics():
    train = _train()
    pre = make_preprocessor(scale=True).fit(train)
    out = pre.transform(train)
    dose = np.array([1, 2, 3, 4, 5], dtype=float)
    expected = (dose - 3.0) / np.sqrt(2.0)  # population standard deviation of 1..5
    np.testing.assert_allclose(out["dose"], expected)
    assert set(out["site_a"]) == {0.0, 1.0}  # one-hot columns stay 0/1


def test_output_is_a_dataframe_with_feature_names_for_plain_arrays_too():
    X = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, 6.0]])
    out = clone(make_preprocessor(scale=False)).fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert out.columns.tolist() == ["x0", "x1", "missingindicator_x1"]
    assert out["x1"].tolist() == [5.5, 5.0, 6.0]


def test_native_missing_preprocessing_keeps_nan_reads_safe_zeros_as_missing_and_drops_constants():
    """xgboost's preprocessing: no imputation; 0 becomes missing only in columns whose
    training values are all >= 0 and never missing; constants dropped, NaN counting as a value."""
    frame = pd.DataFrame(
        {
            "count": [0.0, 2.0, 0.0, 1.0],  # >= 0, no NaN: zeros read as missing
            "signed": [0.0, -1.0, 2.0, 0.0],  # a 0 between negatives and positives: kept
            "last": [0.0, np.nan, 3.5, 1.0],  # NaN in training: a 0 is an ordinary value
            "five_or_missing": [5.0, np.nan, 5.0, np.nan],  # tells rows apart: kept
            "constant": [7.0, 7.0, 7.0, 7.0],
            "all_missing": [np.nan] * 4,
        }
    )
    pre = make_preprocessor(scale=False, native_missing=True).fit(frame)
    out = pre.transform(frame)

    assert list(out.columns) == ["count", "signed", "last", "five_or_missing"]
    np.testing.assert_array_equal(out["count"], [np.nan, 2.0, np.nan, 1.0])
    np.testing.assert_array_equal(out["signed"], frame["signed"])
    np.testing.assert_array_equal(out["last"], frame["last"])
    np.testing.assert_array_equal(out["five_or_missing"], frame["five_or_missing"])
    assert frame["count"].iloc[0] == 0.0  # the caller's data is untouched
