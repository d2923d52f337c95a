"""Validation designs: k-fold cross-validation, a temporal split, or none.

``--split cv`` (or ``cv:K``) gives out-of-fold predictions for every row, folds of persons
stratified by event; ``--split temporal:YYYY-MM-DD`` trains on persons first indexed before the
date and tests on persons first indexed on or after it; ``--split none`` fits on everything and
measures nothing. Rows of one person never sit on both sides.
External validation is not a split: evaluate a saved model on a dataset built from another
source (``prognosis evaluate MODEL_DIR OTHER_DATASET_DIR``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from prognosis.exceptions import SplitError

__all__ = [
    "Split",
    "SplitError",
    "parse_split",
    "persons_of",
    "split_rows",
    "temporal_overlap",
]


@dataclass(frozen=True)
class Split:
    """A validation design."""

    kind: str  # "cv", "temporal" or "none"
    folds: int = 5
    cutoff: dt.date | None = None

    def describe(self) -> str:
        if self.kind == "cv":
            return f"{self.folds}-fold cross-validation by person (out-of-fold predictions)"
        if self.kind == "temporal":
            return (
                f"temporal split by person: trained on persons first indexed before "
                f"{self.cutoff}, tested on persons first indexed on or after it"
            )
        return "none (fitted on all rows, not validated)"


def parse_split(text: str) -> Split:
    """``cv``, ``cv:K``, ``temporal:YYYY-MM-DD`` or ``none``."""
    kind, _, value = text.partition(":")
    if kind == "none" and not value:
        return Split("none")
    if kind == "cv":
        folds = int(value) if value.isdigit() else 5 if not value else -1
        if folds < 2:
            raise SplitError(f"split {text!r}: use cv or cv:K with K >= 2 folds")
        return Split("cv", folds=folds)
    if kind == "temporal":
        try:
            return Split("temporal", cutoff=dt.date.fromisoformat(value))
        except ValueError:
            raise SplitError(f"split {text!r}: use temporal:YYYY-MM-DD") from None
    raise SplitError(f"unknown split {text!r}; use cv, cv:K, temporal:YYYY-MM-DD or none")


def split_rows(
    split: Split, frame: pd.DataFrame, *, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) pairs; positions into ``frame``.

    The person is the unit of independence: all rows of one ``person_id`` (several index
    dates with ``occurrence: all``, landmarks) fall on the same side of every split.
    Cross-validation folds are ``StratifiedKFold`` over persons, stratified on whether the
    person has an event (with one row per person: the same folds as over the rows). The
    temporal split sends each person to the side of their first index date; the rows of a
    person first indexed before the cutoff that are indexed on or after it are used on
    neither side (see :func:`temporal_overlap`).
    """
    if split.kind == "none":
        return []
    persons = persons_of(frame)
    if split.kind == "temporal":
        return [_temporal(split.cutoff, frame, persons)]
    # Folds of persons (in order of first appearance), stratified on whether the person has
    # an event: with one row per person these are the folds of the rows themselves.
    codes, people = pd.factorize(persons)
    has_event = np.zeros(len(people), dtype=bool)
    np.logical_or.at(has_event, codes, frame["event"].to_numpy() > 0)
    if min(has_event.sum(), (~has_event).sum()) < split.folds:
        raise SplitError(
            f"{split.folds}-fold cross-validation needs at least {split.folds} persons with "
            f"an event and {split.folds} without; the dataset has {int(has_event.sum())} of "
            f"{len(people)} persons with an event ({len(frame)} rows)"
        )
    folds = StratifiedKFold(n_splits=split.folds, shuffle=True, random_state=seed)
    rows = np.arange(len(frame))
    pairs = []
    for _, test_persons in folds.split(np.zeros(len(people)), has_event):
        test = np.isin(codes, test_persons)
        pairs.append((rows[~test], rows[test]))
    return pairs


def persons_of(frame: pd.DataFrame) -> np.ndarray:
    """The person of each row, the unit of independence of splits and bootstraps: its
    ``person_id`` (each row its own person when there is none)."""
    if "person_id" in frame.columns:
        return frame["person_id"].to_numpy()
    return np.arange(len(frame))


def _temporal(
    cutoff: dt.date | None, frame: pd.DataFrame, persons: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    index_dates = pd.to_datetime(frame["index_date"]).dt.date.to_numpy()
    first = pd.Series(index_dates).groupby(persons).transform("min").to_numpy()
    test = first >= cutoff
    if test.all() or not test.any():
        side = "before" if test.all() else "on or after"
        raise SplitError(
            f"temporal split at {cutoff}: no persons are first indexed {side} it "
            f"(index dates run from {index_dates.min()} to {index_dates.max()})"
        )
    rows = np.arange(len(frame))
    train = ~test & (index_dates < cutoff)
    return rows[train], rows[test]


def temporal_overlap(split: Split, frame: pd.DataFrame) -> int:
    """Rows a temporal split uses on neither side: indexed on or after the cutoff, of persons
    first indexed before it (their earlier rows train the model)."""
    if split.kind != "temporal":
        return 0
    train, test = _temporal(split.cutoff, frame, persons_of(frame))
    return len(frame) - len(train) - len(test)
