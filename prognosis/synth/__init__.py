"""Synthetic OMOP CDM with planted hazards: an oracle for model tests and a benchmark load."""

from prognosis.synth.complications import COMPLICATIONS, Complication
from prognosis.synth.dynamic import DYNAMIC, DynamicProcess
from prognosis.synth.generate import generate_cdm, truth_path
from prognosis.synth.planted import (
    CAUSES,
    COVARIATES,
    Covariate,
    PlantedDynamic,
    planted_cohort,
    planted_dynamic,
)
from prognosis.synth.truth import SynthTruth

__all__ = [
    "CAUSES",
    "COMPLICATIONS",
    "COVARIATES",
    "DYNAMIC",
    "Complication",
    "Covariate",
    "DynamicProcess",
    "PlantedDynamic",
    "SynthTruth",
    "generate_cdm",
    "planted_cohort",
    "planted_dynamic",
    "truth_path",
]
