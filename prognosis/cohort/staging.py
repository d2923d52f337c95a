"""Map the source's physical OMOP tables onto clean, typed staging views.

Every later step reads only the ``stg_*`` views (and, for ``treatment`` features,
``drug_exposure_spans``), whose names, columns and types are fixed:
whatever the case of the source's names (Eunomia's are upper case) or its column types
(dates as text, ids as doubles, numbers as text), the compiled cohort SQL sees the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from prognosis.cohort.catalog import (
    ANCESTOR_COLUMNS,
    CONCEPT_COLUMNS,
    EVENT_TABLES,
    OBSERVATION_PERIOD_COLUMNS,
    PERSON_COLUMNS,
    EventTable,
    Finding,
    PhysicalTable,
    quote,
)
from prognosis.cohort.definition import CohortDefinition, Domain, TreatmentFeature
from prognosis.cohort.source_errors import TEXT_TYPES
from prognosis.exceptions import SourceError

__all__ = ["SPANS_VIEW", "StagingView", "column_as", "plan_staging"]


@dataclass(frozen=True)
class StagingView:
    """One ``stg_*`` view: its name, its SELECT (DuckDB dialect) and the table it reads."""

    name: str
    select: str
    table: str
    empty: bool = False
    # the source declares the record id unique (PRIMARY KEY/UNIQUE): no duplicate check needed
    unique_ids: bool = False


def plan_staging(
    definition: CohortDefinition, tables: dict[str, PhysicalTable]
) -> tuple[list[StagingView], list[Finding]]:
    """The staging views this definition needs, checked against the source's tables."""
    findings: list[Finding] = []
    views = [
        _view("stg_person", tables, "person", PERSON_COLUMNS),
        _view("stg_observation_period", tables, "observation_period", OBSERVATION_PERIOD_COLUMNS),
        _view("stg_concept", tables, "concept", CONCEPT_COLUMNS),
    ]
    if definition.uses_descendants():
        views.append(_view("stg_concept_ancestor", tables, "concept_ancestor", ANCESTOR_COLUMNS))
    death_is_event = Domain.DEATH in {
        event.domain
        for spec in definition.outcome_specs()
        for event in (spec.outcome, *spec.competing)
    }
    for domain in sorted(definition.used_domains(), key=lambda d: d.value):
        if domain is Domain.DEATH:
            views.append(_death_view(tables, findings, required=death_is_event))
        else:
            views.append(_event_view(domain, tables))
    if any(isinstance(item, TreatmentFeature) for item in definition.features.items):
        views.append(_spans_view(tables))
    return views, findings


def _require(tables: dict[str, PhysicalTable], table: str) -> PhysicalTable:
    if table not in tables:
        available = ", ".join(sorted(tables)) or "none"
        raise SourceError(
            f"table '{table}' is missing from the source (tables found: {available}); "
            "it is required by the OMOP CDM and by this cohort definition"
        )
    return tables[table]


def column_as(physical: PhysicalTable, column: str, sql_type: str) -> str:
    """The SQL expression (DuckDB dialect) reading ``column`` of ``physical`` as ``sql_type``,
    cast as the staging views cast it; :class:`SourceError` when the column is absent."""
    return _column(physical, column, sql_type)


def _column(physical: PhysicalTable, column: str, sql_type: str) -> str:
    if column not in physical.columns:
        found = ", ".join(actual for actual, _ in physical.columns.values())
        raise SourceError(
            f"table '{physical.name}' has no column '{column}' (columns found: {found}); "
            "rename or add it to follow the OMOP CDM"
        )
    actual, source_type = physical.columns[column]
    quoted = quote(actual)
    text = source_type.startswith(TEXT_TYPES)
    if source_type == "STANDARD":
        return quoted
    if sql_type == "DOUBLE" and text:
        return f"CAST(NULLIF(TRIM({quoted}), '') AS DOUBLE)"
    if sql_type in _INTEGERS:
        return _integer(quoted, source_type, sql_type)
    if sql_type == "DATE" and text and physical.date_format:
        fmt = "'" + physical.date_format.replace("'", "''") + "'"
        return f"CAST(STRPTIME(TRIM({quoted}), {fmt}) AS DATE)"
    return f"CAST({quoted} AS {sql_type})"


_INTEGERS = ("BIGINT", "INTEGER")
_FRACTIONAL = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")


def _integer(quoted: str, source_type: str, sql_type: str) -> str:
    """An id or count cast to an integer that is never a different integer: a fractional
    value (1.5, stored as a double or as text) becomes NULL, for the quality checks to count,
    where a plain CAST would round it to 2."""
    if source_type.startswith(_FRACTIONAL):
        return f"CASE WHEN {quoted} = FLOOR({quoted}) THEN CAST({quoted} AS {sql_type}) END"
    if source_type.startswith(TEXT_TYPES):
        # whole numbers, also as a file of doubles writes them ("12.0"); "12.5" is no id
        trimmed = f"TRIM({quoted})"
        return (
            f"CASE WHEN REGEXP_MATCHES({trimmed}, '^[+-]?[0-9]+([.]0*)?$') "
            f"THEN CAST(REGEXP_REPLACE({trimmed}, '[.]0*$', '') AS {sql_type}) END"
        )
    return f"CAST({quoted} AS {sql_type})"


def _view(
    name: str, tables: dict[str, PhysicalTable], table: str, spec: dict[str, tuple[str, str]]
) -> StagingView:
    physical = _require(tables, table)
    items = [f"{_column(physical, src, typ)} AS {col}" for col, (src, typ) in spec.items()]
    return StagingView(name, f"SELECT {', '.join(items)} FROM {physical.reference}", table)


def _event_view(domain: Domain, tables: dict[str, PhysicalTable]) -> StagingView:
    event = EVENT_TABLES[domain]
    physical = _require(tables, event.table)
    items = [
        f"{_column(physical, 'person_id', 'BIGINT')} AS person_id",
        _concept_column(physical, event),
        f"{_column(physical, event.date, 'DATE')} AS event_date",
    ]
    if event.value:
        items.append(f"{_column(physical, event.value, 'DOUBLE')} AS value")
    if event.record_id and event.record_id in physical.columns:
        items.append(f"{_column(physical, event.record_id, 'BIGINT')} AS record_id")
    else:
        items.append("CAST(NULL AS BIGINT) AS record_id")
    return StagingView(
        f"stg_{domain.value}",
        f"SELECT {', '.join(items)} FROM {physical.reference}",
        event.table,
        unique_ids=bool(event.record_id) and event.record_id in physical.unique,
    )


#: The view of drug exposures as spans, read by ``treatment`` features.
SPANS_VIEW = "drug_exposure_spans"

# span columns: view column -> (drug_exposure column, SQL type); NULL where the source lacks it
_SPAN_COLUMNS = {
    "end_date": ("drug_exposure_end_date", "DATE"),
    "days_supply": ("days_supply", "INTEGER"),
}


def _spans_view(tables: dict[str, PhysicalTable]) -> StagingView:
    """``drug_exposure_spans``: each drug exposure's person, concept, start (``event_date``),
    ``end_date`` and ``days_supply``, for ``treatment`` features.

    A view of its own, so that ``stg_drug_exposure`` (index events, rules, other features,
    its duplicate check) is the same whether or not a definition has a treatment feature; its
    rows are the ones ``stg_drug_exposure`` holds, whose checks cover them (it is not checked
    again, nor de-duplicated: a repeated exposure changes no continuous exposure).
    """
    physical = _require(tables, "drug_exposure")
    event = EVENT_TABLES[Domain.DRUG]
    items = [
        f"{_column(physical, 'person_id', 'BIGINT')} AS person_id",
        _concept_column(physical, event),
        f"{_column(physical, event.date, 'DATE')} AS event_date",
    ]
    for name, (source, sql_type) in _SPAN_COLUMNS.items():
        present = source in physical.columns
        value = _column(physical, source, sql_type) if present else f"CAST(NULL AS {sql_type})"
        items.append(f"{value} AS {name}")
    return StagingView(
        SPANS_VIEW, f"SELECT {', '.join(items)} FROM {physical.reference}", event.table
    )


def _concept_column(physical: PhysicalTable, event: EventTable) -> str:
    if event.table == "death" and event.concept not in physical.columns:
        return "CAST(NULL AS BIGINT) AS concept_id"  # cause of death is optional in the CDM
    return f"{_column(physical, event.concept, 'BIGINT')} AS concept_id"


_EMPTY_DEATH = (
    "SELECT CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS BIGINT) AS concept_id, "
    "CAST(NULL AS DATE) AS event_date, CAST(NULL AS BIGINT) AS record_id WHERE 1 = 0"
)


def _death_view(
    tables: dict[str, PhysicalTable], findings: list[Finding], *, required: bool
) -> StagingView:
    """Death ends follow-up. A malformed death table only used for censoring is treated as
    empty with a warning; where death is the outcome or a competing event, it is an error."""
    physical = tables.get("death")
    problem = _death_problem(physical)
    if problem is None:
        return _event_view(Domain.DEATH, tables)
    if required:
        raise SourceError(
            f"{problem}; this definition uses death as an outcome or competing event, so it "
            "cannot go on: repair the death table (person_id, death_date, cause_concept_id)"
        )
    findings.append(Finding("death", "*", f"{problem}; treated as empty"))
    return StagingView("stg_death", _EMPTY_DEATH, "death", empty=True)


def _death_problem(physical: PhysicalTable | None) -> str | None:
    if physical is None:
        return "table 'death' is missing from the source"
    missing = [c for c in ("person_id", "death_date") if c not in physical.columns]
    if not missing:
        return None
    found = ", ".join(actual for actual, _ in physical.columns.values())
    headerish = all(name.startswith("column") for name in physical.columns)
    why = " (it looks like a CSV header imported as a data row)" if headerish else ""
    return f"table 'death' is malformed: no column {', '.join(missing)}; columns are {found}{why}"
