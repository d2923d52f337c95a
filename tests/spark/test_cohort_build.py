"""Cohorts built on Spark equal the DuckDB builds: same rows, types, features and attrition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.exceptions import DataQualityWarning

pytestmark = pytest.mark.spark

DEFINITION = Path(__file__).resolve().parents[2] / "cohorts" / "gi_bleed_nsaid.yaml"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("duckdb") / "gi_bleed_nsaid"
    with pytest.warns(DataQualityWarning) as record:
        build_cohort(load_definition(DEFINITION), parse_source("eunomia"), out)
    return out, [str(w.message) for w in record]


def test_gi_bleed_nsaid_on_spark_equals_the_duckdb_build(
    spark_build: tuple[Path, dict[str, Any]], duckdb_build: tuple[Path, list[str]]
) -> None:
    (spark_out, summary), (duck_out, duck_messages) = spark_build, duckdb_build
    spark_table = pq.read_table(spark_out / "dataset.parquet")
    duck_table = pq.read_table(duck_out / "dataset.parquet")
    assert spark_table.schema == duck_table.schema  # types and nullability
    assert spark_table.equals(duck_table)  # same persons, times, events, feature values
    assert spark_table.num_rows == 2630
    for name in ("features.json", "attrition.json"):
        assert _json(spark_out / name) == _json(duck_out / name)
    assert summary["data_quality"] == duck_messages


def test_spark_manifest_has_the_same_counts_and_names_the_engine(
    spark_build: tuple[Path, dict[str, Any]], duckdb_build: tuple[Path, list[str]]
) -> None:
    spark_manifest = _json(spark_build[0] / "manifest.json")
    duck_manifest = _json(duckdb_build[0] / "manifest.json")
    assert spark_manifest["engine"] == "spark"
    assert spark_manifest["source"].startswith("spark://local[2]?path=")
    assert spark_manifest["counts"] == duck_manifest["counts"]
    assert spark_manifest["data_quality"] == duck_manifest["data_quality"]
    assert spark_manifest["definition"] == {**duck_manifest["definition"], "path": str(DEFINITION)}


def test_the_build_leaves_no_temporary_views_in_the_session(
    spark: Any, spark_build: tuple[Path, dict[str, Any]]
) -> None:
    assert [t.name for t in spark.catalog.listTables() if t.isTemporary] == []


def _on_duckdb_and_spark(
    definition: dict[str, Any], database: Path, tmp_path: Path
) -> dict[str, pa.Table]:
    """A hand-made definition built on a DuckDB CDM and, from its tables as Parquet, on Spark:
    each dataset by engine, with its outputs in ``tmp_path/<engine>``."""
    from prognosis.cohort import parse_definition
    from tests.cohort.test_handmade_cdm import TODAY
    from tests.support.cdm import write_cdm_files

    parquet = write_cdm_files(tmp_path / "parquet", database, fmt="parquet")
    built = {}
    for name, source in (
        ("duckdb", f"duckdb:///{database}"),
        ("spark", f"spark://local[2]?path={parquet}"),
    ):
        build_cohort(
            parse_definition(definition), parse_source(source), tmp_path / name, today=TODAY
        )
        built[name] = pq.read_table(tmp_path / name / "dataset.parquet")
    assert built["spark"].schema == built["duckdb"].schema
    assert built["spark"].equals(built["duckdb"])
    return built


def test_a_definition_of_several_outcomes_builds_on_spark_as_on_duckdb(
    spark: Any, tmp_path: Path
) -> None:
    """The hand-made cohort of tests/cohort/test_several_outcomes.py: each outcome's time,
    event and censor reason (NULL where not at risk) equal DuckDB's, which equal the hand
    computation there."""
    from tests.cohort.test_handmade_cdm import write
    from tests.cohort.test_several_outcomes import TABLES, definition

    database = write(tmp_path / "db", TABLES)
    _on_duckdb_and_spark(definition(), database, tmp_path)
    spark_counts = _json(tmp_path / "spark" / "manifest.json")["counts"]
    assert spark_counts == _json(tmp_path / "duckdb" / "manifest.json")["counts"]


def test_treatment_and_trend_features_build_on_spark_as_on_duckdb(
    spark: Any, tmp_path: Path
) -> None:
    """The hand-made cohort of tests/cohort/test_treatment_and_trend.py: treatment status, days
    on treatment and measurement trends on Spark equal DuckDB's, which equal the hand
    computation there."""
    from tests.cohort.test_treatment_and_trend import TABLES, _assert_expected, definition
    from tests.support.cdm import write_cdm

    (tmp_path / "db").mkdir()
    database = write_cdm(tmp_path / "db" / "cdm.duckdb", TABLES)
    built = _on_duckdb_and_spark(definition(), database, tmp_path)
    _assert_expected(built["spark"])
    for name in ("features.json", "attrition.json"):
        assert _json(tmp_path / "spark" / name) == _json(tmp_path / "duckdb" / name)


def test_a_landmark_definition_builds_on_spark_as_on_duckdb(spark: Any, tmp_path: Path) -> None:
    """The hand-made landmark cohort of tests/cohort/test_landmarks.py: every landmark row,
    its follow-up and its features (concept-set and since-entry tables pivoted and joined in
    Spark SQL) equal DuckDB's, which equal the hand computation there; so do the attrition
    rows per landmark and the counts."""
    from tests.cohort.test_handmade_cdm import write
    from tests.cohort.test_landmarks import EXPECTED, TABLES, definition, rows_of

    database = write(tmp_path / "db", TABLES)
    _on_duckdb_and_spark(definition(), database, tmp_path)
    assert rows_of(tmp_path / "spark") == EXPECTED
    for file in ("attrition.json", "features.json"):
        assert _json(tmp_path / "spark" / file) == _json(tmp_path / "duckdb" / file)
    spark_counts = _json(tmp_path / "spark" / "manifest.json")["counts"]
    assert spark_counts == _json(tmp_path / "duckdb" / "manifest.json")["counts"]


def test_several_outcomes_at_landmarks_build_on_spark_as_on_duckdb(
    spark: Any, tmp_path: Path
) -> None:
    """tests/cohort/test_landmarks.py's several-outcome landmark cohort (NULL where a row is
    not at risk of an outcome): Spark's rows equal DuckDB's, which equal the hand computation."""
    from tests.cohort.test_handmade_cdm import write
    from tests.cohort.test_landmarks import several_definition, several_expected, several_rows
    from tests.cohort.test_several_outcomes import TABLES

    database = write(tmp_path / "db", TABLES)
    _on_duckdb_and_spark(several_definition(), database, tmp_path)
    assert several_rows(tmp_path / "spark") == several_expected()
