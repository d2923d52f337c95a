"""Every metric refuses a horizon past the follow-up of the data it is computed on, and an
evaluation never asks a model for a time past its own training follow-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prognosis.evaluation.calibration import calibration_at, calibration_summary, pseudo_values
from prognosis.evaluation.decision import decision_curve, net_benefit
from prognosis.evaluation.metrics import (
    EvaluationError,
    brier_scores,
    evaluation_times,
    observed_risk,
    time_dependent_auc,
)
from prognosis.evaluation.summary import evaluate_predictions
from prognosis.exceptions import PredictionHorizonError
from prognosis.models.registry import make_model
from prognosis.models.target import make_competing_target, make_target
from tests.support.planted import planted_survival

PAST = r"horizon 12 lies past the follow-up of the data it is computed on \(the last time, "


def planted(n: int = 400) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Exponential times, hazard 0.1 exp(0.8 x); uniform censoring ends follow-up by 10."""
    data = planted_survival(n, seed=0, censor_between=(0.0, 10.0))
    return data.X, data.y, data.risk(5.0)


@pytest.mark.parametrize(
    "metric",
    [
        lambda y, risk, h: calibration_at(y, risk, h),
        lambda y, risk, h: calibration_summary(y, risk, h),
        lambda y, risk, h: decision_curve(y, risk, h),
        lambda y, risk, h: net_benefit(y, risk, h),
        lambda y, risk, h: pseudo_values(y, h),
        lambda y, risk, h: observed_risk(y, [1.0, h]),
    ],
    ids=["calibration_at", "calibration_summary", "decision_curve", "net_benefit", "pseudo", "km"],
)
def test_horizon_past_the_follow_up_raises(metric) -> None:
    _, y, risk = planted()
    last = float(y["time"].max())
    assert last < 10.0
    with pytest.raises(EvaluationError, match=PAST + rf"event or censored, is {last:g}\)"):
        metric(y, risk, 12.0)
    metric(y, risk, last)  # the last time itself is inside


def test_competing_risk_calibration_past_the_follow_up_raises() -> None:
    y = make_competing_target([1, 2, 0, 1, 2, 0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    with pytest.raises(EvaluationError, match=r"horizon 12 lies past .* is 6\)"):
        calibration_at(y, np.full(6, 0.3), 12.0)


def test_ipcw_metrics_past_the_follow_up_raise() -> None:
    _, y, risk = planted()
    with pytest.raises(EvaluationError, match=r"times must lie in"):
        brier_scores(y, y, 1 - risk[:, None], [12.0])
    with pytest.raises(EvaluationError, match=r"times must lie in"):
        time_dependent_auc(y, y, risk, [12.0])


def test_evaluation_times_stay_inside_the_shortest_fold_model_follow_up() -> None:
    test = make_target(np.ones(40, dtype=bool), np.arange(1.0, 41.0))
    times = evaluation_times(test, test, [5.0, 35.0], min_at_risk=1, model_follow_up=20.5)
    assert times.upper == 20.5
    assert times.clipped == ((35.0, 20.0),)
    assert times.notes == [
        "horizon 35 clipped to 20: the shortest follow-up of a validation fold's training "
        "rows ends at 20.5"
    ]


def test_evaluation_of_a_model_with_shorter_follow_up_clips_instead_of_extrapolating() -> None:
    """A fold model fitted on rows followed up to day 4 is evaluated on rows followed to 10:
    the horizon 8 is clipped below 4 with a note, never predicted at."""
    X, y, _ = planted(800)
    short = y["time"] <= 4.0
    model = make_model("cox").fit(X[short], y[short])
    assert model.max_time_ <= 4.0
    test = ~short | (np.arange(len(y)) % 2 == 0)
    survival = lambda times: model.predict_survival(X[test], times)  # noqa: E731
    common = dict(horizons=[2.0, 8.0], n_boot=0, min_at_risk=10)
    result = evaluate_predictions(
        y, y[test], model.predict(X[test]), survival, model_follow_up=model.max_time_, **common
    )
    evaluated = [entry.horizon for entry in result.horizons]
    assert evaluated[0] == 2.0 and evaluated[1] < model.max_time_
    assert result.integrated_brier.stop < model.max_time_
    assert any("validation fold" in note for note in result.notes)
    with pytest.raises(PredictionHorizonError, match="training follow-up ends at"):
        evaluate_predictions(y, y[test], model.predict(X[test]), survival, **common)
