"""The reports' SHAP drivers, checked against the Cox model's own predictions.

The test model is a Cox model: its log hazard f is linear in its inputs, so the exact SHAP value
of feature j against the background's mean b is f(b with x_j) - f(b), the values add up to the
model's output, and taking feature j's value away is setting it to b_j. Each is computed here
with the model's ``predict`` and ``predict_risk`` on rows built by hand.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
from sksurv.linear_model import CoxPHSurvivalAnalysis

from prognosis.dataset import load_dataset
from prognosis.models.store import SavedModel, load_model
from prognosis.models.target import make_target
from prognosis.report import shap_drivers
from prognosis.scoring import background_rows
from prognosis.training import check_schema
from tests.report.conftest import Built


def _model_and_rows(built: Built) -> tuple[SavedModel, pd.DataFrame]:
    saved = load_model(built.model)
    dataset = load_dataset(built.dataset)
    return saved, check_schema(saved, dataset.frame, origin="test")


def _check_waterfalls(
    X: pd.DataFrame, found: shap_drivers.RowExplanations
) -> list[shap_drivers.Waterfall]:
    waterfalls = [found.waterfall(i, 180.0) for i in range(len(X))]
    groups = len(found.groups)
    for wf in waterfalls:
        assert isinstance(wf, shap_drivers.Waterfall)
        shown = sum(d.contribution for d in wf.drivers)
        assert wf.reference + shown + wf.other == pytest.approx(wf.risk, abs=1e-12)
        assert len(wf.drivers) + wf.n_other == groups
        ups = [d.contribution for d in wf.drivers if d.contribution > 0]
        downs = [d.contribution for d in wf.drivers if d.contribution < 0]
        assert ups == sorted(ups, reverse=True) and downs == sorted(downs)
        assert len(ups) <= 5 and len(downs) <= 5
    return waterfalls


def test_waterfall_goes_from_the_reference_risk_to_the_patients_risk(built: Built) -> None:
    # the reference is the Cox model's risk at the background's mean (its SHAP base value),
    # computed here with predict_risk on that row
    saved, X = _model_and_rows(built)
    rows, background = X.iloc[:12], X.iloc[100:]
    found = shap_drivers.explain_rows(saved, rows, background=background)
    assert not isinstance(found, shap_drivers.Unavailable)
    waterfalls = _check_waterfalls(rows, found)
    truth = saved.pipeline.predict_risk(rows, 180.0)
    assert [wf.risk for wf in waterfalls] == pytest.approx(truth, abs=1e-12)
    at_mean = saved.pipeline.predict_risk(background.mean().to_frame().T, 180.0)[0]
    assert [wf.reference for wf in waterfalls] == pytest.approx([at_mean] * len(rows), rel=1e-9)
    labels = [d.label for wf in waterfalls for d in wf.drivers]
    assert any(label.startswith("<script>alert(1)</script> Zzyzx") for label in labels)
    for i, expected in enumerate(truth):  # one rise and one fall: the rest is "other"
        wf = found.waterfall(i, 180.0, up=1, down=1)
        assert isinstance(wf, shap_drivers.Waterfall)
        assert len(wf.drivers) <= 2 and wf.n_other == len(found.groups) - len(wf.drivers)
        total = wf.reference + sum(d.contribution for d in wf.drivers) + wf.other
        assert total == pytest.approx(expected, abs=1e-12)


def test_each_driver_is_its_share_of_the_move_in_risk(built: Built) -> None:
    # feature j's log-hazard SHAP value is f(mean with x_j) - f(mean) (by hand with predict);
    # its risk points are that value's share of risk - reference (the rescale rule)
    saved, X = _model_and_rows(built)
    rows, background = X.iloc[:8], X.iloc[100:]
    found = shap_drivers.explain_rows(saved, rows, background=background)
    assert not isinstance(found, shap_drivers.Unavailable)
    mean = background.mean().to_frame().T
    at_mean = saved.pipeline.predict(mean)[0]
    checked = 0
    for i, wf in enumerate(_check_waterfalls(rows, found)):
        row = rows.iloc[[i]]
        total = saved.pipeline.predict(row)[0] - at_mean
        move = wf.risk - wf.reference
        for driver in wf.drivers:
            shap = 0.0
            for feature in driver.features:
                moved = mean.copy()
                moved[feature] = row[feature].to_numpy()
                shap += saved.pipeline.predict(moved)[0] - at_mean
            assert driver.contribution == pytest.approx(shap / total * move, rel=1e-6)
            checked += 1
    assert checked >= len(rows)


def test_the_index_drugs_are_one_driver_named_for_the_patients_drug(built: Built) -> None:
    saved, X = _model_and_rows(built)
    found = shap_drivers.explain_rows(saved, X.iloc[:30], background=X.iloc[100:])
    assert not isinstance(found, shap_drivers.Unavailable)
    index = [g for g in found.groups if g.entries[0].kind == "index_concept"]
    assert len(index) == 1 and [e.name for e in index[0].entries] == ["index_1001", "index_1002"]
    points = found.risk_points(180.0)
    assert not isinstance(points, shap_drivers.Unavailable)
    for i in range(30):
        wf = found.waterfall(i, 180.0, up=10, down=10)
        assert isinstance(wf, shap_drivers.Waterfall)
        drug = [d for d in wf.drivers if d.features == ("index_1001", "index_1002")]
        names = list(points.feature_names)
        summed = sum(points.values[i, names.index(n)] for n in ("index_1001", "index_1002"))
        if drug:
            assert drug[0].contribution == pytest.approx(summed, abs=1e-15)
            given = "A" if X["index_1001"].iat[i] == 1 else "B"
            assert drug[0].label == f"Index drug: Test drug {given}"
        else:
            assert abs(summed) < 5e-4  # too small to show at one decimal: in "other"
        assert not any(d.features in (("index_1001",), ("index_1002",)) for d in wf.drivers)


def test_global_explanation_ranks_features_by_mean_absolute_value(built: Built) -> None:
    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    found = shap_drivers.global_explanation(saved, frame, rows=50, top=3, swarm=2)
    assert not isinstance(found, shap_drivers.Unavailable)
    values = [item.mean_abs for item in found.importance]
    assert values == sorted(values, reverse=True) and len(values) == 3
    assert found.swarm_values.shape == (50, 2) and found.n_rows == 50
    expected = np.abs(found.swarm_values).mean(axis=0)
    assert values[:2] == pytest.approx(expected)


def test_global_values_of_every_row_follow_the_model(built: Built) -> None:
    saved, X = _model_and_rows(built)
    p = X.shape[1]
    frame = load_dataset(built.dataset).frame
    found = shap_drivers.global_explanation(saved, frame, rows=len(X), top=p, swarm=p)
    assert not isinstance(found, shap_drivers.Unavailable)
    assert found.n_rows == len(X) and found.scale == "log hazard"  # every row
    totals = np.sort(found.swarm_values.sum(axis=1))
    truth = np.sort(saved.pipeline.predict(X))  # the base value is common to all rows
    assert totals - totals[0] == pytest.approx(truth - truth[0], abs=1e-9)
    assert sorted(item.feature for item in found.importance) == sorted(X.columns)
    labels = {f.name: str(f.label) for f in saved.features}
    assert [item.label for item in found.importance] == [
        labels[item.feature] for item in found.importance
    ]


def test_a_model_without_an_exact_method_is_unavailable_with_the_reason(built: Built) -> None:
    saved, X = _model_and_rows(built)
    pipeline = copy.deepcopy(saved.pipeline)
    target = saved.training_target
    y = make_target(target["event"] == 1, target["time"])
    foreign = CoxPHSurvivalAnalysis().fit(pipeline[:-1].transform(X), y)
    pipeline.steps[-1] = ("model", foreign)
    unexplainable = dataclasses.replace(saved, pipeline=pipeline)
    reason = "no exact SHAP method for CoxPHSurvivalAnalysis"
    found = shap_drivers.global_explanation(unexplainable, load_dataset(built.dataset).frame)
    assert isinstance(found, shap_drivers.Unavailable) and found.reason.startswith(reason)
    rows = shap_drivers.explain_rows(unexplainable, X.iloc[:3], background=X)
    assert rows == found


def test_global_explanation_samples_as_prognosis_explain_does(built: Built) -> None:
    # the reference rows are those of `prognosis explain --seed 3 --background-rows 40`, the
    # rows explained the same sampler's with seed 4; for the Cox model, feature j's SHAP value
    # is f(mean with x_j) - f(mean), computed here with its predict on rows built by hand
    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    p = len(saved.feature_names)
    found = shap_drivers.global_explanation(
        saved, frame, rows=30, background_rows=40, top=p, seed=3
    )
    assert not isinstance(found, shap_drivers.Unavailable) and found.n_rows == 30
    mean = check_schema(saved, background_rows(frame, 40, 3), origin="test").mean().to_frame().T
    rows = check_schema(saved, background_rows(frame, 30, 4), origin="test")
    at_mean = saved.pipeline.predict(mean)[0]
    for item in found.importance:
        moved = pd.concat([mean] * len(rows), ignore_index=True)
        moved[item.feature] = rows[item.feature].to_numpy()
        shap = saved.pipeline.predict(moved) - at_mean
        assert item.mean_abs == pytest.approx(np.abs(shap).mean(), abs=1e-9)


@pytest.mark.parametrize(
    ("reference", "risk", "values", "expected"),
    [
        # 10.5% + 6.44 - 4.93 - 0.62 - 0.14 - 0.12 = 11.13% (printed 11.1%): rounded one by one
        # they would add up to 0.7, so one of them gives (largest remainders, by hand)
        (
            0.105,
            0.1113,
            [0.0644, -0.0493, -0.0062, -0.0014, -0.0012],
            [6.4, -4.9, -0.6, -0.2, -0.1],
        ),
        # the printed ends differ by 0.7 while the values add up to 0.64: the largest remainder
        (0.1004, 0.1068, [0.0032, 0.0032], [0.4, 0.3]),
        (0.2, 0.2, [0.0], [0.0]),
    ],
)
def test_rounded_points_add_up_to_the_printed_risks(reference, risk, values, expected) -> None:
    shown = shap_drivers.rounded_points(reference, risk, values)
    assert shown == pytest.approx(expected)
    printed = round(float(f"{100 * risk:.1f}") * 10) - round(float(f"{100 * reference:.1f}") * 10)
    assert round(sum(shown) * 10) == printed
    assert all(abs(s - 100 * v) < 0.1 + 1e-9 for s, v in zip(shown, values, strict=True))
