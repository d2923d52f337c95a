"""DuckDB as a cohort engine: in memory, a DuckDB file attached read-only or a folder of
files mapped to views, and locked down before the source is read."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from prognosis.cohort.catalog import (
    PhysicalTable,
    group_columns,
    literal,
    quote,
    unique_columns,
)
from prognosis.cohort.engines.base import Engine, data_error
from prognosis.cohort.files import FolderTable, map_folder
from prognosis.cohort.source_errors import csv_problem, first_line
from prognosis.cohort.sources import Source, SourceKind
from prognosis.exceptions import SourceError

__all__ = ["DuckDBEngine", "remove_stale_spills"]

_NO_EXTENSIONS = (("autoinstall_known_extensions", False), ("autoload_known_extensions", False))


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


class DuckDBEngine(Engine):
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

        super().__init__(source)
        self._duckdb = duckdb
        self._tables: dict[str, PhysicalTable] | None = None
        self._files: dict[str, FolderTable] = {}
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
        self._con.execute(f"SET memory_limit = {literal(limit)}")
        self._con.execute("SET preserve_insertion_order = false")
        self._con.execute(f"SET temp_directory = {literal(str(self._spill))}")

    def _attach(self, path: Path) -> None:
        try:
            self._con.execute(f"ATTACH {literal(str(path))} AS src (READ_ONLY)")
        except self._duckdb.Error as error:
            raise SourceError(f"source {self.source.describe()}: cannot open ({error})") from None

    def _map_files(self, folder: Path) -> None:
        self._con.execute("CREATE SCHEMA src")
        dateformat = self.source.option("dateformat")
        tables = map_folder(self._con, self._duckdb.Error, folder, "src", dateformat, self.findings)
        self._files = {table.table: table for table in tables}
        paths = ", ".join(literal(str(table.path)) for table in tables)
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
        prefix = f"{quote(self._catalog)}.{quote(self._schema)}"
        for (view,) in views:
            if view in self._files:
                continue  # our own view of a folder's file, allowed by allowed_paths
            try:
                self._con.execute(f"SELECT * FROM {prefix}.{quote(view)} LIMIT 0")
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
        tables = group_columns(rows, f"source {self.source.describe()}")
        prefix = f"{quote(self._catalog)}.{quote(self._schema)}"
        unique = unique_columns(
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
                f"{prefix}.{quote(t.name)}",
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
        sql = f"SELECT 1 FROM {table.reference} WHERE TRIM({quote(column)}) = ? LIMIT 1"
        return bool(self._con.execute(sql, [value.strip()]).fetchall())

    def close(self) -> None:
        self._con.close()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)
            self._spill = None
