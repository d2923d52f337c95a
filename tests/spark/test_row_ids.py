"""The cohort's row ids on Spark: the same ids as DuckDB's ``ROW_NUMBER() OVER (ORDER BY
person_id, index_date) - 1``, numbered without a window over all rows, so that no step of a
Spark build runs in a single partition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prognosis.cohort import build_cohort, load_definition
from prognosis.cohort.engines.spark import collect_arrow, number_rows
from prognosis.cohort.sources import spark_source
from prognosis.exceptions import DataQualityWarning

pytestmark = pytest.mark.spark

DEFINITION = Path(__file__).resolve().parents[2] / "cohorts" / "gi_bleed_nsaid.yaml"
SINGLE = "SinglePartition"


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The physical plan of every frame materialised while the test runs: the Spark engine
    materialises each work table and the dataset with ``DataFrame.localCheckpoint``, so a
    spy around it (calling the real method) sees every query of a build's steps."""
    from pyspark.sql import DataFrame

    recorded: list[str] = []
    checkpoint = DataFrame.localCheckpoint

    def recording(self: DataFrame, eager: bool = True) -> DataFrame:
        result = checkpoint(self, eager)
        recorded.append(self._jdf.queryExecution().executedPlan().toString())
        return result

    monkeypatch.setattr(DataFrame, "localCheckpoint", recording)
    return recorded


def test_a_global_row_number_would_show_as_a_single_partition_exchange(
    spark: Any, plans: list[str]
) -> None:
    # the check below can see the problem: Spark runs a window over all rows in one partition
    spark.sql("SELECT ROW_NUMBER() OVER (ORDER BY id) AS n FROM range(100)").localCheckpoint()
    assert len(plans) == 1
    assert f"Exchange {SINGLE}" in plans[0]


def test_gi_bleed_build_on_spark_has_no_single_partition_exchange(
    spark: Any, eunomia_parquet: Path, tmp_path: Path, plans: list[str]
) -> None:
    with pytest.warns(DataQualityWarning):
        build_cohort(
            load_definition(DEFINITION), spark_source(spark, path=eunomia_parquet), tmp_path / "o"
        )
    assert len(plans) >= 15  # every work table and the dataset
    assert any("rangepartitioning(person_id" in plan for plan in plans)  # the row ids
    assert [plan for plan in plans if SINGLE in plan] == []


def _rows(rng: np.random.Generator, size: int) -> list[tuple[int, dt.date | None, int]]:
    """(person, index date, a value): persons with several dates, some dates missing."""
    start = dt.date(2020, 1, 1)
    rows = {}
    while len(rows) < size:
        person = int(rng.integers(-50, 400))
        day = int(rng.integers(0, 40))
        date = None if day == 0 else start + dt.timedelta(days=day)
        rows[(person, date)] = len(rows)
    return [(person, date, value) for (person, date), value in rows.items()]


@pytest.fixture
def uncoalesced(spark: Any) -> Iterator[Any]:
    """The session with adaptive execution's merging of small partitions off, so that a few
    hundred rows still spread over several range partitions (each numbered from its offset)."""
    key = "spark.sql.adaptive.coalescePartitions.enabled"
    before = spark.conf.get(key)
    spark.conf.set(key, "false")
    yield spark
    spark.conf.set(key, before)


@pytest.mark.parametrize("size", [0, 1, 700])
def test_row_ids_are_the_places_in_person_and_date_order(uncoalesced: Any, size: int) -> None:
    rows = _rows(np.random.default_rng(0), size)
    schema = "person_id BIGINT, index_date DATE, value BIGINT"
    frame = uncoalesced.createDataFrame(rows, schema).repartition(7)
    numbered = number_rows(frame, ("person_id", "index_date"))
    assert numbered.columns == ["row_id", "person_id", "index_date", "value"]
    got = {row["value"]: row["row_id"] for row in collect_arrow(numbered).to_pylist()}
    # ascending, nulls last, as DuckDB's ORDER BY: sorted here by Python
    ordered = sorted(rows, key=lambda r: (r[0], r[1] is None, r[1] or dt.date.min))
    assert got == {value: place for place, (_, _, value) in enumerate(ordered)}


def test_a_landmark_build_on_spark_has_no_single_partition_exchange(
    spark: Any, eunomia_parquet: Path, tmp_path: Path, plans: list[str]
) -> None:
    """Landmark rows (entries crossed with the landmark list) are numbered the same way."""
    definition = load_definition(DEFINITION.with_name("gi_bleed_nsaid_landmarks.yaml"))
    with pytest.warns(DataQualityWarning):
        build_cohort(definition, spark_source(spark, path=eunomia_parquet), tmp_path / "o")
    assert any("rangepartitioning(person_id" in plan for plan in plans)
    assert [plan for plan in plans if SINGLE in plan] == []
