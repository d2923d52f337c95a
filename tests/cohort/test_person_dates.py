"""One-person scoring checks the index date against birth, death and observation periods.

A hand-made CDM (``tests/support/cdm.py``) where every date is chosen here:

* person 1: born 1950-06-15 (year, month and day recorded), observed 2008-01-01 to
  2012-12-31 and 2014-01-01 to 2016-06-30, died 2016-03-01;
* person 2: only a year of birth (1950), observed 2008-01-01 to 2012-12-31;
* person 3: no observation period (and no record).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from prognosis.cohort import parse_definition, parse_source
from prognosis.cohort.person import person_features
from prognosis.exceptions import PrognosisError, ScoringError
from tests.cohort.test_handmade_cdm import cohort, died, drug, observed, person, write
from tests.support.cdm import write_cdm_files

TABLES = {
    "person": [
        person(1, 1950, month_of_birth=6, day_of_birth=15),
        person(2, 1950),
        person(3, 1950),
    ],
    "observation_period": [
        observed(1),
        observed(1, "2014-01-01", "2016-06-30"),
        observed(2),
    ],
    "drug_exposure": [drug(1), drug(2)],
    "death": [died(1, "2016-03-01")],
}
DEFINITION = cohort(features={"items": [{"kind": "demographics"}]})


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("cdm"), TABLES)


@pytest.fixture(scope="module")
def source(database: Path):
    return parse_source(f"duckdb:///{database}")


def score(source, person_id: int, day: str):
    definition = parse_definition(DEFINITION)
    return person_features(
        definition, source, person_id, features=[], index_date=dt.date.fromisoformat(day)
    )


def test_a_date_before_the_recorded_birth_day_raises(source) -> None:
    with pytest.raises(
        ScoringError,
        match=r"^person 1 was not yet born on the index date 1950-06-14: table 'person' records "
        r"year_of_birth 1950, month_of_birth 6, day_of_birth 15 \(born on or after 1950-06-15\); "
        r"give an --index-date on or after 1950-06-15$",
    ):
        score(source, 1, "1950-06-14")


def test_with_only_a_year_of_birth_the_year_before_raises_and_the_year_itself_does_not(
    source,
) -> None:
    with pytest.raises(ScoringError, match=r"person 2 was not yet born .* 1949-12-31: .*"):
        score(source, 2, "1949-12-31")
    # born some day of 1950: not refused for birth, but 1950 is outside the observation period
    with pytest.raises(ScoringError, match=r"outside every observation period of person 2"):
        score(source, 2, "1950-03-01")


def test_a_date_after_death_raises(source) -> None:
    with pytest.raises(
        ScoringError,
        match=r"^person 1 died on 2016-03-01 \(table 'death'\), before the index date "
        r"2016-03-02; give an --index-date on or before 2016-03-01$",
    ):
        score(source, 1, "2016-03-02")


def test_a_date_between_observation_periods_raises_naming_them(source) -> None:
    with pytest.raises(
        ScoringError,
        match=r"^the index date 2013-06-01 lies outside every observation period of person 1 "
        r"\(table 'observation_period': 2 period\(s\) spanning 2008-01-01 to 2016-06-30: "
        r"2008-01-01 to 2012-12-31, 2014-01-01 to 2016-06-30\); give an --index-date inside",
    ):
        score(source, 1, "2013-06-01")


def test_a_person_without_observation_period_raises(source) -> None:
    with pytest.raises(ScoringError, match=r"^person 3 has no observation period"):
        score(source, 3, "2010-03-01")


@pytest.mark.parametrize("day", ["2008-01-01", "2014-06-01", "2015-12-31"])
def test_a_date_inside_an_observation_period_is_scored(source, day: str) -> None:
    row = score(source, 1, day)
    assert len(row) == 1
    assert str(row["index_date"].iloc[0])[:10] == day
    assert int(row["age"].iloc[0]) == int(day[:4]) - 1950


def test_scoring_errors_are_prognosis_and_value_errors() -> None:
    assert issubclass(ScoringError, PrognosisError) and issubclass(ScoringError, ValueError)


def test_the_checks_read_the_text_dates_of_csv_files(database: Path, tmp_path: Path) -> None:
    csv = parse_source(str(write_cdm_files(tmp_path / "csv", database)))
    with pytest.raises(ScoringError, match=r"person 1 died on 2016-03-01"):
        score(csv, 1, "2016-03-02")
    with pytest.raises(ScoringError, match=r"born on or after 1950-06-15"):
        score(csv, 1, "1950-06-01")
    assert len(score(csv, 1, "2014-06-01")) == 1
