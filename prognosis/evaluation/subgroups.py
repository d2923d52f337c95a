"""Performance within subgroups (TRIPOD+AI items 14 and 23a): sex, age bands, index concept,
the landmark of a landmark dataset (one row per person and landmark: each landmark's C, AUC
and calibration in the large, persons resampled with all their rows), and any categorical
feature named by the user.

Two steps, both pure:

* :func:`grouping_frame` turns a dataset's rows into one label per row and grouping variable
  (``Sex``: female / male; ``Age (years)``: the bands of :data:`AGE_BANDS`; ``Index concept``:
  the concept of the row's index event; each column of ``columns`` by its values). Every
  variable partitions the rows: a missing value is its own group (``missing``). A column
  named by the user that is unknown, part of the outcome, or continuous is refused by
  :func:`check_subgroup_columns` with a :class:`~prognosis.exceptions.SubgroupError` naming it.
* :func:`subgroup_metrics` measures the validation predictions (the very arrays
  :func:`~prognosis.evaluation.summary.evaluate_predictions` gets) on the rows of each group:
  Harrell's C, the time-dependent AUC at each horizon and calibration in the large (the mean
  predicted risk against the observed risk, Kaplan-Meier or Aalen-Johansen, and their
  difference) at each horizon, each with a bias-corrected percentile interval of a cluster
  bootstrap of the group's persons (:func:`~prognosis.evaluation.bootstrap.bootstrap_ci`). The
  AUC's inverse-probability-of-censoring weights are the Kaplan-Meier estimate of the
  censoring times of the group's rows, re-estimated on every resample of the group: every
  weight is estimated on the data it weights.

A group with fewer than :data:`MIN_EVENTS` outcome events by the first horizon, or fewer than
that many rows without an outcome event, is suppressed: none of its metrics is computed, and
``suppressed`` says why. Its counts, and those of the other groups of its variable, are
published as :func:`prognosis.report.privacy.protect` allows: a count from 1 to 4 is
withheld (named in ``small``, shown as ``<5``), and further counts are hidden (``None``) until
none can be worked out by subtraction from the totals or from the other groups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prognosis.artifacts import Feature
from prognosis.evaluation.bootstrap import BootstrapResult, bootstrap_ci
from prognosis.evaluation.metrics import harrell_c, observed_risk, time_dependent_auc
from prognosis.exceptions import SubgroupError
from prognosis.models.target import check_target

__all__ = [
    "AGE_BANDS",
    "LANDMARK_VARIABLE",
    "MAX_GROUPS",
    "MIN_EVENTS",
    "check_subgroup_columns",
    "grouping_frame",
    "subgroup_metrics",
]

#: Age bands at index, in years: (lowest age included, label); each band ends below the next.
AGE_BANDS: tuple[tuple[float, str], ...] = (
    (-np.inf, "<50"),
    (50, "50-64"),
    (65, "65-79"),
    (80, "80+"),
)
#: Fewest outcome events (by the first horizon) and rows without one for a group's metrics.
MIN_EVENTS = 5
#: Most groups (distinct values, missing included) a column named by the user may have.
MAX_GROUPS = 20
#: The column of a landmark dataset's landmark (days after entry), and its variable's name.
LANDMARK = "landmark"
LANDMARK_VARIABLE = "Landmark (days after entry)"

_OUTCOME_COLUMNS = ("person_id", "index_date", "time", "event", "censor_reason")
# features.json statistics that are measurements
_CONTINUOUS = ("age", "count", "last", "trend", "days")
_MISSING = "missing"


# -- the groups --------------------------------------------------------------------------------
def check_subgroup_columns(
    frame: pd.DataFrame, features: Sequence[Feature], columns: Sequence[str]
) -> None:
    """Refuse any of ``columns`` that is not a categorical feature of ``frame``.

    Parameters
    ----------
    frame : the dataset's rows
    features : the dataset's ``features.json`` entries (what each column is)
    columns : the columns named with ``--subgroup``

    Raises
    ------
    SubgroupError
        naming the column: unknown, part of the outcome, continuous (age, a count, a last
        value, a numeric column with values other than 0 and 1) or with more than
        :data:`MAX_GROUPS` distinct values.
    """
    by_name = {feature.name: feature for feature in features}
    for column in columns:
        problem = _why_not_categorical(frame, by_name.get(column), column)
        if problem:
            raise SubgroupError(f"--subgroup {column!r}: {problem}")


def _why_not_categorical(frame: pd.DataFrame, feature: Feature | None, column: str) -> str:
    if column in _OUTCOME_COLUMNS:
        return "is part of the outcome or the row's identity, not a feature; name a feature"
    if column not in frame.columns:
        known = ", ".join(_categorical_columns(frame)[:8]) or "none"
        return (
            f"no such column in the dataset; categorical columns include: {known} "
            "(see features.json)"
        )
    values = frame[column]
    if feature is not None and feature.statistic in _CONTINUOUS:
        hint = " (age bands are always reported)" if feature.statistic == "age" else ""
        return (
            f"is continuous (statistic {feature.statistic!r} in features.json){hint}; "
            "name a categorical feature: the presence of a concept, sex, an index concept"
        )
    if not _is_categorical(values):
        return (
            f"is continuous ({values.dtype} values other than 0 and 1); name a categorical "
            "feature: the presence of a concept, sex, an index concept"
        )
    distinct = values.nunique(dropna=False)
    if distinct > MAX_GROUPS:
        return f"has {distinct} distinct values; at most {MAX_GROUPS} groups are reported"
    return ""


def _is_categorical(values: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return True
    return bool(values.dropna().isin([0, 1]).all())


def _categorical_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in _OUTCOME_COLUMNS and _is_categorical(frame[c])]


def grouping_frame(
    frame: pd.DataFrame, features: Sequence[Feature], columns: Sequence[str] = ()
) -> pd.DataFrame:
    """One group label per row and grouping variable: sex, age band, index concept (when the
    dataset has those features), then each of ``columns``.

    Parameters
    ----------
    frame : the rows evaluated, in the order of the predictions
    features : the dataset's ``features.json`` entries; the sex feature is the one with
        statistic ``sex`` (``sex_male``: 1 male, 0 female), age the one with statistic ``age``,
        the index concepts those of kind ``index_concept`` (one 0/1 column per concept)
    columns : categorical columns named by the user (:func:`check_subgroup_columns`)

    Returns
    -------
    DataFrame
        one column per variable (named for the reader: ``Sex``, ``Age (years)``, ``Index
        concept``, a feature's label), one string label per row, positional index.
    """
    check_subgroup_columns(frame, features, columns)
    by_name = {feature.name: feature for feature in features}
    out: dict[str, np.ndarray] = {}
    sex = _by_statistic(features, "sex", "sex_male", frame)
    if sex:
        out["Sex"] = _labels(frame[sex], {1: "male", 0: "female"})
    age = _by_statistic(features, "age", "age", frame)
    if age:
        out["Age (years)"] = _age_bands(frame[age])
    index = [f for f in features if f.kind == "index_concept" and f.name in frame.columns]
    if index:
        out["Index concept"] = _index_concepts(frame, index)
    if LANDMARK in frame.columns:  # stacked landmark rows: each landmark measured apart
        days = frame[LANDMARK].to_numpy()
        out[LANDMARK_VARIABLE] = np.array([f"day {int(day)}" for day in days], dtype=object)
    for column in dict.fromkeys(columns):
        if column in (sex, age):
            continue
        feature = by_name.get(column)
        flag = feature is None or feature.statistic in ("presence", "status")
        yes_no = {1: "yes", 0: "no"} if flag else {}
        out[(feature.label if feature and feature.label else column)] = _labels(
            frame[column], yes_no
        )
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _by_statistic(
    features: Sequence[Feature], statistic: str, fallback: str, frame: pd.DataFrame
) -> str | None:
    names = [f.name for f in features if f.statistic == statistic and f.name in frame.columns]
    if names:
        return names[0]
    return fallback if not features and fallback in frame.columns else None


def _labels(values: pd.Series, names: dict[Any, str]) -> np.ndarray:
    def label(value: Any) -> str:
        if pd.isna(value):
            return _MISSING
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return names.get(value, str(value))

    return np.array([label(v) for v in values.tolist()], dtype=object)


def _age_bands(age: pd.Series) -> np.ndarray:
    values = age.to_numpy(dtype=float, na_value=np.nan)
    starts = np.array([start for start, _ in AGE_BANDS])
    names = np.array([name for _, name in AGE_BANDS] + [_MISSING], dtype=object)
    band = np.searchsorted(starts, values, side="right") - 1
    return names[np.where(np.isnan(values), len(AGE_BANDS), band)]


def _index_concepts(frame: pd.DataFrame, index: Sequence[Feature]) -> np.ndarray:
    flags = frame[[f.name for f in index]].fillna(0).to_numpy(dtype=float) > 0
    names = np.array([_concept_name(f) for f in index], dtype=object)
    count = flags.sum(axis=1)
    first = names[np.argmax(flags, axis=1)]
    return np.where(count == 1, first, np.where(count == 0, "none of the listed", "several"))


def _concept_name(feature: Feature) -> str:
    if feature.concepts and feature.concepts[0].name:
        return str(feature.concepts[0].name)
    return feature.label or feature.name


# -- the metrics ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Group:
    variable: str
    group: str
    rows: np.ndarray  # positions of its rows
    n: int
    events: int
    events_at_horizon: int  # outcome events by the first horizon


def subgroup_metrics(
    y: np.ndarray,
    risk_score: np.ndarray,
    survival: np.ndarray,
    horizons: Sequence[float],
    grouping: pd.DataFrame,
    *,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    groups: np.ndarray | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The metrics of every group of every variable of ``grouping``, JSON-ready.

    Parameters
    ----------
    y : the target of the rows evaluated (integer codes under competing risks)
    risk_score : one risk score per row, higher = worse (Harrell's C)
    survival : P(no outcome by t), shape (rows, len(horizons)): the risk at each horizon is
        ``1 - survival`` (the AUC's score and the mean predicted risk)
    horizons : the evaluated horizons (days), ascending
    grouping : one label per row and variable (:func:`grouping_frame`)
    n_boot, seed, alpha : the bootstrap of every interval (:func:`bootstrap_ci`)
    groups : the person of each row: persons are resampled, each with all of their rows

    Returns
    -------
    subgroups : one entry per group (the fields of :class:`prognosis.artifacts.Subgroup`)
    notes : what was not reported (a variable with a single group)
    """
    target = check_target(y, competing=True)
    times = np.asarray(horizons, dtype=float)
    risk = 1.0 - np.asarray(survival, dtype=float)
    persons = np.arange(len(y)) if groups is None else np.asarray(groups)
    boot = _Boot(n_boot, seed, alpha)
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    first = float(times[0]) if times.size else np.inf
    for variable in grouping.columns:
        labels = grouping[variable].to_numpy()
        names = list(dict.fromkeys(labels.tolist()))
        if len(names) < 2:
            notes.append(
                f"subgroups by {variable}: every row evaluated is in one group "
                f"({names[0] if names else 'none'}); not reported separately"
            )
            continue
        found = [
            _group(variable, name, np.flatnonzero(labels == name), target, first)
            for name in sorted(names, key=_order)
        ]
        counts = _published(found, target, first)
        for group, published in zip(found, counts, strict=True):
            metrics = _group_metrics(group, y, risk_score, risk, times, persons, boot)
            entries.append({"variable": variable, "group": group.group, **published, **metrics})
    return entries, notes


def _order(name: str) -> tuple[bool, int, int, str]:
    """Age bands in age order, landmarks (``day N``) in day order, ``missing`` last, other
    labels alphabetically."""
    bands = [label for _, label in AGE_BANDS]
    rank = bands.index(name) if name in bands else len(bands)
    day = re.fullmatch(r"day (\d+)", name)
    return (name == _MISSING, rank, int(day.group(1)) if day else -1, name.casefold())


def _group(variable: str, name: str, rows: np.ndarray, target: Any, first: float) -> _Group:
    outcome = target.event[rows] == 1
    return _Group(
        variable=variable,
        group=str(name),
        rows=rows,
        n=int(rows.size),
        events=int(outcome.sum()),
        events_at_horizon=int(np.sum(outcome & (target.time[rows] <= first))),
    )


def _suppressed(group: _Group) -> str | None:
    if group.events_at_horizon < MIN_EVENTS:
        return f"fewer than {MIN_EVENTS} events"
    if group.n - group.events < MIN_EVENTS:
        return f"fewer than {MIN_EVENTS} rows without the event"
    return None


@dataclass(frozen=True)
class _Boot:
    n_boot: int
    seed: int
    alpha: float

    def __call__(
        self, metric: Callable[..., Any], y: np.ndarray, *arrays: np.ndarray, persons: np.ndarray
    ) -> BootstrapResult:
        return bootstrap_ci(
            metric, y, *arrays, n_boot=self.n_boot, seed=self.seed, alpha=self.alpha, groups=persons
        )


def _group_metrics(
    group: _Group,
    y: np.ndarray,
    risk_score: np.ndarray,
    risk: np.ndarray,
    times: np.ndarray,
    persons: np.ndarray,
    boot: _Boot,
) -> dict[str, Any]:
    why = _suppressed(group)
    if why is not None:
        return {"suppressed": why, "harrell_c": None, "horizons": []}
    rows = group.rows
    y_g, risk_g, who = y[rows], risk[rows], persons[rows]
    c = boot(harrell_c, y_g, risk_score[rows], persons=who)
    auc = _auc(y_g, risk_g, times, who, boot)
    large = _in_the_large(y_g, risk_g, times, who, boot)
    return {
        "suppressed": None,
        "harrell_c": _interval(c, None),
        "horizons": [
            {"horizon": float(t), "time_dependent_auc": auc[j], **large[j]}
            for j, t in enumerate(times)
        ],
    }


def _auc(
    y: np.ndarray, risk: np.ndarray, times: np.ndarray, who: np.ndarray, boot: _Boot
) -> list[dict[str, Any]]:
    """AUC at each horizon where the group's data define it: from its first outcome event to
    before its last time; the censoring weights are estimated on each resample of the group."""
    target = check_target(y, competing=True)
    lower, upper = target.time[target.event == 1].min(), target.time.max()
    inside = (times >= lower) & (times < upper)
    out = [_interval(None, None)] * times.size
    if inside.any():
        chosen = times[inside]
        result = boot(
            lambda y, r: time_dependent_auc(y, y, r, chosen)[0],
            y,
            risk[:, inside],
            persons=who,
        )
        for k, j in enumerate(np.flatnonzero(inside)):
            out[j] = _interval(result, k)
    return out


def _in_the_large(
    y: np.ndarray, risk: np.ndarray, times: np.ndarray, who: np.ndarray, boot: _Boot
) -> list[dict[str, Any]]:
    """Mean predicted risk, observed risk (Kaplan-Meier, Aalen-Johansen) and their difference
    (predicted - observed) at each horizon up to the group's last time."""
    inside = times <= check_target(y, competing=True).time.max()
    empty = {name: _interval(None, None) for name in ("mean_predicted", "observed", "difference")}
    out = [dict(empty) for _ in times]
    if not inside.any():
        return out
    chosen = times[inside]
    m = chosen.size

    def statistic(y: np.ndarray, r: np.ndarray) -> np.ndarray:
        observed = observed_risk(y, chosen)[0]
        predicted = r.mean(axis=0)
        return np.r_[predicted, observed, predicted - observed]

    result = boot(statistic, y, risk[:, inside], persons=who)
    for k, j in enumerate(np.flatnonzero(inside)):
        out[j] = {
            "mean_predicted": _interval(result, k),
            "observed": _interval(result, m + k),
            "difference": _interval(result, 2 * m + k),
        }
    return out


def _interval(result: BootstrapResult | None, index: int | None) -> dict[str, Any]:
    if result is None:
        return {
            "estimate": None,
            "lower": None,
            "upper": None,
            "failed_resamples": 0,
            "extended_to_estimate": False,
        }

    def pick(value: Any) -> Any:
        return value if index is None else value[index]

    return {
        "estimate": pick(result.estimate),
        "lower": pick(result.lower),
        "upper": pick(result.upper),
        "failed_resamples": result.n_failed,
        "extended_to_estimate": bool(pick(result.extended)),
    }


# -- small counts ----------------------------------------------------------------------------------
_COUNTS = ("n", "events", "events_at_horizon")


def _published(found: list[_Group], target: Any, first: float) -> list[dict[str, Any]]:
    """Each group's counts as they may be published: a number, or ``None`` (named in
    ``small`` when it is 1 to 4, otherwise hidden so that no small count can be worked out).

    What every reader knows: the rows and outcome events evaluated (``n_test``,
    ``n_outcome_events``) and the outcome events by the first horizon, that the groups of a
    variable add up to them, and that a group's rows are its events plus its rows without one
    (never shown, protected too), its events at least its events by the first horizon.
    """
    # imported here: prognosis.report imports the training code, which imports this module
    from prognosis.report.privacy import CountTable, protect

    outcome = target.event == 1
    values = {
        "n": int(target.time.size),
        "events": int(outcome.sum()),
        "events_at_horizon": int(np.sum(outcome & (target.time <= first))),
    }
    sums: list[tuple[str, tuple[str, ...]]] = [
        (name, tuple(f"{name}|{k}" for k in range(len(found)))) for name in _COUNTS
    ]
    at_least, implicit = [], set()
    for k, group in enumerate(found):
        for name in _COUNTS:
            values[f"{name}|{k}"] = getattr(group, name)
        values[f"without|{k}"] = group.n - group.events
        implicit.add(f"without|{k}")
        sums.append((f"n|{k}", (f"events|{k}", f"without|{k}")))
        at_least.append((f"events|{k}", f"events_at_horizon|{k}"))
    published = protect(
        CountTable(
            values,
            sums=sums,
            at_least=at_least,
            implicit=frozenset(implicit),
            structural=frozenset(_COUNTS),  # the totals are published beside the subgroups
        )
    )
    return [
        {
            **{
                name: values[f"{name}|{k}"] if published.shown(f"{name}|{k}") else None
                for name in _COUNTS
            },
            "small": [name for name in _COUNTS if f"{name}|{k}" in published.small],
        }
        for k in range(len(found))
    ]
