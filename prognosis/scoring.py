"""Apply a saved model to rows: risks for one patient straight from a CDM, SHAP values of a
dataset's rows (the same functions run per Spark partition in :mod:`prognosis.spark_scoring`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from prognosis.cohort.definition import parse_definition
from prognosis.cohort.person import person_features, person_features_as_of
from prognosis.cohort.sources import Source
from prognosis.exceptions import CohortError, PrognosisError, ScoringWarning
from prognosis.feature_ranges import outside_ranges
from prognosis.models.store import SavedModel
from prognosis.training import check_schema, predict_frame

__all__ = ["background_rows", "explain_frame", "score_person"]

_KEYS = ["person_id", "index_date"]


def score_person(
    saved: SavedModel,
    source: Source,
    person_id: int,
    index_date: dt.date | None = None,
    *,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Risk at each horizon for one person, from the model's own cohort definition.

    With ``index_date``, the date is checked against the person's birth, death and observation
    periods first (:mod:`prognosis.cohort.person_dates`). With ``as_of``, for a model of a
    landmark cohort, the person is scored as a landmark row on that day
    (:func:`prognosis.cohort.person.person_features_as_of`: an error when they are not at risk
    then); without either, a landmark model scores the person at each landmark of the
    definition at which they are at risk (one row each). A :class:`ScoringWarning` names each
    feature (age included) that lies outside the range seen in training, for models that
    stored their ranges (``feature_ranges`` in ``model.json``; older models skip the check).

    Raises
    ------
    ScoringError
        When the index date precedes birth, follows death, or lies outside every
        observation period.
    CohortError
        Without ``index_date``, when the person is not in the model's cohort; with ``as_of``,
        when they are not at risk on that day; ``index_date`` with a landmark model, or
        ``as_of`` with any other.
    """
    recorded = saved.training_manifest.definition
    content = recorded.content if recorded else None
    if not content:
        raise PrognosisError(
            "the model's training manifest holds no cohort definition, so one person cannot be "
            "scored from a CDM; score a dataset instead"
        )
    recorded_definition = parse_definition(content, origin="the model's training manifest")
    definition = recorded_definition.for_outcome(saved.info.outcome)
    if as_of is not None:
        row = person_features_as_of(definition, source, person_id, as_of, features=saved.features)
    elif index_date is not None and definition.landmarks is not None:
        raise CohortError(
            f"cohort '{definition.name}' has landmarks: score the person on a day of their "
            "course with --as-of DATE (features and the time since entry as of that day)"
        )
    else:
        row = person_features(
            definition, source, person_id, features=saved.features, index_date=index_date
        )
    _warn_outside_training(saved, row, person_id)
    return predict_frame(saved, row, origin=f"person {person_id}")


def _warn_outside_training(saved: SavedModel, row: pd.DataFrame, person_id: int) -> None:
    outside = outside_ranges(row.iloc[0], saved.info.feature_ranges)
    if outside:
        shown = "; ".join(outside[:10]) + (
            f"; and {len(outside) - 10} more" if len(outside) > 10 else ""
        )
        warnings.warn(
            ScoringWarning(
                f"person {person_id} lies outside the training data in {len(outside)} "
                f"feature(s): {shown}; the model never saw such values, so its risks for this "
                "person are extrapolations: read them with care"
            ),
            stacklevel=3,
        )


def explain_frame(
    saved: SavedModel,
    frame: pd.DataFrame,
    *,
    background: pd.DataFrame,
    origin: str,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """SHAP values of every row: ``person_id``, ``index_date``, ``base_value`` and
    ``shap_<feature>`` per feature of the model, in the model's output unit (log hazard, log
    time or risk score: :func:`prognosis.explain.explain_model`), against ``background``;
    ``progress(done, total)`` after each chunk of rows."""
    from prognosis.explain import explain_model

    X = check_schema(saved, frame, origin=origin)
    reference = check_schema(saved, background, origin="the background rows")
    explanation = explain_model(saved.pipeline, X, background=reference, progress=progress)
    position = {name: j for j, name in enumerate(explanation.feature_names)}
    columns = {key: frame[key].to_numpy() for key in _KEYS if key in frame.columns}
    columns["base_value"] = explanation.base_values
    for name in saved.feature_names:
        columns[f"shap_{name}"] = explanation.values[:, position[name]]
    return pd.DataFrame(columns)


def background_rows(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """The reference rows of an explanation: the ``rows`` rows with the smallest SHA-256 of
    ``"seed:person_id:index_date"``. A pseudo-random sample that Spark draws identically
    (``sha2`` in SQL) without numbering the rows of a distributed dataset."""
    dates = pd.to_datetime(frame["index_date"]).dt.strftime("%Y-%m-%d")
    keys = [
        hashlib.sha256(f"{seed}:{person}:{day}".encode()).hexdigest()
        for person, day in zip(frame["person_id"], dates, strict=True)
    ]
    order = np.argsort(np.asarray(keys), kind="stable")[:rows]
    return frame.iloc[order].reset_index(drop=True)
