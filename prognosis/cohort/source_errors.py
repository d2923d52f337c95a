"""A database's complaint about the source's data, said as one sentence a user can act on.

DuckDB and PostgreSQL report a bad value without saying where it is ("invalid date field
format: "unknown""), and DuckDB's CSV reader adds twenty lines of hints. These helpers pull out
the file, line, column and value, and :func:`locate_value` finds the table and column that hold
a value the database could not convert.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import quote

from prognosis.cohort.catalog import PhysicalTable

__all__ = [
    "TEXT_TYPES",
    "csv_problem",
    "first_line",
    "locate_value",
    "offending_value",
    "secret_free",
]

TEXT_TYPES = ("VARCHAR", "TEXT", "CHARACTER VARYING", "CHARACTER", "STRING", "CHAR", "BPCHAR")

_CSV_FILE = re.compile(r"^\s*file = (.+?)\s*$", re.MULTILINE)
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CSV_COLUMN = re.compile(
    r'converting column "(.+?)"\. Could not convert string "(.*?)" to \'(\w+)\''
)
_CSV_DATE_FORMAT = re.compile(r"^\s*date_format = (\S*) \(([^)]*)\)", re.MULTILINE)
_QUOTED = re.compile(r'"([^"]*)"')


def first_line(message: object) -> str:
    """The first non-empty line of an error's text (the rest is hints and context)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[0] if lines else repr(message)


def offending_value(message: str) -> str | None:
    """The value a database could not convert: the first double-quoted text of its message's
    first line (DuckDB and PostgreSQL both quote it so)."""
    found = _QUOTED.search(first_line(message))
    return found.group(1) if found else None


def csv_problem(message: str) -> str | None:
    """DuckDB's CSV reader error (file, line, column, value) as one sentence, or None when the
    message is not one."""
    file = _CSV_FILE.search(message)
    if file is None:
        return None
    line = _CSV_LINE.search(message)
    at = f", line {line.group(1)}" if line else ""
    if "invalid unicode" in message.lower():
        return (
            f"file '{file.group(1)}' is not UTF-8 text{at}; save it as UTF-8 (for example "
            f"iconv -f latin1 -t utf-8) and build again"
        )
    converting = _CSV_COLUMN.search(message)
    if converting:
        column, value, kind = converting.groups()
        return (
            f"file '{file.group(1)}', column '{column}'{at}: value {value!r} is not a "
            f"{kind.lower()}{_date_advice(kind, message)} correct it, or leave it empty to mark "
            "it missing"
        )
    return f"file '{file.group(1)}'{at}: {_csv_reason(message)}"


def _date_advice(kind: str, message: str) -> str:
    """What to do about a CSV date that does not fit the format used to read the file."""
    used = _CSV_DATE_FORMAT.search(message)
    if kind != "DATE" or used is None or not used.group(1):
        return ";"
    if used.group(2) == "Set By User":
        return f" in the source's dateformat ({used.group(1)}):"
    return (
        f" in the format read from the file's first rows ({used.group(1)}); if the file uses "
        "another, give it on the source (FOLDER?dateformat=%m/%d/%Y), else"
    )


def _csv_reason(message: str) -> str:
    """The line of a DuckDB CSV error that says what went wrong (after 'Original Line')."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for position, line in enumerate(lines):
        if line.startswith("Original Line") and position + 1 < len(lines):
            return lines[position + 1]
    return first_line(message)


def locate_value(
    tables: dict[str, PhysicalTable],
    value: str,
    holds: Callable[[PhysicalTable, str, str], bool],
) -> tuple[PhysicalTable, str] | None:
    """The first (table, column) among the text columns that OMOP types as dates whose data
    holds ``value`` (``holds(table, actual_column, value)`` asks the database)."""
    for _, table in sorted(tables.items()):
        for actual in _text_date_columns(table):
            if holds(table, actual, value):
                return table, actual
    return None


def _text_date_columns(table: PhysicalTable) -> Iterable[str]:
    for lower, (actual, data_type) in table.columns.items():
        if lower.endswith(("_date", "_datetime")) and data_type.startswith(TEXT_TYPES):
            yield actual


def secret_free(message: str, secrets: Iterable[str]) -> str:
    """``message`` with each secret, and its URL-encoded and libpq-quoted forms, as ``***``."""
    for secret in secrets:
        forms = {secret, quote(secret, safe=""), quote(secret), secret.replace("'", "\\'")}
        for form in sorted(forms, key=len, reverse=True):
            message = message.replace(form, "***")
    return message
