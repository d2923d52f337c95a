"""Models of the censoring time (prognosis.evaluation.censoring): hand-computed reverse
Kaplan-Meier weights with ties, step functions of a given Cox model, a planted censoring hazard
recovered, and the option texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prognosis.evaluation.censoring import (
    CoxCensoring,
    KaplanMeierCensoring,
    censoring_frame,
    efron_baseline,
    fit_cox_censoring,
    parse_censoring_model,
)
from prognosis.evaluation.metrics import EvaluationError
from tests.support.planted import planted_survival


def test_reverse_kaplan_meier_counts_events_before_censorings_on_the_same_day() -> None:
    # times 1 (event), 2 (censored), 2 (event), 3 (censored), 4 (event). At day 2 the event
    # leaves first: 3 at risk of censoring, 1 censored, G = 2/3; at day 3: 2 at risk, 1
    # censored, G = 2/3 * 1/2 = 1/3; day 4 holds no censoring.
    model = KaplanMeierCensoring.fit(
        np.array([True, False, True, False, True]), np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    )
    times = np.array([0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 9.0])
    np.testing.assert_allclose(
        model.at_rows(times, left=False), [1, 1, 2 / 3, 2 / 3, 1 / 3, 1 / 3, 1 / 3]
    )
    np.testing.assert_allclose(
        model.at_rows(times, left=True), [1, 1, 1, 2 / 3, 2 / 3, 1 / 3, 1 / 3]
    )
    grid = model.at_grid(np.array([1.5, 3.5]), n=3)
    assert grid.shape == (3, 2)
    np.testing.assert_allclose(grid, [[1, 1 / 3]] * 3)


def test_a_cox_censoring_model_is_exp_of_minus_the_scaled_baseline_hazard() -> None:
    model = CoxCensoring(
        grid=np.array([2.0, 5.0]),
        cumulative_hazard=np.array([0.1, 0.3]),
        linear_predictor=np.array([0.0, np.log(2.0)]),  # the second row: twice the hazard
    )
    np.testing.assert_allclose(model.at_rows(np.array([1.0, 3.0]), left=False), [1.0, np.exp(-0.2)])
    np.testing.assert_allclose(model.at_rows(np.array([2.0, 5.0]), left=True), [1.0, np.exp(-0.2)])
    np.testing.assert_allclose(
        model.at_rows(np.array([2.0, 5.0]), left=False), np.exp([-0.1, -0.6])
    )
    np.testing.assert_allclose(
        model.at_grid(np.array([1.0, 2.0, 6.0]), n=2),
        [[1.0, np.exp(-0.1), np.exp(-0.3)], [1.0, np.exp(-0.2), np.exp(-0.6)]],
    )


def test_a_planted_censoring_hazard_is_recovered_and_its_predictor_centred() -> None:
    # the planted process is the censoring: hazard exp(0.8 z) / 500; the outcome, exponential
    # with mean 800 and independent of z, censors it
    data = planted_survival(
        3000,
        seed=0,
        features={"z": "normal"},
        beta={"z": 0.8},
        base_hazard=1 / 500,
        censor_between=None,
        censor_mean=800.0,
    )
    outcome = data.event == 0  # the rows whose planted "event" (a censoring) did not come first
    times, cumulative, linear = fit_cox_censoring(outcome, data.time, data.X)
    z = data.X["z"].to_numpy()
    slope, intercept = np.polyfit(z - z.mean(), linear, 1)
    assert slope == pytest.approx(0.8, abs=0.06) and abs(intercept) < 1e-9
    assert np.all(np.diff(times) > 0) and np.all(np.diff(cumulative) >= 0)
    # the baseline is at the mean z (about 0): H0(t) about t / 500
    middle = np.searchsorted(times, 300.0)
    assert cumulative[middle] == pytest.approx(times[middle] / 500, rel=0.15)


def test_censoring_covariates_with_missing_values_are_named() -> None:
    covariates = pd.DataFrame({"age": [50.0, np.nan, 60.0], "sex_male": [1.0, 0.0, np.nan]})
    with pytest.raises(
        EvaluationError, match=r"covariates have missing values \(age, sex_male\); choose"
    ):
        fit_cox_censoring(np.array([1, 0, 1]), np.array([1.0, 2.0, 3.0]), covariates)


@pytest.mark.parametrize(
    ("text", "columns"),
    [("km", ()), ("cox:age", ("age",)), ("cox: age , sex_male ,", ("age", "sex_male"))],
)
def test_censoring_model_texts_give_their_columns(text: str, columns: tuple[str, ...]) -> None:
    assert parse_censoring_model(text) == columns


@pytest.mark.parametrize("text", ["cox", "cox:", "km:age", "weibull:age", ""])
def test_a_bad_censoring_model_text_shows_the_valid_forms(text: str) -> None:
    with pytest.raises(EvaluationError, match=rf"--censoring-model {text!r}: use km"):
        parse_censoring_model(text)


def test_censoring_columns_missing_from_the_dataset_are_named() -> None:
    frame = pd.DataFrame({"age": [50.0], "time": [1.0]})
    assert censoring_frame(frame, ()) is None
    assert censoring_frame(frame, ["age"]).columns.tolist() == ["age"]
    with pytest.raises(EvaluationError, match=r"cox:age,bmi: the dataset has no column bmi"):
        censoring_frame(frame, ["age", "bmi"])


def test_efron_baseline_spreads_tied_events_over_the_shrinking_risk_set() -> None:
    # by hand: relative risks 1, 2, 1, 1; at time 1 two tied events (risks 1 and 2) out of a
    # risk set of 5: 1/5 + 1/(5 - 3/2); time 2 is a censoring; at time 3 one event out of 1
    grid, hazard = efron_baseline(
        np.array([True, True, False, True]),
        np.array([1.0, 1.0, 2.0, 3.0]),
        np.log([1.0, 2.0, 1.0, 1.0]),
    )
    np.testing.assert_array_equal(grid, [1.0, 3.0])
    first = 1 / 5 + 1 / 3.5
    np.testing.assert_allclose(hazard, [first, first + 1.0], rtol=1e-12)


def test_efron_baseline_without_ties_is_breslow() -> None:
    rng = np.random.default_rng(0)
    time, linear = rng.exponential(size=50), rng.normal(size=50)
    event = rng.random(50) < 0.7
    grid, hazard = efron_baseline(event, time, linear)
    order = np.argsort(time)
    risk = np.exp(linear)[order]
    at_risk = np.cumsum(risk[::-1])[::-1]  # Breslow: 1 / sum of the risk set per event
    breslow = np.cumsum(np.where(event[order], 1.0 / at_risk, 0.0))[event[order]]
    np.testing.assert_array_equal(grid, np.sort(time[event]))
    np.testing.assert_allclose(hazard, breslow, rtol=1e-12)
