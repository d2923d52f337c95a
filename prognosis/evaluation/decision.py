"""Decision curves for survival predictions at a horizon (Vickers et al. 2008).

Treating everyone whose predicted risk by the horizon reaches a threshold probability pt has
net benefit ``TP/n - FP/n * pt / (1 - pt)``. With censoring, TP and FP come from the observed
risk among the treated (Vickers, Cronin, Elkin & Gonen 2008, "Extensions to decision curve
analysis, a novel method for evaluating diagnostic tests, prediction models and molecular
markers", BMC Med Inform Decis Mak 8:53):

    TP/n = F_treated(h) * n_treated / n,    FP/n = (1 - F_treated(h)) * n_treated / n

where F_treated is Kaplan-Meier 1 - S(h) among the treated (Aalen-Johansen cumulative
incidence of cause 1 under competing risks). Treating all uses F of everyone; treating none
has net benefit 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prognosis.evaluation.calibration import incidence_at, incidence_of_first
from prognosis.evaluation.metrics import (
    EvaluationError,
    check_probabilities,
    check_within_follow_up,
)
from prognosis.models.target import check_target

__all__ = ["DEFAULT_THRESHOLDS", "DecisionCurve", "decision_curve", "net_benefit"]

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.01 * k, 2) for k in range(1, 100))


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit of the model, of treating all and of treating none, per threshold."""

    horizon: float
    thresholds: tuple[float, ...]
    model: tuple[float, ...]
    treat_all: tuple[float, ...]
    treat_none: tuple[float, ...]
    event_rate: float  # observed risk by the horizon in the whole sample


def decision_curve(
    y: np.ndarray,
    predicted_risk: np.ndarray,
    horizon: float,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> DecisionCurve:
    """Decision curve at ``horizon``: the model against treat-all and treat-none.

    Parameters
    ----------
    y : structured array with fields ``event`` and ``time`` (integer codes: competing risks)
    predicted_risk : predicted probability of the outcome by ``horizon``, one per row
    horizon : the time the risks refer to
    thresholds : threshold probabilities, each in (0, 1)

    Returns
    -------
    DecisionCurve

    Raises
    ------
    EvaluationError
        When ``horizon`` lies past the follow-up of ``y`` (its last time).
    """
    target = check_target(y, competing=True)
    check_within_follow_up(target.time, horizon)
    risk = check_probabilities(predicted_risk, target.time.size)
    grid = _thresholds(thresholds)
    rate = incidence_at(target.event, target.time, horizon)
    odds = grid / (1.0 - grid)
    return DecisionCurve(
        horizon=float(horizon),
        thresholds=tuple(grid.tolist()),
        model=tuple(_net_benefit(target.event, target.time, risk, horizon, grid).tolist()),
        treat_all=tuple((rate - (1.0 - rate) * odds).tolist()),
        treat_none=(0.0,) * grid.size,
        event_rate=rate,
    )


def net_benefit(
    y: np.ndarray,
    predicted_risk: np.ndarray,
    horizon: float,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> np.ndarray:
    """Net benefit of treating those with predicted risk >= each threshold (the model curve);
    a horizon past the follow-up of ``y`` raises :class:`EvaluationError`."""
    target = check_target(y, competing=True)
    check_within_follow_up(target.time, horizon)
    risk = check_probabilities(predicted_risk, target.time.size)
    return _net_benefit(target.event, target.time, risk, horizon, _thresholds(thresholds))


def _net_benefit(
    event: np.ndarray, time: np.ndarray, risk: np.ndarray, horizon: float, grid: np.ndarray
) -> np.ndarray:
    order = np.argsort(-risk, kind="stable")
    # those treated at threshold pt are the n_treated highest risks, all >= pt
    n_treated = np.searchsorted(-risk[order], -grid, side="right")
    sizes = np.unique(n_treated[n_treated > 0])
    observed = np.zeros(risk.size + 1)
    observed[sizes] = incidence_of_first(event[order], time[order], horizon, sizes)
    rate = observed[n_treated]
    share = n_treated / risk.size
    return rate * share - (1.0 - rate) * share * grid / (1.0 - grid)


def _thresholds(thresholds: Sequence[float]) -> np.ndarray:
    grid = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if grid.ndim != 1 or grid.size == 0 or np.any((grid <= 0) | (grid >= 1)):
        raise EvaluationError(
            f"thresholds must be probabilities strictly between 0 and 1; got {list(thresholds)}"
        )
    return grid
