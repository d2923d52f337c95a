"""The survival-estimator contract every model family follows.

scikit-learn conventions: ``__init__`` only stores keyword arguments, ``fit(X, y)`` returns
``self``, learned state ends in ``_``, predictions are guarded by ``check_is_fitted``.
``y`` is scikit-survival's structured array (integer event codes for competing risks).

Every estimator offers:

* ``predict(X)``: a risk score, higher = worse (what concordance is computed on);
* ``predict_survival(X, times)``: S(t | x) as an array (n_samples, n_times);
* ``predict_survival_function(X)``: scikit-survival ``StepFunction`` objects on ``event_times_``;
* ``predict_risk(X, horizon)``: probability of the outcome by ``horizon`` days: 1 - S(horizon)
  for single-event models, the cumulative incidence of cause 1 for competing-risk models;
* competing-risk models also ``predict_cumulative_incidence(X, cause, times)``.

Predictions are only made inside the training follow-up: ``predict_survival``,
``predict_risk`` and ``predict_cumulative_incidence`` at a time past ``max_time_`` (the
longest time, event or censored, in the data the model was fitted on) raise
:class:`~prognosis.exceptions.PredictionHorizonError`. Nothing was observed there; a step
function would stay flat and a parametric one extrapolate, and neither is an estimate.

Inputs are checked by :func:`sklearn.utils.validation.validate_data`, as the estimator's
``__sklearn_tags__`` say (missing values and sparse input only where a family takes them): at
fit it records ``n_features_in_`` and ``feature_names_in_``; afterwards a DataFrame with missing,
unseen or reordered columns raises :class:`~prognosis.exceptions.FeatureNamesError` naming them.
``score(X, y)`` is Harrell's C of ``predict(X)``, as scikit-survival's estimators score; other
scorers for model selection are in :mod:`prognosis.models.scoring`.

A subclass implements ``_fit(X, target)``, ``_predict_score(X)`` and ``_predict_survival(X,
times)`` on float arrays; this mixin does the checking and the shared derivations.

A fitted estimator is saved as data, never as a pickle: :meth:`SurvivalEstimator.to_state`
returns a JSON-ready dict and named numeric arrays, and :meth:`SurvivalEstimator.from_state`
builds the fitted estimator from them (the model directory, :mod:`prognosis.models.store`,
writes them as ``estimator.json`` and ``estimator.npz``). A family implements
``_fitted_state()`` and ``_set_fitted_state(state, arrays)`` for what it learned beyond the
shared attributes; helpers for tables, skops and raw documents are in
:mod:`prognosis.models.state`.

Whatever differs between families in explaining them is a public hook here, which each family
overrides (:mod:`prognosis.explain` calls the hooks and never asks which family it has):

* ``shap_output``: what the family's SHAP values explain (unit, sign, method), or None;
* ``shap_values(X, reference)``: exact SHAP values of that output on model-input rows;
* ``risk_without(shap, horizon, risk=, inputs=, fold=)``: one row's risk with each feature's
  contribution taken away;
* ``risk_contributions(shap, horizon, risk=, inputs=, fold=)``: rows' SHAP values carried to
  the risk by a horizon (probability units), adding up exactly to the risk minus a reference
  risk; the default rescales the output's SHAP values (the "rescale" rule);
* ``survival_shap_values(X, times)``: exact SHAP values of S(t), where the family has them;
* ``predict_risk_interval(X, horizon, level=)``: an interval for each row's risk, or None for a
  family without one (the default);
* ``linear_coefficients()`` and ``summary_table()``: for the linear families.

The defaults say the family has no such method (:class:`~prognosis.exceptions.ExplanationError`,
or None); shared implementations are in :mod:`prognosis.models.explaining`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import Tags
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data
from sksurv.functions import StepFunction

from prognosis.exceptions import (
    ExplanationError,
    FeatureNamesError,
    PredictionHorizonError,
    TargetError,
)
from prognosis.models.target import SurvivalTarget, check_target

__all__ = [
    "Fold",
    "Inputs",
    "ShapOutput",
    "SurvivalEstimator",
    "SurvivalPipeline",
    "columns_problem",
]

#: Sums an array of model-column values (n, q, ...) into one per dataset feature (n, p, ...).
Fold = Callable[[np.ndarray], np.ndarray]

#: Returns one row's model inputs (1, q), preprocessed when first called.
Inputs = Callable[[], np.ndarray]

#: Below this total SHAP value, :meth:`SurvivalEstimator.risk_contributions` uses F's slope.
_FLAT = 1e-6


@dataclass(frozen=True)
class ShapOutput:
    """What a family's SHAP values explain.

    Attributes
    ----------
    unit : {"log hazard", "log time", "risk score"}
        The model output that base value plus SHAP values add up to.
    sign : int
        +1 when a higher output means a higher risk, -1 when it means a lower one (log time).
    method : str
        How the values are computed, e.g. ``"exact linear SHAP"``.
    """

    unit: str
    sign: int
    method: str


class SurvivalEstimator(BaseEstimator):
    """Checks inputs once; derives risk and step functions from ``_predict_survival``."""

    _competing: bool = False  # competing-risk models set this
    _allow_nan: bool = False  # models that handle missing values natively set this
    _accept_sparse: str | bool = False  # models that take scipy sparse input name the format

    #: What :meth:`shap_values` explains; None for a family without an exact SHAP method.
    shap_output: ClassVar[ShapOutput | None] = None

    def __sklearn_tags__(self) -> Tags:
        """scikit-learn tags: a required (survival) target; missing values and sparse input
        where the family accepts them."""
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = self._allow_nan
        tags.input_tags.sparse = bool(self._accept_sparse)
        return tags

    def fit(self, X: Any, y: np.ndarray) -> SurvivalEstimator:
        """Fit on features ``X`` (n_samples, n_features) and a survival target ``y``.

        Raises
        ------
        TargetError
            When ``y`` is missing or not a valid survival target.
        ValueError
            When ``X`` is not 2-d, holds values the family cannot take, or has another number
            of rows than ``y``.
        """
        if y is None:
            raise TargetError(
                f"{type(self).__name__} requires y to be passed, but the target y is None; pass "
                "a structured array with fields 'event' and 'time' (prognosis.models.target)"
            )
        target = check_target(y, competing=self._competing)
        X = self._validate(X, reset=True)
        check_consistent_length(X, target.time)
        self.event_times_ = np.unique(target.time[target.event > 0])
        self.max_time_ = float(target.time.max())
        self._fit(X, target)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Risk score, higher = worse."""
        check_is_fitted(self, "event_times_")
        return self._predict_score(self._validate(X))

    def predict_survival(self, X: Any, times: Any) -> np.ndarray:
        """S(t | x) for each row and each time: an array (n_samples, n_times).

        Raises
        ------
        PredictionHorizonError
            When a time lies past the training follow-up (``max_time_``).
        """
        check_is_fitted(self, "event_times_")
        return self._predict_survival(self._validate(X), self.check_prediction_times(times))

    def predict_survival_function(self, X: Any) -> np.ndarray:
        """scikit-survival ``StepFunction`` per row, on the training event times."""
        survival = self.predict_survival(X, self.event_times_)
        return np.array([StepFunction(self.event_times_, row) for row in survival])

    def predict_risk(self, X: Any, horizon: float) -> np.ndarray:
        """Probability of the outcome (cause 1) by ``horizon`` days.

        Raises
        ------
        PredictionHorizonError
            When ``horizon`` lies past the training follow-up (``max_time_``).
        """
        if self._competing:
            return self.predict_cumulative_incidence(X, 1, [horizon])[:, 0]
        return 1.0 - self.predict_survival(X, [horizon])[:, 0]

    def check_prediction_times(self, times: Any) -> np.ndarray:
        """``times`` as a float array; what every prediction (and explanation) at chosen times
        calls first.

        Raises
        ------
        PredictionHorizonError
            When a time lies past the training follow-up (``max_time_``).
        """
        check_is_fitted(self, "event_times_")
        grid = np.atleast_1d(np.asarray(times, dtype=float))
        beyond = grid[grid > self.max_time_]
        if beyond.size:
            raise PredictionHorizonError(
                f"{type(self).__name__} cannot predict at {beyond.max():g} days: its training "
                f"follow-up ends at {self.max_time_:g} days (the longest time in the data it "
                f"was fitted on), and past it nothing was observed; ask for times up to "
                f"{self.max_time_:g} days, or fit on data with longer follow-up"
            )
        return grid

    def score(self, X: Any, y: np.ndarray) -> float:
        """Harrell's concordance index of ``predict(X)`` against ``y`` (as scikit-survival's
        estimators score); under competing risks, the cause-specific C of cause 1.

        Other scorers for ``GridSearchCV(scoring=...)``: :mod:`prognosis.models.scoring`.
        """
        from prognosis.evaluation.metrics import harrell_c  # evaluation imports the models

        return harrell_c(y, self.predict(X))

    def _validate(self, X: Any, *, reset: bool = False) -> Any:
        """``X`` as float64 (CSR where the family takes sparse input), checked by
        :func:`sklearn.utils.validation.validate_data`: 2-d, finite unless the family takes
        missing values; at fit it records ``n_features_in_`` and ``feature_names_in_`` (or
        removes a stale one), afterwards it checks the count and the names.

        An array without names is positional, as at fit (explainers pass arrays): no warning.

        Raises
        ------
        FeatureNamesError
            When a DataFrame's columns differ from those at fit (missing, unexpected or
            reordered); the message names them.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="X does not have valid feature names", category=UserWarning
            )
            try:
                array = validate_data(
                    self,
                    X,
                    reset=reset,
                    dtype=np.float64,
                    ensure_all_finite="allow-nan" if self._allow_nan else True,
                    accept_sparse=self._accept_sparse,
                    ensure_min_samples=2 if reset else 1,  # one row has nothing to compare
                )
            except ValueError as error:
                if "feature names should match" not in str(error):
                    raise
                raise FeatureNamesError(self._names_message(str(error), X)) from None
        # scipy's sparse arrays as the sparse matrices that xgboost predicts on
        return sp.csr_matrix(array) if sp.issparse(array) and not sp.isspmatrix(array) else array

    def _names_message(self, sklearn_message: str, X: Any) -> str:
        problem = columns_problem(self.feature_names_in_, X.columns)
        return f"{type(self).__name__}: {sklearn_message.rstrip()}\n{problem}"

    # -- fitted state as data -----------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted estimator as data: a JSON-ready dict and named numeric arrays.

        Returns
        -------
        state : dict
            The class name, ``get_params()``, the input schema, and under ``"fitted"`` the
            family's own learned values that are not arrays.
        arrays : dict of str to ndarray
            Numeric arrays (never of object dtype), ``event_times`` and the family's own.
        """
        check_is_fitted(self, "event_times_")
        names = getattr(self, "feature_names_in_", None)
        fitted, arrays = self._fitted_state()
        state = {
            "estimator": type(self).__name__,
            "params": self.get_params(),
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(name) for name in names],
            "max_time": float(self.max_time_),
            "fitted": fitted,
        }
        return state, {"event_times": np.asarray(self.event_times_, dtype=float), **arrays}

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        """The fitted estimator that :meth:`to_state` described.

        Raises
        ------
        ValueError
            When ``state`` describes another class.
        KeyError, TypeError
            When ``state`` or ``arrays`` lack what the family needs.
        """
        if state["estimator"] != cls.__name__:
            raise ValueError(f"the state is of a {state['estimator']!r}, not a {cls.__name__}")
        model = cls(**state["params"])
        model.n_features_in_ = int(state["n_features_in"])
        if state["feature_names_in"] is not None:
            model.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        model.event_times_ = np.asarray(arrays["event_times"], dtype=float)
        model.max_time_ = float(state["max_time"])
        model._set_fitted_state(state["fitted"], arrays)
        return model

    # -- explanation hooks (see the module notes) --------------------------------------
    def shap_values(
        self, X: np.ndarray, reference: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Exact SHAP values of the output named by :attr:`shap_output`.

        Parameters
        ----------
        X : ndarray (n, q)
            Model-input rows (after the preprocessing), float64, C-contiguous.
        reference : ndarray (r, q), optional
            Background rows; linear families explain against their mean, tree families against
            their own training cover (and ignore them).

        Returns
        -------
        values : ndarray (n, q)
            Each column's contribution; ``base + values.sum(axis=1)`` is the output.
        base : float
            The output at the reference.

        Raises
        ------
        ExplanationError
            When the family has no exact method, or needs a ``reference`` it was not given.
        """
        raise ExplanationError(
            f"no exact SHAP method for {type(self).__name__}; a model family explains itself "
            "through its shap_output and shap_values (docs/adding_a_model_family.md)"
        )

    def risk_without(
        self, shap: np.ndarray, horizon: float, *, risk: float, inputs: Inputs, fold: Fold
    ) -> np.ndarray:
        """One row's risk by ``horizon`` with each feature's contribution taken away.

        Parameters
        ----------
        shap : ndarray (p,)
            Each dataset feature's SHAP value, in the unit of :attr:`shap_output`.
        horizon : float
            Days since index.
        risk : float
            The row's predicted risk by ``horizon`` (``predict_risk``).
        inputs : callable
            Returns the row's model inputs (1, q); the preprocessing runs only for the families
            that call it (the proportional-hazards ones need nothing but ``risk``).
        fold : callable
            Sums model-column values into dataset features (for families that explain another
            output first, such as S(t)).

        Returns
        -------
        ndarray (p,)
            The risk with feature j's SHAP value taken away (the model output moved back by it,
            carried to a risk through the model's own baseline).

        Raises
        ------
        ExplanationError
            When the family has no exact way to do it.
        """
        raise ExplanationError(
            f"no exact way to turn {type(self).__name__}'s SHAP values into risks"
        )

    def risk_contributions(
        self, shap: np.ndarray, horizon: float, *, risk: np.ndarray, inputs: Inputs, fold: Fold
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows' SHAP values carried to their risk by ``horizon``: probability units that add up
        exactly to each row's risk minus its reference risk.

        The default maps the output explained by :attr:`shap_output` to the risk with the
        family's :meth:`risk_without` (F, monotone in the output): the reference risk is F at
        the SHAP base value, ``F(base)``, and feature j gets its share of the move in
        proportion to its SHAP value (the "rescale" rule)::

            points_j = shap_j * (F(base + sum(shap)) - F(base)) / sum(shap)

        so that ``F(base) + sum(points) = F(base + sum(shap))``, the row's risk. Where
        ``sum(shap)`` is next to 0 the ratio is F's slope at the base value. A family that
        explains the risk itself (exact SHAP of S(t)) overrides this.

        Parameters
        ----------
        shap : ndarray (n, p)
            Each row's SHAP value of each dataset feature, in the unit of :attr:`shap_output`.
        horizon : float
            Days since index.
        risk : ndarray (n,)
            The rows' predicted risk by ``horizon`` (``predict_risk``).
        inputs : callable
            Returns the rows' model inputs (n, q), preprocessed when first called.
        fold : callable
            Sums model-column values (n, q, ...) into dataset features (n, p, ...).

        Returns
        -------
        reference : ndarray (n,)
            Each row's reference risk.
        points : ndarray (n, p)
            Each feature's contribution to the risk, as a probability (0.01 = 1 point);
            ``reference + points.sum(axis=1)`` equals ``risk``.

        Raises
        ------
        ExplanationError
            When the family has no way to carry its SHAP values to a risk.
        """
        shap = np.asarray(shap, dtype=float)
        reference = np.empty(len(shap))
        points = np.empty_like(shap)
        for i, values in enumerate(shap):
            total = float(values.sum())
            at_base, past_base = self.risk_without(  # F(base) and F(base + _FLAT)
                np.array([total, total - _FLAT]),
                horizon,
                risk=float(risk[i]),
                inputs=_row_of(inputs, i),
                fold=fold,
            )
            flat = abs(total) <= _FLAT  # then the ratio is F's slope at the base value
            scale = (past_base - at_base) / _FLAT if flat else (float(risk[i]) - at_base) / total
            reference[i] = at_base
            points[i] = values * scale
        return reference, points

    def predict_risk_interval(
        self, X: Any, horizon: float, *, level: float = 0.95
    ) -> np.ndarray | None:
        """An interval for each row's risk by ``horizon``, where the family has one.

        Returns
        -------
        ndarray (n, 2) or None
            Lower and upper ends per row; None for a family without an interval (the
            default), or a model saved without what it needs.
        """
        return None

    def survival_shap_values(
        self, X: np.ndarray, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact SHAP values of S(t) at each of ``times`` on model-input rows ``X`` (n, q).

        Returns ``values`` (n, q, m) and ``base`` (m,), with ``base + values.sum(axis=1)`` = S.

        Raises
        ------
        ExplanationError
            When the family has no exact method (the default).
        PredictionHorizonError
            For a time past the training follow-up.
        """
        raise ExplanationError(
            f"exact time-dependent explanations exist for the random survival forest (rsf) "
            f"only, not for {type(self).__name__}; use risk_effects for the risk at chosen "
            "horizons"
        )

    def linear_coefficients(self) -> np.ndarray:
        """The coefficient of each model-input column in the explained output, an array (q,).

        Raises
        ------
        ExplanationError
            When the family is not linear in its inputs (the default).
        """
        raise ExplanationError(f"{type(self).__name__} is not a linear model")

    def summary_table(self) -> pd.DataFrame | None:
        """The family's coefficient table (hazard ratios for the Cox families), or None."""
        return None

    def incidence_causes(self) -> tuple[int, ...]:
        """The event codes whose cumulative incidence ``predict_cumulative_incidence`` gives:
        every cause seen in fit (``causes_``) for a competing-risk family that models each
        cause, (1,) otherwise (a single-event model, or one that models only the outcome's
        subdistribution, such as Fine-Gray)."""
        causes = getattr(self, "causes_", None)
        return tuple(int(c) for c in causes) if causes is not None else (1,)

    # -- to implement -------------------------------------------------------------------
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        raise NotImplementedError

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _row_of(inputs: Inputs, i: int) -> Inputs:
    """Row ``i`` of ``inputs()``, as a one-row :data:`Inputs`."""
    return lambda: inputs()[i : i + 1]


def columns_problem(fitted: Any, given: Any) -> str:
    """How the columns ``given`` differ from those ``fitted`` on, naming them, and what to do.

    Parameters
    ----------
    fitted, given : sequence of column names

    Returns
    -------
    str
        Lines naming the missing, the unseen and the out-of-place columns (at most 5 of
        each), then the fix.
    """
    fitted = [str(name) for name in fitted]
    given = [str(name) for name in given]
    lines = []
    for what, names in (
        ("now missing", [name for name in fitted if name not in set(given)]),
        ("not seen at fit", [name for name in given if name not in set(fitted)]),
    ):
        if names:
            lines.append(f"columns {what}: {', '.join(map(repr, names[:5]))}")
    if not lines:
        pairs = zip(fitted, given, strict=False)  # the same names; duplicates may differ
        moved = [f"{f!r} (at fit) / {g!r} (now)" for f, g in pairs if f != g]
        lines.append(f"columns out of place: {', '.join(moved[:5])}")
    lines.append(
        "pass the columns the model was fitted on, in that order: X[model.feature_names_in_]"
    )
    return "\n".join(lines)


class SurvivalPipeline(Pipeline):
    """A scikit-learn ``Pipeline`` that passes the survival methods through to its model.

    A scipy sparse ``X`` is kept sparse through the preprocessing (pandas output cannot hold
    it), for the models that take it (xgboost).
    """

    def fit(self, X: Any, y: Any = None, **params: Any) -> SurvivalPipeline:
        """Fit the preprocessing and the model; ``score`` is then the model's (Harrell's C)."""
        if sp.issparse(X):
            self.set_output(transform="default")
        return super().fit(X, y, **params)

    def predict(self, X: Any, **params: Any) -> np.ndarray:
        """The model's risk score (higher = worse) on the transformed ``X``."""
        self._check_columns(X)
        return super().predict(X, **params)

    def score(self, X: Any, y: Any = None, **params: Any) -> float:
        """The model's score on the transformed ``X``: Harrell's C."""
        self._check_columns(X)
        return super().score(X, y, **params)

    def _check_columns(self, X: Any) -> None:
        fitted = getattr(self, "feature_names_in_", None)
        given = getattr(X, "columns", None)
        if fitted is None or given is None or list(map(str, fitted)) == list(map(str, given)):
            return
        raise FeatureNamesError(
            f"{type(self).__name__}: the columns of X differ from those it was fitted on\n"
            f"{columns_problem(fitted, given)}"
        )

    def _transformed(self, X: Any) -> Any:
        self._check_columns(X)
        for _, _, transformer in self._iter(with_final=False, filter_passthrough=True):
            X = transformer.transform(X)
        return X

    @property
    def max_time_(self) -> float:
        """The model's training follow-up: the longest time it can predict at."""
        return float(self.steps[-1][1].max_time_)

    def predict_survival(self, X: Any, times: Any) -> np.ndarray:
        return self.steps[-1][1].predict_survival(self._transformed(X), times)

    def predict_survival_function(self, X: Any) -> np.ndarray:
        return self.steps[-1][1].predict_survival_function(self._transformed(X))

    def predict_risk(self, X: Any, horizon: float) -> np.ndarray:
        return self.steps[-1][1].predict_risk(self._transformed(X), horizon)

    def predict_cumulative_incidence(self, X: Any, cause: int, times: Any) -> np.ndarray:
        return self.steps[-1][1].predict_cumulative_incidence(self._transformed(X), cause, times)

    def predict_risk_interval(
        self, X: Any, horizon: float, *, level: float = 0.95
    ) -> np.ndarray | None:
        """The model's interval for each row's risk by ``horizon`` (n, 2), or None."""
        return self.steps[-1][1].predict_risk_interval(self._transformed(X), horizon, level=level)
