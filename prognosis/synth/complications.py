"""Complications after index besides stroke: major bleeding and heart-failure admission.

Each complication has its own Weibull proportional-hazards cause-specific hazard over the same
covariates as stroke and death (the true log hazard ratios are fields of
:class:`prognosis.synth.planted.Covariate`). Every draw here comes from its own random stream,
``SeedSequence([seed, 2])``, taken after everything generator version 2 drew, so persons,
covariates, stroke, death, censoring, observation periods and all other records are exactly
those of version 2. Complications neither end follow-up nor change death. The model is
documented in ``docs/synthetic_cdm.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = ["COMPLICATIONS", "Complication", "ComplicationDraws", "draw_complications"]

#: Persons with a record of each complication before or on the index day (a trap: not
#: incident). Where those records lie: before the [-365, -1] window (needs 366 days of history;
#: otherwise inside the window), inside the window, or on the index day. Few land inside the
#: window (about 0.4 % of persons), below the 1 % prevalence of the synthetic cohorts' domain
#: features, so those features do not change.
SHARE_PRIOR_COMPLICATION = 0.03
PRIOR_PLACES = {"before_window": 0.75, "in_window": 0.10, "index_day": 0.15}
#: Persons with the complication recorded who get one later repeat record (after the first).
SHARE_REPEAT = 0.25
#: Random stream of every complication draw: ``SeedSequence([seed, COMPLICATION_STREAM])``.
COMPLICATION_STREAM = 2


@dataclass(frozen=True)
class Complication:
    """One planted complication: the concepts it is recorded with and its Weibull baseline.

    ``concept_ids`` is the concept set a definition names (with descendants when
    ``include_descendants``); ``record_concepts`` are the ids written, one drawn per person
    with ``record_weights``. The baseline hazard is
    ``h0(t) = (shape/scale) (t/scale)^(shape-1)``, ``t`` in days since index.
    """

    name: str
    label: str
    concept_ids: tuple[int, ...]
    include_descendants: bool
    record_concepts: tuple[int, ...]
    record_weights: tuple[float, ...]
    shape: float
    scale_days: float


COMPLICATIONS: tuple[Complication, ...] = (
    Complication(
        "major_bleeding",
        "major bleeding",
        (437312,),  # Bleeding
        True,
        (437312, 439847),  # Bleeding; Intracranial hemorrhage (a descendant)
        (0.7, 0.3),
        1.0,
        26000.0,
    ),
    Complication(
        "heart_failure_admission",
        "hospitalisation for heart failure",
        (319835,),  # Congestive heart failure (not under 316139 Heart failure here)
        False,
        (319835,),
        (1.0,),
        1.2,
        14000.0,
    ),
)


@dataclass(frozen=True)
class ComplicationDraws:
    """Person-level draws of one complication; offsets are days relative to index."""

    lp: np.ndarray  # true linear predictor
    latent: np.ndarray  # latent event day T_k >= 1
    time: np.ndarray  # min(T_k, end of follow-up)
    event: np.ndarray  # 1 complication first, 2 death first, 0 censored
    concept: np.ndarray  # the concept this person's records carry
    repeat: np.ndarray  # day of one later repeat record (> T_k), else 0
    prior: np.ndarray  # whether a record lies before or on index (the trap)
    prior_day: np.ndarray  # its day (<= 0), else 0
    duration: np.ndarray  # (n, 3): condition_end - start of the first, repeat and prior record

    def slice(self, start: int, stop: int) -> ComplicationDraws:
        """Persons ``start:stop``."""
        return ComplicationDraws(
            **{f.name: getattr(self, f.name)[start:stop] for f in dataclasses.fields(self)}
        )


def weibull_days(
    rng: np.random.Generator, lp: np.ndarray, shape: float, scale: float
) -> np.ndarray:
    """Latent event day (>= 1) from a Weibull proportional-hazards model."""
    t = scale * (rng.exponential(size=len(lp)) / np.exp(lp)) ** (1.0 / shape)
    return np.maximum(1, np.ceil(np.minimum(t, 1e7))).astype(np.int64)


def _prior_days(rng: np.random.Generator, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(history)
    has = rng.random(n) < SHARE_PRIOR_COMPLICATION
    place = rng.choice(len(PRIOR_PLACES), n, p=list(PRIOR_PLACES.values()))
    u = rng.random(n)
    before = -366 - np.floor(u * np.maximum(history - 365, 0)).astype(np.int64)
    inside = -1 - np.floor(u * np.minimum(history, 365)).astype(np.int64)
    day = np.select([(place == 0) & (history >= 366), place == 2], [before, 0], inside)
    return has, np.where(has, day, 0)


def _draw_one(
    rng: np.random.Generator,
    complication: Complication,
    lp: np.ndarray,
    end: np.ndarray,
    died: np.ndarray,
    history: np.ndarray,
) -> ComplicationDraws:
    n = len(lp)
    latent = weibull_days(rng, lp, complication.shape, complication.scale_days)
    # recorded when it happens by the end of follow-up; on the death day death comes first
    recorded = np.where(died, latent < end, latent <= end)
    event = np.where(recorded, 1, np.where(died & (latent >= end), 2, 0)).astype(np.int8)
    concept = rng.choice(
        np.array(complication.record_concepts, np.int64), n, p=complication.record_weights
    )
    prior, prior_day = _prior_days(rng, history)
    repeats = recorded & (rng.random(n) < SHARE_REPEAT) & (latent < end)
    repeat_day = latent + 1 + np.floor(rng.random(n) * np.maximum(end - latent, 0))
    return ComplicationDraws(
        lp=lp,
        latent=latent,
        time=np.minimum(latent, end),
        event=event,
        concept=concept,
        repeat=np.where(repeats, repeat_day, 0).astype(np.int64),
        prior=prior,
        prior_day=prior_day,
        duration=rng.integers(0, 15, (n, 3)),
    )


def draw_complications(
    seed: int,
    lps: dict[str, np.ndarray],
    end: np.ndarray,
    died: np.ndarray,
    history: np.ndarray,
) -> dict[str, ComplicationDraws]:
    """Draw every complication of :data:`COMPLICATIONS` from stream ``[seed, 2]``.

    Parameters
    ----------
    seed
        The generator's seed.
    lps
        True linear predictor of each complication, by name.
    end
        Last day of follow-up after index: the death day for persons who died, otherwise the
        censoring day.
    died
        Whether each person died during follow-up (then ``end`` is the death day).
    history
        Days of observation before index (where the trap records before index may go).

    Returns
    -------
    dict of str to ComplicationDraws
        The draws of each complication, in the order of :data:`COMPLICATIONS`.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, COMPLICATION_STREAM]))
    return {c.name: _draw_one(rng, c, lps[c.name], end, died, history) for c in COMPLICATIONS}
