"""A stand-in for ``prognosis.explain`` with the agreed API, exact for linear risk scores.

For a model whose risk score f is linear in its inputs (Cox: the log partial hazard), the
interventional SHAP value of feature j against a single background point b is
f(b with x_j) - f(b), and the values add up to f(x) - f(b) exactly. The report tests use it
to check the report side (adapter, waterfall, pages) against the model's own predictions,
whether or not the real module is installed yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Explanation:
    feature_names: list[str]
    values: np.ndarray
    base_values: np.ndarray
    output: str
    sign: int
    data: pd.DataFrame

    def row(self, i: int) -> Explanation:
        return Explanation(
            self.feature_names,
            self.values[i : i + 1],
            self.base_values[i : i + 1],
            self.output,
            self.sign,
            self.data.iloc[i : i + 1],
        )


@dataclass
class Effect:
    feature: str
    label: str
    shap: float
    direction: str
    risk_without: float
    risk_with: float
    horizon: float


def explain_model(
    pipeline: Any, X: pd.DataFrame, *, background: pd.DataFrame | None = None
) -> Explanation:
    point = (X if background is None else background).mean().to_frame().T
    base = float(pipeline.predict(point)[0])
    values = np.empty(X.shape)
    for j, column in enumerate(X.columns):
        moved = pd.concat([point] * len(X), ignore_index=True)
        moved[column] = X[column].to_numpy()
        values[:, j] = pipeline.predict(moved) - base
    return Explanation(
        list(X.columns), values, np.full(len(X), base), "log hazard", 1, X.reset_index(drop=True)
    )


def clinical_label(feature_entry: dict[str, Any], value: float) -> str:
    return f"{feature_entry.get('label') or feature_entry['name']}: {value:g}"


def risk_effects(
    pipeline: Any,
    x_row: pd.DataFrame,
    explanation_row: Explanation,
    horizons: Any,
    *,
    features: Any = (),
    top: int = 5,
) -> list[Effect]:
    horizon = float(next(iter(horizons)))
    shap = explanation_row.values[0]
    order = np.argsort(-np.abs(shap))[:top]
    with_it = float(pipeline.predict_risk(x_row, horizon)[0])
    effects = []
    for j in order:
        name = explanation_row.feature_names[j]
        without = x_row.copy()
        without[name] = 0.0
        effects.append(
            Effect(
                feature=name,
                label="",  # the adapter falls back to clinical_label
                shap=float(shap[j]),
                direction="raises" if shap[j] > 0 else "lowers",
                risk_without=float(pipeline.predict_risk(without, horizon)[0]),
                risk_with=with_it,
                horizon=horizon,
            )
        )
    return effects


def as_module() -> ModuleType:
    """This file as the module ``prognosis.explain`` (for ``sys.modules``)."""
    module = ModuleType("prognosis.explain")
    for name in ("Explanation", "Effect", "explain_model", "clinical_label", "risk_effects"):
        setattr(module, name, globals()[name])
    return module
