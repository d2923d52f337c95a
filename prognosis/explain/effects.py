"""How each top feature moves one patient's predicted risk at the horizons.

A SHAP value in log-hazard units says little to a clinician; "raises the 1-year risk from 8%
to 14%" does. For each of the patient's top features (largest absolute SHAP value), the risk
with the feature's contribution (the model's actual prediction) is set beside the risk without
it: the model output moved back by that feature's SHAP value, as if the feature contributed no
more than on average, and carried to a risk through the model's own baseline. The model family
does that itself (its estimator's ``risk_without`` hook); today's families:

* proportional-hazards margins (xgb-cox, cox, coxnet, gbsa): S'(h) = S(h) ** exp(-shap);
* Weibull log time: S'(h) = S(h) ** exp(rho * shap), rho the fitted Weibull shape;
* xgb-aft log time: S'(h) from the AFT distribution at margin - shap;
* cause-specific Cox: the cause-1 cumulative incidence with the cause-1 log hazard moved by
  -shap (the other causes' hazards unchanged);
* random survival forest: its S(h) is explained exactly at the horizon
  (:func:`prognosis.explain.timedep.explain_survival`) and the feature's share taken away.

Every one of these is exact given the model: no sampling.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from prognosis.artifacts import Feature
from prognosis.explain.columns import ModelInputs, aggregate, model_inputs
from prognosis.explain.explanation import Explanation, ExplanationError
from prognosis.explain.labels import clinical_label, feature_entries
from prognosis.horizons import horizon_text

__all__ = ["Effect", "effect_sentence", "risk_effects"]


@dataclass(frozen=True)
class Effect:
    """One feature's effect on one patient's risk at one horizon.

    Attributes
    ----------
    feature : str
        The dataset column.
    label : str
        The feature and the patient's value in clinical words.
    shap : float
        The feature's SHAP value, in the explanation's output units.
    direction : {"raises", "lowers"}
        What the feature does to the risk at ``horizon``.
    risk_without : float
        Risk by ``horizon`` with the feature's contribution taken away.
    risk_with : float
        The model's predicted risk by ``horizon`` (``pipeline.predict_risk``).
    horizon : float
        Days since index.
    """

    feature: str
    label: str
    shap: float
    direction: Literal["raises", "lowers"]
    risk_without: float
    risk_with: float
    horizon: float


def risk_effects(
    pipeline: Any,
    x_row: pd.DataFrame,
    explanation: Explanation,
    horizons: Sequence[float],
    *,
    features: Iterable[Feature] = (),
    top: int = 5,
) -> list[Effect]:
    """The risk with and without each of the patient's ``top`` features, at each horizon.

    Parameters
    ----------
    pipeline : SurvivalPipeline
        The fitted pipeline that ``explanation`` explains.
    x_row : DataFrame
        The patient: one row with the dataset's feature columns.
    explanation : Explanation
        That row's explanation (``explain_model(pipeline, x_row)``, or ``.row(i)`` of many).
    horizons : sequence of float
        Days since index.
    features : iterable of Feature
        ``features.json`` entries, for the labels (a feature without one is named as is).
    top : int
        How many features, by decreasing absolute SHAP value (features with 0 are skipped).

    Returns
    -------
    list of Effect
        Feature by feature (most important first), horizon by horizon.
    """
    if len(x_row) != 1 or explanation.values.shape[0] != 1:
        raise ExplanationError(
            f"risk_effects explains one patient: got {len(x_row)} rows and an explanation of "
            f"{explanation.values.shape[0]}"
        )
    shap = explanation.values[0]
    order = [j for j in np.argsort(-np.abs(shap), kind="stable")[:top] if shap[j] != 0]
    entries = feature_entries(features)
    names = list(explanation.feature_names)

    @functools.cache
    def row() -> ModelInputs:  # preprocessed once, for the families that need it
        return model_inputs(pipeline, x_row)

    def fold(values: np.ndarray) -> np.ndarray:
        return aggregate(values, row().sources, names)

    at_horizon = {}
    for horizon in map(float, horizons):
        risk = float(pipeline.predict_risk(x_row, horizon)[0])
        without = pipeline[-1].risk_without(
            shap, horizon, risk=risk, inputs=lambda: row().array, fold=fold
        )
        at_horizon[horizon] = risk, without
    effects = []
    for j in order:
        name = explanation.feature_names[j]
        label = clinical_label(entries.get(name, Feature(name)), explanation.data.iloc[0, j])
        for horizon, (risk, without) in at_horizon.items():
            effects.append(
                Effect(
                    feature=name,
                    label=label,
                    shap=float(shap[j]),
                    direction="raises" if risk >= without[j] else "lowers",
                    risk_without=float(without[j]),
                    risk_with=risk,
                    horizon=horizon,
                )
            )
    return effects


def effect_sentence(effect: Effect) -> str:
    """E.g. "raises the 1-year risk from 8% to 14%" (risk without, then with the feature)."""
    before, after = _percents(effect.risk_without, effect.risk_with)
    horizon = horizon_text(effect.horizon, before_noun=True)
    return f"{effect.direction} the {horizon} risk from {before} to {after}"


def _percents(a: float, b: float) -> tuple[str, str]:
    """Both as percentages, with the fewest decimals (0 to 2) that tell them apart."""
    least = 1 if min(a, b) < 0.01 else 0
    for digits in range(least, 3):
        first, second = f"{100 * a:.{digits}f}%", f"{100 * b:.{digits}f}%"
        if first != second:
            break
    return first, second
