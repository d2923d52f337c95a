"""Calibration: pseudo-values against refits, planted exponential risks, planted miscalibration."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.nonparametric import cumulative_incidence_competing_risks, kaplan_meier_estimator

from prognosis.evaluation.calibration import calibration_at, calibration_summary, pseudo_values
from prognosis.evaluation.metrics import EvaluationError
from prognosis.models.target import make_competing_target, make_target
from tests.support.planted import Cause, planted_survival

HORIZON = 5.0


def planted(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exponential times with hazard 0.1 exp(0.8 x), uniform censoring; the true 5-year risk."""
    data = planted_survival(n, seed=0)
    return data.y, data.risk(HORIZON)


def planted_competing(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constant cause-specific hazards 0.06 exp(0.8 x) and 0.15 exp(-0.5 x); the true cumulative
    incidence of cause 1 at 5 years, and the naive 1 - exp(-hazard_1 t) that treats competing
    events as censoring."""
    data = planted_survival(n, seed=0, base_hazard=0.06, competing=Cause(0.15, {"x": -0.5}))
    return data.y, data.risk(HORIZON), 1 - np.exp(-data.hazard * HORIZON)


def refit_risk(event: np.ndarray, time: np.ndarray, horizon: float) -> float:
    """Observed risk by horizon from scikit-survival's own estimators."""
    if not np.any(event == 1):
        return 0.0
    if np.any(event == 2):
        grid, incidence = cumulative_incidence_competing_risks(event, time)
        curve = incidence[1]
    else:
        grid, survival = kaplan_meier_estimator(event == 1, time)
        curve = 1 - survival
    index = np.searchsorted(grid, horizon, side="right") - 1
    return 0.0 if index < 0 else float(curve[index])


@pytest.mark.parametrize("competing", [False, True])
def test_pseudo_values_equal_leave_one_out_refits(competing: bool) -> None:
    rng = np.random.default_rng(3)
    n = 60
    time = rng.integers(1, 12, n).astype(float)  # tied times of every kind
    event = rng.integers(0, 3 if competing else 2, n)
    event[:3] = [1, 1, 2] if competing else [1, 1, 0]  # every cause stays in each refit
    full = refit_risk(event, time, 7.0)
    expected = [
        n * full - (n - 1) * refit_risk(np.delete(event, i), np.delete(time, i), 7.0)
        for i in range(n)
    ]
    y = make_competing_target(event, time) if competing else make_target(event == 1, time)
    assert pseudo_values(y, 7.0) == pytest.approx(expected)


def test_true_risks_give_unit_slope_zero_intercept_and_small_ici() -> None:
    y, risk = planted(4000)
    result = calibration_at(y, risk, HORIZON)
    assert result.slope == pytest.approx(1.0, abs=0.12)
    assert result.intercept == pytest.approx(0.0, abs=0.08)
    assert result.ici < 0.02
    assert result.e50 <= result.e90 < 0.04


def test_true_risks_put_every_decile_near_the_diagonal() -> None:
    y, risk = planted(4000)
    groups = calibration_at(y, risk, HORIZON).groups
    assert [g.n for g in groups] == [400] * 10
    for group in groups:  # each decile's Kaplan-Meier risk within 3 standard errors
        assert abs(group.observed - group.mean_predicted) < 0.07
        assert group.observed_lower <= group.observed <= group.observed_upper


def test_doubled_risks_are_detected_as_overestimates() -> None:
    y, risk = planted(4000)
    doubled = np.minimum(2 * risk, 0.999)
    result = calibration_at(y, doubled, HORIZON)
    assert result.intercept < -0.4  # predicted cloglog too high: overestimated risk
    assert result.ici > 0.1
    assert all(g.mean_predicted > g.observed_upper for g in result.groups)


def test_competing_risk_calibration_uses_the_cumulative_incidence() -> None:
    y, truth, naive = planted_competing(4000)
    right = calibration_at(y, truth, HORIZON)
    assert right.slope == pytest.approx(1.0, abs=0.15)
    assert right.intercept == pytest.approx(0.0, abs=0.08)
    assert right.ici < 0.02
    # 1 - Kaplan-Meier-style risks ignore the competing events and overestimate
    wrong = calibration_at(y, naive, HORIZON)
    assert wrong.intercept < -0.2
    assert wrong.ici > 0.05
    assert all(g.mean_predicted > g.observed_upper for g in wrong.groups)


def test_smoothed_curve_spans_only_the_middle_98_percent_of_the_predictions() -> None:
    y, risk = planted(4000)
    # a few extreme predictions far from the rest: the curve must not be drawn out to them
    risk = risk.copy()
    risk[:5] = 0.999
    curve = np.array(calibration_at(y, risk, HORIZON).curve)
    sorted_risk = np.sort(risk)
    first, last = sorted_risk[40], sorted_risk[3959]  # rank 40 of 4000: the 1st percentile
    assert curve[0, 0] == pytest.approx(first, abs=1e-3)
    assert curve[-1, 0] == pytest.approx(last, abs=1e-3)
    assert curve[:, 0].max() < 0.99  # the planted outliers lie outside it
    assert np.all(np.diff(curve[:, 0]) >= 0) and len(curve) == 50


def test_few_rows_get_fewer_groups() -> None:
    y, risk = planted(70)
    groups = calibration_at(y, risk, HORIZON, min_group_size=20).groups
    assert [g.n for g in groups] == [24, 23, 23]
    assert [g.group for g in groups] == [1, 2, 3]


def test_summary_is_the_slope_intercept_and_errors_of_the_full_result() -> None:
    y, risk = planted(500)
    result = calibration_at(y, risk, HORIZON)
    assert calibration_summary(y, risk, HORIZON) == pytest.approx(
        [result.slope, result.intercept, result.ici, result.e50, result.e90]
    )


def test_risks_outside_zero_one_raise() -> None:
    y, risk = planted(50)
    with pytest.raises(EvaluationError, match=r"probabilities in \[0, 1\]; got values from"):
        calibration_at(y, risk * 10, HORIZON)


def test_each_group_records_the_range_of_its_predicted_risks() -> None:
    rng = np.random.default_rng(0)
    risk = rng.uniform(0.01, 0.6, 205)
    y = make_target(rng.random(205) < risk, rng.integers(30, 400, 205).astype(float))
    groups = calibration_at(y, risk, 200.0).groups
    ordered = np.sort(risk)  # 205 rows, groups of at least 20: ten groups, 21 rows in the first 5
    sizes = [21] * 5 + [20] * 5
    edges = np.cumsum([0, *sizes])
    assert [g.n for g in groups] == sizes
    for group, start, stop in zip(groups, edges[:-1], edges[1:], strict=True):
        assert group.predicted_min == ordered[start]
        assert group.predicted_max == ordered[stop - 1]
        assert group.predicted_min <= group.mean_predicted <= group.predicted_max
