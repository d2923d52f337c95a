"""Percentile bootstrap: covers its estimate, reproducible, narrows with n, counts failures."""

from __future__ import annotations

import numpy as np
import pytest

from prognosis.evaluation.bootstrap import bootstrap_ci
from prognosis.evaluation.metrics import EvaluationError, harrell_c
from prognosis.models.target import make_target
from tests.support.planted import planted_survival


def planted(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Exponential times whose hazard 0.1 exp(x) grows with the risk score x; uniform
    censoring."""
    data = planted_survival(n, seed=seed, beta={"x": 1.0})
    return data.y, data.log_hazard


def test_interval_contains_the_point_estimate() -> None:
    y, risk = planted(300)
    result = bootstrap_ci(harrell_c, y, risk, n_boot=100, seed=0)
    assert result.estimate == pytest.approx(harrell_c(y, risk))
    assert result.lower < result.estimate < result.upper
    assert (result.n_boot, result.n_failed, result.alpha) == (100, 0, 0.05)


def test_same_seed_gives_the_same_interval_and_another_seed_another() -> None:
    y, risk = planted(300)
    first = bootstrap_ci(harrell_c, y, risk, n_boot=50, seed=7)
    assert bootstrap_ci(harrell_c, y, risk, n_boot=50, seed=7) == first
    assert bootstrap_ci(harrell_c, y, risk, n_boot=50, seed=8).lower != first.lower


def test_interval_narrows_with_more_data() -> None:
    # the standard error shrinks like 1 / sqrt(n): ten times the rows, about a third the width
    small_y, small_risk = planted(100, seed=1)
    large_y, large_risk = planted(1000, seed=1)
    small = bootstrap_ci(harrell_c, small_y, small_risk, n_boot=50)
    large = bootstrap_ci(harrell_c, large_y, large_risk, n_boot=50)
    assert large.upper - large.lower < 0.5 * (small.upper - small.lower)


def test_resamples_without_an_event_are_skipped_and_counted() -> None:
    # one event in 30 rows: a resample misses it with probability (29/30)^30, about 36%
    y = make_target(np.arange(30) == 0, np.arange(1.0, 31.0))
    risk = np.linspace(1.0, 0.0, 30)
    result = bootstrap_ci(harrell_c, y, risk, n_boot=200, seed=0)
    assert 40 < result.n_failed < 110
    assert result.estimate == 1.0
    assert result.lower == result.upper == 1.0  # every computable resample ranks it first


def test_no_computable_resample_gives_an_empty_interval() -> None:
    def always_fails(y: np.ndarray, risk: np.ndarray) -> float:
        if len(np.unique(y["time"])) < len(y):  # any resample repeats a row
            raise EvaluationError("not on a resample")
        return 0.5

    y, risk = planted(50)
    result = bootstrap_ci(always_fails, y, risk, n_boot=20)
    assert result.n_failed == 20
    assert np.isnan(result.lower) and np.isnan(result.upper)


def test_vector_metrics_get_an_interval_per_component() -> None:
    y, risk = planted(300)

    def two(y: np.ndarray, risk: np.ndarray) -> np.ndarray:
        return np.array([harrell_c(y, risk), harrell_c(y, -risk)])

    result = bootstrap_ci(two, y, risk, n_boot=50)
    assert len(result.lower) == len(result.upper) == 2
    assert result.estimate[0] + result.estimate[1] == pytest.approx(1.0)
    assert result.lower[0] < result.estimate[0] < result.upper[0]


def test_predictions_of_another_length_raise() -> None:
    y, risk = planted(30)
    with pytest.raises(EvaluationError, match="prediction 1 has"):
        bootstrap_ci(harrell_c, y, risk[:10])


def test_zero_resamples_give_the_point_estimate_without_bounds() -> None:
    y, risk = planted(100)
    result = bootstrap_ci(harrell_c, y, risk, n_boot=0)
    assert result.estimate == pytest.approx(harrell_c(y, risk))
    assert np.isnan(result.lower) and np.isnan(result.upper)
    assert (result.n_boot, result.n_failed) == (0, 0)
