"""``cohorts/gi_bleed_nsaid.yaml`` built on the bundled Eunomia CDM, checked against SQL written
here by hand and run straight on the Eunomia DuckDB file (read-only), not through the compiler.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from prognosis.cohort import BuildResult, build_cohort, load_definition, parse_source
from prognosis.cohort.engines.duckdb import DuckDBEngine
from prognosis.exceptions import DataQualityWarning

DEFINITION = Path(__file__).resolve().parents[2] / "cohorts" / "gi_bleed_nsaid.yaml"
TIME_AT_RISK_END = 1825
OUTPUTS = ("dataset.parquet", "features.json", "attrition.json")

# The definition, restated in plain SQL on the raw Eunomia tables: first exposure to celecoxib
# (1118084) or diclofenac (1124300) or a descendant, for persons in `person`; index date inside
# an observation period with >= 365 days before it; no GI hemorrhage (192671 or a descendant)
# any time before index or on the index day. Outcome: first GI hemorrhage on days 1..1825, not
# after observation end.
COHORT_SQL = """
WITH nsaid AS (
  SELECT descendant_concept_id AS concept_id FROM concept_ancestor
  WHERE ancestor_concept_id IN (1118084, 1124300)
  UNION SELECT 1118084 UNION SELECT 1124300
), bleed AS (
  SELECT descendant_concept_id AS concept_id FROM concept_ancestor
  WHERE ancestor_concept_id = 192671
  UNION SELECT 192671
), first_use AS (
  SELECT person_id, MIN(drug_exposure_start_date) AS index_date
  FROM drug_exposure
  WHERE drug_concept_id IN (SELECT concept_id FROM nsaid)
    AND person_id IN (SELECT person_id FROM person)
  GROUP BY person_id
), cohort AS (
  SELECT f.person_id, f.index_date, op.observation_period_end_date - f.index_date AS obs_days
  FROM first_use AS f
  JOIN observation_period AS op ON op.person_id = f.person_id
    AND f.index_date BETWEEN op.observation_period_start_date AND op.observation_period_end_date
  WHERE f.index_date - op.observation_period_start_date >= 365
    AND NOT EXISTS (
      SELECT 1 FROM condition_occurrence AS c
      WHERE c.person_id = f.person_id AND c.condition_start_date <= f.index_date
        AND c.condition_concept_id IN (SELECT concept_id FROM bleed))
), outcome AS (
  SELECT k.person_id, MIN(c.condition_start_date - k.index_date) AS days
  FROM cohort AS k JOIN condition_occurrence AS c ON c.person_id = k.person_id
  WHERE c.condition_concept_id IN (SELECT concept_id FROM bleed)
    AND c.condition_start_date - k.index_date BETWEEN 1 AND 1825
    AND c.condition_start_date - k.index_date <= k.obs_days
  GROUP BY k.person_id
)
"""

PERSONS_SQL = (
    COHORT_SQL
    + """
SELECT k.person_id, k.index_date, k.obs_days, o.days AS outcome_days
FROM cohort AS k LEFT JOIN outcome AS o ON o.person_id = k.person_id
ORDER BY k.person_id
"""
)

# Peptic ulcer (4027663 or a descendant) records before index: all time, and days -365..-1.
ULCER_SQL = (
    COHORT_SQL
    + """
, ulcer AS (
  SELECT descendant_concept_id AS concept_id FROM concept_ancestor
  WHERE ancestor_concept_id = 4027663
  UNION SELECT 4027663
)
SELECT k.person_id,
  COUNT(c.person_id) AS all_before,
  COUNT(CASE WHEN c.condition_start_date >= k.index_date - 365 THEN 1 END) AS prior_year
FROM cohort AS k
LEFT JOIN condition_occurrence AS c ON c.person_id = k.person_id
  AND c.condition_start_date < k.index_date
  AND c.condition_concept_id IN (SELECT concept_id FROM ulcer)
GROUP BY k.person_id
ORDER BY k.person_id
"""
)

ORPHAN_PERIODS_SQL = """
SELECT COUNT(*) FROM observation_period
WHERE person_id NOT IN (SELECT person_id FROM person)
"""

# rows of persons in `person` dated outside every observation period of theirs, and all rows
OUTSIDE_SQL = """
SELECT COUNT(CASE WHEN e.person_id IN (SELECT person_id FROM person) AND NOT EXISTS (
    SELECT 1 FROM observation_period AS op WHERE op.person_id = e.person_id
      AND e.{date} BETWEEN op.observation_period_start_date AND op.observation_period_end_date)
  THEN 1 END), COUNT(*)
FROM {table} AS e
"""


def _query(eunomia_path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(eunomia_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _build(out: Path, source: str = "eunomia") -> tuple[BuildResult, list[str]]:
    with pytest.warns(DataQualityWarning) as record:
        result = build_cohort(
            load_definition(DEFINITION),
            parse_source(source),
            out,
            definition_path=str(DEFINITION),
        )
    return result, [str(warning.message) for warning in record]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildResult, list[str]]:
    return _build(tmp_path_factory.mktemp("eunomia") / "gi_bleed_nsaid")


@pytest.fixture(scope="module")
def expected(eunomia_path: Path) -> dict[int, tuple[dt.date, int, int, str]]:
    """person_id -> (index date, time, event, censor reason), from the hand-written SQL."""
    persons = {}
    for person_id, index_date, obs_days, outcome_days in _query(eunomia_path, PERSONS_SQL):
        if outcome_days is not None:
            persons[person_id] = (index_date, outcome_days, 1, "")
        elif obs_days <= TIME_AT_RISK_END:  # ties go to observation end
            persons[person_id] = (index_date, obs_days, 0, "observation_end")
        else:
            persons[person_id] = (index_date, TIME_AT_RISK_END, 0, "time_at_risk_end")
    return persons


def _dataset(result: BuildResult) -> list[dict[str, Any]]:
    return pq.read_table(result.out_dir / "dataset.parquet").to_pylist()


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_build_warns_about_eunomias_known_data_problems(
    built: tuple[BuildResult, list[str]], eunomia_path: Path
) -> None:
    _, messages = built
    ((orphans,),) = _query(eunomia_path, ORPHAN_PERIODS_SQL)
    conditions = _query(
        eunomia_path, OUTSIDE_SQL.format(table="condition_occurrence", date="condition_start_date")
    )[0]
    drugs = _query(
        eunomia_path, OUTSIDE_SQL.format(table="drug_exposure", date="drug_exposure_start_date")
    )[0]
    assert orphans == 2649  # as documented for Eunomia
    assert conditions[0] > 0
    assert drugs[0] > 0
    history = "they cannot be index events but still count as history"
    assert messages == [
        "table 'death', column '*': table 'death' is malformed: no column person_id, "
        "death_date; columns are column0, column1, column2, column3, column4, column5, "
        "column6 (it looks like a CSV header imported as a data row); treated as empty",
        f"table 'observation_period', column 'person_id': {orphans} rows for persons not in "
        "table 'person' are ignored",
        f"table 'condition_occurrence', column 'condition_start_date': {conditions[0]} of "
        f"{conditions[1]} rows fall outside every observation period of their person: {history}",
        f"table 'drug_exposure', column 'drug_exposure_start_date': {drugs[0]} of {drugs[1]} "
        f"rows fall outside every observation period of their person: {history}",
    ]


def test_cohort_counts_match_an_independent_query(
    built: tuple[BuildResult, list[str]], expected: dict[int, tuple]
) -> None:
    result, _ = built
    outcomes = sum(event for _, _, event, _ in expected.values())
    assert outcomes > 0
    assert result.persons == len(expected)
    assert result.index_events == len(expected)
    assert result.events == {0: len(expected) - outcomes, 1: outcomes}


def test_time_event_and_censoring_match_an_independent_query_for_every_person(
    built: tuple[BuildResult, list[str]], expected: dict[int, tuple]
) -> None:
    result, _ = built
    found = {
        row["person_id"]: (row["index_date"], row["time"], row["event"], row["censor_reason"])
        for row in _dataset(result)
    }
    assert found == expected


def test_peptic_ulcer_features_match_an_independent_query_for_every_person(
    built: tuple[BuildResult, list[str]], eunomia_path: Path
) -> None:
    result, _ = built
    expected = {
        person_id: {
            "peptic_ulcer_all_before": int(all_before > 0),
            "peptic_ulcer_all_before_count": all_before,
            "peptic_ulcer_prior_year": int(prior_year > 0),
            "peptic_ulcer_prior_year_count": prior_year,
        }
        for person_id, all_before, prior_year in _query(eunomia_path, ULCER_SQL)
    }
    assert sum(v["peptic_ulcer_all_before"] for v in expected.values()) > 0
    columns = list(next(iter(expected.values())))
    found = {row["person_id"]: {name: row[name] for name in columns} for row in _dataset(result)}
    assert found == expected


def test_outputs_are_written(built: tuple[BuildResult, list[str]]) -> None:
    result, _ = built
    assert sorted(p.name for p in result.out_dir.iterdir()) == sorted([*OUTPUTS, "manifest.json"])
    features = _json(result.out_dir / "features.json")
    table = pq.read_table(result.out_dir / "dataset.parquet")
    assert [f["name"] for f in features] == table.column_names[5:]
    assert table.column_names[:5] == ["person_id", "index_date", "time", "event", "censor_reason"]
    assert not [p for p in result.out_dir.parent.iterdir() if p.name.startswith(".")]


def test_manifest_records_definition_source_counts_versions_and_file_hashes(
    built: tuple[BuildResult, list[str]], expected: dict[int, tuple]
) -> None:
    result, messages = built
    manifest = _json(result.out_dir / "manifest.json")
    definition = manifest["definition"]
    canonical = json.dumps(definition["content"], separators=(",", ":"), ensure_ascii=False)
    assert definition["sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert definition["path"] == str(DEFINITION)
    assert definition["content"]["name"] == "gi_bleed_nsaid"
    assert manifest["source"] == "eunomia"
    outcomes = sum(event for _, _, event, _ in expected.values())
    assert manifest["counts"]["persons"] == len(expected)
    assert manifest["counts"]["events"] == {"0": len(expected) - outcomes, "1": outcomes}
    assert {"python", "prognosis", "duckdb", "sqlglot", "pyarrow"} <= set(manifest["versions"])
    created = dt.datetime.fromisoformat(manifest["created_at"])
    assert created.tzinfo is not None
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(hours=1)
    assert manifest["data_quality"] == messages
    assert manifest["files"] == {
        name: hashlib.sha256((result.out_dir / name).read_bytes()).hexdigest() for name in OUTPUTS
    }


def test_attrition_is_consistent(
    built: tuple[BuildResult, list[str]], expected: dict[int, tuple]
) -> None:
    result, _ = built
    attrition = _json(result.out_dir / "attrition.json")
    assert attrition == result.attrition
    assert attrition[0]["step"] == "index_events"
    assert attrition[0]["persons_dropped"] == 0
    for before, after in itertools.pairwise(attrition):
        assert after["persons"] <= before["persons"]
        assert after["persons_dropped"] == before["persons"] - after["persons"]
        assert after["index_events_dropped"] == before["index_events"] - after["index_events"]
    assert attrition[-1]["persons"] == len(expected)
    assert [step["step"] for step in attrition] == [
        "index_events",
        "first_occurrence",
        "in_observation",
        "prior_observation",
        "no_prior_gi_bleed",
        "at_risk",
    ]


def _same_outputs(first: Path, second: Path) -> None:
    assert pq.read_table(first / "dataset.parquet").equals(
        pq.read_table(second / "dataset.parquet")
    )
    for name in ("features.json", "attrition.json"):
        assert _json(first / name) == _json(second / name)


def test_building_twice_gives_identical_outputs(
    built: tuple[BuildResult, list[str]], tmp_path: Path
) -> None:
    first, first_messages = built
    second, second_messages = _build(tmp_path / "again")
    _same_outputs(first.out_dir, second.out_dir)
    assert second_messages == first_messages
    first_files = _json(first.out_dir / "manifest.json")["files"]
    assert _json(second.out_dir / "manifest.json")["files"] == first_files


@pytest.mark.postgres
def test_postgres_build_equals_duckdb_build(
    built: tuple[BuildResult, list[str]], eunomia_postgres_url: str, tmp_path: Path
) -> None:
    duck, duck_messages = built
    postgres, postgres_messages = _build(tmp_path / "postgres", source=eunomia_postgres_url)
    _same_outputs(duck.out_dir, postgres.out_dir)
    assert postgres_messages == duck_messages
    manifest = _json(postgres.out_dir / "manifest.json")
    assert manifest["engine"] == "postgres"


def test_sql_assembly_equals_client_assembly(
    built: tuple[BuildResult, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQL pivot-and-join path (kept for engines that hold the data, such as Spark) writes
    the same dataset as the default client-side assembly."""
    monkeypatch.setattr(DuckDBEngine, "assemble_locally", False)
    duck, _ = built
    in_sql, _ = _build(tmp_path / "sql")
    _same_outputs(duck.out_dir, in_sql.out_dir)
