"""Clinical rows of the synthetic CDM for one chunk of persons, as pyarrow tables.

Offsets are days relative to each person's index date; rows are drawn per kind of record with
vectorised counts (never a loop over persons). See ``docs/synthetic_cdm.md`` for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from prognosis.synth.dynamic import DYNAMIC
from prognosis.synth.planted import (
    COVARIATES,
    INDEX_CONCEPT,
    MIN_PRIOR_DAYS,
    OUTCOME_CONCEPT,
    Covariate,
    Persons,
)
from prognosis.synth.vocabulary import (
    DEATH_CERTIFICATE,
    EHR,
    NOISE_CONDITIONS,
    NOISE_DRUGS,
    NOISE_MEASUREMENTS,
    NoiseConcept,
    concept_codes,
)

__all__ = ["chunk_tables"]

#: Measurement covariates: (population mean, sd of repeat values, decimals, low, high, unit).
_MEASURE = {"hba1c": (5.8, 0.5, 1, 4.0, 14.0, 8554), "egfr": (78.0, 8.0, 0, 5.0, 140.0, 9117)}
_DEATH_CAUSES = np.array([316139, 4329847, 255573, 255848, 321042])
_SUPPLY = np.array([30, 60, 90])
_CODES = concept_codes()
_CODE_IDS = np.array(sorted(_CODES))
_CODE_DICT = pa.array([_CODES[c] for c in _CODE_IDS])


@dataclass(frozen=True)
class _Chunk:
    """One slice of persons and the random stream its rows are drawn from."""

    p: Persons
    rng: np.random.Generator

    @property
    def n(self) -> int:
        return len(self.p)

    @property
    def end(self) -> np.ndarray:
        """Last observed day (offset), >= 1."""
        return self.p.obs_end - self.p.index_day

    def covariate(self, name: str) -> np.ndarray:
        return self.p.covariates[name]

    def flip(self, prob: float, mask: np.ndarray | None = None) -> np.ndarray:
        hit = self.rng.random(self.n) < prob
        return hit if mask is None else hit & mask

    def some(self, mask: np.ndarray, extra: float) -> np.ndarray:
        """``1 + Poisson(extra)`` records where ``mask``, else 0."""
        return np.where(mask, 1 + self.rng.poisson(extra, self.n), 0)


@dataclass
class _Rows:
    """Rows of one domain: person position in the chunk, concept, day, value."""

    person: list[np.ndarray] = field(default_factory=list)
    concept: list[np.ndarray] = field(default_factory=list)
    day: list[np.ndarray] = field(default_factory=list)
    value: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        person: np.ndarray,
        concept: np.ndarray,
        day: np.ndarray,
        value: np.ndarray | None = None,
    ) -> None:
        self.person.append(person)
        self.concept.append(np.broadcast_to(concept, person.shape).astype(np.int64))
        self.day.append(day)
        self.value.append(np.full(len(person), np.nan) if value is None else value)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Concatenated and sorted by person, then day."""
        person, concept, day, value = (
            np.concatenate(x) for x in (self.person, self.concept, self.day, self.value)
        )
        order = np.lexsort((concept, day, person))
        return person[order], concept[order], day[order], value[order]


def _spread(
    ch: _Chunk,
    counts: np.ndarray,
    lo: np.ndarray | int,
    hi: np.ndarray | int,
) -> tuple[np.ndarray, np.ndarray]:
    """``counts[i]`` offsets uniform in ``[lo[i], hi[i]]``; persons with ``hi < lo`` get none."""
    lo, hi = np.broadcast_to(lo, (ch.n,)), np.broadcast_to(hi, (ch.n,))
    person = np.repeat(np.arange(ch.n), np.where(hi >= lo, counts, 0))
    width = hi[person] - lo[person] + 1
    return person, lo[person] + np.floor(ch.rng.random(len(person)) * width).astype(np.int64)


def _history_specs(ch: _Chunk, present: np.ndarray) -> list[tuple]:
    """(counts, lo, hi) offset ranges for a covariate concept set; window is [-365, -1]."""
    hist = ch.p.history_days
    lo_window = -np.minimum(hist, MIN_PRIOR_DAYS)
    edge = ch.rng.choice(3, ch.n, p=[0.9, 0.05, 0.05])
    at_365 = present & (edge == 1) & (hist >= MIN_PRIOR_DAYS)
    at_1 = present & (edge == 2)
    absent = ~present
    return [
        (ch.some(present & ~at_365 & ~at_1, 0.7), lo_window, -1),
        (at_365.astype(int), -MIN_PRIOR_DAYS, -MIN_PRIOR_DAYS),
        (at_1.astype(int), -1, -1),
        (ch.some(ch.flip(0.5, present), 1.0), -hist, -MIN_PRIOR_DAYS - 1),
        (ch.some(ch.flip(0.6, present), 1.5), 1, ch.end),
        (ch.some(ch.flip(0.10, absent), 0.5), -hist, -MIN_PRIOR_DAYS - 1),
        (ch.flip(0.03, absent).astype(int), -MIN_PRIOR_DAYS - 1, -MIN_PRIOR_DAYS - 1),
        (ch.flip(0.04, absent).astype(int), 0, 0),
        (ch.some(ch.flip(0.08, absent), 1.0), 1, ch.end),
    ]


def _pick_concepts(ch: _Chunk, cov: Covariate) -> np.ndarray:
    """One record concept per person (a person keeps, e.g., their type of diabetes)."""
    return ch.rng.choice(np.array(cov.record_concepts), ch.n, p=np.array(cov.record_weights))


def _add_specs(ch: _Chunk, rows: _Rows, specs: list[tuple], concept: np.ndarray) -> None:
    for counts, lo, hi in specs:
        person, offset = _spread(ch, counts, lo, hi)
        rows.add(person, concept[person], ch.p.index_day[person] + offset)


def _add_presence(ch: _Chunk, rows: dict[str, _Rows]) -> None:
    for cov in COVARIATES:
        if cov.kind.endswith("-presence"):
            specs = _history_specs(ch, ch.covariate(cov.name) == 1)
            _add_specs(ch, rows[cov.kind.split("-")[0]], specs, _pick_concepts(ch, cov))


def _measurement_specs(ch: _Chunk, seen: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """The last in-window day of each measured person, and ranges of all other values."""
    hist = ch.p.history_days
    lo_window = -np.minimum(hist, MIN_PRIOR_DAYS)
    edge = ch.rng.choice(3, ch.n, p=[0.9, 0.05, 0.05])
    uniform = lo_window + np.floor(ch.rng.random(ch.n) * (-lo_window)).astype(np.int64)
    last = np.select(
        [edge == 2, (edge == 1) & (hist >= MIN_PRIOR_DAYS)], [-1, -MIN_PRIOR_DAYS], uniform
    )
    missing = ~seen
    return last, [
        (np.where(seen, ch.rng.poisson(0.8, ch.n), 0), lo_window, last - 1),
        (ch.some(ch.flip(0.5, seen), 1.0), -hist, -MIN_PRIOR_DAYS - 1),
        (ch.some(ch.flip(0.7, seen), 1.5), 1, ch.end),
        (ch.flip(0.05).astype(int), 0, 0),
        (ch.some(ch.flip(0.3, missing), 0.5), -hist, -MIN_PRIOR_DAYS - 1),
        (ch.some(ch.flip(0.5, missing), 1.0), 1, ch.end),
    ]


def _add_measured(ch: _Chunk, rows: _Rows, cov: Covariate) -> None:
    """The covariate value at the last in-window day; other days get other values."""
    true = ch.covariate(cov.name)
    mean, sd, decimals, low, high, _ = _MEASURE[cov.name]
    seen = ~np.isnan(true)
    last, specs = _measurement_specs(ch, seen)
    person = np.flatnonzero(seen)
    concept = np.int64(cov.record_concepts[0])
    rows.add(person, concept, ch.p.index_day[person] + last[person], true[person])
    for counts, lo, hi in specs:
        person, offset = _spread(ch, counts, lo, hi)
        centre = np.where(seen[person], true[person], mean)
        value = np.round(np.clip(ch.rng.normal(centre, sd), low, high), decimals)
        rows.add(person, concept, ch.p.index_day[person] + offset, value)


def _add_index_and_outcome(ch: _Chunk, conditions: _Rows) -> None:
    everyone = np.arange(ch.n)
    conditions.add(everyone, np.int64(INDEX_CONCEPT), ch.p.index_day)
    inside = ch.p.obs_start <= ch.p.index_day
    person, offset = _spread(ch, ch.some(ch.flip(0.4, inside), 1.0), 1, ch.end)
    conditions.add(person, np.int64(INDEX_CONCEPT), ch.p.index_day[person] + offset)
    t1 = ch.p.outcome_offset
    had = np.flatnonzero(t1 > 0)
    conditions.add(had, np.int64(OUTCOME_CONCEPT), ch.p.index_day[had] + t1[had])
    person, offset = _spread(ch, ch.some(ch.flip(0.3, t1 > 0), 0.5), t1 + 1, ch.end)
    conditions.add(person, np.int64(OUTCOME_CONCEPT), ch.p.index_day[person] + offset)
    prior = np.flatnonzero(ch.p.prior_outcome_offset < 0)  # planted: excluded from the cohort
    conditions.add(
        prior, np.int64(OUTCOME_CONCEPT), ch.p.index_day[prior] + ch.p.prior_outcome_offset[prior]
    )


def _add_noise(ch: _Chunk, rows: _Rows, catalogue: tuple[NoiseConcept, ...]) -> None:
    """Independent records: a concept is present for a person (a trait, drawn once); it then
    has ``1 + Poisson(m)`` records uniform over the history before index, and, drawn apart,
    ``Poisson(m / 2)`` uniform from the index day to the observation end. What lies before index
    never depends on how long the person is followed after it."""
    prevalence = np.array([c.prevalence for c in catalogue])
    extra = np.array([c.extra_records for c in catalogue])
    shape = (ch.n, len(catalogue))
    has = ch.rng.random(shape) < prevalence
    index = ch.p.index_day
    before = (ch.p.obs_start, index - 1)
    after = (np.maximum(ch.p.obs_start, index), ch.p.obs_end)
    for lo, hi, first, scale in (*before, 1, 1.0), (*after, 0, 0.5):
        drawn = first + ch.rng.poisson(extra * scale, shape)
        counts = np.where(has & (hi >= lo)[:, None], drawn, 0).ravel()
        person = np.repeat(np.repeat(np.arange(ch.n), len(catalogue)), counts)
        which = np.repeat(np.tile(np.arange(len(catalogue)), ch.n), counts)
        width = (hi - lo + 1)[person]
        day = lo[person] + np.floor(ch.rng.random(len(person)) * width).astype(np.int64)
        means = np.array([c.mean for c in catalogue])
        sds = np.array([c.sd for c in catalogue])
        value = np.round(ch.rng.normal(means[which], sds[which]), 1) if sds.any() else None
        rows.add(person, np.array([c.concept_id for c in catalogue])[which], day, value)


def _source_values(concept: np.ndarray) -> pa.DictionaryArray:
    index = np.searchsorted(_CODE_IDS, concept).astype(np.int32)
    return pa.DictionaryArray.from_arrays(index, _CODE_DICT)


def _date(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())


def _ids(first: int, n: int) -> pa.Array:
    return pa.array(np.arange(first, first + n, dtype=np.int64))


def _complication_rows(ch: _Chunk) -> tuple[np.ndarray, ...]:
    """Each complication's first record, repeat record and record before index, and the TIA
    record: (person, concept, day, days to the end date), every value already drawn with the
    persons (their own random streams), so these rows leave the draws of all other rows as
    they were."""
    parts: list[tuple[np.ndarray, ...]] = []
    for draws in ch.p.complications.values():
        offsets = (np.where(draws.event == 1, draws.latent, 0), draws.repeat, draws.prior_day)
        masks = (draws.event == 1, draws.repeat > 0, draws.prior)
        for kind, (offset, mask) in enumerate(zip(offsets, masks, strict=True)):
            person = np.flatnonzero(mask)
            day = ch.p.index_day[person] + offset[person]
            parts.append((person, draws.concept[person], day, draws.duration[person, kind]))
    dyn = ch.p.dynamic
    person = np.flatnonzero(dyn.event == 1)
    concept = np.full(len(person), DYNAMIC.outcome_concept, np.int64)
    parts.append((person, concept, ch.p.index_day[person] + dyn.time[person], dyn.duration[person]))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _condition_table(ch: _Chunk, rows: _Rows, first_id: int) -> pa.Table:
    person, concept, day, _ = rows.arrays()
    length = ch.rng.integers(0, 15, len(day))
    extra = _complication_rows(ch)
    person, concept, day, length = (
        np.concatenate(pair) for pair in zip((person, concept, day, length), extra, strict=True)
    )
    order = np.lexsort((np.arange(len(day)), concept, day, person))
    person, concept, day, length = person[order], concept[order], day[order], length[order]
    end = np.minimum(day + length, ch.p.obs_end[person])
    return pa.table(
        {
            "condition_occurrence_id": _ids(first_id, len(day)),
            "person_id": ch.p.person_id[person],
            "condition_concept_id": concept,
            "condition_start_date": _date(day),
            "condition_end_date": _date(np.maximum(end, day)),
            "condition_type_concept_id": np.full(len(day), EHR, np.int64),
            "condition_source_value": _source_values(concept),
        }
    )


def _treatment_rows(ch: _Chunk) -> tuple[np.ndarray, ...]:
    """The planted treatment's fills: every ``supply_days`` from its first day while on it,
    the last one cut to end the day before the stop day: (person, concept, day, days_supply).
    Nothing is drawn: the days come with the persons."""
    dyn, supply = ch.p.dynamic, DYNAMIC.supply_days
    start, stop, end = dyn.treatment_start, dyn.treatment_stop, ch.end
    last = np.where(stop > 0, stop - 1, end)  # last day on the drug to write
    fills = np.where(start > 0, (last - start) // supply + 1, 0)
    person = np.repeat(np.arange(ch.n), fills)
    first = np.repeat(np.cumsum(fills) - fills, fills)
    day = start[person] + supply * (np.arange(len(person)) - first)
    days = np.where(stop[person] > 0, np.minimum(supply, stop[person] - day), supply)
    concept = np.full(len(person), DYNAMIC.treatment_concept, np.int64)
    return person, concept, ch.p.index_day[person] + day, days


def _lab_rows(ch: _Chunk) -> tuple[np.ndarray, ...]:
    """The planted lab values: (person, concept, day, value), drawn with the persons."""
    dyn = ch.p.dynamic
    person = dyn.lab_person
    concept = np.full(len(person), DYNAMIC.lab_concept, np.int64)
    return person, concept, ch.p.index_day[person] + dyn.lab_day, dyn.lab_value


def _with_planted(
    drawn: tuple[np.ndarray, ...], planted: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, ...]:
    """Append planted rows to drawn ones, sorted by person, day, concept (ties keep order)."""
    person, concept, day, value = (np.concatenate(p) for p in zip(drawn, planted, strict=True))
    order = np.lexsort((np.arange(len(day)), concept, day, person))
    return person[order], concept[order], day[order], value[order]


def _drug_table(ch: _Chunk, rows: _Rows, first_id: int) -> pa.Table:
    person, concept, day, _ = rows.arrays()
    supply = ch.rng.choice(_SUPPLY, len(day), p=[0.5, 0.3, 0.2])
    person, concept, day, supply = _with_planted(
        (person, concept, day, supply), _treatment_rows(ch)
    )
    end = np.maximum(np.minimum(day + supply - 1, ch.p.obs_end[person]), day)
    return pa.table(
        {
            "drug_exposure_id": _ids(first_id, len(day)),
            "person_id": ch.p.person_id[person],
            "drug_concept_id": concept,
            "drug_exposure_start_date": _date(day),
            "drug_exposure_end_date": _date(end),
            "drug_type_concept_id": np.full(len(day), EHR, np.int64),
            "days_supply": supply.astype(np.int32),
            "drug_source_value": _source_values(concept),
        }
    )


def _units() -> dict[int, int]:
    units = {c.concept_id: c.unit_concept_id for c in NOISE_MEASUREMENTS}
    for cov in COVARIATES:
        if cov.kind == "measurement-last":
            units[cov.record_concepts[0]] = _MEASURE[cov.name][5]
    units[DYNAMIC.lab_concept] = DYNAMIC.lab_unit_concept
    return units


_UNITS = _units()


def _measurement_table(ch: _Chunk, rows: _Rows, first_id: int) -> pa.Table:
    person, concept, day, value = _with_planted(rows.arrays(), _lab_rows(ch))
    unit_ids = np.array(sorted(_UNITS))
    unit = np.array([_UNITS[c] for c in unit_ids])[np.searchsorted(unit_ids, concept)]
    return pa.table(
        {
            "measurement_id": _ids(first_id, len(day)),
            "person_id": ch.p.person_id[person],
            "measurement_concept_id": concept,
            "measurement_date": _date(day),
            "measurement_type_concept_id": np.full(len(day), EHR),
            "value_as_number": value,
            "unit_concept_id": unit.astype(np.int64),
            "measurement_source_value": _source_values(concept),
        }
    )


def _death_table(ch: _Chunk) -> pa.Table:
    dead = np.flatnonzero(ch.p.death_offset > 0)
    after_outcome = ch.p.outcome_offset[dead] > 0
    cause = ch.rng.choice(_DEATH_CAUSES, len(dead))
    cause = np.where(after_outcome & (ch.rng.random(len(dead)) < 0.5), OUTCOME_CONCEPT, cause)
    kind = np.where(ch.rng.random(len(dead)) < 0.5, EHR, DEATH_CERTIFICATE)
    return pa.table(
        {
            "person_id": ch.p.person_id[dead],
            "death_date": _date(ch.p.index_day[dead] + ch.p.death_offset[dead]),
            "death_type_concept_id": kind.astype(np.int64),
            "cause_concept_id": cause,
        }
    )


def _person_tables(ch: _Chunk, first_period_id: int) -> dict[str, pa.Table]:
    birth = ch.p.birth_day.astype("datetime64[D]")
    month = birth.astype("datetime64[M]")
    person = pa.table(
        {
            "person_id": ch.p.person_id,
            "gender_concept_id": np.where(ch.p.male, 8507, 8532).astype(np.int64),
            "year_of_birth": ch.p.year_of_birth.astype(np.int32),
            "month_of_birth": (month.astype(np.int64) % 12 + 1).astype(np.int32),
            "day_of_birth": ((birth - month).astype(np.int64) + 1).astype(np.int32),
            "birth_date": _date(ch.p.birth_day),
            "race_concept_id": ch.p.race.astype(np.int64),
            "ethnicity_concept_id": ch.p.ethnicity.astype(np.int64),
        }
    )
    period = pa.table(
        {
            "observation_period_id": _ids(first_period_id, ch.n),
            "person_id": ch.p.person_id,
            "observation_period_start_date": _date(ch.p.obs_start),
            "observation_period_end_date": _date(ch.p.obs_end),
            "period_type_concept_id": np.full(ch.n, EHR, np.int64),
        }
    )
    return {"person": person, "observation_period": period, "death": _death_table(ch)}


def chunk_tables(
    persons: Persons, start: int, stop: int, rng: np.random.Generator, first_ids: dict[str, int]
) -> dict[str, pa.Table]:
    """All rows of persons ``start:stop``; record ids start at ``first_ids[table]``.

    ``person`` comes without its derived columns (source values, birth datetime), which the
    writer adds in SQL; every other table has its final columns in order.
    """
    ch = _Chunk(persons.slice(start, stop), rng)
    rows = {"condition": _Rows(), "drug": _Rows(), "measurement": _Rows()}
    _add_index_and_outcome(ch, rows["condition"])
    _add_presence(ch, rows)
    for cov in COVARIATES:
        if cov.kind == "measurement-last":
            _add_measured(ch, rows["measurement"], cov)
    _add_noise(ch, rows["condition"], NOISE_CONDITIONS)
    _add_noise(ch, rows["drug"], NOISE_DRUGS)
    _add_noise(ch, rows["measurement"], NOISE_MEASUREMENTS)
    return _person_tables(ch, first_ids["observation_period"]) | {
        "condition_occurrence": _condition_table(
            ch, rows["condition"], first_ids["condition_occurrence"]
        ),
        "drug_exposure": _drug_table(ch, rows["drug"], first_ids["drug_exposure"]),
        "measurement": _measurement_table(ch, rows["measurement"], first_ids["measurement"]),
    }
