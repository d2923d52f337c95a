"""Exact SHAP values of linear models: ``coef_j * (x_j - reference_j)``.

For a model whose output is ``f(x) = c + coef . x``, the SHAP value of column j is
``coef_j * (x_j - m_j)`` with ``m`` the reference (the mean of a background population), and the
base value is ``f(m)``; they add up to ``f(x)`` exactly.

* Cox models (``CoxPH``, ``CoxNet``, ``CauseSpecificCox`` for cause 1): f is the log hazard
  ratio that ``predict`` returns.
* ``WeibullAFT``: f is the log of the predicted median time (``log(-predict)``), linear in x
  through its ``coef_`` (lifelines' ``lambda_`` coefficients; the Weibull shape has no
  covariates here).

The reference is the mean of ``background`` after preprocessing when one is given. Without
one, ``CoxPH`` uses its training means (``training_mean_``: its log partial hazard is centred
on them, so the base value is 0); the other models keep no training means and need a
``background`` (the training rows, or a sample of them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prognosis.explain.explanation import ExplanationError
from prognosis.models.competing import CauseSpecificCox
from prognosis.models.cox import CoxNet, CoxPH
from prognosis.models.parametric import WeibullAFT

__all__ = ["coefficients", "linear_output", "linear_shap"]


def linear_output(estimator: Any, X: np.ndarray) -> np.ndarray:
    """The linear output f(X) that :func:`linear_shap` explains."""
    score = estimator.predict(X)
    if isinstance(estimator, WeibullAFT):
        return np.log(-score)  # predict = -median time
    return score


def linear_shap(
    estimator: Any, X: np.ndarray, reference: np.ndarray | None
) -> tuple[np.ndarray, float]:
    """SHAP values of a fitted linear model on model-input rows ``X`` (n, q).

    Parameters
    ----------
    estimator : CoxPH, CoxNet, CauseSpecificCox or WeibullAFT
    X : ndarray (n, q)
    reference : ndarray (q,) or None
        The background mean of each column; None to use the model's own training means.

    Returns
    -------
    values : ndarray (n, q)
    base : float
        f(reference).
    """
    coef = coefficients(estimator)
    if reference is None:
        reference = _training_means(estimator)
    zero = np.zeros((1, X.shape[1]))
    base = float(linear_output(estimator, zero)[0] + coef @ reference)
    return coef[None, :] * (X - reference[None, :]), base


def coefficients(estimator: Any) -> np.ndarray:
    """The linear model's coefficient of each input column, as a float array (q,)."""
    if isinstance(estimator, CoxPH | WeibullAFT):
        return np.asarray(estimator.coef_, dtype=float)
    if isinstance(estimator, CoxNet):
        return np.asarray(estimator.model_.coef_, dtype=float)[:, -1]
    if isinstance(estimator, CauseSpecificCox):
        return np.asarray(estimator.coef_[estimator.causes_.index(1)], dtype=float)
    raise ExplanationError(f"{type(estimator).__name__} is not a linear model")


def _training_means(estimator: Any) -> np.ndarray:
    if isinstance(estimator, CoxPH):
        return np.asarray(estimator.training_mean_, dtype=float)
    raise ExplanationError(
        f"{type(estimator).__name__} keeps no training means to explain against; pass "
        "background= (the training rows, or a sample of them)"
    )
