"""Scoring and explaining on Spark (``mapInPandas``) equal the single-machine path, row for row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from prognosis.cli import main
from prognosis.dataset import load_dataset
from prognosis.evaluation.validation import parse_split
from prognosis.models.store import save_model
from prognosis.training import fit_model

pytestmark = pytest.mark.spark

FITS = {"cox": {}, "xgb-cox": {"n_estimators": 40, "max_depth": 3}}


@pytest.fixture(scope="module")
def models(
    spark_build: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """A Cox and an xgboost Cox model fitted (seed 0, no validation) on the Spark-built data."""
    dataset = load_dataset(spark_build[0])
    folders = {}
    for name, params in FITS.items():
        saved = fit_model(dataset, name, [365.0, 730.0], parse_split("none"), seed=0, params=params)
        folders[name] = tmp_path_factory.mktemp("models") / name
        save_model(folders[name], saved)
    return folders


def _run(*arguments: str) -> str:
    result = CliRunner().invoke(main, list(arguments))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", ["predict", "explain"])
@pytest.mark.parametrize("model", list(FITS))
def test_spark_output_equals_the_single_machine_output_row_for_row(
    spark_build: tuple[Path, dict[str, Any]],
    models: dict[str, Path],
    tmp_path: Path,
    command: str,
    model: str,
) -> None:
    dataset = spark_build[0]
    local, distributed = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    _run(command, str(models[model]), str(dataset), "--out", str(local))
    printed = _run(
        command, str(models[model]), f"spark://local[2]?path={dataset}", "--out", str(distributed)
    )
    assert "2630" in printed
    expected, found = pq.read_table(local), pq.read_table(distributed)
    assert found.schema.names == expected.schema.names
    assert found.schema.types == expected.schema.types
    assert found.equals(expected.replace_schema_metadata(None))
    if command == "predict":
        assert found.schema.names == ["person_id", "index_date", "risk_365", "risk_730"]
    else:
        features = load_dataset(dataset).feature_names
        names = ["person_id", "index_date", "base_value"] + [f"shap_{n}" for n in features]
        assert found.schema.names == names


def test_one_person_scored_from_a_spark_cdm_equals_the_duckdb_score(
    spark_build: tuple[Path, dict[str, Any]], models: dict[str, Path], eunomia_parquet: Path
) -> None:
    person = int(load_dataset(spark_build[0]).frame["person_id"].iloc[5])
    arguments = ["predict", str(models["cox"]), "--person-id", str(person), "--source"]
    on_duckdb = _run(*arguments, "eunomia")
    on_spark = _run(*arguments, f"spark://local[2]?path={eunomia_parquet}")
    assert on_spark == on_duckdb
    assert on_spark.splitlines()[0].split() == ["index_date", "risk_365", "risk_730"]


@pytest.mark.parametrize("day", ["1900-01-01", "2035-01-01", "2010-06-01"])
def test_the_index_date_checks_read_a_spark_cdm_as_they_read_duckdb(
    models: dict[str, Path], eunomia_parquet: Path, day: str
) -> None:
    """Person 1 of Eunomia: born 1949-01-27, observed 1949-01-28 to 2019-05-24."""
    arguments = ["predict", str(models["cox"]), "--person-id", "1", "--index-date", day]
    on_duckdb = CliRunner().invoke(main, [*arguments, "--source", "eunomia"])
    source = f"spark://local[2]?path={eunomia_parquet}"
    on_spark = CliRunner().invoke(main, [*arguments, "--source", source])
    assert (on_spark.exit_code, on_spark.stdout) == (on_duckdb.exit_code, on_duckdb.stdout)
    if day != "2010-06-01":
        assert on_spark.exit_code == 1
        assert "person 1" in on_spark.stderr and "Traceback" not in on_spark.output


def test_a_model_of_one_outcome_scores_that_outcomes_rows_on_spark(tmp_path: Path) -> None:
    """On a dataset of several outcomes, the model of one outcome scores the rows at risk of
    it (those the model was fitted on), on Spark as on one machine."""
    import warnings

    from prognosis.cohort import build_cohort, load_definition, parse_source
    from prognosis.exceptions import DataQualityWarning
    from prognosis.synth import generate_cdm

    generate_cdm(tmp_path / "cdm.duckdb", persons=1500, seed=3)
    definition = Path(__file__).resolve().parents[2] / "cohorts" / "synth_af_complications.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        build_cohort(
            load_definition(definition), parse_source(str(tmp_path / "cdm.duckdb")), tmp_path / "ds"
        )
    view = load_dataset(tmp_path / "ds", "major_bleeding")
    saved = fit_model(view, "xgb-cause-specific", [365.0], parse_split("none"), seed=0)
    save_model(tmp_path / "model", saved)
    local, distributed = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    _run("predict", str(tmp_path / "model"), str(tmp_path / "ds"), "--out", str(local))
    url = f"spark://local[2]?path={tmp_path / 'ds'}"
    _run("predict", str(tmp_path / "model"), url, "--out", str(distributed))
    expected, found = pq.read_table(local), pq.read_table(distributed)
    assert expected.num_rows == len(view.frame) < len(load_dataset(tmp_path / "ds").frame)
    assert found.equals(expected.replace_schema_metadata(None))


def test_a_person_as_of_a_day_is_scored_on_spark_as_on_duckdb(spark: Any, tmp_path: Path) -> None:
    """Dynamic scoring (--as-of) reads a Spark CDM as it reads DuckDB: the hand-made landmark
    cohort of tests/cohort/test_landmarks.py, person 1 on a day between landmarks (the values
    worked out in tests/cohort/test_as_of.py)."""
    import datetime as dt

    from prognosis.artifacts import read_features
    from prognosis.cohort import build_cohort, parse_definition, parse_source
    from prognosis.cohort.person import person_features_as_of
    from tests.cohort.test_handmade_cdm import TODAY, write
    from tests.cohort.test_landmarks import TABLES, definition
    from tests.support.cdm import write_cdm_files

    database = write(tmp_path / "db", TABLES)
    build_cohort(
        parse_definition(definition()),
        parse_source(f"duckdb:///{database}"),
        tmp_path / "out",
        today=TODAY,
    )
    features = read_features(tmp_path / "out" / "features.json")
    parquet = write_cdm_files(tmp_path / "parquet", database, fmt="parquet")
    rows = {
        name: person_features_as_of(
            parse_definition(definition()),
            parse_source(url),
            1,
            dt.date(2010, 7, 19),
            features=features,
        )
        for name, url in (
            ("duckdb", f"duckdb:///{database}"),
            ("spark", f"spark://local[2]?path={parquet}"),
        )
    }
    columns = ["landmark", "time_since_entry", "age", "htn_year", "new_dm", "new_dm_count"]
    assert rows["spark"][columns].equals(rows["duckdb"][columns])
    assert rows["spark"]["time_since_entry"].iat[0] == 140
