"""Model columns are summed back into dataset features, keeping additivity."""

from __future__ import annotations

import numpy as np
import pytest

from prognosis.explain import ExplanationError, explain_model
from prognosis.explain.columns import model_inputs
from prognosis.models.base import SurvivalEstimator, SurvivalPipeline
from prognosis.models.preprocess import make_preprocessor
from prognosis.models.registry import make_model


def test_missing_indicator_is_folded_into_its_feature_and_additivity_holds(fitted, X):
    pipeline = fitted("cox")
    explanation = explain_model(pipeline, X)
    assert explanation.feature_names == tuple(X.columns)  # no missingindicator_lab column
    coef = pipeline[-1].summary_["coef"]
    missing = X["lab"].isna().to_numpy()
    lab = explanation.values[:, explanation.feature_names.index("lab")]
    # a missing lab value: imputed median plus the indicator's share, by hand
    median = np.nanmedian(X["lab"])
    columns = pipeline[:-1].transform(X)
    expected = coef["lab"] * (median - columns["lab"].mean()) + coef["missingindicator_lab"] * (
        1 - missing.mean()
    )
    np.testing.assert_allclose(lab[missing], expected, atol=1e-9)
    np.testing.assert_allclose(explanation.prediction, pipeline.predict(X), rtol=0, atol=1e-9)
    assert explanation.data["lab"].isna().sum() == missing.sum()  # original values kept


def test_one_hot_levels_are_summed_into_their_categorical_feature(X, y):
    frame = X.assign(site=np.where(np.arange(len(X)) % 3 == 0, "north", "south"))
    frame.loc[frame.index % 3 == 1, "site"] = "east"
    pipeline = make_model("cox").fit(frame, y)
    inputs = model_inputs(pipeline, frame)
    assert {"site_north", "site_south"} <= set(inputs.transformed.columns)
    explanation = explain_model(pipeline, frame)
    assert "site" in explanation.feature_names
    np.testing.assert_allclose(explanation.prediction, pipeline.predict(frame), atol=1e-9)


def test_columns_in_another_order_are_reordered(fitted, X):
    pipeline = fitted("cox")
    shuffled = X[list(reversed(X.columns))]
    explanation = explain_model(pipeline, shuffled)
    assert explanation.feature_names == tuple(X.columns)
    np.testing.assert_allclose(explanation.prediction, pipeline.predict(X), atol=1e-9)


def test_rows_with_other_columns_are_refused_naming_them(fitted, X):
    with pytest.raises(ExplanationError, match=r"missing \['lab'\], unexpected \['person_id'\]"):
        explain_model(fitted("cox"), X.drop(columns="lab").assign(person_id=1))


def test_a_model_without_an_exact_method_is_refused_naming_those_with_one(X, y):
    class Linear(SurvivalEstimator):
        def _fit(self, X, target):
            self.weights_ = np.linspace(0.1, 0.5, X.shape[1])

        def _predict_score(self, X):
            return X @ self.weights_

    pipeline = SurvivalPipeline(
        [("preprocess", make_preprocessor(scale=False)), ("model", Linear())]
    ).fit(X, y)
    with pytest.raises(
        ExplanationError, match=r"no exact SHAP method for Linear; a model family explains itself"
    ):
        explain_model(pipeline, X, background=X)


def test_row_selects_one_patient_by_position(fitted, X):
    explanation = explain_model(fitted("cox"), X)
    for index in (0, 7, -1):
        one = explanation.row(index)
        np.testing.assert_array_equal(one.values, explanation.values[[index]])
        assert one.data.index[0] == X.index[index]
