"""SHAP values carried to the risk at a horizon: contributions in probability units.

A SHAP value in the model's own unit (log hazard, log time, a forest's risk score) is not
something a clinician reads; a contribution of "+3.2 percentage points to the 1-year risk" is.
:func:`explain_risk` asks the model family (its estimator's ``risk_contributions`` hook) to carry
one explanation's values to the risk by one horizon, so that for every row::

    reference + values.sum(axis=1) == risk        (exactly)

with ``risk`` the model's own ``predict_risk`` (the outcome's cumulative incidence for a
competing-risk model). The families' rules (docs/reports.md, "How the drivers are computed"):

* a family that explains a model output f (log hazard, log time) maps it to the risk with its
  own monotone F (its ``risk_without``): the reference is F(base), the risk at the SHAP base
  value, and each feature gets the share ``shap_j / sum(shap)`` of ``F(f(x)) - F(base)``;
* a family with exact SHAP values of S(horizon) (the random survival forest) explains the risk
  directly: contributions are minus those values, the reference 1 minus their base value.

The SHAP values in the model's unit are unchanged (:func:`prognosis.explain.explain_model`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prognosis.explain.columns import ModelInputs, aggregate, model_inputs
from prognosis.explain.explanation import Explanation, ExplanationError

__all__ = ["RiskExplanation", "explain_risk"]


@dataclass(frozen=True, eq=False)
class RiskExplanation:
    """Each feature's contribution to each row's risk by ``horizon``, as a probability.

    Attributes
    ----------
    feature_names : tuple of str
        The dataset's feature columns, in the order of ``values``' columns.
    horizon : float
        Days since index.
    values : ndarray (n, p)
        Contributions (0.01 = one percentage point); positive raises the risk.
    reference : ndarray (n,)
        The reference risk each row's contributions start from.
    risk : ndarray (n,)
        The model's predicted risk by ``horizon``: ``reference + values.sum(axis=1)``.
    data : DataFrame
        The feature values of the rows explained.
    """

    feature_names: tuple[str, ...]
    horizon: float
    values: np.ndarray
    reference: np.ndarray
    risk: np.ndarray
    data: pd.DataFrame


def explain_risk(
    pipeline: Any, X: pd.DataFrame, explanation: Explanation, horizon: float
) -> RiskExplanation:
    """Contributions of each feature to each row's risk by ``horizon``, adding up exactly.

    Parameters
    ----------
    pipeline : SurvivalPipeline
        The fitted pipeline that ``explanation`` explains.
    X : DataFrame
        The rows explained, with the dataset's feature columns.
    explanation : Explanation
        ``explain_model(pipeline, X, ...)``: the SHAP values in the model's unit.
    horizon : float
        Days since index.

    Returns
    -------
    RiskExplanation

    Raises
    ------
    ExplanationError
        When ``explanation`` is not of these rows, or the family cannot carry its values to a
        risk.
    PredictionHorizonError
        For a horizon past the training follow-up.
    """
    if explanation.values.shape[0] != len(X):
        raise ExplanationError(
            f"the explanation has {explanation.values.shape[0]} rows and X has {len(X)}; "
            "explain the same rows"
        )
    names = list(explanation.feature_names)

    @functools.cache
    def rows() -> ModelInputs:  # preprocessed once, for the families that need it
        return model_inputs(pipeline, X)

    @functools.cache
    def array() -> np.ndarray:
        return rows().array

    def fold(values: np.ndarray) -> np.ndarray:
        return aggregate(values, rows().sources, names)

    risk = np.asarray(pipeline.predict_risk(X, horizon), dtype=float)
    reference, values = pipeline[-1].risk_contributions(
        explanation.values, float(horizon), risk=risk, inputs=array, fold=fold
    )
    return RiskExplanation(
        feature_names=tuple(names),
        horizon=float(horizon),
        values=np.asarray(values, dtype=float),
        reference=np.asarray(reference, dtype=float),
        risk=risk,
        data=explanation.data,
    )
