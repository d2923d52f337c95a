"""The files passed between stages, as frozen dataclasses: each parsed once, by one reader.

- a dataset's ``manifest.json`` (also a model's ``training_manifest.json``):
  :class:`DatasetManifest`, :func:`read_manifest` / :func:`write_manifest`;
- ``features.json``: a tuple of :class:`Feature`, :func:`read_features` / :func:`write_features`;
- ``attrition.json``: a tuple of :class:`AttritionStep`, :func:`read_attrition` /
  :func:`write_attrition`;
- a model's ``model.json``: :class:`ModelInfo`, :func:`read_model_info` /
  :func:`write_model_info`; its ``manifest.json``: :class:`ModelManifest`,
  :func:`read_model_manifest` / :func:`write_model_manifest`;
- ``metrics.json`` (a model's, or ``prognosis evaluate``'s): :class:`MetricsFile`, whose
  ``results`` are the :class:`Metrics`, :func:`read_metrics` / :func:`write_metrics`;
- a model's ``validation_predictions.parquet`` (a Parquet file, not JSON):
  :class:`ValidationPredictions`, :func:`read_validation_predictions` /
  :func:`write_validation_predictions`.

A dataclass's fields are its file's keys, in the file's order: writing is
:func:`to_json` (field by field) then :func:`prognosis.outputs.write_json` through
:func:`prognosis.outputs.atomic_file`, so a file read and written again is the same bytes.
Reading is :func:`from_json`, which checks every field against its type hint and names the
file and the field when one is missing, unexpected or of the wrong kind ("metrics.json: field
horizons[0].brier.estimate: expected a number, found a string"). A field marked
``OPTIONAL`` may be absent from the file (``None``), and is left out when ``None``; every
other field is always written, ``null`` where it has no value.

Adding a field to a file is one line here (plus the code that fills it in and the code that
shows it); nothing else parses these files.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prognosis.exceptions import PrognosisError
from prognosis.json_files import json_kind, read_json
from prognosis.outputs import atomic_file, write_json

__all__ = [
    "MODEL_FORMAT",
    "OPTIONAL",
    "VALIDATION_DESIGNS",
    "AttritionStep",
    "Bootstrap",
    "BuildCounts",
    "Calibration",
    "CalibrationGroup",
    "Concept",
    "ConcordanceUpTo",
    "DatasetManifest",
    "DecisionCurve",
    "EvaluatedOn",
    "Feature",
    "FeatureRange",
    "FeatureWindow",
    "FeaturesOf",
    "FollowUp",
    "HorizonMetrics",
    "IntegratedBrier",
    "Interval",
    "Marginal",
    "Metrics",
    "MetricsFile",
    "ModelInfo",
    "ModelManifest",
    "NullModel",
    "RecordedDefinition",
    "SplitInfo",
    "Subgroup",
    "SubgroupHorizon",
    "ValidationPredictions",
    "from_json",
    "read_attrition",
    "read_features",
    "read_manifest",
    "read_metrics",
    "read_model_info",
    "read_model_manifest",
    "read_validation_predictions",
    "to_json",
    "write_attrition",
    "write_features",
    "write_manifest",
    "write_metrics",
    "write_model_info",
    "write_model_manifest",
    "write_validation_predictions",
]

#: The format of model directories, the first key of ``model.json`` and of their manifest.
MODEL_FORMAT = "prognosis-model/2"

T = TypeVar("T")


#: A field that may be absent from the file: ``None`` then, and left out when ``None``
#: (``field(default=None, metadata=OPTIONAL)``).
OPTIONAL = types.MappingProxyType({"optional": True})
#: An optional dataclass field whose own fields sit in the parent's object.
_FLATTENED = types.MappingProxyType({"optional": True, "flatten": True})


# -- the dataset: features.json, attrition.json, manifest.json ----------------------------------
@dataclass(frozen=True)
class Concept:
    """A concept behind a feature, with its name in the source's ``concept`` table."""

    concept_id: int
    name: str | None


@dataclass(frozen=True)
class FeatureWindow:
    """The window (days relative to index) in which a feature looks for records; ``start``
    ``None``: all time before."""

    name: str
    start: int | None
    end: int | None


@dataclass(frozen=True)
class Feature:
    """One entry of ``features.json``: a dataset column and what it means.

    ``kind`` (``demographics``, ``index_concept``, ``concept_set``, ``domain``), ``statistic``
    (``age``, ``sex``, ``presence``, ``count``, ``last``), and a plain-language ``label``
    ("Peptic ulcer from 365 days before index to 1 day before index"). Every field is written;
    only ``name`` is needed to build one in code.
    """

    name: str
    kind: str | None = None
    statistic: str | None = None
    dtype: str | None = None
    domain: str | None = None
    concept_set: str | None = None
    concepts: tuple[Concept, ...] = ()
    window: FeatureWindow | None = None
    label: str | None = None


@dataclass(frozen=True)
class AttritionStep:
    """One row of ``attrition.json``: what is left after a step, and what it dropped."""

    step: str
    description: str
    persons: int
    index_events: int
    persons_dropped: int
    index_events_dropped: int


@dataclass(frozen=True)
class RecordedDefinition:
    """The cohort definition a dataset was built from: its path, hash and whole content
    (``CohortDefinition.model_dump``; :func:`prognosis.cohort.definition.parse_definition`
    reads it back)."""

    path: str | None
    sha256: str
    content: dict[str, Any]


@dataclass(frozen=True)
class BuildCounts:
    """Persons, index events, events by code ("0", "1", ...) and feature columns built."""

    persons: int
    index_events: int
    events: dict[str, int]
    features: int


@dataclass(frozen=True)
class FeaturesOf:
    """The model whose feature columns a dataset was built with (``--features-of``)."""

    model: str
    training_manifest_sha256: str
    model_name: str | None
    columns: int


@dataclass(frozen=True)
class DatasetManifest:
    """A dataset's ``manifest.json`` (also a model's ``training_manifest.json``).

    Every field is optional: a dataset folder without a manifest reads as the empty one.
    ``files`` holds the SHA-256 of ``dataset.parquet``, ``features.json`` and ``attrition.json``.
    """

    cohort: str | None = field(default=None, metadata=OPTIONAL)
    definition: RecordedDefinition | None = field(default=None, metadata=OPTIONAL)
    source: str | None = field(default=None, metadata=OPTIONAL)
    engine: str | None = field(default=None, metadata=OPTIONAL)
    build_date: str | None = field(default=None, metadata=OPTIONAL)
    created_at: str | None = field(default=None, metadata=OPTIONAL)
    counts: BuildCounts | None = field(default=None, metadata=OPTIONAL)
    versions: dict[str, str] | None = field(default=None, metadata=OPTIONAL)
    data_quality: tuple[str, ...] | None = field(default=None, metadata=OPTIONAL)
    features_of: FeaturesOf | None = field(default=None, metadata=OPTIONAL)
    build_seconds: float | None = field(default=None, metadata=OPTIONAL)
    files: dict[str, str] | None = field(default=None, metadata=OPTIONAL)


# -- the model: model.json ----------------------------------------------------------------------
@dataclass(frozen=True)
class SplitInfo:
    """The validation design: ``cv`` (``folds``), ``temporal`` (``cutoff``) or ``none``."""

    kind: str
    folds: int
    cutoff: str | None


@dataclass(frozen=True)
class FeatureRange:
    """The smallest and largest value of a numeric feature in training."""

    min: float
    max: float


@dataclass(frozen=True)
class ModelInfo:
    """What a model is (``model.json``, after its ``format``): family, parameters, seed,
    validation design, horizons (days), the kind of target, the training cohort and rows.

    ``feature_ranges`` is absent in models saved before ranges were stored; ``outcome`` in
    models of a one-outcome dataset.
    """

    model: str
    params: dict[str, Any]
    seed: int
    split: SplitInfo
    horizons: tuple[float, ...]
    competing: bool
    competing_censored: bool
    cohort: str | None
    training_rows: int
    training_events: int
    created_at: str
    versions: dict[str, str]
    feature_ranges: dict[str, FeatureRange] | None = field(default=None, metadata=OPTIONAL)
    #: The outcome modelled, of a dataset built from ``outcomes:``; absent for one outcome.
    outcome: str | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class ModelManifest:
    """A model directory's ``manifest.json``: its format, when it was written, and the SHA-256
    of every other file (checked by :func:`prognosis.models.store.load_model` before anything
    else is read)."""

    format: str
    created_at: str
    files: dict[str, str]


# -- the metrics: metrics.json ------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval (``None`` where it could not be computed).

    ``failed_resamples`` of the resamples were skipped; ``extended_to_estimate``: the interval
    was widened to reach the estimate.
    """

    estimate: float | None
    lower: float | None
    upper: float | None
    failed_resamples: int
    extended_to_estimate: bool


@dataclass(frozen=True)
class ConcordanceUpTo(Interval):
    """Uno's C, with the time ``tau`` it is truncated at (days; ``None``: no horizon left)."""

    tau: float | None


@dataclass(frozen=True)
class IntegratedBrier(Interval):
    """The integrated Brier score from ``start`` to ``stop`` (days); ``null_model``: that of the
    "marginal incidence (no model)" reference on the same grid (:class:`NullModel`; absent
    from older files)."""

    start: float
    stop: float
    null_model: Interval | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class Bootstrap:
    """How the intervals were computed: resamples, seed, alpha, method, resampled unit."""

    n_boot: int
    seed: int
    alpha: float
    method: str
    unit: str


@dataclass(frozen=True)
class FollowUp:
    """The span of times that can be evaluated (days)."""

    lower: float
    upper: float


@dataclass(frozen=True)
class Marginal:
    """Calibration in the large: the mean predicted risk against the observed risk."""

    mean_predicted: float | None
    observed: float | None
    observed_lower: float | None
    observed_upper: float | None


@dataclass(frozen=True)
class CalibrationGroup:
    """One row of a calibration table (a group of rows by predicted risk).

    ``predicted_min`` and ``predicted_max`` are the smallest and largest predicted risk in the
    group; files written before they were recorded lack them (``None``)."""

    group: int
    n: int
    mean_predicted: float | None
    observed: float | None
    observed_lower: float | None
    observed_upper: float | None
    predicted_min: float | None = field(default=None, metadata=OPTIONAL)
    predicted_max: float | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class Calibration:
    """Calibration at one horizon: slope, intercept, ICI, E50, E90 with intervals, the table
    and the smoothed curve (predicted, observed) points."""

    slope: Interval
    intercept: Interval
    ici: Interval
    e50: Interval
    e90: Interval
    table: tuple[CalibrationGroup, ...]
    curve: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit of the model (with its interval), of treating all and of treating none,
    per threshold probability."""

    horizon: float
    thresholds: tuple[float, ...]
    model: tuple[float | None, ...]
    treat_all: tuple[float | None, ...]
    treat_none: tuple[float | None, ...]
    event_rate: float | None
    model_lower: tuple[float | None, ...] | None
    model_upper: tuple[float | None, ...] | None
    failed_resamples: int


@dataclass(frozen=True)
class NullModel:
    """The "marginal incidence (no model)" reference at one horizon: everyone given the same
    risk, the outcome's Aalen-Johansen cumulative incidence (1 - Kaplan-Meier without competing
    events) in the training rows (each fold's own under cross-validation), scored like the
    model. ``risk``: that risk, averaged over the rows scored; ``brier``: its Brier score, the
    one a model must beat; ``ipa``: the model's index of prediction accuracy (scaled Brier
    score), 1 - Brier(model) / Brier(reference): 0 adds nothing, negative is worse."""

    risk: float | None
    brier: Interval
    ipa: Interval


@dataclass(frozen=True)
class HorizonMetrics:
    """Everything measured at one horizon (days); ``null_model`` is absent from files written
    before the reference was measured."""

    horizon: float
    time_dependent_auc: Interval
    brier: Interval
    marginal: Marginal
    calibration: Calibration
    decision_curve: DecisionCurve
    null_model: NullModel | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class SubgroupHorizon:
    """A subgroup's metrics at one horizon (days): the time-dependent AUC, and calibration in
    the large: the mean predicted risk, the observed risk (Kaplan-Meier, Aalen-Johansen under
    competing risks) and their ``difference`` (predicted - observed; positive: the model
    over-predicts), each with its interval (``None`` estimates where the group's follow-up does
    not reach the horizon)."""

    horizon: float
    time_dependent_auc: Interval
    mean_predicted: Interval
    observed: Interval
    difference: Interval


@dataclass(frozen=True)
class Subgroup:
    """Performance in one group of one variable (``variable`` "Sex", ``group`` "female").

    ``n`` rows, ``events`` outcome events over the follow-up, ``events_at_horizon`` by the first
    horizon; each ``None`` where it may not be published: 1 to 4 (named in ``small``, shown as
    ``<5``), or hidden so that no small count can be worked out by subtraction
    (:mod:`prognosis.evaluation.subgroups`). ``suppressed`` says why a group's metrics were not
    computed ("fewer than 5 events"); ``harrell_c`` is then ``None`` and ``horizons`` empty.
    """

    variable: str
    group: str
    n: int | None
    events: int | None
    events_at_horizon: int | None
    small: tuple[str, ...]
    suppressed: str | None
    harrell_c: Interval | None
    horizons: tuple[SubgroupHorizon, ...]


@dataclass(frozen=True)
class Metrics:
    """Every metric of one evaluation (:func:`prognosis.evaluation.summary.evaluate_predictions`).

    What the terminal table (``format_table``), ``prognosis compare`` and both reports show.
    Adding a metric is one field here plus its rendering. For example, a net reclassification
    index per horizon would be::

        @dataclass(frozen=True)
        class HorizonMetrics:
            ...
            reclassification: Interval          # the field, written to metrics.json

    filled in by ``evaluation/summary.py`` and shown by one more row in
    ``summary.format_table`` and ``report/model_report._metric_section``
    (``("Net reclassification", label, entry.reclassification)``); the reader, the writer and
    the file's checks follow from the field.
    """

    n_train: int
    n_test: int
    n_outcome_events: int
    competing: bool
    bootstrap: Bootstrap
    censoring_weights: str
    follow_up: FollowUp
    harrell_c: Interval
    uno_c: ConcordanceUpTo
    integrated_brier: IntegratedBrier | None
    horizons: tuple[HorizonMetrics, ...]
    notes: tuple[str, ...]
    #: performance by sex, age band, index concept and ``--subgroup`` columns; absent from
    #: files written before subgroups were measured
    subgroups: tuple[Subgroup, ...] | None = field(default=None, metadata=OPTIONAL)

    def with_notes(self, *notes: str) -> Metrics:
        """The same metrics with ``notes`` added at the end."""
        return dataclasses.replace(self, notes=(*self.notes, *notes))


@dataclass(frozen=True)
class EvaluatedOn:
    """What ``prognosis evaluate`` measured: the model, the dataset and its source, and
    ``in_sample`` (true when the dataset is the one the model was fitted on: the figures are
    then apparent, in-sample performance, not validation; absent from files written before)."""

    model: str
    dataset: str
    source: str | None
    in_sample: bool | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class MetricsFile:
    """A ``metrics.json``: a model directory's (``split``, then the validation ``results``
    unless the model was fitted without validation, then ``fit_seconds``), or one written by
    ``prognosis evaluate`` (``evaluated``, then ``results``).

    The fields of ``evaluated`` and ``results`` sit at the top of the file, beside the others.
    """

    evaluated: EvaluatedOn | None = field(default=None, metadata=_FLATTENED)
    split: str | None = field(default=None, metadata=OPTIONAL)
    results: Metrics | None = field(default=None, metadata=_FLATTENED)
    fit_seconds: float | None = field(default=None, metadata=OPTIONAL)


# -- the validation predictions: validation_predictions.parquet ---------------------------------
#: What the rows of each validation design are, in words (reports caption their figures so).
VALIDATION_DESIGNS = types.MappingProxyType(
    {"cv": "validation (out-of-fold) predictions", "temporal": "temporal test rows"}
)
_VALIDATION_KEY = b"prognosis.validation"
_VALIDATION_COLUMNS = ("row", "fold", "time", "event", "risk_score")


@dataclass(frozen=True, eq=False)
class ValidationPredictions:
    """The predictions a model's validation measured: ``validation_predictions.parquet``.

    One entry per validated row of the training dataset (every row under ``cv``, the test rows
    of a ``temporal`` split), in the order of ``row``:

    - ``row``: the row's position (from 0) in the training dataset's ``dataset.parquet``, the
      file whose SHA-256 is ``dataset_sha256`` (``None`` when it was not known); no person id;
    - ``fold``: the fold whose model predicted it (1 to K; 1 for the temporal split's model);
    - ``time``, ``event``: as observed, event coded as in the dataset (0 censored, 1 the
      outcome, 2 and up competing events, also for a model fitted with them censored);
    - ``risk_score``: the fold model's risk score (higher = worse), what Harrell's C orders;
    - ``risk``: shape (rows, len(``horizons``)), the predicted risk of the outcome by each
      horizon (days): 1 - S(t), or the outcome's cumulative incidence for a competing-risk
      model; the horizons are those ``metrics.json`` evaluated (clipped to the fold models'
      follow-up where it was shorter).

    ``design`` is ``"cv"`` or ``"temporal"`` (:data:`VALIDATION_DESIGNS`). In the file, the
    columns are ``row``, ``fold`` (int64), ``time``, ``event`` (int64), ``risk_score``, then
    ``risk_<h>`` per horizon (``h`` as ``{h:g}``); the design, the hash and the exact horizons
    are the schema metadata ``prognosis.validation`` (JSON).
    """

    design: str
    dataset_sha256: str | None
    horizons: tuple[float, ...]
    row: np.ndarray
    fold: np.ndarray
    time: np.ndarray
    event: np.ndarray
    risk_score: np.ndarray
    risk: np.ndarray

    @property
    def label(self) -> str:
        """What these predictions are, in words ("validation (out-of-fold) predictions")."""
        return VALIDATION_DESIGNS[self.design]

    def risk_at(self, horizon: float) -> np.ndarray:
        """The predicted risk by ``horizon``, one of :attr:`horizons`."""
        return self.risk[:, self.horizons.index(float(horizon))]


# -- readers and writers --------------------------------------------------------------------------
def read_manifest(
    path: Path, *, error: type[PrognosisError] = PrognosisError, hint: str = ""
) -> DatasetManifest:
    """Read a dataset ``manifest.json`` (or a model's ``training_manifest.json``).

    Raises
    ------
    PrognosisError
        ``error``, naming ``path`` and the field, when the file is unreadable or malformed.
    """
    return _read(path, DatasetManifest, error, hint)


def write_manifest(path: Path, manifest: DatasetManifest) -> None:
    """Write ``manifest`` atomically to ``path``."""
    _write(path, to_json(manifest))


def read_features(
    path: Path, *, error: type[PrognosisError] = PrognosisError, hint: str = ""
) -> tuple[Feature, ...]:
    """Read a ``features.json``: one :class:`Feature` per dataset column (see
    :func:`read_manifest` for the errors)."""
    return _read(path, tuple[Feature, ...], error, hint)


def write_features(path: Path, features: tuple[Feature, ...] | list[Feature]) -> None:
    """Write ``features`` atomically to ``path``."""
    _write(path, to_json(tuple(features)))


def read_attrition(
    path: Path, *, error: type[PrognosisError] = PrognosisError, hint: str = ""
) -> tuple[AttritionStep, ...]:
    """Read an ``attrition.json`` (see :func:`read_manifest` for the errors)."""
    return _read(path, tuple[AttritionStep, ...], error, hint)


def write_attrition(path: Path, steps: tuple[AttritionStep, ...] | list[AttritionStep]) -> None:
    """Write ``steps`` atomically to ``path``."""
    _write(path, to_json(tuple(steps)))


def read_model_info(
    path: Path, *, error: type[PrognosisError] = PrognosisError, hint: str = ""
) -> ModelInfo:
    """Read a ``model.json``, whose ``format`` must be :data:`MODEL_FORMAT` (see
    :func:`read_manifest` for the errors)."""
    data = read_json(Path(path), dict, error, hint=hint)
    if data.get("format") != MODEL_FORMAT:
        raise error(
            f"{path}: unknown model format {data.get('format')!r} (expected {MODEL_FORMAT})"
        )
    return _parse(path, ModelInfo, {k: v for k, v in data.items() if k != "format"}, error, hint)


def write_model_info(path: Path, info: ModelInfo) -> None:
    """Write ``info`` atomically to ``path``, after ``"format": MODEL_FORMAT``."""
    _write(path, {"format": MODEL_FORMAT, **to_json(info)})


def read_model_manifest(
    path: Path, *, error: type[PrognosisError] = PrognosisError, hint: str = ""
) -> ModelManifest:
    """Read a model directory's ``manifest.json`` (see :func:`read_manifest` for the errors)."""
    return _read(path, ModelManifest, error, hint)


def write_model_manifest(path: Path, manifest: ModelManifest) -> None:
    """Write ``manifest`` atomically to ``path``."""
    _write(path, to_json(manifest))


def read_metrics(
    path: Path, *, error: type[PrognosisError] = PrognosisError, hint: str = ""
) -> MetricsFile:
    """Read a ``metrics.json`` (see :func:`read_manifest` for the errors)."""
    return _read(path, MetricsFile, error, hint)


def write_metrics(path: Path, metrics: MetricsFile) -> None:
    """Write ``metrics`` atomically to ``path``."""
    _write(path, to_json(metrics))


def read_validation_predictions(
    path: Path, *, error: type[PrognosisError] = PrognosisError
) -> ValidationPredictions:
    """Read a model's ``validation_predictions.parquet`` (:class:`ValidationPredictions`).

    Raises
    ------
    PrognosisError
        ``error``, naming ``path`` and the column (or the metadata), when the file is not
        Parquet, lacks or adds a column, or holds a value of the wrong kind: a missing value,
        a non-integer row, fold or event, a negative or repeated row, a fold under 1, a time
        that is not positive, a risk score that is not finite, a risk outside 0 to 1.
    """
    try:
        table = pq.read_table(Path(path))
    except (OSError, ValueError, pa.ArrowException) as problem:
        raise error(f"{path}: cannot read (not a Parquet file: {problem})") from None
    design, sha256, horizons = _validation_header(path, table.schema.metadata or {}, error)
    expected = [*_VALIDATION_COLUMNS, *(_risk_column(h) for h in horizons)]
    if table.column_names != expected:
        raise error(
            f"{path}: expected the columns {', '.join(expected)}, found "
            f"{', '.join(table.column_names) or 'none'}"
        )
    values = {name: _validation_column(path, table, name, error) for name in expected}
    risks = [values[_risk_column(h)] for h in horizons]
    return ValidationPredictions(
        design=design,
        dataset_sha256=sha256,
        horizons=horizons,
        row=values["row"],
        fold=values["fold"],
        time=values["time"],
        event=values["event"],
        risk_score=values["risk_score"],
        risk=np.column_stack(risks) if risks else np.empty((table.num_rows, 0)),
    )


def write_validation_predictions(path: Path, predictions: ValidationPredictions) -> None:
    """Write ``predictions`` atomically to ``path`` (Parquet; see
    :class:`ValidationPredictions` for the columns and metadata)."""
    columns = {
        "row": pa.array(predictions.row, pa.int64()),
        "fold": pa.array(predictions.fold, pa.int64()),
        "time": pa.array(predictions.time, pa.float64()),
        "event": pa.array(predictions.event, pa.int64()),
        "risk_score": pa.array(predictions.risk_score, pa.float64()),
    }
    for j, horizon in enumerate(predictions.horizons):
        columns[_risk_column(horizon)] = pa.array(predictions.risk[:, j], pa.float64())
    header = {
        "design": predictions.design,
        "dataset_sha256": predictions.dataset_sha256,
        "horizons": list(predictions.horizons),
    }
    table = pa.table(columns).replace_schema_metadata(
        {_VALIDATION_KEY: json.dumps(header).encode()}
    )
    with atomic_file(Path(path)) as temporary:
        pq.write_table(table, temporary)


def _risk_column(horizon: float) -> str:
    return f"risk_{horizon:g}"


def _validation_header(
    path: Path, metadata: Mapping[bytes, bytes], error: type[PrognosisError]
) -> tuple[str, str | None, tuple[float, ...]]:
    """The design, dataset hash and horizons of the schema metadata ``prognosis.validation``."""
    where = f"{path}: schema metadata {_VALIDATION_KEY.decode()}"
    try:
        header = json.loads(metadata[_VALIDATION_KEY])
    except KeyError:
        raise error(f"{where} is missing: not a file prognosis fit wrote") from None
    except ValueError:
        raise error(f"{where}: not JSON") from None
    if not isinstance(header, dict) or set(header) != {"design", "dataset_sha256", "horizons"}:
        raise error(f"{where}: expected an object of design, dataset_sha256 and horizons")
    design, sha256, horizons = header["design"], header["dataset_sha256"], header["horizons"]
    if design not in VALIDATION_DESIGNS:
        raise error(f"{where}: design {design!r} is not one of {', '.join(VALIDATION_DESIGNS)}")
    if not (sha256 is None or isinstance(sha256, str)):
        raise error(f"{where}: dataset_sha256 must be a string or null, found {json_kind(sha256)}")
    numbers = isinstance(horizons, list) and all(
        isinstance(h, int | float) and not isinstance(h, bool) and h > 0 for h in horizons
    )
    if not numbers:
        raise error(f"{where}: horizons must be a list of positive numbers of days")
    return design, sha256, tuple(float(h) for h in horizons)


#: Per column of validation_predictions.parquet: must it hold integers, and the check of
#: its values (the test, what was expected).
_VALIDATION_CHECKS: dict[str, tuple[bool, Any, str]] = {
    "row": (True, lambda v: v >= 0, "positions from 0"),
    "fold": (True, lambda v: v >= 1, "fold numbers from 1"),
    "time": (False, lambda v: np.isfinite(v) & (v > 0), "times above 0 days"),
    "event": (True, lambda v: v >= 0, "event codes 0 (censored), 1 (outcome) or 2+"),
    "risk_score": (False, np.isfinite, "finite risk scores"),
}
_RISK_CHECK = (False, lambda v: np.isfinite(v) & (v >= 0) & (v <= 1), "risks from 0 to 1")


def _validation_column(
    path: Path, table: pa.Table, name: str, error: type[PrognosisError]
) -> np.ndarray:
    """Column ``name`` as a numpy array, checked (:data:`_VALIDATION_CHECKS`)."""
    integer, test, expected = _VALIDATION_CHECKS.get(name, _RISK_CHECK)
    column = table.column(name)
    kind = column.type
    if column.null_count or not (
        pa.types.is_integer(kind) or (not integer and pa.types.is_floating(kind))
    ):
        found = "missing values" if column.null_count else f"values of type {kind}"
        wanted = "integers" if integer else "numbers"
        raise error(f"{path}: column {name!r}: expected {wanted}, found {found}")
    values = column.to_numpy().astype(np.int64 if integer else np.float64)
    bad = np.flatnonzero(~test(values))
    if bad.size:
        raise error(
            f"{path}: column {name!r}: expected {expected}, found {values[bad[0]]} (entry {bad[0]})"
        )
    if name == "row" and np.unique(values).size != values.size:
        raise error(f"{path}: column 'row': a row of the training dataset appears twice")
    return values


def _read(path: Path, kind: Any, error: type[PrognosisError], hint: str) -> Any:
    shape = list if typing.get_origin(kind) is tuple else dict
    return _parse(path, kind, read_json(Path(path), shape, error, hint=hint), error, hint)


def _parse(path: Path, kind: Any, data: Any, error: type[PrognosisError], hint: str) -> Any:
    return from_json(kind, data, origin=str(path), error=error, hint=hint)


def _write(path: Path, data: Any) -> None:
    with atomic_file(Path(path)) as temporary:
        write_json(temporary, data)


# -- the conversion, driven by the dataclasses' fields and type hints --------------------------
def to_json(value: Any) -> Any:
    """``value`` (a dataclass of this module, a tuple of them, ...) as JSON-ready Python values:
    objects in field order, optional ``None`` fields left out, flattened fields merged in."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(value):
            item = getattr(value, spec.name)
            if item is None and spec.metadata.get("optional"):
                continue
            if spec.metadata.get("flatten"):
                out.update(to_json(item))
            else:
                out[spec.name] = to_json(item)
        return out
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    return value


class _Malformed(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(where, problem)
        self.where, self.problem = where, problem


def from_json(
    kind: type[T] | Any,
    data: Any,
    *,
    origin: str = "",
    error: type[PrognosisError] = PrognosisError,
    hint: str = "",
) -> T:
    """Parse ``data`` (parsed JSON) as ``kind``, a dataclass of this module or a type hint such
    as ``tuple[Feature, ...]``.

    Raises
    ------
    PrognosisError
        ``error`` naming ``origin`` (the file), the field and what was expected and found.
    """
    try:
        return _decode(kind, data, "")
    except _Malformed as problem:
        where = f" field {problem.where}:" if problem.where else ""
        tail = f"; {hint}" if hint else ""
        raise error(f"{origin or 'JSON'}:{where} {problem.problem}{tail}") from None


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}


def _decode(kind: Any, value: Any, where: str) -> Any:
    if kind is Any:
        return value
    if dataclasses.is_dataclass(kind):
        return _decode_object(kind, value, where)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _decode(inner, value, where)
    if origin is tuple:
        return _decode_array(args, value, where)
    if origin is dict:
        _expect(isinstance(value, dict), "an object", value, where)
        return {key: _decode(args[1], item, f"{where}.{key}") for key, item in value.items()}
    return _decode_scalar(kind, value, where)


def _decode_scalar(kind: type, value: Any, where: str) -> Any:
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    _expect(ok, _WORDS.get(kind, kind.__name__), value, where)
    return value  # as written: a whole number stays an int, so the bytes round-trip


def _decode_array(args: tuple[Any, ...], value: Any, where: str) -> tuple[Any, ...]:
    _expect(isinstance(value, list), "an array", value, where)
    if len(args) == 2 and args[1] is Ellipsis:
        items = args[0:1] * len(value)
    else:
        _expect(len(value) == len(args), f"an array of {len(args)}", value, where)
        items = args
    return tuple(
        _decode(item, v, f"{where}[{i}]")
        for i, (item, v) in enumerate(zip(items, value, strict=True))
    )


def _decode_object(kind: type, value: Any, where: str) -> Any:
    _expect(isinstance(value, dict), "an object", value, where)
    hints = _hints(kind)
    values: dict[str, Any] = {}
    used: set[str] = set()
    for spec in dataclasses.fields(kind):
        if spec.metadata.get("flatten"):
            inner = hints[spec.name]
            sub = next(a for a in typing.get_args(inner) if a is not type(None))
            names = [f.name for f in dataclasses.fields(sub)]
            present = [name for name in names if name in value]
            if present:
                values[spec.name] = _decode_object(sub, {n: value[n] for n in present}, where)
                used.update(present)
            continue
        path = f"{where}.{spec.name}" if where else spec.name
        if spec.name in value:
            values[spec.name] = _decode(hints[spec.name], value[spec.name], path)
            used.add(spec.name)
        elif not spec.metadata.get("optional"):
            raise _Malformed(path, "missing")
    unexpected = sorted(set(value) - used)
    if unexpected:
        names = ", ".join(repr(name) for name in unexpected)
        raise _Malformed(where, f"unexpected field(s) {names}")
    return kind(**values)


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _expect(ok: bool, expected: str, value: Any, where: str) -> None:
    if not ok:
        raise _Malformed(where, f"expected {expected}, found {json_kind(value)}")
