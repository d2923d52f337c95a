"""A real SparkSession in local mode for the Spark tests, and Eunomia exported to Parquet.

pyspark and Java are needed. Without them the tests are skipped with the reason printed (in
the short summary), or fail when ``PROGNOSIS_REQUIRE_SPARK=1`` (as ``.ci/run`` sets). One
session serves the whole test run: local[2], a small driver and few shuffle partitions, so the
suite fits a small machine; code under test that opens a ``spark://`` source reuses it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from prognosis.cli import main
from prognosis.cohort.sources import eunomia_path
from prognosis.exceptions import SourceError
from tests.support.cdm import write_cdm_files

SETTINGS = {
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
}


def _unavailable(reason: str) -> None:
    if os.environ.get("PROGNOSIS_REQUIRE_SPARK") == "1":
        pytest.fail(f"PROGNOSIS_REQUIRE_SPARK=1 but Spark cannot run: {reason}")
    pytest.skip(f"Spark tests skipped: {reason}")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local[2] SparkSession for the whole run (stopped at the end)."""
    from prognosis.cohort.engines.spark import open_session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    settings = {**SETTINGS, "spark.sql.warehouse.dir": str(warehouse)}
    try:
        session, owned = open_session("local[2]", settings)
    except SourceError as missing:  # no pyspark, or no Java
        _unavailable(str(missing))
    yield session
    if owned:
        session.stop()


@pytest.fixture(scope="session")
def eunomia_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Eunomia CDM, one Parquet file per table (exported by DuckDB)."""
    return write_cdm_files(
        tmp_path_factory.mktemp("eunomia") / "parquet", eunomia_path(), fmt="parquet"
    )


GI_BLEED = Path(__file__).resolve().parents[2] / "cohorts" / "gi_bleed_nsaid.yaml"


@pytest.fixture(scope="session")
def spark_build(
    spark: Any, eunomia_parquet: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """gi_bleed_nsaid built through the CLI on spark://local[2]?path=<Eunomia as Parquet>:
    the dataset folder and the printed JSON summary."""
    out = tmp_path_factory.mktemp("spark") / "gi_bleed_nsaid"
    source = f"spark://local[2]?path={eunomia_parquet}"
    arguments = ["cohort", "build", str(GI_BLEED), "--source", source, "--out", str(out), "--json"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)
