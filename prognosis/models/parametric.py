"""Parametric accelerated-failure-time model: lifelines ``WeibullAFTFitter``."""

from __future__ import annotations

from typing import Any

import numpy as np
from lifelines import WeibullAFTFitter

from prognosis.models.base import SurvivalEstimator
from prognosis.models.cox import (
    EVENT,
    TIME,
    feature_names,
    fit_converged,
    lifelines_calls,
    lifelines_frame,
)
from prognosis.models.target import SurvivalTarget

__all__ = ["WeibullAFT"]


class WeibullAFT(SurvivalEstimator):
    """Weibull accelerated-failure-time regression (lifelines ``WeibullAFTFitter``).

    The risk score is the negative predicted median survival time (higher = worse); survival
    probabilities come from the fitted Weibull distribution. A fit that lifelines flags with
    ``ConvergenceWarning`` or ``ConvergenceError`` raises
    :class:`~prognosis.models.cox.ModelConvergenceError`.

    Parameters
    ----------
    penalizer : float
        L2 penalty on the coefficients (0 = maximum likelihood).

    Attributes
    ----------
    model_ : lifelines.WeibullAFTFitter
    summary_ : DataFrame
        lifelines' coefficient table (``lambda_`` for the scale, ``rho_`` for the shape).
    """

    def __init__(self, *, penalizer: float = 0.0):
        self.penalizer = penalizer

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        frame = lifelines_frame(X, feature_names(self), target)

        def fit_once(options: dict[str, Any] | None) -> WeibullAFTFitter:
            fitter = WeibullAFTFitter(penalizer=self.penalizer)
            return fitter.fit(frame, TIME, EVENT, fit_options=options)

        self.model_, _ = fit_converged(fit_once, [None], model="WeibullAFT", check=_check_aft)
        self.summary_ = self.model_.summary

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        with lifelines_calls():
            median = self.model_.predict_median(lifelines_frame(X, feature_names(self)))
        return -np.asarray(median, dtype=float).ravel()

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        frame = lifelines_frame(X, feature_names(self))
        with lifelines_calls():
            survival = self.model_.predict_survival_function(frame, times=times)
        return survival.to_numpy(dtype=float).T


def _check_aft(fitter: WeibullAFTFitter) -> str | None:
    if not np.all(np.isfinite(fitter.params_)):
        return "non-finite coefficients"
    return None
