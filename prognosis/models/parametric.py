"""Parametric accelerated-failure-time model: lifelines ``WeibullAFTFitter``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lifelines import WeibullAFTFitter

from prognosis.models.base import Fold, Inputs, ShapOutput, SurvivalEstimator
from prognosis.models.cox import (
    EVENT,
    TIME,
    feature_names,
    fit_converged,
    lifelines_frame,
)
from prognosis.models.explaining import LINEAR_SHAP, LinearShapMixin
from prognosis.models.state import get_table, put_table
from prognosis.models.target import SurvivalTarget

__all__ = ["WeibullAFT"]


class WeibullAFT(LinearShapMixin, SurvivalEstimator):
    """Weibull accelerated-failure-time regression (lifelines ``WeibullAFTFitter``).

    S(t | x) = exp(-(t / lambda(x)) ** rho) with log lambda(x) = ``intercept_ + x @ coef_``
    and a shape ``rho_`` common to every row. The risk score is the negative predicted median
    survival time, lambda(x) (log 2) ** (1 / rho) (higher = worse). Predictions come from
    these arrays, as lifelines computes them, not from a lifelines object (none is kept), so a
    model loaded from its saved state predicts exactly as the fitted one. A fit that lifelines
    flags with ``ConvergenceWarning`` or ``ConvergenceError`` raises
    :class:`~prognosis.models.cox.ModelConvergenceError`.

    Explained by exact linear SHAP of the log median time, log(-predict), which is linear in x
    through ``coef_`` (the shape has no covariates), against a background; a higher log time
    is a lower risk (sign -1).

    Parameters
    ----------
    penalizer : float
        L2 penalty on the coefficients (0 = maximum likelihood).

    Attributes
    ----------
    coef_ : ndarray (n_features,)
        The coefficients of log lambda (lifelines' ``lambda_`` parameters).
    intercept_ : float
        The intercept of log lambda.
    rho_ : float
        The Weibull shape, exp of lifelines' ``rho_`` intercept.
    summary_ : DataFrame
        lifelines' coefficient table (``lambda_`` for the scale, ``rho_`` for the shape).
    """

    shap_output = ShapOutput("log time", -1, LINEAR_SHAP)

    def __init__(self, *, penalizer: float = 0.0):
        self.penalizer = penalizer

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        names = feature_names(self)
        frame = lifelines_frame(X, names, target)

        def fit_once(options: dict[str, Any] | None) -> WeibullAFTFitter:
            fitter = WeibullAFTFitter(penalizer=self.penalizer)
            return fitter.fit(frame, TIME, EVENT, fit_options=options)

        fitter, _ = fit_converged(fit_once, [None], model="WeibullAFT", check=_check_aft)
        params = fitter.params_
        self.coef_ = params.loc["lambda_"].reindex(names).to_numpy(dtype=float)
        self.intercept_ = float(params.loc[("lambda_", "Intercept")])
        self.rho_ = float(np.exp(params.loc[("rho_", "Intercept")]))
        self.summary_ = fitter.summary

    def _log_scale(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_ + self.intercept_

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        median = np.exp(self._log_scale(X)) * np.power(np.log(2.0), 1.0 / self.rho_)
        return -median

    def linear_coefficients(self) -> np.ndarray:
        """The coefficient of each input column in log lambda (and in the log median time)."""
        return np.asarray(self.coef_, dtype=float)

    def summary_table(self) -> pd.DataFrame:
        """``summary_``: lifelines' coefficient table (``lambda_`` scale, ``rho_`` shape)."""
        return self.summary_

    def risk_without(
        self, shap: np.ndarray, horizon: float, *, risk: float, inputs: Inputs, fold: Fold
    ) -> np.ndarray:
        """1 - S(h) ** exp(rho * shap): log time moved back by shap scales t ** rho."""
        return 1.0 - np.power(1.0 - risk, np.exp(self.rho_ * shap))

    def _linear_output(self, X: np.ndarray) -> np.ndarray:
        return np.log(-self.predict(X))  # predict = -median time

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        log_times = np.log(np.clip(times, 1e-100, np.inf))
        with np.errstate(over="ignore"):
            hazard = np.exp(self.rho_ * (log_times[None, :] - self._log_scale(X)[:, None]))
        return np.exp(-hazard)

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state: dict[str, Any] = {"intercept": self.intercept_, "rho": self.rho_}
        arrays = {"coef": self.coef_}
        put_table(state, arrays, "summary", self.summary_)
        return state, arrays

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.intercept_ = float(state["intercept"])
        self.rho_ = float(state["rho"])
        self.coef_ = np.asarray(arrays["coef"], dtype=float)
        self.summary_ = get_table(state, arrays, "summary")


def _check_aft(fitter: WeibullAFTFitter) -> str | None:
    if not np.all(np.isfinite(fitter.params_)):
        return "non-finite coefficients"
    if list(fitter.params_.loc["rho_"].index) != ["Intercept"]:
        return "a Weibull shape that depends on covariates"
    return None
