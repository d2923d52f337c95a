"""Score one patient straight from a CDM with a saved model."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from prognosis.cohort.definition import parse_definition
from prognosis.cohort.person import person_features
from prognosis.cohort.sources import Source
from prognosis.exceptions import PrognosisError
from prognosis.models.store import SavedModel
from prognosis.training import predict_frame

__all__ = ["score_person"]


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
