"""SQL building blocks shared by the cohort and feature compilers.

Steps are written once, in DuckDB's dialect, and rendered for each engine by sqlglot.
Day offsets are always ``DATE_DIFF('day', earlier, later)``, so every window is an integer
comparison, the same on every engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prognosis.cohort.definition import Window

__all__ = [
    "DIALECTS",
    "Step",
    "between",
    "create_table",
    "days",
    "id_array",
    "in_set",
    "render",
    "render_select",
]


#: The dialects cohort SQL is rendered in (the engines' and the ones `cohort sql` prints).
DIALECTS: tuple[str, ...] = ("duckdb", "postgres", "spark", "bigquery", "snowflake", "tsql")


@dataclass(frozen=True)
class Step:
    """One work table: its name, what it does (for progress and printed SQL), its SELECT.

    ``arrays`` holds long integer lists (concept ids) written into the SELECT as
    :func:`id_array` placeholders: sqlglot renders the statement with the placeholders and the
    numbers are put in afterwards, so 100,000 ids are never tokenised by sqlglot (which takes
    seconds for every 10,000 literals) and the statement renders the same in every dialect.

    ``row_id`` names the columns the rows are numbered by: the work table then gets a first
    column ``row_id``, 0 … n-1 in that order (``ROW_NUMBER() OVER (ORDER BY ...) - 1``, as
    :func:`create_table` writes it; an engine may number the rows another way with the same
    result, as Spark does without a global window).
    """

    name: str
    description: str
    select: str
    arrays: tuple[tuple[int, ...], ...] = ()
    row_id: tuple[str, ...] = ()


# a placeholder: "-9" and 17 digits, a number no concept id list produces in the statement
_PLACEHOLDER = re.compile(r"-9\d{17}")


def id_array(position: int) -> str:
    """The placeholder for ``Step.arrays[position]``, inside an array literal: ``[{...}]``."""
    return f"-9{position:017d}"


def _fill_arrays(sql: str, arrays: tuple[tuple[int, ...], ...], dialect: str) -> str:
    """Put each list of integers where its placeholder was rendered (one pass, so the numbers
    put in are never read again). T-SQL has no arrays: there each list becomes a VALUES list."""
    if not arrays:
        return sql
    separator = ", "
    if dialect == "tsql":
        sql = _TSQL_ARRAY.sub(r"(VALUES (\1))", sql)
        separator = "), ("
    found = _PLACEHOLDER.findall(sql)
    if sorted(found) != sorted(id_array(n) for n in range(len(arrays))):
        raise ValueError(f"internal error: array placeholders rendered as {found[:5]}")
    return _PLACEHOLDER.sub(
        lambda match: separator.join(map(str, arrays[int(match.group()[2:])])), sql
    )


_TSQL_ARRAY = re.compile(r"UNNEST\(ARRAY\((-9\d{17})\)\)")


def render(sql: str, dialect: str) -> str:
    """Render a DuckDB-dialect statement in ``dialect`` (one of :data:`DIALECTS`) through
    sqlglot (as written for DuckDB)."""
    if dialect == "duckdb":
        return sql
    import sqlglot  # only here: a DuckDB build never pays for importing it (about 0.3 s)

    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def create_table(step: Step, dialect: str) -> str:
    """``CREATE TEMPORARY TABLE name AS select`` in the engine's dialect.

    Spark has no temporary tables (sqlglot would write a view, recomputed by every later step):
    there a work table is a cached view, ``CACHE TABLE name AS select``, materialised at once.
    """
    select = _numbered(step)
    if dialect == "spark":
        sql = f"CACHE TABLE {step.name} AS {render(select, dialect)}"
    else:
        sql = render(f"CREATE TEMPORARY TABLE {step.name} AS {select}", dialect)
    return _fill_arrays(sql, step.arrays, dialect)


def render_select(step: Step, dialect: str) -> str:
    """The step's SELECT in ``dialect``, its id arrays filled in, without the ``row_id``
    column that :attr:`Step.row_id` asks for (the engine numbers the rows itself)."""
    return _fill_arrays(render(step.select, dialect), step.arrays, dialect)


def _numbered(step: Step) -> str:
    """The step's SELECT (DuckDB dialect) with its ``row_id`` column first, if it has one."""
    if not step.row_id:
        return step.select
    if not step.select.startswith("SELECT "):
        raise ValueError(f"internal error: step '{step.name}' numbers rows of no SELECT")
    order = ", ".join(step.row_id)
    rest = step.select.removeprefix("SELECT ")
    return f"SELECT ROW_NUMBER() OVER (ORDER BY {order}) - 1 AS row_id, {rest}"


def days(later: str, earlier: str = "index_date") -> str:
    """Whole days from ``earlier`` to ``later`` (negative when ``later`` comes first)."""
    return f"DATE_DIFF('day', {earlier}, {later})"


def between(expr: str, window: Window) -> str:
    """``expr`` inside the window, ends inclusive; an open end imposes nothing."""
    parts = []
    if window.start is not None:
        parts.append(f"{expr} >= {window.start}")
    if window.end is not None:
        parts.append(f"{expr} <= {window.end}")
    return " AND ".join(parts) or "TRUE"


def in_set(column: str, concept_set: str | None) -> str:
    """``column`` is a member of the named concept set (always true without a set)."""
    if concept_set is None:
        return "TRUE"
    return f"{column} IN (SELECT concept_id FROM concept_sets WHERE concept_set = '{concept_set}')"
