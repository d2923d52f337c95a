"""A definition with several outcomes (``outcomes:``): one time/event pair per outcome, each
worked out by hand on a tiny CDM, on DuckDB, PostgreSQL and Spark alike.

The definition (celecoxib new users, time at risk days 1-365) names three outcomes:

* ``gi_bleed``: GI hemorrhage, death competing (code 2);
* ``mi``: myocardial infarction, death (2) and GI hemorrhage (3) competing; a person with an MI
  before the risk window (up to the index day) is not at risk of ``mi`` (its columns NULL), but
  stays in the cohort for the others;
* ``death``: death from any cause, nothing competing.

Every person is observed 2008-01-01 -> 2012-12-31 and indexed on DAY0 = 2010-03-01; day offsets
as in test_handmade_cdm (2010-04-10 = +40, 2010-06-09 = +100, 2010-09-17 = +200, 2010-03-31 =
+30, 2010-04-30 = +60, 2010-05-01 = +61, 2010-04-20 = +50, 2009-11-21 = -100).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from prognosis.cohort import build_cohort, parse_definition, parse_source
from prognosis.cohort.sources import Source
from prognosis.dataset import load_dataset
from prognosis.exceptions import DatasetError, DefinitionError
from tests.cohort.test_handmade_cdm import (
    CELECOXIB,
    GI_BLEED,
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

MI = MYOCARDIAL_INFARCTION


def definition(**parts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "several",
        "concept_sets": {"nsaids": [CELECOXIB], "gi_bleed": [GI_BLEED], "mi": [MI]},
        "index": {"concept_set": "nsaids", "domain": "drug_exposure"},
        "time_at_risk": [1, 365],
        "outcomes": [
            {
                "name": "gi_bleed",
                "concept_set": "gi_bleed",
                "domain": "condition_occurrence",
                "competing": ["death"],
            },
            {
                "name": "mi",
                "label": "myocardial infarction",
                "concept_set": "mi",
                "domain": "condition_occurrence",
                "competing": ["death", "gi_bleed"],
                "exclude_prior": {},
            },
            {"name": "death", "domain": "death"},
        ],
        "features": {"windows": {"year": [-365, -1]}, "items": [{"kind": "demographics"}]},
    }
    out.update(parts)
    return out


TABLES: dict[str, list[dict[str, Any]]] = {
    "person": [person(pid) for pid in range(1, 7)],
    "observation_period": [
        *(observed(pid) for pid in (1, 2, 3, 5, 6)),
        observed(4, "2008-01-01", "2010-06-09"),  # observed up to day +100
    ],
    "drug_exposure": [drug(pid) for pid in range(1, 7)],
    "condition_occurrence": [
        condition(1, "2010-04-10"),  # GI bleed +40
        condition(1, "2010-06-09", MI),  # MI +100, after the bleed
        condition(2, "2009-11-21", MI),  # an MI before index: not at risk of mi
        condition(2, "2010-04-20", MI),  # ... so this one is no mi event
        condition(4, "2010-04-30", MI),  # MI +60
        condition(5, "2010-05-01"),  # GI bleed +61 ...
        condition(5, "2010-05-01", MI),  # ... and MI the same day
        condition(6, "2010-03-01", MI),  # MI on the index day: before the risk window
    ],
    "death": [died(1, "2010-09-17"), died(3, "2010-03-31")],  # +200, +30
}

# person -> {outcome: (time, event, censor_reason)}; None: not at risk of that outcome
EXPECTED: dict[int, dict[str, tuple[int, int, str] | None]] = {
    1: {"gi_bleed": (40, 1, ""), "mi": (40, 3, ""), "death": (200, 1, "")},
    2: {
        "gi_bleed": (365, 0, "time_at_risk_end"),
        "mi": None,
        "death": (365, 0, "time_at_risk_end"),
    },
    3: {"gi_bleed": (30, 2, ""), "mi": (30, 2, ""), "death": (30, 1, "")},
    4: {
        "gi_bleed": (100, 0, "observation_end"),
        "mi": (60, 1, ""),
        "death": (100, 0, "observation_end"),
    },
    5: {"gi_bleed": (61, 1, ""), "mi": (61, 1, ""), "death": (365, 0, "time_at_risk_end")},
    6: {
        "gi_bleed": (365, 0, "time_at_risk_end"),
        "mi": None,
        "death": (365, 0, "time_at_risk_end"),
    },
}


def _build(source: Source, out: Path) -> Path:
    build_cohort(parse_definition(definition()), source, out, today=TODAY)
    return out


def _outcomes(out: Path) -> dict[int, dict[str, tuple[int, int, str] | None]]:
    found: dict[int, dict[str, tuple[int, int, str] | None]] = {}
    for row in pq.read_table(out / "dataset.parquet").to_pylist():
        found[row["person_id"]] = {
            name: None
            if row[f"time__{name}"] is None
            else (row[f"time__{name}"], row[f"event__{name}"], row[f"censor_reason__{name}"])
            for name in ("gi_bleed", "mi", "death")
        }
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("several")
    database = write(folder / "db", TABLES)
    return _build(parse_source(f"duckdb:///{database}"), folder / "out")


def test_each_outcome_has_its_own_time_event_and_censor_reason(built: Path) -> None:
    assert _outcomes(built) == EXPECTED


def test_the_columns_are_the_row_key_then_each_outcome_then_the_features(built: Path) -> None:
    names = pq.read_schema(built / "dataset.parquet").names
    assert names == [
        "person_id",
        "index_date",
        *(f"{part}__{name}" for name in ("gi_bleed", "mi", "death") for part in _PARTS),
        "age",
        "sex_male",
    ]


_PARTS = ("time", "event", "censor_reason")


def test_the_manifest_counts_events_by_outcome(built: Path) -> None:
    counts = load_dataset(built).manifest.counts
    assert counts is not None and counts.persons == 6
    assert counts.events == {
        "death:0": 4,
        "death:1": 2,
        "gi_bleed:0": 3,
        "gi_bleed:1": 2,
        "gi_bleed:2": 1,
        "mi:1": 2,
        "mi:2": 1,
        "mi:3": 1,
        "mi:not_at_risk": 2,
    }


def test_the_view_of_one_outcome_is_a_one_outcome_dataset(built: Path) -> None:
    whole = load_dataset(built)
    assert whole.outcome_names == ["gi_bleed", "mi", "death"]
    mi = whole.for_outcome("mi")
    assert mi.outcome == "mi" and mi.outcome_names == []
    assert mi.feature_names == ["age", "sex_male"]
    expected = {pid: e["mi"] for pid, e in EXPECTED.items() if e["mi"] is not None}
    rows = mi.frame[["person_id", "time", "event", "censor_reason"]].itertuples(index=False)
    assert {r.person_id: (r.time, r.event, r.censor_reason) for r in rows} == expected
    assert str(mi.frame["time"].dtype) == "int32" and str(mi.frame["event"].dtype) == "int32"
    assert list(mi.y["event"]) == [3, 2, 1, 1]
    assert load_dataset(built, "death").frame["event"].tolist() == [1, 0, 1, 0, 0, 0]


def test_an_outcome_the_dataset_lacks_is_refused_naming_the_ones_it_has(built: Path) -> None:
    with pytest.raises(DatasetError, match=r"no outcome 'stroke'; it has gi_bleed, mi, death"):
        load_dataset(built, "stroke")
    with pytest.raises(DatasetError, match="several outcomes; it has gi_bleed, mi, death"):
        _ = load_dataset(built).y


def test_the_one_outcome_definition_of_each_outcome_builds_the_same_columns(
    tmp_path: Path, built: Path
) -> None:
    """Each outcome's columns equal those of a one-outcome build of that outcome (its competing
    events in the same order; the rows not at risk of it are left out by its attrition)."""
    database = write(tmp_path / "db", TABLES)
    whole = load_dataset(built)
    for name in whole.outcome_names:
        single = parse_definition(definition()).for_outcome(name)
        out = tmp_path / name
        build_cohort(single, parse_source(f"duckdb:///{database}"), out, today=TODAY)
        one = load_dataset(out).frame
        view = whole.for_outcome(name).frame
        assert one.equals(view), name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time_at_risk": None}, "outcomes: needs time_at_risk"),
        (
            {
                "outcome": {
                    "concept_set": "mi",
                    "domain": "condition_occurrence",
                    "time_at_risk": [1, 5],
                }
            },
            "either outcome: .* or outcomes:",
        ),
        (
            {"outcomes": [{"name": "mi", "domain": "death", "competing": ["stroke"]}]},
            "lists competing event 'stroke', which is neither an outcome nor under",
        ),
        (
            {"outcomes": [{"name": "mi", "domain": "death", "competing": ["mi"]}]},
            "cannot compete with itself",
        ),
        (
            {"outcomes": [{"name": "d", "domain": "death"}, {"name": "d", "domain": "death"}]},
            "outcome name 'd' is used twice",
        ),
        (
            {"outcomes": [{"name": "x", "domain": "condition_occurrence"}]},
            "outcome 'x' in condition_occurrence needs a concept_set",
        ),
        (
            {
                "outcomes": [{"name": "x", "domain": "death"}],
                "competing_events": [{"name": "x", "domain": "death"}],
            },
            "'x' names both an outcome and a competing event",
        ),
    ],
)
def test_bad_outcome_lists_are_refused_naming_the_field(
    change: dict[str, Any], message: str
) -> None:
    data = definition(**change)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(DefinitionError, match=message):
        parse_definition(data, origin="several.yaml")


def test_a_one_outcome_definition_records_and_hashes_as_before() -> None:
    """The new fields are left out of a one-outcome definition's record and hash, so datasets
    and models built before ``outcomes:`` existed still match their definitions (the hash is
    the one commit f608942, before ``outcomes:``, computed for the shipped definition)."""
    from prognosis.cohort import load_definition
    from prognosis.cohort.definition import definition_hash

    parsed = load_definition(Path("cohorts/gi_bleed_nsaid.yaml"))
    assert "outcomes" not in parsed.canonical() and "time_at_risk" not in parsed.canonical()
    assert definition_hash(parsed) == (
        "e95326426834704bac234ff8d256494deea5d940c3e01dd99acba152a5bd1ac4"
    )


@pytest.mark.postgres
def test_postgresql_builds_the_same_outcomes(
    tmp_path: Path, request: pytest.FixtureRequest, built: Path
) -> None:
    database = write(tmp_path / "db", TABLES)
    out = _build(_postgres_source(request, database), tmp_path / "out")
    assert pq.read_table(out / "dataset.parquet").equals(pq.read_table(built / "dataset.parquet"))
    assert _outcomes(out) == EXPECTED


def test_the_view_of_an_outcome_that_excludes_prior_records_ends_its_attrition(
    built: Path,
) -> None:
    """Persons 2 and 6 have a myocardial infarction before the time at risk: the view of ``mi``
    adds the step that drops them, so its attrition ends at its rows."""
    whole, mi = load_dataset(built), load_dataset(built, "mi")
    assert mi.attrition[:-1] == whole.attrition
    last = mi.attrition[-1]
    assert (last.step, last.persons, last.index_events) == ("at_risk_of_mi", 4, 4)
    assert (last.persons_dropped, last.index_events_dropped) == (2, 2)
    assert load_dataset(built, "death").attrition == whole.attrition  # nobody excluded
