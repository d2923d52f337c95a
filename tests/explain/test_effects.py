"""Each top feature's effect on the risk at the horizons, consistent with predict_risk."""

from __future__ import annotations

import numpy as np
import pytest

from prognosis.artifacts import Feature
from prognosis.explain import (
    Effect,
    ExplanationError,
    effect_sentence,
    explain_model,
    explain_survival,
    risk_effects,
)
from prognosis.models.survival import step_function

HORIZONS = [180.0, 365.0]
FEATURES = [Feature("ulcer", statistic="presence", label="Peptic ulcer before index")]


@pytest.mark.parametrize(
    "name", ["xgb-cox", "xgb-aft", "rsf", "gbsa", "cox", "coxnet", "cause-specific-cox", "weibull"]
)
def test_risk_with_the_feature_is_the_model_prediction(fitted, X, name):
    pipeline = fitted(name)
    row = X.iloc[[3]]
    explanation = explain_model(pipeline, row, background=X)
    effects = risk_effects(pipeline, row, explanation, HORIZONS, features=FEATURES, top=3)
    assert len(effects) == 3 * len(HORIZONS)
    for effect in effects:
        assert effect.risk_with == pytest.approx(pipeline.predict_risk(row, effect.horizon)[0])
        assert 0 <= effect.risk_without <= 1
        rises = effect.risk_with > effect.risk_without
        assert effect.direction == ("raises" if rises else "lowers")
    shap = [abs(e.shap) for e in effects[:: len(HORIZONS)]]
    assert shap == sorted(shap, reverse=True)


def test_xgb_cox_risk_without_is_the_baseline_at_the_margin_minus_shap(fitted, X):
    pipeline = fitted("xgb-cox")
    model = pipeline[-1]
    row = X.iloc[[7]]
    explanation = explain_model(pipeline, row)
    margin = model.predict(pipeline[:-1].transform(row))[0]
    for effect in risk_effects(pipeline, row, explanation, HORIZONS, top=2):
        hazard = step_function(
            model.baseline_times_,
            model.baseline_cumulative_hazard_,
            np.array([effect.horizon]),
            before=0.0,
        )[0]
        expected = 1 - np.exp(-hazard * np.exp(margin - effect.shap))
        assert effect.risk_without == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", ["cox", "coxnet", "weibull"])
def test_linear_risk_without_is_the_risk_with_the_feature_at_its_mean(fitted, X, name):
    # for a linear margin, taking away a feature's SHAP value is setting it to the mean
    pipeline = fitted(name)
    row = X[X["ulcer"] == 1].iloc[[0]]
    explanation = explain_model(pipeline, row, background=X)
    effects = risk_effects(pipeline, row, explanation, HORIZONS, top=X.shape[1])
    averaged = row.assign(ulcer=X["ulcer"].mean())
    for effect in (e for e in effects if e.feature == "ulcer"):
        expected = pipeline.predict_risk(averaged, effect.horizon)[0]
        assert effect.risk_without == pytest.approx(expected, rel=1e-9)


def test_rsf_risk_without_takes_the_feature_share_of_s_at_the_horizon(fitted, X):
    pipeline = fitted("rsf")
    row = X.iloc[[5]]
    effects = risk_effects(pipeline, row, explain_model(pipeline, row), [365.0], top=1)
    survival = explain_survival(pipeline, row, [365.0])
    share = survival.values[0, survival.feature_names.index(effects[0].feature), 0]
    assert effects[0].risk_without == pytest.approx(effects[0].risk_with + share)


def test_labels_come_from_the_features_entries(fitted, X):
    pipeline = fitted("cox")
    row = X[X["ulcer"] == 1].iloc[[0]]
    effects = risk_effects(pipeline, row, explain_model(pipeline, row), [365.0], features=FEATURES)
    ulcer = next(e for e in effects if e.feature == "ulcer")
    assert ulcer.label == "Peptic ulcer before index: yes"
    assert ulcer.direction == "raises"  # the planted risk factor
    statin = [e for e in effects if e.feature == "statin"]
    assert not statin or statin[0].label.startswith("statin: ")


def test_one_patient_at_a_time(fitted, X):
    pipeline = fitted("cox")
    with pytest.raises(ExplanationError, match="one patient: got 2 rows"):
        risk_effects(pipeline, X.iloc[:2], explain_model(pipeline, X.iloc[:2]), HORIZONS)


@pytest.mark.parametrize(
    ("without", "with_", "horizon", "sentence"),
    [
        (0.08, 0.14, 365.0, "raises the 1-year risk from 8% to 14%"),
        (0.0812, 0.0834, 1825.0, "raises the 5-year risk from 8.1% to 8.3%"),
        (0.004, 0.002, 90.0, "lowers the 90-day risk from 0.4% to 0.2%"),
    ],
)
def test_sentence_says_what_the_feature_does_to_the_risk(without, with_, horizon, sentence):
    direction = "raises" if with_ > without else "lowers"
    effect = Effect("x", "x: yes", 0.1, direction, without, with_, horizon)
    assert effect_sentence(effect) == sentence
