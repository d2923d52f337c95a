"""Discrimination and Brier metrics: scikit-survival's published values, brute force, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.datasets import load_gbsg2
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import (
    brier_score,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import cumulative_incidence_competing_risks, kaplan_meier_estimator
from sksurv.preprocessing import OneHotEncoder

from prognosis.evaluation.metrics import (
    EvaluationError,
    brier_scores,
    evaluation_times,
    harrell_c,
    integrated_brier,
    marginal_incidence,
    observed_risk,
    time_dependent_auc,
    uno_c,
)
from prognosis.models.target import make_competing_target, make_target
from tests.support.planted import Cause, planted_survival


@pytest.fixture(scope="module")
def gbsg2() -> dict[str, np.ndarray]:
    """GBSG2 with the Cox model of scikit-survival's ``brier_score`` docstring example."""
    X, y = load_gbsg2()
    X["tgrade"] = X.loc[:, "tgrade"].map(len).astype(int)
    Xt = OneHotEncoder().fit_transform(X)
    model = CoxPHSurvivalAnalysis(ties="efron").fit(Xt, y)
    return {
        "y": make_target(y["cens"], y["time"]),
        "sksurv_y": y,
        "risk": model.predict(Xt),
        "curves": model.predict_survival_function(Xt),
    }


def survival_at(curves: np.ndarray, times: np.ndarray) -> np.ndarray:
    return np.vstack([curve(times) for curve in curves])


def brute_force_harrell(event: np.ndarray, time: np.ndarray, risk: np.ndarray) -> float:
    """Every ordered pair: comparable when the earlier time is an event (an event before a
    censoring at the same time counts, two events at the same time do not)."""
    concordant = comparable = 0.0
    for i in range(len(time)):
        for j in range(len(time)):
            earlier = time[i] < time[j] or (time[i] == time[j] and not event[j])
            if event[i] and earlier and i != j:
                comparable += 1
                concordant += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return concordant / comparable


def test_harrell_c_counts_pairs_by_hand_with_tied_times_and_risks() -> None:
    # rows: (time, event, risk). Comparable pairs (earlier event first):
    # A(2,e,.9)-B(2,c,.5) tie in time, censored later: concordant
    # A-C(3,e,.9) tied risk: 1/2;  A-D(5,c,.1): concordant
    # C-D: concordant;  B is censored so starts no pair.  3.5 of 4.
    y = make_target([True, False, True, False], [2.0, 2.0, 3.0, 5.0])
    assert harrell_c(y, np.array([0.9, 0.5, 0.9, 0.1])) == pytest.approx(3.5 / 4)


def test_harrell_c_matches_brute_force_pair_count_on_ties() -> None:
    rng = np.random.default_rng(0)
    time = rng.integers(1, 8, 40).astype(float)  # many tied times
    event = rng.random(40) < 0.6
    risk = rng.integers(0, 5, 40).astype(float)  # many tied risks
    expected = brute_force_harrell(event, time, risk)
    assert harrell_c(make_target(event, time), risk) == pytest.approx(expected)


def test_harrell_c_for_cause_one_counts_competing_events_as_censored() -> None:
    rng = np.random.default_rng(1)
    time = rng.integers(1, 10, 50).astype(float)
    code = rng.integers(0, 3, 50)
    risk = rng.normal(size=50)
    expected = brute_force_harrell(code == 1, time, risk)
    assert harrell_c(make_competing_target(code, time), risk) == pytest.approx(expected)


def test_brier_weights_an_event_tied_with_a_censoring_by_the_left_limit() -> None:
    # A event at 2, B censored at 2, C event at 4, D censored at 5; horizon 3. Events precede
    # censorings on the same day, so the censoring survival is G(2-) = 1 for A and
    # G(3) = 2/3 (B censored among B, C, D at risk) for those still followed at 3.
    y = make_target([True, False, True, False], [2.0, 2.0, 4.0, 5.0])
    survival = np.array([[0.8], [0.6], [0.7], [0.4]])
    expected = (0.8**2 + 1.5 * 0.3**2 + 1.5 * 0.6**2) / 4
    assert brier_scores(y, y, survival, [3.0]) == pytest.approx([expected], abs=1e-12)


def test_integrated_brier_is_the_trapezoid_mean_of_hand_computed_scores() -> None:
    # events at 1, 2, 3, 4, nobody censored (every weight 1); every predicted survival 0.8.
    # At t, the k persons with an event by t score 0.8^2, the others 0.2^2: the Brier score is
    # (0.64 k + 0.04 (4 - k)) / 4: 0.19, 0.34 and 0.49 at t = 1, 2, 3 (k = 1, 2, 3). Trapezoid
    # over [1, 3], divided by its length: ((0.19 + 0.34) / 2 + (0.34 + 0.49) / 2) / 2 = 0.34.
    y = make_target([True] * 4, [1.0, 2.0, 3.0, 4.0])
    survival = np.full((4, 3), 0.8)
    assert brier_scores(y, y, survival, [1.0, 2.0, 3.0]) == pytest.approx([0.19, 0.34, 0.49])
    assert integrated_brier(y, y, survival, [1.0, 2.0, 3.0]) == pytest.approx(0.34, abs=1e-12)


@pytest.fixture(scope="module")
def untied(gbsg2) -> dict[str, np.ndarray]:
    """GBSG2 with every time moved by less than a day, so that no two times tie: there
    scikit-survival's IPCW metrics (weights 1 / G(T)) and ours (1 / G(T-)) must agree."""
    jitter = np.random.default_rng(0).uniform(0.0, 0.5, len(gbsg2["y"]))
    y = make_target(gbsg2["y"]["event"], gbsg2["y"]["time"] + jitter)
    sk = gbsg2["sksurv_y"].copy()
    sk["time"] = y["time"]
    return {**gbsg2, "y": y, "sksurv_y": sk}


def test_ipcw_metrics_match_scikit_survival_on_a_train_test_split(untied) -> None:
    y, sk, risk = untied["y"], untied["sksurv_y"], untied["risk"]
    train, test = np.arange(0, 686, 2), np.arange(1, 686, 2)
    times = np.array([365.0, 730.0, 1095.0, 1460.0])
    survival = survival_at(untied["curves"][test], times)

    auc, mean = time_dependent_auc(y[train], y[test], risk[test], times)
    expected_auc, expected_mean = cumulative_dynamic_auc(sk[train], sk[test], risk[test], times)
    assert auc == pytest.approx(expected_auc)
    assert mean == pytest.approx(expected_mean)
    per_time = np.repeat(risk[test][:, None], times.size, axis=1)  # risk at each time
    assert time_dependent_auc(y[train], y[test], per_time, times)[0] == pytest.approx(auc)
    assert brier_scores(y[train], y[test], survival, times) == pytest.approx(
        brier_score(sk[train], sk[test], survival, times)[1]
    )
    assert integrated_brier(y[train], y[test], survival, times) == pytest.approx(
        integrated_brier_score(sk[train], sk[test], survival, times)
    )
    assert uno_c(y[train], y[test], risk[test], tau=1460.0) == pytest.approx(
        concordance_index_ipcw(sk[train], sk[test], risk[test], tau=1460.0)[0]
    )


def test_ipcw_metrics_ignore_test_follow_up_beyond_the_training_data(untied) -> None:
    y, risk = untied["y"], untied["risk"]
    train, test = np.arange(0, 686, 2), np.arange(1, 686, 2)
    # training rows followed for less than 1500 days, plus an event at 1500: past that the
    # censoring distribution is unknown, and scikit-survival refuses longer test follow-up
    shorter = y[train][y[train]["time"] < 1500]
    cut = np.concatenate([shorter, make_target([True], [1500.0])])
    times = np.array([365.0, 730.0, 1095.0])
    survival = survival_at(untied["curves"][test], times)
    with pytest.raises(ValueError, match="largest observed time point"):
        brier_score(cut, y[test], survival, times)

    # the metrics at t < 1500 depend only on who is still followed after t, so censoring the
    # test rows at 1499 instead must give the same values, which scikit-survival accepts
    longer = y[test]["time"] > 1499
    short = make_target(y[test]["event"] & ~longer, np.where(longer, 1499.0, y[test]["time"]))
    assert brier_scores(cut, y[test], survival, times) == pytest.approx(
        brier_score(cut, short, survival, times)[1]
    )
    assert time_dependent_auc(cut, y[test], risk[test], times)[0] == pytest.approx(
        cumulative_dynamic_auc(cut, short, risk[test], times)[0]
    )
    assert uno_c(cut, y[test], risk[test]) == pytest.approx(
        concordance_index_ipcw(cut, short, risk[test])[0]
    )


def test_competing_brier_scores_competing_events_as_non_events_by_hand() -> None:
    # no censoring anywhere, so every inverse-probability-of-censoring weight is 1 and the
    # Brier score at t = 3.5 is mean((I(cause 1 by t) - F)^2) over all six rows
    y = make_competing_target([1, 2, 1, 2, 1, 1], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    incidence = np.array([0.8, 0.4, 0.6, 0.3, 0.2, 0.1])  # predicted F(3.5)
    outcome_by_then = np.array([1, 0, 1, 0, 0, 0])
    expected = np.mean((outcome_by_then - incidence) ** 2)  # (.04+.16+.16+.09+.04+.01)/6
    assert expected == pytest.approx(0.5 / 6)
    result = brier_scores(y, y, 1.0 - incidence[:, None], [3.5])
    assert result == pytest.approx([0.5 / 6])


def test_competing_auc_counts_competing_events_as_controls_by_hand() -> None:
    # at t = 3.5 the cases are rows 0 and 2 (cause 1); controls are row 1 (competing event)
    # and rows 3-5 (still followed). Risks: cases .8 and .35; controls .4 .3 .2 .1.
    # Pairs case > control: .8 beats all 4, .35 beats .3 .2 .1 (3 of 4): 7 of 8.
    y = make_competing_target([1, 2, 1, 2, 1, 1], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    risk = np.array([0.8, 0.4, 0.35, 0.3, 0.2, 0.1])
    auc, mean = time_dependent_auc(y, y, risk, [3.5])
    assert auc == pytest.approx([7 / 8])
    assert mean == pytest.approx(7 / 8)


def test_observed_risk_is_kaplan_meier_and_aalen_johansen_by_hand() -> None:
    # Kaplan-Meier: S(1) = 4/5, S(2) = 4/5 * 3/4 = 3/5, S(3) = 3/5 * 1/2 = 3/10
    y = make_target([True, False, True, True, False], [1.0, 2.0, 2.0, 3.0, 4.0])
    estimate, lower, upper = observed_risk(y, [0.5, 2.5, 3.0])
    assert estimate == pytest.approx([0.0, 0.4, 0.7])
    assert np.all(lower <= estimate) and np.all(estimate <= upper)
    # Aalen-Johansen, no censoring: the plain proportion with cause 1 by t
    competing = make_competing_target([1, 2, 1, 2], [1.0, 2.0, 3.0, 4.0])
    assert observed_risk(competing, [2.5, 3.5])[0] == pytest.approx([0.25, 0.5])


def test_evaluation_times_drops_early_and_clips_late_horizons() -> None:
    test = make_target(np.arange(20) % 3 != 0, np.arange(1.0, 21.0))  # first event at 2
    train = make_target(np.ones(30, dtype=bool), np.linspace(1.0, 15.0, 30))
    times = evaluation_times(train, test, [1.5, 5.0, 30.0], min_at_risk=1)
    assert (times.lower, times.upper) == (2.0, 15.0)
    assert times.dropped == (1.5,)
    assert times.clipped == ((30.0, 14.0),)
    assert times.times.tolist() == [5.0, 14.0]
    assert times.notes == [
        "horizon 1.5 dropped: before the first outcome event in the test data (2)",
        "horizon 30 clipped to 14: the training follow-up ends at 15",
    ]


def test_evaluation_times_keeps_enough_test_rows_followed_beyond_a_clipped_horizon() -> None:
    test = make_target(np.ones(20, dtype=bool), np.arange(1.0, 21.0))
    train = make_target(np.ones(5, dtype=bool), np.full(5, 100.0))
    times = evaluation_times(train, test, [50.0], min_at_risk=5)
    # 5 rows (16..20) are followed beyond 15, fewer beyond 16: clipped to the last time before
    assert times.upper == 16.0
    assert times.clipped == ((50.0, 15.0),)
    assert "fewer than 5 test rows are followed beyond 16" in times.notes[0]


def test_clipped_times_are_accepted_by_every_ipcw_metric(gbsg2) -> None:
    y, risk = gbsg2["y"], gbsg2["risk"]
    train, test = np.arange(0, 686, 2), np.arange(1, 686, 2)
    times = evaluation_times(y[train], y[test], [100.0, 1000.0, 5000.0]).times
    survival = survival_at(gbsg2["curves"][test], times)
    assert np.all(np.isfinite(time_dependent_auc(y[train], y[test], risk[test], times)[0]))
    assert np.all(np.isfinite(brier_scores(y[train], y[test], survival, times)))
    assert np.isfinite(integrated_brier(y[train], y[test], survival, times))


def test_times_outside_the_follow_up_raise_naming_the_usable_range(gbsg2) -> None:
    y, risk = gbsg2["y"], gbsg2["risk"]
    with pytest.raises(EvaluationError, match=r"times must lie in \[72, 2659\)"):
        time_dependent_auc(y, y, risk, [3000.0])


def test_predictions_of_the_wrong_length_raise() -> None:
    y = make_target([True, False, True], [1.0, 2.0, 3.0])
    with pytest.raises(EvaluationError, match=r"risk must have one value per row \(3\)"):
        harrell_c(y, np.array([0.1, 0.2]))


def test_no_outcome_event_raises() -> None:
    y = make_competing_target([2, 0, 2], [1.0, 2.0, 3.0])
    with pytest.raises(EvaluationError, match="no outcome events"):
        harrell_c(y, np.array([0.1, 0.2, 0.3]))


# -- the marginal incidence (no model) reference ----------------------------------------------
def test_marginal_incidence_is_the_aalen_johansen_estimate_of_scikit_survival() -> None:
    data = planted_survival(
        800, seed=3, base_hazard=1 / 900, competing=Cause(1 / 700), censor_mean=800.0,
        whole_days=True,
    )  # fmt: skip
    times = np.array([0.5, 30.0, 200.0, 365.0, 1000.0, data.time.max() + 10])
    grid, incidence = cumulative_incidence_competing_risks(data.event, data.time)
    place = np.searchsorted(grid, times, side="right") - 1
    expected = np.where(place >= 0, incidence[1][np.maximum(place, 0)], 0.0)
    np.testing.assert_allclose(marginal_incidence(data.y, times), expected, atol=1e-12)
    assert marginal_incidence(data.y, [0.5])[0] == 0.0  # before the first time
    # past the last time it keeps its last value (a prediction, not an observed risk)
    assert marginal_incidence(data.y, times)[-1] == pytest.approx(incidence[1][-1])


def test_marginal_incidence_without_competing_events_is_one_minus_kaplan_meier() -> None:
    data = planted_survival(500, seed=4, censor_between=(0.0, 10.0), whole_days=True)
    times = np.array([1.0, 2.0, 5.0, 9.0])
    grid, survival = kaplan_meier_estimator(data.y["event"], data.y["time"])
    expected = 1.0 - survival[np.searchsorted(grid, times, side="right") - 1]
    np.testing.assert_allclose(marginal_incidence(data.y, times), expected, atol=1e-12)


def test_marginal_incidence_by_hand_with_an_event_tied_with_a_censoring() -> None:
    # times 1 (outcome), 2 (competing), 2 (censored), 3 (outcome), 4 (censored): at 1 one of
    # five has the outcome (0.2); at 2 one of four the competing event; at 3 one of two, with
    # 3/5 still event-free before it: 0.2 + 0.6 / 2
    y = make_competing_target(np.array([1, 2, 0, 1, 0]), np.array([1.0, 2.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(marginal_incidence(y, [1.0, 2.5, 3.0, 4.0]), [0.2, 0.2, 0.5, 0.5])
