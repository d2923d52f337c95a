"""Implausible and missing data on hand-made CDMs: each problem is a finding with its count, rows
that cannot be used are excluded at a named attrition step, and no dataset holds a negative or
missing age. Also the scale edges: 100,000-id concept sets, 63-character names on PostgreSQL.

Expected values are worked out by hand from the rows below (the helpers and the day offsets are
those of ``test_handmade_cdm``: index DAY0 = 2010-03-01, observed 2008-01-01 → 2012-12-31).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prognosis.cohort import parse_definition, parse_source
from prognosis.cohort.build import compile_script
from prognosis.cohort.features import work_table_name
from prognosis.cohort.person import person_features
from prognosis.exceptions import CohortError, DataQualityWarning, ScoringError, SourceError
from prognosis.report.privacy import suppress_small_counts_in_text
from tests.cohort.test_handmade_cdm import (
    CELECOXIB,
    CORE_ATTRITION,
    CORE_TABLES,
    DAY0,
    DICLOFENAC,
    GI_BLEED,
    HYPERTENSION,
    PEPTIC_ULCER,
    Built,
    _postgres_source,
    build_on,
    cohort,
    condition,
    core_definition,
    core_rows,
    drug,
    observed,
    person,
    write,
)

# --- one CDM with every kind of unusable row ---------------------------------------------------

FLAWED_TABLES: dict[str, list[dict[str, Any]]] = {
    "person": [
        person(1),  # born 1950: 60 at index
        person(2, 2150),  # born after the index year (and after the build year)
        person(3, None),  # no year of birth
        person(4, 1880),  # 130 at index: more than 120 years
        person(5, 2010),  # born in the index year: 0, kept
        person(6, 1890),  # exactly 120, kept
        person(7),  # their only index record has no date
        person(8),  # one undated index record, one on DAY0
        person(9),  # their observation period has no end date
        {"person_id": None, "year_of_birth": 1950, "gender_concept_id": 8507},
    ],
    "observation_period": [
        *(observed(pid) for pid in range(1, 9)),
        {"person_id": 9, "observation_period_start_date": "2008-01-01"},  # no end date
        observed(99),  # not in person
        {**observed(1), "person_id": None},
    ],
    "drug_exposure": [
        *(drug(pid) for pid in (1, 2, 3, 4, 5, 6)),
        {"person_id": 7, "drug_concept_id": CELECOXIB},  # no date
        {"person_id": 8, "drug_concept_id": CELECOXIB},  # no date ...
        drug(8),  # ... and a dated one
        drug(9),
        {"person_id": None, "drug_concept_id": CELECOXIB, "drug_exposure_start_date": DAY0},
    ],
    "condition_occurrence": [
        condition(1, "2010-04-10"),  # day +40: the outcome
        {"person_id": 5, "condition_concept_id": GI_BLEED},  # no date: never an outcome
    ],
}
FLAWED_DEFINITION = cohort(features={"items": [{"kind": "demographics"}]})
# index events: persons 1-9, 10 records (7 and 8 have an undated one); the undated records go
# (person 7 with them); first occurrence keeps the rest; persons 2, 3 and 4 have no plausible
# year of birth; person 9's index date is in no complete observation period.
FLAWED_ATTRITION = [
    ("index_events", 9, 10, 0, 0),
    ("index_date", 8, 8, 1, 2),
    ("first_occurrence", 8, 8, 0, 0),
    ("birth_year", 5, 5, 3, 3),
    ("in_observation", 4, 4, 1, 1),
    ("at_risk", 4, 4, 0, 0),
]
ignored = "they are ignored"
no_id = "have no person_id (missing, or not an integer in the source); they are ignored"
no_date = "have no date (missing, or not a date in the source); they are ignored"
excluded = "they are excluded from the cohort (attrition step 'birth_year')"
FLAWED_FINDINGS = [
    f"table 'person', column 'person_id': 1 rows {no_id}",
    "table 'person', column 'year_of_birth': 1 rows have no year of birth (missing, or not a "
    "number in the source); these persons have no age and are excluded from the cohort "
    "(attrition step 'birth_year')",
    "table 'person', column 'year_of_birth': 1 rows have a year of birth after the build year "
    "(2024) (e.g. 2150)",
    f"table 'observation_period', column 'person_id': 1 rows {no_id}",
    "table 'observation_period', column 'person_id': 1 rows for persons not in table 'person' "
    "are ignored",
    f"table 'observation_period', column '*': 1 periods {no_date}",
    f"table 'condition_occurrence', column 'condition_start_date': 1 rows {no_date}",
    f"table 'drug_exposure', column 'person_id': 1 rows {no_id}",
    f"table 'drug_exposure', column 'drug_exposure_start_date': 2 rows {no_date}",
    "table 'drug_exposure', column 'drug_exposure_start_date': 1 of 11 rows fall outside every "
    "observation period of their person: they cannot be index events but still count as history",
    "table 'person', column 'year_of_birth': 1 persons have a year of birth after the year of "
    f"their index date; {excluded} (e.g. 2150)",
    "table 'person', column 'year_of_birth': 1 persons have a year of birth more than 120 years "
    f"before their index date; {excluded} (e.g. 1880)",
]


def build_warned(folder: Path, definition: dict[str, Any], tables: dict) -> tuple[Built, list]:
    """Build, returning the dataset and the data-quality warnings (pytest makes others errors)."""
    database = write(folder, tables)
    with pytest.warns(DataQualityWarning) as record:
        built = build_on(parse_source(f"duckdb:///{database}"), definition, folder / "out")
    return built, [str(warning.message) for warning in record]


@pytest.fixture(scope="module")
def flawed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, list[str]]:
    return build_warned(tmp_path_factory.mktemp("flawed"), FLAWED_DEFINITION, FLAWED_TABLES)


def test_no_dataset_age_is_negative_or_missing(flawed: tuple[Built, list[str]]) -> None:
    built, _ = flawed
    assert built.column("age") == {1: 60, 5: 0, 6: 120, 8: 60}


def test_attrition_names_each_step_that_removes_unusable_rows(
    flawed: tuple[Built, list[str]],
) -> None:
    built, _ = flawed
    assert built.attrition == FLAWED_ATTRITION
    descriptions = {s["step"]: s["description"] for s in built.attrition_text}
    assert descriptions["index_date"] == "Index record has a date"
    assert descriptions["birth_year"] == (
        "Year of birth known, not after the index year nor more than 120 years before"
    )


def test_each_problem_is_warned_with_table_column_count_and_example(
    flawed: tuple[Built, list[str]],
) -> None:
    _, messages = flawed
    assert messages == FLAWED_FINDINGS


def test_undated_index_record_is_never_a_first_occurrence(
    flawed: tuple[Built, list[str]],
) -> None:
    built, _ = flawed
    assert {r["person_id"]: r["index_date"] for r in built.rows}[8] == dt.date(2010, 3, 1)


def test_undated_record_does_not_count_for_a_rule_at_any_time(tmp_path: Path) -> None:
    tables = {
        "person": [person(1), person(2)],
        "observation_period": [observed(1), observed(2)],
        "drug_exposure": [drug(1), drug(2)],
        "condition_occurrence": [
            {"person_id": 1, "condition_concept_id": GI_BLEED},  # no date: ignored
            condition(2, "2009-06-01"),  # day -273: excluded
        ],
    }
    rule = {
        "name": "never_bled",
        "concept_set": "gi_bleed",
        "domain": "condition_occurrence",
        "window": [None, None],
        "max_count": 0,
    }
    built, messages = build_warned(tmp_path, cohort(rules=[rule]), tables)
    assert list(built.by_person()) == [1]
    assert messages == [
        f"table 'condition_occurrence', column 'condition_start_date': 1 rows {no_date}"
    ]


def test_findings_show_counts_under_5_as_suppressed_in_reports(
    flawed: tuple[Built, list[str]],
) -> None:
    _, messages = flawed
    for message in messages:
        shown = suppress_small_counts_in_text(message)
        assert not re.search(r"\b[0-4] (rows|persons|periods|of)\b", shown), shown
        assert "<5" in shown


def test_clean_data_list_no_data_quality_step(tmp_path: Path) -> None:
    database = write(tmp_path, CORE_TABLES)
    built = build_on(
        parse_source(f"duckdb:///{database}"), core_definition(competing=False), tmp_path / "o"
    )
    assert built.attrition == CORE_ATTRITION


def test_person_table_without_any_integer_id_raises(tmp_path: Path) -> None:
    tables = {
        "person": [{"person_id": None, "year_of_birth": 1950}],
        "observation_period": [observed(1)],
        "drug_exposure": [drug(1)],
    }
    database = write(tmp_path, tables)
    with pytest.raises(SourceError, match=r"table 'person', column 'person_id': none of its 1 "):
        build_on(parse_source(f"duckdb:///{database}"), cohort(), tmp_path / "out")


def test_scoring_a_person_born_after_the_index_date_raises(tmp_path: Path) -> None:
    database = write(tmp_path, FLAWED_TABLES)
    definition = parse_definition(FLAWED_DEFINITION)
    with (
        pytest.warns(DataQualityWarning),
        pytest.raises(
            ScoringError,
            match=r"person 2 was not yet born on the index date 2010-03-01: table 'person' "
            r"records year_of_birth 2150 \(born on or after 2150-01-01\)",
        ),
    ):
        person_features(
            definition,
            parse_source(f"duckdb:///{database}"),
            2,
            features=[],
            index_date=dt.date(2010, 3, 1),
        )


def test_scoring_a_person_older_than_120_at_the_index_date_raises(tmp_path: Path) -> None:
    database = write(tmp_path, FLAWED_TABLES)
    definition = parse_definition(FLAWED_DEFINITION)
    with pytest.raises(
        CohortError,
        match=r"person 4 has no plausible age on 2010-03-01: table 'person', column "
        r"'year_of_birth' is 1880 \(an age from 0 to 120",
    ):
        person_features(
            definition,
            parse_source(f"duckdb:///{database}"),
            4,
            features=[],
            index_date=dt.date(2010, 3, 1),
        )


# random years of birth, from missing to the far future: every kept age is 0-120, and exactly
# the persons with such an age are kept (index in 2010: born 1890 to 2010)
births = st.lists(st.none() | st.integers(1700, 2300) | st.sampled_from([1889, 1890, 2010, 2011]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(years=births.filter(lambda years: len(years) >= 1).map(lambda years: years[:6]))
def test_kept_ages_are_0_to_120_whatever_the_years_of_birth(years: list[int | None]) -> None:
    persons = [person(pid, born) for pid, born in enumerate(years, start=1)]
    tables = {
        "person": persons,
        "observation_period": [observed(p["person_id"]) for p in persons],
        "drug_exposure": [drug(p["person_id"]) for p in persons],
    }
    expected = {
        pid: 2010 - born
        for pid, born in enumerate(years, start=1)
        if born is not None and 0 <= 2010 - born <= 120
    }
    with tempfile.TemporaryDirectory() as name, warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # what they say is tested above
        folder = Path(name)
        database = write(folder, tables)
        try:
            built = build_on(parse_source(f"duckdb:///{database}"), FLAWED_DEFINITION, folder / "o")
        except CohortError as error:
            assert not expected and "is empty" in str(error)
            return
    assert built.column("age") == expected


# --- 100,000-id concept sets ------------------------------------------------------------------

ABSENT = range(2_000_000_000, 2_000_099_999)  # 99,999 ids no vocabulary has


def _big_gi_bleed() -> dict[str, Any]:
    definition = core_definition(competing=False)
    definition["concept_sets"] = {
        **definition["concept_sets"],
        "gi_bleed": {
            "include": [GI_BLEED, *ABSENT],
            "exclude": list(range(3_000_000_000, 3_000_050_000)),
            "exclude_descendants": True,
        },
    }
    return definition


@pytest.mark.parametrize(
    "engine", ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_concept_set_of_100000_ids_builds_in_seconds_with_the_same_result(
    tmp_path: Path, request: pytest.FixtureRequest, engine: str
) -> None:
    database = write(tmp_path / "db", CORE_TABLES)
    if engine == "duckdb":
        source = parse_source(f"duckdb:///{database}")
    else:
        source = _postgres_source(request, database)
    started = time.perf_counter()
    with pytest.warns(DataQualityWarning) as record:
        built = build_on(source, _big_gi_bleed(), tmp_path / "out")
    seconds = time.perf_counter() - started
    assert built.rows == core_rows()
    assert built.attrition == CORE_ATTRITION
    # one finding for the set's 99,999 + 50,000 made-up ids, not 149,999
    assert [str(w.message) for w in record] == [
        "table 'concept', column 'concept_id': 149999 concept ids of concept set 'gi_bleed' are "
        "not in the vocabulary (e.g. 2000000000, 2000000001, 2000000002)",
    ]
    assert seconds < 30


def test_index_concept_set_of_100000_ids_builds_with_the_same_cohort(tmp_path: Path) -> None:
    definition = core_definition(competing=False)
    definition["concept_sets"]["nsaids"]["include"] = [CELECOXIB, DICLOFENAC, *ABSENT[:99_998]]
    items = definition["features"]["items"]
    definition["features"]["items"] = [i for i in items if i["kind"] != "index_concept"]
    database = write(tmp_path, CORE_TABLES)
    with pytest.warns(DataQualityWarning, match="99998 concept ids of concept set 'nsaids'"):
        built = build_on(parse_source(f"duckdb:///{database}"), definition, tmp_path / "out")
    flags = {"index_1001", "index_1002"}
    assert built.rows == [{k: v for k, v in r.items() if k not in flags} for r in core_rows()]
    assert built.attrition == CORE_ATTRITION


def test_index_concept_feature_over_1000_listed_concepts_raises_before_any_work(
    tmp_path: Path,
) -> None:
    definition = core_definition(competing=False)
    definition["concept_sets"]["nsaids"]["include"] = [CELECOXIB, *ABSENT[:1000]]
    database = write(tmp_path, CORE_TABLES)
    with pytest.raises(
        CohortError,
        match=r"feature 'index_concept' would add 1001 columns, one per concept listed in "
        r"concept set 'nsaids' \(the index concept set\); at most 1000 are allowed",
    ):
        build_on(parse_source(f"duckdb:///{database}"), definition, tmp_path / "out")
    assert not (tmp_path / "out").exists()


DIALECTS = ["duckdb", "postgres", "spark", "bigquery", "snowflake", "tsql"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_sql_of_a_100000_id_concept_set_renders_in_seconds_for_every_dialect(dialect: str) -> None:
    definition = parse_definition(_big_gi_bleed())
    started = time.perf_counter()
    script = compile_script(definition, dialect)
    assert time.perf_counter() - started < 10
    listed = "(2000000000), (2000000001)" if dialect == "tsql" else "2000000000, 2000000001"
    assert "2000099998" in script and listed in script
    assert "-900000000000000000" not in script  # no placeholder left


# --- 63-character names on PostgreSQL ---------------------------------------------------------

PREFIX = "w" * 60  # two valid 63-character window names sharing their first 60 characters
YEAR, MONTH = f"{PREFIX}_yr", f"{PREFIX}_mo"


def test_long_work_table_names_stay_distinct_within_63_bytes() -> None:
    first, second = work_table_name(f"fx_2_{YEAR}"), work_table_name(f"fx_2_{MONTH}")
    assert first != second
    assert len(first.encode()) == len(second.encode()) == 63
    assert first == work_table_name(f"fx_2_{YEAR}")  # deterministic
    assert work_table_name("fx_2_prior_year") == "fx_2_prior_year"
    assert len(work_table_name(f"{first}_wide")) == 63


def _long_names_definition() -> dict[str, Any]:
    return cohort(
        concept_sets={"nsaids": [CELECOXIB, DICLOFENAC], "gi_bleed": [GI_BLEED]},
        features={
            "windows": {YEAR: [-365, -1], MONTH: [-30, -1]},
            "items": [
                {
                    "kind": "concept_set",
                    "name": "u" * 63,
                    "concept_set": "gi_bleed",
                    "domain": "condition_occurrence",
                    "windows": [YEAR, MONTH],
                    "statistics": ["presence", "count"],
                },
                {
                    "kind": "domain",
                    "domain": "condition_occurrence",
                    "windows": [YEAR, MONTH],
                    "min_prevalence": 0.5,
                },
            ],
        },
    )


LONG_TABLES: dict[str, list[dict[str, Any]]] = {
    "person": [person(1), person(2)],
    "observation_period": [observed(1), observed(2)],
    "drug_exposure": [drug(1), drug(2)],
    "condition_occurrence": [
        condition(1, "2009-06-01"),  # day -273: in the year only
        condition(1, "2010-02-19"),  # day -10: in the year and the month
        condition(2, "2009-06-01", HYPERTENSION),
        condition(1, "2009-06-01", HYPERTENSION),
        condition(2, "2010-02-24", PEPTIC_ULCER),  # day -5
    ],
}


@pytest.mark.postgres
def test_63_character_window_names_build_on_postgres_as_on_duckdb(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database = write(tmp_path / "db", LONG_TABLES)
    definition = _long_names_definition()
    on_duckdb = build_on(parse_source(f"duckdb:///{database}"), definition, tmp_path / "d")
    on_postgres = build_on(_postgres_source(request, database), definition, tmp_path / "p")
    assert on_postgres.table.equals(on_duckdb.table)
    feature = "u" * 63
    assert on_duckdb.column(f"{feature}_{YEAR}_count") == {1: 2, 2: 0}
    assert on_duckdb.column(f"{feature}_{MONTH}_count") == {1: 1, 2: 0}
    # hypertension for both persons in the year; peptic ulcer for person 2 in both windows
    assert on_duckdb.column(f"condition_{HYPERTENSION}_{YEAR}") == {1: 1, 2: 1}
    assert on_duckdb.column(f"condition_{PEPTIC_ULCER}_{MONTH}") == {1: 0, 2: 1}
