"""scikit-survival tree ensembles: exact TreeSHAP through shap's tree dictionaries."""

from __future__ import annotations

import numpy as np
import pytest

from prognosis.exceptions import PredictionHorizonError
from prognosis.explain import ExplanationError, explain_model, explain_survival
from prognosis.explain.trees import forest_risk_shap, tree_dictionary


def _model_input(pipeline, X):
    return pipeline[:-1].transform(X).to_numpy(dtype=np.float64)


def test_rsf_base_plus_shap_is_the_forest_risk_score(fitted, X):
    pipeline = fitted("rsf")
    explanation = explain_model(pipeline, X)
    assert explanation.output == "risk score" and explanation.sign == 1
    expected = pipeline[-1].model_.predict(_model_input(pipeline, X))
    np.testing.assert_allclose(explanation.prediction, expected, rtol=1e-9, atol=1e-9)


def test_rsf_survival_shap_adds_up_to_s_at_each_time(fitted, X):
    pipeline = fitted("rsf")
    grid = pipeline[-1].model_.unique_times_
    # before the first time (S = 1), on a grid time, between two, the end of follow-up
    times = [grid[0] / 2, grid[10], (grid[20] + grid[21]) / 2, pipeline.max_time_]
    explanation = explain_survival(pipeline, X, times)
    assert explanation.values.shape == (len(X), X.shape[1], len(times))
    np.testing.assert_allclose(
        explanation.prediction, pipeline.predict_survival(X, times), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        explanation.values[:, :, 0], 0.0, atol=1e-12
    )  # S = 1 before any event


def test_rsf_survival_shap_past_the_training_follow_up_raises(fitted, X):
    pipeline = fitted("rsf")
    with pytest.raises(PredictionHorizonError, match="training follow-up ends at"):
        explain_survival(pipeline, X, [10.0, pipeline.max_time_ + 100])


def test_gbsa_base_plus_shap_is_the_log_hazard(fitted, X):
    pipeline = fitted("gbsa")
    explanation = explain_model(pipeline, X)
    assert explanation.output == "log hazard"
    expected = pipeline[-1].model_.predict(_model_input(pipeline, X))
    np.testing.assert_allclose(explanation.prediction, expected, rtol=0, atol=1e-9)


def test_tree_dictionary_arrays_are_c_contiguous_even_from_strided_values(fitted):
    tree = fitted("rsf")[-1].model_.estimators_[0].tree_
    strided = tree.value[:, ::2, 1]  # a view with a stride: shap's C code would misread it
    assert not strided.flags["C_CONTIGUOUS"]
    dictionary = tree_dictionary(tree, strided)
    assert all(array.flags["C_CONTIGUOUS"] for array in dictionary.values())
    np.testing.assert_array_equal(dictionary["values"], strided)


def test_low_memory_forest_is_refused_with_the_reason(fitted, X):
    forest = fitted("rsf")[-1].model_
    forest.low_memory = True
    try:
        with pytest.raises(ExplanationError, match="low_memory=True keeps no survival curves"):
            forest_risk_shap(forest, _model_input(fitted("rsf"), X))
    finally:
        forest.low_memory = False


def test_time_dependent_explanations_are_refused_for_non_tree_models(fitted, X):
    with pytest.raises(ExplanationError, match=r"random survival forest \(rsf\) only, not .*CoxPH"):
        explain_survival(fitted("cox"), X, [365])
