"""Survival targets: build them, and check them once at the boundary of every public method.

Single-event targets are scikit-survival's structured arrays (``event`` bool, ``time`` float).
Competing-risk targets use the same field names with an integer ``event``: 0 censored,
1 the outcome, 2, 3, ... competing events, as in the cohort datasets.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prognosis.exceptions import DataQualityWarning, TargetError

__all__ = [
    "SurvivalTarget",
    "TargetError",
    "check_target",
    "make_competing_target",
    "make_target",
    "target_from_frame",
    "warn_without_competing",
]


@dataclass(frozen=True)
class SurvivalTarget:
    """A checked target: integer event codes (0 censored) and positive float times."""

    event: np.ndarray  # int, 0 = censored, 1 = outcome, 2+ = competing events
    time: np.ndarray  # float, > 0

    @property
    def causes(self) -> list[int]:
        return sorted(int(code) for code in np.unique(self.event) if code > 0)

    def for_cause(self, cause: int = 1) -> np.ndarray:
        """scikit-survival's structured array with every other cause counted as censored."""
        return make_target(self.event == cause, self.time)


def make_target(event: np.ndarray, time: np.ndarray) -> np.ndarray:
    """A scikit-survival structured array (``event`` bool, ``time`` float)."""
    target = np.empty(len(time), dtype=[("event", "?"), ("time", "<f8")])
    target["event"] = np.asarray(event, dtype=bool)
    target["time"] = np.asarray(time, dtype=float)
    return target


def make_competing_target(event: np.ndarray, time: np.ndarray) -> np.ndarray:
    """A structured array with integer event codes: 0 censored, 1 outcome, 2+ competing."""
    target = np.empty(len(time), dtype=[("event", "<i8"), ("time", "<f8")])
    target["event"] = np.asarray(event, dtype=np.int64)
    target["time"] = np.asarray(time, dtype=float)
    return target


def target_from_frame(frame: pd.DataFrame, *, origin: str = "dataset") -> np.ndarray:
    """The target of a cohort dataset (columns ``time`` and ``event``)."""
    missing = [column for column in ("time", "event") if column not in frame.columns]
    if missing:
        raise TargetError(
            f"{origin} has no column {' or '.join(repr(m) for m in missing)}; a survival "
            "dataset needs 'time' (days, > 0) and 'event' (0 censored, 1 outcome, 2+ competing)"
        )
    event = frame["event"].to_numpy()
    if np.issubdtype(event.dtype, np.integer) and event.max(initial=0) > 1:
        return make_competing_target(event, frame["time"].to_numpy())
    return make_target(event.astype(bool), frame["time"].to_numpy())


def check_target(y: np.ndarray, *, competing: bool = False) -> SurvivalTarget:
    """Validate a target; return integer events and float times.

    Raises :class:`TargetError` when fields are missing, lengths or types are wrong, a time is
    not positive or not finite, an event code is negative, or no event is observed.
    """
    names = getattr(getattr(y, "dtype", None), "names", None) or ()
    if "event" not in names or "time" not in names:
        raise TargetError(
            "y must be a structured array with fields 'event' and 'time' "
            "(sksurv.util.Surv.from_arrays, or prognosis.models.make_target)"
        )
    time = np.asarray(y["time"], dtype=float)
    event = np.asarray(y["event"]).astype(np.int64)
    if not np.all(np.isfinite(time)):
        raise TargetError("y['time'] holds missing or infinite values")
    if np.any(time <= 0):
        raise TargetError(
            f"y['time'] must be > 0; {int(np.sum(time <= 0))} rows have time <= 0 "
            "(minimum {:.4g})".format(time.min())
        )
    if np.any(event < 0):
        raise TargetError("y['event'] must be 0 (censored) or a positive cause code")
    if not np.any(event > 0):
        raise TargetError("y has no events (all rows censored): nothing to learn from")
    if not competing and event.max() > 1:
        raise TargetError(
            f"y has competing events (codes {sorted(set(event[event > 1].tolist()))}); use a "
            "competing-risks model (cause-specific-cox), or recode them as censored "
            "(prognosis fit --censor-competing)"
        )
    return SurvivalTarget(event=event, time=time)


def warn_without_competing(target: SurvivalTarget, then: str) -> None:
    """A competing-risk family's warning when ``target`` has no competing event (no code 2,
    3, ...): ``then`` says what the family then is ("the cause-specific Cox equals cox")."""
    if not np.any(target.event >= 2):
        warnings.warn(
            f"y has no competing events (codes 2, 3, ...): {then}",
            DataQualityWarning,
            stacklevel=4,  # the estimator's fit, called from the pipeline's
        )
