"""The SHAP adapter: waterfalls add up to the model's own output; no module, no explanations."""

from __future__ import annotations

import sys
from types import ModuleType
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from prognosis.dataset import load_dataset
from prognosis.models.store import SavedModel, load_model
from prognosis.report import explanations
from prognosis.training import check_schema
from tests.report import fake_explain
from tests.report.conftest import REAL_EXPLAIN, Built


def _model_and_rows(built: Built) -> tuple[SavedModel, pd.DataFrame]:
    saved = load_model(built.model)
    dataset = load_dataset(built.dataset)
    return saved, check_schema(saved, dataset.frame, origin="test")


def _check_waterfalls(
    X: pd.DataFrame, found: explanations.RowExplanations
) -> list[explanations.Waterfall]:
    waterfalls = [found.waterfall(i, 180.0) for i in range(len(X))]
    for wf in waterfalls:
        shown = sum(d.contribution for d in wf.drivers)
        assert wf.base + shown + wf.other == pytest.approx(wf.final, abs=1e-9)
        assert len(wf.drivers) + wf.n_other == X.shape[1]
        ups = [d.contribution for d in wf.drivers if d.contribution > 0]
        downs = [d.contribution for d in wf.drivers if d.contribution < 0]
        assert ups == sorted(ups, reverse=True) and downs == sorted(downs)
        assert len(ups) <= 5 and len(downs) <= 5
    return waterfalls


def test_fake_linear_shap_waterfall_ends_at_the_models_log_hazard(built: Built) -> None:
    saved, X = _model_and_rows(built)
    rows = X.iloc[:6]
    with mock.patch.dict(sys.modules, {"prognosis.explain": fake_explain.as_module()}):
        found = explanations.explain_rows(saved, rows, background=X)
        assert not isinstance(found, explanations.Unavailable)
        waterfalls = _check_waterfalls(rows, found)
    truth = saved.pipeline.predict(rows)  # the model's log partial hazard
    assert [wf.final for wf in waterfalls] == pytest.approx(truth, abs=1e-9)
    labels = [d.label for wf in waterfalls for d in wf.drivers]
    assert any(label.startswith("<script>alert(1)</script> Zzyzx") for label in labels)


@pytest.mark.skipif(not REAL_EXPLAIN, reason="prognosis.explain is not installed yet")
def test_real_shap_waterfall_adds_up_and_follows_the_model(built: Built) -> None:
    saved, X = _model_and_rows(built)
    rows = X.iloc[:12]
    found = explanations.explain_rows(saved, rows, background=X)
    assert not isinstance(found, explanations.Unavailable)
    waterfalls = _check_waterfalls(rows, found)
    finals = np.array([wf.final for wf in waterfalls])
    truth = saved.pipeline.predict(rows)  # log hazard up to a constant: compare differences
    assert finals - finals[0] == pytest.approx(truth - truth[0], abs=1e-6)
    risk = saved.pipeline.predict_risk(rows, 180.0)
    for wf, expected in zip(waterfalls, risk, strict=True):
        for driver in wf.drivers:
            assert driver.risk_with == pytest.approx(expected)


def test_without_the_module_explanations_are_unavailable(built: Built) -> None:
    saved, X = _model_and_rows(built)
    with mock.patch.dict(sys.modules, {"prognosis.explain": None}):
        found = explanations.global_explanation(saved, X)
    assert isinstance(found, explanations.Unavailable)
    assert "could not be imported" in found.reason
    with mock.patch.dict(sys.modules, {"prognosis.explain": ModuleType("prognosis.explain")}):
        found = explanations.explain_rows(saved, X, background=X)
    assert found == explanations.Unavailable(
        "prognosis.explain does not provide explain_model, clinical_label, risk_effects"
    )


def test_global_explanation_ranks_features_by_mean_absolute_value(built: Built) -> None:
    saved, X = _model_and_rows(built)
    with mock.patch.dict(sys.modules, {"prognosis.explain": fake_explain.as_module()}):
        found = explanations.global_explanation(saved, X, rows=50, top=3, swarm=2)
    assert not isinstance(found, explanations.Unavailable)
    values = [item.mean_abs for item in found.importance]
    assert values == sorted(values, reverse=True) and len(values) == 3
    assert found.swarm_values.shape == (50, 2) and found.n_rows == 50
    expected = np.abs(found.swarm_values).mean(axis=0)
    assert values[:2] == pytest.approx(expected)
