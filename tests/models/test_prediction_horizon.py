"""Predictions stop at the training follow-up (planted exponential times, known truth).

Hazard 0.1 per year times exp(0.5 * x), x standard normal; censoring uniform between two and
three years, so nobody is followed past day 1095. Inside the follow-up each row's predicted
risk is its planted 1 - exp(-hazard * t) within noise; past it every family refuses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prognosis.exceptions import PredictionHorizonError, PrognosisError
from prognosis.models.registry import make_model
from tests.support.planted import planted_survival

YEAR = 365.25
RATE = 0.1 / YEAR  # per day
BETA = 0.5


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    # whole days; uniform censoring between 2 years and day 1095 (the last day inside 3 years)
    data = planted_survival(
        3000,
        seed=0,
        beta={"x": BETA},
        base_hazard=RATE,
        censor_between=(2 * YEAR, 1095.0),
        whole_days=True,
    )
    return data.X, data.y, data.hazard


def true_risk(hazard: np.ndarray, days: float) -> np.ndarray:
    return 1.0 - np.exp(-hazard * days)


@pytest.mark.parametrize("name", ["cox", "weibull"])
def test_risk_inside_the_follow_up_is_the_planted_risk(planted, name) -> None:
    X, y, hazard = planted
    model = make_model(name).fit(X, y)
    for days in (YEAR, 2 * YEAR, 2.5 * YEAR):  # at 2.5 years half the rows are still followed
        error = np.abs(model.predict_risk(X, days) - true_risk(hazard, days))
        assert error.mean() < 0.02, (name, days, error.mean())
    last = model.predict_risk(X, float(y["time"].max()))  # the last day itself is inside
    assert np.all((last > 0) & (last < 1))


@pytest.mark.parametrize("name", ["cox", "weibull", "rsf"])
@pytest.mark.parametrize("years", [3.01, 4.0, 10.0])
def test_risk_past_the_follow_up_raises(planted, name, years) -> None:
    X, y, _ = planted
    model = make_model(name, **({"n_estimators": 10} if name == "rsf" else {})).fit(X, y)
    end = float(y["time"].max())
    assert end <= 3 * YEAR
    days = years * YEAR
    with pytest.raises(PredictionHorizonError, match=rf"at {days:g} days.*ends at {end:g} days"):
        model.predict_risk(X.iloc[:3], days)
    with pytest.raises(PrognosisError, match="fit on data with longer follow-up"):
        model.predict_survival(X.iloc[:3], [YEAR, days])


def test_the_error_is_a_value_error_for_scikit_learn_callers(planted) -> None:
    X, y, _ = planted
    model = make_model("cox").fit(X, y)
    with pytest.raises(ValueError, match="training follow-up"):
        model.predict_risk(X.iloc[:1], 10 * YEAR)
