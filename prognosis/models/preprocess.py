"""Feature preprocessing learned on training rows only, with feature names kept.

Numeric columns: median imputation plus a missing-indicator column for every column that had
missing values in training, then optional standard scaling. Categorical columns (object or
category dtype, or named in ``categorical``): most-frequent imputation, then one-hot encoding
that ignores categories unseen in training. Constant columns are dropped, and for unpenalised
linear models also columns that are linear combinations of the others (with the baseline): two
indicators that always sum to one, a count always equal to a presence. The output is a pandas
DataFrame, so feature names survive for coefficients and SHAP labels.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.linalg
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = ["ColumnKind", "DropCollinear", "make_preprocessor"]


class DropCollinear(TransformerMixin, BaseEstimator):
    """Drop columns that are linear combinations of earlier columns and a constant.

    A rank-revealing QR decomposition (column pivoting) of the centred training matrix keeps,
    in pivot order, the columns whose diagonal in R exceeds ``tol`` times the largest; the kept
    columns stay in their original order. Unpenalised Cox and AFT fits cannot estimate
    coefficients for the columns dropped here.
    """

    def __init__(self, *, tol: float = 1e-7) -> None:
        self.tol = tol

    def fit(self, X: Any, y: Any = None) -> DropCollinear:
        frame = pd.DataFrame(X)
        values = frame.to_numpy(dtype=float)
        centred = values - values.mean(axis=0)
        scale = np.linalg.norm(centred, axis=0)
        centred = centred / np.where(scale > 0, scale, 1.0)
        _, r, pivots = scipy.linalg.qr(centred, mode="economic", pivoting=True)
        diagonal = np.abs(np.diag(r)) if r.size else np.array([])
        rank = int(np.sum(diagonal > self.tol * max(diagonal.max(initial=0.0), 1e-300)))
        keep = np.sort(pivots[:rank])
        self.keep_ = keep
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.dropped_ = [str(c) for i, c in enumerate(frame.columns) if i not in set(keep)]
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "keep_")
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, self.keep_]
        return np.asarray(X)[:, self.keep_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "keep_")
        return self.feature_names_in_[self.keep_]


class ColumnKind:
    """Column selector for ``ColumnTransformer``: the numeric or the categorical columns.

    Categorical columns are those named in ``categorical`` plus every column whose dtype is not
    numeric (object, category, string). A plain array has only numeric columns.
    """

    def __init__(self, kind: Literal["numeric", "categorical"], categorical: tuple[str, ...]):
        self.kind = kind
        self.categorical = categorical

    def __repr__(self) -> str:
        return f"ColumnKind({self.kind!r}, {self.categorical!r})"

    def __call__(self, X: Any) -> list[Any]:
        if not isinstance(X, pd.DataFrame):
            return list(range(np.shape(X)[1])) if self.kind == "numeric" else []
        named = set(self.categorical)
        is_categorical = {
            column: column in named or not pd.api.types.is_numeric_dtype(X[column])
            for column in X.columns
        }
        want = self.kind == "categorical"
        return [column for column, flag in is_categorical.items() if flag == want]


def make_preprocessor(
    *,
    scale: bool,
    categorical: list[str] | None = None,
    drop: Literal["if_binary", "first"] = "if_binary",
    drop_collinear: bool = False,
) -> TransformerMixin:
    """A preprocessing pipeline for a model; learned on training data only.

    Parameters
    ----------
    scale : bool
        Standardise the numeric columns and their missing indicators (for penalised linear
        models); one-hot columns stay 0/1.
    categorical : list of str, optional
        Columns to one-hot encode even when their dtype is numeric (integer-coded categories).
        Object and category columns are always treated as categorical.
    drop : {"if_binary", "first"}
        Which one-hot column to drop. ``"if_binary"`` keeps every level of a multi-level
        category (fine for trees and penalised models); unpenalised models with a baseline
        (Cox, AFT) need ``"first"``, since a full set of levels sums to 1 and is not
        identifiable next to the baseline hazard.
    drop_collinear : bool
        Also drop columns that are exact linear combinations of others (see
        :class:`DropCollinear`); unpenalised linear models need it.

    Returns
    -------
    TransformerMixin
        An unfitted scikit-learn ``Pipeline`` whose ``transform`` returns a DataFrame.
    """
    named = tuple(categorical or ())
    numeric_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", add_indicator=True))
    ]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="most_frequent")),
        (
            "encode",
            OneHotEncoder(handle_unknown="ignore", drop=drop, sparse_output=False),
        ),
    ]
    columns = ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), ColumnKind("numeric", named)),
            ("categorical", Pipeline(categorical_steps), ColumnKind("categorical", named)),
        ],
        verbose_feature_names_out=False,
    )
    steps: list[tuple[str, Any]] = [("columns", columns), ("constant", VarianceThreshold(0.0))]
    if drop_collinear:
        steps.append(("collinear", DropCollinear()))
    return Pipeline(steps).set_output(transform="pandas")
