"""Exceptions raised by prognosis. Every user-facing error subclasses :class:`PrognosisError`."""

from __future__ import annotations

__all__ = [
    "CohortError",
    "DataQualityWarning",
    "DatasetError",
    "DefinitionError",
    "EvaluationError",
    "ExplanationError",
    "FeatureNamesError",
    "ModelConvergenceError",
    "ModelDirectoryError",
    "OutputError",
    "PredictionHorizonError",
    "PrognosisError",
    "SchemaError",
    "ScoringError",
    "ScoringWarning",
    "SourceError",
    "SplitError",
    "SubgroupError",
    "TargetError",
    "UnknownModelError",
]


class PrognosisError(Exception):
    """Base class of every error prognosis reports to a user."""


class DefinitionError(PrognosisError, ValueError):
    """A cohort definition (YAML) is malformed or inconsistent."""


class CohortError(PrognosisError):
    """The cohort cannot be built as defined (for instance: no one is left)."""


class EvaluationError(PrognosisError, ValueError):
    """A metric cannot be computed from these targets and predictions."""


class OutputError(PrognosisError):
    """An output path that a command may not write (or could not write)."""


class SourceError(PrognosisError):
    """A data source is missing, unreachable, or lacks a table or column we need."""


class ModelDirectoryError(PrognosisError):
    """A model directory is missing, incomplete, tampered with, unsigned or of another format."""


class DatasetError(PrognosisError):
    """A dataset folder is missing files or columns."""


class SplitError(PrognosisError, ValueError):
    """A split is malformed or leaves a side empty."""


class SubgroupError(PrognosisError, ValueError):
    """A subgroup column (``--subgroup``) that is unknown or not categorical."""


class ExplanationError(PrognosisError, ValueError):
    """A model or input that cannot be explained as asked."""


class FeatureNamesError(PrognosisError, ValueError):
    """A DataFrame given to a fitted estimator whose columns (names or order) differ from fit."""


class SchemaError(PrognosisError, ValueError):
    """A dataset's columns do not match the model's feature schema."""


class ModelConvergenceError(PrognosisError, RuntimeError):
    """A model fit did not converge with any of the settings tried."""


class TargetError(PrognosisError, ValueError):
    """A survival target is malformed (missing fields, non-positive times, no events...)."""


class UnknownModelError(PrognosisError, ValueError):
    """A model name that the registry does not know."""


class PredictionHorizonError(PrognosisError, ValueError):
    """A prediction was asked for at a time past the model's training follow-up."""


class ScoringError(PrognosisError, ValueError):
    """One person cannot be scored at the date asked for (before birth, after death, or
    outside every observation period)."""


class DataQualityWarning(UserWarning):
    """The source data has a problem that prognosis worked around (and says how)."""


class ScoringWarning(DataQualityWarning):
    """A person was scored, but their age or a feature lies outside what the model saw in
    training (an extrapolation). A :class:`DataQualityWarning`, so that every command prints
    it as it prints those."""
