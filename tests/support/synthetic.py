"""A shipped synthetic definition built on a synthetic CDM, for the session fixtures."""

from __future__ import annotations

import warnings
from pathlib import Path

from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.exceptions import DataQualityWarning
from prognosis.synth import generate_cdm

__all__ = ["build_synthetic_cohort"]

COHORTS = Path(__file__).resolve().parents[2] / "cohorts"


def build_synthetic_cohort(root: Path, name: str, *, persons: int, seed: int) -> Path:
    """``cohorts/<name>.yaml`` built on a synthetic CDM of ``persons`` (``seed``) written to
    ``root/cdm.duckdb``: the dataset folder ``root/cohort``."""
    generate_cdm(root / "cdm.duckdb", persons=persons, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # history outside observation
        build_cohort(
            load_definition(COHORTS / f"{name}.yaml"),
            parse_source(f"{root}/cdm.duckdb"),
            root / "cohort",
        )
    return root / "cohort"
