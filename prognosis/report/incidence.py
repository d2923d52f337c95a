"""The cumulative incidence of every cause, for cohorts with competing events.

Under competing risks the outcome's incidence alone hides half the picture: a person who dies
first cannot have the outcome. Both reports therefore show every cause:

* the model report, what was **observed**: the Aalen-Johansen cumulative incidence of the
  outcome and of each competing event over all persons, with log-log 95% pointwise intervals
  (scikit-survival ``cumulative_incidence_competing_risks``);
* each patient page, what the model **predicts** for that patient: the cumulative incidence of
  each cause at each horizon, the same numbers as the columns of ``prognosis predict``
  (:func:`prognosis.training.prediction_columns`: ``risk_<h>``, ``incidence_<event>_<h>``),
  and the probability of none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sksurv.nonparametric import cumulative_incidence_competing_risks

from prognosis.horizons import horizon_text
from prognosis.models.store import SavedModel
from prognosis.models.survival import step_function
from prognosis.report import charts
from prognosis.report.describe import cause_names, parse_recorded_definition
from prognosis.training import prediction_columns

__all__ = [
    "CauseIncidence",
    "PatientIncidence",
    "cause_curves",
    "observed_incidence",
    "patient_incidence",
]

YLABEL = "Cumulative incidence (Aalen-Johansen)"


@dataclass(frozen=True)
class CauseIncidence:
    """The observed incidence of every cause: a chart and its values at the horizons."""

    chart: charts.Chart
    caption: str
    horizons: list[str]
    rows: list[tuple[str, list[str]]]  # cause, "12.3% (10.1% to 14.6%)" per horizon


@dataclass(frozen=True)
class PatientIncidence:
    """One patient's predicted cumulative incidence of one cause, per horizon."""

    cause: str
    column: str  # its columns in `prognosis predict`, e.g. ``incidence_death_<days>``
    values: list[float]


def cause_curves(
    event: np.ndarray, time: np.ndarray, times: np.ndarray, *, conf_level: float = 0.95
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Aalen-Johansen cumulative incidence of each cause (code 1, 2, ...) at ``times``, with
    log-log pointwise intervals: ``{code: (estimate, lower, upper)}``."""
    codes = sorted(int(c) for c in np.unique(event) if c > 0)
    grid, incidence, interval = cumulative_incidence_competing_risks(
        np.asarray(event, dtype=int), time, conf_level=conf_level, conf_type="log-log"
    )
    # scikit-survival numbers the causes 1..max: row k holds code k
    return {
        code: tuple(
            step_function(grid, values, times, before=0.0)
            for values in (incidence[code], interval[code, 0], interval[code, 1])
        )
        for code in codes
    }


def observed_incidence(
    y: np.ndarray, names: dict[int, str], horizons: Sequence[float]
) -> CauseIncidence | None:
    """The model report's chart and table of every cause; None without competing events.

    Parameters
    ----------
    y : the dataset's target (integer event codes: 0 censored, 1 outcome, 2+ competing)
    names : each code in words (:func:`prognosis.report.describe.cause_names`)
    horizons : the model's horizons, where the table gives the values
    """
    event, time = np.asarray(y["event"], dtype=int), np.asarray(y["time"], dtype=float)
    if not np.any(event >= 2):
        return None
    times = np.linspace(0.0, float(time.max()), 150)
    at_horizons = cause_curves(event, time, np.asarray(horizons, dtype=float))
    lines, rows = [], []
    for code, (estimate, lower, upper) in cause_curves(event, time, times).items():
        role = "outcome" if code == 1 else "competing event"
        label = f"{names.get(code, f'cause {code}')} ({role})"
        lines.append(charts.Curve(label, times, estimate, lower, upper))
        rows.append((label, [_interval(*v) for v in zip(*at_horizons[code], strict=True)]))
    return CauseIncidence(
        chart=charts.risk_curves_chart(lines, ylabel=YLABEL, name="causes"),
        caption=(
            "Observed cumulative incidence of the outcome and of each competing event since "
            "index, over all persons (Aalen-Johansen, each event counted as it happened, with "
            "pointwise 95% intervals): the probability of having had that event first by each "
            "day. The curves of all causes and the probability of none add up to 100%."
        ),
        horizons=[horizon_text(h) for h in horizons],
        rows=rows,
    )


def patient_incidence(saved: SavedModel, X: pd.DataFrame) -> list[list[PatientIncidence]]:
    """Each row's predicted cumulative incidence of every cause at every horizon, as
    ``prognosis predict`` writes it, and of none of them; one list per row of ``X`` (empty
    lists for a model without competing risks, or one that gives the outcome's incidence only)."""
    if not saved.info.competing:
        return [[] for _ in range(len(X))]
    horizons = [float(h) for h in saved.info.horizons]
    columns: dict[int, str] = {}
    for column in prediction_columns(saved):  # named <prefix>_<horizon>
        stem = column.name.removesuffix(f"_{column.horizon:g}")
        columns.setdefault(column.cause, f"{stem}_<days>")
    if len(columns) < 2:  # the outcome's incidence only (Fine-Gray): nothing to set beside it
        return [[] for _ in range(len(X))]
    names = cause_names(
        parse_recorded_definition(saved.training_manifest, saved.info.outcome), list(columns)
    )
    values = {
        cause: saved.pipeline.predict_cumulative_incidence(X, cause, horizons) for cause in columns
    }
    none = 1.0 - sum(values.values())
    pages = []
    for row in range(len(X)):
        entries = [
            PatientIncidence(
                f"{names.get(cause, f'cause {cause}')} "
                f"({'outcome' if cause == 1 else 'competing event'})",
                name,
                [float(v) for v in values[cause][row]],
            )
            for cause, name in columns.items()
        ]
        entries.append(PatientIncidence("none of these", "", [float(v) for v in none[row]]))
        pages.append(entries)
    return pages


def _interval(estimate: float, lower: float, upper: float) -> str:
    return f"{100 * estimate:.1f}% ({100 * lower:.1f}% to {100 * upper:.1f}%)"
