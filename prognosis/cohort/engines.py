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

from prognosis.cohort.files import FolderTable, map_folder
from prognosis.cohort.quality_types import Finding
from prognosis.cohort.source_errors import (
    csv_problem,
    first_line,
    locate_value,
    offending_value,
    secret_free,
)
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
    date_format: str | None = None  # strptime format of dates stored as text (CSV dateformat)
    origin: str = ""  # where the table's data lives, for messages ("file '/data/person.csv'")


class Engine(Protocol):
    dialect: str
    source: Source
    findings: list[Finding]  # data-quality findings met while opening the source (warned then)

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


_SPILL = "prognosis-duckdb-"  # spill folders: prognosis-duckdb-PID-XXXXXXXX in the temp folder


def remove_stale_spills() -> None:
    """Remove the spill folders of this user's DuckDB engines whose process is gone (killed
    before it could close its engine); the folder name carries the process id."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{_SPILL}*-*"):
        pid = folder.name.removeprefix(_SPILL).split("-", 1)[0]
        try:
            owned = folder.is_dir() and folder.lstat().st_uid == os.getuid()
        except OSError:
            continue
        if owned and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class DuckDBEngine:
    """DuckDB in memory; a DuckDB file is attached read-only, files are mapped to views.

    Once the source is mapped, the connection is locked down: no file outside the source can be
    read or written (``enable_external_access = false``; a folder's own files stay readable
    through ``allowed_paths``), no extension is installed or loaded, and no setting can change
    (``lock_configuration``). So a hostile CDM's views cannot read the machine's files. DuckDB
    spills to ``temp_directory``: a private folder (mode 0700) removed by :meth:`close`, or,
    after a crash, by the next engine (:func:`remove_stale_spills`).
    """

    dialect = "duckdb"
    assemble_locally = True

    def __init__(self, source: Source, *, memory_limit: str | None = None) -> None:
        import duckdb

        self.source = source
        self._duckdb = duckdb
        self._tables: dict[str, PhysicalTable] | None = None
        self._files: dict[str, FolderTable] = {}
        # data problems found while opening (ambiguous CSV dates), already warned about
        self.findings: list[Finding] = []
        self._con = duckdb.connect(":memory:", config=dict(_NO_EXTENSIONS))
        remove_stale_spills()
        self._spill: str | None = tempfile.mkdtemp(prefix=f"{_SPILL}{os.getpid()}-")  # 0700
        try:
            self._configure(memory_limit)
            if source.kind is SourceKind.DUCKDB:
                self._attach(Path(source.location))
                self._catalog, self._schema = "src", source.schema or "main"
            else:
                self._map_files(Path(source.location))
                self._catalog, self._schema = "memory", "src"
            self._lock()
            self._check_views()
        except BaseException:
            self.close()
            raise

    def _configure(self, memory_limit: str | None) -> None:
        # DuckDB would otherwise take 80 % of RAM and keep freed buffers; past the limit it
        # spills to disk, so a modest limit costs little and keeps builds inside a laptop
        limit = memory_limit or os.environ.get("PROGNOSIS_DUCKDB_MEMORY_LIMIT", "2GB")
        self._con.execute(f"SET memory_limit = {_literal(limit)}")
        self._con.execute("SET preserve_insertion_order = false")
        self._con.execute(f"SET temp_directory = {_literal(str(self._spill))}")

    def _attach(self, path: Path) -> None:
        try:
            self._con.execute(f"ATTACH {_literal(str(path))} AS src (READ_ONLY)")
        except self._duckdb.Error as error:
            raise SourceError(f"source {self.source.describe()}: cannot open ({error})") from None

    def _map_files(self, folder: Path) -> None:
        self._con.execute("CREATE SCHEMA src")
        dateformat = self.source.option("dateformat")
        tables = map_folder(self._con, self._duckdb.Error, folder, "src", dateformat, self.findings)
        self._files = {table.table: table for table in tables}
        paths = ", ".join(_literal(str(table.path)) for table in tables)
        self._con.execute(f"SET allowed_paths = [{paths}]")

    def _lock(self) -> None:
        """From here on the connection reads only the source: no files, extensions, settings."""
        for setting, value in _NO_EXTENSIONS:
            self._con.execute(f"SET {setting} = {str(value).lower()}")
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")

    def _check_views(self) -> None:
        """Bind every view of the source schema once: a view that reads files (``read_text``,
        ``read_csv``, ``glob``...) or needs an extension fails here, named."""
        views = self._con.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = ? AND schema_name = ? "
            "AND NOT internal ORDER BY view_name",
            [self._catalog, self._schema],
        ).fetchall()
        prefix = f"{_quote(self._catalog)}.{_quote(self._schema)}"
        for (view,) in views:
            if view in self._files:
                continue  # our own view of a folder's file, allowed by allowed_paths
            try:
                self._con.execute(f"SELECT * FROM {prefix}.{_quote(view)} LIMIT 0")
            except self._duckdb.PermissionException as error:
                raise SourceError(
                    f"source {self.source.describe()}: view '{view}' reads outside the database "
                    f"({first_line(error)}); prognosis reads a DuckDB CDM with file access, "
                    "extensions and settings switched off, so store the table's data in the file "
                    "itself (CREATE TABLE ... AS SELECT)"
                ) from None
            except self._duckdb.Error:
                continue  # broken for another reason: reported if a build reads it

    def tables(self) -> dict[str, PhysicalTable]:
        if self._tables is None:
            self._tables = self._read_tables()
        return self._tables

    def _read_tables(self) -> dict[str, PhysicalTable]:
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
        dateformat = self.source.option("dateformat")
        return {
            key: PhysicalTable(
                t.name,
                f"{prefix}.{_quote(t.name)}",
                t.columns,
                unique.get(key, frozenset()),
                date_format=dateformat,
                origin=f"file '{self._files[key].path}'" if key in self._files else "",
            )
            for key, t in tables.items()
        }

    def execute(self, sql: str) -> None:
        try:
            self._con.execute(sql)
        except self._duckdb.Error as error:
            translated = self._data_error(error)
            if translated is None:
                raise  # the caller names the step that failed
            raise translated from None

    def fetch_arrow(self, sql: str) -> pa.Table:
        try:
            return self._con.sql(sql).to_arrow_table()
        except self._duckdb.Error as error:
            raise self._source_error(error) from None

    def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self._con.execute(sql).fetchall()
        except self._duckdb.Error as error:
            raise self._source_error(error) from None

    def _source_error(self, error: Exception) -> SourceError:
        translated = self._data_error(error)
        if translated is not None:
            return translated
        return SourceError(f"source {self.source.describe()}: {first_line(error)}")

    def _data_error(self, error: Exception) -> SourceError | None:
        """A SourceError for the source's data (a refused file, a CSV file that cannot be
        read, a value that is no date), or None for other errors."""
        message = str(error)
        if isinstance(error, self._duckdb.PermissionException):
            return SourceError(
                f"source {self.source.describe()}: the source tried to read outside itself "
                f"({first_line(error)}); prognosis reads a CDM with file access switched off"
            )
        csv = csv_problem(message)
        converting = "Could not parse string" in message or "Could not convert" in message
        if csv is not None or isinstance(error, self._duckdb.ConversionException) or converting:
            return data_error(self, error, csv)
        return None

    def holds(self, table: PhysicalTable, column: str, value: str) -> bool:
        """Whether text ``column`` of ``table`` holds ``value`` (to name a bad value's place)."""
        sql = f"SELECT 1 FROM {table.reference} WHERE TRIM({_quote(column)}) = ? LIMIT 1"
        return bool(self._con.execute(sql, [value.strip()]).fetchall())

    def close(self) -> None:
        self._con.close()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)
            self._spill = None


class PostgresEngine:
    """A PostgreSQL server through psycopg 3; work tables are session-temporary.

    The password (from the URL, or libpq's own ``PGPASSWORD``, ``~/.pgpass`` or service file)
    is handed to libpq apart from the URL and masked in every message, psycopg's included.
    """

    dialect = "postgres"
    assemble_locally = True

    def __init__(self, source: Source) -> None:
        import psycopg

        self.source = source
        self.findings: list[Finding] = []
        self._psycopg = psycopg
        self._tables: dict[str, PhysicalTable] | None = None
        secrets = [source.password, os.environ.get("PGPASSWORD")]
        self._secrets = tuple(secret for secret in secrets if secret)
        extra = {"password": source.password} if source.password is not None else {}
        try:
            self._con = psycopg.connect(source.location, autocommit=True, **extra)
        except psycopg.Error as error:
            message = secret_free(first_line(error), self._secrets)
            raise SourceError(f"source {source.describe()}: cannot connect ({message})") from None
        self._schema = source.schema or "public"

    def tables(self) -> dict[str, PhysicalTable]:
        if self._tables is None:
            self._tables = self._read_tables()
        return self._tables

    def _read_tables(self) -> dict[str, PhysicalTable]:
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
        with self._guard(wrap_all=False), self._con.cursor() as cursor:
            cursor.execute(sql.encode())

    def fetch_rows_params(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._guard(), self._con.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._guard(), self._con.cursor() as cursor:
            cursor.execute(sql.encode())
            return cursor.fetchall()

    def fetch_arrow(self, sql: str) -> pa.Table:
        with self._guard(), self._con.cursor() as cursor:
            cursor.execute(sql.encode())
            names = [column.name for column in cursor.description or []]
            rows = cursor.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        pairs = zip(names, columns, strict=True)
        return pa.table({name: pa.array(list(values)) for name, values in pairs})

    @contextlib.contextmanager
    def _guard(self, *, wrap_all: bool = True) -> Iterator[None]:
        """Bad data (a text date that is no date) becomes a SourceError naming its place;
        other errors too, unless ``wrap_all`` is off (the caller names the step)."""
        try:
            yield
        except self._psycopg.DataError as error:
            raise data_error(self, error, None) from None
        except self._psycopg.Error as error:
            if not wrap_all:
                raise
            message = secret_free(first_line(error), self._secrets)
            raise SourceError(f"source {self.source.describe()}: {message}") from None

    def holds(self, table: PhysicalTable, column: str, value: str) -> bool:
        """Whether text ``column`` of ``table`` holds ``value`` (to name a bad value's place)."""
        sql = f"SELECT 1 FROM {table.reference} WHERE TRIM({_quote(column)}) = %s LIMIT 1"
        with self._con.cursor() as cursor:
            cursor.execute(sql.encode(), (value.strip(),))
            return cursor.fetchone() is not None

    def close(self) -> None:
        self._con.close()


def data_error(
    engine: DuckDBEngine | PostgresEngine, error: Exception, csv: str | None
) -> SourceError:
    """A SourceError naming the file or table, column and value a conversion failed on."""
    origin = f"source {engine.source.describe()}"
    if csv is not None:
        return SourceError(f"{origin}: {csv}")
    value = offending_value(str(error))
    place = None if value is None else locate_value(engine.tables(), value, engine.holds)
    if place is None:
        return SourceError(
            f"{origin}: a value could not be read ({first_line(error)}); correct it in the "
            "source, or leave it empty to mark it missing"
        )
    table, column = place
    where = f"{table.origin} (table '{table.name}')" if table.origin else f"table '{table.name}'"
    expected = table.date_format or "YYYY-MM-DD"
    return SourceError(
        f"{origin}: {where}, column '{column}': value {value!r} is not a date (expected "
        f"{expected}); correct it, or leave it empty to mark it missing"
    )


_NO_EXTENSIONS = (("autoinstall_known_extensions", False), ("autoload_known_extensions", False))


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
