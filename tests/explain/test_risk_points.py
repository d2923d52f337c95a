"""SHAP values carried to the risk at a horizon: additive for every family, and for a
one-covariate Cox model equal to the risk difference computed by hand from lifelines' fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from prognosis.explain import ExplanationError, explain_model, explain_risk
from prognosis.models.registry import MODEL_NAMES, make_model

HORIZON = 365.0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_contributions_add_up_to_the_risk_minus_the_reference_for_every_family(fitted, X, name):
    pipeline = fitted(name)
    rows, background = X.iloc[:40], X.iloc[100:200]
    explanation = explain_model(pipeline, rows, background=background)
    points = explain_risk(pipeline, rows, explanation, HORIZON)
    predicted = pipeline.predict_risk(rows, HORIZON)  # the outcome's incidence when competing
    assert points.risk == pytest.approx(predicted, abs=1e-12)
    assert points.reference + points.values.sum(axis=1) == pytest.approx(predicted, abs=1e-9)
    assert points.values.shape == explanation.values.shape
    assert np.all((points.reference > 0) & (points.reference < 1))
    assert np.abs(points.values).max() > 1e-4  # the planted effects move the risk


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "rsf"])
def test_each_contribution_has_the_sign_of_its_shap_value_towards_risk(fitted, X, name):
    # the rescale rule gives feature j the share shap_j / sum(shap) of the risk's move
    pipeline = fitted(name)
    rows = X.iloc[:20]
    explanation = explain_model(pipeline, rows, background=X)
    points = explain_risk(pipeline, rows, explanation, HORIZON)
    oriented = explanation.sign * explanation.values
    moved = np.abs(oriented) > 1e-9
    assert np.all(np.sign(points.values[moved]) == np.sign(oriented[moved]))
    share = points.values / (points.risk - points.reference)[:, None]
    assert share == pytest.approx(explanation.values / explanation.values.sum(axis=1)[:, None])


def test_one_covariate_cox_attribution_is_the_exact_risk_difference(X, y):
    pipeline = make_model("cox").fit(X[["age"]], y)
    rows, background = X[["age"]].iloc[:25], X[["age"]].iloc[150:]
    points = explain_risk(
        pipeline, rows, explain_model(pipeline, rows, background=background), HORIZON
    )
    # by hand, from lifelines' own fit: F(x) = 1 - exp(-H0(h) exp(beta (x - mean)))
    frame = pd.DataFrame({"age": X["age"], "time": y["time"], "event": y["event"]})
    fitter = CoxPHFitter().fit(frame, "time", "event")
    beta = float(fitter.params_["age"])
    hazard = fitter.baseline_cumulative_hazard_.iloc[:, 0]
    h0 = float(hazard[hazard.index <= HORIZON].iloc[-1])
    mean = float(X["age"].mean())

    def risk(age: np.ndarray | float) -> np.ndarray:
        return 1.0 - np.exp(-h0 * np.exp(beta * (np.asarray(age) - mean)))

    reference = risk(float(background["age"].mean()))
    expected = risk(rows["age"].to_numpy()) - reference
    assert points.values[:, 0] == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert points.reference == pytest.approx(np.full(len(rows), reference), rel=1e-5)


def test_a_patient_at_the_reference_gets_the_slope_of_the_risk(X, y):
    # sum(shap) = 0: the ratio of the rescale rule is F's slope at the base value
    pipeline = make_model("cox").fit(X[["age", "ulcer"]], y)
    background = X[["age", "ulcer"]]
    row = background.mean().to_frame().T
    beta = pipeline[-1].coef_
    row.loc[0, "ulcer"] += 0.5
    row.loc[0, "age"] -= 0.5 * beta[1] / beta[0]  # the log hazard stays at the base value
    points = explain_risk(pipeline, row, explain_model(pipeline, row, background=background), 365)
    assert points.values.sum() == pytest.approx(0.0, abs=1e-9)
    assert points.risk[0] == pytest.approx(points.reference[0], abs=1e-9)
    # dF/deta = (1 - F) * -log(1 - F); contribution_j = shap_j * slope
    F = points.reference[0]
    slope = (1 - F) * -np.log(1 - F)
    assert points.values[0, 1] == pytest.approx(0.5 * beta[1] * slope, rel=1e-4)
    assert points.values[0, 0] == pytest.approx(-0.5 * beta[1] * slope, rel=1e-4)


def test_rows_must_be_those_explained(fitted, X):
    pipeline = fitted("cox")
    explanation = explain_model(pipeline, X.iloc[:3])
    with pytest.raises(ExplanationError, match="the explanation has 3 rows and X has 2"):
        explain_risk(pipeline, X.iloc[:2], explanation, HORIZON)
