"""xgboost models: exact TreeSHAP of the margin (log hazard for Cox, log time for AFT)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from prognosis.explain import explain_model
from prognosis.explain.backend import shap_module
from prognosis.explain.boosters import _plain_trees, booster_shap
from prognosis.models.boosting import cox_labels
from tests.support.planted import planted_survival


def _margin(pipeline, X: pd.DataFrame) -> np.ndarray:
    inputs = pipeline[:-1].transform(X).to_numpy(dtype=np.float64)
    return pipeline[-1].booster_.predict(xgb.DMatrix(inputs), output_margin=True)


def test_xgb_cox_base_plus_shap_is_the_margin_for_every_row(fitted, X):
    pipeline = fitted("xgb-cox")
    explanation = explain_model(pipeline, X)
    assert explanation.output == "log hazard" and explanation.sign == 1
    np.testing.assert_allclose(explanation.prediction, _margin(pipeline, X), rtol=0, atol=1e-4)


def test_xgb_cox_predict_is_the_hazard_ratio_not_the_margin(fitted, X):
    booster = fitted("xgb-cox")[-1].booster_
    inputs = xgb.DMatrix(fitted("xgb-cox")[:-1].transform(X).to_numpy(dtype=np.float64))
    np.testing.assert_allclose(
        booster.predict(inputs), np.exp(booster.predict(inputs, output_margin=True)), rtol=1e-5
    )


def test_xgb_cox_values_equal_shap_tree_explainer(fitted, X):
    pipeline = fitted("xgb-cox")
    inputs = pipeline[:-1].transform(X)
    # xgboost takes NaN as it is (no imputation, no indicator), and zeros of non-negative
    # columns read as missing: SHAP must be computed on that input, as the booster sees it
    assert list(inputs.columns) == list(X.columns)
    assert inputs["lab"].isna().sum() == X["lab"].isna().sum() > 0
    assert inputs["ulcer"].isna().sum() == (X["ulcer"] == 0).sum() > 0
    reference = shap_module().TreeExplainer(pipeline[-1].booster_).shap_values(inputs.to_numpy())
    explanation = explain_model(pipeline, X)
    by_feature = pd.DataFrame(reference, columns=inputs.columns)
    np.testing.assert_allclose(
        explanation.values, by_feature[list(X.columns)].to_numpy(), rtol=0, atol=1e-5
    )


def test_xgb_cox_planted_risk_factor_has_positive_log_hazard_shap(fitted, X):
    explanation = explain_model(fitted("xgb-cox"), X)
    ulcer = explanation.values[:, explanation.feature_names.index("ulcer")]
    assert ulcer[X["ulcer"].to_numpy() == 1].mean() > 0 > ulcer[X["ulcer"].to_numpy() == 0].mean()


def test_xgb_aft_shap_is_in_log_time_with_the_sign_reversed(fitted, X):
    pipeline = fitted("xgb-aft")
    explanation = explain_model(pipeline, X)
    assert explanation.output == "log time" and explanation.sign == -1
    np.testing.assert_allclose(explanation.prediction, _margin(pipeline, X), rtol=0, atol=1e-4)
    # the planted protective factor lengthens the predicted time: positive SHAP on log time
    statin = explanation.values[:, explanation.feature_names.index("statin")]
    taking = X["statin"].to_numpy() == 1
    assert statin[taking].mean() > 0 > statin[~taking].mean()


@pytest.mark.parametrize(
    ("depth", "path"),
    [(3, "table of patterns"), (5, "sorted patterns"), (7, "shap fallback")],
)
def test_booster_shap_is_exact_with_missing_values_at_any_depth(depth, path):
    # depth 5 has up to 31 splits (more than 2**16 patterns: sorted), depth 7 up to 127
    # (more than an int64 holds: shap.TreeExplainer on the whole booster)
    rng = np.random.default_rng(depth)
    names = [f"f{column}" for column in range(6)]
    planted = planted_survival(
        400,
        seed=rng,
        features=dict.fromkeys(names, "normal"),
        beta={"f0": 1.0},
        base_hazard=0.01,
        censor_between=None,
        missing=dict.fromkeys(names, 0.2),
    )
    data = planted.X.to_numpy(dtype=np.float32)
    labels = cox_labels(rng.random(400) < 0.7, planted.time + 1)  # events at random
    params = {"objective": "survival:cox", "max_depth": depth, "nthread": 1, "verbosity": 0}
    booster = xgb.train(params, xgb.DMatrix(data, label=labels), 20)
    assert (_plain_trees(booster) is None) == (path == "shap fallback")
    values, base = booster_shap(booster, data)
    reference = shap_module().TreeExplainer(booster).shap_values(data)
    np.testing.assert_allclose(values, reference, rtol=0, atol=1e-5)
    margin = booster.predict(xgb.DMatrix(data), output_margin=True)
    np.testing.assert_allclose(base + values.sum(axis=1), margin, rtol=0, atol=1e-4)
