"""Synthetic OMOP CDM with planted hazards: an oracle for model tests and a benchmark load."""

from prognosis.synth.complications import COMPLICATIONS, Complication
from prognosis.synth.generate import generate_cdm, truth_path
from prognosis.synth.planted import CAUSES, COVARIATES, Covariate, planted_cohort
from prognosis.synth.truth import SynthTruth

__all__ = [
    "CAUSES",
    "COMPLICATIONS",
    "COVARIATES",
    "Complication",
    "Covariate",
    "SynthTruth",
    "generate_cdm",
    "planted_cohort",
    "truth_path",
]
