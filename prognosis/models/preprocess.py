"""Feature preprocessing learned on training rows only, with feature names kept.

Numeric columns: median imputation plus a missing-indicator column for every column that had
missing values in training, then optional standard scaling. Categorical columns (object or
category dtype, or named in ``categorical``): most-frequent imputation, then one-hot encoding
that ignores categories unseen in training. Constant columns are dropped, and for unpenalised
linear models also columns that are linear combinations of the others (with the baseline): two
indicators that always sum to one, a count always equal to a presence. The output is a pandas
DataFrame, so feature names survive for coefficients and SHAP labels.

A fitted preprocessor is saved with skops (:mod:`prognosis.models.store`); :data:`TRUSTED_TYPES`
lists the types it may contain beyond the scikit-learn and numpy ones skops trusts by default.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "TRUSTED_TYPES",
    "ColumnKind",
    "DropCollinear",
    "DropConstant",
    "EncodeCategoricals",
    "ZeroAsMissing",
    "make_preprocessor",
]

#: The types of a fitted preprocessor that skops does not trust by default: ours, and numpy's
#: dtype (of the feature-name arrays). Loading a skops file that names any other one fails.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "prognosis.models.preprocess.ColumnKind",
    "prognosis.models.preprocess.DropCollinear",
    "prognosis.models.preprocess.DropConstant",
    "prognosis.models.preprocess.EncodeCategoricals",
    "prognosis.models.preprocess.ZeroAsMissing",
)


class EncodeCategoricals(TransformerMixin, BaseEstimator):
    """Apply ``columns`` (a ``ColumnTransformer`` that one-hot encodes the categorical
    columns) only when the training data has categorical columns; otherwise pass X through.

    A ``ColumnTransformer`` copies the whole matrix even when it only passes columns through
    (its ``hstack``), and a copy of a cohort's feature matrix costs seconds at a million rows
    (docs/benchmarks.md). Used for models that need no other column-wise step (xgboost).
    """

    def __init__(self, columns: Any) -> None:
        self.columns = columns

    def fit(self, X: Any, y: Any = None) -> EncodeCategoricals:
        validate_data(self, X, reset=True, skip_check_array=True)
        categorical = ColumnKind("categorical", ())(X) if isinstance(X, pd.DataFrame) else []
        named = [
            c
            for _, _, kind in self.columns.transformers
            if isinstance(kind, ColumnKind)
            for c in kind.categorical
        ]
        self.transformer_ = clone(self.columns).fit(X) if categorical or named else None
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "n_features_in_")
        validate_data(self, X, reset=False, skip_check_array=True)  # count and names
        return X if self.transformer_ is None else self.transformer_.transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        if self.transformer_ is not None:
            return self.transformer_.get_feature_names_out()
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names


class DropConstant(TransformerMixin, BaseEstimator):
    """Drop columns that hold one value in training; NaN counts as a value of its own.

    For models that read NaN natively (xgboost): a column that is either 5.0 or missing still
    tells rows apart, so it is kept (``VarianceThreshold`` would drop it). Columns that are all
    NaN are dropped. Computed without copying the matrix (``np.fmin``/``np.fmax`` skip NaN), and
    ``transform`` returns its input unchanged when nothing is dropped.
    """

    def fit(self, X: Any, y: Any = None) -> DropConstant:
        self.n_features_in_ = X.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        if sp.issparse(X):
            self.keep_ = np.arange(X.shape[1])
            return self
        values = np.asarray(X, dtype=np.float64)
        low, high = np.fmin.reduce(values, axis=0), np.fmax.reduce(values, axis=0)
        with np.errstate(invalid="ignore"):
            single = (low == high) & ~np.isnan(values).any(axis=0)
        self.keep_ = np.flatnonzero(~(single | np.isnan(low)))
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "keep_")
        if len(self.keep_) == self.n_features_in_:
            return X
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, self.keep_]
        return X[:, self.keep_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "keep_")
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names[self.keep_]


class ZeroAsMissing(TransformerMixin, BaseEstimator):
    """Read 0 as missing (NaN) in columns whose training values are all >= 0 and never missing.

    For tree boosters that handle missing values natively (xgboost). Cohort features are mostly
    zeros: presences and counts of records, 0 when there is none. xgboost skips missing entries
    when it builds histograms, so marking those zeros missing makes training several times
    cheaper on such data (xgboost reads an absent entry of a sparse matrix the same way), and it
    loses nothing: where 0 is a column's smallest value, every split ``x < t`` that the dense
    column allows is still available (the missing rows learn their own direction, left or
    right), so the trees can only partition the rows more freely. Columns with negative values
    or with missing values in training are left alone, since there a 0 is an ordinary value.
    """

    def fit(self, X: Any, y: Any = None) -> ZeroAsMissing:
        if sp.issparse(X):
            self.columns_ = np.arange(X.shape[1])
            self.feature_names_in_ = np.asarray([f"x{i}" for i in range(X.shape[1])], dtype=object)
            self.n_features_in_ = X.shape[1]
            return self
        frame = pd.DataFrame(X)
        values = frame.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            self.columns_ = np.flatnonzero(
                ~np.isnan(values).any(axis=0) & (values.min(axis=0, initial=0.0) >= 0)
            )
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "columns_")
        if sp.issparse(X):  # absent entries already read as missing
            return X
        # a column-major copy: the caller's data stays as it was, and each column is contiguous
        out = np.array(X, dtype=np.float64, order="F", copy=True)
        for position in self.columns_:
            column = out[:, position]
            column[column == 0] = np.nan
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(out, index=X.index, columns=X.columns)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "columns_")
        return self.feature_names_in_


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
    native_missing: bool = False,
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
    native_missing : bool
        For models that read missing values themselves (xgboost): no imputation or
        indicators (NaN stays NaN), constant columns dropped by :class:`DropConstant`, zeros
        read as missing where that loses nothing (:class:`ZeroAsMissing`), and no copy of the
        matrix unless a step changes it.

    Returns
    -------
    TransformerMixin
        An unfitted scikit-learn ``Pipeline`` whose ``transform`` returns a DataFrame.
    """
    named = tuple(categorical or ())
    numeric_steps: list[tuple[str, Any]] = []
    if not native_missing:
        numeric_steps.append(("impute", SimpleImputer(strategy="median", add_indicator=True)))
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
            (
                "numeric",
                Pipeline(numeric_steps) if numeric_steps else "passthrough",
                ColumnKind("numeric", named),
            ),
            ("categorical", Pipeline(categorical_steps), ColumnKind("categorical", named)),
        ],
        verbose_feature_names_out=False,
        sparse_threshold=1.0,  # a sparse input stays sparse (xgboost takes it as it is)
    )
    if native_missing:
        return Pipeline(
            [
                ("columns", EncodeCategoricals(columns)),
                ("constant", DropConstant()),
                ("zero_as_missing", ZeroAsMissing()),
            ]
        ).set_output(transform="pandas")
    steps: list[tuple[str, Any]] = [("columns", columns), ("constant", VarianceThreshold(0.0))]
    if drop_collinear:
        steps.append(("collinear", DropCollinear()))
    return Pipeline(steps).set_output(transform="pandas")
