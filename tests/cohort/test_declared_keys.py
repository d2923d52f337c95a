"""Declared primary keys: the engines read them, and the build then skips its duplicate check.

OMOP's DDL declares each event table's record id a primary key; a source that does so
guarantees what the duplicate-record-id check (the dearest data-quality query) would look for.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import psycopg
import pytest

from prognosis.cohort import load_definition, parse_source
from prognosis.cohort.engines import open_engine
from prognosis.cohort.staging import plan_staging
from tests.support.cdm import write_cdm

DEFINITION = Path("cohorts/gi_bleed_nsaid.yaml")


@pytest.fixture
def keyed_cdm(tmp_path: Path) -> Path:
    path = tmp_path / "cdm.duckdb"
    write_cdm(path, {"person": [{"person_id": 1, "gender_concept_id": 8507}]})
    con = duckdb.connect(str(path))
    try:  # DuckDB cannot add a primary key to a table: re-create one with it
        con.execute("DROP TABLE drug_exposure")
        con.execute(
            "CREATE TABLE drug_exposure (drug_exposure_id BIGINT PRIMARY KEY, person_id BIGINT, "
            "drug_concept_id BIGINT, drug_exposure_start_date DATE)"
        )
    finally:
        con.close()
    return path


def test_duckdb_engine_reads_declared_primary_keys(keyed_cdm: Path) -> None:
    with open_engine(parse_source(f"duckdb:///{keyed_cdm}")) as engine:
        tables = engine.tables()
        views, _ = plan_staging(load_definition(DEFINITION), tables)
    assert tables["drug_exposure"].unique == {"drug_exposure_id"}
    assert tables["person"].unique == frozenset()
    by_table = {view.table: view for view in views}
    assert by_table["drug_exposure"].unique_ids
    assert not by_table["condition_occurrence"].unique_ids


@pytest.mark.postgres
def test_postgres_engine_reads_declared_primary_keys(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS keyed CASCADE")
        con.execute("CREATE SCHEMA keyed")
        con.execute('CREATE TABLE keyed."DRUG_EXPOSURE" ("DRUG_EXPOSURE_ID" BIGINT PRIMARY KEY)')
        con.execute("CREATE TABLE keyed.measurement (measurement_id BIGINT UNIQUE, x INT)")
        con.execute(
            "CREATE TABLE keyed.condition_occurrence (a BIGINT, b BIGINT, PRIMARY KEY (a, b))"
        )
    with open_engine(parse_source(f"{postgres_url}?schema=keyed")) as engine:
        tables = engine.tables()
    assert tables["drug_exposure"].unique == {"drug_exposure_id"}
    assert tables["measurement"].unique == {"measurement_id"}
    assert tables["condition_occurrence"].unique == frozenset()  # two columns: says nothing
