"""Patients of a landmark model scored on the day of the report, besides their landmarks.

``prognosis report patients MODEL DATASET --source URL --as-of DATE`` adds to the page of each
patient's latest landmark a last step of their course: the patient as a landmark row on DATE
(:func:`prognosis.cohort.person.person_features_as_of`: features, and the time since entry, as
of that day), when they are at risk then. The step shows the day after entry only, never a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prognosis.cohort.definition import parse_recorded_definition
from prognosis.cohort.person import person_features_as_of
from prognosis.cohort.sources import Source
from prognosis.exceptions import CohortError, PrognosisError
from prognosis.models.store import SavedModel
from prognosis.report.trajectory import LANDMARK, Today
from prognosis.training import check_schema

__all__ = ["TodaySource", "latest_rows", "todays_of"]


@dataclass(frozen=True)
class TodaySource:
    """The CDM to read each patient from, and the day to score them on."""

    source: Source
    as_of: dt.date


def latest_rows(frame: pd.DataFrame) -> set[int]:
    """The positions of each person's latest landmark row (of each entry)."""
    keys = frame["person_id"].astype(str) + "|" + frame["entry_date"].astype(str)
    latest = frame.assign(_key=keys.to_numpy(), _pos=np.arange(len(frame)))
    return set(latest.sort_values(LANDMARK).groupby("_key")["_pos"].last().astype(int))


def todays_of(
    saved: SavedModel,
    frame: pd.DataFrame,
    rows: np.ndarray,
    today: TodaySource,
    say: Callable[[str], None],
) -> list[Today | None]:
    """For each of ``rows`` that is its person's latest landmark row, the person scored on
    ``today.as_of`` (``None`` for the other rows, and where the person is not at risk then).

    Raises
    ------
    PrognosisError
        When the model's cohort has no landmarks, or its training manifest no definition.
    """
    definition = parse_recorded_definition(saved.training_manifest, saved.info.outcome)
    if LANDMARK not in frame.columns or definition is None or definition.landmarks is None:
        raise PrognosisError(
            "--source and --as-of add the day of the report to the course of a landmark "
            "model's patients; this model's cohort has no landmarks"
        )
    latest = latest_rows(frame)
    chosen = [int(row) for row in rows if int(row) in latest]
    say(f"score {len(chosen)} patients on {today.as_of.isoformat()} from the CDM")
    found: dict[int, Today | None] = {}
    for row in chosen:
        person = int(frame["person_id"].iat[row])
        try:
            features = person_features_as_of(
                definition, today.source, person, today.as_of, features=saved.features
            )
        except CohortError:  # not at risk then: the page says so, without the reason's dates
            found[row] = None
            continue
        X = check_schema(saved, features, origin=f"person {person} on {today.as_of}")
        found[row] = Today(day=int(features[LANDMARK].iat[0]), X=X)
    return [found.get(int(row)) for row in rows]
