"""Competing risks: cause-specific Cox models.

With competing events (codes 2, 3, ... beside the outcome 1), 1 - Kaplan-Meier of one cause
overstates its risk. :class:`CauseSpecificCox` fits one Cox model per cause and combines their
hazards into each row's cumulative incidence
(:func:`prognosis.models.survival.cumulative_incidence`); the non-parametric Aalen-Johansen
estimate is :func:`prognosis.models.survival.aalen_johansen`.

The Fine-Gray (subdistribution hazard) model of the outcome is
:class:`prognosis.models.fine_gray.FineGray` (docs/competing_risks.md compares the two).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from scipy.stats import norm
from sklearn.utils.validation import check_is_fitted

from prognosis.models.base import Fold, Inputs, ShapOutput, SurvivalEstimator
from prognosis.models.cox import (
    EVENT,
    STEP_SIZES,
    TIME,
    cox_fit_problem,
    cox_summary,
    feature_names,
    fit_converged,
    lifelines_frame,
)
from prognosis.models.explaining import LINEAR_SHAP, LinearShapMixin
from prognosis.models.state import get_table, put_table
from prognosis.models.survival import (
    breslow_cumulative_hazard,
    cumulative_incidence,
    step_function,
)
from prognosis.models.target import (
    SurvivalTarget,
    TargetError,
    warn_without_competing,
)

__all__ = ["CauseSpecificCox"]

_STEP = 1e-5  # of a coefficient, for the central differences of the interval's delta method


def _bounds(g: np.ndarray, se: np.ndarray, level: float) -> np.ndarray:
    """log(-log(1 - p)) +/- z se, back to probabilities p: an array (n, 2)."""
    z = float(norm.ppf(0.5 + level / 2))
    spread = np.column_stack([g - z * se, g + z * se])
    with np.errstate(over="ignore"):
        return np.nan_to_num(1.0 - np.exp(-np.exp(spread)), nan=0.0)


def _fit_cause(frame: pd.DataFrame, cause: int, penalizer: float, step_size: float) -> CoxPHFitter:
    """lifelines' Cox model for one cause: Newton steps of ``step_size``, then smaller ones.

    A fit that warns ``ConvergenceWarning``, raises ``ConvergenceError`` or diverges counts as
    failed; when every step size fails, :class:`prognosis.models.cox.ModelConvergenceError`.
    """

    def fit_once(options: dict[str, Any] | None) -> CoxPHFitter:
        return CoxPHFitter(penalizer=penalizer).fit(frame, TIME, EVENT, fit_options=options)

    steps = [step_size, *(step for step in STEP_SIZES if step < step_size)]
    fitter, _ = fit_converged(
        fit_once,
        [{"step_size": step} for step in steps],
        model=f"the Cox model for cause {cause}",
        check=cox_fit_problem,
    )
    return fitter


class CauseSpecificCox(LinearShapMixin, SurvivalEstimator):
    """One Cox proportional-hazards model per cause, combined into cumulative incidences.

    Each cause k gets a Cox model (lifelines, Efron ties) with the other causes counted as
    censored, and its Breslow baseline hazard. For a row x, CIF_k(t | x) = sum over event times
    s <= t of dH_k(s | x) S(s- | x), with S(t | x) = exp(-sum_j H_j(t | x)) the event-free
    survival (see :func:`prognosis.models.survival.competing_risk_curves`).

    ``predict`` is the cause-1 linear predictor; ``predict_survival`` the event-free survival;
    ``predict_risk(X, horizon)`` the cumulative incidence of cause 1. Explained by exact linear
    SHAP of the cause-1 log hazard against a background (it keeps no training means); taking a
    feature's value away moves the cause-1 log hazard and leaves the other causes' hazards.

    Parameters
    ----------
    penalizer : float
        lifelines' ridge penalty on the coefficients (0: none).
    step_size : float
        lifelines' Newton-Raphson step size; a fit that fails is retried with the smaller steps
        of :data:`prognosis.models.cox.STEP_SIZES`, and when none converges
        :class:`prognosis.models.cox.ModelConvergenceError` is raised (never a quiet result).

    Attributes
    ----------
    causes_ : list of int
        The causes seen in fit (1 must be one).
    coef_ : array (n_causes, n_features)
        Log hazard ratios, one row per cause.
    summary_ : dict of int to DataFrame
        Per cause (as :func:`prognosis.models.cox.cox_summary`): ``coef``, ``se``,
        ``hazard_ratio``, ``hazard_ratio_lower_95``, ``hazard_ratio_upper_95``, ``p`` per feature.
    hazard_jumps_ : array (n_causes, n_event_times)
        Breslow baseline hazard increments of each cause on ``event_times_``.
    variance_ : array (n_causes, n_features, n_features) or None
        lifelines' estimated covariance of each cause's coefficients (None for a model saved
        without it), for :meth:`predict_risk_interval`.
    training_mean_ : array (n_features,) or None
        The training inputs' means, where the interval holds the baselines fixed.
    """

    _competing = True
    shap_output = ShapOutput("log hazard", 1, LINEAR_SHAP)

    def __init__(self, *, penalizer: float = 0.0, step_size: float = 0.5) -> None:
        self.penalizer = penalizer
        self.step_size = step_size

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        if 1 not in target.causes:
            raise TargetError(
                f"y has no event of cause 1 (the outcome); event codes seen: {target.causes}"
            )
        frame = lifelines_frame(X, feature_names(self)).assign(**{TIME: target.time})
        warn_without_competing(
            target, "with the outcome as its only cause, the cause-specific Cox equals cox"
        )
        self.causes_ = target.causes
        self.summary_ = {}
        coefs, jumps, variances = [], [], []
        for cause in self.causes_:
            events = target.event == cause
            fitter = _fit_cause(
                frame.assign(**{EVENT: events.astype(int)}), cause, self.penalizer, self.step_size
            )
            coef = fitter.params_.to_numpy()
            names = list(fitter.params_.index)
            variances.append(fitter.variance_matrix_.loc[names, names].to_numpy(dtype=float))
            times, cumulative = breslow_cumulative_hazard(target.time, events, X @ coef)
            jumps.append(
                np.diff(
                    step_function(times, cumulative, self.event_times_, before=0.0), prepend=0.0
                )
            )
            coefs.append(coef)
            self.summary_[cause] = cox_summary(fitter)
        self.coef_ = np.vstack(coefs)
        self.hazard_jumps_ = np.vstack(jumps)
        self.variance_ = np.stack(variances)
        self.training_mean_ = X.mean(axis=0)

    def predict_cumulative_incidence(self, X: Any, cause: int, times: Any) -> np.ndarray:
        """CIF of ``cause`` for each row and each time: an array (n_samples, n_times).

        Raises
        ------
        PredictionHorizonError
            When a time lies past the training follow-up (``max_time_``).
        """
        check_is_fitted(self, "event_times_")
        if cause not in self.causes_:
            raise ValueError(f"cause {cause!r} was not seen in fit; causes: {self.causes_}")
        times = self.check_prediction_times(times)
        _, incidence = self._curves(self._validate(X), times)
        return incidence[:, self.causes_.index(cause), :]

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_[self.causes_.index(1)]

    def linear_coefficients(self) -> np.ndarray:
        """The cause-1 log hazard ratio of each input column."""
        return np.asarray(self.coef_[self.causes_.index(1)], dtype=float)

    def summary_table(self) -> pd.DataFrame:
        """``summary_`` of every cause, one table with the cause as the outer index level."""
        return pd.concat(self.summary_, names=["cause"])

    def risk_without(
        self, shap: np.ndarray, horizon: float, *, risk: float, inputs: Inputs, fold: Fold
    ) -> np.ndarray:
        """Cause-1 cumulative incidence by ``horizon`` with the cause-1 log hazard moved by -shap
        (the other causes' hazards unchanged), one value per feature."""
        cause = self.causes_.index(1)
        log_hazard = np.repeat(inputs() @ self.coef_.T, len(shap), axis=0)  # (p, n_causes)
        log_hazard[:, cause] -= shap
        _, incidence = cumulative_incidence(
            log_hazard, self.hazard_jumps_, self.event_times_, np.array([horizon])
        )
        return incidence[:, cause, 0]

    def predict_risk_interval(
        self, X: Any, horizon: float, *, level: float = 0.95
    ) -> np.ndarray | None:
        """An interval for each row's cause-1 cumulative incidence by ``horizon``.

        The delta method on g = log(-log(1 - CIF_1)) (for one cause, the Cox model's
        log(H0) + eta): its gradient in every cause's coefficients (central differences), with
        the causes' covariances (independent: each cause has its own partial likelihood), gives
        se(g); ``g +/- z se`` is carried back to the incidence. The baseline hazards are held
        fixed at the training means (as ``cox`` holds its baseline there): a coefficient moved
        by ``delta`` moves a row's log hazard by ``(x - training_mean_) * delta``.

        Returns
        -------
        ndarray (n, 2) or None
            Lower and upper incidence per row; None for a model saved without ``variance_``.
        """
        if getattr(self, "variance_", None) is None or self.training_mean_ is None:
            return None
        X = self._validate(X)
        grid = self.check_prediction_times([horizon])
        cause = self.causes_.index(1)

        fitted = X @ self.coef_.T
        offset = X - self.training_mean_

        def g(coef: np.ndarray) -> np.ndarray:
            log_hazard = fitted + offset @ (coef - self.coef_).T
            _, incidence = cumulative_incidence(
                log_hazard, self.hazard_jumps_, self.event_times_, grid
            )
            with np.errstate(divide="ignore"):
                return np.log(-np.log1p(-incidence[:, cause, 0]))

        slopes = np.empty((*self.coef_.shape, len(X)))  # d g / d coef, per cause and feature
        for k, j in np.ndindex(*self.coef_.shape):
            step = np.zeros_like(self.coef_)
            step[k, j] = _STEP
            slopes[k, j] = (g(self.coef_ + step) - g(self.coef_ - step)) / (2 * _STEP)
        variance = np.einsum("kjn,kjl,kln->n", slopes, self.variance_, slopes)
        return _bounds(g(self.coef_), np.sqrt(variance), level)

    def _linear_output(self, X: np.ndarray) -> np.ndarray:
        return self.predict(X)

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state: dict[str, Any] = {"causes": [int(cause) for cause in self.causes_]}
        arrays = {"coef": self.coef_, "hazard_jumps": self.hazard_jumps_}
        if getattr(self, "variance_", None) is not None:
            arrays["variance"] = self.variance_
            arrays["training_mean"] = self.training_mean_
        for cause in self.causes_:
            put_table(state, arrays, f"summary_{cause}", self.summary_[cause])
        return state, arrays

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.causes_ = [int(cause) for cause in state["causes"]]
        self.coef_ = np.asarray(arrays["coef"], dtype=float)
        self.hazard_jumps_ = np.asarray(arrays["hazard_jumps"], dtype=float)
        variance = arrays.get("variance")  # absent from models saved before it was kept
        self.variance_ = None if variance is None else np.asarray(variance, dtype=float)
        mean = arrays.get("training_mean")
        self.training_mean_ = None if mean is None else np.asarray(mean, dtype=float)
        self.summary_ = {
            cause: get_table(state, arrays, f"summary_{cause}") for cause in self.causes_
        }

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self._curves(X, times)[0]

    def _curves(self, X: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event-free survival (n, m) and cumulative incidences (n, K, m) at ``times``."""
        return cumulative_incidence(X @ self.coef_.T, self.hazard_jumps_, self.event_times_, times)
