"""A folder of CSV or Parquet files, one per OMOP table, mapped to DuckDB views.

The views are created while DuckDB may still read files; the engine then allows exactly these
files (DuckDB's ``allowed_paths``) and switches external access off, so the views keep working
and nothing else on the machine can be read. CSV dates are parsed with the source's
``dateformat`` when one is given; without one, a date column whose every value reads both
day-first and month-first is warned about (DuckDB would silently pick one).
"""

from __future__ import annotations

import csv
import gzip
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prognosis.cohort.catalog import Finding, literal, quote
from prognosis.cohort.source_errors import csv_problem, first_line
from prognosis.exceptions import DataQualityWarning, SourceError

__all__ = ["FolderTable", "folder_tables", "map_folder"]

_READERS = {".parquet": "read_parquet", ".csv": "read_csv", ".gz": "read_csv"}


@dataclass(frozen=True)
class FolderTable:
    """One OMOP table of a folder: its (lower-case) name, absolute file path and reader."""

    table: str
    path: Path
    reader: str

    def read(self, options: str = "") -> str:
        """The ``read_csv(...)``/``read_parquet(...)`` call that reads this file."""
        more = ", header = true" + options if self.reader == "read_csv" else ""
        return f"{self.reader}({literal(str(self.path))}{more})"


def folder_tables(folder: Path) -> list[FolderTable]:
    """The tables of ``folder``: one ``.csv``, ``.csv.gz`` or ``.parquet`` file each.

    Raises
    ------
    SourceError
        If two files hold one table (``person.csv`` beside ``PERSON.csv`` or ``person.parquet``)
        or the folder holds no such file.
    """
    found: dict[str, FolderTable] = {}
    for path in sorted(folder.iterdir()):
        reader = _READERS.get(path.suffix.lower())
        if reader is None or (path.suffix == ".gz" and not path.name.endswith(".csv.gz")):
            continue
        table = path.name.split(".")[0].lower()
        if table in found:
            raise SourceError(
                f"source {folder}: files '{found[table].path.name}' and '{path.name}' both hold "
                f"table '{table}' (table names are matched case-insensitively); keep one of them"
            )
        found[table] = FolderTable(table, path.resolve(), reader)
    if not found:
        raise SourceError(
            f"source {folder}: the folder holds no .csv, .csv.gz or .parquet files "
            "(expected one file per OMOP table, e.g. person.csv)"
        )
    return list(found.values())


def map_folder(
    con: Any,
    error: type[Exception],
    folder: Path,
    schema: str,
    dateformat: str | None,
    findings: list[Finding],
) -> list[FolderTable]:
    """Create one view per table of ``folder`` in ``schema``; warn about ambiguous dates (each
    warning is also appended to ``findings``).

    ``con`` is a DuckDB connection still allowed to read files; ``error`` is ``duckdb.Error``.
    """
    tables = folder_tables(folder)
    options = f", dateformat = {literal(dateformat)}" if dateformat else ""
    for table in tables:
        try:
            con.execute(
                f"CREATE VIEW {schema}.{quote(table.table)} AS SELECT * FROM {table.read(options)}"
            )
            if table.reader == "read_csv" and not dateformat:
                findings += _ambiguous_dates(con, table, schema)
        except error as failure:
            message = str(failure)
            raise SourceError(
                csv_problem(message)
                or f"file '{table.path}': cannot be read ({first_line(message)})"
            ) from None
    return tables


def _ambiguous_dates(con: Any, table: FolderTable, schema: str) -> list[Finding]:
    """Warn for each date column whose every value reads as day/month and as month/day."""
    dates = [
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? AND data_type = 'DATE'",
            [schema, table.table],
        ).fetchall()
    ]
    if not dates or _starts_iso(table.path, dates):
        return []  # year first: no day/month question (and no second sniff of the file)
    sniffed = con.execute(
        f"SELECT DateFormat, Columns FROM sniff_csv({literal(str(table.path))}, header = true)"
    ).fetchone()
    chosen = sniffed[0] if sniffed else None
    if not chosen or "%d" not in chosen or "%m" not in chosen or chosen.startswith(("%Y", "%y")):
        return []
    other = chosen.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    columns = [column["name"] for column in sniffed[1] if column["type"] == "DATE"]
    if not columns:
        return []
    counts = ", ".join(
        f"COUNT({quote(c)}), COUNT(TRY_STRPTIME({quote(c)}, {literal(other)}))" for c in columns
    )
    row = con.execute(f"SELECT {counts} FROM {table.read(', all_varchar = true')}").fetchone()
    findings = []
    for position, column in enumerate(columns):
        values, also = row[2 * position], row[2 * position + 1]
        if values and values == also:
            finding = Finding(
                table.table,
                column,
                f"every date in file '{table.path}' reads both as {chosen} and as {other}; "
                f"read as {chosen}. If that is wrong, give the format on the source, e.g. "
                f"FOLDER?dateformat={other}",
            )
            warnings.warn(str(finding), DataQualityWarning, stacklevel=6)
            findings.append(finding)
    return findings


_ISO = re.compile(r"\s*[0-9]{4}-")


def _starts_iso(path: Path, columns: list[str], rows: int = 100) -> bool:
    """Whether the first values of ``columns`` in the CSV file are written year first."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        if not set(columns) <= set(reader.fieldnames or ()):
            return False  # another delimiter, say: let DuckDB's sniffer tell
        for _, row in zip(range(rows), reader, strict=False):
            values = [row.get(column) for column in columns]
            if any(value and not _ISO.match(value) for value in values):
                return False
    return True
