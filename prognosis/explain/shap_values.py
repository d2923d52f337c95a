"""SHAP values of any fitted prognosis pipeline, per dataset feature (:func:`explain_model`).

Which method, for which model (the estimator's class decides, not its registry name):

========================  =============  ====  =========================================
model                     output         sign  method
========================  =============  ====  =========================================
xgb-cox                   log hazard      +1   exact TreeSHAP (:mod:`.boosters`)
xgb-aft                   log time        -1   exact TreeSHAP (:mod:`.boosters`)
rsf                       risk score      +1   exact TreeSHAP, tree dictionaries (:mod:`.trees`)
gbsa                      log hazard      +1   exact TreeSHAP, tree dictionaries (:mod:`.trees`)
cox, coxnet               log hazard      +1   exact linear SHAP (:mod:`.linear`)
cause-specific-cox        log hazard      +1   exact linear SHAP of the cause-1 model
weibull                   log time        -1   exact linear SHAP of the log median time
========================  =============  ====  =========================================

Tree methods are path-dependent (the reference population is the trees' own training cover)
and ignore ``background``. Linear methods explain against the background's mean
(:mod:`.linear`). Time-dependent explanations of S(t) are in :mod:`.timedep`.

Every model of the registry has an exact method, so there is no sampling fallback: shap's
model-agnostic explainers (permutation, exact) compile numba code on first use, which costs
20 to 40 seconds before the first row, and they are approximate. Another estimator is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from prognosis.explain.boosters import booster_shap
from prognosis.explain.columns import ModelInputs, aggregate, model_inputs
from prognosis.explain.explanation import Explanation, ExplanationError, Output
from prognosis.explain.linear import linear_shap
from prognosis.explain.trees import boosting_shap, forest_risk_shap
from prognosis.models.boosting import XGBAFT, XGBCox
from prognosis.models.competing import CauseSpecificCox
from prognosis.models.cox import CoxNet, CoxPH
from prognosis.models.forest import GradientBoostingBaseline, RandomSurvivalForest
from prognosis.models.parametric import WeibullAFT

__all__ = ["explain_model"]

_TREE_SHAP = "exact TreeSHAP (path-dependent)"
_LINEAR_SHAP = "exact linear SHAP"

#: A SHAP method: (estimator, rows, background rows or None) -> (values (n, q), base value).
Method = Callable[[Any, ModelInputs, ModelInputs | None], tuple[np.ndarray, float]]


def explain_model(
    pipeline: Any, X: pd.DataFrame, *, background: pd.DataFrame | None = None
) -> Explanation:
    """SHAP values of a fitted pipeline's output for each row of ``X``, per dataset feature.

    Parameters
    ----------
    pipeline : SurvivalPipeline
        A fitted ``preprocess`` then ``model`` pipeline (``SavedModel.pipeline``).
    X : DataFrame
        Rows with the dataset's feature columns (:func:`prognosis.training.check_schema`).
    background : DataFrame, optional
        Reference rows, same columns. Linear models explain against their mean (required for
        coxnet, cause-specific-cox and weibull, which keep no training means); tree models
        ignore them.

    Returns
    -------
    Explanation
        ``base_values + values.sum(axis=1)`` equals the model's output for every row: the
        log hazard ratio, log time or risk score named in ``output``.

    Raises
    ------
    ExplanationError
        When ``X`` lacks the model's columns, a needed ``background`` is missing, or the model
        has no exact method.
    """
    inputs = model_inputs(pipeline, X)
    reference = None if background is None else model_inputs(pipeline, background)
    estimator = pipeline[-1]
    output, sign, method, explain = _method(estimator)
    values, base = explain(estimator, inputs, reference)
    features = list(inputs.data.columns)
    return Explanation(
        feature_names=tuple(features),
        values=aggregate(values, inputs.sources, features),
        base_values=np.broadcast_to(np.asarray(base, dtype=np.float64), (len(X),)).copy(),
        output=output,
        sign=sign,
        data=inputs.data,
        method=method,
    )


def _method(estimator: Any) -> tuple[Output, int, str, Method]:
    if isinstance(estimator, XGBCox):
        return "log hazard", 1, _TREE_SHAP, _booster
    if isinstance(estimator, XGBAFT):
        return "log time", -1, _TREE_SHAP, _booster
    if isinstance(estimator, RandomSurvivalForest):
        return "risk score", 1, _TREE_SHAP, _forest
    if isinstance(estimator, GradientBoostingBaseline):
        return "log hazard", 1, _TREE_SHAP, _boosting
    if isinstance(estimator, CoxPH | CoxNet | CauseSpecificCox):
        return "log hazard", 1, _LINEAR_SHAP, _linear
    if isinstance(estimator, WeibullAFT):
        return "log time", -1, _LINEAR_SHAP, _linear
    raise ExplanationError(
        f"no exact SHAP method for {type(estimator).__name__}; explainable models: xgb-cox, "
        "xgb-aft, rsf, gbsa, cox, coxnet, cause-specific-cox, weibull"
    )


def _booster(estimator: Any, inputs: ModelInputs, reference: Any) -> tuple[np.ndarray, float]:
    return booster_shap(estimator.booster_, inputs.array)


def _forest(estimator: Any, inputs: ModelInputs, reference: Any) -> tuple[np.ndarray, float]:
    return forest_risk_shap(estimator.model_, inputs.array)


def _boosting(estimator: Any, inputs: ModelInputs, reference: Any) -> tuple[np.ndarray, float]:
    return boosting_shap(estimator.model_, inputs.array)


def _linear(
    estimator: Any, inputs: ModelInputs, reference: ModelInputs | None
) -> tuple[np.ndarray, float]:
    means = None if reference is None else reference.array.mean(axis=0)
    return linear_shap(estimator, inputs.array, means)
