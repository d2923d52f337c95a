"""Treatment status and time on treatment at index, and the trend of a measurement, on a
hand-made CDM with every value worked out by hand.

Every person is observed 2008-01-01 → 2012-12-31 and starts celecoxib on the index date
DAY0 = 2010-03-01; days below are offsets from DAY0 (``day(-100)`` is 100 days before it).
Features use data up to day -1 (no ``include_index_day``).

Treatment: concept set ``anticoagulant`` = warfarin (8001) and apixaban (8002). An exposure
ends on its drug_exposure_end_date, else on start + days_supply - 1, else on its start day, and
never before its start. Exposures are joined when at most ``gap`` days without the drug lie
between them (next start - latest end before it - 1); the person is on the treatment when the
latest continuous exposure (of those started by day -1) ends at most ``gap`` days before day 0,
and ``days`` is then 0 - its start. ``on_anticoagulant`` has gap 0, ``anticoagulated`` gap 30.

    pid exposures (start..end)                  gap 0: on, days       gap 30: on, days
     1  warfarin -100..-40, apixaban -50..+20    overlap: 1, 100       1, 100
     2  -200..-121, then -90..+10                30 days between:      joined: 1, 200
                                                 1, 90
     3  -200..-122, then -90..+10                31 days between:      31 > 30: 1, 90
                                                 1, 90
     4  start -10, days_supply 30 → -10..+19     1, 10                 1, 10
     5  start -59, days_supply 30 → -59..-30     ends 30 days before:  30 <= 30: 1, 59
                                                 0, 0
     6  start -60, days_supply 30 → -60..-31     0, 0                  31 > 30: 0, 0
     7  start -1 only (no end, no supply) → -1   0, 0                  1, 1
     8  start 0..+30 and +5..+40 (not before     0, 0                  0, 0
        index: unseen)
     9  none                                     0, 0                  0, 0
    10  start -5, end -20 (before its start:     0, 0                  1, 5
        taken as -5..-5)
    11  -60..-20, then +3..+40 (after index:     0, 0                  -20 >= -30: 1, 60
        unseen, so it joins nothing)

Trend: window prior_year = [-365, -1]; eGFR (9001) and eGFR CKD-EPI (9002); ``egfr`` reads
9001, ``kidney`` both. trend = least-squares slope of value on day, x 365.25 (per year):
slope = Sxy / Sxx with Sxy = sum (x - mean x)(y - mean y), Sxx = sum (x - mean x)^2.

    pid records (day: value)                      egfr last, trend      kidney last, trend
     1  9001 -300: 60, -200: 55, -100: 52;         52, -14.61            12, -63.97...
        9002 -20: 10, -10: 12;
        ignored: 9001 -400: 100 (outside),
        0: 10 (index day), -5: no value
     2  9001 -50: 70 and -50: 72 (one day)        72 (largest), missing  72, missing
     3  9001 -30: 40 (one record)                 40, missing           40, missing
     4  9001 -100: 50, -100: 54, -10: 46          46, -24.35            46, -24.35
     5  9001 -200: 30; 9002 -100: 40              30, missing           40, 36.525
   6-11 none                                      missing               missing

    1 egfr: mean x -200, mean y 167/3; Sxy = -100 (60 - 167/3) + 100 (52 - 167/3) = -800,
      Sxx = 20000: -0.04 per day, -0.04 x 365.25 = -14.61 per year.
    1 kidney (5 records): n 5, Sx -630, Sy 189, Sxy -34520, Sxx 140500:
      slope = (5 x -34520 - (-630)(189)) / (5 x 140500 - 630^2) = -53530 / 305600 per day,
      x 365.25 = -63.978...; the domain feature's 9002 alone: (12 - 10) / 10 = 0.2 per day,
      73.05 per year.
    4 (two records on day -100): mean x -70, mean y 50; Sxy = -30 x 0 - 30 x 4 + 60 x -4 =
      -360, Sxx = 900 + 900 + 3600 = 5400: -1/15 per day, -24.35 per year.
    5 kidney: (40 - 30) / 100 = 0.1 per day, 36.525 per year.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prognosis.cohort import build_cohort, parse_definition, parse_source
from prognosis.cohort.engines.duckdb import DuckDBEngine
from prognosis.exceptions import DefinitionError
from tests.cohort.test_handmade_cdm import CELECOXIB, GI_BLEED, MALE, TODAY, _postgres_source
from tests.support.cdm import write_cdm

WARFARIN, APIXABAN, EGFR, EGFR_CKD = 8001, 8002, 9001, 9002
DAY0 = dt.date(2010, 3, 1)
PERSONS = range(1, 12)

VOCABULARY = [
    {"concept_id": cid, "concept_name": name}
    for cid, name in [
        (CELECOXIB, "Celecoxib"),
        (GI_BLEED, "Gastrointestinal hemorrhage"),
        (WARFARIN, "Warfarin"),
        (APIXABAN, "Apixaban"),
        (EGFR, "eGFR"),
        (EGFR_CKD, "eGFR CKD-EPI"),
    ]
]


def day(offset: int) -> dt.date:
    return DAY0 + dt.timedelta(days=offset)


def exposure(
    pid: int,
    start: int,
    end: int | None = None,
    supply: int | None = None,
    concept: int = WARFARIN,
) -> dict[str, Any]:
    return {
        "person_id": pid,
        "drug_concept_id": concept,
        "drug_exposure_start_date": day(start),
        "drug_exposure_end_date": None if end is None else day(end),
        "days_supply": supply,
    }


def lab(pid: int, offset: int, value: float | None, concept: int = EGFR) -> dict[str, Any]:
    return {
        "person_id": pid,
        "measurement_concept_id": concept,
        "measurement_date": day(offset),
        "value_as_number": value,
    }


TABLES: dict[str, list[dict[str, Any]]] = {
    "concept": VOCABULARY,
    "person": [
        {"person_id": pid, "year_of_birth": 1950, "gender_concept_id": MALE} for pid in PERSONS
    ],
    "observation_period": [
        {
            "person_id": pid,
            "observation_period_start_date": "2008-01-01",
            "observation_period_end_date": "2012-12-31",
        }
        for pid in PERSONS
    ],
    "drug_exposure": [
        *(
            {"person_id": pid, "drug_concept_id": CELECOXIB, "drug_exposure_start_date": DAY0}
            for pid in PERSONS
        ),
        exposure(1, -100, -40),
        exposure(1, -50, 20, concept=APIXABAN),
        exposure(2, -200, -121),
        exposure(2, -90, 10),
        exposure(3, -200, -122),
        exposure(3, -90, 10),
        exposure(4, -10, supply=30),
        exposure(5, -59, supply=30),
        exposure(6, -60, supply=30),
        exposure(7, -1),
        exposure(8, 0, 30),
        exposure(8, 5, 40),
        exposure(10, -5, -20),
        exposure(11, -60, -20),
        exposure(11, 3, 40),
    ],
    "measurement": [
        lab(1, -300, 60.0),
        lab(1, -200, 55.0),
        lab(1, -100, 52.0),
        lab(1, -20, 10.0, EGFR_CKD),
        lab(1, -10, 12.0, EGFR_CKD),
        lab(1, -400, 100.0),
        lab(1, 0, 10.0),
        lab(1, -5, None),
        lab(2, -50, 70.0),
        lab(2, -50, 72.0),
        lab(3, -30, 40.0),
        lab(4, -100, 50.0),
        lab(4, -100, 54.0),
        lab(4, -10, 46.0),
        lab(5, -200, 30.0),
        lab(5, -100, 40.0, EGFR_CKD),
    ],
}


def definition(**features: Any) -> dict[str, Any]:
    return {
        "name": "treatment_trend",
        "concept_sets": {
            "nsaids": [CELECOXIB],
            "gi_bleed": [GI_BLEED],
            "anticoagulant": {"include": [WARFARIN, APIXABAN], "label": "an anticoagulant"},
            "egfr": {"include": [EGFR], "label": "eGFR"},
            "kidney": [EGFR, EGFR_CKD],
        },
        "index": {"concept_set": "nsaids", "domain": "drug_exposure"},
        "outcome": {
            "concept_set": "gi_bleed",
            "domain": "condition_occurrence",
            "time_at_risk": [1, 365],
        },
        "features": {
            "windows": {"prior_year": [-365, -1]},
            "items": [
                {
                    "kind": "treatment",
                    "name": "on_anticoagulant",
                    "concept_set": "anticoagulant",
                    "statistics": ["status", "days"],
                },
                {
                    "kind": "treatment",
                    "name": "anticoagulated",
                    "concept_set": "anticoagulant",
                    "gap": 30,
                    "statistics": ["status", "days"],
                },
                {
                    "kind": "concept_set",
                    "name": "egfr",
                    "concept_set": "egfr",
                    "domain": "measurement",
                    "windows": ["prior_year"],
                    "statistics": ["last", "trend"],
                },
                {
                    "kind": "concept_set",
                    "name": "kidney",
                    "concept_set": "kidney",
                    "domain": "measurement",
                    "windows": ["prior_year"],
                    "statistics": ["last", "trend"],
                },
                {
                    "kind": "domain",
                    "domain": "measurement",
                    "windows": ["prior_year"],
                    "min_prevalence": 0.01,
                    "statistics": ["trend"],
                },
            ],
            **features,
        },
    }


FEATURE_COLUMNS = [
    ("on_anticoagulant", pa.int32()),
    ("on_anticoagulant_days", pa.int32()),
    ("anticoagulated", pa.int32()),
    ("anticoagulated_days", pa.int32()),
    ("egfr_prior_year_last", pa.float64()),
    ("egfr_prior_year_trend", pa.float64()),
    ("kidney_prior_year_last", pa.float64()),
    ("kidney_prior_year_trend", pa.float64()),
    ("measurement_9001_prior_year_trend", pa.float64()),
    ("measurement_9002_prior_year_trend", pa.float64()),
]
YEAR = 365.25
NA = None
# pid: the columns above, from the module docstring's tables
EXPECTED: dict[int, tuple[Any, ...]] = {
    1: (1, 100, 1, 100, 52.0, -0.04 * YEAR, 12.0, -53530 / 305600 * YEAR, -0.04 * YEAR, 0.2 * YEAR),
    2: (1, 90, 1, 200, 72.0, NA, 72.0, NA, NA, NA),
    3: (1, 90, 1, 90, 40.0, NA, 40.0, NA, NA, NA),
    4: (1, 10, 1, 10, 46.0, -YEAR / 15, 46.0, -YEAR / 15, -YEAR / 15, NA),
    5: (0, 0, 1, 59, 30.0, NA, 40.0, 0.1 * YEAR, NA, NA),
    6: (0, 0, 0, 0, NA, NA, NA, NA, NA, NA),
    7: (0, 0, 1, 1, NA, NA, NA, NA, NA, NA),
    8: (0, 0, 0, 0, NA, NA, NA, NA, NA, NA),
    9: (0, 0, 0, 0, NA, NA, NA, NA, NA, NA),
    10: (0, 0, 1, 5, NA, NA, NA, NA, NA, NA),
    11: (0, 0, 1, 60, NA, NA, NA, NA, NA, NA),
}


def _build(source: str | Any, out: Path, **features: Any) -> pa.Table:
    source = parse_source(source) if isinstance(source, str) else source
    build_cohort(parse_definition(definition(**features)), source, out, today=TODAY)
    return pq.read_table(out / "dataset.parquet")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cdm(tmp_path_factory.mktemp("cdm") / "cdm.duckdb", TABLES)


@pytest.fixture(scope="module")
def built(database: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "out"
    _build(f"duckdb:///{database}", out)
    return out


def _assert_expected(table: pa.Table) -> None:
    names = [name for name, _ in FEATURE_COLUMNS]
    assert table.schema.names[-len(names) :] == names
    for name, dtype in FEATURE_COLUMNS:
        assert table.schema.field(name).type == dtype, name
    rows = {row["person_id"]: row for row in table.to_pylist()}
    assert sorted(rows) == list(PERSONS)
    for pid, expected in EXPECTED.items():
        got = tuple(rows[pid][name] for name in names)
        for value, want in zip(got, expected, strict=True):
            if want is None or value is None:
                assert value is want, f"person {pid}: {got}"
            else:
                assert value == pytest.approx(want, rel=1e-12, abs=0), f"person {pid}: {got}"


def test_treatment_status_days_and_trends_match_the_hand_computed_table(built: Path) -> None:
    _assert_expected(pq.read_table(built / "dataset.parquet"))


def test_the_sql_assembly_builds_the_same_bytes_as_the_client_assembly(
    database: Path, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQL path (pivots and joins, as Spark assembles) gives the same table."""
    monkeypatch.setattr(DuckDBEngine, "assemble_locally", False)
    in_sql = _build(f"duckdb:///{database}", tmp_path / "out")
    assert in_sql.equals(pq.read_table(built / "dataset.parquet"))


def test_include_index_day_lets_an_exposure_started_on_the_index_day_count(
    database: Path, tmp_path: Path
) -> None:
    """With include_index_day, person 8's exposure 0..+30 is seen: on, 0 days since its
    start (its +5..+40 exposure, after index, still is not); person 1's eGFR of day 0 (10)
    becomes the last value, in a window ending on day 0."""
    table = _build(
        f"duckdb:///{database}",
        tmp_path / "out",
        include_index_day=True,
        windows={"prior_year": [-365, 0]},
    )
    rows = {row["person_id"]: row for row in table.to_pylist()}
    assert (rows[8]["on_anticoagulant"], rows[8]["on_anticoagulant_days"]) == (1, 0)
    assert (rows[9]["on_anticoagulant"], rows[9]["on_anticoagulant_days"]) == (0, 0)
    assert rows[1]["egfr_prior_year_last"] == 10.0


def test_features_json_labels_read_as_a_clinician_would(built: Path) -> None:
    labels = {f["name"]: f["label"] for f in json.loads((built / "features.json").read_text())}
    assert labels["on_anticoagulant"] == "On an anticoagulant at index"
    assert labels["on_anticoagulant_days"] == "Days on an anticoagulant at index"
    assert (
        labels["anticoagulated"] == "On an anticoagulant at index (gaps of up to 30 days allowed)"
    )
    assert labels["egfr_prior_year_trend"] == (
        "Trend of eGFR from 365 days before index to 1 day before index, per year"
    )
    assert labels["measurement_9002_prior_year_trend"] == (
        "Trend of eGFR CKD-EPI from 365 days before index to 1 day before index, per year"
    )
    kinds = {
        f["name"]: (f["kind"], f["statistic"])
        for f in json.loads((built / "features.json").read_text())
    }
    assert kinds["on_anticoagulant"] == ("treatment", "status")
    assert kinds["on_anticoagulant_days"] == ("treatment", "days")
    assert kinds["kidney_prior_year_trend"] == ("concept_set", "trend")


def test_only_a_treatment_feature_adds_the_spans_view_and_stg_drug_exposure_is_unchanged() -> None:
    """The spans (end date, days supply) are a view of their own: stg_drug_exposure, which
    index events, rules and other features read, is the same with or without a treatment."""
    from prognosis.cohort.catalog import standard_tables
    from prognosis.cohort.staging import SPANS_VIEW, plan_staging

    plain = definition()
    plain["features"]["items"] = plain["features"]["items"][2:]
    without, _ = plan_staging(parse_definition(plain), standard_tables())
    with_treatment, _ = plan_staging(parse_definition(definition()), standard_tables())
    assert SPANS_VIEW not in [view.name for view in without]
    spans = next(view for view in with_treatment if view.name == SPANS_VIEW)
    assert "AS end_date" in spans.select and "AS days_supply" in spans.select
    assert [view for view in with_treatment if view.name != SPANS_VIEW] == without


def _item(**item: Any) -> dict[str, Any]:
    data = definition()
    data["features"]["items"] = [item]
    return data


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {
                "kind": "concept_set",
                "name": "x",
                "concept_set": "anticoagulant",
                "domain": "drug_exposure",
                "windows": ["prior_year"],
                "statistics": ["trend"],
            },
            "features.items[0] ('x'): feature 'x': 'trend' needs a domain with values "
            "(measurement, observation), not drug_exposure",
        ),
        (
            {
                "kind": "domain",
                "domain": "condition_occurrence",
                "windows": ["prior_year"],
                "statistics": ["presence", "trend"],
            },
            "'trend' needs a domain with values (measurement, observation), not "
            "condition_occurrence",
        ),
        (
            {"kind": "treatment", "name": "on_x", "concept_set": "statins"},
            "feature 'on_x' names concept set 'statins', which is not defined under concept_sets",
        ),
        (
            {"kind": "treatment", "name": "on_x", "concept_set": "anticoagulant", "gap": -1},
            "features.items[0] ('on_x').gap: Input should be greater than or equal to 0, got -1",
        ),
        (
            {
                "kind": "treatment",
                "name": "on_x",
                "concept_set": "anticoagulant",
                "statistics": ["status", "last"],
            },
            "features.items[0] ('on_x').statistics[1]: unknown value 'last'; expected "
            "'status' or 'days'",
        ),
        (
            {
                "kind": "treatment",
                "name": "on_x",
                "concept_set": "anticoagulant",
                "domain": "measurement",
            },
            "features.items[0] ('on_x').domain: unknown field",
        ),
    ],
)
def test_bad_new_features_are_refused_naming_the_field(item: dict[str, Any], expected: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_definition(_item(**item))
    assert expected in str(raised.value)


def test_a_treatment_and_a_concept_set_feature_cannot_share_a_name() -> None:
    data = definition()
    data["features"]["items"][2]["name"] = "on_anticoagulant"
    with pytest.raises(DefinitionError, match="feature name 'on_anticoagulant' is used twice"):
        parse_definition(data)


@pytest.mark.postgres
def test_postgresql_builds_the_same_dataset(
    database: Path, built: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    on_postgres = _build(_postgres_source(request, database), tmp_path / "out")
    _assert_expected(on_postgres)
    assert on_postgres.equals(pq.read_table(built / "dataset.parquet"))


@pytest.mark.parametrize("pid", [1, 2, 5, 11])
def test_one_persons_features_equal_their_row_of_the_dataset(
    database: Path, built: Path, pid: int
) -> None:
    """Scoring one person (every view restricted to them) gives their dataset row."""
    from prognosis.artifacts import read_features
    from prognosis.cohort.person import person_features

    features = read_features(built / "features.json")
    frame = person_features(
        parse_definition(definition()),
        parse_source(f"duckdb:///{database}"),
        pid,
        features=features,
    )
    row = next(
        r for r in pq.read_table(built / "dataset.parquet").to_pylist() if r["person_id"] == pid
    )
    for name, _ in FEATURE_COLUMNS:
        value, want = frame[name].iloc[0], row[name]
        if want is None:
            assert value is None or value != value, (name, value)
        else:
            assert value == want, (name, value, want)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_folder_of_files_builds_the_same_dataset(
    database: Path, built: Path, tmp_path: Path, fmt: str
) -> None:
    """End dates and days_supply read from CSV text (or Parquet) give the same table."""
    from tests.support.cdm import write_cdm_files

    folder = write_cdm_files(tmp_path / fmt, database, fmt=fmt)
    from_files = _build(str(folder), tmp_path / "out")
    assert from_files.equals(pq.read_table(built / "dataset.parquet"))


# --- random records against a computation of another kind -----------------------------------


def _random_tables(seed: int, persons: int) -> dict[str, list[dict[str, Any]]]:
    """Persons 1..n indexed on DAY0, each with 0-6 exposures (start -400..+10; an end date, a
    supply or neither) and 0-8 eGFR records (days -420..+5, some on one day, some valueless)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tables: dict[str, list[dict[str, Any]]] = {
        key: list(rows) for key, rows in TABLES.items() if key == "concept"
    }
    pids = range(1, persons + 1)
    tables["person"] = [
        {"person_id": pid, "year_of_birth": 1950, "gender_concept_id": MALE} for pid in pids
    ]
    tables["observation_period"] = [
        {
            "person_id": pid,
            "observation_period_start_date": "2008-01-01",
            "observation_period_end_date": "2012-12-31",
        }
        for pid in pids
    ]
    drugs = [
        {"person_id": pid, "drug_concept_id": CELECOXIB, "drug_exposure_start_date": DAY0}
        for pid in pids
    ]
    labs = []
    for pid in pids:
        for _ in range(rng.integers(0, 7)):
            start = int(rng.integers(-400, 11))
            how = rng.integers(0, 3)
            length = int(rng.integers(0, 90))
            drugs.append(
                exposure(
                    pid,
                    start,
                    end=start + length if how == 0 else None,
                    supply=length + 1 if how == 1 else None,
                    concept=int(rng.choice([WARFARIN, APIXABAN])),
                )
            )
        days_seen: list[int] = []
        for _ in range(rng.integers(0, 9)):
            on = int(rng.choice(days_seen)) if days_seen and rng.random() < 0.2 else None
            offset = on if on is not None else int(rng.integers(-420, 6))
            days_seen.append(offset)
            value = None if rng.random() < 0.1 else round(float(rng.normal(60, 15)), 2)
            labs.append(lab(pid, offset, value))
    tables["drug_exposure"] = drugs
    tables["measurement"] = labs
    return tables


def _on_treatment(spans: list[tuple[int, int]], gap: int) -> tuple[int, int]:
    """(status, days) from the days covered, walked back from the last one: a run of at most
    ``gap`` uncovered days (the index day counting as one) is crossed, a longer one stops."""
    covered = {d for start, end in spans for d in range(start, end + 1)}
    if not covered or max(covered) < -gap:
        return 0, 0
    day = max(covered)
    while True:
        earlier = [d for d in covered if d < day]
        if day - 1 in covered:
            day -= 1
        elif earlier and day - max(earlier) - 1 <= gap:
            day = max(earlier)
        else:
            return 1, -day


def _expected(tables: dict[str, list[dict[str, Any]]], pid: int) -> dict[str, Any]:
    import numpy as np

    spans = []
    for row in tables["drug_exposure"]:
        if row["person_id"] != pid or row["drug_concept_id"] == CELECOXIB:
            continue
        start = (row["drug_exposure_start_date"] - DAY0).days
        if start > -1:
            continue
        if row.get("drug_exposure_end_date") is not None:
            end = (row["drug_exposure_end_date"] - DAY0).days
        elif row.get("days_supply"):
            end = start + row["days_supply"] - 1
        else:
            end = start
        spans.append((start, max(start, end)))
    records = [
        ((row["measurement_date"] - DAY0).days, row["value_as_number"])
        for row in tables["measurement"]
        if row["person_id"] == pid and row["value_as_number"] is not None
    ]
    records = [(x, y) for x, y in records if -365 <= x <= -1]
    trend = None
    if len({x for x, _ in records}) >= 2:
        xs, ys = zip(*records, strict=True)
        trend = float(np.polyfit(xs, ys, 1)[0]) * YEAR
    last = max(records)[1] if records else None  # the latest day, then the largest value
    status0, days0 = _on_treatment(spans, 0)
    status30, days30 = _on_treatment(spans, 30)
    return {
        "on_anticoagulant": status0,
        "on_anticoagulant_days": days0,
        "anticoagulated": status30,
        "anticoagulated_days": days30,
        "egfr_prior_year_last": last,
        "egfr_prior_year_trend": trend,
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_random_records_match_a_day_by_day_walk_and_numpy_polyfit(
    tmp_path: Path, seed: int
) -> None:
    """Treatment from the covered days walked one by one, trend from numpy's least squares."""
    tables = _random_tables(seed, persons=60)
    database = write_cdm(tmp_path / "cdm.duckdb", tables)
    rows = {
        r["person_id"]: r for r in _build(f"duckdb:///{database}", tmp_path / "out").to_pylist()
    }
    on = 0
    for pid, row in rows.items():
        for name, want in _expected(tables, pid).items():
            got = row[name]
            if want is None or got is None:
                assert got is want, (pid, name, got, want)
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (pid, name, got, want)
        on += row["anticoagulated"]
    assert len(rows) == 60 and 5 <= on <= 55  # both answers occur


GI_BLEED_YAML = Path(__file__).resolve().parents[2] / "cohorts" / "gi_bleed_nsaid.yaml"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            "    - {kind: treatment, name: on_x, concept_set: nsaids, gap: -7}\n",
            "features.items[5] ('on_x').gap: Input should be greater than or equal to 0, got -7",
        ),
        (
            "    - {kind: treatment, name: on_x, concept_set: anticoagulants}\n",
            "feature 'on_x' names concept set 'anticoagulants', which is not defined",
        ),
        (
            "    - {kind: concept_set, name: ulcer_trend, concept_set: peptic_ulcer,\n"
            "       domain: condition_occurrence, windows: [prior_year], statistics: [trend]}\n",
            "features.items[5] ('ulcer_trend'): feature 'ulcer_trend': 'trend' needs a domain "
            "with values (measurement, observation), not condition_occurrence",
        ),
    ],
)
def test_the_cli_refuses_a_bad_new_feature_naming_the_file_and_field(
    tmp_path: Path, item: str, expected: str
) -> None:
    from click.testing import CliRunner

    from prognosis.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(GI_BLEED_YAML.read_text(encoding="utf-8") + item, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["cohort", "build", str(path), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{path}: invalid cohort definition" in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
