"""The planted model: who the synthetic persons are, their covariates and their event times.

Everything here is person-level and vectorised; :mod:`prognosis.synth.records` turns it into
CDM rows. The model is documented in ``docs/synthetic_cdm.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prognosis.synth.complications import (
    COMPLICATIONS,
    ComplicationDraws,
    draw_complications,
    weibull_days,
)
from prognosis.synth.dynamic import DYNAMIC, DynamicDraws, draw_dynamic, hazard_pieces
from prognosis.synth.vocabulary import ETHNICITIES, MALE, RACE_WEIGHTS, RACES

__all__ = [
    "CAUSES",
    "COVARIATES",
    "Covariate",
    "Persons",
    "PlantedDynamic",
    "planted_cohort",
    "planted_dynamic",
    "simulate_persons",
    "weighted_sum",
]

# 2: noise before index independent of the follow-up; 3: major bleeding and heart-failure
# admission planted from a new random stream (everything version 2 drew is unchanged); 4: a
# transient ischaemic attack with a time-varying hazard (treatment started during follow-up, a
# drifting lab value), from its own stream (everything version 3 drew is unchanged)
GENERATOR_VERSION = "4"
EPOCH = dt.date(1970, 1, 1)
CUTOFF = dt.date(2024, 12, 31)
INDEX_FIRST, INDEX_LAST = dt.date(2012, 1, 1), dt.date(2023, 12, 31)
INDEX_CONCEPT, OUTCOME_CONCEPT = 313217, 443454
WINDOW = (-365, -1)
MIN_PRIOR_DAYS = 365
ADMIN_HORIZON_DAYS = 1826
DROPOUT_MEAN_DAYS = 3000.0
POST_OUTCOME_DEATH_MEAN_DAYS = 1500.0
SHARE_OUTSIDE, SHARE_SHORT_PRIOR, SHARE_PRIOR_365 = 0.03, 0.04, 0.01
SHARE_PRIOR_OUTCOME = 0.03  # a stroke recorded before index: excluded (not an incident case)
#: Weibull baselines, h0(t) = (shape/scale) (t/scale)^(shape-1), t in days since index.
BASELINE = {"outcome": (1.1, 7000.0), "death": (1.3, 10000.0)}
#: Every cause with a planted hazard: stroke ("outcome"), death, then each complication.
CAUSES = ("outcome", "death", *(c.name for c in COMPLICATIONS))


def _day(d: dt.date) -> int:
    return (d - EPOCH).days


@dataclass(frozen=True)
class Covariate:
    """One planted baseline covariate and its true log hazard ratios.

    ``concept_ids`` is the concept set a cohort definition should name (expanded with
    descendants when ``include_descendants``); ``record_concepts`` are the ids the generator
    actually writes, drawn once per person with ``record_weights``. The linear predictor uses
    ``value - centre``; a missing measurement contributes 0. Each ``beta_<cause>`` is the
    true log hazard ratio for one cause of :data:`CAUSES`; :meth:`beta` reads it by name.
    """

    name: str
    kind: str
    beta_outcome: float
    beta_death: float
    concept_ids: tuple[int, ...] = ()
    include_descendants: bool = False
    record_concepts: tuple[int, ...] = ()
    record_weights: tuple[float, ...] = ()
    centre: float = 0.0
    unit: str = ""
    beta_major_bleeding: float = 0.0
    beta_heart_failure_admission: float = 0.0

    def beta(self, cause: str) -> float:
        """True log hazard ratio of this covariate for ``cause`` (one of :data:`CAUSES`)."""
        if cause not in CAUSES:
            raise ValueError(f"unknown cause {cause!r}; the planted causes are {', '.join(CAUSES)}")
        return getattr(self, f"beta_{cause}")

    @property
    def window(self) -> tuple[int, int] | None:
        """Days relative to index, both ends included; ``None`` for age and sex."""
        return None if self.kind in ("age", "sex") else WINDOW


COVARIATES: tuple[Covariate, ...] = (
    Covariate(
        "age",
        "age",
        0.04,
        0.07,
        centre=65.0,
        unit="years (index year - year_of_birth)",
        beta_major_bleeding=0.03,
        beta_heart_failure_admission=0.035,
    ),
    Covariate(
        "male",
        "sex",
        -0.25,
        0.30,
        (MALE,),
        unit="1 if gender_concept_id = 8507",
        beta_major_bleeding=0.15,
        beta_heart_failure_admission=0.10,
    ),
    Covariate(
        "diabetes",
        "condition-presence",
        0.40,
        0.30,
        (201820,),
        True,
        (201826, 201254),
        (0.85, 0.15),
        beta_major_bleeding=0.0,
        beta_heart_failure_admission=0.35,
    ),
    Covariate(
        "hypertension",
        "condition-presence",
        0.60,
        0.10,
        (316866,),
        True,
        (320128, 316866),
        (0.6, 0.4),
        beta_major_bleeding=0.35,
        beta_heart_failure_admission=0.25,
    ),
    Covariate(
        "heart_failure",
        "condition-presence",
        0.35,
        0.80,
        (316139,),
        True,
        (316139,),
        (1.0,),
        beta_major_bleeding=0.0,
        beta_heart_failure_admission=1.10,
    ),
    Covariate(
        "ckd",
        "condition-presence",
        0.0,
        0.50,
        (46271022,),
        True,
        (46271022,),
        (1.0,),
        beta_major_bleeding=0.45,
        beta_heart_failure_admission=0.40,
    ),
    Covariate(
        "anticoagulant",
        "drug-presence",
        -0.70,
        0.0,
        (1310149, 43013024, 40241331),
        True,
        (40163554, 43013024, 40241331),
        (0.5, 0.3, 0.2),
        beta_major_bleeding=0.80,
        beta_heart_failure_admission=0.0,
    ),
    Covariate(
        "statin",
        "drug-presence",
        -0.20,
        -0.30,
        (1539403, 1545958),
        True,
        (1539411, 1545959),
        (0.55, 0.45),
        beta_major_bleeding=0.0,
        beta_heart_failure_admission=-0.15,
    ),
    Covariate(
        "hba1c",
        "measurement-last",
        0.15,
        0.10,
        (3004410,),
        False,
        (3004410,),
        (1.0,),
        centre=6.0,
        unit="% (unit_concept_id 8554)",
        beta_major_bleeding=0.0,
        beta_heart_failure_admission=0.05,
    ),
    Covariate(
        "egfr",
        "measurement-last",
        -0.010,
        -0.015,
        (3049187,),
        False,
        (3049187,),
        (1.0,),
        centre=75.0,
        unit="mL/min/1.73m2 (unit_concept_id 9117)",
        beta_major_bleeding=-0.010,
        beta_heart_failure_admission=-0.008,
    ),
)


@dataclass(frozen=True)
class Persons:
    """Person-level arrays (days are integers since 1970-01-01); internal to the generator."""

    person_id: np.ndarray
    male: np.ndarray
    year_of_birth: np.ndarray
    birth_day: np.ndarray
    race: np.ndarray
    ethnicity: np.ndarray
    index_day: np.ndarray
    obs_start: np.ndarray
    obs_end: np.ndarray
    history_days: np.ndarray
    covariates: dict[str, np.ndarray]
    lp_outcome: np.ndarray
    lp_death: np.ndarray
    time: np.ndarray
    event: np.ndarray
    outcome_offset: np.ndarray
    death_offset: np.ndarray
    prior_outcome_offset: np.ndarray  # day of a stroke record before index (< 0), else 0
    complications: dict[str, ComplicationDraws]
    dynamic: DynamicDraws

    def __len__(self) -> int:
        return len(self.person_id)

    def slice(self, start: int, stop: int) -> Persons:
        """Persons ``start:stop``."""
        arrays = {
            f.name: getattr(self, f.name)[start:stop]
            for f in dataclasses.fields(self)
            if f.name not in ("covariates", "complications", "dynamic")
        }
        covariates = {k: v[start:stop] for k, v in self.covariates.items()}
        complications = {k: v.slice(start, stop) for k, v in self.complications.items()}
        return Persons(
            **arrays,
            covariates=covariates,
            complications=complications,
            dynamic=self.dynamic.slice(start, stop),
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _demographics(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    slots = rng.permutation(n).astype(np.int64)
    index_day = rng.integers(_day(INDEX_FIRST), _day(INDEX_LAST) + 1, n)
    age = np.clip(np.round(rng.normal(71.0, 10.0, n)), 40, 90).astype(np.int64)
    index_year = index_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    yob = index_year - age
    jan1 = (yob - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    year_len = np.where((yob % 4 == 0) & ((yob % 100 != 0) | (yob % 400 == 0)), 366, 365)
    return {
        "person_id": 10_000_000 + 7 * slots + rng.integers(0, 7, n),
        "male": rng.random(n) < 0.55,
        "age": age,
        "year_of_birth": yob,
        "birth_day": jan1 + np.floor(rng.random(n) * year_len).astype(np.int64),
        "race": rng.choice(np.array(RACES), n, p=np.array(RACE_WEIGHTS)),
        "ethnicity": rng.choice(np.array(ETHNICITIES), n, p=[0.08, 0.92]),
        "index_day": index_day,
    }


def _history(rng: np.random.Generator, age: np.ndarray) -> dict[str, np.ndarray]:
    """Binary histories share a latent burden ``z`` so they correlate, as comorbidities do."""
    n = len(age)
    z, a = rng.normal(size=n), (age - 65.0) / 10.0

    def draw(intercept: float, burden: float, age_slope: float, extra: Any = 0.0) -> np.ndarray:
        return rng.random(n) < _sigmoid(intercept + burden * z + age_slope * a + extra)

    diabetes = draw(-1.2, 0.5, 0.1)
    ckd = draw(-1.9, 0.5, 0.5, 0.5 * diabetes)
    hba1c = np.where(diabetes, rng.normal(7.6, 1.3, n), rng.normal(5.6, 0.45, n))
    egfr = np.where(ckd, rng.normal(42.0, 12.0, n), rng.normal(82.0, 14.0, n))
    egfr = np.where(ckd, np.clip(egfr, 8, 59), np.clip(egfr, 45, 130))
    hba1c_seen = rng.random(n) < np.where(diabetes, 0.95, 0.70)
    egfr_seen = rng.random(n) < np.where(ckd, 0.95, 0.65)
    return {
        "diabetes": diabetes,
        "hypertension": draw(0.2, 0.6, 0.3),
        "heart_failure": draw(-1.6, 0.6, 0.4),
        "ckd": ckd,
        "anticoagulant": draw(0.0, 0.2, 0.0),
        "statin": draw(-0.6, 0.3, 0.0, 1.0 * diabetes),
        "hba1c": np.where(hba1c_seen, np.round(np.clip(hba1c, 4.0, 14.0), 1), np.nan),
        "egfr": np.where(egfr_seen, np.round(egfr), np.nan),
    }


def linear_predictor(covariates: dict[str, np.ndarray], cause: str) -> np.ndarray:
    """Return ``sum_j beta_j (x_j - centre_j)`` for ``cause`` (one of :data:`CAUSES`).

    A missing (NaN) measurement contributes 0.
    """
    lp = np.zeros(len(covariates["age"]))
    for cov in COVARIATES:
        lp += cov.beta(cause) * np.nan_to_num(covariates[cov.name] - cov.centre, nan=0.0)
    return lp


def weighted_sum(
    covariates: dict[str, np.ndarray], weights: tuple[tuple[str, float], ...]
) -> np.ndarray:
    """Return ``sum_j w_j (x_j - centre_j)`` over the named covariates (NaN contributes 0)."""
    centres = {c.name: c.centre for c in COVARIATES}
    total = np.zeros(len(covariates["age"]))
    for name, weight in weights:
        total += weight * np.nan_to_num(covariates[name] - centres[name], nan=0.0)
    return total


def _weibull_days(rng: np.random.Generator, lp: np.ndarray, cause: str) -> np.ndarray:
    """Latent event day (>= 1) of stroke or death."""
    return weibull_days(rng, lp, *BASELINE[cause])


def _follow_up(
    rng: np.random.Generator, lp1: np.ndarray, lp2: np.ndarray, index_day: np.ndarray
) -> dict[str, np.ndarray]:
    n = len(lp1)
    t1, t2 = _weibull_days(rng, lp1, "outcome"), _weibull_days(rng, lp2, "death")
    t2 = np.where(t2 == t1, t2 + 1, t2)
    dropout = 1 + np.floor(rng.exponential(DROPOUT_MEAN_DAYS, n)).astype(np.int64)
    censor = np.minimum.reduce([dropout, np.full(n, ADMIN_HORIZON_DAYS), _day(CUTOFF) - index_day])
    event = np.where((t1 < t2) & (t1 <= censor), 1, np.where((t2 < t1) & (t2 <= censor), 2, 0))
    late_death = t1 + 1 + np.floor(rng.exponential(POST_OUTCOME_DEATH_MEAN_DAYS, n)).astype(int)
    late_death = np.minimum(t2, late_death)
    late_death = np.where((event == 1) & (late_death <= censor), late_death, -1)
    death = np.where(event == 2, t2, late_death)
    return {
        "time": np.minimum.reduce([t1, t2, censor]),
        "event": event.astype(np.int8),
        "outcome_offset": np.where(event == 1, t1, -1),
        "death_offset": death,
        "end_offset": np.where(death > 0, death, censor),
    }


def _observation(
    rng: np.random.Generator, index_day: np.ndarray, end_offset: np.ndarray
) -> dict[str, np.ndarray]:
    """Prior observation, with a few persons short of 365 days or with index outside."""
    n = len(index_day)
    normal = MIN_PRIOR_DAYS + np.minimum(np.floor(rng.exponential(1000.0, n)), 4000).astype(int)
    kind = rng.choice(
        4,
        n,
        p=[
            1 - SHARE_OUTSIDE - SHARE_SHORT_PRIOR - SHARE_PRIOR_365,
            SHARE_OUTSIDE,
            SHARE_SHORT_PRIOR,
            SHARE_PRIOR_365,
        ],
    )
    prior = np.select(
        [kind == 2, kind == 3], [rng.integers(30, MIN_PRIOR_DAYS, n), MIN_PRIOR_DAYS], normal
    )
    start = np.where(
        kind == 1, index_day + np.minimum(rng.integers(1, 91, n), end_offset), index_day - prior
    )
    return {"obs_start": start, "obs_end": index_day + end_offset, "history_days": prior}


def simulate_persons(persons: int, seed: int) -> Persons:
    """Draw every person-level quantity of the planted model (pure; same seed, same result)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    demo = _demographics(rng, persons)
    covariates = {"age": demo["age"].astype(float), "male": demo["male"].astype(float)}
    covariates |= {k: v.astype(float) for k, v in _history(rng, demo["age"]).items()}
    lp1 = linear_predictor(covariates, "outcome")
    lp2 = linear_predictor(covariates, "death")
    follow = _follow_up(rng, lp1, lp2, demo["index_day"])
    obs = _observation(rng, demo["index_day"], follow["end_offset"])
    # a stroke before index for a few, independent of everything (drawn last: earlier draws,
    # and so every planted quantity, are those of generator version 1)
    prior = rng.random(persons) < SHARE_PRIOR_OUTCOME
    day = -1 - np.floor(rng.random(persons) * obs["history_days"]).astype(np.int64)
    complications = draw_complications(
        seed,
        {c.name: linear_predictor(covariates, c.name) for c in COMPLICATIONS},
        follow["end_offset"],
        follow["death_offset"] > 0,
        obs["history_days"],
    )
    weights = {
        "lp": weighted_sum(covariates, DYNAMIC.beta),
        "start": weighted_sum(covariates, DYNAMIC.start_alpha),
        "lab": weighted_sum(covariates, DYNAMIC.lab_intercept_shift),
    }
    dynamic = draw_dynamic(
        seed, weights, follow["end_offset"], follow["death_offset"] > 0, obs["history_days"]
    )
    return Persons(
        person_id=demo["person_id"],
        male=demo["male"],
        year_of_birth=demo["year_of_birth"],
        birth_day=demo["birth_day"],
        race=demo["race"],
        ethnicity=demo["ethnicity"],
        index_day=demo["index_day"],
        obs_start=obs["obs_start"],
        obs_end=obs["obs_end"],
        history_days=obs["history_days"],
        covariates=covariates,
        lp_outcome=lp1,
        lp_death=lp2,
        time=follow["time"],
        event=follow["event"],
        outcome_offset=follow["outcome_offset"],
        death_offset=follow["death_offset"],
        prior_outcome_offset=np.where(prior, day, 0),
        complications=complications,
        dynamic=dynamic,
    )


def _dates(days: np.ndarray) -> np.ndarray:
    return np.where(days >= 0, days, np.iinfo(np.int64).min).astype("datetime64[D]")


def persons_frame(p: Persons) -> pd.DataFrame:
    """The person-level frame of :func:`planted_cohort` from already simulated persons."""
    index = p.index_day
    in_obs = (p.obs_start <= index) & (index <= p.obs_end)
    frame = pd.DataFrame(
        {
            "person_id": p.person_id,
            "index_date": _dates(index),
            "observation_period_start_date": _dates(p.obs_start),
            "observation_period_end_date": _dates(p.obs_end),
            "prior_observation_days": index - p.obs_start,
            "index_in_observation": in_obs,
            "prior_outcome": p.prior_outcome_offset < 0,
            "eligible": in_obs
            & (index - p.obs_start >= MIN_PRIOR_DAYS)
            & (p.prior_outcome_offset == 0),
        }
    )
    for cov in COVARIATES:
        values = p.covariates[cov.name]
        frame[cov.name] = values if cov.kind == "measurement-last" else values.astype(np.int64)
    frame["time"] = p.time
    frame["event"] = p.event
    frame["outcome_date"] = _dates(np.where(p.outcome_offset > 0, index + p.outcome_offset, -1))
    frame["death_date"] = _dates(np.where(p.death_offset > 0, index + p.death_offset, -1))
    frame["lp_outcome"] = p.lp_outcome
    frame["lp_death"] = p.lp_death
    for name, draws in p.complications.items():
        frame[f"time_{name}"] = draws.time
        frame[f"event_{name}"] = draws.event
        frame[f"lp_{name}"] = draws.lp
        frame[f"prior_{name}"] = draws.prior
    dyn = p.dynamic
    frame[f"time_{DYNAMIC.name}"] = dyn.time
    frame[f"event_{DYNAMIC.name}"] = dyn.event
    frame[f"lp_{DYNAMIC.name}"] = dyn.lp
    frame["treatment_start"] = np.where(dyn.treatment_start > 0, dyn.treatment_start, np.nan)
    frame["treatment_stop"] = np.where(dyn.treatment_stop > 0, dyn.treatment_stop, np.nan)
    return frame


def planted_cohort(*, persons: int, seed: int) -> pd.DataFrame:
    """Return the person-level truth behind ``generate_cdm(path, persons=..., seed=...)``.

    Parameters
    ----------
    persons, seed
        As given to :func:`prognosis.synth.generate_cdm`; the same values give the same persons.

    Returns
    -------
    pandas.DataFrame
        One row per person: ``person_id``, ``index_date``, observation period dates,
        ``prior_observation_days``, ``index_in_observation``, ``prior_outcome`` (a stroke
        recorded before index), ``eligible`` (index inside the observation period with at
        least 365 prior days, and no prior stroke), one column per covariate in
        :data:`COVARIATES` (``hba1c`` and ``egfr`` are NaN when missing), ``time`` (days from
        index to the first of outcome, death or censoring), ``event`` (0 censored, 1 outcome,
        2 death), ``outcome_date``, ``death_date`` (NaT when none) and the true linear
        predictors ``lp_outcome`` and ``lp_death``. Then, for each complication ``<cause>``
        of :data:`prognosis.synth.complications.COMPLICATIONS` (``major_bleeding``,
        ``heart_failure_admission``): ``time_<cause>`` (days from index to the first of the
        complication, death or censoring; stroke does not end it), ``event_<cause>`` (1
        complication first, 2 death first, 0 censored), ``lp_<cause>`` (its true linear
        predictor) and ``prior_<cause>`` (a record of it before or on the index day: not at
        risk of it). ``eligible`` is about stroke and ignores the complications.
    """
    return persons_frame(simulate_persons(persons, seed))


@dataclass(frozen=True)
class PlantedDynamic:
    """The planted dynamic truth behind a synthetic CDM (:func:`planted_dynamic`).

    Attributes
    ----------
    persons
        One row per person: ``person_id``, ``index_date``, the baseline covariates,
        ``treatment_start`` / ``treatment_stop`` (days after index of the first day on the
        drug and the first day off it again; NaN when not during follow-up), ``lab_intercept``
        and ``lab_slope`` (the latent lab path, pg/mL and pg/mL per year), ``time`` (days from
        index to the first of TIA, death or censoring), ``event`` (1 TIA, 2 death first, 0
        censored) and ``lp`` (the baseline part of the log hazard).
    labs
        One row per lab value written to the CDM: ``person_id``, ``day`` (after index; negative
        before it), ``value`` (pg/mL), sorted by person and day.
    intervals
        The counting-process form of the hazard on ``(start, stop]``: ``person_id``, ``start``,
        ``stop``, ``on_treatment`` (0/1), ``lab`` (the last value measured on a day <= start),
        ``event`` (1 on the interval ending with the TIA), up to ``time``.
    """

    persons: pd.DataFrame
    labs: pd.DataFrame
    intervals: pd.DataFrame


def planted_dynamic(*, persons: int, seed: int) -> PlantedDynamic:
    """Return the dynamic truth (version 4) behind ``generate_cdm(path, persons=, seed=)``.

    Parameters
    ----------
    persons, seed
        As given to :func:`prognosis.synth.generate_cdm`.

    Returns
    -------
    PlantedDynamic
        Per person the treatment start and stop days, the lab values at their measurement
        days, the TIA's time and event (death competing), and the hazard's covariate path as
        ``(start, stop]`` intervals.
    """
    p = simulate_persons(persons, seed)
    dyn = p.dynamic
    frame = persons_frame(p)
    names = [c.name for c in COVARIATES]
    people = frame[["person_id", "index_date", *names, "treatment_start", "treatment_stop"]].copy()
    people["lab_intercept"], people["lab_slope"] = dyn.lab_intercept, dyn.lab_slope
    people["time"], people["event"], people["lp"] = dyn.time, dyn.event, dyn.lp
    labs = pd.DataFrame(
        {"person_id": p.person_id[dyn.lab_person], "day": dyn.lab_day, "value": dyn.lab_value}
    )
    return PlantedDynamic(people, labs, _intervals(p))


def _intervals(p: Persons) -> pd.DataFrame:
    pieces = hazard_pieces(p.dynamic, p.obs_end - p.index_day)
    person = pieces["person"].to_numpy()
    time, event = p.dynamic.time[person], p.dynamic.event[person]
    pieces = pieces[pieces["begin"].to_numpy() < time]
    person, time, event = person[pieces.index], time[pieces.index], event[pieces.index]
    stop = np.minimum(pieces["finish"].to_numpy(), time)
    return pd.DataFrame(
        {
            "person_id": p.person_id[person],
            "start": pieces["begin"].to_numpy(),
            "stop": stop,
            "on_treatment": pieces["on"].to_numpy().astype(np.int64),
            "lab": pieces["lab"].to_numpy(),
            "event": ((event == 1) & (stop == time)).astype(np.int64),
        }
    )
