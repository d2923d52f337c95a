"""Validation designs: k-fold cross-validation, a temporal split, or none.

``--split cv`` (or ``cv:K``) gives out-of-fold predictions for every row, folds stratified by
event code; ``--split temporal:YYYY-MM-DD`` trains on rows indexed before the date and tests on
rows indexed on or after it; ``--split none`` fits on everything and measures nothing.
External validation is not a split: evaluate a saved model on a dataset built from another
source (``prognosis evaluate MODEL_DIR OTHER_DATASET_DIR``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from prognosis.exceptions import PrognosisError

__all__ = ["Split", "SplitError", "parse_split", "split_rows"]


class SplitError(PrognosisError, ValueError):
    """A split is malformed or leaves a side empty."""


@dataclass(frozen=True)
class Split:
    """A validation design."""

    kind: str  # "cv", "temporal" or "none"
    folds: int = 5
    cutoff: dt.date | None = None

    def describe(self) -> str:
        if self.kind == "cv":
            return f"{self.folds}-fold cross-validation (out-of-fold predictions)"
        if self.kind == "temporal":
            return f"temporal split: trained before {self.cutoff}, tested on or after it"
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
    """(train rows, test rows) pairs; positions into ``frame``."""
    rows = np.arange(len(frame))
    if split.kind == "none":
        return []
    if split.kind == "temporal":
        index_dates = pd.to_datetime(frame["index_date"]).dt.date.to_numpy()
        test = index_dates >= split.cutoff
        if test.all() or not test.any():
            side = "before" if test.all() else "on or after"
            raise SplitError(
                f"temporal split at {split.cutoff}: no rows are indexed {side} it "
                f"(index dates run from {index_dates.min()} to {index_dates.max()})"
            )
        return [(rows[~test], rows[test])]
    has_event = frame["event"].to_numpy() > 0  # stratify on any event: rare codes break folds
    if min(has_event.sum(), (~has_event).sum()) < split.folds:
        raise SplitError(
            f"{split.folds}-fold cross-validation needs at least {split.folds} events and "
            f"{split.folds} censored rows; the dataset has {int(has_event.sum())} events "
            f"in {len(frame)} rows"
        )
    folds = StratifiedKFold(n_splits=split.folds, shuffle=True, random_state=seed)
    return list(folds.split(rows, has_event))
