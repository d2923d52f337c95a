"""Survival models behind one scikit-learn-style API (see :mod:`prognosis.models.base`)."""

from prognosis.models.base import SurvivalEstimator, SurvivalPipeline
from prognosis.models.target import (
    SurvivalTarget,
    TargetError,
    check_target,
    make_competing_target,
    make_target,
    target_from_frame,
)

__all__ = [
    "SurvivalEstimator",
    "SurvivalPipeline",
    "SurvivalTarget",
    "TargetError",
    "check_target",
    "make_competing_target",
    "make_target",
    "target_from_frame",
]
