"""A large dataset is written by Spark as a folder of part files, read back like one file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prognosis.cohort.engines.spark import write_parquet
from prognosis.dataset import load_dataset

pytestmark = pytest.mark.spark


def test_more_rows_than_one_file_holds_make_ordered_part_files(
    spark: Any, spark_build: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    built = spark_build[0]
    folder = tmp_path / "gi_bleed_nsaid"
    folder.mkdir()
    for name in ("features.json", "manifest.json"):
        shutil.copy(built / name, folder / name)
    frame = spark.read.parquet(str(built / "dataset.parquet")).repartition(3)  # shuffled rows
    write_parquet(frame, folder / "dataset.parquet", rows=2630, rows_per_file=1000)
    parts = sorted(p.name for p in (folder / "dataset.parquet").iterdir())
    assert parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    pd.testing.assert_frame_equal(load_dataset(folder).frame, load_dataset(built).frame)
