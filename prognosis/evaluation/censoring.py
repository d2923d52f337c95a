"""Models of the censoring time, for inverse-probability-of-censoring weights.

IPCW metrics weight a person with an event at T by 1 / G(T- | x), the probability of being still
uncensored just before T, and a person still followed at t by 1 / G(t | x). Two models of G:

* :class:`KaplanMeierCensoring` (the default): G(t) by the reverse Kaplan-Meier estimator, the
  same for everyone; it assumes that censoring does not depend on the covariates;
* :class:`CoxCensoring`: G(t | x) = exp(-H0(t) exp(x'b)) from a Cox model of the censoring time
  on chosen covariates (Efron's partial likelihood and the baseline that goes with it,
  :func:`efron_baseline`), as ``riskRegression::Score(cens.model = "cox")`` (``rms::cph``);
  it assumes censoring independent of the outcome given those covariates.

On the same day, events precede censorings (a person censored on the day of an event was at
risk of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sksurv.nonparametric import kaplan_meier_estimator

from prognosis.exceptions import EvaluationError
from prognosis.models.survival import step_function

__all__ = [
    "CensoringModel",
    "CoxCensoring",
    "KaplanMeierCensoring",
    "censoring_frame",
    "efron_baseline",
    "fit_cox_censoring",
    "parse_censoring_model",
]


@dataclass(frozen=True)
class KaplanMeierCensoring:
    """G(t) by the reverse Kaplan-Meier estimator of ``y`` (event: any event; censored: not)."""

    grid: np.ndarray
    values: np.ndarray

    @classmethod
    def fit(cls, event: np.ndarray, time: np.ndarray) -> KaplanMeierCensoring:
        grid, values = kaplan_meier_estimator(event, time, reverse=True)
        return cls(np.asarray(grid, float), np.asarray(values, float))

    def at_rows(self, times: np.ndarray, *, left: bool) -> np.ndarray:
        """G at one time per row, (n,); G(t-) when ``left``."""
        return step_function(self.grid, self.values, times, before=1.0, left_limit=left)

    def at_grid(self, times: np.ndarray, n: int) -> np.ndarray:
        """G at each time for every row, (n, len(times))."""
        return np.broadcast_to(
            step_function(self.grid, self.values, times, before=1.0, left_limit=False),
            (n, len(times)),
        )


@dataclass(frozen=True)
class CoxCensoring:
    """G(t | x) = exp(-H0(t) exp(lp)) per row: a Cox model of the censoring time."""

    grid: np.ndarray  # baseline times
    cumulative_hazard: np.ndarray  # H0 at each baseline time
    linear_predictor: np.ndarray  # x'b per row (rows resampled with the data they weight)

    def at_rows(self, times: np.ndarray, *, left: bool) -> np.ndarray:
        hazard = 1.0 - step_function(
            self.grid, 1.0 - self.cumulative_hazard, times, before=1.0, left_limit=left
        )
        return np.exp(-hazard * np.exp(self.linear_predictor))

    def at_grid(self, times: np.ndarray, n: int) -> np.ndarray:
        hazard = 1.0 - step_function(
            self.grid, 1.0 - self.cumulative_hazard, times, before=1.0, left_limit=False
        )
        return np.exp(-np.outer(np.exp(self.linear_predictor), hazard))


CensoringModel = KaplanMeierCensoring | CoxCensoring


def fit_cox_censoring(
    event: np.ndarray, time: np.ndarray, covariates: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Cox model of the censoring time on ``covariates`` (lifelines' coefficients, Efron ties;
    the baseline of :func:`efron_baseline`).

    A row is a censoring "event" when it has no event; a row with an event is censored for the
    censoring process at its time. Returns the baseline times, the baseline cumulative hazard
    H0 and the linear predictor of each row (centred on the covariates' means, as H0 is), for
    :class:`CoxCensoring`.

    Raises
    ------
    EvaluationError
        When a covariate is missing for some rows, or the fit does not converge.
    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    from prognosis.models.cox import lifelines_calls

    frame = covariates.reset_index(drop=True).astype(float)
    missing = [str(c) for c in frame.columns if frame[c].isna().any()]
    if missing:
        raise EvaluationError(
            f"the censoring model's covariates have missing values ({', '.join(missing)}); "
            "choose covariates without missing values"
        )
    data = frame.assign(__time__=np.asarray(time, float), __censored__=~np.asarray(event, bool))
    try:
        with lifelines_calls(fitting=True):
            fitter = CoxPHFitter().fit(data, "__time__", "__censored__")
    except (ConvergenceError, RuntimeWarning, np.linalg.LinAlgError) as problem:
        raise EvaluationError(
            f"the Cox model of the censoring time did not converge ({problem}); choose fewer "
            "or less collinear covariates"
        ) from None
    with lifelines_calls():  # centred on the covariates' means
        linear = fitter.predict_log_partial_hazard(frame).to_numpy(dtype=float)
    grid, hazard = efron_baseline(~np.asarray(event, bool), np.asarray(time, float), linear)
    return grid, hazard, linear


def efron_baseline(
    event: np.ndarray, time: np.ndarray, linear: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The baseline cumulative hazard of a Cox model with Efron's correction for ties.

    At a time with d tied events whose relative risks exp(lp) sum to D, out of a risk set
    summing to R, the hazard increases by the sum over l = 0..d-1 of 1 / (R - l D / d): the
    estimator that goes with Efron's partial likelihood (the coefficients of lifelines and of
    R's ``coxph``), and R's ``survfit.coxph`` and ``rms::cph`` default for it (Breslow's,
    lifelines' ``baseline_cumulative_hazard_``, is 1 / R per event and differs at ties).

    Returns
    -------
    grid, cumulative_hazard : the distinct event times, ascending, and H0 there (relative to
        ``linear``: H(t | x) = H0(t) exp(lp))
    """
    risk = np.exp(linear)
    grid, step = np.unique(time, return_inverse=True)
    # R at each distinct time: the relative risks of everyone whose time is at or after it
    at_risk = np.cumsum(np.bincount(step, weights=risk, minlength=grid.size)[::-1])[::-1]
    rows = np.flatnonzero(event)
    rows = rows[np.argsort(step[rows], kind="stable")]
    k = step[rows]
    tied = np.bincount(k, minlength=grid.size).astype(float)
    tied_risk = np.bincount(k, weights=risk[rows], minlength=grid.size)
    first = np.searchsorted(k, k, side="left")  # l: the row's place among its tied events
    share = (np.arange(rows.size) - first) / tied[k]
    increments = np.bincount(
        k, weights=1.0 / (at_risk[k] - share * tied_risk[k]), minlength=grid.size
    )
    keep = tied > 0
    return grid[keep], np.cumsum(increments)[keep]


def parse_censoring_model(text: str) -> tuple[str, ...]:
    """``km`` (Kaplan-Meier weights: no covariates) or ``cox:COL,COL`` (a Cox model of the
    censoring time on those dataset columns); the columns, checked later against a dataset."""
    kind, _, columns = text.partition(":")
    names = tuple(c.strip() for c in columns.split(",") if c.strip())
    if (kind == "km" and not columns) or (kind == "cox" and names):
        return names
    raise EvaluationError(
        f"--censoring-model {text!r}: use km (Kaplan-Meier) or cox:COLUMN,COLUMN (a Cox model "
        "of the censoring time on dataset columns, e.g. cox:age,sex_male)"
    )


def censoring_frame(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame | None:
    """The covariates of the censoring model from a dataset frame; None for Kaplan-Meier."""
    if not columns:
        return None
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise EvaluationError(
            f"--censoring-model cox:{','.join(columns)}: the dataset has no column "
            f"{', '.join(unknown)}; name feature columns of the dataset"
        )
    return frame[list(columns)]
