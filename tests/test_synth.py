"""Tests of the synthetic OMOP CDM generator: schema, determinism, planted covariates and hazards.

Covariates are recomputed here in plain SQL from the CDM, and the planted hazards are recovered
with lifelines, so neither check reuses the generator's own logic.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prognosis.exceptions import OutputError
from prognosis.synth import COVARIATES, SynthTruth, generate_cdm, planted_cohort, truth_path
from prognosis.synth.vocabulary import NOISE_CONDITIONS, NOISE_DRUGS

PERSONS, SEED = 5_000, 7
CUTOFF = dt.date(2024, 12, 31)
AF, STROKE = 313217, 443454

EXPECTED_COLUMNS = {
    "person": {
        "person_id": "BIGINT",
        "gender_concept_id": "BIGINT",
        "year_of_birth": "INTEGER",
        "month_of_birth": "INTEGER",
        "day_of_birth": "INTEGER",
        "birth_datetime": "TIMESTAMP",
        "race_concept_id": "BIGINT",
        "ethnicity_concept_id": "BIGINT",
        "person_source_value": "VARCHAR",
        "gender_source_value": "VARCHAR",
    },
    "observation_period": {
        "observation_period_id": "BIGINT",
        "person_id": "BIGINT",
        "observation_period_start_date": "DATE",
        "observation_period_end_date": "DATE",
        "period_type_concept_id": "BIGINT",
    },
    "condition_occurrence": {
        "condition_occurrence_id": "BIGINT",
        "person_id": "BIGINT",
        "condition_concept_id": "BIGINT",
        "condition_start_date": "DATE",
        "condition_end_date": "DATE",
        "condition_type_concept_id": "BIGINT",
        "condition_source_value": "VARCHAR",
    },
    "drug_exposure": {
        "drug_exposure_id": "BIGINT",
        "person_id": "BIGINT",
        "drug_concept_id": "BIGINT",
        "drug_exposure_start_date": "DATE",
        "drug_exposure_end_date": "DATE",
        "drug_type_concept_id": "BIGINT",
        "days_supply": "INTEGER",
        "drug_source_value": "VARCHAR",
    },
    "measurement": {
        "measurement_id": "BIGINT",
        "person_id": "BIGINT",
        "measurement_concept_id": "BIGINT",
        "measurement_date": "DATE",
        "measurement_type_concept_id": "BIGINT",
        "value_as_number": "DOUBLE",
        "unit_concept_id": "BIGINT",
        "measurement_source_value": "VARCHAR",
    },
    "death": {
        "person_id": "BIGINT",
        "death_date": "DATE",
        "death_type_concept_id": "BIGINT",
        "cause_concept_id": "BIGINT",
    },
    "concept": {
        "concept_id": "BIGINT",
        "concept_name": "VARCHAR",
        "domain_id": "VARCHAR",
        "vocabulary_id": "VARCHAR",
        "concept_class_id": "VARCHAR",
        "standard_concept": "VARCHAR",
        "concept_code": "VARCHAR",
        "valid_start_date": "DATE",
        "valid_end_date": "DATE",
        "invalid_reason": "VARCHAR",
    },
    "concept_ancestor": {
        "ancestor_concept_id": "BIGINT",
        "descendant_concept_id": "BIGINT",
        "min_levels_of_separation": "INTEGER",
        "max_levels_of_separation": "INTEGER",
    },
}

# Index date as a cohort builder would find it: the first atrial fibrillation record.
INDEX_SQL = f"""
    SELECT person_id, min(condition_start_date) AS index_date
    FROM condition_occurrence WHERE condition_concept_id = {AF} GROUP BY person_id
"""
DOMAIN = {
    "condition-presence": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug-presence": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
}


@pytest.fixture(scope="module")
def cdm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthTruth]:
    path = tmp_path_factory.mktemp("cdm") / "synth.duckdb"
    return path, generate_cdm(path, persons=PERSONS, seed=SEED)


@pytest.fixture(scope="module")
def con(cdm: tuple[Path, SynthTruth]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(cdm[0]), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return planted_cohort(persons=PERSONS, seed=SEED).set_index("person_id").sort_index()


def _table_hashes(path: Path) -> dict[str, tuple[int, int]]:
    with duckdb.connect(str(path), read_only=True) as c:
        return {
            t: c.execute(f"SELECT count(*), sum(hash(x)) FROM {t} x").fetchone()
            for t in EXPECTED_COLUMNS
        }


def _presence_sql(cov_kind: str, ancestors: tuple[int, ...], lo: int, hi: int) -> str:
    table, concept, date = DOMAIN[cov_kind]
    ids = ", ".join(map(str, ancestors))
    return f"""
        WITH idx AS ({INDEX_SQL})
        SELECT idx.person_id, count(r.person_id) > 0 AS flag
        FROM idx LEFT JOIN {table} r ON r.person_id = idx.person_id
         AND r.{concept} IN (SELECT descendant_concept_id FROM concept_ancestor
                             WHERE ancestor_concept_id IN ({ids}))
         AND r.{date} BETWEEN idx.index_date + {lo} AND idx.index_date + {hi}
        GROUP BY idx.person_id ORDER BY idx.person_id
    """


def _last_value_sql(concept_id: int, lo: int, hi: int) -> str:
    return f"""
        WITH idx AS ({INDEX_SQL})
        SELECT idx.person_id, arg_max(m.value_as_number, m.measurement_date) AS value
        FROM idx LEFT JOIN measurement m ON m.person_id = idx.person_id
         AND m.measurement_concept_id = {concept_id}
         AND m.measurement_date BETWEEN idx.index_date + {lo} AND idx.index_date + {hi}
        GROUP BY idx.person_id ORDER BY idx.person_id
    """


def _recompute(con: duckdb.DuckDBPyConnection, lo: int = -365, hi: int = -1) -> pd.DataFrame:
    """Every planted covariate, from the CDM alone, for the window [lo, hi] around index."""
    out = (
        con.execute(f"""
        WITH idx AS ({INDEX_SQL})
        SELECT p.person_id, year(idx.index_date) - p.year_of_birth AS age,
               (p.gender_concept_id = 8507)::INTEGER AS male
        FROM person p JOIN idx USING (person_id) ORDER BY p.person_id
    """)
        .df()
        .set_index("person_id")
    )
    for cov in COVARIATES:
        if cov.kind in DOMAIN:
            sql = _presence_sql(cov.kind, cov.concept_ids, lo, hi)
            out[cov.name] = con.execute(sql).df().set_index("person_id")["flag"].astype(int)
        elif cov.kind == "measurement-last":
            sql = _last_value_sql(cov.concept_ids[0], lo, hi)
            out[cov.name] = con.execute(sql).df().set_index("person_id")["value"]
    return out


def test_same_seed_gives_identical_tables(tmp_path: Path) -> None:
    generate_cdm(tmp_path / "a.duckdb", persons=1_500, seed=3)
    generate_cdm(tmp_path / "b.duckdb", persons=1_500, seed=3)
    assert _table_hashes(tmp_path / "a.duckdb") == _table_hashes(tmp_path / "b.duckdb")


def test_different_seed_gives_different_clinical_tables(tmp_path: Path) -> None:
    generate_cdm(tmp_path / "a.duckdb", persons=1_500, seed=3)
    generate_cdm(tmp_path / "b.duckdb", persons=1_500, seed=4)
    a, b = _table_hashes(tmp_path / "a.duckdb"), _table_hashes(tmp_path / "b.duckdb")
    assert a["concept"] == b["concept"]
    for table in (
        "person",
        "observation_period",
        "condition_occurrence",
        "drug_exposure",
        "measurement",
        "death",
    ):
        assert a[table] != b[table], table


def test_generation_writes_only_database_and_truth(tmp_path: Path) -> None:
    progress: list[str] = []
    generate_cdm(tmp_path / "x.duckdb", persons=50, seed=1, progress=progress.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.duckdb", "x.truth.json"]
    assert progress and all(isinstance(m, str) for m in progress)


def test_previous_synthetic_database_is_replaced_with_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    generate_cdm(path, persons=30, seed=1)
    with pytest.raises(OutputError, match="pass --overwrite"):
        generate_cdm(path, persons=40, seed=1)
    generate_cdm(path, persons=40, seed=1, overwrite=True)
    with duckdb.connect(str(path), read_only=True) as c:
        assert c.execute("SELECT count(*) FROM person").fetchone() == (40,)


@pytest.mark.parametrize(
    ("persons", "seed", "match"),
    [
        (0, 1, "persons must be a positive integer, got 0"),
        (2.5, 1, "persons must be a positive integer, got 2.5"),
        (10, -1, "seed must be a non-negative integer, got -1"),
    ],
)
def test_invalid_arguments_raise(tmp_path: Path, persons: object, seed: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_cdm(tmp_path / "x.duckdb", persons=persons, seed=seed)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_tables_have_omop_columns_with_types(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
    ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        found.setdefault(table, {})[column] = kind
    for table, columns in EXPECTED_COLUMNS.items():
        assert found[table] == columns, table


def test_every_concept_id_used_has_a_named_concept(con: duckdb.DuckDBPyConnection) -> None:
    used = [
        (t, c)
        for t, cols in EXPECTED_COLUMNS.items()
        if t != "concept"
        for c in cols
        if c.endswith("concept_id")
    ]
    assert len(used) >= 14
    for table, column in used:
        missing = con.execute(f"""
            SELECT DISTINCT {column} FROM {table}
            WHERE {column} NOT IN (SELECT concept_id FROM concept)""").fetchall()
        assert missing == [], (table, column)
    assert con.execute(
        "SELECT count(*) FROM concept WHERE length(concept_name) < 3"
    ).fetchone() == (0,)
    assert con.execute("SELECT count(*) = count(DISTINCT concept_id) FROM concept").fetchone()[0]


def test_concept_ancestor_has_a_self_row_for_every_concept(con: duckdb.DuckDBPyConnection) -> None:
    without_self = con.execute("""
        SELECT concept_id FROM concept WHERE concept_id NOT IN (
            SELECT descendant_concept_id FROM concept_ancestor
            WHERE ancestor_concept_id = descendant_concept_id AND min_levels_of_separation = 0)
    """).fetchall()
    assert without_self == []


def test_diabetes_and_drug_covariates_need_descendants(con: duckdb.DuckDBPyConnection) -> None:
    diabetes = con.execute("""SELECT descendant_concept_id FROM concept_ancestor
                              WHERE ancestor_concept_id = 201820 ORDER BY 1""").fetchall()
    assert diabetes == [(201254,), (201820,), (201826,)]
    parent_only = con.execute(
        "SELECT count(*) FROM condition_occurrence WHERE condition_concept_id = 201820"
    ).fetchone()[0]
    statin_ingredients = con.execute(
        "SELECT count(*) FROM drug_exposure WHERE drug_concept_id IN (1539403, 1545958)"
    ).fetchone()[0]
    assert (parent_only, statin_ingredients) == (0, 0)


def test_index_is_every_persons_first_af_and_matches_planted(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame
) -> None:
    index = con.execute(f"{INDEX_SQL} ORDER BY person_id").df().set_index("person_id")
    assert len(index) == PERSONS == con.execute("SELECT count(*) FROM person").fetchone()[0]
    assert (pd.to_datetime(index["index_date"]) == planted["index_date"]).all()


def test_person_ids_are_sparse_and_not_row_numbers(con: duckdb.DuckDBPyConnection) -> None:
    ids = con.execute("SELECT person_id FROM person").df()["person_id"].to_numpy()
    assert len(np.unique(ids)) == len(ids)
    assert not np.array_equal(ids, np.arange(1, len(ids) + 1))
    assert not np.all(np.diff(ids) > 0)
    bad = con.execute(
        "SELECT count(*) FROM person WHERE person_source_value NOT LIKE 'SYN-%' "
        "OR gender_source_value NOT IN ('M', 'F')"
    ).fetchone()
    assert bad == (0,)


def test_ages_at_index_lie_between_40_and_90(planted: pd.DataFrame) -> None:
    assert planted["age"].between(40, 90).all()
    assert 65 < planted["age"].mean() < 77


def test_outcome_after_index_matches_planted_event(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame
) -> None:
    first = (
        con.execute(f"""
        WITH idx AS ({INDEX_SQL})
        SELECT idx.person_id, min(c.condition_start_date) AS outcome_date,
               bool_and(c.condition_start_date > idx.index_date) AS strictly_after
        FROM idx JOIN condition_occurrence c ON c.person_id = idx.person_id
         AND c.condition_concept_id = {STROKE} AND c.condition_start_date >= idx.index_date
        GROUP BY idx.person_id""")
        .df()
        .set_index("person_id")
        .sort_index()
    )
    assert first["strictly_after"].all()
    expected = planted.loc[planted["event"] == 1, "outcome_date"]
    assert first.index.equals(expected.index)
    assert (pd.to_datetime(first["outcome_date"]) == expected).all()


def test_deaths_follow_index_and_end_observation(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame
) -> None:
    deaths = con.execute(f"""
        WITH idx AS ({INDEX_SQL})
        SELECT d.person_id, d.death_date > idx.index_date AS after_index,
               d.death_date = o.observation_period_end_date AS ends_observation
        FROM death d JOIN idx USING (person_id) JOIN observation_period o USING (person_id)
    """).df()
    assert deaths["after_index"].all() and deaths["ends_observation"].all()
    assert len(deaths) == planted["death_date"].notna().sum()
    died_first = (planted["event"] == 2).sum()
    assert 0 < died_first < len(deaths)  # some die after their outcome


def test_no_clinical_date_after_cutoff(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in EXPECTED_COLUMNS.items():
        for column, kind in columns.items():
            if kind == "DATE" and table not in ("concept",):
                low, high = con.execute(
                    f"SELECT min({column}), max({column}) FROM {table}"
                ).fetchone()
                assert dt.date(1900, 1, 1) < low <= high <= CUTOFF, (table, column)


def test_index_in_observation_for_intended_share(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame
) -> None:
    found = (
        con.execute(f"""
        WITH idx AS ({INDEX_SQL}),
        prior_stroke AS (
            SELECT DISTINCT c.person_id FROM condition_occurrence c JOIN idx USING (person_id)
            WHERE c.condition_concept_id = 443454 AND c.condition_start_date <= idx.index_date
        )
        SELECT idx.person_id,
               bool_or(idx.index_date BETWEEN o.observation_period_start_date
                                          AND o.observation_period_end_date) AS inside,
               bool_or(idx.index_date - o.observation_period_start_date >= 365
                       AND idx.index_date <= o.observation_period_end_date)
               AND idx.person_id NOT IN (SELECT person_id FROM prior_stroke) AS eligible
        FROM idx JOIN observation_period o USING (person_id)
        GROUP BY idx.person_id ORDER BY idx.person_id""")
        .df()
        .set_index("person_id")
    )
    assert (found["inside"] == planted["index_in_observation"]).all()
    assert (found["eligible"] == planted["eligible"]).all()
    assert 0.95 < found["inside"].mean() < 0.99
    assert 0.87 < found["eligible"].mean() < 0.93  # and 3 % with a stroke before index


def test_window_covariates_recomputed_in_sql_equal_planted(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame
) -> None:
    recomputed = _recompute(con)
    for cov in COVARIATES:
        pd.testing.assert_series_equal(
            recomputed[cov.name],
            planted[cov.name],
            check_dtype=False,
            check_names=False,
            obj=cov.name,
        )


def test_noise_before_index_does_not_depend_on_the_follow_up(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Generator version 1 spread noise records over the whole observation period, whose end
    # depends on death and censoring: the shortest follow-up quartile had 4.4 noise concepts
    # in the year before index against 2.3 in the longest. Now the quartiles must agree.
    noise = ", ".join(str(c.concept_id) for c in (*NOISE_CONDITIONS, *NOISE_DRUGS))
    per_person = con.execute(
        f"""
        WITH idx AS ({INDEX_SQL}),
        events AS (
            SELECT person_id, condition_concept_id AS concept, condition_start_date AS day
            FROM condition_occurrence
            UNION ALL
            SELECT person_id, drug_concept_id, drug_exposure_start_date FROM drug_exposure
        )
        SELECT i.person_id,
               max(o.observation_period_end_date) - i.index_date AS follow_up,
               count(DISTINCT e.concept) AS noise
        FROM idx i
        JOIN observation_period o ON o.person_id = i.person_id
             AND i.index_date BETWEEN o.observation_period_start_date
                                  AND o.observation_period_end_date
        LEFT JOIN events e ON e.person_id = i.person_id AND e.concept IN ({noise})
             AND e.day BETWEEN i.index_date - 365 AND i.index_date - 1
        GROUP BY i.person_id, i.index_date
        """
    ).df()
    quartile = pd.qcut(per_person["follow_up"], 4, labels=False)
    means = per_person.groupby(quartile)["noise"].mean()
    error = per_person["noise"].std() / np.sqrt(len(per_person) / 4)
    # by construction no dependence is left: the quartiles differ by chance alone (seeds 1-3:
    # 1.2 to 2.9 standard errors); version 1 differed by 37
    assert means.max() - means.min() < 6 * error, means.to_dict()


def test_measurement_covariates_are_missing_for_some_persons(planted: pd.DataFrame) -> None:
    for name in ("hba1c", "egfr"):
        assert 0.6 < planted[name].notna().mean() < 0.9, name


@pytest.mark.parametrize(("lo", "hi"), [(-365, 0), (-366, -1)])
def test_window_off_by_one_changes_covariates(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame, lo: int, hi: int
) -> None:
    """Records planted on day 0 and day -366 expose a leaky or too-wide window."""
    recomputed = _recompute(con, lo, hi)
    for cov in COVARIATES:
        if cov.kind in DOMAIN:
            assert (recomputed[cov.name] != planted[cov.name]).sum() > 0, cov.name
        elif cov.kind == "measurement-last" and hi == 0:
            changed = ~np.isclose(recomputed[cov.name], planted[cov.name], equal_nan=True)
            assert changed.sum() > 0, cov.name


def test_truth_json_beside_database_matches_planted(
    cdm: tuple[Path, SynthTruth], planted: pd.DataFrame
) -> None:
    path, truth = cdm
    written = json.loads(truth_path(path).read_text(encoding="utf-8"))
    assert truth_path(path).name == "synth.truth.json"
    assert written == json.loads(json.dumps(truth.to_dict()))
    assert (written["seed"], written["persons"], written["cutoff_date"]) == (
        SEED,
        PERSONS,
        "2024-12-31",
    )
    assert written["index"]["concept_ids"] == [AF]
    assert written["outcome"]["concept_id"] == STROKE
    events = planted["event"].value_counts()
    assert written["counts"]["events"] == {
        "censored": events[0],
        "outcome": events[1],
        "death": events[2],
    }
    betas = {c["name"]: c["beta_outcome"] for c in written["covariates"]}
    assert betas == truth.beta("outcome")
    assert {c["window"] and tuple(c["window"]) for c in written["covariates"]} == {None, (-365, -1)}


def test_about_fifty_event_rows_per_person(cdm: tuple[Path, SynthTruth]) -> None:
    """About 50 clinical rows per person up to version 3; the dynamic process (version 4) adds
    its TIA records, drug fills and lab values (about 16 per person)."""
    counts = cdm[1].counts
    rows, dynamic = counts["rows"], counts["dynamic"]
    events = rows["condition_occurrence"] + rows["drug_exposure"] + rows["measurement"]
    planted = dynamic["outcome"] + dynamic["treatment_fills"] + dynamic["lab_values"]
    assert 40 < (events - planted) / PERSONS < 60
    assert 10 < planted / PERSONS < 20


# lifelines 0.30 calls DataFrame.var positionally, which pandas 3 deprecates; harmless here.
@pytest.mark.filterwarnings("ignore:Starting with pandas version 4.0:DeprecationWarning")
def test_cox_recovers_planted_outcome_log_hazard_ratios() -> None:
    """Cause-specific Cox (deaths censored) on 10,000 persons: each truth inside its 95% CI.

    Measurements enter as median-imputed values plus a missing indicator. With a fixed seed
    this is deterministic; over seeds each interval covers its truth about 95% of the time.
    """
    lifelines = pytest.importorskip("lifelines")
    frame = planted_cohort(persons=10_000, seed=11)
    frame = frame[frame["eligible"]]
    data = frame[[c.name for c in COVARIATES]].copy()
    for name in ("hba1c", "egfr"):
        data[f"{name}_missing"] = data[name].isna().astype(int)
        data[name] = data[name].fillna(data[name].median())
    data["time"], data["outcome"] = frame["time"], (frame["event"] == 1).astype(int)
    fit = lifelines.CoxPHFitter().fit(data, duration_col="time", event_col="outcome")
    ci = fit.confidence_intervals_
    for cov in COVARIATES:
        low, high = ci.loc[cov.name, "95% lower-bound"], ci.loc[cov.name, "95% upper-bound"]
        assert low < cov.beta_outcome < high, (cov.name, low, cov.beta_outcome, high)


@settings(max_examples=25, deadline=None)
@given(persons=st.integers(1, 400), seed=st.integers(0, 2**32 - 1))
def test_planted_follow_up_ends_at_its_event(persons: int, seed: int) -> None:
    frame = planted_cohort(persons=persons, seed=seed)
    end = frame["index_date"] + pd.to_timedelta(frame["time"], unit="D")
    assert frame["time"].between(1, 1826).all()
    outcome, death = frame["event"] == 1, frame["event"] == 2
    assert (frame.loc[outcome, "outcome_date"] == end[outcome]).all()
    assert frame.loc[~outcome, "outcome_date"].isna().all()
    assert (frame.loc[death, "death_date"] == end[death]).all()
    later_death = frame.loc[outcome, "death_date"]
    assert (later_death.isna() | (later_death > end[outcome])).all()
    assert frame.loc[frame["event"] == 0, "death_date"].isna().all()
    assert (frame["observation_period_end_date"] >= end).all()
    assert (frame["observation_period_end_date"] <= pd.Timestamp(CUTOFF)).all()
