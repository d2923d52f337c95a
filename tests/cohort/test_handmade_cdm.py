"""Cohort builds on tiny hand-made CDMs, every expected value worked out by hand.

Unless a test says otherwise, a person is observed 2008-01-01 → 2012-12-31, is male, born in
1950, and starts celecoxib on the index date DAY0 = 2010-03-01. Day offsets from DAY0 used below
(2010 and 2011 are not leap years, so a year after DAY0 is exactly 365 days):

    2007-06-01 = -1004  2009-01-25 = -400   2009-02-28 = -366   2009-03-01 = -365
    2009-06-01 = -273   2009-11-21 = -100   2010-01-29 =  -31   2010-01-30 =  -30
    2010-02-19 =  -10   2010-02-24 =   -5   2010-02-26 =   -3   2010-02-27 =   -2
    2010-02-28 =   -1   2010-03-02 =   +1   2010-03-30 =  +29   2010-03-31 =  +30
    2010-04-10 =  +40   2010-04-20 =  +50   2010-04-30 =  +60   2010-05-01 =  +61
    2010-06-09 = +100   2010-07-19 = +140   2010-09-17 = +200   2011-03-01 = +365
    2011-03-02 = +366

e.g. 2010-03-01 → 2010-04-10: 31 days of March + 9 = 40.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prognosis.cohort import build_cohort, parse_definition, parse_source
from prognosis.cohort.sources import Source
from prognosis.exceptions import DataQualityWarning, DefinitionError
from tests.support.cdm import write_cdm, write_cdm_files
from tests.support.postgres import load_duckdb_into_postgres

MALE, FEMALE = 8507, 8532
CELECOXIB, DICLOFENAC, CELECOXIB_CAPSULE, CELECOXIB_PACK = 1001, 1002, 1003, 1004
GI_BLEED, MELENA = 2001, 2002
PEPTIC_ULCER, MYOCARDIAL_INFARCTION, HEMOGLOBIN, ASPIRIN = 3001, 4001, 5001, 6001
HYPERTENSION, DIABETES = 7001, 7002

DAY0 = "2010-03-01"  # the usual index date
TODAY = dt.date(2024, 1, 1)  # the build date: no record is "in the future"

VOCABULARY = [
    {"concept_id": cid, "concept_name": name}
    for cid, name in [
        (CELECOXIB, "Celecoxib"),
        (DICLOFENAC, "Diclofenac"),
        (CELECOXIB_CAPSULE, "Celecoxib 200 MG Oral Capsule"),
        (CELECOXIB_PACK, "Celecoxib 200 MG Oral Capsule [Pack]"),
        (GI_BLEED, "Gastrointestinal hemorrhage"),
        (MELENA, "Melena"),
        (PEPTIC_ULCER, "Peptic ulcer"),
        (MYOCARDIAL_INFARCTION, "Myocardial infarction"),
        (HEMOGLOBIN, "Hemoglobin"),
        (ASPIRIN, "Aspirin"),
        (HYPERTENSION, "Hypertension"),
        (DIABETES, "Diabetes mellitus"),
    ]
]
# celecoxib → capsule → pack, and GI hemorrhage → melena; OMOP lists every concept as its
# own ancestor (level 0) and every transitive pair (celecoxib → pack, level 2).
ANCESTRY = [
    {"ancestor_concept_id": a, "descendant_concept_id": d}
    for a, d in [
        (CELECOXIB, CELECOXIB),
        (CELECOXIB, CELECOXIB_CAPSULE),
        (CELECOXIB, CELECOXIB_PACK),
        (CELECOXIB_CAPSULE, CELECOXIB_CAPSULE),
        (CELECOXIB_CAPSULE, CELECOXIB_PACK),
        (CELECOXIB_PACK, CELECOXIB_PACK),
        (GI_BLEED, GI_BLEED),
        (GI_BLEED, MELENA),
        (MELENA, MELENA),
    ]
]


# --- rows of the tiny CDM ---------------------------------------------------------------------


def person(pid: int, born: int = 1950, gender: int = MALE, **more: Any) -> dict[str, Any]:
    return {"person_id": pid, "year_of_birth": born, "gender_concept_id": gender, **more}


def observed(pid: int, start: str = "2008-01-01", end: str = "2012-12-31") -> dict[str, Any]:
    return {
        "person_id": pid,
        "observation_period_start_date": start,
        "observation_period_end_date": end,
    }


def drug(pid: int, date: str = DAY0, concept: int = CELECOXIB) -> dict[str, Any]:
    return {"person_id": pid, "drug_concept_id": concept, "drug_exposure_start_date": date}


def condition(pid: int, date: str, concept: int = GI_BLEED) -> dict[str, Any]:
    return {"person_id": pid, "condition_concept_id": concept, "condition_start_date": date}


def lab(pid: int, date: str, value: float | None, concept: int = HEMOGLOBIN) -> dict[str, Any]:
    return {
        "person_id": pid,
        "measurement_concept_id": concept,
        "measurement_date": date,
        "value_as_number": value,
    }


def died(pid: int, date: str) -> dict[str, Any]:
    return {"person_id": pid, "death_date": date}


def cohort(*, name: str = "handmade", **parts: Any) -> dict[str, Any]:
    """A definition: celecoxib new users, GI hemorrhage within a year; ``parts`` replace keys."""
    definition: dict[str, Any] = {
        "name": name,
        "concept_sets": {"nsaids": [CELECOXIB], "gi_bleed": [GI_BLEED]},
        "index": {"concept_set": "nsaids", "domain": "drug_exposure"},
        "outcome": {
            "concept_set": "gi_bleed",
            "domain": "condition_occurrence",
            "time_at_risk": [1, 365],
        },
    }
    definition.update(parts)
    return definition


# --- building ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    table: pa.Table
    rows: list[dict[str, Any]]
    attrition: list[tuple[str, int, int, int, int]]
    attrition_text: list[dict[str, Any]]
    features: list[dict[str, Any]]

    def by_person(self) -> dict[int, tuple[int, int, str]]:
        """person_id → (time, event, censor_reason), for cohorts with one row per person."""
        return {r["person_id"]: (r["time"], r["event"], r["censor_reason"]) for r in self.rows}

    def column(self, name: str) -> dict[int, Any]:
        return {r["person_id"]: r[name] for r in self.rows}


def build_on(source: Source, definition: dict[str, Any], out: Path) -> Built:
    build_cohort(parse_definition(definition), source, out, today=TODAY)
    attrition = json.loads((out / "attrition.json").read_text())
    return Built(
        table=pq.read_table(out / "dataset.parquet"),
        rows=pq.read_table(out / "dataset.parquet").to_pylist(),
        attrition=[
            (
                s["step"],
                s["persons"],
                s["index_events"],
                s["persons_dropped"],
                s["index_events_dropped"],
            )
            for s in attrition
        ],
        attrition_text=attrition,
        features=json.loads((out / "features.json").read_text()),
    )


def write(folder: Path, tables: dict[str, list[dict[str, Any]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    everything = {"concept": VOCABULARY, "concept_ancestor": ANCESTRY, **tables}
    return write_cdm(folder / "cdm.duckdb", everything)


def build(folder: Path, definition: dict[str, Any], tables: dict[str, list]) -> Built:
    database = write(folder, tables)
    return build_on(parse_source(f"duckdb:///{database}"), definition, folder / "out")


# --- the core scenario: one person per follow-up rule ----------------------------------------

J = "2011-01-01"  # person 6's index date; 2011-01-01 → 2011-06-30 = 31+28+31+30+31+29 = 180 days

CORE_TABLES: dict[str, list[dict[str, Any]]] = {
    "person": [
        person(1),
        # born 31 December 1970: 39 on 2010-03-01, but age is index year - birth year = 40
        person(2, 1970, FEMALE, month_of_birth=12, day_of_birth=31),
        person(3, 1980, 0),
        *(person(pid) for pid in (4, 5, 6, 7, 8, 9, 10)),
    ],
    "observation_period": [
        *(observed(pid) for pid in (1, 2, 3, 4, 6, 7, 8, 10)),
        observed(5, "2008-01-01", "2010-06-09"),  # ends on day +100 ...
        observed(5, "2010-09-17", "2012-12-31"),  # ... a later period does not extend it
        observed(9, "2008-01-01", DAY0),  # ends on the index date: never at risk
    ],
    "drug_exposure": [
        drug(1),
        drug(1, "2010-05-01", DICLOFENAC),  # day +61: a later index event, not the first
        drug(2, DAY0, CELECOXIB_CAPSULE),  # a descendant of celecoxib
        drug(3, DAY0, DICLOFENAC),
        *(drug(pid) for pid in (4, 5, 7, 8, 9, 10)),
        drug(6, J),
    ],
    "condition_occurrence": [
        condition(1, "2010-04-10"),  # day +40: the first outcome ...
        condition(1, "2010-06-09"),  # ... and a later one that does not count
        condition(1, "2009-03-01", PEPTIC_ULCER),  # day -365
        condition(1, "2010-02-28", PEPTIC_ULCER),  # day -1
        condition(1, "2009-06-01", HYPERTENSION),  # day -273
        condition(2, DAY0),  # day 0: not at risk yet
        condition(2, "2010-02-28"),  # day -1
        condition(2, "2009-02-28", PEPTIC_ULCER),  # day -366: outside the prior year
        condition(3, "2011-03-01"),  # day +365: last day at risk
        condition(4, "2011-03-02"),  # day +366: after the time at risk
        condition(4, "2009-06-01", HYPERTENSION),
        condition(5, "2010-09-17"),  # day +200: after observation ended on day +100
        condition(5, "2009-06-01", HYPERTENSION),
        condition(6, "2011-08-01"),  # day +212 from J: after the cut-off
        condition(6, "2010-06-01", DIABETES),  # day -214 from J
        condition(7, "2010-04-30"),  # day +60: after death
        condition(7, "2010-04-20", MYOCARDIAL_INFARCTION),  # day +50, the day of death
        condition(8, "2010-04-10"),  # day +40 ...
        condition(8, "2010-04-10", MYOCARDIAL_INFARCTION),  # ... with a competing event
        condition(8, "2009-06-01", DIABETES),
        condition(9, "2009-06-01", DIABETES),  # not in the cohort: not in the prevalence
        condition(10, "2010-04-10", MYOCARDIAL_INFARCTION),  # day +40
        condition(10, "2010-04-30"),  # day +60
    ],
    "measurement": [
        lab(1, "2010-01-30", 13.5),  # day -30
        lab(1, "2010-02-28", 12.0),  # day -1: the latest
        lab(2, "2010-01-30", 11.0),  # day -30
        lab(2, "2010-02-28", None),  # day -1, but no value
        lab(3, DAY0, 9.0),  # day 0: not before index
    ],
    "death": [died(7, "2010-04-20")],  # day +50
}


def core_definition(*, competing: bool) -> dict[str, Any]:
    definition = cohort(
        name="core",
        concept_sets={
            "nsaids": {"include": [CELECOXIB, DICLOFENAC], "descendants": True},
            "gi_bleed": [GI_BLEED],
            "ulcer": {"include": [PEPTIC_ULCER], "label": "Peptic ulcer disease"},
            "mi": [MYOCARDIAL_INFARCTION],
            "hemoglobin": [HEMOGLOBIN],
        },
        censoring={"data_cutoff": "2011-06-30"},
        features={
            "windows": {"prior_year": [-365, -1]},
            "items": [
                {"kind": "demographics"},
                {"kind": "index_concept"},
                {
                    "kind": "concept_set",
                    "name": "ulcer",
                    "concept_set": "ulcer",
                    "domain": "condition_occurrence",
                    "windows": ["prior_year"],
                    "statistics": ["presence", "count"],
                },
                {
                    "kind": "concept_set",
                    "name": "hemoglobin",
                    "concept_set": "hemoglobin",
                    "domain": "measurement",
                    "windows": ["prior_year"],
                    "statistics": ["last"],
                },
                {
                    "kind": "domain",
                    "domain": "condition_occurrence",
                    "windows": ["prior_year"],
                    "min_prevalence": 0.3,
                },
            ],
        },
    )
    if competing:
        definition["competing_events"] = [
            {"name": "death", "domain": "death"},
            {"name": "mi", "domain": "condition_occurrence", "concept_set": "mi"},
        ]
    return definition


CORE_COLUMNS = [
    ("person_id", pa.int64()),
    ("index_date", pa.date32()),
    ("time", pa.int32()),
    ("event", pa.int32()),
    ("censor_reason", pa.string()),
    ("age", pa.int32()),
    ("sex_male", pa.int32()),
    ("index_1001", pa.int32()),
    ("index_1002", pa.int32()),
    ("ulcer_prior_year", pa.int32()),
    ("ulcer_prior_year_count", pa.int32()),
    ("hemoglobin_prior_year_last", pa.float64()),
    # condition concepts seen in the prior year of the 9 persons in the cohort (9 has left):
    # hypertension 1, 4, 5 (3 persons); diabetes 6, 8; GI bleed 2; peptic ulcer 1.
    # min_prevalence 0.3 of 9 = 2.7 → at least 3 persons: hypertension only.
    ("condition_7001_prior_year", pa.int32()),
]
_d = dt.date.fromisoformat
# time: days to the first outcome, else to the end of follow-up (the earliest of observation end,
# death, day 365 and the cut-off 2011-06-30, which is day 486 from DAY0 and day 180 from J).
CORE_EXPECTED = [
    # pid index   time ev reason            age sex i1001 i1002 ulc ulc_n  hb   htn
    (1, _d(DAY0), 40, 1, "", 60, 1, 1, 0, 1, 2, 12.0, 1),
    (2, _d(DAY0), 365, 0, "time_at_risk_end", 40, 0, 1, 0, 0, 0, 11.0, 0),
    (3, _d(DAY0), 365, 1, "", 30, None, 0, 1, 0, 0, None, 0),
    (4, _d(DAY0), 365, 0, "time_at_risk_end", 60, 1, 1, 0, 0, 0, None, 1),
    (5, _d(DAY0), 100, 0, "observation_end", 60, 1, 1, 0, 0, 0, None, 1),
    (6, _d(J), 180, 0, "data_cutoff", 61, 1, 1, 0, 0, 0, None, 0),
    (7, _d(DAY0), 50, 0, "death", 60, 1, 1, 0, 0, 0, None, 0),
    (8, _d(DAY0), 40, 1, "", 60, 1, 1, 0, 0, 0, None, 0),
    (10, _d(DAY0), 60, 1, "", 60, 1, 1, 0, 0, 0, None, 0),
]
# 10 persons with 11 index events (person 1 has two); person 1's second is not a first
# occurrence; person 9's observation ends on the index date, before day 1 of the time at risk.
CORE_ATTRITION = [
    ("index_events", 10, 11, 0, 0),
    ("first_occurrence", 10, 10, 0, 1),
    ("in_observation", 10, 10, 0, 0),
    ("at_risk", 9, 9, 1, 1),
]


def core_rows() -> list[dict[str, Any]]:
    names = [name for name, _ in CORE_COLUMNS]
    return [dict(zip(names, row, strict=True)) for row in CORE_EXPECTED]


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("core")
    return build(folder, core_definition(competing=False), CORE_TABLES)


@pytest.fixture(scope="module")
def core_competing(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("core_competing")
    return build(folder, core_definition(competing=True), CORE_TABLES)


def test_core_dataset_matches_the_hand_computed_table(core: Built) -> None:
    assert core.table.schema == pa.schema(CORE_COLUMNS)
    assert core.rows == core_rows()
    assert core.attrition == CORE_ATTRITION


def test_outcome_inside_time_at_risk_is_an_event_on_the_day_of_the_first_record(
    core: Built,
) -> None:
    # outcomes on days +40 and +100: the first counts
    assert core.by_person()[1] == (40, 1, "")


def test_outcome_on_the_index_day_or_before_is_ignored(core: Built) -> None:
    # outcomes on days 0 and -1; followed to the end of the time at risk
    assert core.by_person()[2] == (365, 0, "time_at_risk_end")


def test_outcome_on_the_last_day_of_time_at_risk_is_an_event(core: Built) -> None:
    assert core.by_person()[3] == (365, 1, "")


def test_outcome_after_time_at_risk_is_censored_at_its_end(core: Built) -> None:
    # outcome on day +366
    assert core.by_person()[4] == (365, 0, "time_at_risk_end")


def test_outcome_after_observation_end_is_censored_at_observation_end(core: Built) -> None:
    # the observation period holding the index ends on day +100; the outcome (day +200) lies
    # in a later period, which does not extend follow-up
    assert core.by_person()[5] == (100, 0, "observation_end")


def test_data_cutoff_censors_follow_up(core: Built) -> None:
    # index 2011-01-01, cut-off 2011-06-30 = day 180, outcome on day +212
    assert core.by_person()[6] == (180, 0, "data_cutoff")


def test_death_ends_follow_up_when_it_is_not_an_event(core: Built) -> None:
    # death on day +50, outcome on day +60
    assert core.by_person()[7] == (50, 0, "death")


def test_competing_events_are_coded_2_and_3_in_definition_order(core_competing: Built) -> None:
    survival = core_competing.by_person()
    # person 7: death (listed first, code 2) and myocardial infarction (code 3), both day +50
    assert survival[7] == (50, 2, "")
    # person 10: myocardial infarction on day +40 comes before the outcome on day +60
    assert survival[10] == (40, 3, "")
    # the other persons do not change
    assert {pid: survival[pid] for pid in (1, 2, 3, 4, 5, 6)} == {
        1: (40, 1, ""),
        2: (365, 0, "time_at_risk_end"),
        3: (365, 1, ""),
        4: (365, 0, "time_at_risk_end"),
        5: (100, 0, "observation_end"),
        6: (180, 0, "data_cutoff"),
    }
    assert core_competing.attrition == CORE_ATTRITION


def test_outcome_and_competing_event_on_the_same_day_the_outcome_wins(
    core: Built, core_competing: Built
) -> None:
    # person 8: outcome and myocardial infarction both on day +40
    assert core.by_person()[8] == (40, 1, "")
    assert core_competing.by_person()[8] == (40, 1, "")


def test_person_whose_observation_ends_before_time_at_risk_is_dropped(core: Built) -> None:
    assert 9 not in core.by_person()
    assert core.attrition[-1] == ("at_risk", 9, 9, 1, 1)
    assert core.attrition_text[-1]["description"] == "Still observed and alive on day 1"


def test_first_occurrence_keeps_only_the_earliest_index_per_person(core: Built) -> None:
    # person 1 takes celecoxib on DAY0 and diclofenac on day +61: one row, dated DAY0
    assert [r["index_date"] for r in core.rows if r["person_id"] == 1] == [_d(DAY0)]


# --- follow-up details on their own small CDMs ------------------------------------------------


def test_time_at_risk_starting_on_day_30_drops_and_ignores_what_comes_before(
    tmp_path: Path,
) -> None:
    tables = {
        "person": [person(pid) for pid in (1, 2, 3, 4)],
        "observation_period": [
            observed(1, end="2010-03-30"),  # day +29: gone before day 30
            observed(2, end="2010-03-31"),  # day +30: at risk for exactly day 30
            observed(3),
            observed(4),
        ],
        "drug_exposure": [drug(pid) for pid in (1, 2, 3, 4)],
        "condition_occurrence": [
            condition(3, "2010-03-30"),  # day +29: before the time at risk
            condition(4, "2010-03-31"),  # day +30: its first day
        ],
    }
    outcome = {"concept_set": "gi_bleed", "domain": "condition_occurrence"}
    built = build(tmp_path, cohort(outcome={**outcome, "time_at_risk": [30, 365]}), tables)
    assert built.by_person() == {
        2: (30, 0, "observation_end"),
        3: (365, 0, "time_at_risk_end"),
        4: (30, 1, ""),
    }
    assert built.attrition == [
        ("index_events", 4, 4, 0, 0),
        ("first_occurrence", 4, 4, 0, 0),
        ("in_observation", 4, 4, 0, 0),
        ("at_risk", 3, 3, 1, 1),
    ]


def test_censor_reason_ties_prefer_death_then_observation_end_then_cutoff(
    tmp_path: Path,
) -> None:
    # time at risk [1, 100] and cut-off 2010-06-09 both end on day +100
    tables = {
        "person": [person(pid) for pid in (1, 2, 3)],
        "observation_period": [
            observed(1, end="2010-06-09"),  # observation, death, cut-off and time at risk
            observed(2, end="2010-06-09"),  # observation, cut-off and time at risk
            observed(3),  # cut-off and time at risk
        ],
        "drug_exposure": [drug(pid) for pid in (1, 2, 3)],
        "death": [died(1, "2010-06-09")],
    }
    outcome = {"concept_set": "gi_bleed", "domain": "condition_occurrence"}
    definition = cohort(
        outcome={**outcome, "time_at_risk": [1, 100]},
        censoring={"data_cutoff": "2010-06-09"},
    )
    assert build(tmp_path, definition, tables).by_person() == {
        1: (100, 0, "death"),
        2: (100, 0, "observation_end"),
        3: (100, 0, "data_cutoff"),
    }


def test_outcome_on_the_day_of_death_is_an_event_and_death_on_index_day_drops(
    tmp_path: Path,
) -> None:
    tables = {
        "person": [person(1), person(2)],
        "observation_period": [observed(1), observed(2)],
        "drug_exposure": [drug(1), drug(2)],
        "condition_occurrence": [condition(1, "2010-04-20")],  # day +50
        "death": [died(1, "2010-04-20"), died(2, DAY0)],  # day +50; day 0
    }
    built = build(tmp_path, cohort(), tables)
    assert built.by_person() == {1: (50, 1, "")}
    assert built.attrition[-1] == ("at_risk", 1, 1, 1, 1)


def test_all_occurrences_give_one_row_per_index_date(tmp_path: Path) -> None:
    tables = {
        "person": [person(1), person(2)],
        "observation_period": [observed(1), observed(2)],
        "drug_exposure": [
            drug(1, DAY0),
            drug(1, "2010-06-09"),
            drug(1, "2010-09-17"),
            drug(1, "2010-09-17"),  # a second record on the same day: the same index event
            drug(2, DAY0),
        ],
        "condition_occurrence": [condition(1, "2010-07-19")],
    }
    index = {"concept_set": "nsaids", "domain": "drug_exposure", "occurrence": "all"}
    built = build(tmp_path, cohort(index=index), tables)
    survival = [
        (r["person_id"], r["index_date"], r["time"], r["event"], r["censor_reason"])
        for r in built.rows
    ]
    assert survival == [
        # outcome 2010-07-19: 31+30+31+30+18 = 140 days after 2010-03-01
        (1, _d("2010-03-01"), 140, 1, ""),
        # 2010-06-09 → 2010-07-19: 21+19 = 40 days
        (1, _d("2010-06-09"), 40, 1, ""),
        # the outcome precedes this index: followed for the whole year
        (1, _d("2010-09-17"), 365, 0, "time_at_risk_end"),
        (2, _d("2010-03-01"), 365, 0, "time_at_risk_end"),
    ]
    assert built.attrition == [
        ("index_events", 2, 4, 0, 0),
        ("in_observation", 2, 4, 0, 0),
        ("at_risk", 2, 4, 0, 0),
    ]


# --- index criteria and attrition -------------------------------------------------------------


def test_min_prior_observation_of_365_days_admits_exactly_365(tmp_path: Path) -> None:
    tables = {
        "person": [person(1), person(2)],
        # 2009-01-01 → 2010-01-01 = 365 days; 2009-01-02 → 2010-01-01 = 364 days
        "observation_period": [observed(1, start="2009-01-01"), observed(2, start="2009-01-02")],
        "drug_exposure": [drug(1, "2010-01-01"), drug(2, "2010-01-01")],
    }
    index = {"concept_set": "nsaids", "domain": "drug_exposure", "min_prior_observation": 365}
    built = build(tmp_path, cohort(index=index), tables)
    assert list(built.by_person()) == [1]
    assert built.attrition == [
        ("index_events", 2, 2, 0, 0),
        ("first_occurrence", 2, 2, 0, 0),
        ("in_observation", 2, 2, 0, 0),
        ("prior_observation", 1, 1, 1, 1),
        ("at_risk", 1, 1, 0, 0),
    ]
    assert built.attrition_text[3]["description"] == "At least 365 days of prior observation"


def test_index_outside_every_observation_period_is_dropped(tmp_path: Path) -> None:
    tables = {
        "person": [person(1), person(2)],
        "observation_period": [observed(1, "2009-01-01", "2009-12-31"), observed(2)],
        "drug_exposure": [drug(1), drug(2)],
    }
    with pytest.warns(
        DataQualityWarning, match="drug_exposure_start_date': 1 of 2 rows fall outside every"
    ):
        built = build(tmp_path, cohort(), tables)
    assert list(built.by_person()) == [2]
    assert built.attrition == [
        ("index_events", 2, 2, 0, 0),
        ("first_occurrence", 2, 2, 0, 0),
        ("in_observation", 1, 1, 1, 1),
        ("at_risk", 1, 1, 0, 0),
    ]


def test_first_occurrence_before_observation_is_dropped_not_moved_to_a_later_one(
    tmp_path: Path,
) -> None:
    tables = {
        "person": [person(1), person(2)],
        "observation_period": [observed(1, start="2010-01-01"), observed(2)],
        # person 1's first celecoxib (2009-06-01) precedes observation; the second is inside
        "drug_exposure": [drug(1, "2009-06-01"), drug(1, DAY0), drug(2)],
    }
    with pytest.warns(DataQualityWarning, match="1 of 3 rows fall outside every observation"):
        built = build(tmp_path, cohort(), tables)
    assert list(built.by_person()) == [2]
    assert built.attrition == [
        ("index_events", 2, 3, 0, 0),
        ("first_occurrence", 2, 2, 0, 1),
        ("in_observation", 1, 1, 1, 1),
        ("at_risk", 1, 1, 0, 0),
    ]


def test_age_range_is_inclusive_and_counts_index_year_minus_birth_year(tmp_path: Path) -> None:
    # index in 2010: born 1971 → 39, 1970 → 40, 1950 → 60, 1949 → 61
    tables = {
        "person": [
            person(1, 1971),
            person(2, 1970, month_of_birth=12),  # still 39 in March, but 2010 - 1970 = 40
            person(3, 1950),
            person(4, 1949),
        ],
        "observation_period": [observed(pid) for pid in (1, 2, 3, 4)],
        "drug_exposure": [drug(pid) for pid in (1, 2, 3, 4)],
    }
    index = {"concept_set": "nsaids", "domain": "drug_exposure", "age": {"min": 40, "max": 60}}
    features = {"items": [{"kind": "demographics", "sex": False}]}
    built = build(tmp_path, cohort(index=index, features=features), tables)
    assert built.column("age") == {2: 40, 3: 60}
    assert built.attrition == [
        ("index_events", 4, 4, 0, 0),
        ("first_occurrence", 4, 4, 0, 0),
        ("in_observation", 4, 4, 0, 0),
        ("age", 2, 2, 2, 2),
        ("at_risk", 2, 2, 0, 0),
    ]
    assert built.attrition_text[3]["description"] == "Age at index [40, 60]"


def test_calendar_window_is_inclusive_and_applies_to_the_first_occurrence(
    tmp_path: Path,
) -> None:
    tables = {
        "person": [person(pid) for pid in (1, 2, 3, 4, 5)],
        "observation_period": [observed(pid) for pid in (1, 2, 3, 4, 5)],
        "drug_exposure": [
            drug(1, "2009-12-31"),  # the day before the window
            drug(2, "2010-01-01"),  # its first day
            drug(3, "2010-12-31"),  # its last day
            drug(4, "2011-01-01"),  # the day after
            drug(5, "2009-12-31"),  # first use before the window ...
            drug(5, "2010-05-01"),  # ... a later one inside it is not taken instead
        ],
    }
    index = {
        "concept_set": "nsaids",
        "domain": "drug_exposure",
        "dates": {"start": "2010-01-01", "end": "2010-12-31"},
    }
    built = build(tmp_path, cohort(index=index), tables)
    assert list(built.by_person()) == [2, 3]
    assert built.attrition == [
        ("index_events", 5, 6, 0, 0),
        ("first_occurrence", 5, 5, 0, 1),
        ("in_observation", 5, 5, 0, 0),
        ("index_dates", 2, 2, 3, 3),
        ("at_risk", 2, 2, 0, 0),
    ]


def test_rules_count_records_in_open_ended_windows(tmp_path: Path) -> None:
    ulcer = {
        pid: [
            condition(pid, "2009-01-25", PEPTIC_ULCER),
            condition(pid, "2010-02-28", PEPTIC_ULCER),
        ]
        for pid in (1, 4, 5)
    }  # days -400 and -1
    tables = {
        "person": [person(pid) for pid in range(1, 7)],
        "observation_period": [observed(pid) for pid in range(1, 7)],
        "drug_exposure": [
            *(drug(pid) for pid in range(1, 7)),
            drug(4, "2010-06-09", ASPIRIN),  # day +100: inside [-30, open)
            drug(5, "2010-01-29", ASPIRIN),  # day -31: outside
            drug(6, "2010-01-30", ASPIRIN),  # day -30: inside
        ],
        "condition_occurrence": [
            *ulcer[1],  # two ulcers, no aspirin: kept
            condition(2, "2010-02-28", PEPTIC_ULCER),  # one ulcer: too few
            condition(3, "2010-02-24", PEPTIC_ULCER),  # day -5 ...
            condition(3, DAY0, PEPTIC_ULCER),  # ... and day 0, which is not before index
            *ulcer[4],
            *ulcer[5],
            *(
                condition(6, date, PEPTIC_ULCER)
                for date in ("2010-02-26", "2010-02-27", "2010-02-28")
            ),
        ],
    }
    definition = cohort(
        concept_sets={
            "nsaids": [CELECOXIB],
            "gi_bleed": [GI_BLEED],
            "ulcer": [PEPTIC_ULCER],
            "aspirin": [ASPIRIN],
        },
        rules=[
            {
                "name": "two_prior_ulcers",
                "concept_set": "ulcer",
                "domain": "condition_occurrence",
                "window": [None, -1],
                "min_count": 2,
            },
            {
                "name": "no_aspirin_from_day_minus_30",
                "concept_set": "aspirin",
                "domain": "drug_exposure",
                "window": [-30, None],
                "max_count": 0,
            },
        ],
    )
    built = build(tmp_path, definition, tables)
    assert list(built.by_person()) == [1, 5]
    assert built.attrition == [
        ("index_events", 6, 6, 0, 0),
        ("first_occurrence", 6, 6, 0, 0),
        ("in_observation", 6, 6, 0, 0),
        ("two_prior_ulcers", 4, 4, 2, 2),  # 2 and 3 have one ulcer before index
        ("no_aspirin_from_day_minus_30", 2, 2, 2, 2),  # 4 and 6 take aspirin from day -30
        ("at_risk", 2, 2, 0, 0),
    ]
    descriptions = [step["description"] for step in built.attrition_text[3:5]]
    assert descriptions == [
        "at least 2 records of ulcer in condition_occurrence any time up to 1 day before index",
        "at most 0 records of aspirin in drug_exposure from 30 days before index onwards",
    ]


def test_rule_with_min_and_max_count_keeps_counts_in_between(tmp_path: Path) -> None:
    ulcer_days = ["2010-02-24", "2010-02-26", "2010-02-27"]  # days -5, -3, -2
    tables = {
        "person": [person(pid) for pid in (1, 2, 3, 4)],
        "observation_period": [observed(pid) for pid in (1, 2, 3, 4)],
        "drug_exposure": [drug(pid) for pid in (1, 2, 3, 4)],
        # person n has n - 1 ulcers in the prior year: 0, 1, 2, 3
        "condition_occurrence": [
            condition(pid, date, PEPTIC_ULCER)
            for pid in (1, 2, 3, 4)
            for date in ulcer_days[: pid - 1]
        ],
    }
    rule = {
        "name": "one_or_two_ulcers",
        "concept_set": "ulcer",
        "domain": "condition_occurrence",
        "window": [-365, -1],
        "min_count": 1,
        "max_count": 2,
    }
    concept_sets = {"nsaids": [CELECOXIB], "gi_bleed": [GI_BLEED], "ulcer": [PEPTIC_ULCER]}
    built = build(tmp_path, cohort(concept_sets=concept_sets, rules=[rule]), tables)
    assert list(built.by_person()) == [2, 3]
    assert built.attrition[3] == ("one_or_two_ulcers", 2, 2, 2, 2)


@pytest.mark.parametrize(
    ("lookback", "kept", "dropped"),
    [
        # all time: outcomes on days -1004, -366, -365 and 0 (before the risk window, which
        # starts on day 1) all exclude
        (None, [5], 4),
        # 365 days: days -365 and 0 are inside [-365, 0]
        (365, [1, 2, 5], 2),
    ],
)
def test_exclude_prior_outcome_looks_back_all_time_or_the_given_days(
    tmp_path: Path, lookback: int | None, kept: list[int], dropped: int
) -> None:
    tables = {
        "person": [person(pid) for pid in (1, 2, 3, 4, 5)],
        "observation_period": [observed(pid, start="2007-01-01") for pid in (1, 2, 3, 4, 5)],
        "drug_exposure": [drug(pid) for pid in (1, 2, 3, 4, 5)],
        "condition_occurrence": [
            condition(1, "2007-06-01"),  # day -1004
            condition(2, "2009-02-28"),  # day -366
            condition(3, "2009-03-01"),  # day -365
            condition(4, DAY0),  # day 0: before the risk window starts, so prior
        ],
    }
    exclude_prior = {} if lookback is None else {"lookback": lookback}
    outcome = {
        "concept_set": "gi_bleed",
        "domain": "condition_occurrence",
        "time_at_risk": [1, 365],
        "exclude_prior": exclude_prior,
    }
    built = build(tmp_path, cohort(outcome=outcome), tables)
    assert list(built.by_person()) == kept
    assert built.attrition == [
        ("index_events", 5, 5, 0, 0),
        ("first_occurrence", 5, 5, 0, 0),
        ("in_observation", 5, 5, 0, 0),
        ("no_prior_outcome", 5 - dropped, 5 - dropped, dropped, dropped),
        ("at_risk", 5 - dropped, 5 - dropped, 0, 0),
    ]


# --- concept sets -----------------------------------------------------------------------------


@pytest.mark.parametrize(("descendants", "kept"), [(False, [1]), (True, [1, 2, 3])])
def test_descendant_concepts_count_only_with_descendants_true(
    tmp_path: Path, descendants: bool, kept: list[int]
) -> None:
    tables = {
        "person": [person(pid) for pid in (1, 2, 3)],
        "observation_period": [observed(pid) for pid in (1, 2, 3)],
        "drug_exposure": [
            drug(1, DAY0, CELECOXIB),
            drug(2, DAY0, CELECOXIB_CAPSULE),  # child
            drug(3, DAY0, CELECOXIB_PACK),  # grandchild
        ],
    }
    nsaids = {"include": [CELECOXIB], "descendants": descendants}
    built = build(tmp_path, cohort(concept_sets={"nsaids": nsaids, "gi_bleed": [GI_BLEED]}), tables)
    assert list(built.by_person()) == kept
    assert built.attrition[0] == ("index_events", len(kept), len(kept), 0, 0)


@pytest.mark.parametrize(("exclude_descendants", "kept"), [(False, [1, 3]), (True, [1])])
def test_excluded_concepts_drop_and_exclude_descendants_drops_their_children(
    tmp_path: Path, exclude_descendants: bool, kept: list[int]
) -> None:
    tables = {
        "person": [person(pid) for pid in (1, 2, 3)],
        "observation_period": [observed(pid) for pid in (1, 2, 3)],
        "drug_exposure": [
            drug(1, DAY0, CELECOXIB),
            drug(2, DAY0, CELECOXIB_CAPSULE),  # excluded
            drug(3, DAY0, CELECOXIB_PACK),  # a child of the excluded capsule
        ],
    }
    nsaids = {
        "include": [CELECOXIB],
        "descendants": True,
        "exclude": [CELECOXIB_CAPSULE],
        "exclude_descendants": exclude_descendants,
    }
    built = build(tmp_path, cohort(concept_sets={"nsaids": nsaids, "gi_bleed": [GI_BLEED]}), tables)
    assert list(built.by_person()) == kept


@pytest.mark.parametrize(
    ("gi_bleed", "melena_event"),
    [
        ([GI_BLEED], 0),
        ({"include": [GI_BLEED], "descendants": True}, 1),
        ({"include": [GI_BLEED], "descendants": True, "exclude": [MELENA]}, 0),
    ],
)
def test_outcome_concept_set_follows_descendants_and_exclusions(
    tmp_path: Path, gi_bleed: Any, melena_event: int
) -> None:
    tables = {
        "person": [person(1), person(2)],
        "observation_period": [observed(1), observed(2)],
        "drug_exposure": [drug(1), drug(2)],
        "condition_occurrence": [
            condition(1, "2010-04-10", MELENA),  # day +40
            condition(2, "2010-04-10", GI_BLEED),  # day +40
        ],
    }
    definition = cohort(concept_sets={"nsaids": [CELECOXIB], "gi_bleed": gi_bleed})
    survival = build(tmp_path, definition, tables).by_person()
    assert survival[2] == (40, 1, "")
    assert survival[1] == ((40, 1, "") if melena_event else (365, 0, "time_at_risk_end"))


# --- features ---------------------------------------------------------------------------------


def test_age_is_index_year_minus_year_of_birth(core: Built) -> None:
    # 2010 - 1950, 2010 - 1970 (born in December), 2010 - 1980, 2011 - 1950 (index J)
    ages = core.column("age")
    assert (ages[1], ages[2], ages[3], ages[6]) == (60, 40, 30, 61)


def test_sex_male_is_1_for_8507_0_for_8532_and_missing_otherwise(core: Built) -> None:
    sex = core.column("sex_male")
    assert (sex[1], sex[2], sex[3]) == (1, 0, None)


def test_index_concept_flags_the_listed_concept_a_descendant_maps_to(core: Built) -> None:
    # 1: celecoxib; 2: a celecoxib capsule (descendant); 3: diclofenac
    flags = {pid: (r["index_1001"], r["index_1002"]) for pid, r in _rows(core).items()}
    assert (flags[1], flags[2], flags[3]) == ((1, 0), (1, 0), (0, 1))


def test_measurement_last_value_skips_nulls_and_ignores_the_index_day(core: Built) -> None:
    last = core.column("hemoglobin_prior_year_last")
    # 1: 13.5 on day -30, 12.0 on day -1; 2: 11.0 on day -30, no value on day -1;
    # 3: a value on day 0 only; 4: nothing
    assert (last[1], last[2], last[3], last[4]) == (12.0, 11.0, None, None)


def test_domain_feature_takes_only_concepts_prevalent_in_the_cohort(core: Built) -> None:
    domain_columns = [f["name"] for f in core.features if f["kind"] == "domain"]
    assert domain_columns == ["condition_7001_prior_year"]
    assert core.column("condition_7001_prior_year") == {
        1: 1, 2: 0, 3: 0, 4: 1, 5: 1, 6: 0, 7: 0, 8: 0, 10: 0
    }  # fmt: skip


def _rows(built: Built) -> dict[int, dict[str, Any]]:
    return {r["person_id"]: r for r in built.rows}


def test_concept_set_windows_count_records_by_day_offset(tmp_path: Path) -> None:
    days = {-366: "2009-02-28", -365: "2009-03-01", -1: "2010-02-28", 0: DAY0, 1: "2010-03-02"}
    tables = {
        "person": [person(1), person(2)],
        "observation_period": [observed(1), observed(2)],
        "drug_exposure": [drug(1), drug(2)],
        "condition_occurrence": [
            *(condition(1, date, PEPTIC_ULCER) for date in days.values()),
            condition(2, DAY0, PEPTIC_ULCER),  # day 0
            condition(2, "2010-03-02", PEPTIC_ULCER),  # day +1
        ],
    }
    definition = cohort(
        concept_sets={"nsaids": [CELECOXIB], "gi_bleed": [GI_BLEED], "ulcer": [PEPTIC_ULCER]},
        features={
            "windows": {
                "prior_year": [-365, -1],
                "all_before": [None, -1],
                "day_before": [-1, -1],
            },
            "items": [
                {
                    "kind": "concept_set",
                    "name": "ulcer",
                    "concept_set": "ulcer",
                    "domain": "condition_occurrence",
                    "windows": ["prior_year", "all_before", "day_before"],
                    "statistics": ["presence", "count"],
                }
            ],
        },
    )
    rows = _rows(build(tmp_path, definition, tables))
    names = [
        "ulcer_prior_year",
        "ulcer_prior_year_count",
        "ulcer_all_before",
        "ulcer_all_before_count",
        "ulcer_day_before",
        "ulcer_day_before_count",
    ]
    # person 1: prior year holds days -365 and -1 (2); all before: -366, -365, -1 (3);
    # the day before: -1 (1). Days 0 and +1 never count. Person 2 has only days 0 and +1.
    assert [rows[1][n] for n in names] == [1, 2, 1, 3, 1, 1]
    assert [rows[2][n] for n in names] == [0, 0, 0, 0, 0, 0]


def test_domain_feature_keeps_a_concept_at_exactly_min_prevalence(tmp_path: Path) -> None:
    # 5 persons in the cohort, min_prevalence 0.6: 0.6 x 5 = 3 persons (in floating point
    # 3.0000000000000004, which must not round up to 4). Hypertension: 1, 2, 3 → kept;
    # diabetes: 1, 2 in the window (3's is on day 0, 6 is not in the cohort) → not kept.
    tables = {
        "person": [person(pid) for pid in range(1, 7)],
        "observation_period": [
            *(observed(pid) for pid in range(1, 6)),
            observed(6, end=DAY0),  # not at risk on day 1
        ],
        "drug_exposure": [drug(pid) for pid in range(1, 7)],
        "condition_occurrence": [
            condition(1, "2009-06-01", HYPERTENSION),
            condition(1, "2010-02-28", HYPERTENSION),
            condition(2, "2010-02-28", HYPERTENSION),
            condition(3, "2009-06-01", HYPERTENSION),
            condition(1, "2009-06-01", DIABETES),
            condition(2, "2009-06-01", DIABETES),
            condition(3, DAY0, DIABETES),
            condition(6, "2009-06-01", DIABETES),
        ],
    }
    features = {
        "windows": {"prior_year": [-365, -1]},
        "items": [
            {
                "kind": "domain",
                "domain": "condition_occurrence",
                "windows": ["prior_year"],
                "min_prevalence": 0.6,
                "statistics": ["presence", "count"],
            }
        ],
    }
    built = build(tmp_path, cohort(features=features), tables)
    assert built.table.column_names[5:] == [
        "condition_7001_prior_year",
        "condition_7001_prior_year_count",
    ]
    assert built.column("condition_7001_prior_year") == {1: 1, 2: 1, 3: 1, 4: 0, 5: 0}
    assert built.column("condition_7001_prior_year_count") == {1: 2, 2: 1, 3: 1, 4: 0, 5: 0}


def test_measurement_last_takes_the_latest_dated_value_and_counts_null_records(
    tmp_path: Path,
) -> None:
    tables = {
        "person": [person(pid) for pid in (1, 2, 3, 4)],
        "observation_period": [observed(pid) for pid in (1, 2, 3, 4)],
        "drug_exposure": [drug(pid) for pid in (1, 2, 3, 4)],
        "measurement": [
            lab(1, "2010-02-19", 12.0),  # day -10: the latest with a value
            lab(1, "2009-11-21", 10.0),  # day -100
            lab(1, "2010-02-24", None),  # day -5: latest, but no value
            lab(2, "2010-02-24", None),  # only a record without a value
            lab(3, DAY0, 8.0),  # day 0: not before index
        ],
    }
    features = {
        "windows": {"prior_year": [-365, -1]},
        "items": [
            {
                "kind": "concept_set",
                "name": "hb",
                "concept_set": "hemoglobin",
                "domain": "measurement",
                "windows": ["prior_year"],
                "statistics": ["last", "count"],
            },
            {
                "kind": "domain",
                "domain": "measurement",
                "windows": ["prior_year"],
                "min_prevalence": 0.5,  # 1 and 2 of 4 persons have records: 2 >= 0.5 x 4
                "statistics": ["last"],
            },
        ],
    }
    concept_sets = {"nsaids": [CELECOXIB], "gi_bleed": [GI_BLEED], "hemoglobin": [HEMOGLOBIN]}
    built = build(tmp_path, cohort(concept_sets=concept_sets, features=features), tables)
    assert built.table.column_names[5:] == [
        "hb_prior_year_last",
        "hb_prior_year_count",
        "measurement_5001_prior_year_last",
    ]
    assert built.column("hb_prior_year_last") == {1: 12.0, 2: None, 3: None, 4: None}
    assert built.column("hb_prior_year_count") == {1: 3, 2: 1, 3: 0, 4: 0}
    assert built.column("measurement_5001_prior_year_last") == {
        1: 12.0, 2: None, 3: None, 4: None
    }  # fmt: skip


def test_concept_set_last_over_several_concepts_and_overlapping_windows(tmp_path: Path) -> None:
    """One scan of the measurements serves two concept sets, a domain-wide item and two
    overlapping windows; the expected values are worked out by hand from the rows."""
    other = ASPIRIN  # any concept of the vocabulary serves as a second lab
    tables = {
        "person": [person(pid) for pid in (1, 2, 3, 4)],
        "observation_period": [observed(pid) for pid in (1, 2, 3, 4)],
        "drug_exposure": [drug(pid) for pid in (1, 2, 3, 4)],
        "measurement": [
            lab(1, "2010-02-19", 12.0),  # day -10, hemoglobin
            lab(1, "2010-02-19", 14.0, other),  # day -10, the other lab: larger, so last
            lab(1, "2009-08-13", 20.0, other),  # day -200: only in the year
            lab(2, "2010-01-20", 9.0),  # day -40, twice on one day: the larger is last
            lab(2, "2010-01-20", 7.0),
            lab(3, "2010-02-24", None, other),  # day -5: counted, no value
            lab(3, "2009-05-05", 6.0),  # day -300
        ],
    }
    labs = {
        "kind": "concept_set",
        "concept_set": "labs",
        "domain": "measurement",
        "windows": ["prior_year", "prior_month"],
        "statistics": ["last", "count"],
    }
    features = {
        "windows": {"prior_year": [-365, -1], "prior_month": [-30, -1]},
        "items": [
            {**labs, "name": "labs"},
            {**labs, "name": "hb", "concept_set": "hemoglobin", "windows": ["prior_year"]},
            {
                "kind": "domain",
                "domain": "measurement",
                "windows": ["prior_month"],
                "min_prevalence": 0.25,  # each lab is recorded for 1 or 2 of the 4 persons
                "statistics": ["last"],
            },
        ],
    }
    concept_sets = {
        "nsaids": [CELECOXIB],
        "gi_bleed": [GI_BLEED],
        "hemoglobin": [HEMOGLOBIN],
        "labs": [HEMOGLOBIN, other],
    }
    built = build(tmp_path, cohort(concept_sets=concept_sets, features=features), tables)
    nothing = {2: None, 3: None, 4: None}
    assert built.column("labs_prior_year_last") == {1: 14.0, 2: 9.0, 3: 6.0, 4: None}
    assert built.column("labs_prior_year_count") == {1: 3, 2: 2, 3: 2, 4: 0}
    assert built.column("labs_prior_month_last") == {1: 14.0, **nothing}
    assert built.column("labs_prior_month_count") == {1: 2, 2: 0, 3: 1, 4: 0}
    assert built.column("hb_prior_year_last") == {1: 12.0, 2: 9.0, 3: 6.0, 4: None}
    assert built.column("hb_prior_year_count") == {1: 1, 2: 2, 3: 1, 4: 0}
    assert built.column(f"measurement_{HEMOGLOBIN}_prior_month_last") == {1: 12.0, **nothing}
    assert built.column(f"measurement_{other}_prior_month_last") == {1: 14.0, **nothing}


def _day_zero_definition(*, include_index_day: bool) -> dict[str, Any]:
    return cohort(
        concept_sets={"nsaids": [CELECOXIB], "gi_bleed": [GI_BLEED], "ulcer": [PEPTIC_ULCER]},
        features={
            "include_index_day": include_index_day,
            "windows": {"through_index": [-30, 0]},
            "items": [
                {
                    "kind": "concept_set",
                    "name": "ulcer",
                    "concept_set": "ulcer",
                    "domain": "condition_occurrence",
                    "windows": ["through_index"],
                    "statistics": ["count"],
                }
            ],
        },
    )


def test_include_index_day_lets_day_zero_records_count(tmp_path: Path) -> None:
    tables = {
        "person": [person(1), person(2)],
        "observation_period": [observed(1), observed(2)],
        "drug_exposure": [drug(1), drug(2)],
        "condition_occurrence": [
            condition(1, DAY0, PEPTIC_ULCER),  # day 0: counts
            condition(1, "2010-03-02", PEPTIC_ULCER),  # day +1: never
            condition(2, "2010-01-29", PEPTIC_ULCER),  # day -31: outside [-30, 0]
            condition(2, "2010-01-30", PEPTIC_ULCER),  # day -30: counts
        ],
    }
    built = build(tmp_path, _day_zero_definition(include_index_day=True), tables)
    assert built.column("ulcer_through_index_count") == {1: 1, 2: 1}


def test_window_ending_on_index_day_without_include_index_day_raises() -> None:
    with pytest.raises(
        DefinitionError,
        match=r"feature window 'through_index' ends at (day )?0; features may only use data up "
        r"to day -1 relative to index \(set include_index_day: true to use day 0\)",
    ):
        parse_definition(_day_zero_definition(include_index_day=False))


def test_features_json_labels_come_from_concept_names_and_set_labels(core: Built) -> None:
    by_name = {f["name"]: f for f in core.features}
    assert list(by_name) == [name for name, _ in CORE_COLUMNS[5:]]
    labels = {name: f["label"] for name, f in by_name.items()}
    year = "from 365 days before index to 1 day before index"
    assert labels == {
        "age": "Age at index (years)",
        "sex_male": "Male sex",
        "index_1001": "Index drug_exposure: Celecoxib",
        "index_1002": "Index drug_exposure: Diclofenac",
        "ulcer_prior_year": f"Peptic ulcer disease {year}",
        "ulcer_prior_year_count": f"Number of Peptic ulcer disease records {year}",
        "hemoglobin_prior_year_last": f"Last value of Hemoglobin {year}",
        "condition_7001_prior_year": f"Hypertension {year}",
    }
    assert by_name["condition_7001_prior_year"]["concepts"] == [
        {"concept_id": 7001, "name": "Hypertension"}
    ]
    assert by_name["condition_7001_prior_year"]["window"] == {
        "name": "prior_year",
        "start": -365,
        "end": -1,
    }


# --- the same cohort on every engine ----------------------------------------------------------


def _postgres_source(request: pytest.FixtureRequest, database: Path) -> Source:
    url = request.getfixturevalue("postgres_url")
    schema = "handmade_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[-40:]
    load_duckdb_into_postgres(database, url, schema)
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("schema", schema)])
    return parse_source(urlunsplit(parts._replace(query=query)))


@pytest.mark.parametrize(
    "engine",
    [
        "duckdb_file",
        "csv_folder",
        "parquet_folder",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ],
)
def test_core_cohort_is_identical_on_every_engine(
    tmp_path: Path, request: pytest.FixtureRequest, engine: str
) -> None:
    database = write(tmp_path / "db", CORE_TABLES)
    if engine == "duckdb_file":
        source = parse_source(f"duckdb:///{database}")
    elif engine in ("csv_folder", "parquet_folder"):
        fmt = engine.removesuffix("_folder")
        source = parse_source(str(write_cdm_files(tmp_path / fmt, database, fmt=fmt)))
    else:
        source = _postgres_source(request, database)
    built = build_on(source, core_definition(competing=False), tmp_path / "out")
    assert built.table.schema == pa.schema(CORE_COLUMNS)
    assert built.rows == core_rows()
    assert built.attrition == CORE_ATTRITION
