"""What drives the reports' predictions: SHAP values (:mod:`prognosis.explain`) summarised
as the model report's feature importance and beeswarm (in the model's own unit, e.g. log
hazard), and as each patient's waterfall of drivers in percentage points of risk.

No other report module imports :mod:`prognosis.explain`. What is used of it::

    explain_model(pipeline, X, *, background=None) -> Explanation
        .feature_names (p,)  .values (n, p)  .base_values (n,)  .data (DataFrame, n x p)
        .output (the unit of the values: "log hazard", "log time", "risk score")
        .sign   (+1: a positive value raises the risk; -1: it lowers it, e.g. log time)
    explain_risk(pipeline, X, explanation, horizon) -> RiskExplanation
        .values (n, p) contributions to the risk by horizon (probabilities)
        .reference (n,) .risk (n,): reference + values.sum(1) == risk, exactly
    feature_groups(names, entries) -> [FeatureGroup]; group_sums; group_label
        features of one concept and window as one driver (features.json metadata)

When a model cannot be explained (:mod:`prognosis.explain` raises
:class:`~prognosis.exceptions.ExplanationError`), the functions here return
:class:`Unavailable` with the reason, and the pages say "Explanations unavailable". Values leave
this module oriented so that positive means "towards higher risk".
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prognosis.artifacts import Feature
from prognosis.exceptions import ExplanationError
from prognosis.explain import (
    Explanation,
    FeatureGroup,
    RiskExplanation,
    explain_model,
    explain_risk,
    feature_groups,
    group_label,
    group_sums,
)
from prognosis.models.store import SavedModel
from prognosis.scoring import background_rows as sample_rows
from prognosis.training import check_schema

__all__ = [
    "Driver",
    "GlobalExplanation",
    "Importance",
    "RowExplanations",
    "Unavailable",
    "Waterfall",
    "explain_rows",
    "global_explanation",
    "rounded_points",
]


@dataclass(frozen=True)
class Unavailable:
    """Why there are no explanations."""

    reason: str


@dataclass(frozen=True)
class Importance:
    feature: str
    label: str
    mean_abs: float


@dataclass(frozen=True)
class GlobalExplanation:
    """Mean |SHAP| per feature (largest first) and the values behind a beeswarm."""

    importance: list[Importance]
    swarm_labels: list[str]
    swarm_values: np.ndarray  # (rows, k), positive = towards higher risk
    swarm_data: np.ndarray  # (rows, k) the features' values
    scale: str
    n_rows: int


@dataclass(frozen=True)
class Driver:
    """A factor moving one patient's risk: one feature, or the features of one concept and
    window together, with the patient's values in words and its contribution to the risk
    (a probability: 0.01 is one percentage point; positive raises the risk)."""

    features: tuple[str, ...]
    label: str
    contribution: float


@dataclass(frozen=True)
class Waterfall:
    """``reference + sum(drivers) + other == risk``, exactly: the patient's risk by
    ``horizon`` built up from the reference risk (probabilities)."""

    reference: float
    drivers: list[Driver]
    other: float
    n_other: int
    risk: float
    horizon: float

    @property
    def shown(self) -> list[float]:
        """The drivers' contributions, then other's, in percentage points with one decimal,
        rounded so that they add up to the risk minus the reference as the page shows them
        (:func:`rounded_points`); other's is 0 when every factor is shown."""
        values = [d.contribution for d in self.drivers]
        if self.n_other:
            return rounded_points(self.reference, self.risk, [*values, self.other])
        return [*rounded_points(self.reference, self.risk, values), 0.0]


def rounded_points(
    reference: float, risk: float, values: list[float], decimals: int = 1
) -> list[float]:
    """``values`` (probabilities) as percentage points rounded to ``decimals``, adding up
    exactly to the rounded risk minus the rounded reference (largest remainders).

    Parameters
    ----------
    reference, risk : float
        Probabilities, shown as percentages with ``decimals`` decimals.
    values : list of float
        Contributions adding up to ``risk - reference``.
    decimals : int

    Returns
    -------
    list of float
        Percentage points, each within one unit of the last decimal of its value.
    """
    unit = 10.0**decimals
    target = round(float(f"{100 * risk:.{decimals}f}") * unit) - round(
        float(f"{100 * reference:.{decimals}f}") * unit
    )
    raw = np.asarray(values, dtype=float) * 100 * unit
    floors = np.floor(raw)
    extra = int(np.clip(target - floors.sum(), 0, len(raw)))
    floors[np.argsort(-(raw - floors), kind="stable")[:extra]] += 1
    return [float(v) / unit for v in floors]


def _labels(saved: SavedModel) -> dict[str, Feature]:
    return {f.name: f for f in saved.features if f.name}


def _label(name: str, entries: dict[str, Feature]) -> str:
    entry = entries.get(name)
    return str((entry.label if entry else None) or name)


@dataclass
class _Explained:
    names: list[str]
    values: np.ndarray  # oriented
    base: np.ndarray  # oriented, one per row
    data: np.ndarray
    scale: str
    raw: Explanation


def _explain(
    saved: SavedModel, X: pd.DataFrame, background: pd.DataFrame | None
) -> _Explained | Unavailable:
    try:
        explanation = explain_model(saved.pipeline, X, background=background)
    except ExplanationError as error:
        return Unavailable(str(error))
    sign = float(explanation.sign)
    return _Explained(
        names=list(explanation.feature_names),
        values=sign * explanation.values,
        base=sign * explanation.base_values,
        data=explanation.data.to_numpy(dtype=float),
        scale=explanation.output if sign > 0 else f"{explanation.output}, sign reversed",
        raw=explanation,
    )


def global_explanation(
    saved: SavedModel,
    frame: pd.DataFrame,
    *,
    rows: int = 300,
    background_rows: int = 100,
    top: int = 15,
    swarm: int = 10,
    seed: int = 0,
) -> GlobalExplanation | Unavailable:
    """SHAP values of a random sample of the cohort's rows, summarised for the model report.

    Both samples are drawn by :func:`prognosis.scoring.background_rows`, the sampler of
    ``prognosis explain`` and the patient pages: the reference rows are those of
    ``prognosis explain --seed SEED --background-rows BACKGROUND_ROWS``; the rows explained
    are drawn with ``seed + 1``.

    Parameters
    ----------
    saved : SavedModel
        The model to explain.
    frame : DataFrame
        The cohort dataset's rows: ``person_id``, ``index_date`` and the model's features.
    rows, background_rows : int
        How many rows of ``frame`` to explain, and how many to explain them against.
    top, swarm : int
        How many features to rank by mean |SHAP|, and how many of those to show in the beeswarm.
    seed : int
        Seeds both samples.

    Returns
    -------
    GlobalExplanation or Unavailable
        :class:`Unavailable` with the reason when the model cannot be explained.
    """
    background = check_schema(
        saved, sample_rows(frame, background_rows, seed), origin="the background rows"
    )
    chosen = check_schema(saved, sample_rows(frame, rows, seed + 1), origin="the rows explained")
    explained = _explain(saved, chosen, background)
    if isinstance(explained, Unavailable):
        return explained
    entries = _labels(saved)
    mean_abs = np.abs(explained.values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    importance = [
        Importance(explained.names[j], _label(explained.names[j], entries), float(mean_abs[j]))
        for j in order[:top]
    ]
    chosen = order[:swarm]
    return GlobalExplanation(
        importance=importance,
        swarm_labels=[_label(explained.names[j], entries) for j in chosen],
        swarm_values=explained.values[:, chosen],
        swarm_data=explained.data[:, chosen],
        scale=explained.scale,
        n_rows=len(explained.values),
    )


@dataclass
class RowExplanations:
    """Explanations of chosen rows, turned into one waterfall of risk points per row on demand
    (the contributions to the risk by a horizon are computed once per horizon, for all rows)."""

    saved: SavedModel
    X: pd.DataFrame
    explained: _Explained
    _at: dict[float, RiskExplanation | Unavailable] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def groups(self) -> list[FeatureGroup]:
        """The drivers: features of one concept and window together (``features.json``)."""
        return feature_groups(self.explained.names, _labels(self.saved))

    def risk_points(self, horizon: float) -> RiskExplanation | Unavailable:
        """Every row's contributions to its risk by ``horizon``, per dataset feature."""
        if horizon not in self._at:
            try:
                self._at[horizon] = explain_risk(
                    self.saved.pipeline, self.X, self.explained.raw, horizon
                )
            except ExplanationError as error:
                self._at[horizon] = Unavailable(str(error))
        return self._at[horizon]

    def waterfall(
        self, i: int, horizon: float, *, up: int = 5, down: int = 5, least: float = 5e-4
    ) -> Waterfall | Unavailable:
        """Row ``i``'s risk by ``horizon``: the ``up`` largest rises and ``down`` largest falls
        (features grouped) of at least ``least`` (a probability: 0.05 percentage points, what
        one decimal shows), the rest as other, from the reference risk to the patient's."""
        points = self.risk_points(horizon)
        if isinstance(points, Unavailable):
            return points
        values = group_sums(points.values[i : i + 1], self.groups)[0]
        order = np.argsort(-values, kind="stable")
        rises = [g for g in order[:up] if values[g] >= least]
        falls = [g for g in order[::-1][:down] if values[g] <= -least]
        drivers = [self._driver(i, g, float(values[g])) for g in rises + falls]
        shown = float(sum(d.contribution for d in drivers))
        return Waterfall(
            reference=float(points.reference[i]),
            drivers=drivers,
            other=float(values.sum()) - shown,
            n_other=len(values) - len(drivers),
            risk=float(points.risk[i]),
            horizon=float(horizon),
        )

    def group_points(self, horizon: float) -> np.ndarray | Unavailable:
        """Every row's contribution of each driver (:attr:`groups`) to its risk by
        ``horizon``: an array (rows, drivers) of probabilities."""
        points = self.risk_points(horizon)
        if isinstance(points, Unavailable):
            return points
        return group_sums(points.values, self.groups)

    def label(self, i: int, g: int) -> str:
        """Driver ``g`` and row ``i``'s values of it, in clinical words."""
        group = self.groups[g]
        return group_label(group, [self.explained.data[i, j] for j in group.members])

    def _driver(self, i: int, g: int, contribution: float) -> Driver:
        group = self.groups[g]
        return Driver(
            features=tuple(e.name for e in group.entries),
            label=self.label(i, g),
            contribution=contribution,
        )


def explain_rows(
    saved: SavedModel, X: pd.DataFrame, *, background: pd.DataFrame
) -> RowExplanations | Unavailable:
    """SHAP values of every row of ``X`` (one call), against ``background`` rows.

    Parameters
    ----------
    saved : SavedModel
        The model to explain.
    X : DataFrame
        The rows (patients) to explain, with the model's feature columns.
    background : DataFrame
        The reference rows the SHAP values are measured against.

    Returns
    -------
    RowExplanations or Unavailable
        :class:`Unavailable` with the reason when the model cannot be explained.
    """
    explained = _explain(saved, X, background)
    if isinstance(explained, Unavailable):
        return explained
    return RowExplanations(saved, X, explained)
