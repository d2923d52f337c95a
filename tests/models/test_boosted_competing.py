"""Gradient-boosted competing risks (``xgb-cause-specific``) on planted cause-specific hazards.

The truths come from outside the family's code: the planted hazards (the true cumulative
incidence of each cause is ``h_k / (h1 + h2) (1 - exp(-(h1 + h2) t))``, in plain numpy),
xgboost's own ``pred_contribs``, and ``xgb-cox`` fitted on one cause with the others censored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from click.testing import CliRunner, Result

from prognosis.cli import main
from prognosis.dataset import load_dataset
from prognosis.exceptions import DataQualityWarning
from prognosis.explain import explain_model
from prognosis.explain.risk_points import explain_risk
from prognosis.models.base import SurvivalPipeline
from prognosis.models.boosted_competing import XGBCauseSpecific
from prognosis.models.boosting import XGBCox
from prognosis.models.registry import make_model
from prognosis.models.store import load_model
from prognosis.models.target import TargetError, make_competing_target, make_target
from tests.report.conftest import competing_built
from tests.support.planted import Cause, Planted, planted_survival

__all__ = ["competing_built"]  # the report tests' synthetic AF cohort, as a fixture here

FEATURES = {"binary": 0.4, "normal_1": "normal", "normal_2": "normal"}
BETA = {1: {"binary": 0.7, "normal_1": 0.5}, 2: {"binary": -0.5, "normal_2": 0.4}}
BASE_HAZARD = {1: 0.01, 2: 0.008}  # constant baseline hazards per day
HORIZON = 100.0
# additive planted log hazards: stumps recover them; 1,000 rounds of 0.05 are not needed
PARAMS = {"n_estimators": 300, "max_depth": 1, "n_jobs": 1}


def _planted(n: int, seed: int) -> Planted:
    return planted_survival(
        n,
        seed=seed,
        features=FEATURES,
        beta=BETA[1],
        base_hazard=BASE_HAZARD[1],
        competing=Cause(BASE_HAZARD[2], BETA[2]),
        censor_between=(0.0, 200.0),
    )


def _true_incidence(data: Planted, cause: int, t: float) -> np.ndarray:
    """The planted cumulative incidence of ``cause`` by ``t``, by hand."""
    total = data.hazard + data.other_hazard
    own = data.hazard if cause == 1 else data.other_hazard
    return own / total * (1.0 - np.exp(-total * t))


@pytest.fixture(scope="module")
def train() -> Planted:
    return _planted(4000, seed=0)


@pytest.fixture(scope="module")
def test() -> Planted:
    """Fresh draws from the same planted model: calibration is judged out of sample."""
    return _planted(4000, seed=1)


@pytest.fixture(scope="module")
def model(train: Planted) -> XGBCauseSpecific:
    X = train.X.to_numpy()
    return XGBCauseSpecific(**PARAMS).fit(X, make_competing_target(train.event, train.time))


# -- calibration against the planted truth -----------------------------------------------------
@pytest.mark.parametrize("cause", [1, 2])
def test_incidence_is_calibrated_against_the_planted_incidence(model, test, cause) -> None:
    predicted = model.predict_cumulative_incidence(test.X.to_numpy(), cause, [HORIZON])[:, 0]
    truth = _true_incidence(test, cause, HORIZON)

    slope, intercept = np.polyfit(predicted, truth, 1)  # regress true on predicted

    assert 0.9 <= slope <= 1.1, (cause, slope)
    assert abs(intercept) < 0.05
    assert abs(predicted.mean() - truth.mean()) < 0.01
    assert np.corrcoef(predicted, truth)[0, 1] > 0.95


def test_risk_is_the_outcomes_incidence(model, test) -> None:
    X = test.X.to_numpy()[:300]
    np.testing.assert_array_equal(
        model.predict_risk(X, HORIZON),
        model.predict_cumulative_incidence(X, 1, [HORIZON])[:, 0],
    )


def test_incidences_and_event_free_survival_sum_to_one(model, test) -> None:
    X = test.X.to_numpy()[:300]
    grid = np.sort(np.concatenate([[0.5], model.event_times_[::11], [model.max_time_]]))

    total = (
        model.predict_cumulative_incidence(X, 1, grid)
        + model.predict_cumulative_incidence(X, 2, grid)
        + model.predict_survival(X, grid)
    )

    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    incidence = model.predict_cumulative_incidence(X, 2, grid)
    assert np.all(np.diff(incidence, axis=1) >= 0) and np.all((incidence >= 0) & (incidence <= 1))


# -- one booster per cause, the others censored ----------------------------------------------------
@pytest.mark.parametrize("cause", [1, 2])
def test_each_cause_is_xgb_cox_with_the_other_causes_censored(model, train, cause) -> None:
    X = train.X.to_numpy()
    alone = XGBCox(**PARAMS).fit(X, make_target(train.event == cause, train.time))
    position = model.causes_.index(cause)

    margin = model.boosters_[position].inplace_predict(X, predict_type="margin")
    np.testing.assert_allclose(margin, alone.predict(X), rtol=0, atol=1e-6)
    # its Breslow baseline, read at xgb-cox's own step times
    cumulative = np.cumsum(model.hazard_jumps_[position])
    at = np.searchsorted(model.event_times_, alone.baseline_times_)
    np.testing.assert_allclose(cumulative[at], alone.baseline_cumulative_hazard_, rtol=1e-9)


def test_without_competing_events_it_equals_xgb_cox(train) -> None:
    X, y = train.X.to_numpy(), make_target(train.event == 1, train.time)
    with pytest.warns(DataQualityWarning, match="no competing events .* equals xgb-cox"):
        single = XGBCauseSpecific(**PARAMS).fit(X, y)
    cox = XGBCox(**PARAMS).fit(X, y)

    assert single.causes_ == [1]
    np.testing.assert_allclose(single.predict_risk(X, HORIZON), cox.predict_risk(X, HORIZON))
    np.testing.assert_allclose(
        single.predict_survival(X, [50.0, 150.0]), cox.predict_survival(X, [50.0, 150.0])
    )


def test_early_stopping_picks_each_causes_rounds(train) -> None:
    X, y = train.X.to_numpy(), make_competing_target(train.event, train.time)
    model = XGBCauseSpecific(
        n_estimators=400, learning_rate=0.3, max_depth=3, early_stopping_rounds=10, n_jobs=1
    ).fit(X, y)

    rounds = [booster.num_boosted_rounds() for booster in model.boosters_]
    assert rounds == [best + 1 for best in model.best_iterations_]
    assert all(r < 400 for r in rounds)
    assert model.best_iteration_ == model.best_iterations_[0]


# -- exact TreeSHAP per cause ------------------------------------------------------------------
@pytest.mark.parametrize("cause", [1, 2])
def test_tree_shap_of_each_cause_adds_up_to_its_margin(model, test, cause) -> None:
    X = test.X.to_numpy()[:500]
    booster = model.boosters_[model.causes_.index(cause)]

    values, base = model.cause_shap_values(X, cause)

    margin = booster.inplace_predict(X, predict_type="margin")
    np.testing.assert_allclose(base + values.sum(axis=1), margin, atol=1e-5)
    contribs = booster.predict(xgb.DMatrix(X), pred_contribs=True)  # xgboost's own TreeSHAP
    np.testing.assert_allclose(values, contribs[:, :-1], atol=1e-5)
    np.testing.assert_allclose(base, contribs[0, -1], atol=1e-6)


def test_shap_values_explain_the_outcomes_log_hazard(model, test) -> None:
    X = test.X.to_numpy()[:200]
    values, base = model.shap_values(X)
    np.testing.assert_allclose(base + values.sum(axis=1), model.predict(X), atol=1e-5)
    assert model.shap_output.unit == "log hazard"
    # planted: normal_1 moves the outcome's log hazard by 0.5 per SD, normal_2 only cause 2's
    # (by 0.4 per SD): the spread of each column's SHAP values recovers it
    spread = values.std(axis=0)
    assert 0.4 < spread[1] < 0.65 and spread[2] < 0.2 * spread[1]
    other = model.cause_shap_values(X, 2)[0].std(axis=0)
    assert 0.3 < other[2] < 0.55 and other[1] < 0.2 * other[2]


def test_unseen_cause_raises(model, test) -> None:
    X = test.X.to_numpy()[:5]
    with pytest.raises(ValueError, match=r"cause 3 was not seen in fit; causes: \[1, 2\]"):
        model.predict_cumulative_incidence(X, 3, [10.0])
    with pytest.raises(ValueError, match=r"cause 3 was not seen in fit"):
        model.cause_shap_values(X, 3)


def test_data_without_cause_one_raises(train) -> None:
    event = np.where(train.event == 1, 0, train.event)
    with pytest.raises(TargetError, match=r"no event of cause 1.*codes seen: \[2\]"):
        XGBCauseSpecific(n_estimators=5).fit(
            train.X.to_numpy(), make_competing_target(event, train.time)
        )


# -- the drivers in risk points --------------------------------------------------------------------
def _incidence_by_hand(model: XGBCauseSpecific, log_hazard: np.ndarray, horizon: float) -> float:
    """CIF_1(horizon) of one row with the given log hazard per cause, in a plain loop:
    at each event time the fall in event-free survival is shared by the hazard jumps."""
    survival, incidence = 1.0, 0.0
    for g, time in enumerate(model.event_times_):
        if time > horizon:
            break
        jumps = np.exp(log_hazard) * model.hazard_jumps_[:, g]
        after = survival * np.exp(-jumps.sum())
        if jumps.sum() > 0:
            incidence += jumps[0] / jumps.sum() * (survival - after)
        survival = after
    return incidence


def test_risk_without_moves_only_the_outcomes_log_hazard(model, test) -> None:
    row = test.X.to_numpy()[:1]
    margins = np.array([b.inplace_predict(row, predict_type="margin")[0] for b in model.boosters_])
    shap = np.array([0.0, 0.4, -0.3])

    found = model.risk_without(
        shap,
        HORIZON,
        risk=float(model.predict_risk(row, HORIZON)[0]),
        inputs=lambda: row,
        fold=lambda v: v,
    )

    expected = [_incidence_by_hand(model, margins - [s, 0.0], HORIZON) for s in shap]
    np.testing.assert_allclose(found, expected, rtol=1e-10)
    assert found[0] == pytest.approx(model.predict_risk(row, HORIZON)[0], rel=1e-12)


def test_risk_contributions_add_up_to_the_risk(train) -> None:
    frame = train.X.iloc[:600]
    y = make_competing_target(train.event[:600], train.time[:600])
    pipeline = make_model("xgb-cause-specific", n_estimators=60, n_jobs=1).fit(frame, y)
    assert isinstance(pipeline, SurvivalPipeline)

    rows = frame.iloc[:40]
    points = explain_risk(pipeline, rows, explain_model(pipeline, rows), HORIZON)

    risk = pipeline.predict_risk(rows, HORIZON)
    np.testing.assert_allclose(points.reference + points.values.sum(axis=1), risk, atol=1e-9)
    assert np.all((points.reference > 0) & (points.reference < 1))


# -- saved as data -------------------------------------------------------------------------------
def test_state_round_trip_predicts_and_explains_the_same(model, test) -> None:
    state, arrays = model.to_state()
    assert set(arrays) == {"event_times", "hazard_jumps", "booster_1", "booster_2"}
    assert all(array.dtype != object for array in arrays.values())
    loaded = XGBCauseSpecific.from_state(state, arrays)
    X = test.X.to_numpy()[:300]
    for cause in (1, 2):
        np.testing.assert_array_equal(
            loaded.predict_cumulative_incidence(X, cause, [30.0, HORIZON]),
            model.predict_cumulative_incidence(X, cause, [30.0, HORIZON]),
        )
        np.testing.assert_array_equal(
            loaded.cause_shap_values(X, cause)[0], model.cause_shap_values(X, cause)[0]
        )
    assert loaded.best_iterations_ == model.best_iterations_
    # each booster in xgboost's own JSON model format
    assert bytes(arrays["booster_2"][:1]) == b"{"


# -- the commands, end to end ------------------------------------------------------------------
def _run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_fit_predict_and_reports_through_the_cli(competing_built, tmp_path) -> None:
    """synth_af_stroke (stroke, death competing) on the report tests' 3,000-person CDM."""
    cohort, model_dir = competing_built.dataset, tmp_path / "model"
    fit = ("fit", cohort, "--model", "xgb-cause-specific", "--horizon", "365", "--horizon",
           "1095", "--split", "none", "--n-boot", "0", "--quiet", "--out", model_dir)  # fmt: skip
    assert _run(*fit).exit_code == 0
    again = _run(*fit)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert "Traceback" not in again.output

    out = tmp_path / "predictions.parquet"
    assert _run("predict", model_dir, cohort, "--out", out).exit_code == 0
    predicted = pd.read_parquet(out)
    saved = load_model(model_dir)
    X = load_dataset(cohort).X
    for column, cause in (("risk_365", 1), ("incidence_death_365", 2)):
        np.testing.assert_allclose(
            predicted[column], saved.pipeline.predict_cumulative_incidence(X, cause, [365.0])[:, 0]
        )
    assert saved.info.model == "xgb-cause-specific" and saved.info.competing

    report = _run("report", "model", model_dir, cohort, "--out", tmp_path / "report", "--quiet")
    assert report.exit_code == 0, report.output
    person = int(load_dataset(cohort).frame["person_id"].iloc[0])
    pages = _run("report", "patients", model_dir, cohort, "--out", tmp_path / "patients",
                 "--ids", person, "--mapping-dir", tmp_path / "private", "--quiet")  # fmt: skip
    assert pages.exit_code == 0, pages.output
    page = next(p for p in (tmp_path / "patients").glob("P-*.html"))
    text = page.read_text(encoding="utf-8")
    assert "Each event this patient could have first" in text
    assert "incidence_death_" in text and "xgb-cause-specific" in text
