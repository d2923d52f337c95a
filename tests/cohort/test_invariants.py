"""Invariants of follow-up, censoring and features on small random CDMs (hypothesis).

Each example is a handful of persons with random observation periods and index, outcome,
competing-event, death and feature records at random day offsets from 2010-01-01. The expected
survival columns come from a plain-Python reading of the rules in ``prognosis/cohort/compile.py``
(the module docstring), not from the SQL.

Random records fall outside observation periods on purpose (they are history for features, and
such index events must be dropped), and some years of birth are missing or implausible (those
persons must be dropped, so that no age is negative or missing), so these builds ignore
``DataQualityWarning``: what the warnings say is tested on hand-made data elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prognosis.cohort import CohortError, build_cohort, parse_definition, parse_source
from prognosis.exceptions import DataQualityWarning
from tests.support.cdm import write_cdm

BASE = dt.date(2010, 1, 1)
TODAY = dt.date(2030, 1, 1)
CELECOXIB, DICLOFENAC, GI_BLEED, MYOCARDIAL_INFARCTION = 1001, 1002, 2001, 4001
PEPTIC_ULCER, HEMOGLOBIN, ASPIRIN, HYPERTENSION, DIABETES = 3001, 5001, 6001, 7001, 7002
CONCEPTS = [CELECOXIB, DICLOFENAC, GI_BLEED, MYOCARDIAL_INFARCTION, PEPTIC_ULCER, HEMOGLOBIN]
CENSOR_ORDER = ("death", "observation_end", "data_cutoff", "time_at_risk_end")
# not read by these definitions: leaving them out keeps each example quick
UNUSED_TABLES = ("procedure_occurrence", "observation", "visit_occurrence", "concept_ancestor")
SURVIVAL = ("person_id", "index_date", "time", "event", "censor_reason")

EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Person:
    pid: int
    born: int | None  # sometimes missing or implausible (excluded: step birth_year)
    gender: int
    periods: tuple[tuple[int, int], ...]  # (start day, end day), disjoint and ordered
    index_drugs: tuple[tuple[int, int], ...]  # (day, concept)
    outcomes: tuple[int, ...]
    infarctions: tuple[int, ...]
    death: int | None
    conditions: tuple[tuple[int, int], ...]  # (day, concept): feature history
    labs: tuple[tuple[int, float | None], ...]  # (day, value), at most one a day
    aspirin: tuple[int, ...]

    def first_index_day(self) -> int | None:
        return min((day for day, _ in self.index_drugs), default=None)


@dataclass(frozen=True)
class Scenario:
    persons: tuple[Person, ...]
    occurrence: str
    tar: tuple[int, int]
    cutoff: int | None
    competing: tuple[str, ...]
    min_prior: int


ANCHORS = (-366, -365, -31, -30, -1, 0, 1, 30, 31, 100, 365, 366)
# index dates fall in 2007-2013: missing, on both sides of "0 to 120 years before the index
# year", and in the future
IMPLAUSIBLE_BIRTHS = st.sampled_from([None, 1886, 1889, 1890, 2008, 2011, 2150])


def days(low: int = -900, high: int = 1200) -> st.SearchStrategy[int]:
    """Days from 2010-01-01, often on a few shared anchors so that records tie."""
    anchors = [a for a in ANCHORS if low <= a <= high]
    return st.integers(low, high) | st.sampled_from(anchors) if anchors else st.integers(low, high)


def near(center: int) -> st.SearchStrategy[int]:
    """Days around a person's usual index date, often the same few offsets from it."""
    offsets = st.integers(-400, 500) | st.sampled_from(ANCHORS)
    return offsets.map(lambda offset: center + offset)


def usually(draw: st.DrawFn, usual: st.SearchStrategy[Any], rarely: st.SearchStrategy[Any]) -> Any:
    """Draw from ``usual`` about three times in four, else from ``rarely``."""
    return draw(rarely if draw(st.integers(0, 3)) == 3 else usual)


@st.composite
def persons(draw: st.DrawFn, pid: int) -> Person:
    center = draw(days(-600, 600))  # where this person's index date usually falls
    start = center - draw(st.integers(0, 800) | st.sampled_from([0, 30, 364, 365]))
    end = max(start, center + draw(st.integers(-100, 800) | st.sampled_from([0, 1, 30, 365])))
    periods = [(start, end)]
    if draw(st.booleans()):
        second = end + draw(st.integers(1, 200))
        periods.append((second, second + draw(st.integers(0, 600))))
    shared = draw(near(center))  # a day some outcome, competing event or death may share
    day = st.just(shared) | near(center) | days()
    later = near(center).filter(lambda d: d > center)
    nsaid = st.sampled_from([CELECOXIB, DICLOFENAC])
    # mostly a first use on the usual day, sometimes one elsewhere; then maybe more
    index_drugs = [(usually(draw, st.just(center), day), draw(nsaid))]
    for _ in range(draw(st.integers(0, 2))):
        index_drugs.append((usually(draw, later, day), draw(nsaid)))
    # a third die, mostly after the usual index date
    death = usually(draw, later, day) if draw(st.integers(0, 2)) == 2 else None
    conditions = st.tuples(day, st.sampled_from([PEPTIC_ULCER, HYPERTENSION, DIABETES]))
    value = st.none() | st.integers(0, 200).map(lambda tenths: tenths / 10)
    return Person(
        pid=pid,
        born=usually(draw, st.integers(1930, 1995), IMPLAUSIBLE_BIRTHS),
        gender=draw(st.sampled_from([8507, 8532, 0])),
        periods=tuple(periods),
        index_drugs=tuple(index_drugs),
        outcomes=tuple(draw(st.lists(day, max_size=3))),
        infarctions=tuple(draw(st.lists(day, max_size=2))),
        death=death,
        conditions=tuple(draw(st.lists(conditions, max_size=4))),
        labs=tuple(draw(st.lists(st.tuples(day, value), max_size=3, unique_by=lambda lab: lab[0]))),
        aspirin=tuple(draw(st.lists(day, max_size=2))),
    )


@st.composite
def scenarios(draw: st.DrawFn, occurrence: str | None = None) -> Scenario:
    count = draw(st.integers(2, 5))
    tar_start = draw(st.integers(1, 30) | st.just(1))
    tar_end = draw(st.integers(tar_start, tar_start + 400) | st.sampled_from([100, 365]))
    return Scenario(
        persons=tuple(draw(persons(pid)) for pid in range(1, count + 1)),
        occurrence=occurrence or draw(st.sampled_from(["first", "all"])),
        tar=(tar_start, max(tar_start, tar_end)),
        cutoff=usually(draw, st.none(), days(0, 1200)),
        competing=draw(
            st.sampled_from([(), ("death",), ("mi",), ("death", "mi"), ("mi", "death")])
        ),
        min_prior=draw(st.sampled_from([0, 0, 30, 365])),
    )


# --- the CDM and the definition ---------------------------------------------------------------


def date(day: int) -> dt.date:
    return BASE + dt.timedelta(days=day)


def cdm_tables(people: tuple[Person, ...]) -> dict[str, list[dict[str, Any]]]:
    def cond(pid: int, day: int, concept: int) -> dict[str, Any]:
        return {
            "person_id": pid,
            "condition_concept_id": concept,
            "condition_start_date": date(day),
        }

    def drug(pid: int, day: int, concept: int) -> dict[str, Any]:
        return {"person_id": pid, "drug_concept_id": concept, "drug_exposure_start_date": date(day)}

    tables: dict[str, list[dict[str, Any]]] = {
        "person": [],
        "observation_period": [],
        "concept": [{"concept_id": cid, "concept_name": f"concept {cid}"} for cid in CONCEPTS],
        "drug_exposure": [],
        "condition_occurrence": [],
        "measurement": [],
        "death": [],
    }
    for p in people:
        tables["person"].append(
            {"person_id": p.pid, "year_of_birth": p.born, "gender_concept_id": p.gender}
        )
        tables["observation_period"] += [
            {
                "person_id": p.pid,
                "observation_period_start_date": date(start),
                "observation_period_end_date": date(end),
            }
            for start, end in p.periods
        ]
        tables["drug_exposure"] += [drug(p.pid, day, concept) for day, concept in p.index_drugs]
        tables["drug_exposure"] += [drug(p.pid, day, ASPIRIN) for day in p.aspirin]
        tables["condition_occurrence"] += [cond(p.pid, day, GI_BLEED) for day in p.outcomes]
        tables["condition_occurrence"] += [
            cond(p.pid, day, MYOCARDIAL_INFARCTION) for day in p.infarctions
        ]
        tables["condition_occurrence"] += [cond(p.pid, day, c) for day, c in p.conditions]
        tables["measurement"] += [
            {
                "person_id": p.pid,
                "measurement_concept_id": HEMOGLOBIN,
                "measurement_date": date(day),
                "value_as_number": value,
            }
            for day, value in p.labs
        ]
        if p.death is not None:
            tables["death"].append({"person_id": p.pid, "death_date": date(p.death)})
    return tables


FEATURES = {
    "windows": {"prior_year": [-365, -1], "all_before": [None, -1], "recent": [-30, -1]},
    "items": [
        {"kind": "demographics"},
        {"kind": "index_concept"},
        {
            "kind": "concept_set",
            "name": "ulcer",
            "concept_set": "ulcer",
            "domain": "condition_occurrence",
            "windows": ["prior_year", "all_before"],
            "statistics": ["presence", "count"],
        },
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
            "domain": "condition_occurrence",
            "windows": ["prior_year"],
            "min_prevalence": 0.3,
            "statistics": ["presence", "count"],
        },
        {
            "kind": "domain",
            "domain": "measurement",
            "windows": ["recent"],
            "min_prevalence": 0.2,
            "statistics": ["last"],
        },
    ],
}


def definition(scenario: Scenario, *, features: set[int]) -> dict[str, Any]:
    """The definition for ``scenario``, with the feature items at positions ``features``."""
    competing = {
        "death": {"name": "death", "domain": "death"},
        "mi": {"name": "mi", "domain": "condition_occurrence", "concept_set": "mi"},
    }
    result: dict[str, Any] = {
        "name": "random",
        "concept_sets": {
            "nsaids": [CELECOXIB, DICLOFENAC],
            "gi_bleed": [GI_BLEED],
            "mi": [MYOCARDIAL_INFARCTION],
            "ulcer": [PEPTIC_ULCER],
            "hemoglobin": [HEMOGLOBIN],
        },
        "index": {
            "concept_set": "nsaids",
            "domain": "drug_exposure",
            "occurrence": scenario.occurrence,
            "min_prior_observation": scenario.min_prior,
        },
        "outcome": {
            "concept_set": "gi_bleed",
            "domain": "condition_occurrence",
            "time_at_risk": list(scenario.tar),
        },
        "competing_events": [competing[name] for name in scenario.competing],
        "censoring": {"data_cutoff": None if scenario.cutoff is None else date(scenario.cutoff)},
    }
    chosen = [item for i, item in enumerate(FEATURES["items"]) if i in features]
    result["features"] = {"windows": FEATURES["windows"], "items": chosen}
    return result


@dataclass(frozen=True)
class Built:
    rows: list[dict[str, Any]]
    attrition: list[dict[str, Any]]
    features: list[dict[str, Any]]


def build(folder: Path, people: tuple[Person, ...], definition: dict[str, Any]) -> Built | None:
    """Build on a fresh DuckDB CDM; ``None`` when the cohort is empty."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "cdm.duckdb"
    if not database.exists():
        write_cdm(database, cdm_tables(people), omit=UNUSED_TABLES)
    out = folder / f"out-{len(list(folder.iterdir()))}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # see the module docstring
        try:
            build_cohort(
                parse_definition(definition), parse_source(str(database)), out, today=TODAY
            )
        except CohortError as error:
            assert "is empty" in str(error)
            return None
    return Built(
        rows=pq.read_table(out / "dataset.parquet").to_pylist(),
        attrition=json.loads((out / "attrition.json").read_text()),
        features=json.loads((out / "features.json").read_text()),
    )


# --- the rules, in plain Python ---------------------------------------------------------------


def period_of(person: Person, day: int) -> tuple[int, int] | None:
    return next(((s, e) for s, e in person.periods if s <= day <= e), None)


def follow_up_ends(scenario: Scenario, person: Person, index: int) -> dict[str, int]:
    """Days from index to each thing that can end follow-up (absent ones left out)."""
    period = period_of(person, index)
    assert period is not None
    ends = {"observation_end": period[1] - index, "time_at_risk_end": scenario.tar[1]}
    if person.death is not None:
        ends["death"] = person.death - index
    if scenario.cutoff is not None:
        ends["data_cutoff"] = scenario.cutoff - index
    return ends


def first_in_tar(scenario: Scenario, days: tuple[int, ...] | list[int], index: int) -> int | None:
    start, end = scenario.tar
    return min((d - index for d in days if start <= d - index <= end), default=None)


def expected_survival(scenario: Scenario) -> list[tuple[int, dt.date, int, int, str]]:
    """(person, index date, time, event, censor reason) for every index event kept."""
    rows = []
    for person in scenario.persons:
        days = sorted({day for day, _ in person.index_drugs})
        for index in days[:1] if scenario.occurrence == "first" else days:
            period = period_of(person, index)
            if period is None or index - period[0] < scenario.min_prior:
                continue
            if person.born is None or not 0 <= date(index).year - person.born <= 120:
                continue
            ends = follow_up_ends(scenario, person, index)
            follow_up = min(ends.values())
            if follow_up < scenario.tar[0]:
                continue
            events = {1: first_in_tar(scenario, person.outcomes, index)}
            for code, name in enumerate(scenario.competing, start=2):
                days_of = person.infarctions if name == "mi" else (person.death,)
                events[code] = first_in_tar(scenario, [d for d in days_of if d is not None], index)
            happened = {code: day for code, day in events.items() if day is not None}
            first = min(happened.values(), default=None)
            if first is not None and first <= follow_up:
                code = min(c for c, day in happened.items() if day == first)
                rows.append((person.pid, date(index), first, code, ""))
            else:
                reason = next(r for r in CENSOR_ORDER if ends.get(r) == follow_up)
                rows.append((person.pid, date(index), follow_up, 0, reason))
    return sorted(rows)


def survival(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(row[name] for name in SURVIVAL) for row in rows)


def check_follow_up_invariants(scenario: Scenario, rows: list[dict[str, Any]]) -> None:
    people = {p.pid: p for p in scenario.persons}
    codes = set(range(len(scenario.competing) + 2))
    for row in rows:
        person, index = people[row["person_id"]], (row["index_date"] - BASE).days
        ends = follow_up_ends(scenario, person, index)
        assert row["time"] > 0
        assert row["event"] in codes
        if row["event"]:
            assert row["censor_reason"] == ""
            assert scenario.tar[0] <= row["time"] <= scenario.tar[1]
            assert row["time"] <= ends["observation_end"]
        else:
            assert row["censor_reason"] in CENSOR_ORDER
            assert row["time"] == min(ends.values())
            assert row["time"] == ends[row["censor_reason"]]


# --- the tests --------------------------------------------------------------------------------


@EXAMPLES
@given(scenario=scenarios(), items=st.sets(st.sampled_from(range(len(FEATURES["items"])))))
def test_follow_up_ends_at_the_first_event_or_censoring_whatever_the_features(
    scenario: Scenario, items: set[int]
) -> None:
    # any subset of the feature items (none, some, all) leaves time and event alone
    expected = expected_survival(scenario)
    with tempfile.TemporaryDirectory() as folder:
        built = build(Path(folder), scenario.persons, definition(scenario, features=items))
    if not expected:
        assert built is None
        return
    assert built is not None
    check_follow_up_invariants(scenario, built.rows)
    assert survival(built.rows) == expected


@st.composite
def later_records(draw: st.DrawFn, scenario: Scenario) -> tuple[Person, ...]:
    """``scenario.persons`` with extra records on or after each first index date."""
    changed = []
    for person in scenario.persons:
        index = person.first_index_day()
        if index is None:
            changed.append(person)
            continue
        after = st.integers(0, 500).map(lambda offset, index=index: index + offset)
        some = st.lists(after, max_size=2)
        history = st.tuples(after, st.sampled_from([PEPTIC_ULCER, HYPERTENSION, DIABETES]))
        nsaid = st.tuples(after, st.sampled_from([CELECOXIB, DICLOFENAC]))
        taken = {day for day, _ in person.labs}
        labs = draw(st.lists(st.tuples(after, st.integers(0, 200)), max_size=2))
        changed.append(
            replace(
                person,
                # another index drug on day 0 would change the index_concept flags, which
                # describe the index day itself: new ones only from day 1
                index_drugs=person.index_drugs
                + tuple((day + 1, concept) for day, concept in draw(st.lists(nsaid, max_size=2))),
                outcomes=person.outcomes + tuple(draw(some)),
                infarctions=person.infarctions + tuple(draw(some)),
                conditions=person.conditions + tuple(draw(st.lists(history, max_size=4))),
                labs=person.labs + tuple({d: v / 10 for d, v in labs if d not in taken}.items()),
                aspirin=person.aspirin + tuple(draw(some)),
            )
        )
    return tuple(changed)


FEATURE_FREE = {"time", "event", "censor_reason"}


@EXAMPLES
@given(data=st.data())
def test_features_ignore_records_on_or_after_the_index_date(data: st.DataObject) -> None:
    scenario = data.draw(scenarios(occurrence="first"), label="scenario")
    later = data.draw(later_records(scenario), label="with later records")
    chosen = definition(scenario, features=set(range(len(FEATURES["items"]))))
    with tempfile.TemporaryDirectory() as folder:
        before = build(Path(folder) / "before", scenario.persons, chosen)
        after = build(Path(folder) / "after", later, chosen)
    if before is None:
        assert after is None
        return
    assert after is not None
    assert [f["name"] for f in after.features] == [f["name"] for f in before.features]
    strip = [{k: v for k, v in row.items() if k not in FEATURE_FREE} for row in before.rows]
    assert [{k: v for k, v in row.items() if k not in FEATURE_FREE} for row in after.rows] == strip
    check_window_counts(scenario, before.rows)
    # the extra outcomes and infarctions may move time and event, by the same rules
    assert survival(before.rows) == expected_survival(scenario)
    assert survival(after.rows) == expected_survival(replace(scenario, persons=later))


def check_window_counts(scenario: Scenario, rows: list[dict[str, Any]]) -> None:
    """Concept-set counts and the last value, recomputed from the generated records."""
    people = {p.pid: p for p in scenario.persons}
    for row in rows:
        person, index = people[row["person_id"]], (row["index_date"] - BASE).days
        ulcers = [day - index for day, c in person.conditions if c == PEPTIC_ULCER]
        assert row["ulcer_prior_year_count"] == sum(-365 <= d <= -1 for d in ulcers)
        assert row["ulcer_all_before_count"] == sum(d <= -1 for d in ulcers)
        assert row["ulcer_prior_year"] == int(row["ulcer_prior_year_count"] > 0)
        labs = sorted((day, v) for day, v in person.labs if -365 <= day - index <= -1)
        assert row["hb_prior_year_count"] == len(labs)
        valued = [v for _, v in labs if v is not None]
        assert row["hb_prior_year_last"] == (valued[-1] if valued else None)
        assert person.born is not None
        assert row["age"] == row["index_date"].year - person.born
        assert 0 <= row["age"] <= 120
