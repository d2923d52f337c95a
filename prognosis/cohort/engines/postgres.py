"""PostgreSQL as a cohort engine, through psycopg 3 (imported only when such a source is
opened); work tables are session-temporary."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from prognosis.cohort.catalog import (
    PhysicalTable,
    group_columns,
    quote,
    unique_columns,
)
from prognosis.cohort.engines.base import Engine, data_error
from prognosis.cohort.source_errors import first_line, secret_free
from prognosis.cohort.sources import Source
from prognosis.exceptions import SourceError

__all__ = ["PostgresEngine"]


class PostgresEngine(Engine):
    """A PostgreSQL server through psycopg 3; work tables are session-temporary.

    The password (from the URL, or libpq's own ``PGPASSWORD``, ``~/.pgpass`` or service file)
    is handed to libpq apart from the URL and masked in every message, psycopg's included.
    """

    dialect = "postgres"
    assemble_locally = True

    def __init__(self, source: Source) -> None:
        import psycopg

        super().__init__(source)
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
        tables = group_columns(rows, f"source {self.source.describe()}")
        unique = unique_columns(
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
                f"{quote(self._schema)}.{quote(t.name)}",
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
        sql = f"SELECT 1 FROM {table.reference} WHERE TRIM({quote(column)}) = %s LIMIT 1"
        with self._con.cursor() as cursor:
            cursor.execute(sql.encode(), (value.strip(),))
            return cursor.fetchone() is not None

    def close(self) -> None:
        self._con.close()
