"""A planted dynamic truth (generator version 4): a hazard that moves during follow-up.

A transient ischaemic attack (TIA) after index has the cause-specific hazard

    h(t | x, z(t)) = h0(t) exp(sum_j beta_j (x_j - centre_j)
                               + gamma_treatment on_treatment(t) + gamma_lab (lab(t) - lab_centre))

with ``h0`` Weibull, ``x`` the baseline covariates of :data:`prognosis.synth.planted.COVARIATES`,
``on_treatment(t)`` a drug (dabigatran) started during follow-up at a random day and perhaps
stopped later, and ``lab(t)`` an NT-proBNP value measured on the index day and then every two to
four months, drifting per person (random intercept and slope) with measurement noise. The hazard
uses the *measured* values: ``lab(t)`` is the last value written to the CDM on a day before
``t`` (last observation carried forward), so what a model can see is exactly what drove the
hazard. Every state recorded on day ``a`` (a measurement, the first or the last day of the drug)
governs the hazard over ``(a, a + 1]`` onwards, that is from the next day's events; event days are
``ceil`` of the exact event time, drawn by inverting the piecewise cumulative hazard (exact,
no grid). Every draw comes from its own stream, ``SeedSequence([seed, 3])``, taken after
everything version 3 drew, so all earlier quantities and records are unchanged. The TIA neither
ends follow-up nor changes death. Documented in ``docs/synthetic_cdm.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "DYNAMIC",
    "DYNAMIC_STREAM",
    "DynamicDraws",
    "DynamicProcess",
    "draw_dynamic",
    "hazard_pieces",
]

#: Random stream of every draw of the dynamic process: ``SeedSequence([seed, DYNAMIC_STREAM])``.
DYNAMIC_STREAM = 3
#: Added to a day relative to index to make it non-negative in a sort key.
_DAY_OFFSET = 1 << 14
#: Persons whose hazard path is built at once (bounds the memory of :func:`draw_dynamic`).
_BLOCK = 100_000


@dataclass(frozen=True)
class DynamicProcess:
    """The parameters of the planted time-varying hazard (see the module docstring).

    Weights (``beta``, ``start_alpha``, ``lab_intercept_shift``) are pairs of a covariate name of
    :data:`prognosis.synth.planted.COVARIATES` and a coefficient on ``x - centre`` (a missing
    measurement contributes 0); covariates not named have coefficient 0.
    """

    name: str = "tia"
    label: str = "transient ischaemic attack"
    outcome_concept: int = 373503  # Transient cerebral ischemia
    treatment_concept: int = 40228152  # dabigatran etexilate (ingredient)
    lab_concept: int = 3029187  # NT-proBNP [Mass/volume] in Serum or Plasma
    lab_unit_concept: int = 8845  # picogram per milliliter
    shape: float = 1.1
    scale_days: float = 9000.0
    beta: tuple[tuple[str, float], ...] = (
        ("age", 0.03),
        ("male", -0.15),
        ("diabetes", 0.30),
        ("hypertension", 0.50),
        ("anticoagulant", -0.40),
        ("statin", -0.20),
    )
    gamma_treatment: float = -0.70
    gamma_lab: float = 0.0008  # per pg/mL: a hazard ratio of 1.083 per 100 pg/mL
    lab_centre: float = 1000.0
    start_mean_days: float = 1100.0  # treatment start: exponential, mean / exp(alpha . x)
    start_alpha: tuple[tuple[str, float], ...] = (
        ("age", 0.02),
        ("hypertension", 0.30),
        ("heart_failure", 0.40),
        ("anticoagulant", -1.00),
    )
    stop_mean_days: float = 800.0  # days on treatment: 1 + floor(exponential(mean))
    supply_days: int = 90
    lab_intercept_mean: float = 600.0
    lab_intercept_shift: tuple[tuple[str, float], ...] = (
        ("age", 10.0),
        ("heart_failure", 400.0),
        ("ckd", 200.0),
    )
    lab_intercept_sd: float = 250.0
    lab_slope_mean: float = 150.0  # pg/mL per year (365.25 days)
    lab_slope_sd: float = 150.0
    lab_noise_sd: float = 60.0
    lab_bounds: tuple[float, float] = (5.0, 35000.0)
    visit_gap_days: tuple[int, int] = (60, 120)  # uniform, both ends included
    share_pre_entry: float = 0.40  # persons with 366+ days of history: values before -365
    pre_entry_extra: float = 1.0  # they have 1 + Poisson(extra) values in [-prior, -366]


DYNAMIC = DynamicProcess()


@dataclass(frozen=True)
class DynamicDraws:
    """Person-level draws of the dynamic process; days are relative to index.

    ``lab_person``, ``lab_day`` and ``lab_value`` are one row per measurement (sorted by person
    position, then day), ``lab_person`` the position of the person in these arrays.
    """

    lp: np.ndarray  # baseline part of the log hazard, sum_j beta_j (x_j - centre_j)
    treatment_start: np.ndarray  # first day on the drug (>= 1), 0 when not during follow-up
    treatment_stop: np.ndarray  # first day off it again, 0 when not stopped during follow-up
    lab_intercept: np.ndarray  # latent lab at index (pg/mL)
    lab_slope: np.ndarray  # latent drift, pg/mL per year
    time: np.ndarray  # days from index to the first of TIA, death or censoring
    event: np.ndarray  # 1 TIA first, 2 death first, 0 censored
    duration: np.ndarray  # condition_end - start of the TIA record
    lab_person: np.ndarray
    lab_day: np.ndarray
    lab_value: np.ndarray

    def slice(self, start: int, stop: int) -> DynamicDraws:
        """Persons ``start:stop`` (their measurements with them)."""
        lo, hi = np.searchsorted(self.lab_person, [start, stop])
        ragged = ("lab_person", "lab_day", "lab_value")
        arrays = {
            f.name: getattr(self, f.name)[start:stop]
            for f in dataclasses.fields(self)
            if f.name not in ragged
        }
        return DynamicDraws(
            **arrays,
            lab_person=self.lab_person[lo:hi] - start,
            lab_day=self.lab_day[lo:hi],
            lab_value=self.lab_value[lo:hi],
        )


def _lab_values(
    rng: np.random.Generator,
    p: DynamicProcess,
    intercept: np.ndarray,
    slope: np.ndarray,
    person: np.ndarray,
    day: np.ndarray,
) -> np.ndarray:
    """Measured values: latent ``intercept + slope * years`` plus noise, clipped, whole pg/mL."""
    latent = intercept[person] + slope[person] * day / 365.25
    noisy = latent + rng.normal(0.0, p.lab_noise_sd, len(person))
    return np.round(np.clip(noisy, *p.lab_bounds))


def _schedule(
    rng: np.random.Generator, p: DynamicProcess, end: np.ndarray, history: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Measurement (person, day): day 0 for everyone, visits up to ``end``, some before -365.

    Visits are drawn one round at a time for the persons still followed (memory linear in the
    persons); rows come sorted by person, then day.
    """
    n = len(end)
    low, high = p.visit_gap_days
    who, day = np.arange(n), np.zeros(n, np.int64)
    persons, days = [who], [day]
    while len(who):
        day = day + rng.integers(low, high + 1, len(who))
        kept = day <= end[who]
        who, day = who[kept], day[kept]
        persons.append(who)
        days.append(day)
    pre = (rng.random(n) < p.share_pre_entry) & (history >= 366)
    counts = np.where(pre, 1 + rng.poisson(p.pre_entry_extra, n), 0)
    before = np.repeat(np.arange(n), counts)
    width = history[before] - 365
    persons.insert(0, before)
    days.insert(0, -366 - np.floor(rng.random(len(before)) * width).astype(np.int64))
    person, day = np.concatenate(persons), np.concatenate(days)
    # one sort key: days run from above -2**14 (history is at most 4365 days) to 1826
    order = np.argsort((person << 15) | (day + _DAY_OFFSET), kind="stable")
    return person[order], day[order]


@dataclass(frozen=True)
class _Pieces:
    """The hazard's covariate path: one entry per piece ``(begin, finish]`` of constant state."""

    person: np.ndarray
    begin: np.ndarray
    finish: np.ndarray
    on: np.ndarray
    lab: np.ndarray


def _pieces(
    start: np.ndarray,
    stop: np.ndarray,
    end: np.ndarray,
    lab: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> _Pieces:
    """Pieces break at every measurement day >= 0, at the treatment start and at its stop, and
    end at the end of follow-up; zero-length pieces are left out."""
    after = lab[1] >= 0
    lab_person, lab_day, lab_value = (a[after] for a in lab)
    started, stopped = np.flatnonzero(start > 0), np.flatnonzero(stop > 0)
    person = np.concatenate([lab_person, started, stopped])
    day = np.concatenate([lab_day, start[started], stop[stopped]])
    kind = np.repeat([0, 1, 2], [len(lab_day), len(started), len(stopped)])
    # one sort key (days after index are < 2**11): person, then day, then lab before the drug
    order = np.argsort((person << 13) | (day << 2) | kind)
    del kind
    person, day = person[order], day[order]
    source = np.where(order < len(lab_day), np.arange(len(order)), -1)
    carried = np.maximum.accumulate(source)  # each person's first row is its day-0 value
    value = lab_value[order[carried]]
    del source, carried, order
    last = np.append(person[1:] != person[:-1], True)
    finish = np.where(last, end[person], np.append(day[1:], 0))
    keep = finish > day
    person, day, finish, value = person[keep], day[keep], finish[keep], value[keep]
    first, off = start[person], stop[person]
    on = (first > 0) & (first <= day) & ((off == 0) | (day < off))
    return _Pieces(person, day, finish, on, value)


def _first_event(
    p: DynamicProcess, pieces: _Pieces, lp: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Event day of each person (0 when none by the end of follow-up), by inverting
    ``H(t) = sum over pieces of exp(eta) ((t/scale)^shape - (begin/scale)^shape)`` at ``target``.
    """
    person = pieces.person
    eta = lp[person] + p.gamma_treatment * pieces.on + p.gamma_lab * (pieces.lab - p.lab_centre)
    rate = np.exp(eta)
    h_begin = (pieces.begin / p.scale_days) ** p.shape
    increment = rate * ((pieces.finish / p.scale_days) ** p.shape - h_begin)
    first_row = np.flatnonzero(np.append(True, person[1:] != person[:-1]))
    total = np.cumsum(increment)
    offset = total[first_row] - increment[first_row]
    cumulative = total - np.repeat(offset, np.diff(np.append(first_row, len(person))))
    del total
    crossed = np.flatnonzero(cumulative >= target[person])
    who, at = np.unique(person[crossed], return_index=True)
    row = crossed[at]
    before = cumulative[row] - increment[row]
    t = p.scale_days * (h_begin[row] + (target[who] - before) / rate[row]) ** (1.0 / p.shape)
    day = np.clip(np.ceil(t), pieces.begin[row] + 1, pieces.finish[row]).astype(np.int64)
    out = np.zeros(len(lp), np.int64)
    out[who] = day
    return out


def draw_dynamic(
    seed: int,
    weights: dict[str, np.ndarray],
    end: np.ndarray,
    died: np.ndarray,
    history: np.ndarray,
    process: DynamicProcess = DYNAMIC,
) -> DynamicDraws:
    """Draw the dynamic process from stream ``[seed, 3]``.

    Parameters
    ----------
    seed
        The generator's seed.
    weights
        Per person: ``"lp"`` the baseline log hazard of the TIA, ``"start"`` the log hazard
        ratio of starting the treatment, ``"lab"`` the shift of the lab intercept (pg/mL), each
        a weighted sum of centred covariates (``DynamicProcess.beta``, ``start_alpha``,
        ``lab_intercept_shift``).
    end
        Last day of follow-up after index (the death day for persons who died).
    died
        Whether each person died during follow-up.
    history
        Days of observation before index (where values before index may go).
    process
        The parameters; :data:`DYNAMIC` unless a test plants another truth.

    Returns
    -------
    DynamicDraws
        Treatment days, lab path, and the TIA's time and event per person.
    """
    p, n = process, len(end)
    rng = np.random.default_rng(np.random.SeedSequence([seed, DYNAMIC_STREAM]))
    start = np.ceil(rng.exponential(p.start_mean_days, n) / np.exp(weights["start"]))
    start = np.maximum(1, np.minimum(start, 1e7)).astype(np.int64)
    stop = start + 1 + np.floor(rng.exponential(p.stop_mean_days, n)).astype(np.int64)
    start = np.where(start <= end, start, 0)
    stop = np.where((start > 0) & (stop <= end), stop, 0)
    intercept = rng.normal(p.lab_intercept_mean, p.lab_intercept_sd, n) + weights["lab"]
    slope = rng.normal(p.lab_slope_mean, p.lab_slope_sd, n)
    target = rng.exponential(size=n)
    duration = rng.integers(0, 15, n)
    lab_person, lab_day = _schedule(rng, p, end, history)
    lab_value = _lab_values(rng, p, intercept, slope, lab_person, lab_day)
    day = np.zeros(n, np.int64)
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        a, b = np.searchsorted(lab_person, [lo, hi])
        lab = (lab_person[a:b] - lo, lab_day[a:b], lab_value[a:b])
        pieces = _pieces(start[lo:hi], stop[lo:hi], end[lo:hi], lab)
        day[lo:hi] = _first_event(p, pieces, weights["lp"][lo:hi], target[lo:hi])
    # on the death day death comes first, as for the complications
    recorded = (day > 0) & np.where(died, day < end, day <= end)
    event = np.where(recorded, 1, np.where(died, 2, 0)).astype(np.int8)
    return DynamicDraws(
        lp=weights["lp"],
        treatment_start=start,
        treatment_stop=stop,
        lab_intercept=intercept,
        lab_slope=slope,
        time=np.where(recorded, day, end),
        event=event,
        duration=duration,
        lab_person=lab_person,
        lab_day=lab_day,
        lab_value=lab_value,
    )


def hazard_pieces(draws: DynamicDraws, end: np.ndarray) -> pd.DataFrame:
    """The covariate path the hazard used: one row per piece ``(begin, finish]``.

    Columns ``person`` (position), ``begin``, ``finish``, ``on`` (on treatment), ``lab`` (the
    last value measured on a day <= ``begin``). Pieces cover ``(0, end]``.
    """
    lab = (draws.lab_person, draws.lab_day, draws.lab_value)
    pieces = _pieces(draws.treatment_start, draws.treatment_stop, end, lab)
    return pd.DataFrame({f.name: getattr(pieces, f.name) for f in dataclasses.fields(pieces)})
