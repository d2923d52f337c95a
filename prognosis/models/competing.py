"""Competing risks: the Aalen-Johansen cumulative incidence and cause-specific Cox models.

With competing events (codes 2, 3, ... beside the outcome 1), 1 - Kaplan-Meier of one cause
overstates its risk. :func:`aalen_johansen` is the non-parametric cumulative incidence (through
scikit-survival); :class:`CauseSpecificCox` fits one Cox model per cause and combines their
hazards into each row's cumulative incidence (:func:`competing_risk_curves`).

A Fine-Gray (subdistribution hazard) model is deliberately absent: no published reference fit
(R ``cmprsk::crr``) on a data set available in Python was found to check one against.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from sklearn.utils.validation import check_is_fitted
from sksurv.nonparametric import cumulative_incidence_competing_risks

from prognosis.models.base import SurvivalEstimator
from prognosis.models.boosting import breslow_cumulative_hazard, step_values
from prognosis.models.cox import (
    EVENT,
    STEP_SIZES,
    TIME,
    cox_summary,
    feature_names,
    fit_converged,
    lifelines_frame,
)
from prognosis.models.state import get_table, put_table
from prognosis.models.target import (
    SurvivalTarget,
    TargetError,
    check_target,
    make_competing_target,
)

__all__ = [
    "CauseSpecificCox",
    "aalen_johansen",
    "competing_risk_curves",
]

_BLOCK_CELLS = 1 << 22  # rows x causes x times computed at once


def aalen_johansen(
    event: np.ndarray, time: np.ndarray, cause: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Aalen-Johansen estimate of the cumulative incidence of one cause.

    Parameters
    ----------
    event : array (n,)
        0 censored, 1, 2, ... the cause of the event.
    time : array (n,)
        Event or censoring times, > 0.
    cause : int
        The cause whose cumulative incidence is returned.

    Returns
    -------
    times : array (k,)
        The distinct observed times (events and censorings), increasing.
    incidence : array (k,)
        P(T <= t, cause) at each of those times, a right-continuous step function.
    """
    event, time = np.asarray(event), np.asarray(time)
    if event.ndim != 1 or event.shape != time.shape:
        raise ValueError(
            f"event and time must be 1-d arrays of one length, got shapes {event.shape} and "
            f"{time.shape}"
        )
    target = check_target(make_competing_target(event, time), competing=True)
    if not 1 <= cause <= target.event.max():
        raise ValueError(f"cause {cause!r} is not an event code in the data {target.causes}")
    times, incidence = cumulative_incidence_competing_risks(target.event, target.time)
    return times, incidence[cause]


def competing_risk_curves(hazard_jumps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event-free survival and cumulative incidences from cause-specific hazard jumps.

    ``hazard_jumps[i, k, g]`` is row i's cause-k cumulative-hazard increment at grid time g.
    The event-free survival is S(t) = exp(-sum_k H_k(t)); at each grid time the fall in S,
    S(t-) (1 - exp(-sum_k dH_k)), is shared among the causes in proportion to their hazard
    jumps, so CIF_k(t) ~ sum_{s <= t} dH_k(s) S(s-) and sum_k CIF_k(t) + S(t) = 1 exactly.

    Returns
    -------
    survival : array (n, G)
        S at each grid time.
    incidence : array (n, K, G)
        CIF_k at each grid time.
    """
    total = hazard_jumps.sum(axis=1)
    survival = np.exp(-np.cumsum(total, axis=1))
    before = np.concatenate([np.ones((total.shape[0], 1)), survival[:, :-1]], axis=1)
    share = np.divide(
        hazard_jumps,
        total[:, None, :],
        out=np.zeros_like(hazard_jumps),
        where=total[:, None, :] > 0,
    )
    incidence = np.cumsum(share * (before - survival)[:, None, :], axis=2)
    return survival, incidence


def _fit_problem(fitter: CoxPHFitter) -> str | None:
    """Why a Cox fit that raised nothing is still not a maximum, or None."""
    if not np.all(np.isfinite(fitter.params_)) or not np.all(np.isfinite(fitter.standard_errors_)):
        return "non-finite coefficients or standard errors"
    if fitter.log_likelihood_ratio_test().test_statistic < -1e-6:  # worse than beta = 0
        return "partial log-likelihood below that of the null model (diverged)"
    return None


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
        check=_fit_problem,
    )
    return fitter


class CauseSpecificCox(SurvivalEstimator):
    """One Cox proportional-hazards model per cause, combined into cumulative incidences.

    Each cause k gets a Cox model (lifelines, Efron ties) with the other causes counted as
    censored, and its Breslow baseline hazard. For a row x, CIF_k(t | x) = sum over event times
    s <= t of dH_k(s | x) S(s- | x), with S(t | x) = exp(-sum_j H_j(t | x)) the event-free
    survival (see :func:`competing_risk_curves`).

    ``predict`` is the cause-1 linear predictor; ``predict_survival`` the event-free survival;
    ``predict_risk(X, horizon)`` the cumulative incidence of cause 1.

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
    """

    _competing = True

    def __init__(self, *, penalizer: float = 0.0, step_size: float = 0.5) -> None:
        self.penalizer = penalizer
        self.step_size = step_size

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        if 1 not in target.causes:
            raise TargetError(
                f"y has no event of cause 1 (the outcome); event codes seen: {target.causes}"
            )
        frame = lifelines_frame(X, feature_names(self)).assign(**{TIME: target.time})
        self.causes_ = target.causes
        self.summary_ = {}
        coefs, jumps = [], []
        for cause in self.causes_:
            events = target.event == cause
            fitter = _fit_cause(
                frame.assign(**{EVENT: events.astype(int)}), cause, self.penalizer, self.step_size
            )
            coef = fitter.params_.to_numpy()
            times, cumulative = breslow_cumulative_hazard(target.time, events, X @ coef)
            jumps.append(np.diff(step_values(times, cumulative, self.event_times_), prepend=0.0))
            coefs.append(coef)
            self.summary_[cause] = cox_summary(fitter)
        self.coef_ = np.vstack(coefs)
        self.hazard_jumps_ = np.vstack(jumps)

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

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state: dict[str, Any] = {"causes": [int(cause) for cause in self.causes_]}
        arrays = {"coef": self.coef_, "hazard_jumps": self.hazard_jumps_}
        for cause in self.causes_:
            put_table(state, arrays, f"summary_{cause}", self.summary_[cause])
        return state, arrays

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.causes_ = [int(cause) for cause in state["causes"]]
        self.coef_ = np.asarray(arrays["coef"], dtype=float)
        self.hazard_jumps_ = np.asarray(arrays["hazard_jumps"], dtype=float)
        self.summary_ = {
            cause: get_table(state, arrays, f"summary_{cause}") for cause in self.causes_
        }

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self._curves(X, times)[0]

    def _curves(self, X: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event-free survival (n, m) and cumulative incidences (n, K, m) at ``times``."""
        horizon = int(np.searchsorted(self.event_times_, times.max(), side="right"))
        baseline = self.hazard_jumps_[:, :horizon]
        # column 0 stands for "before the first event time": S = 1, CIF = 0
        column = np.searchsorted(self.event_times_[:horizon], times, side="right")
        relative = np.exp(X @ self.coef_.T)
        n_causes = len(self.causes_)
        survival = np.empty((X.shape[0], len(times)))
        incidence = np.empty((X.shape[0], n_causes, len(times)))
        rows = max(1, _BLOCK_CELLS // max(1, n_causes * horizon))
        for start in range(0, X.shape[0], rows):
            block = slice(start, start + rows)
            s, c = competing_risk_curves(relative[block, :, None] * baseline[None])
            survival[block] = np.pad(s, ((0, 0), (1, 0)), constant_values=1.0)[:, column]
            incidence[block] = np.pad(c, ((0, 0), (0, 0), (1, 0)))[:, :, column]
        return survival, incidence
