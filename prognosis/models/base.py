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

A subclass implements ``_fit(X, target)``, ``_predict_score(X)`` and ``_predict_survival(X,
times)`` on float arrays; this mixin does the checking and the shared derivations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_array, check_is_fitted
from sksurv.functions import StepFunction

from prognosis.models.target import SurvivalTarget, check_target

__all__ = ["SurvivalEstimator", "SurvivalPipeline"]


class SurvivalEstimator(BaseEstimator):
    """Checks inputs once; derives risk and step functions from ``_predict_survival``."""

    _competing: bool = False  # competing-risk models set this
    _allow_nan: bool = False  # models that handle missing values natively set this

    def fit(self, X: Any, y: np.ndarray) -> SurvivalEstimator:
        target = check_target(y, competing=self._competing)
        X = self._validate(X, reset=True)
        self.event_times_ = np.unique(target.time[target.event > 0])
        self.max_time_ = float(target.time.max())
        self._fit(X, target)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Risk score, higher = worse."""
        check_is_fitted(self, "event_times_")
        return self._predict_score(self._validate(X))

    def predict_survival(self, X: Any, times: Any) -> np.ndarray:
        """S(t | x) for each row and each time: an array (n_samples, n_times)."""
        check_is_fitted(self, "event_times_")
        return self._predict_survival(self._validate(X), np.atleast_1d(np.asarray(times, float)))

    def predict_survival_function(self, X: Any) -> np.ndarray:
        """scikit-survival ``StepFunction`` per row, on the training event times."""
        survival = self.predict_survival(X, self.event_times_)
        return np.array([StepFunction(self.event_times_, row) for row in survival])

    def predict_risk(self, X: Any, horizon: float) -> np.ndarray:
        """Probability of the outcome (cause 1) by ``horizon`` days."""
        if self._competing:
            return self.predict_cumulative_incidence(X, 1, [horizon])[:, 0]
        return 1.0 - self.predict_survival(X, [horizon])[:, 0]

    def _validate(self, X: Any, *, reset: bool = False) -> np.ndarray:
        if reset:
            self.n_features_in_ = np.shape(X)[1]
            if hasattr(X, "columns"):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        array = check_array(
            X,
            dtype=np.float64,
            ensure_all_finite="allow-nan" if self._allow_nan else True,
            accept_sparse=getattr(self, "_accept_sparse", False),
        )
        if array.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {array.shape[1]} features, but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}"
            )
        return array

    # -- to implement -------------------------------------------------------------------
    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        raise NotImplementedError

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class SurvivalPipeline(Pipeline):
    """A scikit-learn ``Pipeline`` that passes the survival methods through to its model.

    A scipy sparse ``X`` is kept sparse through the preprocessing (pandas output cannot hold
    it), for the models that take it (xgboost).
    """

    def fit(self, X: Any, y: Any = None, **params: Any) -> SurvivalPipeline:
        if sp.issparse(X):
            self.set_output(transform="default")
        return super().fit(X, y, **params)

    def _transformed(self, X: Any) -> Any:
        for _, _, transformer in self._iter(with_final=False, filter_passthrough=True):
            X = transformer.transform(X)
        return X

    def predict_survival(self, X: Any, times: Any) -> np.ndarray:
        return self.steps[-1][1].predict_survival(self._transformed(X), times)

    def predict_survival_function(self, X: Any) -> np.ndarray:
        return self.steps[-1][1].predict_survival_function(self._transformed(X))

    def predict_risk(self, X: Any, horizon: float) -> np.ndarray:
        return self.steps[-1][1].predict_risk(self._transformed(X), horizon)

    def predict_cumulative_incidence(self, X: Any, cause: int, times: Any) -> np.ndarray:
        return self.steps[-1][1].predict_cumulative_incidence(self._transformed(X), cause, times)
