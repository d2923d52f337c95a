"""Fit, validate, evaluate and apply models on cohort datasets (what the CLI commands call).

* :func:`fit_model` fits a named model on a dataset under a validation design and returns a
  :class:`~prognosis.models.store.SavedModel` whose metrics are out-of-fold (``cv``), measured
  after the cut-off (``temporal``) or absent (``none``); with ``cv`` the saved model is refit on
  every row, with ``temporal`` it is the model trained before the cut-off. The predictions the
  metrics measured are kept with it (``SavedModel.validation``, saved as
  ``validation_predictions.parquet``), so that reports draw performance figures from them.
* :func:`evaluate_model` measures a saved model on any dataset (external validation when it was
  built from another source).
* :func:`predict_frame` gives each row's risk at every horizon.
* :func:`compare_models` fits several models on the same folds and tabulates them.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prognosis.artifacts import (
    EvaluatedOn,
    FeatureRange,
    Interval,
    Metrics,
    MetricsFile,
    ModelInfo,
    SplitInfo,
    ValidationPredictions,
)
from prognosis.cohort.definition import parse_recorded_definition
from prognosis.dataset import SURVIVAL_COLUMNS, CohortDataset, feature_frame
from prognosis.evaluation.censoring import censoring_frame
from prognosis.evaluation.metrics import REFERENCE, marginal_incidence
from prognosis.evaluation.subgroups import check_subgroup_columns, grouping_frame
from prognosis.evaluation.summary import evaluate_predictions
from prognosis.evaluation.validation import Split, persons_of, split_rows, temporal_overlap
from prognosis.exceptions import PrognosisError, SchemaError
from prognosis.feature_ranges import training_ranges
from prognosis.models.registry import make_model
from prognosis.models.store import SavedModel
from prognosis.models.target import check_target
from prognosis.outputs import package_versions

__all__ = [
    "PredictionColumn",
    "SchemaError",
    "compare_models",
    "evaluate_model",
    "fit_model",
    "is_training_data",
    "predict_frame",
    "prediction_columns",
    "risk_columns",
]

Progress = Callable[[str], None]
#: Called as ``(done, total)`` after each bootstrap resample of an evaluation.
Count = Callable[[int, int], None]


#: The note of every evaluation of a model fitted with competing events censored.
IGNORING_COMPETING = (
    "risk ignoring competing events: the model was fitted with competing events censored "
    "(--censor-competing), so its risks are 1 - S(t) of the cause-specific hazard; they are "
    "evaluated against the outcome's cumulative incidence with the competing events as they "
    "happened (Aalen-Johansen), which they overstate; use cause-specific-cox for cumulative "
    "incidences"
)


@dataclass
class _Predictions:
    """Test-row predictions from one or more fitted pipelines (one per fold)."""

    parts: list[tuple[Any, pd.DataFrame, np.ndarray]]  # (pipeline, X rows, positions)
    n: int
    competing: bool

    def risk_score(self) -> np.ndarray:
        out = np.empty(self.n)
        for pipeline, X, rows in self.parts:
            out[rows] = pipeline.predict(X)
        return out

    def follow_up(self) -> float:
        """The shortest training follow-up of the pipelines: no time past it is predicted."""
        return min(pipeline.max_time_ for pipeline, _, _ in self.parts)

    def survival(self, times: np.ndarray) -> np.ndarray:
        """P(no outcome by t): 1 - cumulative incidence of cause 1 under competing risks."""
        out = np.empty((self.n, len(np.atleast_1d(times))))
        for pipeline, X, rows in self.parts:
            if self.competing:
                out[rows] = 1.0 - pipeline.predict_cumulative_incidence(X, 1, times)
            else:
                out[rows] = pipeline.predict_survival(X, times)
        return out


def _check_horizons(
    horizons: Sequence[float], y: np.ndarray, of: str = "this dataset"
) -> list[float]:
    if not horizons:
        raise PrognosisError("give at least one --horizon (days), e.g. --horizon 365")
    longest = float(np.max(y["time"]))
    beyond = [h for h in horizons if h > longest]
    if beyond or any(h <= 0 for h in horizons):
        raise PrognosisError(
            f"horizon(s) {beyond or [h for h in horizons if h <= 0]} lie outside the follow-up "
            f"of {of} (1 to {longest:g} days); choose horizons inside it"
        )
    return sorted(float(h) for h in horizons)


def _fit(name: str, params: dict[str, Any], seed: int, X: pd.DataFrame, y: np.ndarray) -> Any:
    return make_model(name, seed=seed, **params).fit(X, y)


def fit_model(
    dataset: CohortDataset,
    model: str,
    horizons: Sequence[float],
    split: Split,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    n_boot: int = 200,
    progress: Progress | None = None,
    censor_competing: bool = False,
    censoring_covariates: Sequence[str] = (),
    subgroup_columns: Sequence[str] = (),
    bootstrap_progress: Count | None = None,
) -> SavedModel:
    """Fit ``model`` on ``dataset``, validated as ``split`` says.

    ``progress`` is called as each step starts, ``bootstrap_progress`` after each bootstrap
    resample of the validation metrics (:func:`evaluate_predictions`).

    ``censoring_covariates``: columns of a Cox model of the censoring time that gives the
    validation's IPCW weights (``--censoring-model cox:...``); empty: Kaplan-Meier.
    ``subgroup_columns``: categorical columns whose groups are validated too, besides sex, age
    bands and index concept (``--subgroup``; :mod:`prognosis.evaluation.subgroups`).

    ``censor_competing`` recodes competing events as censored for the fits (a cause-specific
    model of the outcome), so that a single-event model can be fitted to a dataset with
    competing events. Its predictions are the risk ignoring competing events, and they are
    validated against what they claim to predict, the outcome's cumulative incidence with the
    competing events as they happened (Aalen-Johansen), where they overstate it; the metrics'
    notes say so (:data:`IGNORING_COMPETING`).
    """
    say = progress or (lambda _message: None)
    params = dict(params or {})
    observed = dataset  # the outcome as it happened, competing events included
    if censor_competing:
        dataset = dataset.competing_censored()
    X, y, competing = dataset.X, dataset.y, dataset.competing
    check_target(y, competing=competing)
    y_observed = observed.y
    censoring_frame(dataset.frame, censoring_covariates)  # unknown columns fail before any work
    check_subgroup_columns(dataset.frame, dataset.features, subgroup_columns)
    chosen = _check_horizons(horizons, y)
    make_model(model, seed=seed, **params)  # unknown names and parameters fail before any work
    started = time.perf_counter()
    folds = split_rows(split, dataset.frame, seed=seed)
    final_rows = folds[0][0] if split.kind == "temporal" else np.arange(len(y))
    if split.kind == "temporal":  # the saved model predicts at the horizons: inside its data
        _check_horizons(horizons, y[final_rows], f"the training rows before {split.cutoff}")
    results = validation = None
    if folds:
        say(f"validate: {split.describe()}")
        predictions, train_rows = _validate(model, params, seed, X, y, folds, competing, say)
        test_rows = np.concatenate([test for _, test in folds])
        y_train = y_observed if split.kind == "cv" else y_observed[train_rows]
        scores = predictions.risk_score()
        say("compute metrics")
        results = evaluate_predictions(
            y_train,
            y_observed[test_rows],
            scores,
            predictions.survival,
            chosen,
            competing=observed.competing,
            n_boot=n_boot,
            seed=seed,
            groups=persons_of(dataset.frame)[test_rows],
            censoring_covariates=censoring_frame(
                dataset.frame.iloc[test_rows], censoring_covariates
            ),
            model_follow_up=predictions.follow_up(),
            subgroups=grouping_frame(
                dataset.frame.iloc[test_rows], dataset.features, subgroup_columns
            ),
            null_survival=_reference(y_observed, folds),
            progress=bootstrap_progress,
        )
        if censor_competing:
            results = results.with_notes(IGNORING_COMPETING)
        if excluded := temporal_overlap(split, dataset.frame):
            results = results.with_notes(
                f"temporal split: {excluded} rows indexed on or after {split.cutoff} belong to "
                "persons first indexed before it; they are used on neither side"
            )
        validation = _validation_predictions(split, folds, observed, predictions, scores, results)
    say("fit the final model" + (" on all rows" if split.kind != "temporal" else ""))
    pipeline = _fit(model, params, seed, X.iloc[final_rows], y[final_rows])
    metrics = MetricsFile(
        split=split.describe(),
        results=results,
        fit_seconds=round(time.perf_counter() - started, 3),
    )
    # what one-person scoring compares a new row with (prognosis.feature_ranges)
    ranges = training_ranges(X if split.kind != "temporal" else X.iloc[final_rows])
    info = _info(model, params, seed, split, chosen, competing, dataset, final_rows, ranges)
    return SavedModel(
        pipeline=pipeline,
        info=info,
        feature_schema=[{"name": c, "dtype": str(dataset.frame[c].dtype)} for c in X.columns],
        features=dataset.features,
        training_manifest=dataset.manifest,
        training_target=y[final_rows],
        metrics=metrics,
        validation=validation,
    )


def _reference(
    y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> Callable[[np.ndarray], np.ndarray]:
    """The "marginal incidence (no model)" reference for the test rows (in the order of the
    folds' test rows): 1 - the outcome's Aalen-Johansen incidence in each fold's training
    rows, the competing events as they happened."""

    def at(times: np.ndarray) -> np.ndarray:
        parts = [
            np.tile(1.0 - marginal_incidence(y[train], times), (len(test), 1))
            for train, test in folds
        ]
        return np.vstack(parts)

    return at


def _validation_predictions(
    split: Split,
    folds: list[tuple[np.ndarray, np.ndarray]],
    observed: CohortDataset,
    predictions: _Predictions,
    scores: np.ndarray,
    results: Metrics,
) -> ValidationPredictions:
    """The test rows' predictions that ``results`` measured, in the order of the dataset's
    rows: risk scores, and risks at the horizons evaluated (``1 - survival``, the outcome's
    cumulative incidence under competing risks, as the metrics took them)."""
    test_rows = np.concatenate([test for _, test in folds])
    fold = np.concatenate([np.full(len(test), k) for k, (_, test) in enumerate(folds, start=1)])
    horizons = tuple(float(entry.horizon) for entry in results.horizons)
    risk = (
        1.0 - predictions.survival(np.asarray(horizons))
        if horizons
        else np.empty((len(test_rows), 0))
    )
    order = np.argsort(test_rows, kind="stable")
    rows = test_rows[order]
    frame = observed.frame
    return ValidationPredictions(
        design=split.kind,
        dataset_sha256=_dataset_sha256(observed),
        horizons=horizons,
        row=rows,
        fold=fold[order],
        time=frame["time"].to_numpy(dtype=float)[rows],
        event=frame["event"].to_numpy().astype(np.int64)[rows],
        risk_score=scores[order],
        risk=risk[order],
    )


def _dataset_sha256(dataset: CohortDataset) -> str | None:
    """The SHA-256 of the dataset's ``dataset.parquet``: as its manifest records it, else of
    the file (``None`` for rows that are not a file on disk)."""
    recorded = (dataset.manifest.files or {}).get("dataset.parquet")
    if recorded or not (dataset.path / "dataset.parquet").exists():
        return recorded
    return dataset.file_sha256


def _validate(
    model: str,
    params: dict[str, Any],
    seed: int,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    competing: bool,
    say: Progress,
) -> tuple[_Predictions, np.ndarray]:
    parts = []
    offset = 0
    for number, (train, test) in enumerate(folds, start=1):
        say(f"fit fold {number} of {len(folds)}")
        pipeline = _fit(model, params, seed, X.iloc[train], y[train])
        parts.append((pipeline, X.iloc[test], np.arange(offset, offset + len(test))))
        offset += len(test)
    return _Predictions(parts, offset, competing), folds[0][0]


def _info(
    model: str,
    params: dict[str, Any],
    seed: int,
    split: Split,
    horizons: list[float],
    competing: bool,
    dataset: CohortDataset,
    rows: np.ndarray,
    ranges: dict[str, FeatureRange],
) -> ModelInfo:
    return ModelInfo(
        model=model,
        params=params,
        seed=seed,
        split=SplitInfo(kind=split.kind, folds=split.folds, cutoff=_iso(split.cutoff)),
        horizons=tuple(horizons),
        competing=competing,
        competing_censored="competing_event" in set(dataset.frame["censor_reason"].dropna()),
        cohort=dataset.manifest.cohort,
        training_rows=len(rows),
        training_events=int(np.sum(dataset.frame["event"].to_numpy()[rows] == 1)),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        versions=package_versions(
            ("prognosis", "scikit-learn", "scikit-survival", "lifelines", "xgboost", "numpy")
        ),
        feature_ranges=ranges,
        outcome=dataset.outcome,
    )


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def check_schema(saved: SavedModel, frame: pd.DataFrame, *, origin: str) -> pd.DataFrame:
    """The model's feature columns of ``frame``, in order; name missing or extra columns."""
    expected = saved.feature_names
    present = [c for c in frame.columns if c not in SURVIVAL_COLUMNS]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in present if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {', '.join(missing[:10])}")
        if extra:
            parts.append(f"unexpected {len(extra)}: {', '.join(extra[:10])}")
        raise SchemaError(
            f"{origin} does not match the model's feature schema ({'; '.join(parts)}); "
            f"{_rebuild_hint(saved)}"
        )
    return feature_frame(frame, expected)


def _rebuild_hint(saved: SavedModel) -> str:
    """How to get the model's columns: domain-wide features are chosen by prevalence in the
    cohort being built, so a build on another source picks other concepts."""
    recorded = saved.training_manifest.definition
    definition = (recorded.path if recorded else None) or "DEFINITION"
    return (
        "domain-wide features are chosen by prevalence in the cohort being built, so another "
        "source gives other columns: rebuild the dataset with the definition the model was "
        f"trained on and the model's columns, `prognosis cohort build {definition} --source "
        "SOURCE --features-of MODEL_DIR`"
    )


def evaluate_model(
    saved: SavedModel,
    dataset: CohortDataset,
    *,
    n_boot: int = 200,
    seed: int = 0,
    censoring_covariates: Sequence[str] = (),
    subgroup_columns: Sequence[str] = (),
    bootstrap_progress: Count | None = None,
) -> MetricsFile:
    """Metrics of a saved model on ``dataset`` (held-out, temporal or external data), also by
    sex, age band, index concept and each of ``subgroup_columns``
    (:mod:`prognosis.evaluation.subgroups`).

    ``bootstrap_progress`` is called after each bootstrap resample (:func:`evaluate_predictions`).

    The predictions are measured against the outcome as it happened: with the competing events
    of ``dataset`` as competing events (Aalen-Johansen), also for a single-event model, whose
    risks then ignore them (the notes say so).
    """
    X = check_schema(saved, dataset.frame, origin=str(dataset.path))
    check_subgroup_columns(dataset.frame, dataset.features, subgroup_columns)
    model_competing = saved.info.competing
    predictions = _Predictions([(saved.pipeline, X, np.arange(len(X)))], len(X), model_competing)
    competing = model_competing or dataset.competing
    train = saved.training_target
    metrics = evaluate_predictions(
        train if competing else _boolean(train),
        dataset.y if competing else _boolean(dataset.y),
        predictions.risk_score(),
        predictions.survival,
        saved.info.horizons,
        competing=competing,
        n_boot=n_boot,
        seed=seed,
        groups=persons_of(dataset.frame),
        censoring_covariates=censoring_frame(dataset.frame, censoring_covariates),
        model_follow_up=saved.pipeline.max_time_,
        subgroups=grouping_frame(dataset.frame, dataset.features, subgroup_columns),
        progress=bootstrap_progress,
    )
    if competing and not model_competing:
        metrics = metrics.with_notes(IGNORING_COMPETING)
    evaluated = EvaluatedOn(
        saved.info.model,
        str(dataset.path),
        dataset.manifest.source,
        in_sample=is_training_data(saved, dataset),
    )
    return MetricsFile(evaluated=evaluated, results=metrics)


def is_training_data(saved: SavedModel, dataset: CohortDataset) -> bool:
    """Whether ``dataset`` holds the very rows ``saved`` was fitted on (its ``dataset.parquet``
    has the hash the training manifest recorded): figures measured on it are apparent
    (in-sample), not validation."""
    trained = (saved.training_manifest.files or {}).get("dataset.parquet")
    return bool(trained) and trained == dataset.file_sha256


def _boolean(y: np.ndarray) -> np.ndarray:
    target = np.empty(len(y), dtype=[("event", "?"), ("time", "<f8")])
    target["event"], target["time"] = np.asarray(y["event"]) == 1, y["time"]
    return target


def predict_frame(saved: SavedModel, frame: pd.DataFrame, *, origin: str) -> pd.DataFrame:
    """``person_id``, ``index_date`` (when present) and the columns of :func:`risk_columns`."""
    X = check_schema(saved, frame, origin=origin)
    out = frame[[c for c in ("person_id", "index_date") if c in frame.columns]].copy()
    for column in prediction_columns(saved):
        if column.cause == 1:
            out[column.name] = saved.pipeline.predict_risk(X, column.horizon)
        else:
            incidence = saved.pipeline.predict_cumulative_incidence(
                X, column.cause, [column.horizon]
            )
            out[column.name] = incidence[:, 0]
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class PredictionColumn:
    """One column of :func:`predict_frame`: the cumulative incidence of ``cause`` (1: the
    outcome, 2: the competing events) by ``horizon`` days."""

    name: str
    cause: int
    horizon: float


def prediction_columns(saved: SavedModel) -> list[PredictionColumn]:
    """``risk_<h>`` per horizon (the outcome's risk; ``risk_ignoring_competing_<h>`` for a model
    fitted with competing events censored: what it is), then, for a competing-risk model, each
    competing event's cumulative incidence ``incidence_<name>_<h>``, for every competing event
    code the model gives an incidence of (``incidence_causes()``: 2, 3, ... for cause-specific
    families, none for Fine-Gray), ``name`` the definition's competing event of that code
    (``competing``, or ``competing_<k>`` for the k-th of several, when the definition is not
    recorded)."""
    horizons = saved.info.horizons
    prefix = "risk_ignoring_competing" if saved.info.competing_censored else "risk"
    columns = [PredictionColumn(f"{prefix}_{h:g}", 1, h) for h in horizons]
    if saved.info.competing:
        estimator = saved.pipeline.steps[-1][1]
        codes = [code for code in estimator.incidence_causes() if code >= 2]
        names = _competing_names(saved, codes)
        columns += [
            PredictionColumn(f"incidence_{names[code]}_{h:g}", code, h)
            for code in codes
            for h in horizons
        ]
    return columns


def risk_columns(saved: SavedModel) -> list[str]:
    """The names of the prediction columns (:func:`prediction_columns`)."""
    return [column.name for column in prediction_columns(saved)]


def _competing_names(saved: SavedModel, codes: Sequence[int]) -> dict[int, str]:
    """Each competing event code's name in the training definition, as a column-name word."""
    definition = parse_recorded_definition(saved.training_manifest, saved.info.outcome)
    names = [event.name for event in definition.competing_events] if definition else []
    out = {}
    for code in codes:
        named = names[code - 2] if code - 2 < len(names) else ""
        word = re.sub(r"\W+", "_", named).strip("_").lower()
        out[code] = word or ("competing" if len(codes) == 1 else f"competing_{code - 1}")
    return out


def compare_models(
    dataset: CohortDataset,
    models: Sequence[str],
    horizons: Sequence[float],
    split: Split,
    *,
    seed: int = 0,
    n_boot: int = 0,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Fit each model on the same folds; one summary row per model, after the row of the
    "marginal incidence (no model)" reference: everyone given the
    outcome's Aalen-Johansen risk in the training rows, scored on the same folds. Its
    concordance is 0.5 by construction (it ranks nobody), its Brier score the one a model must
    beat; ``ipa`` is each model's scaled Brier score, 1 - Brier(model) / Brier(reference)."""
    rows = []
    for name in models:
        started = time.perf_counter()
        saved = fit_model(
            dataset, name, horizons, split, seed=seed, n_boot=n_boot, progress=progress
        )
        rows.append(
            {
                "model": name,
                **_summary_row(saved.metrics.results),
                "fit_seconds": round(time.perf_counter() - started, 2),
            }
        )
        if len(rows) == 1:  # the same folds for every model: the reference's figures are one
            rows.insert(0, {"model": REFERENCE, **_reference_row(saved.metrics.results)})
    return rows


def _reference_row(results: Metrics | None) -> dict[str, float | None]:
    """The reference's row of ``compare``: C 0.5, its integrated and first-horizon Brier score,
    IPA 0 (itself), no calibration slope (one risk for everyone has no spread to measure)."""
    row: dict[str, float | None] = {**dict.fromkeys(_COMPARED), "fit_seconds": None}
    first = results.horizons[0] if results and results.horizons else None
    if results is None or first is None or first.null_model is None:
        return row
    ibs = results.integrated_brier
    reference = ibs.null_model if ibs else None
    return {
        **row,
        "harrell_c": 0.5,
        "uno_c": 0.5,
        "integrated_brier": _estimate(reference),
        "horizon": first.horizon,
        "brier": first.null_model.brier.estimate,
        "ipa": 0.0,
    }


def _summary_row(results: Metrics | None) -> dict[str, float | None]:
    """A model's row of ``compare``: its C indices and IBS, and at the first horizon its Brier
    score, IPA and calibration slope."""
    if results is None:  # fitted without validation
        return dict.fromkeys(_COMPARED)
    first = results.horizons[0] if results.horizons else None
    null = first.null_model if first else None
    return {
        "harrell_c": results.harrell_c.estimate,
        "uno_c": results.uno_c.estimate,
        "integrated_brier": _estimate(results.integrated_brier),
        "horizon": first.horizon if first else None,
        "brier": first.brier.estimate if first else None,
        "ipa": null.ipa.estimate if null else None,
        "calibration_slope": first.calibration.slope.estimate if first else None,
    }


_COMPARED = (
    "harrell_c",
    "uno_c",
    "integrated_brier",
    "horizon",
    "brier",
    "ipa",
    "calibration_slope",
)


def _estimate(entry: Interval | None) -> float | None:
    return None if entry is None else entry.estimate
