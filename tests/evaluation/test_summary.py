"""evaluate_predictions: everything in one Metrics value, notes on what was not as asked."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from prognosis.artifacts import Metrics, from_json, to_json
from prognosis.evaluation.summary import evaluate_predictions, format_table
from tests.support.planted import Cause, planted_survival

# hazard 0.1 exp(0.8 x), uniform censoring on (0, 15); the planted S(t | x) is the model
TRAIN, TEST = planted_survival(400, seed=0), planted_survival(300, seed=1)


@pytest.fixture(scope="module")
def results() -> Metrics:
    return evaluate_predictions(
        TRAIN.y, TEST.y, TEST.hazard, TEST.survival, [2.0, 5.0, 40.0], n_boot=10
    )


def test_results_are_strict_json(results: Metrics) -> None:
    text = json.dumps(to_json(results), allow_nan=False)
    assert from_json(Metrics, json.loads(text)) == results


def test_every_metric_is_reported_with_an_interval(results: Metrics) -> None:
    assert results.n_test == 300 and results.bootstrap.n_boot == 10
    assert results.integrated_brier is not None
    for entry in (results.harrell_c, results.uno_c, results.integrated_brier):
        assert entry.lower < entry.upper and entry.failed_resamples == 0
    assert [h.horizon for h in results.horizons][:2] == [2.0, 5.0]
    five = results.horizons[1]
    assert 0.5 < five.time_dependent_auc.estimate < 1.0
    assert 0.0 < five.brier.estimate < 0.25
    calibration = five.calibration
    for interval in (calibration.slope, calibration.intercept, calibration.ici, calibration.e90):
        assert interval.estimate is not None
    assert len(calibration.table) == 10
    curve = five.decision_curve
    assert len(curve.model) == len(curve.model_lower) == len(curve.thresholds) == 99


def test_a_horizon_past_the_follow_up_is_clipped_and_said_so(results: Metrics) -> None:
    clipped = results.horizons[2].horizon
    assert 5.0 < clipped < 15.0
    assert any(note.startswith(f"horizon 40 clipped to {clipped:g}") for note in results.notes)


def test_predictions_given_as_a_matrix_cannot_move_to_a_clipped_horizon() -> None:
    horizons = np.array([2.0, 5.0, 40.0])
    matrix = TEST.survival(horizons)
    results = evaluate_predictions(TRAIN.y, TEST.y, TEST.hazard, matrix, horizons, n_boot=5)
    assert [h.horizon for h in results.horizons] == [2.0, 5.0]
    assert any("not evaluated at" in note for note in results.notes)
    assert results.integrated_brier is not None
    assert (results.integrated_brier.start, results.integrated_brier.stop) == (2, 5)


def test_competing_risks_are_evaluated_and_noted() -> None:
    rng = np.random.default_rng(2)
    # cause 1: 0.06 exp(x); cause 2: a constant 0.05; survival = 1 - cumulative incidence of 1
    shape = {"beta": {"x": 1.0}, "base_hazard": 0.06, "competing": Cause(0.05)}
    train, test = planted_survival(400, seed=rng, **shape), planted_survival(300, seed=rng, **shape)
    results = evaluate_predictions(
        train.y, test.y, test.hazard, test.survival, [3.0, 6.0], competing=True, n_boot=5
    )
    assert results.competing is True
    assert any(note.startswith("competing risks:") for note in results.notes)
    assert all(h.brier.estimate is not None for h in results.horizons)


def test_format_table_lists_the_metrics(results: Metrics) -> None:
    console = Console(width=120, record=True)
    console.print(format_table(results))
    text = console.export_text()
    for label in ("Harrell's C", "Uno's C", "Integrated Brier score", "Calibration slope", "ICI"):
        assert label in text
    assert "95% CI" in text
