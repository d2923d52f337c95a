"""Scorers for model selection: ``GridSearchCV(model, grid, scoring=uno_c_scorer(tau=365))``.

A scorer is called as ``scorer(estimator, X, y)`` and returns a number where higher is better,
the protocol of :func:`sklearn.metrics.check_scoring`. Without ``scoring``, a search uses the
estimator's ``score``: Harrell's C (:meth:`prognosis.models.base.SurvivalEstimator.score`).

Both scorers here weight by the inverse probability of censoring. Inside a search they see only
the held-out fold, so its own reverse Kaplan-Meier estimate gives the weights (the training fold
is not passed to a scorer). The maths are :mod:`prognosis.evaluation.metrics`'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TimeDependentAUCScorer", "UnoCScorer", "td_auc_scorer", "uno_c_scorer"]


@dataclass(frozen=True)
class UnoCScorer:
    """Uno's IPCW concordance index up to ``tau`` of ``estimator.predict(X)``."""

    tau: float | None = None

    def __call__(self, estimator: Any, X: Any, y: np.ndarray) -> float:
        from prognosis.evaluation.metrics import uno_c  # evaluation imports the models

        return uno_c(y, y, estimator.predict(X), tau=self.tau)


@dataclass(frozen=True)
class TimeDependentAUCScorer:
    """Cumulative/dynamic AUC at ``horizon`` days of ``estimator.predict_risk(X, horizon)``."""

    horizon: float

    def __call__(self, estimator: Any, X: Any, y: np.ndarray) -> float:
        from prognosis.evaluation.metrics import time_dependent_auc

        risk = estimator.predict_risk(X, self.horizon)
        auc, _ = time_dependent_auc(y, y, risk, [self.horizon])
        return float(auc[0])


def uno_c_scorer(tau: float | None = None) -> UnoCScorer:
    """A scorer of Uno's C (cause-specific under competing risks) truncated at ``tau`` days.

    Parameters
    ----------
    tau : float, optional
        Only pairs whose shorter time is below ``tau`` count; None: the whole follow-up.

    Returns
    -------
    UnoCScorer
        Callable as ``scorer(estimator, X, y)``, for ``GridSearchCV(scoring=...)`` or
        ``cross_val_score(scoring=...)``.
    """
    return UnoCScorer(tau)


def td_auc_scorer(horizon: float) -> TimeDependentAUCScorer:
    """A scorer of the time-dependent (cumulative/dynamic) AUC at ``horizon`` days.

    The score is the AUC of the predicted risk by ``horizon`` (``predict_risk``); the horizon
    must lie inside each held-out fold's follow-up.

    Parameters
    ----------
    horizon : float
        Days from the index date.

    Returns
    -------
    TimeDependentAUCScorer
        Callable as ``scorer(estimator, X, y)``.
    """
    return TimeDependentAUCScorer(float(horizon))
