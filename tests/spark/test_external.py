"""``--features-of`` on Spark: the seed-43 synthetic CDM, as Parquet files, built with the
columns of a model fitted on seed 42 equals the same build on DuckDB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from prognosis.cli import main
from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.exceptions import DataQualityWarning
from prognosis.synth import generate_cdm
from tests.support.cdm import write_cdm_files

pytestmark = pytest.mark.spark

DEFINITION = Path(__file__).resolve().parents[2] / "cohorts" / "synth_af_stroke.yaml"
PERSONS = 2000


def _build(source: str, out: Path, model: Path | None = None) -> None:
    with pytest.warns(DataQualityWarning, match="outside every observation period"):
        build_cohort(load_definition(DEFINITION), parse_source(source), out, features_of=model)


def test_spark_external_build_equals_duckdb(spark: Any, tmp_path: Path) -> None:
    for seed in (42, 43):
        generate_cdm(tmp_path / f"cdm{seed}.duckdb", persons=PERSONS, seed=seed)
    _build(f"duckdb://{tmp_path / 'cdm42.duckdb'}", tmp_path / "train")
    model = tmp_path / "model"
    fitted = CliRunner().invoke(
        main,
        [
            "fit", str(tmp_path / "train"), "--model", "cause-specific-cox", "--horizon", "365",
            "--split", "none", "--n-boot", "0", "--out", str(model), "--quiet",
        ],
    )  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    parquet = write_cdm_files(tmp_path / "cdm43", tmp_path / "cdm43.duckdb", fmt="parquet")
    _build(f"spark://local[2]?path={parquet}", tmp_path / "spark", model)
    _build(f"duckdb://{tmp_path / 'cdm43.duckdb'}", tmp_path / "duck", model)
    spark_table = pq.read_table(tmp_path / "spark" / "dataset.parquet")
    duck_table = pq.read_table(tmp_path / "duck" / "dataset.parquet")
    assert spark_table.schema == duck_table.schema
    assert spark_table.equals(duck_table)
    names = [column["name"] for column in json.loads((model / "feature_schema.json").read_text())]
    assert spark_table.schema.names[5:] == names
    manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert manifest["engine"] == "spark"
    assert manifest["features_of"]["model"] == str(model)
