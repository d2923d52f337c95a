"""The bottom of the cohort layer: the source's tables as a database spells them, the OMOP
tables a build reads, identifier quoting, and the record of a data problem.

Every engine, the staging views and the quality checks import this module; it imports
nothing of theirs, so no engine module imports another in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prognosis.cohort.definition import Domain
from prognosis.exceptions import SourceError

__all__ = [
    "ANCESTOR_COLUMNS",
    "CONCEPT_COLUMNS",
    "EVENT_TABLES",
    "MAX_AGE",
    "OBSERVATION_PERIOD_COLUMNS",
    "OMOP_TABLES",
    "PERSON_COLUMNS",
    "EventTable",
    "Finding",
    "PhysicalTable",
    "group_columns",
    "literal",
    "quote",
    "standard_tables",
    "unique_columns",
]

MAX_AGE = 120  # years; an older age at index is taken for a wrong year of birth


@dataclass(frozen=True)
class PhysicalTable:
    """A source table as the database spells it: quoted reference and columns by lower name."""

    name: str
    reference: str
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower -> (actual, type)
    unique: frozenset[str] = frozenset()  # lower names of columns declared PRIMARY KEY/UNIQUE
    date_format: str | None = None  # strptime format of dates stored as text (CSV dateformat)
    origin: str = ""  # where the table's data lives, for messages ("file '/data/person.csv'")


@dataclass(frozen=True)
class Finding:
    """A data problem found and worked around; ``table`` and ``column`` say where.

    ``count`` is how many rows (or persons) it concerns and ``example`` one offending value
    (never a person id), both also in the message; the message phrases counts as "N rows" or
    "N persons" so that reports can show those under 5 as ``<5``.
    """

    table: str
    column: str
    message: str
    count: int | None = None
    example: str | None = None

    def __str__(self) -> str:
        text = f"table '{self.table}', column '{self.column}': {self.message}"
        if self.example is not None:
            text += f" (e.g. {self.example})"
        return text


@dataclass(frozen=True)
class EventTable:
    """How one OMOP event table maps to the staging columns."""

    table: str
    concept: str
    date: str
    record_id: str | None
    value: str | None = None


EVENT_TABLES: dict[Domain, EventTable] = {
    Domain.CONDITION: EventTable(
        "condition_occurrence",
        "condition_concept_id",
        "condition_start_date",
        "condition_occurrence_id",
    ),
    Domain.DRUG: EventTable(
        "drug_exposure", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_id"
    ),
    Domain.PROCEDURE: EventTable(
        "procedure_occurrence", "procedure_concept_id", "procedure_date", "procedure_occurrence_id"
    ),
    Domain.MEASUREMENT: EventTable(
        "measurement",
        "measurement_concept_id",
        "measurement_date",
        "measurement_id",
        "value_as_number",
    ),
    Domain.OBSERVATION: EventTable(
        "observation",
        "observation_concept_id",
        "observation_date",
        "observation_id",
        "value_as_number",
    ),
    Domain.VISIT: EventTable(
        "visit_occurrence", "visit_concept_id", "visit_start_date", "visit_occurrence_id"
    ),
    Domain.DEATH: EventTable("death", "cause_concept_id", "death_date", None),
}

# staging column -> (source column, SQL type); None as source column: optional, NULL if absent
PERSON_COLUMNS = {
    "person_id": ("person_id", "BIGINT"),
    "gender_concept_id": ("gender_concept_id", "BIGINT"),
    "year_of_birth": ("year_of_birth", "INTEGER"),
}
OBSERVATION_PERIOD_COLUMNS = {
    "person_id": ("person_id", "BIGINT"),
    "start_date": ("observation_period_start_date", "DATE"),
    "end_date": ("observation_period_end_date", "DATE"),
}
CONCEPT_COLUMNS = {
    "concept_id": ("concept_id", "BIGINT"),
    "concept_name": ("concept_name", "VARCHAR"),
}
ANCESTOR_COLUMNS = {
    "ancestor_concept_id": ("ancestor_concept_id", "BIGINT"),
    "descendant_concept_id": ("descendant_concept_id", "BIGINT"),
}


def standard_tables(schema: str = "cdm") -> dict[str, PhysicalTable]:
    """The physical layout assumed when printing SQL without a source: standard OMOP names.

    Parameters
    ----------
    schema
        The schema the printed SQL reads the tables from.

    Returns
    -------
    dict of str to PhysicalTable
        Every OMOP table a build can read, by its lower-case name.
    """
    tables: dict[str, PhysicalTable] = {}
    specs = {
        "person": PERSON_COLUMNS,
        "observation_period": OBSERVATION_PERIOD_COLUMNS,
        "concept": CONCEPT_COLUMNS,
        "concept_ancestor": ANCESTOR_COLUMNS,
    }
    for name, spec in specs.items():
        tables[name] = _standard(schema, name, [src for src, _ in spec.values()])
    for event in EVENT_TABLES.values():
        columns = ["person_id", event.concept, event.date, event.record_id, event.value]
        tables[event.table] = _standard(schema, event.table, [c for c in columns if c])
    return tables


def _standard(schema: str, table: str, columns: list[str]) -> PhysicalTable:
    return PhysicalTable(table, f"{schema}.{table}", {c: (c, "STANDARD") for c in columns})


#: The OMOP tables a build can read (the staging views read no other).
OMOP_TABLES = frozenset(standard_tables())


def quote(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def unique_columns(rows: list[tuple[str, list[str]]]) -> dict[str, frozenset[str]]:
    """Lower table name -> lower names of its columns that a one-column PRIMARY KEY or UNIQUE
    constraint declares unique (a constraint over several columns says nothing of one).

    Parameters
    ----------
    rows
        ``(table, columns)`` for each constraint, the table possibly schema-qualified.

    Returns
    -------
    dict of str to frozenset of str
        The unique columns of each table that has any.
    """
    unique: dict[str, set[str]] = {}
    for table, columns in rows:
        if len(columns) == 1:
            name = table.rsplit(".", 1)[-1].strip('"').lower()
            unique.setdefault(name, set()).add(columns[0].lower())
    return {table: frozenset(columns) for table, columns in unique.items()}


def group_columns(rows: list[tuple[str, str, str]], origin: str) -> dict[str, PhysicalTable]:
    """The lower-case table map from ``(table, column, type)`` rows, refusing ambiguity.

    Parameters
    ----------
    rows
        One row per column, as the database's catalog lists them.
    origin
        The source, for messages ("source 'eunomia'").

    Returns
    -------
    dict of str to PhysicalTable
        Tables by lower-case name, without a reference yet (the engine adds it).

    Raises
    ------
    SourceError
        When two tables, or two columns of one table, differ only in case.
    """
    by_table: dict[str, dict[str, tuple[str, str]]] = {}
    actual_names: dict[str, str] = {}
    for table, column, data_type in rows:
        key = table.lower()
        if key in actual_names and actual_names[key] != table:
            raise SourceError(
                f"{origin}: tables {actual_names[key]!r} and {table!r} differ only in case; "
                "prognosis matches table names case-insensitively, so keep only one"
            )
        actual_names[key] = table
        columns = by_table.setdefault(key, {})
        if column.lower() in columns and columns[column.lower()][0] != column:
            raise SourceError(
                f"{origin}: table {table!r} has columns {columns[column.lower()][0]!r} and "
                f"{column!r} that differ only in case"
            )
        columns[column.lower()] = (column, data_type.upper())
    return {key: PhysicalTable(actual_names[key], "", columns) for key, columns in by_table.items()}
