"""The synthetic CDM's dynamic truth (generator version 4): a TIA whose hazard moves with a drug
started during follow-up and a drifting NT-proBNP value.

Truth comes from outside the generator: the records are read back from the DuckDB file in plain
SQL, the test turns them into counting-process intervals with its own pandas code (not the
generator's), and lifelines' ``CoxTimeVaryingFitter`` refits the planted hazard on them.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prognosis.synth import (
    COVARIATES,
    DYNAMIC,
    SynthTruth,
    generate_cdm,
    planted_cohort,
    planted_dynamic,
    truth_path,
)
from tests.support.r import run_r

PERSONS, SEED = 3000, 7  # the CDM of the session fixture ``synth_af_stroke`` (tests/conftest.py)
TIA, DABIGATRAN, NT_PROBNP, PG_PER_ML = 373503, 40228152, 3029187, 8845
#: Bonferroni-safe, as in test_complications.py: P(|z| > 4) = 6.3e-5 per coefficient, so a
#: correct generator fails one of the 12 coefficients for about 1 seed in 1300, while a gamma
#: off by 0.3 (se about 0.07 at 12,000 persons) lies 4 se away.
Z_TOLERANCE = 4.0
RECOVERY_PERSONS, RECOVERY_SEED = 12_000, 2027
#: planted_cohort(persons=300, seed=5) computed with generator version 3 (main, 4551e3c)
MAJOR_BLEEDING_TIME_SUM, HF_ADMISSION_TIME_SUM = 290_435, 289_626

_INDEX = """WITH idx AS (SELECT person_id, min(condition_start_date) AS index_date
                FROM condition_occurrence WHERE condition_concept_id = 313217
                GROUP BY person_id)"""


@pytest.fixture(scope="module")
def planted() -> object:
    return planted_dynamic(persons=PERSONS, seed=SEED)


def _fills(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(f"""{_INDEX}
        SELECT d.person_id, date_diff('day', idx.index_date, d.drug_exposure_start_date) AS day,
               date_diff('day', idx.index_date, d.drug_exposure_end_date) AS end_day,
               d.days_supply, d.drug_exposure_id
        FROM drug_exposure d JOIN idx USING (person_id)
        WHERE d.drug_concept_id = {DABIGATRAN} ORDER BY person_id, day""").df()


def _labs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(f"""{_INDEX}
        SELECT m.person_id, date_diff('day', idx.index_date, m.measurement_date) AS day,
               m.value_as_number AS value, m.unit_concept_id AS unit
        FROM measurement m JOIN idx USING (person_id)
        WHERE m.measurement_concept_id = {NT_PROBNP}
        ORDER BY person_id, day, m.measurement_id""").df()


def _follow_up(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per person: the TIA day (first record after index) or NaN, and the end of follow-up."""
    return (
        con.execute(f"""{_INDEX}
        SELECT idx.person_id,
               date_diff('day', idx.index_date, o.observation_period_end_date) AS end_day,
               (SELECT min(date_diff('day', idx.index_date, c.condition_start_date))
                FROM condition_occurrence c
                WHERE c.person_id = idx.person_id AND c.condition_concept_id = {TIA}) AS tia_day
        FROM idx JOIN observation_period o USING (person_id)""")
        .df()
        .set_index("person_id")
        .sort_index()
    )


def _intervals_from_records(
    fills: pd.DataFrame, labs: pd.DataFrame, follow: pd.DataFrame
) -> pd.DataFrame:
    """Counting-process rows (start, stop] built from the records alone: the state recorded on
    day b (a lab value; on the drug from its first to its last covered day) holds from b on."""
    time = follow["tia_day"].fillna(follow["end_day"]).astype(int)
    drug = fills.groupby("person_id").agg(first=("day", "min"), last=("end_day", "max"))
    labs = labs[labs["day"] >= 0]
    breaks = pd.concat(
        [
            labs[["person_id", "day"]],
            drug["first"].rename("day").reset_index(),
            (drug["last"] + 1).rename("day").reset_index(),
        ]
    )
    breaks = breaks[breaks["day"] < breaks["person_id"].map(time)].drop_duplicates()
    breaks = breaks.sort_values(["day", "person_id"]).astype({"day": np.int64})
    rows = pd.merge_asof(
        breaks, labs.sort_values("day").astype({"day": np.int64}), on="day", by="person_id"
    )
    rows = rows.sort_values(["person_id", "day"]).reset_index(drop=True)
    rows["stop"] = rows.groupby("person_id")["day"].shift(-1)
    rows["stop"] = rows["stop"].fillna(rows["person_id"].map(time)).astype(int)
    first = rows["person_id"].map(drug["first"])
    last = rows["person_id"].map(drug["last"])
    rows["on_treatment"] = ((first <= rows["day"]) & (rows["day"] <= last)).astype(int)
    had = rows["person_id"].map(follow["tia_day"].notna())
    rows["event"] = (had & (rows["stop"] == rows["person_id"].map(time))).astype(int)
    return rows.rename(columns={"day": "start", "value": "lab"})[
        ["person_id", "start", "stop", "on_treatment", "lab", "event"]
    ]


def test_tia_records_are_the_planted_events(con: duckdb.DuckDBPyConnection, planted) -> None:
    """One TIA record on index + time for each person whose TIA came first; nobody else has
    one, before or after index."""
    people = planted.persons.set_index("person_id").sort_index()
    follow = _follow_up(con)
    had = people[people["event"] == 1]
    recorded = follow["tia_day"].dropna().astype(int)
    assert recorded.index.equals(had.index)
    assert (recorded == had["time"]).all()
    count = con.execute(
        f"SELECT count(*) FROM condition_occurrence WHERE condition_concept_id = {TIA}"
    ).fetchone()[0]
    assert count == len(had) > 0.05 * PERSONS
    censored = people[people["event"] == 0]
    assert (follow.loc[censored.index, "end_day"] == censored["time"]).all()


def test_drug_records_are_the_planted_treatment(con: duckdb.DuckDBPyConnection, planted) -> None:
    """Fills every 90 days from the planted first day, contiguous, the last one ending the day
    before the planted stop day (or reaching the end of follow-up when not stopped)."""
    people = planted.persons.set_index("person_id").sort_index()
    fills = _fills(con)
    follow = _follow_up(con)
    per = fills.groupby("person_id").agg(
        first=("day", "min"), last=("end_day", "max"), n=("day", "size")
    )
    treated = people[people["treatment_start"].notna()]
    assert per.index.equals(treated.index)
    assert (per["first"] == treated["treatment_start"]).all()
    stopped = treated[treated["treatment_stop"].notna()]
    assert (per.loc[stopped.index, "last"] + 1 == stopped["treatment_stop"]).all()
    going = treated[treated["treatment_stop"].isna()].index
    gap = follow.loc[going, "end_day"] - per.loc[going, "last"]
    assert (gap >= 0).all() and (gap < 90).all()
    assert (fills["end_day"] - fills["day"] + 1 <= fills["days_supply"]).all()
    steps = fills.groupby("person_id")["day"].diff().dropna()
    assert (steps == 90).all()
    assert set(fills["days_supply"]) <= set(range(1, 91)) and (fills["days_supply"] == 90).any()
    assert (fills["day"] >= 1).all()  # nothing before index: baseline features unchanged
    assert 0.3 < len(treated) / PERSONS < 0.7 and 0.1 < len(stopped) / PERSONS < 0.5


def test_lab_records_are_the_planted_values(con: duckdb.DuckDBPyConnection, planted) -> None:
    """Every NT-proBNP value in the CDM is a planted one, on its day; everyone has one on the
    index day, then one every 60-120 days; none falls in the [-365, -1] feature window."""
    labs = _labs(con)
    expected = planted.labs.sort_values(["person_id", "day"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(labs[["person_id", "day", "value"]], expected, check_dtype=False)
    assert (labs["unit"] == PG_PER_ML).all()
    assert labs.loc[labs["day"] == 0, "person_id"].nunique() == PERSONS
    assert not labs["day"].between(-365, -1).any() and (labs["day"] < -365).any()
    after = labs[labs["day"] >= 0]
    assert after.groupby("person_id")["day"].diff().dropna().between(60, 120).all()
    follow = _follow_up(con)
    assert (after["day"] <= after["person_id"].map(follow["end_day"])).all()


def test_the_lab_drifts_upward(planted) -> None:
    """Per person least-squares slopes of the measured values: mostly upward, about the
    planted 150 pg/mL a year on average."""
    labs = planted.labs[planted.labs["day"] >= 0]
    years = labs["day"] / 365.25
    grouped = pd.DataFrame({"p": labs["person_id"], "x": years, "y": labs["value"]}).groupby("p")
    slopes = grouped.apply(
        lambda g: np.polyfit(g["x"], g["y"], 1)[0] if len(g) >= 5 else np.nan,
        include_groups=False,
    ).dropna()
    assert 120 < slopes.mean() < 180
    assert (slopes > 0).mean() > 0.75


def test_the_hazard_path_is_what_the_records_show(con: duckdb.DuckDBPyConnection, planted) -> None:
    """Intervals built from the CDM records by this test equal the generator's hazard path."""
    built = _intervals_from_records(_fills(con), _labs(con), _follow_up(con))
    mine = planted.intervals.sort_values(["person_id", "start"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(built, mine, check_dtype=False)
    assert mine["event"].sum() == (planted.persons["event"] == 1).sum()


@pytest.fixture(scope="module")
def recovery(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Intervals from the records of a 12,000-person CDM, with the baseline covariates (as a
    modeller sees them: measurements median-imputed plus a missing flag); and the persons."""
    path = tmp_path_factory.mktemp("dynamic") / "cdm.duckdb"
    generate_cdm(path, persons=RECOVERY_PERSONS, seed=RECOVERY_SEED)
    with duckdb.connect(str(path), read_only=True) as connection:
        intervals = _intervals_from_records(
            _fills(connection), _labs(connection), _follow_up(connection)
        )
        labs = _labs(connection)
    frame = planted_cohort(persons=RECOVERY_PERSONS, seed=RECOVERY_SEED).set_index("person_id")
    design = frame[[c.name for c in COVARIATES]].copy()
    for name in ("hba1c", "egfr"):
        design[f"{name}_missing"] = design[name].isna().astype(int)
        design[name] = design[name].fillna(design[name].median())
    people = design.copy()
    people["lab_entry"] = labs[labs["day"] == 0].set_index("person_id")["value"]
    people["ever_treated"] = frame["treatment_start"].notna().astype(int)
    people["time"] = frame["time_tia"]
    people["event"] = (frame["event_tia"] == 1).astype(int)
    return intervals.join(design, on="person_id"), people


def _truth() -> dict[str, float]:
    beta = {c.name: 0.0 for c in COVARIATES} | dict(DYNAMIC.beta)
    return beta | {"on_treatment": DYNAMIC.gamma_treatment, "lab": DYNAMIC.gamma_lab}


@pytest.fixture(scope="module")
def time_varying_fit(recovery: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """lifelines' counting-process Cox on the intervals built from the records (its summary)."""
    lifelines = pytest.importorskip("lifelines")
    intervals, _ = recovery
    fitter = lifelines.CoxTimeVaryingFitter()
    with warnings.catch_warnings():
        # lifelines 0.30 calls DataFrame.var positionally, which pandas 3 deprecates; harmless
        warnings.filterwarnings("ignore", "Starting with pandas version 4.0", DeprecationWarning)
        fitter.fit(
            intervals, id_col="person_id", event_col="event", start_col="start", stop_col="stop"
        )
    return fitter.summary


@pytest.mark.slow  # about 25 s: lifelines' Newton steps on 140,000 intervals
def test_time_varying_cox_recovers_the_planted_hazard(time_varying_fit: pd.DataFrame) -> None:
    """Counting-process Cox on the intervals built from the records: gamma_treatment,
    gamma_lab and every beta within 4 se of the truth; both gammas detected (|z| > 4)."""
    summary = time_varying_fit
    for name, value in _truth().items():
        coef, se = summary.loc[name, "coef"], summary.loc[name, "se(coef)"]
        assert abs(coef - value) < Z_TOLERANCE * se, (name, coef, se, value)
    for name in ("on_treatment", "lab"):
        assert abs(summary.loc[name, "coef"] / summary.loc[name, "se(coef)"]) > Z_TOLERANCE


def test_the_planted_cumulative_hazard_matches_the_number_of_tias(
    recovery: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """The absolute hazard, not only its ratios: summed over persons, the true cumulative
    hazard up to each person's time (computed here in closed form on the intervals from the
    records, with the documented Weibull baseline, betas and gammas) equals the number of TIAs
    up to noise (a martingale: sd about sqrt(events)); a baseline scale off by 10 % moves it by
    about 11 %, 4 to 5 sd at these 1,300 events."""
    intervals, _ = recovery
    beta = dict(DYNAMIC.beta)
    centres = {c.name: c.centre for c in COVARIATES}
    eta = sum(w * (intervals[name] - centres[name]) for name, w in beta.items())
    eta = eta + DYNAMIC.gamma_treatment * intervals["on_treatment"]
    eta = eta + DYNAMIC.gamma_lab * (intervals["lab"] - DYNAMIC.lab_centre)
    k, scale = DYNAMIC.shape, DYNAMIC.scale_days
    baseline = (intervals["stop"] / scale) ** k - (intervals["start"] / scale) ** k
    expected = float((np.exp(eta) * baseline).sum())
    events = int(intervals["event"].sum())
    assert abs(expected - events) < Z_TOLERANCE * np.sqrt(events), (expected, events)


_COXPH = """
suppressMessages(library(survival))
d <- read.csv("input.csv")
covariates <- setdiff(names(d), c("person_id", "start", "stop", "event"))
f <- as.formula(paste("Surv(start, stop, event) ~", paste(covariates, collapse = " + ")))
m <- coxph(f, data = d, ties = "efron")
write.csv(data.frame(name = names(coef(m)), coef = unname(coef(m)),
                     se = unname(sqrt(diag(vcov(m))))), "output.csv", row.names = FALSE)
"""


@pytest.mark.r
@pytest.mark.slow
def test_r_coxph_on_the_same_intervals_agrees(
    recovery: tuple[pd.DataFrame, pd.DataFrame],
    time_varying_fit: pd.DataFrame,
    rscript: str,
    tmp_path: Path,
) -> None:
    """R's survival::coxph(Surv(start, stop, event) ~ ...) on the same intervals: every
    coefficient within 4 of its se of the truth, and equal to lifelines' within a tenth of a
    standard error (both fit the same data)."""
    intervals, _ = recovery
    reference = run_r(rscript, _COXPH, intervals, tmp_path).set_index("name")
    for name, value in _truth().items():
        coef, se = reference.loc[name, "coef"], reference.loc[name, "se"]
        assert abs(coef - value) < Z_TOLERANCE * se, (name, coef, se, value)
        assert abs(coef - time_varying_fit.loc[name, "coef"]) < 0.1 * se, name


@pytest.mark.filterwarnings("ignore:Starting with pandas version 4.0:DeprecationWarning")
def test_a_fit_on_entry_time_covariates_misses_the_treatment_effect(
    recovery: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Cox on what is known at index (the lab on the index day) plus 'ever treated during
    follow-up': the treatment's coefficient is far from gamma_treatment (treated persons spend
    much of their follow-up off the drug), so the signal is only in the time-varying form."""
    lifelines = pytest.importorskip("lifelines")
    _, people = recovery
    summary = lifelines.CoxPHFitter().fit(people, "time", "event").summary
    coef, se = summary.loc["ever_treated", "coef"], summary.loc["ever_treated", "se(coef)"]
    assert abs(coef - DYNAMIC.gamma_treatment) > Z_TOLERANCE * se, (coef, se)
    assert coef > DYNAMIC.gamma_treatment / 2


def test_truth_file_describes_the_dynamic_process(cdm: Path, planted) -> None:
    written = json.loads(truth_path(cdm).read_text(encoding="utf-8"))
    assert written["generator_version"] == "4"
    dynamic = written["dynamic"]
    truth = SynthTruth(seed=SEED, persons=PERSONS, counts={}, noise=())
    assert dynamic == json.loads(json.dumps(truth.to_dict()["dynamic"]))
    assert dynamic["outcome"]["concept_id"] == TIA
    assert dynamic["treatment"]["concept_id"] == DABIGATRAN
    assert dynamic["lab"]["concept_id"] == NT_PROBNP
    assert dynamic["lab"]["unit_concept_id"] == PG_PER_ML
    assert dynamic["hazard"]["gamma_treatment"] == -0.70
    assert dynamic["hazard"]["gamma_lab"] == 0.0008
    assert dynamic["hazard"]["beta"]["hypertension"] == 0.50
    assert dynamic["hazard"]["beta"]["heart_failure"] == 0.0
    assert dynamic["random_stream"] == "SeedSequence([seed, 3])"
    people = planted.persons
    counts = written["counts"]["dynamic"]
    assert counts["outcome"] == (people["event"] == 1).sum()
    assert counts["death"] == (people["event"] == 2).sum()
    assert counts["treated"] == people["treatment_start"].notna().sum()
    assert counts["stopped"] == people["treatment_stop"].notna().sum()
    assert counts["lab_values"] == len(planted.labs)
    with duckdb.connect(str(cdm), read_only=True) as connection:
        fills = connection.execute(
            f"SELECT count(*) FROM drug_exposure WHERE drug_concept_id = {DABIGATRAN}"
        ).fetchone()[0]
    assert counts["treatment_fills"] == fills


def test_the_stroke_cohort_uses_none_of_the_dynamic_concepts(synth_af_stroke: Path) -> None:
    features = json.loads((synth_af_stroke / "features.json").read_text(encoding="utf-8"))
    used = {c["concept_id"] for f in features for c in f["concepts"]}
    assert not used & {TIA, DABIGATRAN, NT_PROBNP}


def test_version_3_draws_are_unchanged() -> None:
    """Values computed with generator version 3 (before the dynamic process) for 300 persons,
    seed 5: the new stream leaves persons, events and complications exactly as they were."""
    frame = planted_cohort(persons=300, seed=5)
    assert int(frame["time"].sum()) == 290_325
    assert frame["event"].value_counts().sort_index().tolist() == [199, 47, 54]
    assert int(frame["person_id"].sum()) == 3_000_314_850
    assert int(frame["time_major_bleeding"].sum()) == MAJOR_BLEEDING_TIME_SUM
    assert int(frame["time_heart_failure_admission"].sum()) == HF_ADMISSION_TIME_SUM
    assert frame["event_major_bleeding"].value_counts().sort_index().tolist() == [197, 35, 68]


def test_same_seed_same_dynamic_truth_other_seed_other() -> None:
    first, again = planted_dynamic(persons=400, seed=3), planted_dynamic(persons=400, seed=3)
    for name in ("persons", "labs", "intervals"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    other = planted_dynamic(persons=400, seed=4)
    assert not first.labs["value"].equals(other.labs["value"])


def test_same_seed_gives_the_same_dynamic_rows(tmp_path: Path, cdm: Path) -> None:
    again = tmp_path / "again.duckdb"
    generate_cdm(again, persons=PERSONS, seed=SEED)
    queries = (
        f"SELECT * FROM drug_exposure WHERE drug_concept_id = {DABIGATRAN} ORDER BY 1",
        f"SELECT * FROM measurement WHERE measurement_concept_id = {NT_PROBNP} ORDER BY 1",
        f"SELECT * FROM condition_occurrence WHERE condition_concept_id = {TIA} ORDER BY 1",
    )
    with duckdb.connect(str(cdm), read_only=True) as a, duckdb.connect(str(again)) as b:
        for query in queries:
            pd.testing.assert_frame_equal(a.execute(query).df(), b.execute(query).df())


@settings(max_examples=20, deadline=None)
@given(persons=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_the_intervals_tile_each_persons_follow_up(persons: int, seed: int) -> None:
    """(start, stop] rows of each person run contiguously from 0 to its time, the event on the
    last row only, and treatment and lab only change at a planted day."""
    truth = planted_dynamic(persons=persons, seed=seed)
    rows, people = truth.intervals, truth.persons.set_index("person_id")
    assert (rows["stop"] > rows["start"]).all()
    grouped = rows.groupby("person_id")
    assert (grouped["start"].min() == 0).all()
    assert (grouped["stop"].max() == people.loc[grouped.size().index, "time"]).all()
    assert (rows["start"].shift(-1)[rows["person_id"].duplicated(keep="last")]).equals(
        rows["stop"][rows["person_id"].duplicated(keep="last")].astype(float)
    )
    assert (
        grouped["event"]
        .sum()
        .equals((people["event"] == 1).astype(np.int64).loc[grouped.size().index])
    )
    assert people["time"].between(1, 1826).all()
