"""Dynamic scoring (``prognosis predict --as-of DATE``): one person scored as a landmark row on
any day of their course, on the hand-made landmark CDM of tests/cohort/test_landmarks.py (whose
docstring gives each person's story; days after DAY0 = 2010-03-01).

Person 1: hypertension on +40, diabetes on day 0 and +100, nothing else. On 2010-07-19 (+140),
not a landmark of the definition: time since entry 140; hypertension in the year before it
(40 - 140 = -100) yes; diabetes records since entry (days 0..139): 2 (day 0 and +100).
On 2010-03-21 (+20): hypertension not yet (it comes on +40); diabetes since entry 1 (day 0).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from prognosis.artifacts import read_features
from prognosis.cohort import build_cohort, parse_definition, parse_source
from prognosis.cohort.person import person_features_as_of
from prognosis.cohort.sources import Source
from prognosis.exceptions import CohortError
from tests.cohort.test_handmade_cdm import TODAY, write
from tests.cohort.test_landmarks import TABLES, definition


@pytest.fixture(scope="module")
def cdm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Source, Path]:
    """The CDM as a source, and its landmark dataset (for the model's features)."""
    folder = tmp_path_factory.mktemp("as_of")
    source = parse_source(f"duckdb:///{write(folder / 'db', TABLES)}")
    build_cohort(parse_definition(definition()), source, folder / "out", today=TODAY)
    return source, folder / "out"


def _as_of(cdm: tuple[Source, Path], person: int, day: str) -> dict:
    source, out = cdm
    features = read_features(out / "features.json")
    row = person_features_as_of(
        parse_definition(definition()), source, person, dt.date.fromisoformat(day),
        features=features,
    )  # fmt: skip
    assert len(row) == 1
    return row.iloc[0].to_dict()


def test_a_day_between_landmarks_is_scored_with_its_own_features(cdm) -> None:
    row = _as_of(cdm, 1, "2010-07-19")
    assert str(row["index_date"])[:10] == "2010-07-19"
    assert row["landmark"] == 140 and row["time_since_entry"] == 140
    assert row["htn_year"] == 1 and row["new_dm_count"] == 2 and row["new_dm"] == 1
    early = _as_of(cdm, 1, "2010-03-21")
    assert early["time_since_entry"] == 20 and early["htn_year"] == 0
    assert early["new_dm_count"] == 1


def test_on_a_landmark_day_the_row_is_the_datasets_landmark_row(cdm) -> None:
    _, out = cdm
    rows = pq.read_table(out / "dataset.parquet").to_pandas()
    expected = rows[(rows["person_id"] == 1) & (rows["landmark"] == 90)].iloc[0]
    found = _as_of(cdm, 1, "2010-05-30")
    for column in ["landmark", "time_since_entry", "age", "htn_year", "new_dm", "new_dm_count"]:
        assert found[column] == expected[column], column


@pytest.mark.parametrize(
    ("person", "day", "message"),
    [
        (1, "2010-02-28", r"is 1 days before person 1's entry .* on 2010-03-01"),
        (1, "2011-03-02", r"is 366 days after person 1's entry .* to day 365 after it"),
        (3, "2010-07-20", r"not at risk on 2010-07-20 \(day 141 .*the outcome came on day 140"),
        (5, "2010-05-02", r"not at risk on 2010-05-02 .*: mi came on day 61 after entry"),
        (2, "2010-06-09", r"follow-up ended on day 100 after entry \(observation end\)"),
        (4, "2010-06-01", r"follow-up ended on day 90 after entry \(death\)"),
        (8, "2010-05-01", r"person 8 is not in cohort 'landmarks' \(fails: Age at index"),
    ],
)
def test_a_person_not_at_risk_on_the_day_is_refused_saying_why(
    cdm, person: int, day: str, message: str
) -> None:
    with pytest.raises(CohortError, match=message):
        _as_of(cdm, person, day)


def test_a_definition_without_landmarks_refuses_as_of(cdm) -> None:
    source, _ = cdm
    plain = {k: v for k, v in definition().items() if k != "landmarks"}
    plain["features"] = {"items": [{"kind": "demographics", "sex": False}]}
    with pytest.raises(CohortError, match=r"has no landmarks: .* use --index-date"):
        person_features_as_of(parse_definition(plain), source, 1, dt.date(2010, 5, 1), features=())


@pytest.mark.postgres
def test_postgresql_scores_the_same_row(
    cdm, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.cohort.test_handmade_cdm import _postgres_source

    _, out = cdm
    database = write(tmp_path / "db", TABLES)
    source = _postgres_source(request, database)
    features = read_features(out / "features.json")
    definition_ = parse_definition(definition())
    found = person_features_as_of(
        definition_, source, 1, dt.date(2010, 7, 19), features=features
    ).iloc[0]
    expected = _as_of(cdm, 1, "2010-07-19")
    for column in ["landmark", "time_since_entry", "age", "htn_year", "new_dm", "new_dm_count"]:
        assert found[column] == expected[column], column
