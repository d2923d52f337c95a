"""The record of what a synthetic CDM planted, written beside it as ``<stem>.truth.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from prognosis.synth.complications import (
    COMPLICATION_STREAM,
    COMPLICATIONS,
    PRIOR_PLACES,
    SHARE_PRIOR_COMPLICATION,
    SHARE_REPEAT,
    Complication,
)
from prognosis.synth.dynamic import DYNAMIC, DYNAMIC_STREAM, DynamicProcess
from prognosis.synth.planted import (
    ADMIN_HORIZON_DAYS,
    BASELINE,
    CAUSES,
    COVARIATES,
    CUTOFF,
    DROPOUT_MEAN_DAYS,
    GENERATOR_VERSION,
    INDEX_CONCEPT,
    MIN_PRIOR_DAYS,
    OUTCOME_CONCEPT,
    POST_OUTCOME_DEATH_MEAN_DAYS,
    SHARE_OUTSIDE,
    SHARE_PRIOR_365,
    SHARE_SHORT_PRIOR,
    WINDOW,
    Covariate,
)
from prognosis.synth.vocabulary import CONCEPTS, NoiseConcept

__all__ = ["SynthTruth"]


@dataclass(frozen=True)
class SynthTruth:
    """What was planted in a synthetic CDM, and what came out; written as ``*.truth.json``."""

    seed: int
    persons: int
    counts: dict[str, Any]
    noise: tuple[NoiseConcept, ...]
    covariates: tuple[Covariate, ...] = COVARIATES
    generator_version: str = GENERATOR_VERSION
    cutoff_date: str = CUTOFF.isoformat()
    index_concept_ids: tuple[int, ...] = (INDEX_CONCEPT,)
    outcome_concept_id: int = OUTCOME_CONCEPT
    competing_event: str = "death"
    window: tuple[int, int] = WINDOW
    min_prior_observation_days: int = MIN_PRIOR_DAYS
    complications: tuple[Complication, ...] = COMPLICATIONS
    dynamic: DynamicProcess = DYNAMIC

    def beta(self, cause: str = "outcome") -> dict[str, float]:
        """True log hazard ratios by covariate name for one planted cause.

        Parameters
        ----------
        cause
            ``"outcome"`` (stroke), ``"death"``, or a complication: ``"major_bleeding"``,
            ``"heart_failure_admission"``.

        Raises
        ------
        ValueError
            If ``cause`` is none of these; the message lists them.
        """
        if cause not in CAUSES:
            raise ValueError(f"unknown cause {cause!r}; the planted causes are {', '.join(CAUSES)}")
        return {c.name: c.beta(cause) for c in self.covariates}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the planted model, then the counts generated."""
        return {
            "generator": "prognosis.synth",
            "generator_version": self.generator_version,
            "seed": self.seed,
            "persons": self.persons,
            "cutoff_date": self.cutoff_date,
            "index": {
                "concept_ids": list(self.index_concept_ids),
                "domain": "condition",
                "rule": "first condition_occurrence of the index concept",
            },
            "eligibility": {
                "rule": "index inside an observation period, index - period start >= "
                f"{self.min_prior_observation_days} days",
                "share_index_outside_observation": SHARE_OUTSIDE,
                "share_prior_observation_30_to_364_days": SHARE_SHORT_PRIOR,
                "share_prior_observation_exactly_365_days": SHARE_PRIOR_365,
            },
            "window": list(self.window),
            "covariates": [_covariate(c) for c in self.covariates],
            "outcome": {
                "concept_id": self.outcome_concept_id,
                "name": _NAMES[self.outcome_concept_id],
                "domain": "condition",
                "rule": "first condition_occurrence after index (day >= 1)",
            },
            "competing_event": {"name": self.competing_event, "table": "death"},
            "hazard": {
                "formula": "h_k(t|x) = (shape_k/scale_k) (t/scale_k)^(shape_k-1) "
                "exp(sum_j beta_kj (x_j - centre_j)); a missing measurement contributes 0",
                "time": "days since index; event day = max(1, ceil(latent time))",
                "baseline": {
                    k: {"distribution": "weibull", "shape": s, "scale_days": sc}
                    for k, (s, sc) in BASELINE.items()
                },
            },
            "censoring": {
                "rule": "censor day = min(dropout, admin_horizon_days, cutoff - index)",
                "dropout": "1 + floor(exponential(mean_days))",
                "dropout_mean_days": DROPOUT_MEAN_DAYS,
                "admin_horizon_days": ADMIN_HORIZON_DAYS,
                "death_after_outcome": "min(latent death day, outcome day + 1 + "
                f"floor(exponential(mean {POST_OUTCOME_DEATH_MEAN_DAYS})))",
            },
            "complications": [self._complication(c) for c in self.complications],
            "dynamic": _dynamic(self.dynamic, self.competing_event),
            "traps": list(_TRAPS),
            "counts": self.counts,
            "noise": [_noise(n) for n in self.noise],
        }

    def _complication(self, c: Complication) -> dict[str, Any]:
        return {
            "name": c.name,
            "label": c.label,
            "concept_ids": list(c.concept_ids),
            "concept_names": [_NAMES[i] for i in c.concept_ids],
            "include_descendants": c.include_descendants,
            "record_concepts": list(c.record_concepts),
            "record_weights": list(c.record_weights),
            "domain": "condition",
            "rule": "first condition_occurrence after index (day >= 1), recorded when the latent "
            "day is <= the end of follow-up (< the death day for persons who died); it neither "
            "ends follow-up nor changes death",
            "competing_event": self.competing_event,
            "baseline": {"distribution": "weibull", "shape": c.shape, "scale_days": c.scale_days},
            "beta": self.beta(c.name),
            "random_stream": f"SeedSequence([seed, {COMPLICATION_STREAM}])",
            "share_repeat_record": SHARE_REPEAT,
            "share_prior_record": SHARE_PRIOR_COMPLICATION,
            "prior_record_places": PRIOR_PLACES,
        }


_NAMES = {c[0]: c[1] for c in CONCEPTS}
_TRAPS = (
    "covariate concepts on day 0 (index) for persons whose covariate is 0",
    "covariate concepts on day -366 for persons whose covariate is 0",
    "covariate records before -365 and after index, whatever the covariate",
    "measurement values on day 0 and after index that differ from the last in window",
    "outcome concept before index for about 3% of persons (not an outcome)",
    "repeat index-concept records after index (index = first record)",
    "each complication recorded before or on the index day for about 3% of persons (not at "
    "risk of it; most before day -365, some inside the window, some on day 0)",
    "a later repeat record of a complication for 25% of those who have it (only the first counts)",
    "complications after stroke and stroke after complications (neither ends follow-up)",
)


def _dynamic(p: DynamicProcess, competing: str) -> dict[str, Any]:
    names = {c.name: 0.0 for c in COVARIATES}
    return {
        "name": p.name,
        "label": p.label,
        "outcome": {
            "concept_id": p.outcome_concept,
            "name": _NAMES[p.outcome_concept],
            "domain": "condition",
            "rule": "one condition_occurrence on index + the event day (day >= 1), recorded when "
            "it is <= the end of follow-up (< the death day for persons who died); it neither "
            "ends follow-up nor changes death; no record before index",
            "competing_event": competing,
        },
        "hazard": {
            "formula": "h(t|x,z(t)) = (shape/scale) (t/scale)^(shape-1) exp(sum_j beta_j (x_j - "
            "centre_j) + gamma_treatment on_treatment(t) + gamma_lab (lab(t) - lab_centre))",
            "baseline": {"distribution": "weibull", "shape": p.shape, "scale_days": p.scale_days},
            "beta": names | dict(p.beta),
            "gamma_treatment": p.gamma_treatment,
            "gamma_lab": p.gamma_lab,
            "lab_centre": p.lab_centre,
            "time_varying": "a state recorded on day a (a lab value, the first or last day on "
            "the drug) governs the hazard on (a, next change]: events on days > a",
            "lab_between_measurements": "the last value measured (written to the CDM) on a day "
            "<= t - 1, from the index-day value on (last observation carried forward)",
            "draw": "exact: the piecewise cumulative hazard inverted at an Exponential(1) draw; "
            "event day = ceil(event time)",
        },
        "treatment": {
            "concept_id": p.treatment_concept,
            "name": _NAMES[p.treatment_concept],
            "domain": "drug",
            "start": "first day = max(1, ceil(exponential(mean_days) / exp(sum_j alpha_j (x_j - "
            "centre_j)))), started only when <= the end of follow-up",
            "start_mean_days": p.start_mean_days,
            "start_alpha": names | dict(p.start_alpha),
            "stop": "first day off = first day + 1 + floor(exponential(mean_days)); not stopped "
            "when later than the end of follow-up; never restarted",
            "stop_mean_days": p.stop_mean_days,
            "records": f"a drug_exposure every {p.supply_days} days from the first day while on "
            f"it, days_supply {p.supply_days} (the last cut to end the day before the first day "
            "off), end date = start + days_supply - 1, clipped to the observation end",
        },
        "lab": {
            "concept_id": p.lab_concept,
            "name": _NAMES[p.lab_concept],
            "unit_concept_id": p.lab_unit_concept,
            "domain": "measurement",
            "latent": "lab(d) = intercept + slope * d / 365.25, d days after index",
            "intercept": "normal(mean, sd) + sum_j shift_j (x_j - centre_j)",
            "intercept_mean": p.lab_intercept_mean,
            "intercept_sd": p.lab_intercept_sd,
            "intercept_shift": names | dict(p.lab_intercept_shift),
            "slope_mean_per_year": p.lab_slope_mean,
            "slope_sd_per_year": p.lab_slope_sd,
            "measured": "round(clip(lab(d) + normal(0, noise_sd), low, high)) on day 0, then "
            "every U{gap} days to the end of follow-up; before index (days < -365 only) for "
            "share_pre_entry of persons with 366+ days of history: 1 + Poisson(extra) values",
            "noise_sd": p.lab_noise_sd,
            "bounds": list(p.lab_bounds),
            "visit_gap_days": list(p.visit_gap_days),
            "share_pre_entry": p.share_pre_entry,
            "pre_entry_extra": p.pre_entry_extra,
        },
        "random_stream": f"SeedSequence([seed, {DYNAMIC_STREAM}])",
    }


def _covariate(c: Covariate) -> dict[str, Any]:
    out = dataclasses.asdict(c)
    out["concept_names"] = [_NAMES[i] for i in c.concept_ids]
    out["window"] = None if c.window is None else list(c.window)
    return out


def _noise(n: NoiseConcept) -> dict[str, Any]:
    out = {"concept_id": n.concept_id, "name": _NAMES[n.concept_id]}
    out |= {k: v for k, v in dataclasses.asdict(n).items() if k != "concept_id"}
    if n.domain != "measurement":
        for key in ("mean", "sd", "unit_concept_id"):
            del out[key]
    return out
