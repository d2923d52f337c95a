"""An index date of the caller's choice, checked against one person's life and follow-up.

``prognosis predict --person-id ID --index-date DATE`` measures features before DATE and
predicts from it. That is only meaningful when the person was alive and observed then: the
date may not precede their birth (as precisely as ``person`` records it: year, month, day),
follow their death (the earliest ``death_date`` in ``death``), or fall outside every
observation period (``observation_period``). Each is a :class:`ScoringError` naming the
person's dates and what to do; the messages go to the analyst's terminal, not to a report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prognosis.cohort.catalog import PhysicalTable
from prognosis.cohort.engines import Engine
from prognosis.cohort.sql import render
from prognosis.cohort.staging import column_as
from prognosis.exceptions import ScoringError

__all__ = ["PersonDates", "check_index_date", "person_dates"]


@dataclass(frozen=True)
class PersonDates:
    """What the CDM records of one person's birth, death and observation periods."""

    year_of_birth: int | None
    month_of_birth: int | None
    day_of_birth: int | None
    death_date: dt.date | None
    periods: tuple[tuple[dt.date, dt.date], ...]

    def earliest_birth(self) -> dt.date | None:
        """The first day the person may have been born on, from the parts recorded."""
        if self.year_of_birth is None:
            return None
        month = self.month_of_birth if self.month_of_birth in range(1, 13) else None
        day = self.day_of_birth if month is not None and self.day_of_birth else None
        try:
            return dt.date(self.year_of_birth, month or 1, day or 1)
        except ValueError:  # a day of birth that the month lacks: keep the month
            return dt.date(self.year_of_birth, month or 1, 1)

    def birth_text(self) -> str:
        parts = [f"year_of_birth {self.year_of_birth}"]
        parts += [f"month_of_birth {self.month_of_birth}"] if self.month_of_birth else []
        parts += [f"day_of_birth {self.day_of_birth}"] if self.day_of_birth else []
        return ", ".join(parts)


def person_dates(engine: Engine, person_id: int) -> PersonDates:
    """Birth, death and observation periods of ``person_id``, once the staging views exist
    (restricted to the person: :meth:`StepRunner.stage` with ``person_id``)."""
    tables = engine.tables()
    year = engine.fetch_rows("SELECT MIN(year_of_birth) FROM stg_person")[0][0]
    month, day = _birth_parts(engine, tables.get("person"), person_id)
    periods = engine.fetch_rows(
        "SELECT start_date, end_date FROM stg_observation_period "
        "WHERE start_date IS NOT NULL AND end_date IS NOT NULL ORDER BY start_date, end_date"
    )
    return PersonDates(
        year_of_birth=None if year is None else int(year),
        month_of_birth=month,
        day_of_birth=day,
        death_date=_death_date(engine, tables.get("death"), person_id),
        periods=tuple((_date(start), _date(end)) for start, end in periods),
    )


def check_index_date(dates: PersonDates, person_id: int, index_date: dt.date) -> None:
    """Refuse an index date before birth, after death or outside every observation period.

    Raises
    ------
    ScoringError
        Naming the person's recorded dates and the dates that would be accepted.
    """
    day = index_date.isoformat()
    born = dates.earliest_birth()
    if born is not None and index_date < born:
        raise ScoringError(
            f"person {person_id} was not yet born on the index date {day}: table 'person' "
            f"records {dates.birth_text()} (born on or after {born.isoformat()}); give an "
            f"--index-date on or after {born.isoformat()}"
        )
    if dates.death_date is not None and index_date > dates.death_date:
        death = dates.death_date.isoformat()
        raise ScoringError(
            f"person {person_id} died on {death} (table 'death'), before the index date "
            f"{day}; give an --index-date on or before {death}"
        )
    _require_observed(dates.periods, person_id, index_date)


def _require_observed(
    periods: tuple[tuple[dt.date, dt.date], ...], person_id: int, index_date: dt.date
) -> None:
    if any(start <= index_date <= end for start, end in periods):
        return
    day = index_date.isoformat()
    if not periods:
        raise ScoringError(
            f"person {person_id} has no observation period (table 'observation_period'), so "
            f"nothing is known of them on the index date {day}; score a person who is observed"
        )
    listed = ", ".join(f"{start} to {end}" for start, end in periods[:5])
    more = f" and {len(periods) - 5} more" if len(periods) > 5 else ""
    raise ScoringError(
        f"the index date {day} lies outside every observation period of person {person_id} "
        f"(table 'observation_period': {len(periods)} period(s) spanning {periods[0][0]} to "
        f"{max(end for _, end in periods)}: {listed}{more}); give an --index-date inside one "
        "of them, where the person's records are complete"
    )


def _birth_parts(
    engine: Engine, person: PhysicalTable | None, person_id: int
) -> tuple[int | None, int | None]:
    """Month and day of birth where the person table has those (optional) columns."""
    if person is None:
        return None, None
    parts = [
        column_as(person, name, "INTEGER") if name in person.columns else "CAST(NULL AS INTEGER)"
        for name in ("month_of_birth", "day_of_birth")
    ]
    sql = (
        f"SELECT MIN({parts[0]}), MIN({parts[1]}) FROM {person.reference} "
        f"WHERE {column_as(person, 'person_id', 'BIGINT')} = {int(person_id)}"
    )
    month, day = engine.fetch_rows(render(sql, engine.dialect))[0]
    return (None if month is None else int(month)), (None if day is None else int(day))


def _death_date(engine: Engine, death: PhysicalTable | None, person_id: int) -> dt.date | None:
    """The earliest recorded death date; None without a usable death table."""
    if death is None or not {"person_id", "death_date"} <= set(death.columns):
        return None
    sql = (
        f"SELECT MIN({column_as(death, 'death_date', 'DATE')}) FROM {death.reference} "
        f"WHERE {column_as(death, 'person_id', 'BIGINT')} = {int(person_id)}"
    )
    value = engine.fetch_rows(render(sql, engine.dialect))[0][0]
    return None if value is None else _date(value)


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
