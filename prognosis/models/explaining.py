"""Shared implementations of the explanation hooks of the survival estimators.

A family picks the mixins that fit it and overrides the rest itself:

* :class:`LinearShapMixin`: exact SHAP of an output linear in the inputs, ``f(x) = c + coef . x``:
  the value of column j is ``coef_j * (x_j - m_j)`` with ``m`` the mean of the reference rows
  (or the family's training means), and the base value is ``f(m)``; they add up to ``f(x)``
  exactly. The family supplies :meth:`linear_coefficients` and ``_linear_output``.
* :class:`ProportionalHazardsMixin`: a SHAP value in log-hazard units taken away from a
  proportional-hazards margin: S'(h) = S(h) ** exp(-shap).

The SHAP values of tree ensembles come from :mod:`prognosis.explain.boosters` and
:mod:`prognosis.explain.trees`, which the tree families import when first asked to explain
(``shap`` takes seconds to import, and models that are never explained do not pay for it).
"""

from __future__ import annotations

import numpy as np

from prognosis.exceptions import ExplanationError
from prognosis.models.base import Fold, Inputs

__all__ = [
    "LINEAR_SHAP",
    "TREE_SHAP",
    "LinearShapMixin",
    "ProportionalHazardsMixin",
]

#: The method names that explanations report.
TREE_SHAP = "exact TreeSHAP (path-dependent)"
LINEAR_SHAP = "exact linear SHAP"


class LinearShapMixin:
    """Exact linear SHAP values (see the module notes), for an estimator that supplies
    ``linear_coefficients()`` and ``_linear_output(X)``, and ``_training_means()`` when it keeps
    its training means (explanations without a reference then use them)."""

    def shap_values(
        self, X: np.ndarray, reference: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Exact linear SHAP values of ``X`` (n, q) against the mean of ``reference`` rows.

        Returns ``values`` (n, q) and the base value ``f(mean)``. Without ``reference``, the
        training means; a family that keeps none raises
        :class:`~prognosis.exceptions.ExplanationError`.
        """
        coef = self.linear_coefficients()
        means = self._training_means() if reference is None else reference.mean(axis=0)
        zero = np.zeros((1, X.shape[1]))
        base = float(self._linear_output(zero)[0] + coef @ means)
        return coef[None, :] * (X - means[None, :]), base

    def linear_coefficients(self) -> np.ndarray:
        raise NotImplementedError

    def _linear_output(self, X: np.ndarray) -> np.ndarray:
        """The output f(X) that the SHAP values add up to."""
        raise NotImplementedError

    def _training_means(self) -> np.ndarray:
        raise ExplanationError(
            f"{type(self).__name__} keeps no training means to explain against; pass "
            "background= (the training rows, or a sample of them)"
        )


class ProportionalHazardsMixin:
    """``risk_without`` of a family whose SHAP values are in log-hazard units of a
    proportional-hazards model: taking a value away multiplies the hazard by exp(-shap)."""

    def risk_without(
        self, shap: np.ndarray, horizon: float, *, risk: float, inputs: Inputs, fold: Fold
    ) -> np.ndarray:
        """1 - S(h) ** exp(-shap): the risk with each feature's log hazard taken away."""
        return 1.0 - np.power(1.0 - risk, np.exp(-shap))
