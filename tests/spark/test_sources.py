"""Spark sources: the spark:// forms, a catalog schema, CSV files, and clear errors."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from prognosis.cohort import build_cohort, parse_definition, parse_source
from prognosis.cohort.sources import SourceKind, spark_source
from prognosis.exceptions import SourceError
from tests.cohort.test_handmade_cdm import (
    CORE_ATTRITION,
    CORE_COLUMNS,
    CORE_TABLES,
    TODAY,
    build_on,
    core_definition,
    core_rows,
    write,
)
from tests.support.cdm import write_cdm_files

# --- parsing: no Spark needed ---------------------------------------------------------------


def test_spark_url_with_a_folder_parses_master_path_format_and_settings(tmp_path: Path) -> None:
    text = f"spark://local[*]?path={tmp_path}&format=csv&spark.driver.memory=3g"
    source = parse_source(text)
    assert source.kind is SourceKind.SPARK
    assert source.location == "local[*]"
    assert source.schema is None
    assert dict(source.options) == {
        "path": str(tmp_path.resolve()),
        "format": "csv",
        "spark.driver.memory": "3g",
    }
    assert source.describe() == text


def test_spark_url_with_a_cluster_master_and_a_catalog_schema() -> None:
    source = parse_source("spark://spark-master.example.org:7077?schema=cdm")
    assert (source.location, source.schema, source.options) == (
        "spark://spark-master.example.org:7077",
        "cdm",
        (),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spark://local[2]", r"give exactly one of path=DIR .* and schema=NAME"),
        ("spark://local[2]?schema=a&path=/tmp", r"give exactly one of path=DIR"),
        ("spark://yarn?schema=cdm", r"Spark master 'yarn' is neither local, local\[N\]"),
        ("spark://local[2]?schema=cdm&table=x", r"unknown key\(s\) table; use path, schema"),
        ("spark://local[2]?schema=cdm&format=csv", r"format='csv' needs path=DIR"),
        ("spark://local[2]?path=/no/such/folder", r"no such folder /no/such/folder"),
    ],
)
def test_bad_spark_urls_raise_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_source(text)


def test_spark_url_errors_mask_credentials() -> None:
    text = "spark://alice:s3cret@host:7077?schema=cdm&spark.authenticate.secret=hunter2"
    with pytest.raises(SourceError) as raised:
        parse_source(text)
    assert "s3cret" not in str(raised.value)
    assert "alice:***@host:7077" in str(raised.value)
    source = parse_source("spark://host:7077?schema=cdm&spark.authenticate.secret=hunter2")
    assert source.describe() == "spark://host:7077?schema=cdm&spark.authenticate.secret=***"


# --- on a real session ------------------------------------------------------------------------


@pytest.mark.spark
def test_core_cohort_from_a_catalog_schema_matches_the_hand_computed_table(
    spark: Any, tmp_path: Path
) -> None:
    files = write_cdm_files(tmp_path / "files", write(tmp_path / "db", CORE_TABLES), fmt="parquet")
    spark.sql("CREATE DATABASE IF NOT EXISTS core_cdm")
    try:
        for path in files.iterdir():
            table = path.name.removesuffix(".parquet")
            spark.sql(f"CREATE TABLE core_cdm.{table} USING parquet LOCATION '{path}'")
        built = build_on(
            spark_source(spark, schema="core_cdm"),
            core_definition(competing=False),
            tmp_path / "out",
        )
    finally:
        spark.sql("DROP DATABASE core_cdm CASCADE")
    assert built.table.schema == pa.schema(CORE_COLUMNS)
    assert built.rows == core_rows()
    assert built.attrition == CORE_ATTRITION


@pytest.mark.spark
def test_core_cohort_from_csv_files_matches_the_hand_computed_table(
    spark: Any, tmp_path: Path
) -> None:
    files = write_cdm_files(tmp_path / "csv", write(tmp_path / "db", CORE_TABLES), fmt="csv")
    built = build_on(
        spark_source(spark, path=files), core_definition(competing=False), tmp_path / "built"
    )
    assert built.table.schema == pa.schema(CORE_COLUMNS)
    assert built.rows == core_rows()


@pytest.mark.spark
def test_missing_catalog_schema_raises_naming_it(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"the Spark catalog has no schema 'no_such_cdm'"):
        build_cohort(
            parse_definition(core_definition(competing=False)),
            spark_source(spark, schema="no_such_cdm"),
            tmp_path / "out",
            today=TODAY,
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.spark
def test_folder_without_tables_raises(spark: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no tables here")
    with pytest.raises(SourceError, match=r"the folder holds no Parquet, CSV or Delta tables"):
        build_cohort(
            parse_definition(core_definition(competing=False)),
            spark_source(spark, path=tmp_path),
            tmp_path / "out",
        )


@pytest.mark.spark
def test_missing_person_table_raises_naming_it_and_leaves_no_views(
    spark: Any, eunomia_parquet: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "cdm"
    shutil.copytree(eunomia_parquet, folder)
    (folder / "person.parquet").unlink()
    with pytest.raises(SourceError, match=r"table 'person' is missing from the source"):
        build_cohort(
            parse_definition(core_definition(competing=False)),
            parse_source(f"spark://local[2]?path={folder}"),
            tmp_path / "out",
        )
    assert [t.name for t in spark.catalog.listTables() if t.isTemporary] == []


def test_spark_source_without_pyspark_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("pyspark", "pyspark.sql"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(SourceError, match=r"need pyspark.*pip install 'prognosis\[spark\]'"):
        build_cohort(
            parse_definition(core_definition(competing=False)),
            parse_source(f"spark://local[2]?path={tmp_path}"),
            tmp_path / "out",
        )
