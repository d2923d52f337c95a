"""Decision curves: net benefit by hand, treat-all and treat-none, observed risk of the treated."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.nonparametric import cumulative_incidence_competing_risks, kaplan_meier_estimator

from prognosis.evaluation.calibration import incidence_of_first
from prognosis.evaluation.decision import decision_curve, net_benefit
from prognosis.evaluation.metrics import EvaluationError
from prognosis.models.target import make_competing_target, make_target

# ten people; by day 5 rows 0, 1, 3 and 6 have had the outcome, nobody was censored before it
RISK = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
Y = make_target(
    [True, True, False, True, True, False, True, False, True, False],
    [1.0, 2.0, 10.0, 3.0, 8.0, 10.0, 4.0, 10.0, 9.0, 10.0],
)
THRESHOLDS = [0.1, 0.25, 0.55, 0.95]


def test_net_benefit_of_the_model_by_hand() -> None:
    curve = decision_curve(Y, RISK, 5.0, THRESHOLDS)
    expected = [
        4 / 10 - 5 / 10 * (0.1 / 0.9),  # 9 treated, 4 with the outcome
        4 / 10 - 3 / 10 * (0.25 / 0.75),  # 7 treated, 4 with the outcome
        3 / 10 - 1 / 10 * (0.55 / 0.45),  # 4 treated, 3 with the outcome
        0.0,  # nobody treated
    ]
    assert curve.model == pytest.approx(expected)
    assert net_benefit(Y, RISK, 5.0, THRESHOLDS) == pytest.approx(expected)


def test_treat_all_is_event_rate_minus_weighted_non_events_and_treat_none_is_zero() -> None:
    curve = decision_curve(Y, RISK, 5.0, THRESHOLDS)
    rate = 0.4
    assert curve.event_rate == pytest.approx(rate)
    assert curve.treat_all == pytest.approx([rate - (1 - rate) * p / (1 - p) for p in THRESHOLDS])
    assert curve.treat_all == pytest.approx([1 / 3, 0.2, -1 / 3, -11.0])
    assert curve.treat_none == (0.0, 0.0, 0.0, 0.0)


def test_censoring_before_the_horizon_uses_kaplan_meier_by_hand() -> None:
    # S(5) = (1 - 1/5)(1 - 1/3) = 8/15 with the censoring at day 2, so F = 7/15
    y = make_target([True, False, True, False, False], [1.0, 2.0, 3.0, 6.0, 7.0])
    curve = decision_curve(y, np.full(5, 0.5), 5.0, [0.2])
    assert curve.model == pytest.approx([7 / 15 - 8 / 15 * 0.25])
    assert curve.treat_all == pytest.approx(curve.model)


@pytest.mark.parametrize("competing", [False, True])
def test_observed_risk_of_the_treated_equals_scikit_survival_estimators(competing: bool) -> None:
    rng = np.random.default_rng(5)
    n = 200
    time = rng.integers(1, 30, n).astype(float)
    event = rng.integers(0, 3 if competing else 2, n)
    event[:2] = [1, 2] if competing else [1, 0]
    sizes = np.array([20, 57, 120, 200])
    expected = []
    for size in sizes:
        first_event, first_time = event[:size], time[:size]
        if competing:
            grid, incidence = cumulative_incidence_competing_risks(first_event, first_time)
            curve = incidence[1]
        else:
            grid, survival = kaplan_meier_estimator(first_event == 1, first_time)
            curve = 1 - survival
        expected.append(curve[np.searchsorted(grid, 15.0, side="right") - 1])
    assert incidence_of_first(event, time, 15.0, sizes) == pytest.approx(expected)


def test_competing_events_lower_the_observed_risk_of_the_treated() -> None:
    # no censoring before day 5: the cumulative incidence of cause 1 is 2 of 4, not the
    # 1 - (3/4)(1/2) = 5/8 of a Kaplan-Meier estimate that censors the competing event
    y = make_competing_target([1, 2, 1, 0], [1.0, 2.0, 3.0, 9.0])
    curve = decision_curve(y, np.full(4, 0.5), 5.0, [0.5])
    assert curve.event_rate == pytest.approx(0.5)
    assert curve.model == pytest.approx([0.5 - 0.5])


def test_thresholds_outside_zero_one_raise() -> None:
    with pytest.raises(EvaluationError, match="thresholds must be probabilities strictly"):
        decision_curve(Y, RISK, 5.0, [0.0, 0.5])
