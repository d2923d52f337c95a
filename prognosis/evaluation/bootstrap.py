"""Percentile bootstrap intervals for any metric of a test set.

Rows of the test set are resampled with replacement (the target together with every
prediction array, along their first axis); the metric is recomputed on each resample and the
interval is read off the percentiles of the replicates (Efron & Tibshirani 1993, ch. 13).
A resample where the metric cannot be computed (no outcome event, a horizon past the
resampled follow-up...) is skipped and counted, never silently replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from prognosis.evaluation.metrics import EvaluationError

__all__ = ["BootstrapResult", "bootstrap_ci"]


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimate and percentile interval; vectors for metrics that return several values.

    ``n_failed`` resamples out of ``n_boot`` could not be computed and were skipped; the
    interval rests on the other ``n_boot - n_failed`` (NaN when none was left).
    """

    estimate: float | tuple[float, ...]
    lower: float | tuple[float, ...]
    upper: float | tuple[float, ...]
    n_boot: int
    n_failed: int
    alpha: float
    seed: int


def bootstrap_ci(
    metric_fn: Callable[..., Any],
    y_test: np.ndarray,
    *predictions: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapResult:
    """Point estimate of ``metric_fn(y_test, *predictions)`` with a percentile interval.

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
    estimate = np.asarray(metric_fn(y_test, *arrays), dtype=float)
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(n_boot):
        rows = rng.integers(0, n, size=n)
        value = _replicate(metric_fn, y_test[rows], [a[rows] for a in arrays])
        if value is not None and value.shape == estimate.shape:
            replicates.append(value)
    if replicates:
        lower, upper = np.quantile(np.stack(replicates), [alpha / 2, 1 - alpha / 2], axis=0)
    else:
        lower = upper = np.full(estimate.shape, np.nan)
    return BootstrapResult(
        estimate=_plain(estimate),
        lower=_plain(lower),
        upper=_plain(upper),
        n_boot=n_boot,
        n_failed=n_boot - len(replicates),
        alpha=alpha,
        seed=seed,
    )


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
