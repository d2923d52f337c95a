"""One patient's features, straight from the CDM, without building the whole cohort.

The cohort definition runs with every staging view restricted to that person. Without an index
date, the person must qualify for the cohort (their index is the definition's); with one, the
features are measured before that date, whether or not the person would qualify, once the date
is checked against the person's birth, death and observation periods
(:mod:`prognosis.cohort.person_dates`). Domain-wide features use the concepts the model was
trained on, not a new prevalence selection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from prognosis.artifacts import Feature
from prognosis.cohort.build import StepRunner
from prognosis.cohort.catalog import MAX_AGE
from prognosis.cohort.compile import attrition_query, cohort_steps, concept_steps
from prognosis.cohort.definition import CohortDefinition
from prognosis.cohort.engines import Engine, open_engine
from prognosis.cohort.features import TrainedColumns
from prognosis.cohort.person_dates import check_index_date, person_dates
from prognosis.cohort.sources import Source
from prognosis.cohort.sql import Step, render
from prognosis.exceptions import CohortError

__all__ = ["person_features", "person_features_as_of"]


def person_features(
    definition: CohortDefinition,
    source: Source,
    person_id: int,
    *,
    features: Sequence[Feature],
    index_date: dt.date | None = None,
) -> pd.DataFrame:
    """A one-row dataset for ``person_id``, with the columns of the training dataset."""
    with open_engine(source) as engine:
        runner = StepRunner(engine, lambda _message: None)
        runner.stage(definition, dt.date.today(), person_id=person_id)
        if index_date is None:
            runner.run_steps(cohort_steps(definition, person_periods=runner.person_periods))
            runner.cohort_findings(definition)
            _require_member(runner, definition, person_id)
        else:
            dates = person_dates(runner.engine, person_id)
            check_index_date(dates, person_id, index_date)
            runner.run_steps(concept_steps(definition))
            runner.cohort_findings(definition, index=False)
            runner.run_steps([_cohort_at(index_date)])
            _require_age(runner.engine, person_id, index_date)
        names = [feature.name for feature in features]
        trained = TrainedColumns.of(names, features, origin="the model's features.json")
        _, table = runner.features(definition, trained.choose)
        return table.to_pandas()  # inside: a Spark dataset is collected through the session


def _cohort_at(index_date: dt.date) -> Step:
    day = f"DATE '{index_date.isoformat()}'"
    return Step(
        "cohort",
        "the person at the given index date",
        f"SELECT CAST(0 AS BIGINT) AS row_id, person_id, {day} AS index_date, "
        "CAST(NULL AS INTEGER) AS time, "
        "CAST(NULL AS INTEGER) AS event, CAST(NULL AS VARCHAR) AS censor_reason, "
        f"EXTRACT(YEAR FROM {day}) - year_of_birth AS age, gender_concept_id FROM stg_person",
    )


def _require_age(engine: Engine, person_id: int, index_date: dt.date) -> None:
    """A person scored at a date of the caller's choice still needs a plausible age there."""
    ((age,),) = engine.fetch_rows("SELECT age FROM cohort")
    ((born,),) = engine.fetch_rows("SELECT year_of_birth FROM stg_person")
    if age is None or not 0 <= age <= MAX_AGE:
        raise CohortError(
            f"person {person_id} has no plausible age on {index_date.isoformat()}: table "
            f"'person', column 'year_of_birth' is {'missing' if born is None else born} "
            f"(an age from 0 to {MAX_AGE} is needed); correct the year of birth in the source"
        )


def _require_member(runner: StepRunner, definition: CohortDefinition, person_id: int) -> None:
    if runner.engine.fetch_rows("SELECT COUNT(*) FROM cohort")[0][0]:
        return
    steps, sql = attrition_query(definition)
    row = runner.engine.fetch_rows(render(sql, runner.engine.dialect))[0]
    failed = next(
        (step.description for position, step in enumerate(steps) if not row[2 * position]),
        "the cohort criteria",
    )
    raise CohortError(
        f"person {person_id} is not in cohort '{definition.name}' (fails: {failed}); "
        "pass --index-date to score them at a date of your choice"
    )


def person_features_as_of(
    definition: CohortDefinition,
    source: Source,
    person_id: int,
    as_of: dt.date,
    *,
    features: Sequence[Feature],
) -> pd.DataFrame:
    """A one-row dataset for ``person_id`` as of ``as_of``, for a model of a landmark cohort:
    the row the cohort would hold at a landmark on that day (``landmark`` = days from the
    person's entry to ``as_of``; every feature measured on that day, ``time_since_entry``
    included), whether or not ``as_of`` is one of the definition's landmarks.

    Raises
    ------
    CohortError
        When the definition has no landmarks; when the person is not in the cohort at entry
        (naming the criterion they fail); when ``as_of`` is before the entry or after the last
        day a landmark may lie on (the time at risk's end); or when the person is not at risk
        on ``as_of``: the outcome or a competing event came by then, or they were no longer
        observed or alive (the message says which and when).
    """
    if definition.landmarks is None:
        raise CohortError(
            f"cohort '{definition.name}' has no landmarks: its model scores a person at their "
            "index date; use --index-date to measure the features at another date"
        )
    entry = person_features_at_entry(definition, source, person_id, features=features)
    entry_date = pd.Timestamp(entry["index_date"].iat[0]).date()
    day = (as_of - entry_date).days
    last = definition.risk_window.end
    if not 0 <= day <= last:
        where = "before" if day < 0 else "after"
        raise CohortError(
            f"--as-of {as_of.isoformat()} is {abs(day)} days {where} person {person_id}'s entry "
            f"into cohort '{definition.name}' on {entry_date.isoformat()}; a landmark lies from "
            f"the entry (day 0) to day {last} after it (the end of the time at risk)"
        )
    at_day = definition.model_copy(update={"landmarks": [day]})
    row = _features(at_day, source, person_id, features)
    if row.empty:
        raise CohortError(_not_at_risk(definition, entry, person_id, as_of, day))
    return row


def person_features_at_entry(
    definition: CohortDefinition, source: Source, person_id: int, *, features: Sequence[Feature]
) -> pd.DataFrame:
    """The person's row at entry (landmark 0), which must exist: they meet the criteria."""
    at_entry = definition.model_copy(update={"landmarks": [0]})
    return _features(at_entry, source, person_id, features, member=True)


def _features(
    definition: CohortDefinition,
    source: Source,
    person_id: int,
    features: Sequence[Feature],
    *,
    member: bool = False,
) -> pd.DataFrame:
    """The person's rows of ``definition``'s cohort: none when they are not in it, or, with
    ``member``, a :class:`CohortError` naming the criterion they fail."""
    with open_engine(source) as engine:
        runner = StepRunner(engine, lambda _message: None)
        runner.stage(definition, dt.date.today(), person_id=person_id)
        runner.run_steps(cohort_steps(definition, person_periods=runner.person_periods))
        if member:
            runner.cohort_findings(definition)
            _require_member(runner, definition, person_id)
        elif not runner.engine.fetch_rows("SELECT COUNT(*) FROM cohort")[0][0]:
            return pd.DataFrame()
        names = [feature.name for feature in features]
        trained = TrainedColumns.of(names, features, origin="the model's features.json")
        _, table = runner.features(definition, trained.choose)
        return table.to_pandas()


def _not_at_risk(
    definition: CohortDefinition, entry: pd.DataFrame, person_id: int, as_of: dt.date, day: int
) -> str:
    """Why the person is not at risk ``day`` days after entry, from their entry row."""
    time, event = int(entry["time"].iat[0]), int(entry["event"].iat[0])
    reason = str(entry["censor_reason"].iat[0]).replace("_", " ")
    if event >= 1 and time <= day:
        names = ["the outcome", *(e.name for e in definition.competing_events)]
        what = names[event - 1] if event - 1 < len(names) else f"event {event}"
        why = f"{what} came on day {time} after entry"
    elif time <= day:
        why = f"follow-up ended on day {time} after entry ({reason})"
    else:
        why = "they are not observed and alive on the day after it"
    return (
        f"person {person_id} is not at risk on {as_of.isoformat()} (day {day} after their entry "
        f"into cohort '{definition.name}'): {why}; score them at an earlier date"
    )
