"""A throwaway PostgreSQL server for tests, and a loader that copies a DuckDB CDM into one.

One implementation serves both callers: the fixtures in ``tests/conftest.py`` use
:func:`temporary_postgres`, and ``.ci/run`` starts and stops a server around ``make test`` with

    python -m tests.support.postgres start STATE_FILE   # prints the server's URL
    python -m tests.support.postgres stop STATE_FILE

The server lives in a temporary directory (data, Unix socket, log), listens on 127.0.0.1 only, on
a free port, and trusts every local connection. PostgreSQL refuses to run as root, so as root the
binaries run as the ``postgres`` user, created if missing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

__all__ = [
    "PostgresNotFoundError",
    "PostgresServer",
    "find_postgres_bindir",
    "load_duckdb_into_postgres",
    "start_postgres",
    "stop_postgres",
    "temporary_postgres",
]

ROLE = "prognosis"
DATABASE = "prognosis_test"
SERVER_OS_USER = "postgres"  # runs the server when we are root
TIMEOUT_S = 60
_PORT_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it
_COPY_BATCH_ROWS = 50_000


class PostgresNotFoundError(RuntimeError):
    """No PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``postgres``) could be found."""


@dataclasses.dataclass(frozen=True)
class PostgresServer:
    """A running server: where its binaries and files are, its port, and who runs it."""

    bindir: str
    root: str  # temporary directory holding data/, the Unix socket and server.log
    port: int
    os_user: str | None  # the binaries run as this user; None: as ourselves

    @property
    def url(self) -> str:
        """URL of the test database, e.g. ``postgresql://prognosis@127.0.0.1:5433/prognosis_test``."""
        return self.database_url(DATABASE)

    def database_url(self, database: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return Path(self.root) / "data"

    @property
    def log_file(self) -> Path:
        return Path(self.root) / "server.log"


def find_postgres_bindir() -> Path:
    """Find a directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Looks where ``pg_ctl`` on PATH really lives, then in ``/usr/lib/postgresql/*/bin`` (Debian
    keeps server binaries there, off PATH), newest version first.

    Raises
    ------
    PostgresNotFoundError
        If no such directory exists.
    """
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(debian, key=lambda bindir: _version_key(bindir.parent.name), reverse=True)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresNotFoundError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH nor in "
        "/usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql) or set "
        "PROGNOSIS_TEST_POSTGRES_URL to a server of your own"
    )


def start_postgres(bindir: Path | None = None) -> PostgresServer:
    """Initialise and start a server in a new temporary directory; create the test database.

    Parameters
    ----------
    bindir
        Directory of the server binaries; found with :func:`find_postgres_bindir` when omitted.

    Returns
    -------
    PostgresServer
        The running server; pass it to :func:`stop_postgres` when done.
    """
    bindir = bindir or find_postgres_bindir()
    os_user = _server_os_user() if os.geteuid() == 0 else None
    root = tempfile.mkdtemp(prefix="prognosis-pg-")
    if os_user:
        shutil.chown(root, user=os_user)
    server = PostgresServer(bindir=str(bindir), root=root, port=0, os_user=os_user)
    try:
        _run(server, "initdb", "-D", str(server.data_dir), "-U", ROLE, "--auth=trust",
             "--encoding=UTF8", "--no-locale", "--no-sync")  # fmt: skip
        server = _start_on_free_port(server)
        with psycopg.connect(server.database_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    except BaseException:
        stop_postgres(server)
        raise
    return server


def stop_postgres(server: PostgresServer) -> None:
    """Stop the server if it runs, and remove its temporary directory."""
    try:
        if (server.data_dir / "postmaster.pid").exists():
            try:
                _pg_ctl(server, "stop", "-m", "fast")
            except RuntimeError:
                _pg_ctl(server, "stop", "-m", "immediate")
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


@contextlib.contextmanager
def temporary_postgres(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """Run a server for the duration of a ``with`` block; see :func:`start_postgres`."""
    server = start_postgres(bindir)
    try:
        yield server
    finally:
        stop_postgres(server)


def load_duckdb_into_postgres(duckdb_path: Path, postgres_url: str, schema: str) -> None:
    """Copy every table of a DuckDB database into a PostgreSQL schema, replacing the schema.

    Table and column names are kept exactly (quoted), types are mapped to their PostgreSQL
    equivalents (a VARCHAR column stays text even if it holds numbers), and rows are bulk-loaded
    with ``COPY FROM STDIN``: quirks of the source survive, on purpose.

    Parameters
    ----------
    duckdb_path
        The DuckDB file; opened read-only.
    postgres_url
        A libpq URL of the target database.
    schema
        The target schema; dropped (with everything in it) and created afresh.

    Raises
    ------
    ValueError
        If a column has a type with no PostgreSQL mapping here, or two DuckDB schemas hold
        tables of the same name.
    """
    with duckdb.connect(str(duckdb_path), read_only=True) as source:
        tables = _duckdb_tables(source)
        with psycopg.connect(postgres_url) as target, target.cursor() as cursor:
            target_schema = sql.Identifier(schema)
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(target_schema))
            cursor.execute(sql.SQL("CREATE SCHEMA {}").format(target_schema))
            for (duck_schema, table), columns in tables.items():
                _create_table(cursor, schema, table, columns)
                _copy_rows(source, cursor, (duck_schema, table), (schema, table), columns)


@dataclasses.dataclass(frozen=True)
class _Column:
    name: str
    duckdb_type: str
    nullable: bool


_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39, 0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20, 0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "BLOB": "bytea",
    "UUID": "uuid",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def _postgres_type(column: _Column, table: str) -> str:
    if column.duckdb_type in _TYPES:
        return _TYPES[column.duckdb_type]
    if decimal := _DECIMAL.fullmatch(column.duckdb_type):
        return f"numeric({decimal[1]}, {decimal[2]})"
    raise ValueError(
        f"column {table}.{column.name} has DuckDB type {column.duckdb_type}, which has no "
        f"PostgreSQL mapping in load_duckdb_into_postgres (known: {', '.join(_TYPES)}, DECIMAL)"
    )


def _duckdb_tables(source: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[_Column]]:
    rows = source.execute(
        """
        SELECT c.schema_name, c.table_name, c.column_name, c.data_type, c.is_nullable
        FROM duckdb_columns() AS c
        JOIN duckdb_tables() AS t USING (database_name, schema_name, table_name)
        WHERE c.database_name = current_database() AND NOT t.internal AND NOT t.temporary
        ORDER BY c.schema_name, c.table_name, c.column_index
        """
    ).fetchall()
    tables: dict[tuple[str, str], list[_Column]] = {}
    for schema, table, name, duckdb_type, nullable in rows:
        tables.setdefault((schema, table), []).append(_Column(name, duckdb_type, nullable))
    names = [table for _, table in tables]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"tables {duplicates} exist in more than one DuckDB schema")
    return tables


def _create_table(cursor: psycopg.Cursor, schema: str, table: str, columns: list[_Column]) -> None:
    definitions = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(column.name),
            sql.SQL(_postgres_type(column, table)),
            sql.SQL("" if column.nullable else " NOT NULL"),
        )
        for column in columns
    ]
    cursor.execute(
        sql.SQL("CREATE TABLE {} ({})").format(
            sql.Identifier(schema, table), sql.SQL(", ").join(definitions)
        )
    )


def _copy_rows(
    source: duckdb.DuckDBPyConnection,
    cursor: psycopg.Cursor,
    from_table: tuple[str, str],
    to_table: tuple[str, str],
    columns: list[_Column],
) -> None:
    names = [column.name for column in columns]
    select = "SELECT {} FROM {}".format(
        ", ".join(map(_duckdb_identifier, names)), ".".join(map(_duckdb_identifier, from_table))
    )
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(*to_table), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    result = source.execute(select)
    with cursor.copy(copy) as writer:
        while batch := result.fetchmany(_COPY_BATCH_ROWS):
            for row in batch:
                writer.write_row(row)


def _duckdb_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _server_os_user() -> str:
    """The unprivileged user to run the server as (we are root); created if missing."""
    try:
        pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--shell", "/usr/sbin/nologin", SERVER_OS_USER],
            check=True, capture_output=True,
        )  # fmt: skip
    return SERVER_OS_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_on_free_port(server: PostgresServer) -> PostgresServer:
    attempts_left = _PORT_ATTEMPTS
    while True:
        server = dataclasses.replace(server, port=_free_port())
        # Durability is pointless for a server that is deleted after the tests.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {shlex.quote(server.root)} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            _pg_ctl(server, "start", "-l", str(server.log_file), "-o", options)
            return server
        except RuntimeError:
            attempts_left -= 1
            if not attempts_left:
                raise


def _pg_ctl(server: PostgresServer, action: str, *args: str) -> None:
    _run(server, "pg_ctl", action, "-D", str(server.data_dir), "-w", "-t", str(TIMEOUT_S), *args)


def _run(server: PostgresServer, program: str, *args: str) -> None:
    """Run one of the server binaries (as the server's user); raise with its output on failure."""
    command = [str(Path(server.bindir) / program), *args]
    if server.os_user:
        command = ["runuser", "-u", server.os_user, "--", *command]
    completed = subprocess.run(
        command, cwd=server.root, capture_output=True, text=True, timeout=TIMEOUT_S + 30
    )
    if completed.returncode != 0:
        log = server.log_file.read_text(errors="replace") if server.log_file.exists() else ""
        raise RuntimeError(
            f"{shlex.join(command)} exited with {completed.returncode}:\n"
            f"{completed.stdout}{completed.stderr}{log[-4000:]}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """``start STATE_FILE`` prints the URL of a new server; ``stop STATE_FILE`` stops it."""
    parser = argparse.ArgumentParser("python -m tests.support.postgres", description=main.__doc__)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("state_file", type=Path, help="where start records the server for stop")
    args = parser.parse_args(argv)
    if args.action == "start":
        server = start_postgres()
        args.state_file.write_text(json.dumps(dataclasses.asdict(server)))
        print(server.url)
    elif args.state_file.exists() and args.state_file.read_text().strip():
        stop_postgres(PostgresServer(**json.loads(args.state_file.read_text())))
        args.state_file.unlink()


if __name__ == "__main__":
    main(sys.argv[1:])
