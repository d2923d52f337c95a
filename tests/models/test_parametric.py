"""WeibullAFT predicts from its arrays exactly what lifelines' own fitted model predicts."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import WeibullAFTFitter
from lifelines.datasets import load_rossi

from prognosis.models.cox import lifelines_calls
from prognosis.models.parametric import WeibullAFT
from prognosis.models.target import make_target

COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
WEEKS = np.array([0.0, 1.0, 10.0, 26.0, 40.0, 52.0])


@pytest.fixture(scope="module")
def rossi() -> tuple:
    """(data, our model, lifelines' model) on lifelines' Rossi recidivism data."""
    data = load_rossi()
    model = WeibullAFT().fit(data[COVARIATES], make_target(data["arrest"], data["week"]))
    with lifelines_calls():
        fitter = WeibullAFTFitter().fit(data[[*COVARIATES, "week", "arrest"]], "week", "arrest")
    return data, model, fitter


def test_survival_is_that_of_lifelines(rossi) -> None:
    data, model, fitter = rossi
    with lifelines_calls():
        reference = fitter.predict_survival_function(data[COVARIATES], times=WEEKS).T.to_numpy()
    np.testing.assert_allclose(
        model.predict_survival(data[COVARIATES], WEEKS), reference, rtol=0, atol=1e-12
    )


def test_risk_score_is_minus_the_lifelines_median(rossi) -> None:
    data, model, fitter = rossi
    with lifelines_calls():
        median = fitter.predict_median(data[COVARIATES]).to_numpy(dtype=float)
    np.testing.assert_allclose(model.predict(data[COVARIATES]), -median, rtol=1e-12)


def test_scale_and_shape_are_lifelines_parameters(rossi) -> None:
    _, model, fitter = rossi
    params = fitter.params_
    np.testing.assert_array_equal(model.coef_, params.loc["lambda_"][COVARIATES].to_numpy())
    assert model.intercept_ == params.loc[("lambda_", "Intercept")]
    assert model.rho_ == np.exp(params.loc[("rho_", "Intercept")])
    assert model.summary_.equals(fitter.summary)
