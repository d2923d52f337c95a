"""Data-quality checks on the staging views, run before any cohort step.

Policy (documented in the README):

* duplicate ``person_id`` in ``person``: error (age and sex would be ambiguous);
* rows for persons absent from ``person`` (Eunomia's ``observation_period`` has 2,649): warned,
  and ignored, since every step joins ``person``;
* event rows outside every observation period: warned; they cannot be index events, but they
  still count as history for rules and features (as OHDSI FeatureExtraction does);
* dates after the build date ("in the future"): warned; set ``censoring.data_cutoff`` to stop
  follow-up at the last date the data are complete;
* duplicate event rows (same record id, person, concept, date and value): warned and counted once
  (not looked for when the source declares the record id a PRIMARY KEY or UNIQUE).
"""

from __future__ import annotations

import datetime as dt

from prognosis.cohort.engines import Engine
from prognosis.cohort.quality_types import Finding
from prognosis.cohort.sql import render
from prognosis.cohort.staging import EVENT_TABLES, StagingView
from prognosis.exceptions import SourceError

__all__ = ["Finding", "check_sources"]


def check_sources(
    engine: Engine, views: list[StagingView], today: dt.date
) -> tuple[list[Finding], set[str]]:
    """Run the checks; return findings and the names of views that need de-duplication."""
    findings: list[Finding] = []
    _check_person(engine)
    findings += _check_observation_period(engine, today)
    duplicated: set[str] = set()
    one_period_each = _one_period_each(engine)
    for view in views:
        if not view.name.startswith("stg_") or view.empty or view.table in _NOT_EVENTS:
            continue
        event_findings, has_duplicates = _check_events(engine, view, today, one_period_each)
        findings += event_findings
        if has_duplicates:
            duplicated.add(view.name)
    return findings, duplicated


_NOT_EVENTS = {"person", "observation_period", "concept", "concept_ancestor"}


def _scalar_row(engine: Engine, sql: str) -> tuple:
    return engine.fetch_rows(render(sql, engine.dialect))[0]


def _check_person(engine: Engine) -> None:
    total, distinct, missing = _scalar_row(
        engine,
        "SELECT COUNT(*), COUNT(DISTINCT person_id), COUNT(*) - COUNT(person_id) FROM stg_person",
    )
    if total == 0:
        raise SourceError("table 'person' is empty: there is no one to build a cohort from")
    if missing:
        raise SourceError(f"table 'person', column 'person_id': {missing} rows have no value")
    if total != distinct:
        raise SourceError(
            f"table 'person', column 'person_id': {total - distinct} duplicate values; each "
            "person must appear once (age and sex would otherwise be ambiguous)"
        )


def _check_observation_period(engine: Engine, today: dt.date) -> list[Finding]:
    future, reversed_ = _scalar_row(
        engine,
        f"""SELECT COUNT(CASE WHEN end_date > DATE '{today.isoformat()}' THEN 1 END),
          COUNT(CASE WHEN end_date < start_date THEN 1 END)
        FROM stg_observation_period""",
    )
    (orphans,) = _scalar_row(
        engine,
        """SELECT COUNT(*) FROM stg_observation_period AS op WHERE NOT EXISTS
          (SELECT 1 FROM stg_person AS p WHERE p.person_id = op.person_id)""",
    )
    findings = []
    if orphans:
        findings.append(
            Finding(
                "observation_period",
                "person_id",
                f"{orphans} rows for persons not in table 'person' are ignored",
            )
        )
    if future:
        findings.append(_future("observation_period", "observation_period_end_date", future, today))
    if reversed_:
        findings.append(
            Finding(
                "observation_period",
                "observation_period_end_date",
                f"{reversed_} periods end before they start; they contain no dates and are ignored",
            )
        )
    return findings


def _future(table: str, column: str, count: int, today: dt.date) -> Finding:
    return Finding(
        table,
        column,
        f"{count} rows are dated after today ({today.isoformat()}); set censoring.data_cutoff "
        "to the last date the data are complete",
    )


def _one_period_each(engine: Engine) -> bool:
    """True when no person has more than one observation period (the usual case)."""
    (several,) = _scalar_row(
        engine,
        "SELECT COUNT(*) FROM (SELECT person_id FROM stg_observation_period "
        "GROUP BY person_id HAVING COUNT(*) > 1) AS p",
    )
    return several == 0


def _one_pass(engine: Engine, name: str, today: dt.date) -> tuple[int, int, int, int, int]:
    """Rows, future rows, record ids, orphans and rows outside their person's period, in one
    scan. Only when each person has at most one observation period: joining on the person alone
    then cannot multiply rows."""
    return _scalar_row(
        engine,
        f"""SELECT COUNT(*), COUNT(CASE WHEN e.event_date > DATE '{today.isoformat()}' THEN 1 END),
          COUNT(e.record_id),
          COUNT(CASE WHEN p.person_id IS NULL THEN 1 END),
          COUNT(CASE WHEN p.person_id IS NOT NULL AND NOT COALESCE(
            e.event_date >= op.start_date AND e.event_date <= op.end_date, FALSE) THEN 1 END)
        FROM {name} AS e
        LEFT JOIN stg_person AS p ON p.person_id = e.person_id
        LEFT JOIN stg_observation_period AS op ON op.person_id = e.person_id""",
    )


def _several_passes(engine: Engine, name: str, today: dt.date) -> tuple[int, int, int, int, int]:
    """As :func:`_one_pass`, for persons with several periods: anti-joins as WHERE NOT EXISTS,
    which every engine plans as a hash anti-join."""
    rows, future, id_values = _scalar_row(
        engine,
        f"""SELECT COUNT(*), COUNT(CASE WHEN event_date > DATE '{today.isoformat()}' THEN 1 END),
          COUNT(record_id)
        FROM {name}""",
    )
    (orphans,) = _scalar_row(
        engine,
        f"""SELECT COUNT(*) FROM {name} AS e WHERE NOT EXISTS
          (SELECT 1 FROM stg_person AS p WHERE p.person_id = e.person_id)""",
    )
    (outside,) = _scalar_row(
        engine,
        f"""SELECT COUNT(*) FROM {name} AS e WHERE NOT EXISTS
          (SELECT 1 FROM stg_observation_period AS op WHERE op.person_id = e.person_id
           AND e.event_date >= op.start_date AND e.event_date <= op.end_date)
          AND EXISTS (SELECT 1 FROM stg_person AS p WHERE p.person_id = e.person_id)""",
    )
    return rows, future, id_values, orphans, outside


def _distinct_ids(engine: Engine, view: StagingView) -> int | None:
    """How many distinct record ids; None when the source declares them unique (its PRIMARY
    KEY or UNIQUE constraint already guarantees it, and counting is the dearest check)."""
    if view.unique_ids:
        return None
    (ids,) = _scalar_row(
        engine,
        f"SELECT COUNT(*) FROM (SELECT DISTINCT record_id FROM {view.name} "
        "WHERE record_id IS NOT NULL) AS ids",
    )
    return int(ids)


def _check_events(
    engine: Engine, view: StagingView, today: dt.date, one_period_each: bool
) -> tuple[list[Finding], bool]:
    name, table = view.name, view.table
    counts = (_one_pass if one_period_each else _several_passes)(engine, name, today)
    rows, future, id_values, orphans, outside = (int(value) for value in counts)
    ids = _distinct_ids(engine, view)
    date_column = _date_column(table)
    findings = []
    if orphans:
        findings.append(
            Finding(table, "person_id", f"{orphans} rows for persons not in 'person' are ignored")
        )
    if outside:
        findings.append(
            Finding(
                table,
                date_column,
                f"{outside} of {rows} rows fall outside every observation period of "
                "their person: they cannot be index events but still count as history",
            )
        )
    if future:
        findings.append(_future(table, date_column, future, today))
    duplicates = 0
    if id_values and ids is not None and ids < id_values:
        duplicates = _exact_duplicates(engine, name)
        if duplicates:
            findings.append(
                Finding(
                    table,
                    "*",
                    f"{duplicates} duplicate rows (same record id, person, concept, date and "
                    "value) are counted once",
                )
            )
    return findings, duplicates > 0


def _exact_duplicates(engine: Engine, view: str) -> int:
    (count,) = _scalar_row(
        engine,
        f"SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT * FROM {view}) AS d) "
        f"FROM {view}",
    )
    return int(count)


def _date_column(table: str) -> str:
    for event in EVENT_TABLES.values():
        if event.table == table:
            return event.date
    return "date"
