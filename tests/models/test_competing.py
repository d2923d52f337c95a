"""Competing risks: cause-specific Cox on planted cause-specific hazards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prognosis.exceptions import PredictionHorizonError
from prognosis.models.competing import CauseSpecificCox
from prognosis.models.cox import ModelConvergenceError
from prognosis.models.survival import aalen_johansen
from prognosis.models.target import TargetError, make_competing_target
from tests.support.planted import Cause, planted_survival

# planted cause-specific log hazard ratios for (binary, normal, normal) features
BETA = {1: np.array([0.7, 0.5, 0.0]), 2: np.array([-0.5, 0.0, 0.4])}
BASE_HAZARD = {1: 0.01, 2: 0.008}  # constant baseline hazards per day
TIMES = np.array([10.0, 25.0, 50.0, 100.0, 150.0])


@pytest.fixture(scope="module")
def planted() -> dict[str, np.ndarray]:
    """3,000 rows with exponential cause-specific hazards and uniform censoring."""
    names = ["binary", "normal_1", "normal_2"]
    data = planted_survival(
        3000,
        seed=0,
        features={"binary": 0.4, "normal_1": "normal", "normal_2": "normal"},
        beta=dict(zip(names, BETA[1], strict=True)),
        base_hazard=BASE_HAZARD[1],
        competing=Cause(BASE_HAZARD[2], dict(zip(names, BETA[2], strict=True))),
        censor_between=(0.0, 200.0),
    )
    return {"X": data.X.to_numpy(), "event": data.event, "time": data.time}


@pytest.fixture(scope="module")
def model(planted) -> CauseSpecificCox:
    y = make_competing_target(planted["event"], planted["time"])
    return CauseSpecificCox().fit(planted["X"], y)


# (Aalen-Johansen and the combining of hazards by hand: tests/models/test_survival.py)


# -- cause-specific Cox -------------------------------------------------------------------------
@pytest.mark.parametrize("cause", [1, 2])
def test_average_incidence_is_close_to_aalen_johansen(planted, model, cause) -> None:
    times, cif = aalen_johansen(planted["event"], planted["time"], cause)
    nonparametric = cif[np.searchsorted(times, TIMES, side="right") - 1]

    average = model.predict_cumulative_incidence(planted["X"], cause, TIMES).mean(axis=0)

    np.testing.assert_allclose(average, nonparametric, atol=0.03)


def test_incidences_and_event_free_survival_sum_to_one(planted, model) -> None:
    X = planted["X"][:500]
    grid = np.concatenate([[0.5], model.event_times_[::7], [model.max_time_]])

    total = (
        model.predict_cumulative_incidence(X, 1, grid)
        + model.predict_cumulative_incidence(X, 2, grid)
        + model.predict_survival(X, grid)
    )

    np.testing.assert_allclose(total, 1.0, atol=1e-12)


@pytest.mark.parametrize("cause", [1, 2])
def test_incidence_is_nondecreasing_within_zero_and_one(planted, model, cause) -> None:
    grid = np.concatenate([[0.0, 1e-3], model.event_times_, [model.max_time_]])

    incidence = model.predict_cumulative_incidence(planted["X"][:500], cause, grid)

    np.testing.assert_array_equal(incidence[:, :2], 0.0)  # nothing before the first event
    assert np.all(np.diff(incidence, axis=1) >= 0)
    assert np.all((incidence >= 0) & (incidence <= 1))


@pytest.mark.parametrize("cause", [1, 2])
def test_planted_hazard_ratios_lie_within_three_standard_errors(model, cause) -> None:
    # a 95% interval misses its planted value 1 time in 20, so one of six often would;
    # three standard errors miss 1 time in 370 each
    summary = model.summary_[cause]
    coef, se = summary["coef"].to_numpy(), summary["se"].to_numpy()
    lower = np.log(summary["hazard_ratio_lower_95"].to_numpy())
    upper = np.log(summary["hazard_ratio_upper_95"].to_numpy())

    assert np.all(np.abs(coef - BETA[cause]) < 3 * se)
    assert np.all(se < 0.1)  # 3,000 rows pin each log hazard ratio closely
    np.testing.assert_allclose(upper - lower, 2 * 1.959964 * se, rtol=1e-5)  # Wald intervals


def test_score_and_risk_are_those_of_cause_one(planted, model) -> None:
    X = planted["X"][:200]
    score = model.predict(X)

    np.testing.assert_allclose(score, X @ model.summary_[1]["coef"].to_numpy())
    np.testing.assert_allclose(
        model.predict_risk(X, 100.0), model.predict_cumulative_incidence(X, 1, [100.0])[:, 0]
    )


def test_unseen_cause_raises(planted, model) -> None:
    with pytest.raises(ValueError, match=r"cause 3 was not seen in fit; causes: \[1, 2\]"):
        model.predict_cumulative_incidence(planted["X"][:5], 3, [10.0])


def test_data_without_cause_one_raises(planted) -> None:
    event = np.where(planted["event"] == 1, 0, planted["event"])
    y = make_competing_target(event, planted["time"])

    with pytest.raises(TargetError, match=r"no event of cause 1.*codes seen: \[2\]"):
        CauseSpecificCox().fit(planted["X"], y)


def test_perfectly_separating_feature_fails_loudly(planted) -> None:
    event, time = planted["event"][:300], planted["time"][:300]
    X = np.column_stack([planted["X"][:300], event == 1]).astype(float)
    y = make_competing_target(event, time)

    with pytest.raises(ModelConvergenceError, match="cause 1 did not converge"):
        CauseSpecificCox().fit(X, y)


def test_incidence_past_the_training_follow_up_raises(planted, model) -> None:
    end = model.max_time_
    with pytest.raises(PredictionHorizonError, match=rf"ends at {end:g} days"):
        model.predict_cumulative_incidence(planted["X"][:5], 2, [1.0, end + 1.0])
    with pytest.raises(PredictionHorizonError, match=rf"cannot predict at {end + 1:g} days"):
        model.predict_risk(planted["X"][:5], end + 1.0)


# -- an interval for each row's cumulative incidence ----------------------------------------
def test_incidence_interval_matches_draws_of_every_causes_coefficients(planted) -> None:
    # the delta method against Monte Carlo: coefficients of both causes drawn from lifelines'
    # covariance of each cause's own fit, the baselines held fixed at the training means, the
    # incidence recomputed, and the draws' 2.5% and 97.5% quantiles compared with the interval.
    # The features are shifted away from 0 so that where the baselines are held matters.
    from lifelines import CoxPHFitter

    from prognosis.models.survival import cumulative_incidence

    X = planted["X"] + np.array([0.0, 5.0, -3.0])
    model = CauseSpecificCox().fit(X, make_competing_target(planted["event"], planted["time"]))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(time=planted["time"])
    draws = []
    for cause in (1, 2):
        fit = CoxPHFitter().fit(frame.assign(event=planted["event"] == cause), "time", "event")
        np.testing.assert_allclose(fit.params_.to_numpy(), model.coef_[cause - 1], atol=1e-4)
        draws.append(rng.multivariate_normal(fit.params_, fit.variance_matrix_, size=20_000))
    rows = X[:6]
    offset = rows - X.mean(axis=0)
    moved = [
        (rows @ model.coef_[k])[:, None] + offset @ (draws[k] - model.coef_[k]).T for k in (0, 1)
    ]
    _, incidence = cumulative_incidence(
        np.stack(moved, axis=-1).reshape(-1, 2),  # (6 x draws, 2 causes)
        model.hazard_jumps_,
        model.event_times_,
        np.array([100.0]),
    )
    risks = incidence[:, 0, 0].reshape(len(rows), -1)
    expected = np.quantile(risks, [0.025, 0.975], axis=1).T
    found = model.predict_risk_interval(rows, 100.0)
    np.testing.assert_allclose(found, expected, rtol=0.03)
    risk = model.predict_risk(rows, 100.0)
    assert np.all((found[:, 0] < risk) & (risk < found[:, 1]))
    assert np.all(found[:, 1] - found[:, 0] < 0.2 * risk)  # 3,000 rows: a narrow interval


def test_a_competing_model_saved_without_its_covariance_has_no_interval(planted, model) -> None:
    state, arrays = model.to_state()
    arrays.pop("variance")
    loaded = CauseSpecificCox.from_state(state, arrays)
    assert loaded.predict_risk_interval(planted["X"][:3], 100.0) is None
