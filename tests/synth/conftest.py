"""Fixtures of the generator tests: the session's 3,000-person synthetic CDM (seed 7, the one
``synth_af_stroke`` is built on), as a path and as a read-only DuckDB connection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="module")
def cdm(synth_af_stroke: Path) -> Path:
    return synth_af_stroke.parent / "cdm.duckdb"


@pytest.fixture(scope="module")
def con(cdm: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(cdm), read_only=True)
    yield connection
    connection.close()
