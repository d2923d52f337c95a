"""Tiny hand-made OMOP CDMs for tests: a few persons, every value chosen by the test.

``write_cdm(path, {"person": [...], "drug_exposure": [...]})`` writes a DuckDB file holding every
table the cohort engine reads, with standard OMOP column names and types; tables not given are
created empty. Rows are dicts; columns not given are NULL (ids are numbered automatically).
Dates may be ``datetime.date`` or ISO strings.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["TABLES", "write_cdm", "write_cdm_files"]

TABLES: dict[str, dict[str, str]] = {
    "person": {
        "person_id": "BIGINT",
        "gender_concept_id": "BIGINT",
        "year_of_birth": "INTEGER",
        "month_of_birth": "INTEGER",
        "day_of_birth": "INTEGER",
        "race_concept_id": "BIGINT",
        "ethnicity_concept_id": "BIGINT",
        "person_source_value": "VARCHAR",
    },
    "observation_period": {
        "observation_period_id": "BIGINT",
        "person_id": "BIGINT",
        "observation_period_start_date": "DATE",
        "observation_period_end_date": "DATE",
        "period_type_concept_id": "BIGINT",
    },
    "concept": {
        "concept_id": "BIGINT",
        "concept_name": "VARCHAR",
        "domain_id": "VARCHAR",
        "vocabulary_id": "VARCHAR",
        "concept_class_id": "VARCHAR",
        "standard_concept": "VARCHAR",
        "concept_code": "VARCHAR",
    },
    "concept_ancestor": {
        "ancestor_concept_id": "BIGINT",
        "descendant_concept_id": "BIGINT",
        "min_levels_of_separation": "INTEGER",
        "max_levels_of_separation": "INTEGER",
    },
    "condition_occurrence": {
        "condition_occurrence_id": "BIGINT",
        "person_id": "BIGINT",
        "condition_concept_id": "BIGINT",
        "condition_start_date": "DATE",
        "condition_end_date": "DATE",
        "condition_source_value": "VARCHAR",
    },
    "drug_exposure": {
        "drug_exposure_id": "BIGINT",
        "person_id": "BIGINT",
        "drug_concept_id": "BIGINT",
        "drug_exposure_start_date": "DATE",
        "drug_exposure_end_date": "DATE",
        "days_supply": "INTEGER",
        "drug_source_value": "VARCHAR",
    },
    "procedure_occurrence": {
        "procedure_occurrence_id": "BIGINT",
        "person_id": "BIGINT",
        "procedure_concept_id": "BIGINT",
        "procedure_date": "DATE",
    },
    "measurement": {
        "measurement_id": "BIGINT",
        "person_id": "BIGINT",
        "measurement_concept_id": "BIGINT",
        "measurement_date": "DATE",
        "value_as_number": "DOUBLE",
        "unit_concept_id": "BIGINT",
    },
    "observation": {
        "observation_id": "BIGINT",
        "person_id": "BIGINT",
        "observation_concept_id": "BIGINT",
        "observation_date": "DATE",
        "value_as_number": "DOUBLE",
    },
    "visit_occurrence": {
        "visit_occurrence_id": "BIGINT",
        "person_id": "BIGINT",
        "visit_concept_id": "BIGINT",
        "visit_start_date": "DATE",
        "visit_end_date": "DATE",
    },
    "death": {
        "person_id": "BIGINT",
        "death_date": "DATE",
        "death_type_concept_id": "BIGINT",
        "cause_concept_id": "BIGINT",
    },
}


def _id_column(table: str) -> str | None:
    name = f"{table}_id"
    return name if name in TABLES.get(table, {}) else None


def _rows(table: str, rows: list[dict[str, Any]], columns: dict[str, str]) -> list[tuple]:
    id_column = _id_column(table)
    filled = []
    for number, row in enumerate(rows, start=1):
        unknown = set(row) - set(columns)
        if unknown:
            raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
        values = dict(row)
        if id_column and id_column not in values and table != "person":
            values[id_column] = number
        filled.append(tuple(_value(values.get(column)) for column in columns))
    return filled


def _value(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return dt.date.fromisoformat(value)
    return value


def write_cdm(
    path: Path,
    tables: dict[str, list[dict[str, Any]]],
    *,
    omit: tuple[str, ...] = (),
    columns: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Write a DuckDB CDM at ``path``; ``omit`` leaves tables out, ``columns`` overrides layouts."""
    layouts = {**TABLES, **(columns or {})}
    unknown = set(tables) - set(layouts)
    if unknown:
        raise KeyError(f"unknown tables {sorted(unknown)}")
    con = duckdb.connect(str(path))
    try:
        for table, layout in layouts.items():
            if table in omit:
                continue
            ddl = ", ".join(f'"{name}" {kind}' for name, kind in layout.items())
            con.execute(f'CREATE TABLE "{table}" ({ddl})')
            rows = _rows(table, tables.get(table, []), layout)
            if rows:
                marks = ", ".join("?" for _ in layout)
                con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
    finally:
        con.close()
    return path


def write_cdm_files(folder: Path, database: Path, *, fmt: str = "csv") -> Path:
    """Export every table of a DuckDB CDM to ``folder`` as CSV or Parquet files."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(database), read_only=True)
    try:
        names = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        for table in names:
            target = folder / f"{table}.{fmt}"
            options = "(FORMAT csv, HEADER true)" if fmt == "csv" else "(FORMAT parquet)"
            con.execute(f"COPY \"{table}\" TO '{target}' {options}")
    finally:
        con.close()
    return folder
