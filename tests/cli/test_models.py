"""The model commands of the CLI (fit, evaluate, predict, compare), through click's CliRunner.

One Cox model is fitted once on the gi_bleed_nsaid cohort built on Eunomia; the other tests use
it. Expected values come from outside the command under test: scikit-survival's concordance
of the saved model's scores, the dataset's own rows, and the Eunomia person table read with
DuckDB.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sksurv.metrics import concordance_index_censored

from prognosis.artifacts import FeatureRange, SplitInfo
from prognosis.cli import main
from prognosis.dataset import load_dataset
from prognosis.exceptions import DataQualityWarning
from prognosis.models.store import load_model


def _run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def fitted(gi_bleed: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    model_dir = tmp_path_factory.mktemp("models") / "cox"
    result = _run(
        "fit", gi_bleed, "--model", "cox", "--horizon", "365", "--split", "cv", "--seed", "0",
        "--n-boot", "10", "--out", model_dir,
    )  # fmt: skip
    return result, model_dir


@pytest.fixture(scope="module")
def model_dir(fitted: tuple[Result, Path]) -> Path:
    result, folder = fitted
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def predictions(model_dir: Path, gi_bleed: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("predictions") / "p.parquet"
    result = _run("predict", model_dir, gi_bleed, "--out", out)
    assert result.exit_code == 0, result.output
    assert _says(result, f"2630 predictions → {out}")
    return pd.read_parquet(out)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset folder with a planted effect, for the slower multi-model commands."""
    rng = np.random.default_rng(0)
    n = 150
    x = rng.normal(size=n)
    event_time = rng.exponential(900.0 * np.exp(-x))
    censor_time = rng.uniform(100.0, 1500.0, size=n)
    event = (event_time <= censor_time).astype(int)
    frame = pd.DataFrame(
        {
            "person_id": np.arange(n),
            "index_date": [dt.date(2016, 1, 1)] * n,
            "time": np.maximum(1, np.ceil(np.minimum(event_time, censor_time))).astype(int),
            "event": event,
            "censor_reason": None,
            "x": x,
            "noise": rng.normal(size=n),
        }
    )
    folder = tmp_path_factory.mktemp("planted")
    frame.to_parquet(folder / "dataset.parquet", index=False)
    return folder


def _says(result: Result, text: str) -> bool:
    """``text`` is on stdout, however rich wrapped the lines to the terminal width."""
    return "".join(text.split()) in "".join(result.stdout.split())


def _printed_person(result: Result) -> tuple[str, float]:
    """The index date and the 365-day risk that ``predict --person-id`` prints."""
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["index_date", "risk_365"]
    assert len(rows) == 1
    day, risk = rows[0].split()
    return day, float(risk)


# -- fit and evaluate -------------------------------------------------------------------------
def test_fit_prints_out_of_fold_metrics_and_saves_the_model(fitted, gi_bleed: Path) -> None:
    result, folder = fitted
    assert result.exit_code == 0, result.output
    assert "Harrell's C" in result.stdout
    assert _says(result, f"model → {folder}")
    saved = load_model(folder)
    assert saved.info.split == SplitInfo(kind="cv", folds=5, cutoff=None)
    assert saved.info.training_rows == len(pd.read_parquet(gi_bleed / "dataset.parquet"))
    assert saved.metrics.results is not None and saved.metrics.results.bootstrap.n_boot == 10
    assert saved.metrics.split is not None
    assert saved.metrics.split.startswith("5-fold cross-validation")


def test_evaluate_writes_metrics_json_with_the_concordance(
    model_dir: Path, gi_bleed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "metrics.json"
    result = _run("evaluate", model_dir, gi_bleed, "--out", out, "--n-boot", "3")
    assert result.exit_code == 0, result.output
    assert _says(result, f"metrics → {out}")
    metrics = json.loads(out.read_text(encoding="utf-8"))
    dataset = load_dataset(gi_bleed)
    risk = load_model(model_dir).pipeline.predict(dataset.X)
    frame = dataset.frame
    expected = concordance_index_censored(frame["event"] == 1, frame["time"], risk)[0]
    assert metrics["harrell_c"]["estimate"] == pytest.approx(expected, abs=1e-12)
    assert metrics["harrell_c"]["lower"] <= expected <= metrics["harrell_c"]["upper"]
    assert metrics["source"] == "eunomia"
    assert metrics["n_test"] == len(frame)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("nope", "--subgroup 'nope': no such column in the dataset"),
        ("age", "--subgroup 'age': is continuous (statistic 'age' in features.json)"),
        ("peptic_ulcer_all_before_count", "is continuous (statistic 'count' in features.json)"),
    ],
)
def test_fit_refuses_a_subgroup_column_before_any_work(
    gi_bleed: Path, tmp_path: Path, column: str, message: str
) -> None:
    out = tmp_path / "model"
    result = _run(
        "fit", gi_bleed, "--model", "cox", "--horizon", "365", "--subgroup", column, "--out", out
    )
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not out.exists()


def test_evaluate_refuses_a_subgroup_column_naming_it(
    model_dir: Path, gi_bleed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "metrics.json"
    result = _run("evaluate", model_dir, gi_bleed, "--out", out, "--subgroup", "time")
    assert result.exit_code == 1
    assert "--subgroup 'time': is part of the outcome" in " ".join(result.output.split())
    assert "Traceback" not in result.output and not out.exists()


def test_evaluate_measures_each_subgroup_as_scikit_survival_does_on_its_rows(
    model_dir: Path, gi_bleed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "metrics.json"
    column = "peptic_ulcer_prior_year"
    result = _run(
        "evaluate", model_dir, gi_bleed, "--out", out, "--n-boot", "3", "--subgroup", column
    )
    assert result.exit_code == 0, result.output
    assert _says(result, "by subgroup") and _says(result, "female")
    metrics = json.loads(out.read_text(encoding="utf-8"))
    dataset = load_dataset(gi_bleed)
    frame = dataset.frame
    risk = load_model(model_dir).pipeline.predict(dataset.X)
    label = next(f.label for f in dataset.features if f.name == column)
    for entry in (s for s in metrics["subgroups"] if s["variable"] == label):
        rows = (frame[column] == 1).to_numpy() == (entry["group"] == "yes")
        event, time = (frame["event"] == 1).to_numpy()[rows], frame["time"].to_numpy()[rows]
        expected = concordance_index_censored(event, time, risk[rows])[0]
        assert entry["n"] == rows.sum() and entry["events"] == event.sum()
        assert entry["harrell_c"]["estimate"] == pytest.approx(expected, abs=1e-12)


# -- predict ----------------------------------------------------------------------------------
def test_predict_writes_one_risk_per_dataset_row(predictions, gi_bleed: Path) -> None:
    frame = pd.read_parquet(gi_bleed / "dataset.parquet")
    assert list(predictions.columns) == ["person_id", "index_date", "risk_365"]
    assert predictions["person_id"].tolist() == frame["person_id"].tolist()
    assert predictions["index_date"].tolist() == frame["index_date"].tolist()
    assert predictions["risk_365"].between(0.0, 1.0).all()
    assert predictions["risk_365"].nunique() > 100


@pytest.mark.parametrize("row", [0, 2])  # person 1 censored, person 3 has the outcome
def test_predict_one_person_from_the_cdm_equals_the_dataset_prediction(
    model_dir: Path, predictions: pd.DataFrame, gi_bleed: Path, row: int
) -> None:
    person = predictions.iloc[row]
    result = _run("predict", model_dir, "--source", "eunomia", "--person-id", person["person_id"])
    day, risk = _printed_person(result)
    assert day == str(person["index_date"])
    assert risk == pytest.approx(person["risk_365"], abs=1e-6)


def test_predict_one_person_at_their_own_index_date_equals_the_dataset_prediction(
    model_dir: Path, predictions: pd.DataFrame
) -> None:
    person = predictions.iloc[1]
    result = _run(
        "predict", model_dir, "--source", "eunomia", "--person-id", person["person_id"],
        "--index-date", person["index_date"],
    )  # fmt: skip
    day, risk = _printed_person(result)
    assert day == str(person["index_date"])
    assert risk == pytest.approx(person["risk_365"], abs=1e-6)


@pytest.fixture(scope="module")
def outsider(gi_bleed: Path, eunomia_path: Path) -> int:
    """A person of Eunomia's person table who is not in the cohort."""
    with duckdb.connect(str(eunomia_path), read_only=True) as con:
        everyone = {row[0] for row in con.execute("SELECT person_id FROM person").fetchall()}
    members = set(pd.read_parquet(gi_bleed / "dataset.parquet")["person_id"])
    return min(everyone - members)


def test_predict_at_an_index_date_scores_a_person_outside_the_cohort(
    model_dir: Path, outsider: int
) -> None:
    result = _run(
        "predict", model_dir, "--source", "eunomia", "--person-id", outsider,
        "--index-date", "2015-01-01",
    )  # fmt: skip
    day, risk = _printed_person(result)
    assert day == "2015-01-01"
    assert 0.0 <= risk <= 1.0


def test_predict_without_an_index_date_refuses_a_person_outside_the_cohort(
    model_dir: Path, outsider: int
) -> None:
    result = _run("predict", model_dir, "--source", "eunomia", "--person-id", outsider)
    assert result.exit_code == 1
    assert f"error: person {outsider} is not in cohort 'gi_bleed_nsaid'" in result.stderr
    assert "pass --index-date" in result.stderr
    assert "Traceback" not in result.output


# person 1 of Eunomia: born 1949-01-27, observed 1949-01-28 to 2019-05-24 (its person and
# observation_period tables); Eunomia's death table holds no usable row
@pytest.mark.parametrize(
    ("day", "message"),
    [
        (
            "1900-01-01",
            "error: person 1 was not yet born on the index date 1900-01-01: table 'person' "
            "records year_of_birth 1949, month_of_birth 1, day_of_birth 27 (born on or after "
            "1949-01-27); give an --index-date on or after 1949-01-27",
        ),
        (
            "2035-01-01",
            "error: the index date 2035-01-01 lies outside every observation period of person "
            "1 (table 'observation_period': 1 period(s) spanning 1949-01-28 to 2019-05-24: "
            "1949-01-28 to 2019-05-24); give an --index-date inside one of them",
        ),
        ("1949-01-27", "outside every observation period of person 1"),  # born, not observed
    ],
)
def test_predict_at_a_date_outside_the_persons_life_or_follow_up_fails_clearly(
    model_dir: Path, day: str, message: str
) -> None:
    result = _run(
        "predict", model_dir, "--source", "eunomia", "--person-id", "1", "--index-date", day
    )
    assert result.exit_code == 1
    assert "".join(message.split()) in "".join(result.stderr.split())
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_fit_stores_the_training_range_of_every_feature(model_dir: Path, gi_bleed: Path) -> None:
    ranges = load_model(model_dir).info.feature_ranges
    assert ranges is not None
    frame = pd.read_parquet(gi_bleed / "dataset.parquet")
    assert ranges["age"] == FeatureRange(min=frame["age"].min(), max=frame["age"].max())
    assert set(ranges) == set(load_model(model_dir).feature_names)


def test_predict_warns_when_the_persons_age_lies_outside_the_training_range(
    model_dir: Path, gi_bleed: Path
) -> None:
    youngest = int(pd.read_parquet(gi_bleed / "dataset.parquet")["age"].min())
    assert youngest > 2
    result = _run(
        "predict", model_dir, "--source", "eunomia", "--person-id", "1",
        "--index-date", "1951-06-01",
    )  # fmt: skip
    day, risk = _printed_person(result)
    assert (day, 0.0 <= risk <= 1.0) == ("1951-06-01", True)
    warning = "warning: person 1 lies outside the training data in 1 feature(s): age 2 (training: "
    assert "".join(warning.split()) in "".join(result.stderr.split())
    assert "extrapolations" in result.stderr


def test_a_model_without_stored_ranges_scores_without_the_check(
    model_dir: Path, predictions: pd.DataFrame
) -> None:
    from prognosis.cohort import parse_source
    from prognosis.exceptions import ScoringWarning
    from prognosis.scoring import score_person

    saved = load_model(model_dir)
    # as a model saved before ranges were stored
    saved.info = dataclasses.replace(saved.info, feature_ranges=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # Eunomia's known defects
        warnings.simplefilter("error", ScoringWarning)
        frame = score_person(saved, parse_source("eunomia"), 1, dt.date(1951, 6, 1))
    assert frame["risk_365"].between(0.0, 1.0).all()


def test_predict_a_person_not_in_the_cdm_fails_clearly(model_dir: Path) -> None:
    result = _run("predict", model_dir, "--source", "eunomia", "--person-id", "987654321")
    assert result.exit_code == 1
    assert "error: person 987654321 is not in table 'person' of the source" in result.stderr
    assert result.stdout == ""


def test_predict_needs_a_dataset_or_a_person(model_dir: Path) -> None:
    result = _run("predict", model_dir)
    assert result.exit_code == 1
    assert "give DATASET_DIR and --out, or --source and --person-id" in result.stderr


def test_predict_on_a_dataset_with_other_columns_names_them(
    model_dir: Path, gi_bleed: Path, tmp_path: Path
) -> None:
    frame = pd.read_parquet(gi_bleed / "dataset.parquet")
    dropped = frame.columns[-1]
    other = tmp_path / "other"
    other.mkdir()
    frame.drop(columns=[dropped]).assign(bogus=1).to_parquet(other / "dataset.parquet")
    out = tmp_path / "p.parquet"
    result = _run("predict", model_dir, other, "--out", out)
    assert result.exit_code == 1
    assert "does not match the model's feature schema" in result.stderr
    assert f"missing 1: {dropped}" in result.stderr
    assert "unexpected 1: bogus" in result.stderr
    assert not out.exists()


# -- tampering --------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_tampered_model_directory_is_refused_naming_the_file(
    model_dir: Path, gi_bleed: Path, tmp_path: Path, command: str
) -> None:
    tampered = Path(shutil.copytree(model_dir, tmp_path / "model"))
    arrays = tampered / "estimator.npz"
    data = bytearray(arrays.read_bytes())
    data[-10] ^= 0x01
    arrays.write_bytes(bytes(data))
    result = _run(command, tampered, gi_bleed, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "estimator.npz was modified" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_an_old_format_model_directory_is_refused_with_how_to_refit(
    model_dir: Path, gi_bleed: Path, tmp_path: Path
) -> None:
    old = Path(shutil.copytree(model_dir, tmp_path / "model"))
    for name in ("model.json", "manifest.json"):
        path = old / name
        path.write_text(path.read_text().replace("prognosis-model/2", "prognosis-model/1"))
    result = _run("predict", old, gi_bleed, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "old format prognosis-model/1" in result.stderr
    assert "Refit the model from its dataset: prognosis fit DATASET_DIR --model" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


# -- compare and model names ------------------------------------------------------------------
def test_compare_prints_one_row_per_model(planted: Path) -> None:
    result = _run(
        "compare", planted, "--models", "cox,xgb-cox", "--horizon", "365", "--split", "cv:3"
    )
    assert result.exit_code == 0, result.output
    assert "Models on" in result.stdout
    lines = result.stdout.splitlines()
    assert any(line.split("│")[1].strip() == "cox" for line in lines if line.count("│") > 2)
    assert any(line.split("│")[1].strip() == "xgb-cox" for line in lines if line.count("│") > 2)
    # the reference row, above the models: everyone given the training rows' risk
    first = [line.split("│")[1].strip() for line in lines if line.count("│") > 2]
    assert first[0] == "marginal" and first.index("cox") > 0  # the label wraps in 80 columns
    assert "at 365 days" in result.stdout  # the title wraps too
    assert "None" not in result.stdout  # what the reference lacks is left blank


def test_compare_json_gives_one_row_per_model(planted: Path) -> None:
    result = _run(
        "compare", planted, "--models", "cox,xgb-cox", "--horizon", "365", "--split", "cv:3",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["model"] for row in rows] == ["marginal incidence (no model)", "cox", "xgb-cox"]
    assert rows[0]["harrell_c"] == 0.5 and rows[0]["calibration_slope"] is None
    for row in rows[1:]:
        assert 0.5 < row["harrell_c"] <= 1.0  # the planted effect is strong
        assert row["horizon"] == 365
        assert row["ipa"] == pytest.approx(1 - row["brier"] / rows[0]["brier"])


def test_compare_refuses_an_unknown_model(planted: Path) -> None:
    result = _run("compare", planted, "--models", "cox,deepsurv", "--horizon", "365")
    assert result.exit_code == 1
    assert "unknown model(s) ['deepsurv']; choose from cox," in result.stderr


def test_fit_refuses_an_unknown_model(planted: Path, tmp_path: Path) -> None:
    result = _run("fit", planted, "--model", "deepsurv", "--horizon", "365", "--out", tmp_path)
    assert result.exit_code == 2
    assert "'deepsurv' is not one of" in result.output
    assert "'cox'" in result.output


def test_fit_refuses_a_horizon_beyond_the_follow_up(planted: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = _run("fit", planted, "--model", "cox", "--horizon", "99999", "--out", out)
    assert result.exit_code == 1
    assert "horizon(s) [99999.0] lie outside the follow-up" in result.stderr
    assert not out.exists()


def test_fit_with_a_cox_censoring_model_records_it(planted: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    args = ["fit", planted, "--model", "cox", "--horizon", "365", "--split", "cv:3"]
    result = _run(*args, "--n-boot", "0", "--censoring-model", "cox:noise", "--out", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["censoring_weights"].startswith("Cox model of the censoring time on noise")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("weibull", "use km (Kaplan-Meier) or cox:COLUMN,COLUMN"),
        ("cox:", "use km (Kaplan-Meier) or cox:COLUMN,COLUMN"),
        ("cox:height", "the dataset has no column height"),
    ],
)
def test_a_bad_censoring_model_is_refused_before_work(
    planted: Path, tmp_path: Path, value: str, message: str
) -> None:
    out = tmp_path / "m"
    result = _run(
        "fit", planted, "--model", "cox", "--horizon", "365", "--censoring-model", value,
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 1 and message in result.stderr
    assert "Traceback" not in result.output and not out.exists()


def test_a_competing_risk_family_without_competing_events_warns_once(
    gi_bleed: Path, tmp_path: Path
) -> None:
    """Eunomia's cohort has no competing event: cause-specific Cox is then Cox, and fit says so
    in one line (not once per fold, not as a Python warning with a file path)."""
    result = CliRunner().invoke(
        main,
        ["fit", str(gi_bleed), "--model", "cause-specific-cox", "--horizon", "365",
         "--split", "cv:3", "--n-boot", "0", "--quiet", "--out", str(tmp_path / "m")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("warning: y has no competing events") == 1
    assert "equals cox" in result.output
    assert "Traceback" not in result.output and "pipeline.py" not in result.output
