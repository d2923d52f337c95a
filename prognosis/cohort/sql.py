"""SQL building blocks shared by the cohort and feature compilers.

Steps are written once, in DuckDB's dialect, and rendered for each engine by sqlglot.
Day offsets are always ``DATE_DIFF('day', earlier, later)``, so every window is an integer
comparison, the same on every engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot

from prognosis.cohort.definition import Window

__all__ = ["Step", "between", "create_table", "days", "in_set", "render"]


@dataclass(frozen=True)
class Step:
    """One work table: its name, what it does (for progress and printed SQL), its SELECT."""

    name: str
    description: str
    select: str


def render(sql: str, dialect: str) -> str:
    """Render a DuckDB-dialect statement in ``dialect`` through sqlglot (as written for DuckDB)."""
    if dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def create_table(step: Step, dialect: str) -> str:
    """``CREATE TEMPORARY TABLE name AS select`` in the engine's dialect.

    Spark has no temporary tables (sqlglot would write a view, recomputed by every later step):
    there a work table is a cached view, ``CACHE TABLE name AS select``, materialised at once.
    """
    if dialect == "spark":
        return f"CACHE TABLE {step.name} AS {render(step.select, dialect)}"
    return render(f"CREATE TEMPORARY TABLE {step.name} AS {step.select}", dialect)


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
