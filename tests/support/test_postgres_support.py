"""A real PostgreSQL server for tests, and Eunomia loaded into it unchanged, quirks and all."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import psycopg
import pytest

from tests.support.postgres import load_duckdb_into_postgres

pytestmark = pytest.mark.postgres


def _duckdb_counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _columns(postgres_url: str, schema: str, table: str) -> dict[str, str]:
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()
    return dict(rows)


def test_server_is_real_postgresql(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
    assert int(version) >= 120000


def test_every_eunomia_table_arrives_with_all_its_rows(
    eunomia_postgres_url: str, postgres_url: str, eunomia_path: Path
) -> None:
    expected = _duckdb_counts(eunomia_path)
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'eunomia'"
        ).fetchall()
        loaded = {
            t: conn.execute(f'SELECT count(*) FROM eunomia."{t}"').fetchone()[0] for (t,) in tables
        }
    assert parse_qs(urlsplit(eunomia_postgres_url).query)["schema"] == ["eunomia"]
    assert len(expected) == 38  # Eunomia's 38 tables, counted in the DuckDB file
    assert loaded == expected
    assert loaded["measurement"] == 44053


def test_upper_case_column_names_survive(eunomia_postgres_url: str, postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        person_id = conn.execute('SELECT "PERSON_ID" FROM eunomia.person LIMIT 1').fetchone()[0]
    assert isinstance(person_id, int)


def test_odd_column_types_are_kept(eunomia_postgres_url: str, postgres_url: str) -> None:
    ancestor = _columns(postgres_url, "eunomia", "concept_ancestor")
    measurement = _columns(postgres_url, "eunomia", "measurement")
    assert ancestor["ANCESTOR_CONCEPT_ID"] == "double precision"
    assert ancestor["DESCENDANT_CONCEPT_ID"] == "bigint"
    assert measurement["VALUE_AS_NUMBER"] == "text"
    assert measurement["MEASUREMENT_DATE"] == "date"


def test_malformed_death_table_is_copied_as_is(
    eunomia_postgres_url: str, postgres_url: str
) -> None:
    assert set(_columns(postgres_url, "eunomia", "death").values()) == {"text"}
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT * FROM eunomia.death").fetchall()
    # One row, and it is the CSV header that was loaded as data.
    assert rows == [
        (
            "PERSON_ID",
            "DEATH_DATE",
            "DEATH_DATETIME",
            "DEATH_TYPE_CONCEPT_ID",
            "CAUSE_CONCEPT_ID",
            "CAUSE_SOURCE_VALUE",
            "CAUSE_SOURCE_CONCEPT_ID",
        )
    ]


def test_values_nulls_and_types_round_trip(tmp_path: Path, postgres_url: str) -> None:
    rows = [
        (1, Decimal("12.50"), 0.1, True, "tab\tnewline\nbackslash\\", date(2020, 2, 29),
         datetime(2020, 1, 1, 10, 30)),
        (2, None, None, None, "", None, None),
        (3, None, float("inf"), False, None, None, None),
    ]  # fmt: skip
    source = tmp_path / "small.duckdb"
    with duckdb.connect(str(source)) as con:
        con.execute(
            'CREATE TABLE "Mixed" ("ID" BIGINT NOT NULL, amount DECIMAL(10, 2), score DOUBLE,'
            " flag BOOLEAN, note VARCHAR, day DATE, seen TIMESTAMP)"
        )
        con.executemany('INSERT INTO "Mixed" VALUES (?, ?, ?, ?, ?, ?, ?)', rows)

    load_duckdb_into_postgres(source, postgres_url, "round_trip")

    with psycopg.connect(postgres_url) as conn:
        loaded = conn.execute('SELECT * FROM round_trip."Mixed" ORDER BY "ID"').fetchall()
        id_nullable = conn.execute(
            "SELECT is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'round_trip' AND column_name = 'ID'"
        ).fetchone()[0]
        conn.execute("DROP SCHEMA round_trip CASCADE")
    assert loaded == rows
    assert id_nullable == "NO"


def test_loading_again_replaces_the_schema(tmp_path: Path, postgres_url: str) -> None:
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    with duckdb.connect(str(first)) as con:
        con.execute("CREATE TABLE old_table AS SELECT 1 AS x")
    with duckdb.connect(str(second)) as con:
        con.execute("CREATE TABLE new_table AS SELECT 2 AS y")
    load_duckdb_into_postgres(first, postgres_url, "replaced")
    load_duckdb_into_postgres(second, postgres_url, "replaced")
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'replaced'"
        ).fetchall()
        conn.execute("DROP SCHEMA replaced CASCADE")
    assert tables == [("new_table",)]


def test_unsupported_type_names_the_column(tmp_path: Path, postgres_url: str) -> None:
    source = tmp_path / "lists.duckdb"
    with duckdb.connect(str(source)) as con:
        con.execute("CREATE TABLE bag AS SELECT [1, 2] AS items")
    with pytest.raises(ValueError, match=r"column bag\.items has DuckDB type INTEGER\[\]"):
        load_duckdb_into_postgres(source, postgres_url, "unsupported")
