"""SQL engines a cohort runs on. Each opens a :class:`Source`, lists its tables, runs SQL.

An engine knows nothing of cohorts: it executes SQL already rendered for its dialect and
returns results as Arrow tables.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from prognosis.cohort.sources import Source, SourceKind
from prognosis.exceptions import SourceError

__all__ = ["Engine", "PhysicalTable", "open_engine"]


@dataclass(frozen=True)
class PhysicalTable:
    """A source table as the database spells it: quoted reference and columns by lower name."""

    name: str
    reference: str
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower -> (actual, type)
    unique: frozenset[str] = frozenset()  # lower names of columns declared PRIMARY KEY/UNIQUE


class Engine(Protocol):
    dialect: str
    source: Source

    # True: the build fetches work tables and assembles the dataset on the client (fast for
    # engines on this machine); False: it pivots and joins in SQL, fetching only the result
    assemble_locally: bool

    def tables(self) -> dict[str, PhysicalTable]: ...

    def execute(self, sql: str) -> None: ...

    def fetch_arrow(self, sql: str) -> pa.Table: ...

    def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unique_columns(rows: list[tuple[str, list[str]]]) -> dict[str, frozenset[str]]:
    """Lower table name -> lower names of its columns that a one-column PRIMARY KEY or UNIQUE
    constraint declares unique (a constraint over several columns says nothing of one)."""
    unique: dict[str, set[str]] = {}
    for table, columns in rows:
        if len(columns) == 1:
            name = table.rsplit(".", 1)[-1].strip('"').lower()
            unique.setdefault(name, set()).add(columns[0].lower())
    return {table: frozenset(columns) for table, columns in unique.items()}


def _group_columns(rows: list[tuple[str, str, str]], origin: str) -> dict[str, PhysicalTable]:
    """Build the lower-case table map from (table, column, type) rows; refuse ambiguity."""
    by_table: dict[str, dict[str, tuple[str, str]]] = {}
    actual_names: dict[str, str] = {}
    for table, column, data_type in rows:
        key = table.lower()
        if key in actual_names and actual_names[key] != table:
            raise SourceError(
                f"{origin}: tables {actual_names[key]!r} and {table!r} differ only in case; "
                "prognosis matches table names case-insensitively, so keep only one"
            )
        actual_names[key] = table
        columns = by_table.setdefault(key, {})
        if column.lower() in columns and columns[column.lower()][0] != column:
            raise SourceError(
                f"{origin}: table {table!r} has columns {columns[column.lower()][0]!r} and "
                f"{column!r} that differ only in case"
            )
        columns[column.lower()] = (column, data_type.upper())
    return {key: PhysicalTable(actual_names[key], "", columns) for key, columns in by_table.items()}


class DuckDBEngine:
    """DuckDB in memory; a DuckDB file is attached read-only, files are mapped to views."""

    dialect = "duckdb"
    assemble_locally = True

    def __init__(self, source: Source, *, memory_limit: str | None = None) -> None:
        import duckdb

        self.source = source
        self._duckdb = duckdb
        self._con = duckdb.connect(":memory:")
        # DuckDB would otherwise take 80 % of RAM and keep freed buffers; past the limit it
        # spills to disk, so a modest limit costs little and keeps builds inside a laptop
        limit = memory_limit or os.environ.get("PROGNOSIS_DUCKDB_MEMORY_LIMIT", "2GB")
        self._con.execute(f"SET memory_limit = {_literal(limit)}")
        self._spill: str | None = None
        self._con.execute("SET preserve_insertion_order = false")
        if source.kind is SourceKind.DUCKDB:
            self._attach(Path(source.location))
            self._catalog, self._schema = "src", source.schema or "main"
        else:
            self._map_files(Path(source.location))
            self._catalog, self._schema = "memory", "src"
        self._spill = tempfile.mkdtemp(prefix="prognosis-duckdb-")  # removed by close()
        self._con.execute(f"SET temp_directory = {_literal(self._spill)}")

    def _attach(self, path: Path) -> None:
        try:
            self._con.execute(f"ATTACH {_literal(str(path))} AS src (READ_ONLY)")
        except self._duckdb.Error as error:
            raise SourceError(f"source {self.source.describe()}: cannot open ({error})") from None

    def _map_files(self, folder: Path) -> None:
        readers = {".parquet": "read_parquet", ".csv": "read_csv", ".gz": "read_csv"}
        self._con.execute("CREATE SCHEMA src")
        found = 0
        for path in sorted(folder.iterdir()):
            reader = readers.get(path.suffix.lower())
            if reader is None or (path.suffix == ".gz" and not path.name.endswith(".csv.gz")):
                continue
            table = path.name.split(".")[0].lower()
            options = ", header = true" if reader == "read_csv" else ""
            self._con.execute(
                f"CREATE VIEW src.{_quote(table)} AS "
                f"SELECT * FROM {reader}({_literal(str(path))}{options})"
            )
            found += 1
        if not found:
            raise SourceError(
                f"source {folder}: the folder holds no .csv, .csv.gz or .parquet files "
                "(expected one file per OMOP table, e.g. person.csv)"
            )

    def tables(self) -> dict[str, PhysicalTable]:
        rows = self._con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = ? ORDER BY table_name, ordinal_position",
            [self._catalog, self._schema],
        ).fetchall()
        if not rows:
            raise SourceError(
                f"source {self.source.describe()}: schema '{self._schema}' holds no tables "
                "(set ?schema=NAME to the schema of the OMOP CDM)"
            )
        tables = _group_columns(rows, f"source {self.source.describe()}")
        prefix = f"{_quote(self._catalog)}.{_quote(self._schema)}"
        unique = _unique_columns(
            self._con.execute(
                "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                "WHERE database_name = ? AND schema_name = ? "
                "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
                [self._catalog, self._schema],
            ).fetchall()
        )
        return {
            key: PhysicalTable(
                t.name, f"{prefix}.{_quote(t.name)}", t.columns, unique.get(key, frozenset())
            )
            for key, t in tables.items()
        }

    def execute(self, sql: str) -> None:
        self._con.execute(sql)

    def fetch_arrow(self, sql: str) -> pa.Table:
        return self._con.sql(sql).to_arrow_table()

    def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self._con.execute(sql).fetchall()

    def close(self) -> None:
        self._con.close()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)


class PostgresEngine:
    """A PostgreSQL server through psycopg 3; work tables are session-temporary."""

    dialect = "postgres"
    assemble_locally = True

    def __init__(self, source: Source) -> None:
        import psycopg

        self.source = source
        self._psycopg = psycopg
        try:
            self._con = psycopg.connect(source.location, autocommit=True)
        except psycopg.Error as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise SourceError(f"source {source.describe()}: cannot connect ({message})") from None
        self._schema = source.schema or "public"

    def tables(self) -> dict[str, PhysicalTable]:
        rows = self.fetch_rows_params(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
            (self._schema,),
        )
        if not rows:
            raise SourceError(
                f"source {self.source.describe()}: schema '{self._schema}' holds no tables "
                "(set ?schema=NAME in the URL to the schema of the OMOP CDM)"
            )
        tables = _group_columns(rows, f"source {self.source.describe()}")
        unique = _unique_columns(
            self.fetch_rows_params(
                "SELECT c.conrelid::regclass::text, array_agg(a.attname::text) "
                "FROM pg_constraint AS c JOIN pg_namespace AS n ON n.oid = c.connamespace "
                "JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
                "WHERE n.nspname = %s AND c.contype IN ('p', 'u') "
                "GROUP BY c.oid, c.conrelid",
                (self._schema,),
            )
        )
        return {
            key: PhysicalTable(
                t.name,
                f"{_quote(self._schema)}.{_quote(t.name)}",
                t.columns,
                unique.get(key, frozenset()),
            )
            for key, t in tables.items()
        }

    def execute(self, sql: str) -> None:
        with self._con.cursor() as cursor:
            cursor.execute(sql.encode())

    def fetch_rows_params(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._con.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._con.cursor() as cursor:
            cursor.execute(sql.encode())
            return cursor.fetchall()

    def fetch_arrow(self, sql: str) -> pa.Table:
        with self._con.cursor() as cursor:
            cursor.execute(sql.encode())
            names = [column.name for column in cursor.description or []]
            rows = cursor.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        pairs = zip(names, columns, strict=True)
        return pa.table({name: pa.array(list(values)) for name, values in pairs})

    def close(self) -> None:
        self._con.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextlib.contextmanager
def open_engine(source: Source) -> Iterator[Engine]:
    """Open the engine a source needs; always closed on exit."""
    engine: Engine
    if source.kind is SourceKind.SPARK:  # pyspark is optional: imported only here
        from prognosis.cohort.spark_engine import SparkEngine

        engine = SparkEngine(source)
    elif source.kind is SourceKind.POSTGRES:
        engine = PostgresEngine(source)
    else:
        engine = DuckDBEngine(source)
    try:
        yield engine
    finally:
        engine.close()
