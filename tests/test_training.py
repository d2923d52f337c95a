"""Fitting, validating, evaluating and applying models on cohort datasets (prognosis.training).

Most tests use small dataset folders written here with planted effects
(``tests/support/planted.py``); the truth they check comes from refitting the same model
independently (``make_model``) on the rows a design says it may see (folds from scikit-learn's
``StratifiedKFold`` as documented, never from ``split_rows``), from scikit-survival's
concordance, or from counting rows with pandas. Two tests
build the real gi_bleed_nsaid cohort on Eunomia.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold
from sksurv.metrics import concordance_index_censored, cumulative_dynamic_auc
from sksurv.nonparametric import cumulative_incidence_competing_risks

from prognosis.artifacts import FeatureRange, SplitInfo
from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.dataset import CohortDataset, DatasetError, load_dataset
from prognosis.evaluation.metrics import REFERENCE, brier_scores
from prognosis.evaluation.validation import SplitError, parse_split
from prognosis.exceptions import DataQualityWarning, PrognosisError
from prognosis.models.registry import UnknownModelError, make_model
from prognosis.models.target import TargetError, make_competing_target
from prognosis.training import (
    SchemaError,
    check_schema,
    compare_models,
    evaluate_model,
    fit_model,
    predict_frame,
)
from tests.support.cdm import write_cdm_files
from tests.support.planted import Cause, planted_survival

GI_BLEED = Path(__file__).resolve().parents[1] / "cohorts" / "gi_bleed_nsaid.yaml"
FEATURES = ["severity", "flag", "noise"]
BETA = {"severity": 0.9, "flag": 0.8, "noise": 0.0}  # planted log hazard ratios
FIRST_INDEX = dt.date(2015, 1, 1)
CUTOFF = dt.date(2016, 7, 1)
FAST_XGB = {"n_estimators": 15, "n_jobs": 1}


def planted_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Rows of a cohort dataset: exponential event times with planted log hazard ratios
    (baseline hazard 1/900 per day), uniform censoring between days 100 and 1500, whole days."""
    rng = np.random.default_rng(seed)
    data = planted_survival(
        n,
        seed=rng,
        features={"severity": "normal", "flag": 0.4, "noise": "normal"},
        beta=BETA,
        base_hazard=1 / 900,
        censor_between=(100.0, 1500.0),
        whole_days=True,
    )
    index_date = [FIRST_INDEX + dt.timedelta(days=int(d)) for d in rng.integers(0, 3 * 365, n)]
    event = data.event
    return pd.DataFrame(
        {
            "person_id": np.arange(1, n + 1),
            "index_date": index_date,
            "time": data.time.astype(int),
            "event": event,
            "censor_reason": np.where(event == 1, None, "end_of_observation"),
            **{name: data.X[name] for name in FEATURES},
        }
    )


def write_dataset(folder: Path, frame: pd.DataFrame, *, source: str = "planted") -> Path:
    """A dataset folder as ``prognosis cohort build`` writes one (parquet, features, manifest)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "dataset.parquet", index=False)
    (folder / "features.json").write_text("[]", encoding="utf-8")
    manifest = {"cohort": "planted", "source": source}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> CohortDataset:
    return load_dataset(write_dataset(tmp_path_factory.mktemp("planted"), planted_frame()))


@pytest.fixture(scope="module")
def planted_fit(planted: CohortDataset):
    """A Cox model on every planted row, horizons 365 and 730, not validated."""
    return fit_model(planted, "cox", [730, 365], parse_split("none"), seed=0)


def _boolean_target(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame["event"].to_numpy() == 1, frame["time"].to_numpy(dtype=float)


# -- cross-validation -------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "params"), [("cox", {}), ("xgb-cox", FAST_XGB)])
def test_cv_concordance_is_that_of_pooled_out_of_fold_predictions(
    planted: CohortDataset, model: str, params: dict
) -> None:
    saved = fit_model(planted, model, [365], parse_split("cv:3"), seed=0, params=params, n_boot=2)
    X, y = planted.X, planted.y
    event, time = _boolean_target(planted.frame)
    out_of_fold, held_out = np.zeros(len(X)), np.zeros(len(X), dtype=int)
    # the documented folds (docs/validation.md), built here with scikit-learn itself:
    # StratifiedKFold over persons (one row each here) on whether they have an event
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    for train, test in folds.split(np.zeros(len(X)), planted.frame["event"] > 0):
        fold_model = make_model(model, seed=0, **params).fit(X.iloc[train], y[train])
        out_of_fold[test] = fold_model.predict(X.iloc[test])
        held_out[test] += 1
    assert (held_out == 1).all()  # every row is predicted once, by a model that never saw it
    expected = concordance_index_censored(event, time, out_of_fold)[0]
    assert saved.metrics.results.harrell_c.estimate == pytest.approx(expected, abs=1e-12)
    assert saved.metrics.results.n_test == len(X)

    in_sample = make_model(model, seed=0, **params).fit(X, y).predict(X)
    assert expected != pytest.approx(concordance_index_censored(event, time, in_sample)[0])


def test_cv_saves_the_model_refit_on_every_row(planted: CohortDataset) -> None:
    saved = fit_model(planted, "cox", [365], parse_split("cv:3"), seed=0, n_boot=2)
    assert saved.info.training_rows == len(planted.frame)
    assert saved.info.training_events == int((planted.frame["event"] == 1).sum())
    assert len(saved.training_target) == len(planted.frame)
    everything = make_model("cox", seed=0).fit(planted.X, planted.y)
    np.testing.assert_allclose(
        saved.pipeline.predict(planted.X), everything.predict(planted.X), rtol=1e-10
    )


def test_cv_with_fewer_events_than_folds_raises(tmp_path: Path) -> None:
    frame = planted_frame(60)
    frame["event"] = 0
    frame.loc[:1, "event"] = 1  # two events for five folds
    dataset = load_dataset(write_dataset(tmp_path, frame))
    with pytest.raises(SplitError, match="5-fold cross-validation needs at least 5 persons with"):
        fit_model(dataset, "cox", [365], parse_split("cv"), n_boot=2)


# -- temporal split ---------------------------------------------------------------------------
def test_temporal_split_trains_before_the_cutoff_and_tests_on_or_after_it(
    tmp_path: Path,
) -> None:
    frame = planted_frame()
    frame.loc[0, "index_date"] = CUTOFF  # a row on the cut-off day belongs to the test side
    dataset = load_dataset(write_dataset(tmp_path, frame))
    before = np.array([day < CUTOFF for day in frame["index_date"]])
    assert before.sum() > 50 and (~before).sum() > 50

    saved = fit_model(dataset, "cox", [365], parse_split(f"temporal:{CUTOFF}"), seed=0, n_boot=2)

    assert saved.info.training_rows == before.sum()
    assert saved.info.training_events == frame.loc[before, "event"].sum()
    assert saved.info.split == SplitInfo(kind="temporal", folds=5, cutoff="2016-07-01")
    assert saved.metrics.results.n_train == before.sum()
    assert saved.metrics.results.n_test == (~before).sum()
    assert saved.metrics.results.n_outcome_events == frame.loc[~before, "event"].sum()
    early = make_model("cox", seed=0).fit(dataset.X[before], dataset.y[before])
    np.testing.assert_allclose(
        saved.pipeline.predict(dataset.X), early.predict(dataset.X), rtol=1e-10
    )
    later = frame[~before]
    expected = concordance_index_censored(
        *_boolean_target(later), early.predict(dataset.X[~before])
    )[0]
    assert saved.metrics.results.harrell_c.estimate == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("cutoff", "empty_side"),
    [("2014-12-31", "before"), ("2018-01-01", "on or after")],
)
def test_temporal_split_with_an_empty_side_raises(
    planted: CohortDataset, cutoff: str, empty_side: str
) -> None:
    with pytest.raises(
        SplitError, match=f"temporal split at {cutoff}: no persons are first indexed {empty_side}"
    ):
        fit_model(planted, "cox", [365], parse_split(f"temporal:{cutoff}"), n_boot=2)


def test_temporal_split_refuses_a_horizon_past_the_training_rows_follow_up(
    tmp_path: Path,
) -> None:
    """The saved model of a temporal split is fitted on the rows before the cut-off: it
    cannot predict past their follow-up, even where later rows are followed longer."""
    frame = planted_frame()
    before = np.array([day < CUTOFF for day in frame["index_date"]])
    frame.loc[before, "time"] = np.minimum(frame.loc[before, "time"], 400)
    dataset = load_dataset(write_dataset(tmp_path, frame))
    assert frame["time"].max() > 600
    with pytest.raises(
        PrognosisError,
        match=r"horizon\(s\) \[600\] lie outside the follow-up of the training rows before "
        r"2016-07-01 \(1 to 400 days\)",
    ):
        fit_model(dataset, "cox", [365, 600], parse_split(f"temporal:{CUTOFF}"), n_boot=2)


# -- no validation ----------------------------------------------------------------------------
def test_fit_stores_each_features_training_range(planted_fit, planted: CohortDataset) -> None:
    frame = planted.frame
    assert planted_fit.info.feature_ranges == {
        name: FeatureRange(min=float(frame[name].min()), max=float(frame[name].max()))
        for name in ("severity", "flag", "noise")
    }


def test_split_none_measures_nothing(planted_fit, planted: CohortDataset) -> None:
    assert planted_fit.metrics.results is None and planted_fit.metrics.evaluated is None
    assert planted_fit.metrics.split.startswith("none")
    assert planted_fit.info.training_rows == len(planted.frame)


# -- horizons and model names -----------------------------------------------------------------
@pytest.mark.parametrize("horizon", [0.0, -30.0, 5000.0])
def test_horizon_outside_the_follow_up_raises(planted: CohortDataset, horizon: float) -> None:
    longest = int(planted.frame["time"].max())
    with pytest.raises(
        PrognosisError, match=rf"horizon\(s\) \[{horizon}\] lie outside .* \(1 to {longest} days\)"
    ):
        fit_model(planted, "cox", [365, horizon], parse_split("none"))


def test_no_horizon_raises(planted: CohortDataset) -> None:
    with pytest.raises(PrognosisError, match="give at least one --horizon"):
        fit_model(planted, "cox", [], parse_split("none"))


def test_the_longest_follow_up_is_a_valid_horizon(planted: CohortDataset) -> None:
    longest = float(planted.frame["time"].max())
    saved = fit_model(planted, "cox", [longest], parse_split("none"))
    assert saved.info.horizons == (longest,)


def test_unknown_model_raises_and_lists_the_valid_names(planted: CohortDataset) -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'deepsurv'; valid names are") as e:
        fit_model(planted, "deepsurv", [365], parse_split("none"))
    for name in ("cox", "coxnet", "rsf", "xgb-cox", "xgb-aft", "cause-specific-cox"):
        assert name in str(e.value)


# -- predictions and the feature schema -------------------------------------------------------
def test_predict_frame_gives_a_risk_per_horizon_that_grows_with_the_horizon(
    planted_fit, planted: CohortDataset
) -> None:
    predictions = predict_frame(planted_fit, planted.frame, origin="planted")
    assert list(predictions.columns) == ["person_id", "index_date", "risk_365", "risk_730"]
    assert predictions["person_id"].tolist() == planted.frame["person_id"].tolist()
    for column in ("risk_365", "risk_730"):
        assert predictions[column].between(0.0, 1.0).all()
    assert (predictions["risk_730"] >= predictions["risk_365"]).all()
    assert (predictions["risk_730"] > predictions["risk_365"]).mean() > 0.99
    planted_lp = sum(BETA[name] * planted.frame[name] for name in FEATURES)
    assert predictions["risk_365"].corr(planted_lp, method="spearman") > 0.95


def test_predict_frame_of_xgboost_grows_with_the_horizon(planted: CohortDataset) -> None:
    saved = fit_model(planted, "xgb-cox", [180, 730], parse_split("none"), params=FAST_XGB)
    predictions = predict_frame(saved, planted.frame, origin="planted")
    assert predictions[["risk_180", "risk_730"]].stack().between(0.0, 1.0).all()
    assert (predictions["risk_730"] >= predictions["risk_180"]).all()


def test_predict_frame_matches_columns_by_name_not_position(
    planted_fit, planted: CohortDataset
) -> None:
    shuffled = planted.frame[["noise", "time", "flag", "person_id", "severity"]]
    np.testing.assert_array_equal(
        predict_frame(planted_fit, shuffled, origin="shuffled")["risk_365"],
        predict_frame(planted_fit, planted.frame, origin="planted")["risk_365"],
    )


def test_check_schema_names_missing_and_extra_columns(planted_fit, planted) -> None:
    frame = planted.frame.drop(columns=["flag"]).assign(bmi=25.0, smoker=0)
    with pytest.raises(
        SchemaError,
        match=r"^other\.parquet does not match the model's feature schema \(missing 1: flag; "
        r"unexpected 2: bmi, smoker\)",
    ):
        check_schema(planted_fit, frame, origin="other.parquet")
    with pytest.raises(SchemaError, match=r"\(missing 2: severity, noise\)"):
        predict_frame(planted_fit, planted.frame.drop(columns=["severity", "noise"]), origin="x")


# -- bad datasets -----------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["time", "event"])
def test_dataset_without_time_or_event_raises(tmp_path: Path, column: str) -> None:
    write_dataset(tmp_path, planted_frame(50).drop(columns=[column]))
    with pytest.raises(DatasetError, match=f"dataset.parquet: no column {column}; a survival"):
        load_dataset(tmp_path)


def test_folder_without_a_dataset_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no dataset\.parquet here"):
        load_dataset(tmp_path)


def test_non_positive_times_raise(tmp_path: Path) -> None:
    frame = planted_frame(50)
    frame.loc[[3, 7], "time"] = [0, -2]
    dataset = load_dataset(write_dataset(tmp_path, frame))
    with pytest.raises(TargetError, match=r"must be > 0; 2 rows have time <= 0 \(minimum -2\)"):
        fit_model(dataset, "cox", [10], parse_split("none"))


def test_all_censored_dataset_raises(tmp_path: Path) -> None:
    dataset = load_dataset(write_dataset(tmp_path, planted_frame(50).assign(event=0)))
    with pytest.raises(TargetError, match=r"no events \(all rows censored\)"):
        fit_model(dataset, "cox", [365], parse_split("cv:3"))


def test_competing_events_need_a_competing_risks_model(tmp_path: Path) -> None:
    frame = planted_frame(80)
    frame.loc[frame.index[::5], "event"] = 2
    dataset = load_dataset(write_dataset(tmp_path, frame))
    with pytest.raises(TargetError, match=r"competing events .* use a competing-risks model"):
        fit_model(dataset, "cox", [365], parse_split("none"))


# -- the real cohort: external validation ----------------------------------------------------
def _build(source: str, out: Path) -> CohortDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # Eunomia's known data defects
        build_cohort(load_definition(GI_BLEED), parse_source(source), out)
    return load_dataset(out)


def test_evaluate_model_on_a_dataset_built_from_another_source(
    tmp_path: Path, eunomia_path: Path
) -> None:
    development = _build("eunomia", tmp_path / "duckdb")
    # the same CDM exported to Parquet files: another source (CSV parses 10x slower)
    files = write_cdm_files(tmp_path / "cdm_files", eunomia_path, fmt="parquet")
    external = _build(str(files), tmp_path / "files")
    saved = fit_model(development, "cox", [365], parse_split("none"), seed=0)

    metrics = evaluate_model(saved, external, n_boot=3, seed=0)

    assert metrics.evaluated.source == str(files)
    assert metrics.evaluated.dataset == str(tmp_path / "files")
    assert metrics.evaluated.model == "cox"
    assert metrics.results.n_test == len(external.frame)
    assert metrics.results.n_outcome_events == int((external.frame["event"] == 1).sum())
    assert metrics.results.n_train == len(development.frame)
    risk = saved.pipeline.predict(external.X)
    expected = concordance_index_censored(*_boolean_target(external.frame), risk)[0]
    assert metrics.results.harrell_c.estimate == pytest.approx(expected, abs=1e-12)
    assert [entry.horizon for entry in metrics.results.horizons] == [365]


def test_categorical_columns_reach_the_preprocessing_and_are_one_hot_encoded(
    tmp_path: Path,
) -> None:
    """A dataset may hold a string column: the models' preprocessing encodes it (only numbers
    are cast to float), for fitting, predicting and checking a dataset against the schema."""
    frame = planted_frame()
    frame["site"] = np.random.default_rng(3).choice(["north", "south", "west"], len(frame))
    dataset = load_dataset(write_dataset(tmp_path / "with_site", frame))
    assert dataset.X["site"].dtype == object and dataset.X["noise"].dtype == np.float64

    saved = fit_model(dataset, "cox", [365], parse_split("none"), seed=0)
    assert {"site_south", "site_west"} <= set(saved.pipeline[:-1].get_feature_names_out())
    risk = predict_frame(saved, dataset.frame, origin="test")
    assert risk.shape[0] == len(frame) and np.isfinite(risk.filter(like="risk").to_numpy()).all()


def test_censor_competing_fits_a_single_event_model_to_a_competing_risks_dataset(
    tmp_path: Path,
) -> None:
    frame = planted_frame()
    died = (frame["event"] == 0).to_numpy() & (np.arange(len(frame)) % 3 == 0)
    frame.loc[died, "event"] = 2
    frame.loc[died, "censor_reason"] = None
    dataset = load_dataset(write_dataset(tmp_path / "competing", frame))
    with pytest.raises(TargetError, match="--censor-competing"):
        fit_model(dataset, "xgb-cox", [365], parse_split("none"), seed=0)

    saved = fit_model(
        dataset, "xgb-cox", [365], parse_split("cv:3"), seed=0, n_boot=0, censor_competing=True
    )
    assert saved.info.competing is False and saved.info.competing_censored is True
    assert saved.info.training_events == int((frame["event"] == 1).sum())
    assert 0.6 < saved.metrics.results.harrell_c.estimate < 1


def _competing_frame(n: int, seed: int) -> pd.DataFrame:
    """Two causes with planted exponential hazards: the outcome (1) rises with x, death (2) is
    frequent; administrative censoring at 1500 days."""
    data = planted_survival(
        n,
        seed=seed,
        beta={"x": 0.7},
        base_hazard=1 / 1500,
        competing=Cause(1 / 800),
        censor_between=None,
        end=1500.0,
        whole_days=True,
    )
    return data.frame(
        person_id=np.arange(n),
        index_date=pd.Timestamp("2010-01-01"),
        censor_reason=np.where(data.event == 0, "end_of_observation", None),
    )


def test_competing_risks_are_never_silently_folded_into_a_risk(tmp_path: Path) -> None:
    dataset = load_dataset(write_dataset(tmp_path / "competing", _competing_frame(3000, 4)))
    horizon = 730.0
    # a cumulative-incidence model: its mean risk is the Aalen-Johansen marginal incidence
    incidence = fit_model(dataset, "cause-specific-cox", [horizon], parse_split("cv"), n_boot=0)
    marginal = incidence.metrics.results.horizons[0].marginal
    assert marginal.mean_predicted == pytest.approx(marginal.observed, abs=0.015)
    # a model fitted with deaths censored: it is evaluated against the same incidence, where
    # its risk ignoring competing events overstates it, and every output says what it is
    ignoring = fit_model(
        dataset, "cox", [horizon], parse_split("cv"), n_boot=0, censor_competing=True
    )
    entry = ignoring.metrics.results.horizons[0].marginal
    assert entry.observed == pytest.approx(marginal.observed)
    assert entry.mean_predicted > entry.observed + 0.05
    assert any("risk ignoring competing events" in note for note in ignoring.metrics.results.notes)
    columns = predict_frame(ignoring, dataset.frame, origin="test").columns
    assert list(columns) == ["person_id", "index_date", "risk_ignoring_competing_730"]


def test_a_competing_risk_model_predicts_the_incidence_of_each_cause(tmp_path: Path) -> None:
    frame = _competing_frame(3000, 5)
    dataset = load_dataset(write_dataset(tmp_path / "competing", frame))
    horizon = 730.0
    saved = fit_model(dataset, "cause-specific-cox", [horizon], parse_split("none"), n_boot=0)
    predictions = predict_frame(saved, dataset.frame, origin="test")
    assert list(predictions.columns) == [
        "person_id",
        "index_date",
        "risk_730",
        "incidence_competing_730",  # no definition recorded: the events' generic name
    ]
    # the planted truth: outcome hazard exp(0.7 x) / 1500, death 1 / 800, both constant in time
    h1, h2 = np.exp(0.7 * frame["x"].to_numpy()) / 1500, np.full(len(frame), 1 / 800)
    total = 1 - np.exp(-(h1 + h2) * horizon)
    truth = {"risk_730": h1 / (h1 + h2) * total, "incidence_competing_730": h2 / (h1 + h2) * total}
    for column, expected in truth.items():
        error = np.abs(predictions[column].to_numpy() - expected)
        # 1,650 deaths: the sample's own incidence is within about 0.015 of the planted one
        assert error.mean() < 0.025 and error.max() < 0.06, (column, error.mean(), error.max())
    # the mean over persons is the sample's marginal incidence (scikit-survival's
    # Aalen-Johansen estimator)
    times, incidence = cumulative_incidence_competing_risks(
        frame["event"].to_numpy(), frame["time"].to_numpy(dtype=float)
    )
    at = np.searchsorted(times, horizon, side="right") - 1
    for cause, column in ((1, "risk_730"), (2, "incidence_competing_730")):
        assert predictions[column].mean() == pytest.approx(incidence[cause, at], abs=0.01)
    # and each person's two incidences and survival from both causes add up to at most 1
    assert (predictions["risk_730"] + predictions["incidence_competing_730"] <= 1).all()


def test_every_competing_event_gets_its_incidence_column(tmp_path: Path) -> None:
    frame = _competing_frame(3000, 5)
    # split the planted competing hazard 1/800 into two causes of 1/1600 each, at random
    competing = np.flatnonzero(frame["event"].to_numpy() == 2)
    third = np.random.default_rng(1).random(competing.size) < 0.5
    frame.loc[frame.index[competing[third]], "event"] = 3
    dataset = load_dataset(write_dataset(tmp_path / "two", frame))
    saved = fit_model(dataset, "cause-specific-cox", [730.0], parse_split("none"), n_boot=0)
    predictions = predict_frame(saved, dataset.frame, origin="test")
    assert list(predictions.columns) == [
        "person_id",
        "index_date",
        "risk_730",
        "incidence_competing_1_730",  # no definition recorded: numbered in code order
        "incidence_competing_2_730",
    ]
    h1 = np.exp(0.7 * frame["x"].to_numpy()) / 1500
    total = 1 - np.exp(-(h1 + 1 / 800) * 730.0)
    for column in ("incidence_competing_1_730", "incidence_competing_2_730"):
        expected = (1 / 1600) / (h1 + 1 / 800) * total
        error = np.abs(predictions[column].to_numpy() - expected)
        assert error.mean() < 0.025, (column, error.mean())
    X = check_schema(saved, dataset.frame, origin="test")
    for cause, column in ((2, "incidence_competing_1_730"), (3, "incidence_competing_2_730")):
        exact = saved.pipeline.predict_cumulative_incidence(X, cause, [730.0])[:, 0]
        np.testing.assert_allclose(predictions[column].to_numpy(), exact, rtol=1e-12)
    outcome_and_all = predictions.iloc[:, 2:].sum(axis=1)
    assert (outcome_and_all <= 1).all()


# -- validation predictions -------------------------------------------------------------------
def _sklearn_folds(frame: pd.DataFrame, k: int, seed: int = 0):
    """The documented folds (docs/validation.md), with scikit-learn itself: StratifiedKFold over
    persons (one row each here) on whether they have an event, numbered from 1."""
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return enumerate(folds.split(np.zeros(len(frame)), frame["event"] > 0), start=1)


def test_cv_saves_the_out_of_fold_predictions_of_each_fold_model(planted: CohortDataset) -> None:
    saved = fit_model(planted, "cox", [730, 365], parse_split("cv:3"), seed=0, n_boot=2)
    X, y, frame = planted.X, planted.y, planted.frame
    fold, score, risk = np.zeros(len(X), int), np.zeros(len(X)), np.zeros((len(X), 2))
    for number, (train, test) in _sklearn_folds(frame, 3):
        fold_model = make_model("cox", seed=0).fit(X.iloc[train], y[train])
        fold[test], score[test] = number, fold_model.predict(X.iloc[test])
        risk[test] = np.column_stack([fold_model.predict_risk(X.iloc[test], h) for h in (365, 730)])

    validation = saved.validation
    assert validation is not None
    assert (validation.design, validation.horizons) == ("cv", (365.0, 730.0))
    np.testing.assert_array_equal(validation.row, np.arange(len(frame)))
    np.testing.assert_array_equal(validation.fold, fold)
    np.testing.assert_array_equal(validation.time, frame["time"].to_numpy(dtype=float))
    np.testing.assert_array_equal(validation.event, frame["event"].to_numpy())
    np.testing.assert_allclose(validation.risk_score, score, rtol=1e-12)
    np.testing.assert_allclose(validation.risk, risk, rtol=1e-12)
    digest = hashlib.sha256((planted.path / "dataset.parquet").read_bytes()).hexdigest()
    assert validation.dataset_sha256 == digest


def test_metrics_are_recomputed_from_the_saved_validation_predictions_alone(
    planted: CohortDataset,
) -> None:
    saved = fit_model(planted, "cox", [365, 730], parse_split("cv:3"), seed=0, n_boot=2)
    validation, results = saved.validation, saved.metrics.results
    event, time = validation.event == 1, validation.time
    c = concordance_index_censored(event, time, validation.risk_score)[0]
    assert results.harrell_c.estimate == pytest.approx(c, abs=1e-12)
    # scikit-survival's cumulative/dynamic AUC weights by G(T) rather than G(T-): equal to
    # about 3e-4 on whole days (docs/validation.md)
    target = np.array(list(zip(event, time, strict=True)), dtype=[("e", "?"), ("t", "<f8")])
    auc, _ = cumulative_dynamic_auc(target, target, validation.risk, [365.0, 730.0])
    for entry, expected in zip(results.horizons, auc, strict=True):
        assert entry.time_dependent_auc.estimate == pytest.approx(expected, abs=2e-3)
        j = validation.horizons.index(entry.horizon)
        assert entry.marginal.mean_predicted == pytest.approx(validation.risk[:, j].mean())


def test_temporal_split_saves_the_test_rows_predictions_of_the_early_model(
    tmp_path: Path,
) -> None:
    frame = planted_frame()
    dataset = load_dataset(write_dataset(tmp_path, frame))
    saved = fit_model(dataset, "cox", [365], parse_split(f"temporal:{CUTOFF}"), seed=0, n_boot=2)
    before = np.array([day < CUTOFF for day in frame["index_date"]])
    early = make_model("cox", seed=0).fit(dataset.X[before], dataset.y[before])
    later = dataset.X[~before]

    validation = saved.validation
    assert validation.design == "temporal" and validation.horizons == (365.0,)
    np.testing.assert_array_equal(validation.row, np.flatnonzero(~before))
    assert (validation.fold == 1).all()
    np.testing.assert_allclose(validation.risk_score, early.predict(later), rtol=1e-12)
    np.testing.assert_allclose(validation.risk[:, 0], early.predict_risk(later, 365), rtol=1e-12)


def test_split_none_keeps_no_validation_predictions(planted_fit) -> None:
    assert planted_fit.validation is None


def test_competing_validation_predictions_keep_the_event_codes_and_give_incidences(
    tmp_path: Path,
) -> None:
    frame = _competing_frame(600, 6)
    dataset = load_dataset(write_dataset(tmp_path / "competing", frame))
    saved = fit_model(dataset, "cause-specific-cox", [365], parse_split("cv:3"), n_boot=0)
    X, y = dataset.X, dataset.y
    incidence = np.zeros(len(X))
    for _, (train, test) in _sklearn_folds(frame, 3):
        fold_model = make_model("cause-specific-cox", seed=0).fit(X.iloc[train], y[train])
        incidence[test] = fold_model.predict_cumulative_incidence(X.iloc[test], 1, [365.0])[:, 0]
    validation = saved.validation
    np.testing.assert_array_equal(validation.event, frame["event"].to_numpy())
    assert set(validation.event) == {0, 1, 2}
    np.testing.assert_allclose(validation.risk[:, 0], incidence, rtol=1e-10)

    # fitted with the deaths censored: the events are still recorded as they happened
    ignoring = fit_model(
        dataset, "cox", [365], parse_split("cv:3"), n_boot=0, censor_competing=True
    )
    np.testing.assert_array_equal(ignoring.validation.event, frame["event"].to_numpy())


# -- compare and its marginal incidence (no model) row ---------------------------------------
def test_compare_leads_with_the_marginal_incidence_of_each_folds_training_rows(
    planted: CohortDataset,
) -> None:
    from lifelines import KaplanMeierFitter

    rows = compare_models(planted, ["cox", "weibull"], [365], parse_split("cv:3"), seed=0)
    assert [row["model"] for row in rows] == [REFERENCE, "cox", "weibull"]
    reference = rows[0]
    assert (reference["harrell_c"], reference["uno_c"], reference["ipa"]) == (0.5, 0.5, 0.0)
    assert reference["calibration_slope"] is None and reference["horizon"] == 365
    # independently: lifelines' Kaplan-Meier of each documented fold's training rows at 365,
    # given to that fold's test rows, scored with the IPCW Brier score (equal to R's)
    frame = planted.frame
    event, time = _boolean_target(frame)
    risk = np.zeros(len(frame))
    for _, (train, test) in _sklearn_folds(frame, 3):
        km = KaplanMeierFitter().fit(time[train], event[train])
        risk[test] = 1.0 - km.survival_function_at_times(365.0).iloc[0]
    expected = brier_scores(planted.y, planted.y, 1.0 - risk[:, None], [365.0])[0]
    assert reference["brier"] == pytest.approx(expected, abs=1e-12)
    for row in rows[1:]:
        assert row["ipa"] == pytest.approx(1.0 - row["brier"] / expected, abs=1e-12)
        assert row["ipa"] > 0.1  # the planted effects are strong: both models add to it


def test_compare_under_competing_risks_leads_with_the_aalen_johansen_incidence(
    tmp_path: Path,
) -> None:
    frame = _competing_frame(600, 6)
    dataset = load_dataset(write_dataset(tmp_path / "competing", frame))
    rows = compare_models(dataset, ["cause-specific-cox"], [365], parse_split("cv:3"))
    assert [row["model"] for row in rows] == [REFERENCE, "cause-specific-cox"]
    event, time = frame["event"].to_numpy(), frame["time"].to_numpy(dtype=float)
    risk = np.zeros(len(frame))
    for _, (train, test) in _sklearn_folds(frame, 3):
        grid, incidence = cumulative_incidence_competing_risks(event[train], time[train])
        risk[test] = incidence[1][np.searchsorted(grid, 365.0, side="right") - 1]
    y = make_competing_target(event, time)
    expected = brier_scores(y, y, 1.0 - risk[:, None], [365.0])[0]
    assert rows[0]["brier"] == pytest.approx(expected, abs=1e-12)
    assert rows[1]["ipa"] == pytest.approx(1.0 - rows[1]["brier"] / expected, abs=1e-12)


def test_the_reference_of_a_model_fitted_with_competing_events_censored_is_aalen_johansen(
    tmp_path: Path,
) -> None:
    # the model ignores the competing events; the reference, like the metrics, does not
    frame = _competing_frame(600, 6)
    dataset = load_dataset(write_dataset(tmp_path / "competing", frame))
    saved = fit_model(dataset, "cox", [365], parse_split("cv:3"), n_boot=0, censor_competing=True)
    event, time = frame["event"].to_numpy(), frame["time"].to_numpy(dtype=float)
    risk = np.zeros(len(frame))
    for _, (train, test) in _sklearn_folds(frame, 3):
        grid, incidence = cumulative_incidence_competing_risks(event[train], time[train])
        risk[test] = incidence[1][np.searchsorted(grid, 365.0, side="right") - 1]
    reference = saved.metrics.results.horizons[0].null_model
    assert reference.risk == pytest.approx(risk.mean(), abs=1e-12)
