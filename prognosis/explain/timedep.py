"""How each feature moves S(t) across the follow-up, in the spirit of SurvSHAP(t).

A random survival forest's S(t) is, at each time, an average of the trees' leaf values, so
TreeSHAP explains it exactly at every time at once (a multi-output tree per time grid; see
:mod:`prognosis.explain.trees`). That is the one model family where this is exact, and the one
whose estimator implements the ``survival_shap_values`` hook.

For the others it is not offered: S(t) of a Cox-type model (``exp(-H0(t) exp(margin))``), of
an AFT model or of a cause-specific combination is a non-linear function of the margin, so
per-feature contributions to S(t) would need a sampling explainer over every time point and
would not be exact. For those models, :func:`prognosis.explain.effects.risk_effects` reports
how each top feature moves the risk at the horizons, exactly through the model's baseline.
The ``survshap`` package is not used: its tree path is broken with current shap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from prognosis.explain.columns import aggregate, model_inputs
from prognosis.explain.explanation import SurvivalExplanation

__all__ = ["explain_survival"]


def explain_survival(pipeline: Any, X: pd.DataFrame, times: Sequence[float]) -> SurvivalExplanation:
    """Exact SHAP values of S(t) at each of ``times``, per dataset feature.

    Parameters
    ----------
    pipeline : SurvivalPipeline
        A fitted random survival forest pipeline (``rsf``).
    X : DataFrame
        Rows with the dataset's feature columns.
    times : sequence of float
        Days since index.

    Returns
    -------
    SurvivalExplanation
        ``values`` (n, p, len(times)); ``base_values + values.sum(axis=1)`` equals
        ``pipeline.predict_survival(X, times)``.

    Raises
    ------
    ExplanationError
        For models other than the random survival forest (see the module notes): the
        estimator's ``survival_shap_values`` hook says so.
    PredictionHorizonError
        For a time past the forest's training follow-up.
    """
    inputs = model_inputs(pipeline, X)
    values, base = pipeline[-1].survival_shap_values(inputs.array, times)
    grid = np.atleast_1d(np.asarray(times, dtype=float))
    features = list(inputs.data.columns)
    return SurvivalExplanation(
        feature_names=tuple(features),
        times=grid,
        values=aggregate(values, inputs.sources, features),
        base_values=np.broadcast_to(base, (len(X), len(grid))).copy(),
        data=inputs.data,
        method="exact TreeSHAP (path-dependent)",
    )
