"""Bias-corrected percentile bootstrap intervals for any metric of a test set.

Persons of the test set are resampled with replacement, each with all of their rows (a cluster
bootstrap: the person is the unit of independence; without ``groups`` each row is its own
person), the target together with every prediction array; the metric is recomputed on each
resample. The interval is read off the percentiles of the replicates after the bias correction
of Efron (1981; Efron & Tibshirani 1993, section 14.3): with ``z0`` the normal quantile of the
share of replicates below the estimate, the bounds are the replicates' quantiles at
``Phi(2 z0 +- z_{1-alpha/2})``. For statistics whose bootstrap distribution is shifted away from
the estimate (calibration errors such as ICI, E50 and E90 are never negative, so resamples
overstate them) this keeps the interval around its estimate; where even the corrected interval
misses the estimate (nearly every replicate on one side of it), the interval is widened to reach
the estimate and ``extended`` says so. A resample where the metric cannot be computed (no outcome
event, a horizon past the resampled follow-up...) is skipped and counted, never silently
replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from prognosis.evaluation.metrics import EvaluationError

__all__ = ["BootstrapResult", "bootstrap_ci"]


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimate and percentile interval; vectors for metrics that return several values.

    ``n_failed`` resamples out of ``n_boot`` could not be computed and were skipped; the
    interval rests on the other ``n_boot - n_failed`` (NaN when none was left). ``extended``:
    the bias-corrected interval missed the estimate and was widened to reach it.
    """

    estimate: float | tuple[float, ...]
    lower: float | tuple[float, ...]
    upper: float | tuple[float, ...]
    n_boot: int
    n_failed: int
    alpha: float
    seed: int
    extended: bool | tuple[bool, ...] = False


def bootstrap_ci(
    metric_fn: Callable[..., Any],
    y_test: np.ndarray,
    *predictions: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    groups: np.ndarray | None = None,
    progress: Callable[[], None] | None = None,
) -> BootstrapResult:
    """Point estimate of ``metric_fn(y_test, *predictions)`` with a bias-corrected percentile
    interval from a cluster bootstrap of ``groups``.

    Parameters
    ----------
    metric_fn : called as ``metric_fn(y, *predictions)``; returns a number or a 1-d array.
        Bind anything that is not resampled (the training target, horizons) beforehand,
        e.g. ``lambda y, risk: uno_c(y_train, y, risk, tau=365)``.
    y_test : the test target; its rows are resampled
    *predictions : arrays with one row per test row, resampled with it
    n_boot : number of resamples; 0 gives the point estimate alone (NaN bounds)
    seed : seed of ``np.random.default_rng``; the same seed gives the same interval
    alpha : 1 - confidence level (0.05: a 95% interval)
    groups : the person (cluster) of each test row; persons are resampled, each with all of
        their rows. None: every row is its own person.
    progress : called once after each resample (``n_boot`` times), e.g. to advance a
        progress bar; nothing is printed here

    Returns
    -------
    BootstrapResult

    Raises
    ------
    EvaluationError
        when the inputs disagree in length or ``n_boot``/``alpha`` are out of range; errors of
        the metric on the full test set propagate unchanged.
    """
    n = len(y_test)
    arrays = [np.asarray(p) for p in predictions]
    for position, array in enumerate(arrays, start=1):
        if array.shape[:1] != (n,):
            raise EvaluationError(
                f"prediction {position} has {array.shape[:1] or 'no'} rows; y_test has {n}"
            )
    if n_boot < 0 or not 0 < alpha < 1:
        raise EvaluationError(f"need n_boot >= 0 and 0 < alpha < 1; got {n_boot}, {alpha}")
    clusters = _Clusters(np.arange(n) if groups is None else np.asarray(groups), n)
    estimate = np.asarray(metric_fn(y_test, *arrays), dtype=float)
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(n_boot):
        rows = clusters.resample(rng)
        value = _replicate(metric_fn, y_test[rows], [a[rows] for a in arrays])
        if value is not None and value.shape == estimate.shape:
            replicates.append(value)
        if progress is not None:
            progress()
    if replicates:
        lower, upper, extended = _corrected_interval(np.stack(replicates), estimate, alpha)
    else:
        lower = upper = np.full(estimate.shape, np.nan)
        extended = np.zeros(estimate.shape, dtype=bool)
    return BootstrapResult(
        estimate=_plain(estimate),
        lower=_plain(lower),
        upper=_plain(upper),
        n_boot=n_boot,
        n_failed=n_boot - len(replicates),
        alpha=alpha,
        seed=seed,
        extended=bool(extended) if extended.ndim == 0 else tuple(bool(e) for e in extended),
    )


class _Clusters:
    """Draws a cluster bootstrap resample: persons with replacement, all rows of each."""

    def __init__(self, groups: np.ndarray, n: int) -> None:
        if groups.shape != (n,):
            raise EvaluationError(f"groups has shape {groups.shape}; y_test has {n} rows")
        codes, people = pd.factorize(groups)
        self.n_people = len(people)
        if self.n_people == n:  # one row per person: resample rows
            self.rows_of = None
            return
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(self.n_people + 1))
        self.rows_of = (order, bounds)

    def resample(self, rng: np.random.Generator) -> np.ndarray:
        chosen = rng.integers(0, self.n_people, size=self.n_people)
        if self.rows_of is None:
            return chosen
        order, bounds = self.rows_of
        starts, stops = bounds[chosen], bounds[chosen + 1]
        lengths = stops - starts
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return order[np.repeat(starts, lengths) + offsets]


def _corrected_interval(
    replicates: np.ndarray, estimate: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias-corrected percentile bounds per statistic, widened to reach the estimate."""
    below = np.mean(replicates < estimate, axis=0) + 0.5 * np.mean(replicates == estimate, axis=0)
    z0 = norm.ppf(np.clip(below, 0.5 / len(replicates), 1 - 0.5 / len(replicates)))
    z = norm.ppf(1 - alpha / 2)
    lower = _quantile_each(replicates, norm.cdf(2 * z0 - z))
    upper = _quantile_each(replicates, norm.cdf(2 * z0 + z))
    extended = (lower > estimate) | (upper < estimate)
    return np.minimum(lower, estimate), np.maximum(upper, estimate), extended


def _quantile_each(replicates: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The quantile of each statistic's replicates at its own level."""
    if replicates.ndim == 1:
        return np.quantile(replicates, float(levels))
    return np.array([np.quantile(replicates[:, j], levels[j]) for j in range(replicates.shape[1])])


def _replicate(
    metric_fn: Callable[..., Any], y: np.ndarray, arrays: list[np.ndarray]
) -> np.ndarray | None:
    """The metric on one resample, or None when it cannot be computed there."""
    try:
        value = np.asarray(metric_fn(y, *arrays), dtype=float)
    except (ValueError, ArithmeticError):  # EvaluationError, TargetError, sksurv's checks
        return None
    return value if np.all(np.isfinite(value)) else None


def _plain(values: np.ndarray) -> float | tuple[float, ...]:
    array = np.asarray(values, dtype=float)
    return float(array) if array.ndim == 0 else tuple(array.tolist())
