"""Exact SHAP values of a fitted pipeline's output, per dataset feature.

The model family decides how it is explained, through the hooks of its estimator
(:class:`prognosis.models.base.SurvivalEstimator`): ``shap_output`` names the output explained
(its unit and sign) and the method, ``shap_values`` computes the values on the model's input
columns; this module preprocesses the rows, calls the hook and sums the columns back into the
dataset's features (:mod:`.columns`). Which family explains which output, and how, is listed in
docs/reports.md (the hooks: docs/models.md).

Tree methods are path-dependent (the reference population is the trees' own training cover)
and ignore ``background``. Linear methods explain against the background's mean
(:mod:`prognosis.models.explaining`). Time-dependent explanations of S(t) are in :mod:`.timedep`.

Every family of the registry has an exact method, so there is no sampling fallback: shap's
model-agnostic explainers (permutation, exact) compile numba code on first use, which costs
20 to 40 seconds before the first row, and they are approximate. An estimator without the hooks
is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from prognosis.explain.columns import aggregate, model_inputs
from prognosis.explain.explanation import Explanation, ExplanationError

__all__ = ["explain_model", "shap_output"]


#: Rows per call of the estimator's SHAP method when progress is reported.
CHUNK_ROWS = 10_000


def explain_model(
    pipeline: Any,
    X: pd.DataFrame,
    *,
    background: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
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
    progress : callable, optional
        Called as ``progress(done, total)`` (rows) after each chunk of :data:`CHUNK_ROWS` rows;
        given, the rows are explained chunk by chunk (each row's values do not depend on the
        others, so the result is the same).

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
    reference = None if background is None else model_inputs(pipeline, background).array
    estimator = pipeline[-1]
    output = shap_output(estimator)
    values, base = _shap_values(estimator, inputs.array, reference, progress)
    features = list(inputs.data.columns)
    return Explanation(
        feature_names=tuple(features),
        values=aggregate(values, inputs.sources, features),
        base_values=np.broadcast_to(np.asarray(base, dtype=np.float64), (len(X),)).copy(),
        output=output.unit,
        sign=output.sign,
        data=inputs.data,
        method=output.method,
    )


def _shap_values(
    estimator: Any,
    array: np.ndarray,
    reference: np.ndarray | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, Any]:
    if progress is None:
        return estimator.shap_values(array, reference)
    n = len(array)
    values, bases = [], []
    for start in range(0, n, CHUNK_ROWS):
        chunk = array[start : start + CHUNK_ROWS]
        part, base = estimator.shap_values(chunk, reference)
        values.append(part)
        bases.append(np.broadcast_to(np.asarray(base, dtype=np.float64), (len(chunk),)))
        progress(min(start + CHUNK_ROWS, n), n)
    if not values:
        return estimator.shap_values(array, reference)
    return np.concatenate(values), np.concatenate(bases)


def shap_output(estimator: Any) -> Any:
    """The estimator's ``shap_output`` hook (unit, sign, method).

    Raises
    ------
    ExplanationError
        When the estimator has no exact SHAP method (None, or no hook at all).
    """
    output = getattr(estimator, "shap_output", None)
    if output is None:
        raise ExplanationError(
            f"no exact SHAP method for {type(estimator).__name__}; a model family explains "
            "itself through its estimator's shap_output and shap_values "
            "(docs/adding_a_model_family.md)"
        )
    return output
