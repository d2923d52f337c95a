"""Data-quality checks on the staging views, run before any cohort step, and on the index
events, run after them.

Policy (docs/cohorts.md, "Bad input and data quality"):

* duplicate ``person_id`` in ``person``: error (age and sex would be ambiguous);
* ``person`` rows without a ``person_id`` (missing, or not an integer in the source): warned and
  ignored, as are event rows without one;
* persons without a year of birth, or born after the build year: warned; persons whose year of
  birth is missing, after the index year or more than 120 years before it are excluded from the
  cohort at the attrition step ``birth_year`` (warned with their count and an example year), so
  that no dataset holds a negative or missing age;
* event rows and observation periods without a date: warned and ignored (an undated index record
  is excluded at the attrition step ``index_date``);
* rows for persons absent from ``person`` (Eunomia's ``observation_period`` has 2,649): warned,
  and ignored, since every step joins ``person``;
* event rows outside every observation period: warned; they cannot be index events, but they
  still count as history for rules and features (as OHDSI FeatureExtraction does);
* dates after the build date ("in the future"): warned; set ``censoring.data_cutoff`` to stop
  follow-up at the last date the data are complete;
* duplicate event rows (same record id, person, concept, date and value): warned and counted once
  (not looked for when the source declares the record id a PRIMARY KEY or UNIQUE).

Counts are phrased "N rows" or "N persons" (reports show those under 5 as ``<5``); examples are
offending values, never person ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prognosis.cohort.catalog import EVENT_TABLES, MAX_AGE, Finding
from prognosis.cohort.engines import Engine
from prognosis.cohort.sql import Step, render
from prognosis.cohort.staging import StagingView
from prognosis.exceptions import SourceError

__all__ = ["Finding", "check_index_events", "check_sources"]


def check_sources(
    engine: Engine, views: list[StagingView], today: dt.date
) -> tuple[list[Finding], set[str], bool]:
    """Run the checks.

    Returns
    -------
    tuple
        The findings; the names of views that need de-duplication; and whether the work table
        :data:`PERSON_PERIODS` (each person with their one observation period) was made and
        kept, for the index events (:func:`prognosis.cohort.compile.cohort_steps`).
    """
    findings = _check_person(engine, today)
    findings += _check_observation_period(engine, today)
    duplicated: set[str] = set()
    one_period_each = _one_period_each(engine)
    events = [
        view
        for view in views
        if view.name.startswith("stg_") and not view.empty and view.table not in _NOT_EVENTS
    ]
    person_periods = one_period_each and bool(events)
    if person_periods:
        engine.create_table(PERSON_PERIODS)
    for view in events:
        event_findings, has_duplicates = _check_events(engine, view, today, one_period_each)
        findings += event_findings
        if has_duplicates:
            duplicated.add(view.name)
    return findings, duplicated, person_periods


def check_index_events(engine: Engine) -> list[Finding]:
    """Persons of the ``index_events`` work table born after their index year or more than
    :data:`MAX_AGE` years before it (the attrition step ``birth_year`` excludes them)."""
    young, latest, old, earliest = _scalar_row(
        engine,
        f"""SELECT COUNT(DISTINCT CASE WHEN age < 0 THEN person_id END),
          MAX(CASE WHEN age < 0 THEN year_of_birth END),
          COUNT(DISTINCT CASE WHEN age > {MAX_AGE} THEN person_id END),
          MIN(CASE WHEN age > {MAX_AGE} THEN year_of_birth END)
        FROM index_events""",
    )
    findings = []
    if young:
        findings.append(
            _birth_year(int(young), "after the year of their index date", latest),
        )
    if old:
        findings.append(
            _birth_year(int(old), f"more than {MAX_AGE} years before their index date", earliest)
        )
    return findings


def _birth_year(persons: int, what: str, example: int) -> Finding:
    return Finding(
        "person",
        "year_of_birth",
        f"{persons} persons have a year of birth {what}; they are excluded from the cohort "
        "(attrition step 'birth_year')",
        count=persons,
        example=str(example),
    )


_NOT_EVENTS = {"person", "observation_period", "concept", "concept_ancestor"}


def _scalar_row(engine: Engine, sql: str) -> tuple:
    return engine.fetch_rows(render(sql, engine.dialect))[0]


def _check_person(engine: Engine, today: dt.date) -> list[Finding]:
    total, ids, distinct, no_birth, future, latest = (
        int(value or 0)
        for value in _scalar_row(
            engine,
            f"""SELECT COUNT(*), COUNT(person_id), COUNT(DISTINCT person_id),
              COUNT(CASE WHEN person_id IS NOT NULL AND year_of_birth IS NULL THEN 1 END),
              COUNT(CASE WHEN year_of_birth > {today.year} THEN 1 END),
              MAX(CASE WHEN year_of_birth > {today.year} THEN year_of_birth END)
            FROM stg_person""",
        )
    )
    if total == 0:
        raise SourceError("table 'person' is empty: there is no one to build a cohort from")
    if ids == 0:
        raise SourceError(
            f"table 'person', column 'person_id': none of its {total} rows has a value that is "
            "an integer; person ids must be whole numbers"
        )
    if ids != distinct:
        raise SourceError(
            f"table 'person', column 'person_id': {ids - distinct} duplicate values; each "
            "person must appear once (age and sex would otherwise be ambiguous)"
        )
    findings = []
    if total > ids:
        findings.append(_no_person_id("person", total - ids))
    if no_birth:
        findings.append(
            Finding(
                "person",
                "year_of_birth",
                f"{no_birth} rows have no year of birth (missing, or not a number in the "
                "source); these persons have no age and are excluded from the cohort "
                "(attrition step 'birth_year')",
                count=no_birth,
            )
        )
    if future:
        findings.append(
            Finding(
                "person",
                "year_of_birth",
                f"{future} rows have a year of birth after the build year ({today.year})",
                count=future,
                example=str(latest),
            )
        )
    return findings


def _no_person_id(table: str, rows: int) -> Finding:
    return Finding(
        table,
        "person_id",
        f"{rows} rows have no person_id (missing, or not an integer in the source); "
        "they are ignored",
        count=rows,
    )


def _no_date(table: str, column: str, rows: int, what: str = "rows") -> Finding:
    return Finding(
        table,
        column,
        f"{rows} {what} have no date (missing, or not a date in the source); they are ignored",
        count=rows,
    )


def _check_observation_period(engine: Engine, today: dt.date) -> list[Finding]:
    # one scan: person ids are unique (checked first), so the join cannot multiply rows
    future, reversed_, undated, no_person, orphans = _scalar_row(
        engine,
        f"""SELECT COUNT(CASE WHEN op.end_date > DATE '{today.isoformat()}' THEN 1 END),
          COUNT(CASE WHEN op.end_date < op.start_date THEN 1 END),
          COUNT(CASE WHEN op.start_date IS NULL OR op.end_date IS NULL THEN 1 END),
          COUNT(*) - COUNT(op.person_id),
          COUNT(CASE WHEN op.person_id IS NOT NULL AND p.person_id IS NULL THEN 1 END)
        FROM stg_observation_period AS op
        LEFT JOIN stg_person AS p ON p.person_id = op.person_id""",
    )
    findings = []
    if no_person:
        findings.append(_no_person_id("observation_period", int(no_person)))
    if orphans:
        findings.append(
            Finding(
                "observation_period",
                "person_id",
                f"{orphans} rows for persons not in table 'person' are ignored",
                count=int(orphans),
            )
        )
    if undated:
        findings.append(_no_date("observation_period", "*", int(undated), "periods"))
    if future:
        findings.append(_future("observation_period", "observation_period_end_date", future, today))
    if reversed_:
        findings.append(
            Finding(
                "observation_period",
                "observation_period_end_date",
                f"{reversed_} periods end before they start; they contain no dates and are ignored",
                count=int(reversed_),
            )
        )
    return findings


def _future(table: str, column: str, count: int, today: dt.date) -> Finding:
    return Finding(
        table,
        column,
        f"{count} rows are dated after today ({today.isoformat()}); set censoring.data_cutoff "
        "to the last date the data are complete",
        count=int(count),
    )


def _one_period_each(engine: Engine) -> bool:
    """True when no person has more than one observation period (the usual case)."""
    (several,) = _scalar_row(
        engine,
        "SELECT COUNT(*) FROM (SELECT person_id FROM stg_observation_period "
        "GROUP BY person_id HAVING COUNT(*) > 1) AS p",
    )
    return several == 0


@dataclass(frozen=True)
class _EventCounts:
    """What one scan of an event table found."""

    rows: int
    future: int
    id_values: int
    orphans: int
    outside: int
    no_person: int
    undated: int


def _record_ids(view: StagingView, alias: str = "") -> str:
    """The count of record ids, or 0 when the source declares them unique: duplicates are then
    not looked for (:func:`_duplicates`), and the ids need not be read."""
    return "0" if view.unique_ids else f"COUNT({alias}record_id)"


def _totals(engine: Engine, view: StagingView, today: dt.date) -> tuple:
    """Rows, future rows, record ids, and rows without a person or a date."""
    return _scalar_row(
        engine,
        f"""SELECT COUNT(*), COUNT(CASE WHEN event_date > DATE '{today.isoformat()}' THEN 1 END),
          {_record_ids(view)}, COUNT(*) - COUNT(person_id), COUNT(*) - COUNT(event_date)
        FROM {view.name}""",
    )


# each person with their observation period, if any: one row per person when each has at
# most one period (person ids are unique, checked first), so the event tables are joined once;
# kept for the index events, which take the person and the period in one join
PERSON_PERIODS = Step(
    "person_periods",
    "persons and their observation period",
    "SELECT p.person_id, p.year_of_birth, p.gender_concept_id, op.start_date, op.end_date "
    "FROM stg_person AS p "
    "LEFT JOIN stg_observation_period AS op ON op.person_id = p.person_id",
)


def _one_pass(engine: Engine, view: StagingView, today: dt.date) -> _EventCounts:
    """Every count in one scan and one join (:data:`PERSON_PERIODS`). Only when each person
    has at most one observation period: joining on the person alone then cannot multiply
    rows."""
    values = _scalar_row(
        engine,
        f"""SELECT COUNT(*), COUNT(CASE WHEN e.event_date > DATE '{today.isoformat()}' THEN 1 END),
          {_record_ids(view, "e.")},
          COUNT(CASE WHEN p.person_id IS NULL AND e.person_id IS NOT NULL THEN 1 END),
          COUNT(CASE WHEN p.person_id IS NOT NULL AND e.event_date IS NOT NULL AND NOT COALESCE(
            e.event_date >= p.start_date AND e.event_date <= p.end_date, FALSE) THEN 1 END),
          COUNT(*) - COUNT(e.person_id), COUNT(*) - COUNT(e.event_date)
        FROM {view.name} AS e
        LEFT JOIN {PERSON_PERIODS.name} AS p ON p.person_id = e.person_id""",
    )
    return _EventCounts(*(int(v or 0) for v in values))


def _several_passes(engine: Engine, view: StagingView, today: dt.date) -> _EventCounts:
    """As :func:`_one_pass`, for persons with several periods: anti-joins as WHERE NOT EXISTS,
    which every engine plans as a hash anti-join."""
    name = view.name
    rows, future, id_values, no_person, undated = _totals(engine, view, today)
    (orphans,) = _scalar_row(
        engine,
        f"""SELECT COUNT(*) FROM {name} AS e WHERE e.person_id IS NOT NULL AND NOT EXISTS
          (SELECT 1 FROM stg_person AS p WHERE p.person_id = e.person_id)""",
    )
    (outside,) = _scalar_row(
        engine,
        f"""SELECT COUNT(*) FROM {name} AS e WHERE e.event_date IS NOT NULL AND NOT EXISTS
          (SELECT 1 FROM stg_observation_period AS op WHERE op.person_id = e.person_id
           AND e.event_date >= op.start_date AND e.event_date <= op.end_date)
          AND EXISTS (SELECT 1 FROM stg_person AS p WHERE p.person_id = e.person_id)""",
    )
    counts = (rows, future, id_values, orphans, outside, no_person, undated)
    return _EventCounts(*(int(v or 0) for v in counts))


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
    table = view.table
    counts = (_one_pass if one_period_each else _several_passes)(engine, view, today)
    date_column = _date_column(table)
    findings = []
    if counts.no_person:
        findings.append(_no_person_id(table, counts.no_person))
    if counts.orphans:
        findings.append(
            Finding(
                table,
                "person_id",
                f"{counts.orphans} rows for persons not in 'person' are ignored",
                count=counts.orphans,
            )
        )
    if counts.undated:
        findings.append(_no_date(table, date_column, counts.undated))
    if counts.outside:
        findings.append(
            Finding(
                table,
                date_column,
                f"{counts.outside} of {counts.rows} rows fall outside every observation period "
                "of their person: they cannot be index events but still count as history",
                count=counts.outside,
            )
        )
    if counts.future:
        findings.append(_future(table, date_column, counts.future, today))
    duplicates = _duplicates(engine, view, counts.id_values)
    if duplicates:
        findings.append(
            Finding(
                table,
                "*",
                f"{duplicates} duplicate rows (same record id, person, concept, date and "
                "value) are counted once",
                count=duplicates,
            )
        )
    return findings, duplicates > 0


def _duplicates(engine: Engine, view: StagingView, id_values: int) -> int:
    """Exact duplicate rows, looked for only when some record id appears twice."""
    ids = _distinct_ids(engine, view)
    if not id_values or ids is None or ids >= id_values:
        return 0
    return _exact_duplicates(engine, view.name)


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
