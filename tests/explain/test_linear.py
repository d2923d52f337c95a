"""Linear models: exact SHAP = coefficient * (value - reference mean), in log-hazard units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import WeibullAFTFitter

from prognosis.explain import ExplanationError, explain_model
from prognosis.models.cox import lifelines_calls


def test_cox_shap_is_coefficient_times_distance_from_the_training_mean(fitted, X):
    pipeline = fitted("cox")
    explanation = explain_model(pipeline, X)
    columns = pipeline[:-1].transform(X)  # the training rows, as the model saw them
    coef = pipeline[-1].summary_["coef"]
    expected = {
        name: coef[name] * (columns[name] - columns[name].mean()) for name in columns.columns
    }
    expected["lab"] = expected["lab"] + expected.pop("missingindicator_lab")
    by_hand = pd.DataFrame(expected)[list(explanation.feature_names)].to_numpy()
    np.testing.assert_allclose(explanation.values, by_hand, rtol=0, atol=1e-9)
    np.testing.assert_allclose(explanation.base_values, 0.0, atol=1e-9)  # lifelines centres
    np.testing.assert_allclose(explanation.prediction, pipeline.predict(X), rtol=0, atol=1e-9)


def test_cox_background_moves_the_reference_to_its_mean(fitted, X):
    pipeline = fitted("cox")
    background = X[X["ulcer"] == 1]
    explanation = explain_model(pipeline, X, background=background)
    coef = pipeline[-1].summary_["coef"]
    ulcer = explanation.values[:, explanation.feature_names.index("ulcer")]
    np.testing.assert_allclose(ulcer, coef["ulcer"] * (X["ulcer"] - 1.0), atol=1e-12)
    np.testing.assert_allclose(explanation.prediction, pipeline.predict(X), rtol=0, atol=1e-9)


def test_cause_specific_cox_explains_the_cause_one_log_hazard(fitted, X):
    pipeline = fitted("cause-specific-cox")
    explanation = explain_model(pipeline, X, background=X)
    coef = pipeline[-1].summary_[1]["coef"]
    statin = explanation.values[:, explanation.feature_names.index("statin")]
    np.testing.assert_allclose(statin, coef["statin"] * (X["statin"] - X["statin"].mean()))
    np.testing.assert_allclose(explanation.prediction, pipeline.predict(X), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["cause-specific-cox", "coxnet", "weibull"])
def test_models_without_training_means_need_a_background(fitted, X, name):
    with pytest.raises(ExplanationError, match=r"keeps no training means.*pass background="):
        explain_model(fitted(name), X)


def test_coxnet_adds_up_to_its_log_hazard(fitted, X):
    pipeline = fitted("coxnet")
    explanation = explain_model(pipeline, X, background=X)
    np.testing.assert_allclose(explanation.prediction, pipeline.predict(X), rtol=0, atol=1e-9)


def test_weibull_explains_log_median_time_with_sign_reversed(fitted, X, y):
    pipeline = fitted("weibull")
    explanation = explain_model(pipeline, X, background=X)
    assert explanation.output == "log time" and explanation.sign == -1
    columns = pipeline[:-1].transform(X)  # the training rows, as the model saw them
    with lifelines_calls():
        model = WeibullAFTFitter().fit(columns.assign(T=y["time"], E=y["event"]), "T", "E")
        median = model.predict_median(columns).to_numpy(dtype=float).ravel()
    np.testing.assert_allclose(explanation.prediction, np.log(median), rtol=0, atol=1e-9)
    ulcer = explanation.values[:, explanation.feature_names.index("ulcer")]
    assert ulcer[X["ulcer"].to_numpy() == 1].mean() < 0  # the risk factor shortens time
