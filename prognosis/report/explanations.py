"""The reports' one door to SHAP explanations (:mod:`prognosis.explain`).

No other report module imports :mod:`prognosis.explain`; a change in its API is fixed here.
What is used of it::

    explain_model(pipeline, X, *, background=None) -> Explanation
        .feature_names (p,)  .values (n, p)  .base_values (n,)  .data (DataFrame, n x p)
        .output (the unit of the values: "log hazard", "log time", "risk score")
        .sign   (+1: a positive value raises the risk; -1: it lowers it, e.g. log time)
        .row(i) (row i as a one-row Explanation)
    clinical_label(feature_entry, value) -> str          "Peptic ulcer in the prior year: yes"
    risk_effects(pipeline, x_row, explanation_row, horizons, *, features, top) -> [Effect]
        Effect: .feature .label .shap .direction .risk_without .risk_with .horizon

When the module cannot be imported, or cannot explain the model (it raises a
:class:`~prognosis.exceptions.PrognosisError`), the functions here return :class:`Unavailable`
with the reason, and the pages say "Explanations unavailable". Values leave this module
oriented so that positive means "towards higher risk".
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from prognosis.exceptions import PrognosisError
from prognosis.models.store import SavedModel

__all__ = [
    "Driver",
    "GlobalExplanation",
    "Importance",
    "RowExplanations",
    "Unavailable",
    "Waterfall",
    "explain_rows",
    "global_explanation",
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
    """A factor moving one patient's prediction: label with value, and its contribution."""

    feature: str
    label: str
    contribution: float
    risk_without: float | None = None
    risk_with: float | None = None
    horizon: float | None = None


@dataclass(frozen=True)
class Waterfall:
    """base + Σ drivers + other = final, on the explanation's scale (positive = higher risk)."""

    base: float
    drivers: list[Driver]
    other: float
    n_other: int
    final: float
    scale: str


_API = ("explain_model", "clinical_label", "risk_effects")


def _module() -> ModuleType | Unavailable:
    """:mod:`prognosis.explain` when it offers the API above; else why not."""
    try:
        module = importlib.import_module("prognosis.explain")
    except ModuleNotFoundError as error:
        missing = error.name or "prognosis.explain"
        return Unavailable(f"the explanation module could not be imported ({missing} is missing)")
    lacking = [name for name in _API if not hasattr(module, name)]
    if lacking:
        return Unavailable(f"prognosis.explain does not provide {', '.join(lacking)}")
    return module


def _labels(saved: SavedModel) -> dict[str, dict[str, Any]]:
    return {str(f.get("name")): f for f in saved.features if f.get("name")}


def _label(name: str, entries: dict[str, dict[str, Any]]) -> str:
    if name in entries:
        return str(entries[name].get("label") or name)
    for prefix in ("missingindicator_", "missing_"):
        if name.startswith(prefix) and name[len(prefix) :] in entries:
            return f"{_label(name[len(prefix) :], entries)}: missing"
    return name


@dataclass
class _Explained:
    names: list[str]
    values: np.ndarray  # oriented
    base: np.ndarray  # oriented, one per row
    data: np.ndarray
    scale: str
    raw: Any  # the module's Explanation


def _explain(
    module: ModuleType, saved: SavedModel, X: pd.DataFrame, background: pd.DataFrame | None
) -> _Explained | Unavailable:
    try:
        explanation = module.explain_model(saved.pipeline, X, background=background)
    except PrognosisError as error:
        return Unavailable(str(error))
    sign = float(np.sign(np.mean(getattr(explanation, "sign", 1) or 1))) or 1.0
    values = np.asarray(explanation.values, dtype=float).reshape(len(X), -1)
    base = np.broadcast_to(np.asarray(explanation.base_values, dtype=float), (len(X),))
    scale = str(getattr(explanation, "output", "") or "model output")
    if sign < 0:
        scale += ", sign reversed"
    return _Explained(
        names=[str(n) for n in explanation.feature_names],
        values=sign * values,
        base=sign * base,
        data=np.asarray(getattr(explanation, "data", X.to_numpy()), dtype=float).reshape(
            values.shape
        ),
        scale=scale,
        raw=explanation,
    )


def _sample(X: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(X) <= rows:
        return X
    chosen = np.sort(np.random.default_rng(seed).choice(len(X), size=rows, replace=False))
    return X.iloc[chosen]


def global_explanation(
    saved: SavedModel,
    X: pd.DataFrame,
    *,
    rows: int = 300,
    background_rows: int = 100,
    top: int = 15,
    swarm: int = 10,
    seed: int = 0,
) -> GlobalExplanation | Unavailable:
    """SHAP values of a random sample of ``X``'s rows, summarised for the model report."""
    module = _module()
    if isinstance(module, Unavailable):
        return module
    background = _sample(X, background_rows, seed + 1)
    explained = _explain(module, saved, _sample(X, rows, seed), background)
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
    """Explanations of chosen rows, turned into one waterfall per row on demand."""

    module: ModuleType
    saved: SavedModel
    X: pd.DataFrame
    explained: _Explained

    def waterfall(self, i: int, horizon: float, *, up: int = 5, down: int = 5) -> Waterfall:
        """Row ``i``: the ``up`` largest rises and ``down`` largest falls, the rest as other."""
        values = self.explained.values[i]
        order = np.argsort(-values, kind="stable")
        rises = [j for j in order[:up] if values[j] > 0]
        falls = [j for j in order[::-1][:down] if values[j] < 0]
        chosen = rises + falls
        effects = self._effects(i, horizon, len(values) if chosen else 0)
        entries = _labels(self.saved)
        drivers = [
            self._driver(i, j, effects.get(self.explained.names[j]), entries) for j in chosen
        ]
        base = float(self.explained.base[i])
        shown = float(sum(values[j] for j in chosen))
        total = float(values.sum())
        return Waterfall(
            base=base,
            drivers=drivers,
            other=total - shown,
            n_other=len(values) - len(chosen),
            final=base + total,
            scale=self.explained.scale,
        )

    def _effects(self, i: int, horizon: float, top: int) -> dict[str, Any]:
        if top == 0:
            return {}
        effects = self.module.risk_effects(
            self.saved.pipeline,
            self.X.iloc[[i]],
            _row(self.explained.raw, i),
            [horizon],
            features=self.saved.features,
            top=top,
        )
        return {str(effect.feature): effect for effect in effects}

    def _driver(self, i: int, j: int, effect: Any, entries: dict[str, dict[str, Any]]) -> Driver:
        name = self.explained.names[j]
        if effect is not None and getattr(effect, "label", None):
            label = str(effect.label)
        elif name in entries:
            label = str(self.module.clinical_label(entries[name], self.explained.data[i, j]))
        else:
            label = _label(name, entries)
        return Driver(
            feature=name,
            label=label,
            contribution=float(self.explained.values[i, j]),
            risk_without=_float(getattr(effect, "risk_without", None)),
            risk_with=_float(getattr(effect, "risk_with", None)),
            horizon=_float(getattr(effect, "horizon", None)),
        )


def explain_rows(
    saved: SavedModel, X: pd.DataFrame, *, background: pd.DataFrame
) -> RowExplanations | Unavailable:
    """SHAP values of every row of ``X`` (one call), against ``background`` rows."""
    module = _module()
    if isinstance(module, Unavailable):
        return module
    explained = _explain(module, saved, X, background)
    if isinstance(explained, Unavailable):
        return explained
    return RowExplanations(module, saved, X, explained)


def _row(explanation: Any, i: int) -> Any:
    """Row ``i`` of an Explanation: its ``row(i)`` or indexing when it has one, else sliced."""
    if callable(getattr(explanation, "row", None)):
        return explanation.row(i)
    if hasattr(type(explanation), "__getitem__"):
        return explanation[i]
    sliced = {
        field: np.asarray(getattr(explanation, field))[i : i + 1] for field in ("values", "data")
    }
    base = np.asarray(explanation.base_values)
    sliced["base_values"] = base[i : i + 1] if base.ndim else base
    return dataclasses.replace(explanation, **sliced)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
