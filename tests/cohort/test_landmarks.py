"""Landmark cohorts (``landmarks:``): one row per person and landmark at which they are still at
risk, every value worked out by hand on a tiny CDM, on DuckDB, PostgreSQL and Spark alike.

The definition: celecoxib new users (entry), GI hemorrhage within days 1-365 of each landmark,
myocardial infarction competing (code 2), landmarks at days 0, 90 and 180 after entry.
Features: age (in the landmark's year), ``time_since_entry``, hypertension in the year before
the landmark (``htn_year``: window [-365, -1] of the landmark date) and the number of diabetes
records since entry (``new_dm_count``: days [entry, landmark - 1]).

Every person is male, born 1950, observed 2008-01-01 -> 2012-12-31 and enters on DAY0 =
2010-03-01 unless said otherwise. Days after DAY0: 2010-04-10 = +40, 2010-05-01 = +61,
2010-05-30 = +90, 2010-06-09 = +100, 2010-07-19 = +140, 2010-08-28 = +180, 2011-04-05 = +400.
So the landmark dates are 2010-03-01 (0), 2010-05-30 (90) and 2010-08-28 (180).

1. nothing happens: at risk at 0, 90 and 180, each row followed 365 days to its time-at-risk
   end. Hypertension on +40: not in the year before landmark 0 (it comes after), in the year
   before landmarks 90 (40 - 90 = -50) and 180 (-140). Diabetes on day 0 and +100: since entry
   0 records at landmark 0 (days 0..-1, none), 1 at landmark 90 (days 0..89: day 0), 2 at 180.
2. observed up to 2010-06-09 (+100): landmark 0 censored at 100 (observation_end); landmark
   90 censored 10 days after it (observation_end); no longer observed at 180.
3. GI bleed on +140: event at 140 from landmark 0, at 50 from landmark 90; not free of the
   outcome at 180 (140 <= 180).
4. dies on +90: censored by death at 90 from landmark 0; dead on landmark day 90 (a follow-up
   of 0 days after it), so no row at 90 or 180.
5. MI (competing) on +61: competing event at 61 from landmark 0; no row at 90 or 180.
6. GI bleed on +90, the landmark day: event at 90 from landmark 0; not free of it at 90.
7. GI bleed on +400: outside landmark 0's time at risk (censored at 365, time_at_risk_end),
   inside those of landmark 90 (400 - 90 = 310) and 180 (220): the time at risk moves too.
8. born 1930: 80 at entry, over the index age limit of 79 (an entry criterion): no row.
9. enters 2010-11-01, nothing happens: landmark dates 2011-01-30 (90) and 2011-04-30 (180),
   age 60 at landmark 0 (2010 - 1950), 61 at 90 and 180.

Attrition: 9 index events, 8 aged at most 79, 8 at risk on day 1; then at risk at day 0: 8
persons (1-7, 9), day 90: 5 (1, 2, 3, 7, 9), day 180: 3 (1, 7, 9). 16 rows in all: 5 with the
outcome, 1 with the competing event, 10 censored.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prognosis.cohort import build_cohort, parse_definition, parse_source
from prognosis.cohort.sources import Source
from prognosis.dataset import load_dataset
from prognosis.exceptions import DataQualityWarning, DefinitionError
from tests.cohort import test_invariants as inv
from tests.cohort.test_handmade_cdm import (
    CELECOXIB,
    DIABETES,
    GI_BLEED,
    HYPERTENSION,
    MYOCARDIAL_INFARCTION,
    TODAY,
    _postgres_source,
    condition,
    died,
    drug,
    observed,
    person,
    write,
)

ENTRY_9 = "2010-11-01"


def definition(**parts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "landmarks",
        "concept_sets": {
            "nsaids": [CELECOXIB],
            "gi_bleed": [GI_BLEED],
            "mi": [MYOCARDIAL_INFARCTION],
            "htn": [HYPERTENSION],
            "dm": [DIABETES],
        },
        "index": {"concept_set": "nsaids", "domain": "drug_exposure", "age": {"max": 79}},
        "outcome": {
            "concept_set": "gi_bleed",
            "domain": "condition_occurrence",
            "time_at_risk": [1, 365],
        },
        "competing_events": [{"name": "mi", "concept_set": "mi", "domain": "condition_occurrence"}],
        "landmarks": [0, 90, 180],
        "features": {
            "windows": {"year": [-365, -1]},
            "items": [
                {"kind": "demographics", "sex": False},
                {"kind": "time_since_entry"},
                {
                    "kind": "concept_set",
                    "name": "htn",
                    "concept_set": "htn",
                    "domain": "condition_occurrence",
                    "windows": ["year"],
                },
                {
                    "kind": "since_entry",
                    "name": "new_dm",
                    "concept_set": "dm",
                    "domain": "condition_occurrence",
                    "statistics": ["presence", "count"],
                },
            ],
        },
    }
    out.update(parts)
    return out


TABLES: dict[str, list[dict[str, Any]]] = {
    "person": [*(person(pid) for pid in range(1, 8)), person(8, 1930), person(9)],
    "observation_period": [
        *(observed(pid) for pid in (1, 3, 4, 5, 6, 7, 8, 9)),
        observed(2, "2008-01-01", "2010-06-09"),  # observed up to +100
    ],
    "drug_exposure": [*(drug(pid) for pid in range(1, 9)), drug(9, ENTRY_9)],
    "condition_occurrence": [
        condition(1, "2010-04-10", HYPERTENSION),  # +40
        condition(1, "2010-03-01", DIABETES),  # day 0
        condition(1, "2010-06-09", DIABETES),  # +100
        condition(3, "2010-07-19"),  # GI bleed +140
        condition(5, "2010-05-01", MYOCARDIAL_INFARCTION),  # +61
        condition(6, "2010-05-30"),  # GI bleed +90
        condition(7, "2011-04-05"),  # GI bleed +400
    ],
    "death": [died(4, "2010-05-30")],  # +90
}

# (person, landmark) -> index_date, time, event, censor_reason, age, htn_year, new_dm_count
TAR_END = "time_at_risk_end"
EXPECTED: dict[tuple[int, int], tuple[str, int, int, str, int, int, int]] = {
    (1, 0): ("2010-03-01", 365, 0, TAR_END, 60, 0, 0),
    (1, 90): ("2010-05-30", 365, 0, TAR_END, 60, 1, 1),
    (1, 180): ("2010-08-28", 365, 0, TAR_END, 60, 1, 2),
    (2, 0): ("2010-03-01", 100, 0, "observation_end", 60, 0, 0),
    (2, 90): ("2010-05-30", 10, 0, "observation_end", 60, 0, 0),
    (3, 0): ("2010-03-01", 140, 1, "", 60, 0, 0),
    (3, 90): ("2010-05-30", 50, 1, "", 60, 0, 0),
    (4, 0): ("2010-03-01", 90, 0, "death", 60, 0, 0),
    (5, 0): ("2010-03-01", 61, 2, "", 60, 0, 0),
    (6, 0): ("2010-03-01", 90, 1, "", 60, 0, 0),
    (7, 0): ("2010-03-01", 365, 0, TAR_END, 60, 0, 0),
    (7, 90): ("2010-05-30", 310, 1, "", 60, 0, 0),
    (7, 180): ("2010-08-28", 220, 1, "", 60, 0, 0),
    (9, 0): ("2010-11-01", 365, 0, TAR_END, 60, 0, 0),
    (9, 90): ("2011-01-30", 365, 0, TAR_END, 61, 0, 0),
    (9, 180): ("2011-04-30", 365, 0, TAR_END, 61, 0, 0),
}


def _build(source: Source, out: Path, **parts: Any) -> Path:
    build_cohort(parse_definition(definition(**parts)), source, out, today=TODAY)
    return out


def rows_of(out: Path) -> dict[tuple[int, int], tuple[str, int, int, str, int, int, int]]:
    found = {}
    for row in pq.read_table(out / "dataset.parquet").to_pylist():
        key = (row["person_id"], row["landmark"])
        found[key] = (
            row["index_date"].isoformat(),
            row["time"],
            row["event"],
            row["censor_reason"],
            row["age"],
            row["htn_year"],
            row["new_dm_count"],
        )
    return found


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("landmark-cdm"), TABLES)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, database: Path) -> Path:
    return _build(parse_source(f"duckdb:///{database}"), tmp_path_factory.mktemp("lm") / "out")


def test_each_landmark_row_has_its_own_follow_up_and_features(built: Path) -> None:
    assert rows_of(built) == EXPECTED


def test_rows_are_in_person_then_landmark_order_with_entry_date_and_time_since_entry(
    built: Path,
) -> None:
    rows = pq.read_table(built / "dataset.parquet").to_pylist()
    assert [(r["person_id"], r["landmark"]) for r in rows] == sorted(EXPECTED)
    for row in rows:
        entry = ENTRY_9 if row["person_id"] == 9 else "2010-03-01"
        assert row["entry_date"].isoformat() == entry
        assert row["time_since_entry"] == row["landmark"]
        assert (row["index_date"] - row["entry_date"]).days == row["landmark"]
        assert row["new_dm"] == int(row["new_dm_count"] > 0)


def test_the_columns_are_the_key_with_entry_date_and_landmark_then_survival_then_features(
    built: Path,
) -> None:
    schema = pq.read_schema(built / "dataset.parquet")
    assert [(f.name, f.type) for f in schema] == [
        ("person_id", pa.int64()),
        ("index_date", pa.date32()),
        ("entry_date", pa.date32()),
        ("landmark", pa.int32()),
        ("time", pa.int32()),
        ("event", pa.int32()),
        ("censor_reason", pa.string()),
        ("age", pa.int32()),
        ("time_since_entry", pa.int32()),
        ("htn_year", pa.int32()),
        ("new_dm", pa.int32()),
        ("new_dm_count", pa.int32()),
    ]


def test_models_see_time_since_entry_but_not_the_key_columns(built: Path) -> None:
    dataset = load_dataset(built)
    assert dataset.feature_names == [
        "age",
        "time_since_entry",
        "htn_year",
        "new_dm",
        "new_dm_count",
    ]
    assert list(dataset.X["time_since_entry"]) == [landmark for _, landmark in sorted(EXPECTED)]
    assert list(dataset.y["time"]) == [EXPECTED[key][1] for key in sorted(EXPECTED)]


def test_attrition_keeps_the_entry_steps_then_one_row_per_landmark(built: Path) -> None:
    steps = json.loads((built / "attrition.json").read_text())
    table = [
        (
            s["step"],
            s["persons"],
            s["index_events"],
            s["persons_dropped"],
            s["index_events_dropped"],
        )
        for s in steps
    ]
    assert table == [
        ("index_events", 9, 9, 0, 0),
        ("first_occurrence", 9, 9, 0, 0),
        ("in_observation", 9, 9, 0, 0),
        ("age", 8, 8, 1, 1),
        ("at_risk", 8, 8, 0, 0),
        ("landmark_0", 8, 8, 0, 0),
        ("landmark_90", 5, 5, 3, 3),
        ("landmark_180", 3, 3, 2, 2),
    ]
    assert steps[6]["description"] == "At risk at day 90 after entry"
    counts = load_dataset(built).manifest.counts
    assert counts is not None
    assert (counts.persons, counts.index_events) == (8, 16)
    # outcome rows (3, 0), (3, 90), (6, 0), (7, 90), (7, 180); competing (5, 0); 10 censored
    assert counts.events == {"0": 10, "1": 5, "2": 1}


def test_the_features_json_describes_the_landmark_features(built: Path) -> None:
    features = {f["name"]: f for f in json.loads((built / "features.json").read_text())}
    assert features["time_since_entry"]["kind"] == "time_since_entry"
    assert features["new_dm_count"]["kind"] == "since_entry"
    assert features["new_dm_count"]["statistic"] == "count"
    assert "before the landmark" in features["new_dm_count"]["label"]


def test_landmark_zero_rows_equal_the_rows_of_the_same_definition_without_landmarks(
    tmp_path: Path, database: Path, built: Path
) -> None:
    items = [{"kind": "demographics", "sex": False}, definition()["features"]["items"][2]]
    features = {"windows": {"year": [-365, -1]}, "items": items}
    plain = _build(
        parse_source(f"duckdb:///{database}"), tmp_path / "plain", landmarks=None, features=features
    )
    plain_table = pq.read_table(plain / "dataset.parquet")
    landmark_zero = pq.read_table(built / "dataset.parquet").filter(
        pa.compute.equal(pa.compute.field("landmark"), 0)
    )
    assert landmark_zero.select(plain_table.column_names).equals(plain_table)


def test_a_single_landmark_at_zero_gives_the_entry_rows(tmp_path: Path, database: Path) -> None:
    out = _build(parse_source(f"duckdb:///{database}"), tmp_path / "zero", landmarks=[0])
    assert rows_of(out) == {key: value for key, value in EXPECTED.items() if key[1] == 0}


def test_every_until_gives_the_same_rows_as_the_list(tmp_path: Path, database: Path) -> None:
    out = _build(
        parse_source(f"duckdb:///{database}"),
        tmp_path / "every",
        landmarks={"every": 90, "until": 200},
    )
    assert rows_of(out) == EXPECTED


def test_a_definition_without_landmarks_records_and_hashes_as_before() -> None:
    from prognosis.cohort import load_definition
    from prognosis.cohort.definition import definition_hash

    parsed = load_definition(Path("cohorts/gi_bleed_nsaid.yaml"))
    assert "landmarks" not in parsed.canonical()
    assert definition_hash(parsed) == (
        "e95326426834704bac234ff8d256494deea5d940c3e01dd99acba152a5bd1ac4"
    )
    landmarked = parse_definition(definition())
    assert landmarked.canonical()["landmarks"] == [0, 90, 180]
    assert parse_definition(landmarked.canonical()) == landmarked


def _without(name: str) -> list[dict[str, Any]]:
    return [i for i in definition()["features"]["items"] if i["kind"] != name]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"landmarks": [0, 180, 400]}, r"landmarks: day 400 is after the end of outcome.time_at"),
        ({"landmarks": [0, 180, 90]}, r"landmarks: day 90 comes after day 180; list the days in"),
        ({"landmarks": [0, 90, 90]}, r"landmarks: day 90 is listed twice"),
        ({"landmarks": [-30, 0]}, r"landmarks: day -30 is negative"),
        ({"landmarks": []}, r"landmarks: the list is empty"),
        ({"landmarks": {"every": 0, "until": 180}}, r"landmarks.every: .*greater than 0, got 0"),
        ({"landmarks": {"every": 90, "until": -1}}, r"landmarks.until: .*greater than or equal"),
        ({"landmarks": {"every": 90}}, r"landmarks.until: Field required"),
        ({"landmarks": "90"}, r"landmarks: got '90' \(text\), expected a list"),
        (
            {"index": {"concept_set": "nsaids", "domain": "drug_exposure", "occurrence": "all"}},
            r"landmarks: cannot be combined with index.occurrence: all",
        ),
        (
            {"features": {"items": _without("time_since_entry"), "windows": {"year": [-365, -1]}}},
            r"3 landmarks need the landmark time as a covariate: add '- kind: time_since_entry'",
        ),
        (
            {"landmarks": None, "features": {"items": [{"kind": "time_since_entry"}]}},
            r"feature kind 'time_since_entry' needs landmarks:",
        ),
        (
            {
                "features": {
                    "windows": {"around": [-30, 0]},
                    "items": [{"kind": "time_since_entry"}],
                }
            },
            r"feature window 'around' ends at day 0; features may only use data up to day -1",
        ),
        (
            {
                "features": {
                    "items": [
                        {"kind": "time_since_entry"},
                        {
                            "kind": "since_entry",
                            "name": "x",
                            "concept_set": "nowhere",
                            "domain": "condition_occurrence",
                        },
                    ]
                }
            },
            r"feature 'x' names concept set 'nowhere', which is not defined",
        ),
        (
            {
                "features": {
                    "items": [
                        {"kind": "time_since_entry"},
                        {
                            "kind": "since_entry",
                            "name": "x",
                            "concept_set": "dm",
                            "domain": "condition_occurrence",
                            "statistics": ["last"],
                        },
                    ]
                }
            },
            r"feature 'x': a since_entry feature counts records",
        ),
    ],
)
def test_bad_landmarks_are_refused_naming_the_field_and_value(
    change: dict[str, Any], message: str
) -> None:
    data = {k: v for k, v in definition(**change).items() if v is not None}
    with pytest.raises(DefinitionError, match=message) as raised:
        parse_definition(data, origin="landmarks.yaml")
    assert str(raised.value).startswith("landmarks.yaml: invalid cohort definition")


# Several outcomes at landmarks 0 and 50 (2010-04-20), on the CDM of test_several_outcomes.py:
# a row is there while the person is observed and alive after the landmark; an outcome whose
# own event or a competing one came by the landmark day (or with a prior record) is NULL.
#   1: GI bleed +40, MI +100, death +200. At 50: gi_bleed and mi came by day 50 (the bleed
#      competes for mi): NULL; death 150 days later.
#   2: MI before index: mi NULL at both; nothing else, 365 days (time_at_risk_end).
#   3: died +30: no row at 50.
#   4: observed to +100, MI +60: at 50, 50 days (observation_end) for gi_bleed and death, MI
#      10 days later.
#   5: GI bleed and MI on +61: 11 days after landmark 50 (the outcome wins the tie for mi);
#      death: none, 365 days from the landmark (time_at_risk_end; observed to 2012).
#   6: MI on the index day (prior): mi NULL; the others 365 days.
SEVERAL_AT_50: dict[int, dict[str, tuple[int, int, str] | None]] = {
    1: {"gi_bleed": None, "mi": None, "death": (150, 1, "")},
    2: {"gi_bleed": (365, 0, TAR_END), "mi": None, "death": (365, 0, TAR_END)},
    4: {
        "gi_bleed": (50, 0, "observation_end"),
        "mi": (10, 1, ""),
        "death": (50, 0, "observation_end"),
    },
    5: {"gi_bleed": (11, 1, ""), "mi": (11, 1, ""), "death": (365, 0, TAR_END)},
    6: {"gi_bleed": (365, 0, TAR_END), "mi": None, "death": (365, 0, TAR_END)},
}


def several_definition() -> dict[str, Any]:
    from tests.cohort import test_several_outcomes as several

    features = {
        "windows": {"year": [-365, -1]},
        "items": [{"kind": "demographics"}, {"kind": "time_since_entry"}],
    }
    return several.definition(landmarks=[0, 50], features=features)


def several_rows(out: Path) -> dict[tuple[int, int], dict[str, tuple[int, int, str] | None]]:
    found = {}
    for row in pq.read_table(out / "dataset.parquet").to_pylist():
        found[(row["person_id"], row["landmark"])] = {
            name: None
            if row[f"time__{name}"] is None
            else (row[f"time__{name}"], row[f"event__{name}"], row[f"censor_reason__{name}"])
            for name in ("gi_bleed", "mi", "death")
        }
    return found


def several_expected() -> dict[tuple[int, int], dict[str, tuple[int, int, str] | None]]:
    from tests.cohort.test_several_outcomes import EXPECTED as AT_ENTRY

    expected = {(pid, 0): outcomes for pid, outcomes in AT_ENTRY.items()}
    expected.update({(pid, 50): outcomes for pid, outcomes in SEVERAL_AT_50.items()})
    return dict(sorted(expected.items()))


@pytest.fixture(scope="module")
def several_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.cohort.test_several_outcomes import TABLES as SEVERAL_TABLES

    folder = tmp_path_factory.mktemp("several-landmarks")
    database = write(folder / "db", SEVERAL_TABLES)
    out = folder / "out"
    build_cohort(
        parse_definition(several_definition()),
        parse_source(f"duckdb:///{database}"),
        out,
        today=TODAY,
    )
    return out


def test_several_outcomes_at_landmarks_null_the_outcomes_a_row_is_not_at_risk_of(
    several_built: Path,
) -> None:
    assert several_rows(several_built) == several_expected()
    steps = json.loads((several_built / "attrition.json").read_text())
    assert [(s["step"], s["persons"]) for s in steps[-2:]] == [
        ("landmark_0", 6),
        ("landmark_50", 5),
    ]


def test_the_view_of_one_outcome_at_landmarks_keeps_the_rows_at_risk_of_it(
    several_built: Path,
) -> None:
    mi = load_dataset(several_built, "mi")
    assert mi.feature_names == ["age", "sex_male", "time_since_entry"]
    rows = mi.frame[["person_id", "landmark", "time", "event"]].itertuples(index=False)
    expected = {
        key: outcomes["mi"][:2]
        for key, outcomes in several_expected().items()
        if outcomes["mi"] is not None
    }
    assert {(r.person_id, r.landmark): (r.time, r.event) for r in rows} == expected


@pytest.mark.postgres
def test_postgresql_builds_the_same_several_outcomes_at_landmarks(
    tmp_path: Path, request: pytest.FixtureRequest, several_built: Path
) -> None:
    from tests.cohort.test_several_outcomes import TABLES as SEVERAL_TABLES

    database = write(tmp_path / "db", SEVERAL_TABLES)
    out = tmp_path / "out"
    source = _postgres_source(request, database)
    build_cohort(parse_definition(several_definition()), source, out, today=TODAY)
    table = pq.read_table(out / "dataset.parquet")
    assert table.equals(pq.read_table(several_built / "dataset.parquet"))


def test_landmarks_beyond_a_shared_time_at_risk_name_it() -> None:
    """The time-at-risk field is named as the definition writes it."""
    data = definition(landmarks=[0, 500])
    with pytest.raises(DefinitionError, match=r"\(day 365\); landmarks must lie inside"):
        parse_definition(data)


@pytest.mark.postgres
def test_postgresql_builds_the_same_landmark_rows(
    tmp_path: Path, request: pytest.FixtureRequest, database: Path, built: Path
) -> None:
    out = _build(_postgres_source(request, database), tmp_path / "out")
    assert pq.read_table(out / "dataset.parquet").equals(pq.read_table(built / "dataset.parquet"))
    assert (out / "attrition.json").read_text() == (built / "attrition.json").read_text()


def test_the_shipped_landmark_cohort_agrees_with_the_entry_cohort_on_eunomia(
    tmp_path: Path, eunomia_path: Path
) -> None:
    """cohorts/gi_bleed_nsaid_landmarks.yaml is gi_bleed_nsaid.yaml at landmarks 0, 30 and 60
    (time at risk 1-1825, so every landmark lies inside it). From the entry dataset alone: a
    person is at risk at landmark ``s`` exactly when their entry row's time exceeds ``s``
    (neither the event nor the end of follow-up came by day ``s``); an entry event at day ``t``
    is, at every earlier landmark, an event ``t - s`` days after it (``t - s`` is inside
    1-1825 too)."""
    from prognosis.cohort import load_definition

    source = parse_source(f"duckdb:///{eunomia_path}")
    outs = {}
    for name in ("gi_bleed_nsaid", "gi_bleed_nsaid_landmarks"):
        outs[name] = tmp_path / name
        with pytest.warns(DataQualityWarning):
            build_cohort(load_definition(f"cohorts/{name}.yaml"), source, outs[name], today=TODAY)
    entry = load_dataset(outs["gi_bleed_nsaid"]).frame
    stacked = load_dataset(outs["gi_bleed_nsaid_landmarks"]).frame
    by_person = entry.set_index("person_id")
    for landmark in (0, 30, 60):
        rows = stacked[stacked["landmark"] == landmark]
        assert sorted(rows["person_id"]) == sorted(entry.loc[entry["time"] > landmark, "person_id"])
        at_entry = by_person.loc[rows["person_id"]]
        had_event = at_entry["event"].to_numpy() == 1
        assert (rows["event"].to_numpy()[had_event] == 1).all()
        assert (
            rows["time"].to_numpy()[had_event] == at_entry["time"].to_numpy()[had_event] - landmark
        ).all()
    zero = stacked[stacked["landmark"] == 0].reset_index(drop=True)
    for column in ("person_id", "index_date", "time", "event", "censor_reason", "age"):
        assert zero[column].equals(entry[column]), column
    assert sorted(set(stacked["time_since_entry"])) == [0, 30, 60]


def test_the_index_concept_is_the_entry_concept_at_every_landmark(
    tmp_path: Path, database: Path
) -> None:
    """``index_concept`` flags the concept recorded on the entry date (celecoxib for
    everyone), also at landmarks 90 and 180, whose dates have no celecoxib record."""
    features = {"items": [{"kind": "time_since_entry"}, {"kind": "index_concept"}]}
    out = _build(parse_source(f"duckdb:///{database}"), tmp_path / "index", features=features)
    rows = pq.read_table(out / "dataset.parquet").to_pylist()
    assert len(rows) == len(EXPECTED)
    assert {row[f"index_{CELECOXIB}"] for row in rows} == {1}


def test_the_data_cutoff_ends_follow_up_after_each_landmark(tmp_path: Path, database: Path) -> None:
    """A data cut-off on 2010-09-01 (+184): person 1 is censored 184, 94 and 4 days after
    landmarks 0, 90 and 180; person 7's bleed (+400) now comes after it; person 9 enters
    after the cut-off, so is at risk nowhere."""
    out = _build(
        parse_source(f"duckdb:///{database}"),
        tmp_path / "cutoff",
        censoring={"data_cutoff": "2010-09-01"},
    )
    rows = {key: value[1:4] for key, value in rows_of(out).items() if key[0] in (1, 7, 9)}
    assert rows == {
        (1, 0): (184, 0, "data_cutoff"),
        (1, 90): (94, 0, "data_cutoff"),
        (1, 180): (4, 0, "data_cutoff"),
        (7, 0): (184, 0, "data_cutoff"),
        (7, 90): (94, 0, "data_cutoff"),
        (7, 180): (4, 0, "data_cutoff"),
    }


# --- random CDMs: the landmark rule in plain Python (hypothesis) -------------------------------


def _expected_landmark_rows(scenario: Any, landmarks: list[int]) -> list[tuple[Any, ...]]:
    """(person, landmark, index date, time, event, censor reason) of every landmark row, read
    from the rule in docs/cohorts.md, "Landmarks": the entry meets every criterion (as in
    tests/cohort/test_invariants.py), has no outcome or competing event on days
    ``time_at_risk.start .. s`` after entry, and is followed at least ``time_at_risk.start``
    days after the landmark date; its follow-up and events are then measured from there."""

    def first_events(person: Any, day: int) -> dict[int, int]:
        events = {1: inv.first_in_tar(scenario, person.outcomes, day)}
        for code, name in enumerate(scenario.competing, start=2):
            days_of = person.infarctions if name == "mi" else (person.death,)
            events[code] = inv.first_in_tar(scenario, [d for d in days_of if d is not None], day)
        return {code: found for code, found in events.items() if found is not None}

    rows = []
    for entrant in scenario.persons:
        entry = entrant.first_index_day()
        entered = [r for r in inv.expected_survival(scenario) if r[0] == entrant.pid]
        if entry is None or not entered:
            continue
        before = first_events(entrant, entry)
        for landmark in landmarks:
            if min(before.values(), default=landmark + 1) <= landmark:
                break  # the outcome or a competing event came by this landmark
            day = entry + landmark
            ends = inv.follow_up_ends(scenario, entrant, entry)
            ends = {what: end - landmark for what, end in ends.items()}
            ends["time_at_risk_end"] = scenario.tar[1]
            follow_up = min(ends.values())
            if follow_up < scenario.tar[0]:
                break
            happened = first_events(entrant, day)
            first = min(happened.values(), default=None)
            key = (entrant.pid, landmark, inv.date(day))
            if first is not None and first <= follow_up:
                code = min(c for c, found in happened.items() if found == first)
                rows.append((*key, first, code, ""))
            else:
                reason = next(r for r in inv.CENSOR_ORDER if ends.get(r) == follow_up)
                rows.append((*key, follow_up, 0, reason))
    return sorted(rows)


@st.composite
def _landmark_scenarios(draw: st.DrawFn) -> tuple[Any, list[int]]:
    scenario = draw(inv.scenarios(occurrence="first"))
    # outcomes and infarctions soon after entry too, so that some come between landmarks
    persons = []
    for entrant in scenario.persons:
        entry = entrant.first_index_day()
        soon = st.lists(st.integers(1, 200), max_size=1) if entry is not None else st.just([])
        persons.append(
            dataclasses.replace(
                entrant,
                outcomes=(*entrant.outcomes, *(entry + d for d in draw(soon))),
                infarctions=(*entrant.infarctions, *(entry + d for d in draw(soon))),
            )
        )
    scenario = dataclasses.replace(scenario, persons=tuple(persons))
    # mostly early landmarks (where persons are still at risk), some at the time-at-risk end
    early = [day for day in (1, 10, 30, 31, 60, 100) if day <= scenario.tar[1]]
    days = st.sampled_from([0, *early]) | st.integers(0, scenario.tar[1])
    landmarks = sorted(draw(st.sets(days, min_size=1, max_size=4)))
    return scenario, landmarks


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_landmark_scenarios())
def test_landmark_rows_follow_the_rule_on_random_cdms(case: tuple[Any, list[int]]) -> None:
    scenario, landmarks = case
    data = inv.definition(scenario, features=set())
    data["landmarks"] = landmarks
    data["features"] = {"items": [{"kind": "time_since_entry"}]}
    expected = _expected_landmark_rows(scenario, landmarks)
    with tempfile.TemporaryDirectory() as folder:
        built = inv.build(Path(folder), scenario.persons, data)
    found = []
    for row in [] if built is None else built.rows:
        assert row["time"] > 0 and row["time_since_entry"] == row["landmark"]
        found.append(
            (
                row["person_id"],
                row["landmark"],
                row["index_date"],
                row["time"],
                row["event"],
                row["censor_reason"],
            )
        )
    assert sorted(found) == expected


def test_the_report_attrition_table_reads_the_landmark_rows_and_hides_small_counts(
    built: Path,
) -> None:
    """The model report's attrition table (and its flow diagram) take the landmark rows as
    further steps; each drop under 5 (1 at the age step, 3 and 2 at landmarks 90 and 180) is
    shown as ``<5``, and no figure shown lets one be recovered by subtraction."""
    from prognosis.report.model_report import attrition_flow, attrition_rows

    rows = attrition_rows(load_dataset(built).attrition)
    assert [row.description for row in rows][-3:] == [
        "At risk at day 0 after entry",
        "At risk at day 90 after entry",
        "At risk at day 180 after entry",
    ]
    assert [row.dropped for row in rows][-2:] == ["<5", "<5"]
    shown = [int(row.persons) for row in rows if row.persons.isdigit()]
    assert all(value >= 5 for value in shown)
    for above, below in itertools.pairwise(rows):
        if above.persons.isdigit() and below.persons.isdigit():
            assert int(above.persons) - int(below.persons) not in range(1, 5)
    assert attrition_flow(rows) is not None


def test_the_cli_refuses_a_bad_landmark_list_naming_the_file_and_field(tmp_path: Path) -> None:
    import yaml
    from click.testing import CliRunner

    from prognosis.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(definition(landmarks=[0, 400])), encoding="utf-8")
    for command in (["cohort", "sql", str(path)], ["cohort", "build", str(path)]):
        arguments = [*command, "--out", str(tmp_path / "out")] if "build" in command else command
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 1, result.output
        assert f"{path}: invalid cohort definition" in result.output
        assert "landmarks: day 400 is after the end of outcome.time_at_risk" in result.output
        assert "Traceback" not in result.output


def test_the_cli_prints_the_landmark_sql(tmp_path: Path) -> None:
    import yaml
    from click.testing import CliRunner

    from prognosis.cli import main

    path = tmp_path / "landmarks.yaml"
    path.write_text(yaml.safe_dump(definition()), encoding="utf-8")
    result = CliRunner().invoke(main, ["cohort", "sql", str(path), "--dialect", "postgres"])
    assert result.exit_code == 0, result.output
    assert "CREATE TEMPORARY TABLE landmark_events" in result.output
    assert "UNNEST(ARRAY[0, 90, 180])" in result.output
