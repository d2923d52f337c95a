"""evaluate_predictions: everything in one Metrics value, notes on what was not as asked."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console
from sksurv.nonparametric import cumulative_incidence_competing_risks, kaplan_meier_estimator

from prognosis.artifacts import Metrics, from_json, to_json
from prognosis.evaluation.metrics import brier_scores, integrated_brier
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


# -- the marginal incidence (no model) reference ----------------------------------------------
def test_the_reference_gives_everyone_the_training_rows_kaplan_meier_risk(
    results: Metrics,
) -> None:
    grid, survival = kaplan_meier_estimator(TRAIN.y["event"], TRAIN.y["time"])
    for entry in results.horizons:
        h = entry.horizon
        km_risk = 1.0 - survival[np.searchsorted(grid, h, side="right") - 1]
        reference = entry.null_model
        assert reference.risk == pytest.approx(km_risk, abs=1e-12)
        constant = np.full((len(TEST.y), 1), 1.0 - km_risk)
        expected = brier_scores(TEST.y, TEST.y, constant, [h])[0]
        assert reference.brier.estimate == pytest.approx(expected, abs=1e-12)
        ipa = 1.0 - entry.brier.estimate / expected
        assert reference.ipa.estimate == pytest.approx(ipa, abs=1e-12)
        assert reference.ipa.estimate > 0.0  # the planted model beats everyone-the-same
        assert reference.ipa.lower < reference.ipa.estimate < reference.ipa.upper
        assert reference.brier.lower < reference.brier.upper


def test_the_reference_integrated_brier_is_on_the_models_grid(results: Metrics) -> None:
    ibs = results.integrated_brier
    assert ibs.null_model is not None and ibs.null_model.estimate > ibs.estimate
    # predictions given at four horizons: the integrated scores are over exactly those times
    grid = np.array([2.0, 3.0, 4.0, 5.0])
    given = evaluate_predictions(TRAIN.y, TEST.y, TEST.hazard, TEST.survival(grid), grid, n_boot=0)
    km_grid, survival = kaplan_meier_estimator(TRAIN.y["event"], TRAIN.y["time"])
    constant = np.tile(survival[np.searchsorted(km_grid, grid, side="right") - 1], (300, 1))
    expected = integrated_brier(TEST.y, TEST.y, constant, grid)
    assert given.integrated_brier.null_model.estimate == pytest.approx(expected, abs=1e-12)


def test_a_reference_that_is_the_model_has_ipa_zero() -> None:
    results = evaluate_predictions(
        TRAIN.y, TEST.y, TEST.hazard, TEST.survival, [2.0, 5.0], n_boot=3,
        null_survival=TEST.survival,
    )  # fmt: skip
    for entry in results.horizons:
        assert entry.null_model.brier == entry.brier
        assert entry.null_model.ipa.estimate == pytest.approx(0.0, abs=1e-15)
    assert results.integrated_brier.null_model.estimate == results.integrated_brier.estimate


def test_under_competing_risks_the_reference_is_aalen_johansen() -> None:
    rng = np.random.default_rng(5)
    shape = {"beta": {"x": 1.0}, "base_hazard": 0.06, "competing": Cause(0.05)}
    train, test = planted_survival(400, seed=rng, **shape), planted_survival(300, seed=rng, **shape)
    results = evaluate_predictions(
        train.y, test.y, test.hazard, test.survival, [3.0, 6.0], competing=True, n_boot=0
    )
    grid, incidence = cumulative_incidence_competing_risks(train.event, train.time)
    for entry in results.horizons:
        expected = incidence[1][np.searchsorted(grid, entry.horizon, side="right") - 1]
        assert entry.null_model.risk == pytest.approx(expected, abs=1e-12)
        # 1 - Kaplan-Meier with competing events censored overstates it
        km_grid, km = kaplan_meier_estimator(train.event == 1, train.time)
        assert entry.null_model.risk < 1.0 - km[np.searchsorted(km_grid, entry.horizon) - 1]


def test_format_table_shows_the_reference_under_each_brier_score(results: Metrics) -> None:
    console = Console(width=140, record=True)
    console.print(format_table(results))
    text = console.export_text()
    assert text.count("marginal incidence (no model)") == len(results.horizons) + 1
    assert text.count("Scaled Brier score (IPA)") == len(results.horizons)


def test_metrics_written_before_the_reference_still_read_and_format(results: Metrics) -> None:
    old = to_json(results)
    old["integrated_brier"].pop("null_model")
    for entry in old["horizons"]:
        entry.pop("null_model")
    read = from_json(Metrics, json.loads(json.dumps(old)))
    assert read.horizons[0].null_model is None and read.integrated_brier.null_model is None
    console = Console(width=140, record=True)
    console.print(format_table(read))
    assert "marginal incidence" not in console.export_text()
