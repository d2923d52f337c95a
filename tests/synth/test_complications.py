"""The synthetic CDM's complications (generator version 3): major bleeding, heart-failure admission.

Truth comes from outside the generator: lifelines refits each planted hazard, the records are
read back from the DuckDB file in plain SQL, and the version-2 quantities are pinned to values
computed with generator version 2 (the main branch before complications).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prognosis.synth import (
    CAUSES,
    COMPLICATIONS,
    COVARIATES,
    SynthTruth,
    generate_cdm,
    planted_cohort,
    truth_path,
)

PERSONS, SEED = 3000, 7  # the CDM of the session fixture ``synth_af_stroke`` (tests/conftest.py)
BLEEDING, INTRACRANIAL, CHF, HEART_FAILURE, GI_HEMORRHAGE = 437312, 439847, 319835, 316139, 192671
CONCEPTS = {"major_bleeding": (BLEEDING, INTRACRANIAL), "heart_failure_admission": (CHF,)}
NAMES = tuple(CONCEPTS)
# Bonferroni-safe: P(|z| > 4) = 6.3e-5 per coefficient, so a correct generator fails one of the
# 20 complication coefficients for about 1 seed in 800; a wrong beta of 0.3 on a binary
# covariate (se about 0.05 here) lies 6 se away and fails.
Z_TOLERANCE = 4.0


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return planted_cohort(persons=PERSONS, seed=SEED).set_index("person_id").sort_index()


def _records(con: duckdb.DuckDBPyConnection, concepts: tuple[int, ...]) -> pd.DataFrame:
    """Every record of ``concepts``, with its day relative to the first atrial fibrillation."""
    ids = ", ".join(map(str, concepts))
    return con.execute(f"""
        WITH idx AS (SELECT person_id, min(condition_start_date) AS index_date
                     FROM condition_occurrence WHERE condition_concept_id = 313217
                     GROUP BY person_id)
        SELECT c.person_id, c.condition_concept_id AS concept,
               date_diff('day', idx.index_date, c.condition_start_date) AS day
        FROM condition_occurrence c JOIN idx USING (person_id)
        WHERE c.condition_concept_id IN ({ids}) ORDER BY person_id, day""").df()


def _design(frame: pd.DataFrame) -> pd.DataFrame:
    """Covariates as a modeller sees them: measurements median-imputed plus a missing flag."""
    data = frame[[c.name for c in COVARIATES]].copy()
    for name in ("hba1c", "egfr"):
        data[f"{name}_missing"] = data[name].isna().astype(int)
        data[name] = data[name].fillna(data[name].median())
    return data


# lifelines 0.30 calls DataFrame.var positionally, which pandas 3 deprecates; harmless here.
@pytest.mark.filterwarnings("ignore:Starting with pandas version 4.0:DeprecationWarning")
@pytest.mark.parametrize("name", NAMES)
def test_cause_specific_cox_recovers_each_complications_log_hazard_ratios(name: str) -> None:
    """Cause-specific Cox on 20,000 persons (death and everything else censored; persons with
    the complication recorded before index left out): every true beta within 4 se of its
    estimate, and every |beta| >= 0.3 detected with the right sign (|z| > 4)."""
    lifelines = pytest.importorskip("lifelines")
    frame = planted_cohort(persons=20_000, seed=2026)
    frame = frame[~frame[f"prior_{name}"]]
    data = _design(frame)
    data["time"], data["event"] = frame[f"time_{name}"], (frame[f"event_{name}"] == 1).astype(int)
    summary = lifelines.CoxPHFitter().fit(data, duration_col="time", event_col="event").summary
    truth = {c.name: c.beta(name) for c in COVARIATES}
    assert sum(abs(b) >= 0.3 for b in truth.values()) >= 3
    for covariate, beta in truth.items():
        coef, se = summary.loc[covariate, "coef"], summary.loc[covariate, "se(coef)"]
        assert abs(coef - beta) < Z_TOLERANCE * se, (name, covariate, coef, se, beta)
        if abs(beta) >= 0.3:
            assert np.sign(coef) == np.sign(beta) and abs(coef / se) > Z_TOLERANCE, covariate


def test_each_complication_has_its_own_clearly_non_zero_betas() -> None:
    bleeding = {c.name: c.beta("major_bleeding") for c in COVARIATES}
    admission = {c.name: c.beta("heart_failure_admission") for c in COVARIATES}
    assert bleeding["anticoagulant"] >= 0.7 and bleeding["ckd"] > 0 and bleeding["age"] > 0
    assert admission["heart_failure"] >= 1.0 and admission["statin"] < 0
    assert admission["diabetes"] > 0 and admission["ckd"] > 0
    assert bleeding != admission
    assert ("outcome", "death", *NAMES) == CAUSES


def test_complication_records_are_on_the_planted_days(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame
) -> None:
    """The first record after index is on index + time_<cause> exactly for the persons whose
    complication came first, and nobody else has one after index (not even on the death day)."""
    for name, concepts in CONCEPTS.items():
        records = _records(con, concepts)
        after = records[records["day"] >= 1].groupby("person_id")["day"].min().sort_index()
        had = planted[planted[f"event_{name}"] == 1]
        assert after.index.equals(had.index), name
        assert (after == had[f"time_{name}"]).all(), name
        assert set(records["concept"]) == set(concepts), name


def test_a_few_persons_checked_one_by_one(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame
) -> None:
    """For the first three persons of each kind: their records are exactly where the planted
    frame puts them."""
    name = "heart_failure_admission"
    records = _records(con, CONCEPTS[name]).groupby("person_id")["day"].apply(list)
    first = planted[planted[f"event_{name}"] == 1].head(3)
    for person, row in first.iterrows():
        days = [d for d in records[person] if d >= 1]
        assert days[0] == row[f"time_{name}"], person
        assert days == sorted(days) and len(days) <= 2  # a first record, perhaps one repeat
        died = row["death_date"]
        if pd.notna(died):
            assert days[-1] <= (died - row["index_date"]).days
    dead_first = planted[(planted[f"event_{name}"] == 2) & ~planted[f"prior_{name}"]].head(3)
    for person in dead_first.index:
        assert person not in records.index, person
    prior = planted[planted[f"prior_{name}"]].head(3)
    for person in prior.index:
        assert min(records[person]) <= 0, person


def test_prior_complication_records_are_the_planted_traps(
    con: duckdb.DuckDBPyConnection, planted: pd.DataFrame
) -> None:
    """About 3% of persons have each complication before or on the index day; few of those
    records fall in the [-365, -1] feature window (below its 1% minimum prevalence)."""
    for name, concepts in CONCEPTS.items():
        records = _records(con, concepts)
        before = records[records["day"] <= 0]
        prior = planted[planted[f"prior_{name}"]]
        assert set(before["person_id"]) == set(prior.index), name
        assert 0.02 < len(prior) / PERSONS < 0.04
        in_window = before.loc[before["day"].between(-365, -1), "person_id"].nunique()
        assert 0 < in_window / PERSONS < 0.01, name
        assert (before["day"] == 0).any() and (before["day"] < -365).any(), name


def test_complications_leave_the_stroke_cohort_features_alone(synth_af_stroke: Path) -> None:
    """cohorts/synth_af_stroke.yaml finds no feature in the complication concepts, and its
    heart-failure covariate (316139) does not include congestive heart failure (319835)."""
    features = json.loads((synth_af_stroke / "features.json").read_text(encoding="utf-8"))
    used = {c["concept_id"] for f in features for c in f["concepts"]}
    assert not used & {BLEEDING, INTRACRANIAL, CHF}
    heart_failure = next(f for f in features if f["name"] == "heart_failure_prior_year")
    assert [c["concept_id"] for c in heart_failure["concepts"]] == [HEART_FAILURE]


def test_vocabulary_places_the_complication_concepts(con: duckdb.DuckDBPyConnection) -> None:
    def descendants(ancestor: int) -> set[int]:
        rows = con.execute(
            "SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = ?",
            [ancestor],
        ).fetchall()
        return {r[0] for r in rows}

    assert descendants(BLEEDING) == {BLEEDING, INTRACRANIAL}  # GI hemorrhage is noise here
    assert CHF not in descendants(HEART_FAILURE)
    names = dict(
        con.execute(
            f"SELECT concept_id, concept_name FROM concept "
            f"WHERE concept_id IN ({BLEEDING}, {INTRACRANIAL}, {CHF})"
        ).fetchall()
    )
    assert names == {
        BLEEDING: "Bleeding",
        INTRACRANIAL: "Intracranial hemorrhage",
        CHF: "Congestive heart failure",
    }
    assert GI_HEMORRHAGE not in descendants(BLEEDING)


def test_truth_file_describes_the_complications(cdm: Path, planted: pd.DataFrame) -> None:
    written = json.loads(truth_path(cdm).read_text(encoding="utf-8"))
    truth = SynthTruth(
        seed=SEED, persons=PERSONS, counts=written["counts"], noise=()
    )  # the planted model does not depend on the counts or the noise catalogue
    assert written["generator_version"] == "4"
    assert written["complications"] == json.loads(json.dumps(truth.to_dict()["complications"]))
    by_name = {c["name"]: c for c in written["complications"]}
    assert list(by_name) == list(NAMES)
    for complication in COMPLICATIONS:
        entry = by_name[complication.name]
        assert entry["beta"] == truth.beta(complication.name)
        assert entry["baseline"] == {
            "distribution": "weibull",
            "shape": complication.shape,
            "scale_days": complication.scale_days,
        }
        assert tuple(entry["record_concepts"]) == CONCEPTS[complication.name]
        events = planted[f"event_{complication.name}"].value_counts()
        assert written["counts"]["complications"][complication.name] == {
            "censored": events[0],
            "complication": events[1],
            "death": events[2],
            "prior": planted[f"prior_{complication.name}"].sum(),
        }
    for covariate in written["covariates"]:
        assert (
            covariate["beta_major_bleeding"] == by_name["major_bleeding"]["beta"][covariate["name"]]
        )


def test_unknown_cause_is_refused_with_the_known_ones() -> None:
    truth = SynthTruth(seed=0, persons=1, counts={}, noise=())
    assert truth.beta("death") == {c.name: c.beta_death for c in COVARIATES}
    with pytest.raises(ValueError, match=r"unknown cause 'bleeding'.*major_bleeding"):
        truth.beta("bleeding")


def test_version_2_draws_are_unchanged() -> None:
    """Values computed with generator version 2 (before complications) for 300 persons, seed 5:
    the new stream leaves persons, events, deaths and observation exactly as they were."""
    frame = planted_cohort(persons=300, seed=5)
    assert int(frame["time"].sum()) == 290_325
    assert frame["event"].value_counts().sort_index().tolist() == [199, 47, 54]
    assert int((frame["death_date"] - frame["index_date"]).dt.days.sum()) == 58_724
    start = frame["observation_period_start_date"] - frame["index_date"]
    assert int(start.dt.days.sum()) == -341_825
    assert int(frame["person_id"].sum()) == 3_000_314_850
    assert int(frame["prior_outcome"].sum()) == 18


def test_same_seed_same_complications_other_seed_others() -> None:
    columns = [f"{k}_{n}" for n in NAMES for k in ("time", "event", "lp", "prior")]
    first, again = planted_cohort(persons=500, seed=3), planted_cohort(persons=500, seed=3)
    pd.testing.assert_frame_equal(first[columns], again[columns])
    other = planted_cohort(persons=500, seed=4)
    assert not first["time_major_bleeding"].equals(other["time_major_bleeding"])


def test_same_seed_gives_the_same_complication_rows(tmp_path: Path, cdm: Path) -> None:
    again = tmp_path / "again.duckdb"
    generate_cdm(again, persons=PERSONS, seed=SEED)
    query = (
        "SELECT * FROM condition_occurrence WHERE condition_concept_id IN "
        f"({BLEEDING}, {INTRACRANIAL}, {CHF}) ORDER BY condition_occurrence_id"
    )
    with duckdb.connect(str(cdm), read_only=True) as a, duckdb.connect(str(again)) as b:
        pd.testing.assert_frame_equal(a.execute(query).df(), b.execute(query).df())


@settings(max_examples=25, deadline=None)
@given(persons=st.integers(1, 400), seed=st.integers(0, 2**32 - 1))
def test_complication_follow_up_ends_at_its_event_death_or_censoring(
    persons: int, seed: int
) -> None:
    frame = planted_cohort(persons=persons, seed=seed)
    index = frame["index_date"]
    death_day = (frame["death_date"] - index).dt.days
    end_day = (frame["observation_period_end_date"] - index).dt.days
    for name in NAMES:
        time, event = frame[f"time_{name}"], frame[f"event_{name}"]
        assert time.between(1, 1826).all()
        first, died_first, censored = event == 1, event == 2, event == 0
        assert (time[died_first] == death_day[died_first]).all()
        assert (time[censored] == end_day[censored]).all() and death_day[censored].isna().all()
        assert (time[first] <= end_day[first]).all()
        assert (death_day[first].isna() | (time[first] < death_day[first])).all()
