"""A patient's risk through the course of the disease, for a model of a landmark cohort.

A landmark dataset holds one row per person and landmark (``landmark``: days after the
``entry_date``) at which they were still at risk (docs/cohorts.md#landmarks). For a patient's
page, :func:`trajectories` gathers the rows of the same person and entry up to the page's own
landmark: the predicted risk by the first horizon at each, and, between one landmark and the
next, the factors whose contribution to that risk changed most (a diagnosis recorded, a
treatment started or stopped, a laboratory value that moved), from the same explanations in
percentage points as the page's drivers (:mod:`prognosis.report.shap_drivers`). The factors
shown are those whose value changed (up to three, the largest changes first); ``other`` is what
the rest moved together (factors whose value did not change move too, through their interplay
with those that did, in models with interactions), so that the moves and ``other`` add up to
the change of the risk exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prognosis.models.store import SavedModel
from prognosis.report import shap_drivers

__all__ = ["LANDMARK", "Move", "Today", "TrajectoryStep", "trajectories"]

#: The column of a landmark dataset's landmark, in days after entry.
LANDMARK = "landmark"
_MOVES = 3  # factors shown per change, the largest first
_LEAST = 5e-4  # a change below 0.05 percentage points (what one decimal shows) is not shown


@dataclass(frozen=True)
class Move:
    """A factor whose value changed from one landmark to the next: the factor, its value before
    and now, in clinical words, and the change it made to the risk (a probability)."""

    factor: str
    before: str
    now: str
    change: float


def _move(before: str, now: str, change: float) -> Move:
    """The factor's two labels ("eGFR ...: 61" and "eGFR ...: 48") as one factor and its
    values; labels that do not share their title stay whole."""
    title, _, was = before.partition(": ")
    same, _, value = now.partition(": ")
    if was and value and title == same:
        return Move(title, was, value, change)
    return Move("", before, now, change)


@dataclass(frozen=True)
class TrajectoryStep:
    """The risk by the first horizon at one landmark; with ``change``, ``moves`` and ``other``
    since the previous landmark of the same person (none at the first)."""

    landmark: int
    risk: float
    change: float | None = None
    moves: tuple[Move, ...] = ()
    other: float = 0.0
    today: bool = False  # the day of the report, not a landmark of the dataset


@dataclass(frozen=True)
class Today:
    """A patient scored on the day of the report (``prognosis report patients --source --as-of``):
    the day after entry and the model's features on it."""

    day: int
    X: pd.DataFrame  # one row, the model's feature columns


def trajectories(
    saved: SavedModel,
    frame: pd.DataFrame,
    X: pd.DataFrame,
    rows: np.ndarray,
    background: pd.DataFrame,
    today: Sequence[Today | None] = (),
) -> list[list[TrajectoryStep]]:
    """Each of ``rows``' trajectory: its person's landmark rows of the same entry, up to its own
    landmark, in landmark order, then its ``today`` step where there is one (empty lists for a
    dataset without landmarks, or when the model cannot be explained).

    Parameters
    ----------
    saved : the model
    frame : the dataset's rows (``person_id``, ``entry_date``, ``landmark``)
    X : the model's features of ``frame``'s rows
    rows : the rows that get a page (positions in ``frame``)
    background : the reference rows of the explanations (as the pages' drivers)
    today : for each of ``rows``, the patient on the day of the report, or ``None``
    """
    if LANDMARK not in frame.columns or not len(rows):
        return [[] for _ in rows]
    course = _courses(frame, rows)
    needed = np.unique(np.concatenate(course))
    todays = list(today) or [None] * len(rows)
    extra = [t.X for t in todays if t is not None]
    explained = shap_drivers.explain_rows(
        saved, pd.concat([X.iloc[needed], *extra], ignore_index=True), background=background
    )
    if isinstance(explained, shap_drivers.Unavailable):
        return [[] for _ in rows]
    points = explained.group_points(float(saved.info.horizons[0]))
    if isinstance(points, shap_drivers.Unavailable):
        return [[] for _ in rows]
    risk = explained.risk_points(float(saved.info.horizons[0]))
    assert not isinstance(risk, shap_drivers.Unavailable)
    at = {int(row): k for k, row in enumerate(needed)}
    landmark = frame[LANDMARK].to_numpy()
    next_extra = iter(range(len(needed), len(needed) + len(extra)))
    out = []
    for rows_of, patient_today in zip(course, todays, strict=True):
        positions, days = [at[int(r)] for r in rows_of], list(landmark[rows_of])
        if patient_today is not None:
            positions.append(next(next_extra))
            days.append(patient_today.day)
        steps = _steps(positions, np.asarray(days), risk.risk, points, explained)
        if patient_today is not None:
            steps[-1] = dataclasses.replace(steps[-1], today=True)
        out.append(steps)
    return out


def _courses(frame: pd.DataFrame, rows: np.ndarray) -> list[np.ndarray]:
    """Each row's person's rows of the same entry, up to its landmark, in landmark order."""
    keys = frame[["person_id", "entry_date"]].astype(str).agg("|".join, axis=1).to_numpy()
    landmark = frame[LANDMARK].to_numpy()
    by_key: dict[str, np.ndarray] = {}
    for key in np.unique(keys[rows]):
        same = np.flatnonzero(keys == key)
        by_key[key] = same[np.argsort(landmark[same], kind="stable")]
    return [by_key[keys[row]][landmark[by_key[keys[row]]] <= landmark[row]] for row in rows]


def _steps(
    explained_rows: list[int],
    landmarks: np.ndarray,
    risks: np.ndarray,
    points: np.ndarray,
    explained: shap_drivers.RowExplanations,
) -> list[TrajectoryStep]:
    steps = [TrajectoryStep(int(landmarks[0]), float(risks[explained_rows[0]]))]
    for k in range(1, len(explained_rows)):
        before, now = explained_rows[k - 1], explained_rows[k]
        change = points[now] - points[before]
        moved = [
            g
            for g in np.argsort(-np.abs(change), kind="stable")
            if abs(change[g]) >= _LEAST and explained.label(before, g) != explained.label(now, g)
        ][:_MOVES]
        moves = tuple(
            _move(explained.label(before, g), explained.label(now, g), float(change[g]))
            for g in moved
        )
        total = float(risks[now] - risks[before])
        steps.append(
            TrajectoryStep(
                int(landmarks[k]),
                float(risks[now]),
                change=total,
                moves=moves,
                other=total - sum(move.change for move in moves),
            )
        )
    return steps
