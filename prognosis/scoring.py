"""Apply a saved model to rows: risks for one patient straight from a CDM, SHAP values of a
dataset's rows (the same functions run per Spark partition in :mod:`prognosis.spark_scoring`)."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from prognosis.cohort.definition import parse_definition
from prognosis.cohort.person import person_features
from prognosis.cohort.sources import Source
from prognosis.exceptions import PrognosisError
from prognosis.models.store import SavedModel
from prognosis.training import check_schema, predict_frame

__all__ = ["background_rows", "explain_frame", "score_person"]

_KEYS = ["person_id", "index_date"]


def score_person(
    saved: SavedModel, source: Source, person_id: int, index_date: dt.date | None = None
) -> pd.DataFrame:
    """Risk at each horizon for one person, from the model's own cohort definition."""
    content = (saved.training_manifest.get("definition") or {}).get("content")
    if not content:
        raise PrognosisError(
            "the model's training manifest holds no cohort definition, so one person cannot be "
            "scored from a CDM; score a dataset instead"
        )
    definition = parse_definition(content, origin="the model's training manifest")
    row = person_features(
        definition, source, person_id, features=saved.features, index_date=index_date
    )
    return predict_frame(saved, row, origin=f"person {person_id}")


def explain_frame(
    saved: SavedModel, frame: pd.DataFrame, *, background: pd.DataFrame, origin: str
) -> pd.DataFrame:
    """SHAP values of every row: ``person_id``, ``index_date``, ``base_value`` and
    ``shap_<feature>`` per feature of the model, in the model's output unit (log hazard, log
    time or risk score: :func:`prognosis.explain.explain_model`), against ``background``."""
    from prognosis.explain import explain_model

    X = check_schema(saved, frame, origin=origin)
    reference = check_schema(saved, background, origin="the background rows")
    explanation = explain_model(saved.pipeline, X, background=reference)
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
