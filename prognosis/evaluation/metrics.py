"""Discrimination and accuracy of survival predictions: pure functions over numpy arrays.

Each metric wraps scikit-survival (``sksurv.metrics``) and takes prognosis targets: structured
arrays with fields ``event`` and ``time`` (:mod:`prognosis.models.target`). Integer event codes
mean competing risks: 0 censored, 1 the outcome, 2+ competing events. Risk scores are higher =
worse; survival predictions are P(no outcome by t), i.e. 1 - cumulative incidence of cause 1
under competing risks.

The inverse-probability-of-censoring-weighted (IPCW) metrics (Uno's C, time-dependent AUC,
Brier score) estimate the censoring distribution G by Kaplan-Meier on their first argument
(``y_train``). :func:`prognosis.evaluation.summary.evaluate_predictions` passes the rows being
scored themselves, as ``riskRegression::Score`` does: a later or external cohort is usually
censored more heavily than the training data, and weights from the training rows then
understate the Brier score. The Brier score and the AUC weight a person with an event at T by
1 / G(T-), the probability of being still uncensored just before T (events precede censorings
on the same day), and a person still followed at t by 1 / G(t): with tied days this equals
``riskRegression::Score(cens.model = "km")`` (scikit-survival's own functions use G(T)).
Weights from Kaplan-Meier assume that censoring is independent of the covariates.
Two things make the metrics usable on real splits:

* :func:`evaluation_times` clips requested horizons to where the metrics are defined and says
  which horizons were clipped or dropped, so a report can say so;
* every IPCW metric censors the test follow-up at the largest training time first. A metric at
  time t only looks at whether a person is still followed after t, so for every t below that
  limit (all :func:`evaluation_times` returns) the value is unchanged.

Competing risks: Harrell's and Uno's C for cause 1 count competing events as censoring
(cause-specific concordance). The Brier score and time-dependent AUC count a competing event
as "no outcome", weighted by the inverse probability of censoring at its time (Schoop et al.
2011, Stat Med 30:3139; Blanche et al. 2013, Stat Med 32:5381, definition 2 of controls).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.nonparametric import cumulative_incidence_competing_risks, kaplan_meier_estimator

from prognosis.evaluation.censoring import CensoringModel, KaplanMeierCensoring
from prognosis.exceptions import EvaluationError
from prognosis.models.survival import step_function
from prognosis.models.target import SurvivalTarget, check_target, make_target

__all__ = [
    "REFERENCE",
    "EvaluationError",
    "EvaluationTimes",
    "Horizon",
    "brier_scores",
    "check_probabilities",
    "check_within_follow_up",
    "evaluation_times",
    "harrell_c",
    "integrated_brier",
    "marginal_incidence",
    "observed_risk",
    "time_dependent_auc",
    "uno_c",
]


@dataclass(frozen=True)
class Horizon:
    """One requested horizon and the time it is evaluated at (``None``: dropped)."""

    requested: float
    used: float | None
    reason: str = ""

    @property
    def dropped(self) -> bool:
        return self.used is None

    @property
    def clipped(self) -> bool:
        return self.used is not None and self.used != self.requested


@dataclass(frozen=True)
class EvaluationTimes:
    """Horizons mapped onto ``[lower, upper)``, where every metric here is defined.

    ``lower`` is the first outcome event in the test data (before it no one is a case);
    ``upper`` the end of the usable follow-up (see :func:`evaluation_times`).
    """

    horizons: tuple[Horizon, ...]
    lower: float
    upper: float

    @property
    def times(self) -> np.ndarray:
        """The distinct times to evaluate at, ascending."""
        return np.unique([h.used for h in self.horizons if h.used is not None]).astype(float)

    @property
    def dropped(self) -> tuple[float, ...]:
        return tuple(h.requested for h in self.horizons if h.dropped)

    @property
    def clipped(self) -> tuple[tuple[float, float], ...]:
        return tuple((h.requested, h.used) for h in self.horizons if h.clipped)  # type: ignore[misc]

    @property
    def notes(self) -> list[str]:
        return [h.reason for h in self.horizons if h.reason]


def evaluation_times(
    y_train: np.ndarray,
    y_test: np.ndarray,
    horizons: Sequence[float],
    *,
    min_at_risk: int = 10,
    model_follow_up: float | None = None,
) -> EvaluationTimes:
    """Clip requested horizons to the follow-up where the IPCW metrics are defined.

    Usable times lie in ``[lower, upper)``. ``lower`` is the first outcome event of the test
    data: a horizon before it is dropped (nobody is a case yet). ``upper`` is the end of the
    training follow-up (past it the censoring distribution cannot be estimated) or the time
    after which fewer than ``min_at_risk`` test rows are still followed, whichever comes
    first: a horizon at or beyond it is clipped to the last test time before ``upper``.
    Every change is explained in ``notes``.

    Parameters
    ----------
    y_train, y_test : structured arrays with fields ``event`` and ``time``
    horizons : the horizons asked for, in the same unit as ``time`` (days)
    min_at_risk : test rows that must still be followed beyond a clipped horizon (1: up to
        the last test time, scikit-survival's own limit); estimates resting on a handful of
        rows are noise, and most bootstrap resamples would not reach them.
    model_follow_up : the shortest training follow-up (``max_time_``) of the models whose
        predictions are evaluated, when it is shorter than ``y_train``'s (cross-validation:
        each fold's model was fitted on fewer rows); no model predicts past its own follow-up,
        so ``upper`` is bounded by it too.

    Returns
    -------
    EvaluationTimes
    """
    train = check_target(y_train, competing=True)
    test = check_target(y_test, competing=True)
    requested = np.asarray(horizons, dtype=float).ravel()
    if requested.size == 0 or not np.all(np.isfinite(requested)) or np.any(requested <= 0):
        raise EvaluationError(f"horizons must be positive finite times; got {requested.tolist()}")
    outcome_times = test.time[test.event == 1]
    if outcome_times.size == 0:
        raise EvaluationError("y_test has no outcome events (event == 1): nothing to evaluate")
    lower = float(outcome_times.min())
    ordered = np.sort(test.time)
    keep = max(1, min(int(min_at_risk), ordered.size - 1))
    followed = float(ordered[ordered.size - keep])  # t < followed: >= keep rows beyond t
    train_end = float(train.time.max())
    why_train = f"the training follow-up ends at {train_end:g}"
    if model_follow_up is not None and model_follow_up < train_end:
        train_end = float(model_follow_up)
        why_train = (
            f"the shortest follow-up of a validation fold's training rows ends at {train_end:g}"
        )
    if train_end < followed:
        upper, why = train_end, why_train
    elif keep == 1:
        upper, why = followed, f"the test follow-up ends at {followed:g}"
    else:
        upper, why = followed, f"fewer than {keep} test rows are followed beyond {followed:g}"
    before = ordered[ordered < upper]
    last = float(before[-1]) if before.size else -np.inf
    placed = tuple(_place(value, lower, upper, last, why) for value in requested.tolist())
    return EvaluationTimes(placed, lower, upper)


def _place(value: float, lower: float, upper: float, last: float, why: str) -> Horizon:
    if value < lower:
        return Horizon(
            value,
            None,
            f"horizon {value:g} dropped: before the first outcome event "
            f"in the test data ({lower:g})",
        )
    if value < upper:
        return Horizon(value, value)
    if last >= lower:
        return Horizon(value, last, f"horizon {value:g} clipped to {last:g}: {why}")
    return Horizon(value, None, f"horizon {value:g} dropped: {why}")


def harrell_c(y: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index (scikit-survival ``concordance_index_censored``).

    Parameters
    ----------
    y : structured array with fields ``event`` and ``time``. Under competing risks, the
        concordance for cause 1 counts competing events as censored (cause-specific C): a pair
        is comparable when the shorter time is a cause-1 event.
    risk : risk scores, higher = worse; ties in risk count one half.

    Returns
    -------
    float
    """
    target = check_target(y, competing=True)
    outcome = _require_outcome(target.event == 1, "y")
    score = _vector(risk, target.time.size, "risk")
    return float(concordance_index_censored(outcome, target.time, score)[0])


def uno_c(
    y_train: np.ndarray, y_test: np.ndarray, risk: np.ndarray, tau: float | None = None
) -> float:
    """Uno's IPCW concordance index up to ``tau`` (scikit-survival ``concordance_index_ipcw``).

    Under competing risks, competing events count as censoring, in the pairs and in the
    censoring weights (cause-specific concordance).

    Parameters
    ----------
    y_train : training target; its censoring distribution gives the weights
    y_test : test target
    risk : risk scores for the test rows, higher = worse
    tau : truncation time: only pairs whose shorter time is below ``tau`` count.
        ``None``: the whole test follow-up (censored at the last training time).

    Returns
    -------
    float
    """
    train = check_target(y_train, competing=True)
    test = check_target(y_test, competing=True)
    score = _vector(risk, test.time.size, "risk")
    limit = train.time.max()
    inside = test.time < limit
    censoring = make_target(train.event == 1, train.time)
    outcome = make_target((test.event == 1) & inside, np.minimum(test.time, limit))
    _require_outcome(outcome["event"], "y_test")
    if tau is not None and not tau > 0:
        raise EvaluationError(f"tau must be a positive time; got {tau!r}")
    return float(concordance_index_ipcw(censoring, outcome, score, tau=tau)[0])


def time_dependent_auc(
    y_train: np.ndarray,
    y_test: np.ndarray,
    risk: np.ndarray,
    times: Sequence[float],
    *,
    censoring: CensoringModel | None = None,
) -> tuple[np.ndarray, float]:
    """Cumulative/dynamic AUC at each time, inverse-probability-of-censoring weighted.

    Cases have the outcome by t; controls are still event-free after t (and, under competing
    risks, also those with a competing event by t, weighted by inverse probability of
    censoring at their event time: Blanche et al. 2013, definition 2).

    Parameters
    ----------
    y_train : the target whose censoring distribution gives the weights
    y_test : test target
    risk : risk scores, higher = worse: one per row, or one per row and time (n, len(times))
    times : ascending times in ``[lower, upper)`` of :func:`evaluation_times`
    censoring : the censoring model G of the weights, fitted on the test rows
        (:class:`~prognosis.evaluation.censoring.CoxCensoring`); None: the reverse
        Kaplan-Meier estimate on ``y_train``

    Returns
    -------
    auc : ndarray, one per time
    mean_auc : float, AUC averaged over the times weighted by the observed increase in
        outcome probability (as scikit-survival's ``cumulative_dynamic_auc``)
    """
    split = _IpcwSplit.build(y_train, y_test, times, need_cases=True, censoring=censoring)
    return split.auc(_estimate(risk, split.n, split.times.size, "risk"))


def brier_scores(
    y_train: np.ndarray,
    y_test: np.ndarray,
    survival_at_times: np.ndarray,
    times: Sequence[float],
    *,
    censoring: CensoringModel | None = None,
) -> np.ndarray:
    """IPCW Brier score at each time (Graf et al. 1999; weights as in the module docstring).

    Parameters
    ----------
    y_train : the target whose censoring distribution gives the weights
    y_test : test target
    survival_at_times : P(no outcome by t) per row and time, shape (n, len(times)); under
        competing risks 1 - cumulative incidence of cause 1
    times : ascending times from the first test time up to ``upper`` of
        :func:`evaluation_times` (excluded)
    censoring : as for :func:`time_dependent_auc`

    Returns
    -------
    ndarray, one score per time (lower is better)
    """
    split = _IpcwSplit.build(y_train, y_test, times, need_cases=False, censoring=censoring)
    return split.brier(survival_at_times)


def integrated_brier(
    y_train: np.ndarray,
    y_test: np.ndarray,
    survival_matrix: np.ndarray,
    times: Sequence[float],
    *,
    censoring: CensoringModel | None = None,
) -> float:
    """Integrated Brier score over ``times`` (as scikit-survival ``integrated_brier_score``).

    Same inputs as :func:`brier_scores`, with at least two times; the scores are integrated
    by the trapezoidal rule and divided by the length of the interval.
    """
    split = _IpcwSplit.build(y_train, y_test, times, need_cases=False, censoring=censoring)
    if split.times.size < 2:
        raise EvaluationError("the integrated Brier score needs at least two times")
    scores = split.brier(survival_matrix)
    return float(np.trapezoid(scores, split.times) / (split.times[-1] - split.times[0]))


def observed_risk(
    y: np.ndarray, times: Sequence[float], *, conf_level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed probability of the outcome by each time, with a pointwise confidence interval.

    Kaplan-Meier 1 - S(t) (scikit-survival ``kaplan_meier_estimator``), or under competing
    risks the Aalen-Johansen cumulative incidence of cause 1
    (``cumulative_incidence_competing_risks``); log-log confidence intervals.

    Returns
    -------
    estimate, lower, upper : ndarrays, one value per time

    Raises
    ------
    EvaluationError
        When a time lies past the last time of ``y`` (:func:`check_within_follow_up`).
    """
    target = check_target(y, competing=True)
    check_within_follow_up(target.time, times)
    return observed_risk_arrays(target.event, target.time, np.atleast_1d(times), conf_level)


def observed_risk_arrays(
    event: np.ndarray, time: np.ndarray, times: np.ndarray, conf_level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`observed_risk` on checked arrays (integer codes); 0 where no outcome occurred."""
    times = np.asarray(times, dtype=float)
    zeros = np.zeros(times.shape)
    if not np.any(event == 1):
        return zeros, zeros.copy(), zeros.copy()
    if np.any(event >= 2):
        codes = np.where(event >= 2, 2, event)
        grid, incidence, interval = cumulative_incidence_competing_risks(
            codes, time, conf_level=conf_level, conf_type="log-log"
        )
        curve, low, high = incidence[1], interval[1, 0], interval[1, 1]
    else:
        grid, survival, interval = kaplan_meier_estimator(
            event == 1, time, conf_level=conf_level, conf_type="log-log"
        )
        curve, low, high = 1.0 - survival, 1.0 - interval[1], 1.0 - interval[0]
    return (
        step_function(grid, curve, times, before=0.0),
        step_function(grid, low, times, before=0.0),
        step_function(grid, high, times, before=0.0),
    )


#: The name of the reference that gives everyone the training rows' risk
#: (:func:`marginal_incidence`), in ``compare`` and the model report.
REFERENCE = "marginal incidence (no model)"


def marginal_incidence(y: np.ndarray, times: Sequence[float]) -> np.ndarray:
    """The outcome's Aalen-Johansen cumulative incidence in ``y`` at each time: the risk of the
    "marginal incidence (no model)" reference, which gives everyone the same risk.

    Without competing events (or with a boolean ``event``) it is 1 - Kaplan-Meier. Unlike
    :func:`observed_risk` it is a prediction: past the last time of ``y`` it keeps its last
    value (a model's training follow-up bounds the horizons it is evaluated at, see
    :func:`evaluation_times`).

    Parameters
    ----------
    y : structured array with fields ``event`` and ``time`` (the training rows)
    times : where to evaluate it

    Returns
    -------
    ndarray, one risk per time
    """
    target = check_target(y, competing=True)
    grid, step = np.unique(target.time, return_inverse=True)
    leaving = np.bincount(step, minlength=grid.size)
    at_risk = np.cumsum(leaving[::-1])[::-1].astype(float)
    d_any = np.bincount(step[target.event > 0], minlength=grid.size)
    d_one = np.bincount(step[target.event == 1], minlength=grid.size)
    survival = np.cumprod(1.0 - d_any / at_risk)  # free of any event just after each time
    before = np.r_[1.0, survival[:-1]]
    incidence = np.cumsum(before * d_one / at_risk)
    return step_function(grid, incidence, np.atleast_1d(np.asarray(times, float)), before=0.0)


def check_within_follow_up(time: np.ndarray, horizons: Sequence[float] | float) -> None:
    """Refuse horizons past the follow-up of the data a metric is computed on.

    Past the last time (event or censored) of ``time`` nobody is followed: an observed risk
    there is no estimate (Kaplan-Meier and Aalen-Johansen would carry their last value
    forward), so neither is anything compared with it.

    Raises
    ------
    EvaluationError
        When a horizon exceeds ``max(time)``.
    """
    grid = np.atleast_1d(np.asarray(horizons, dtype=float))
    last = float(np.max(time)) if np.size(time) else 0.0
    beyond = grid[grid > last]
    if beyond.size:
        raise EvaluationError(
            f"horizon {beyond.max():g} lies past the follow-up of the data it is computed on "
            f"(the last time, event or censored, is {last:g}): the observed risk there cannot "
            f"be estimated; choose horizons up to {last:g}"
        )


def check_probabilities(values: np.ndarray, n: int) -> np.ndarray:
    """Predicted risks as floats: one per row, each a probability in [0, 1]."""
    array = np.asarray(values, dtype=float)
    if array.shape != (n,):
        raise EvaluationError(
            f"predicted risks must have one value per row ({n}); got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise EvaluationError("predicted risks hold missing or infinite values")
    if np.any((array < 0) | (array > 1)):
        raise EvaluationError(
            "predicted risks must be probabilities in [0, 1]; got values from "
            f"{array.min():.4g} to {array.max():.4g}"
        )
    return array


@dataclass(frozen=True)
class _IpcwSplit:
    """Test data censored at the last time of the censoring data, with the IPCW weights."""

    censoring: CensoringModel  # G, from the censoring data (reverse Kaplan-Meier) or given
    outcome: np.ndarray  # test target: cause 1 vs the rest
    any_event: np.ndarray  # test target: any event vs censored
    competing: np.ndarray  # bool per test row: competing event before the limit
    times: np.ndarray

    @property
    def n(self) -> int:
        return self.outcome.shape[0]

    @classmethod
    def build(
        cls,
        y_train: np.ndarray,
        y_test: np.ndarray,
        times: Sequence[float],
        *,
        need_cases: bool,
        censoring: CensoringModel | None = None,
    ) -> _IpcwSplit:
        train = check_target(y_train, competing=True)
        test = check_target(y_test, competing=True)
        limit = train.time.max()
        inside = test.time < limit
        time = np.minimum(test.time, limit)
        outcome = make_target((test.event == 1) & inside, time)
        _require_outcome(outcome["event"], "y_test")
        if censoring is None:
            censoring = KaplanMeierCensoring.fit(train.event > 0, train.time)
        return cls(
            censoring=censoring,
            outcome=outcome,
            any_event=make_target((test.event > 0) & inside, time),
            competing=(test.event >= 2) & inside,
            times=_check_times(times, test, float(limit), need_cases=need_cases),
        )

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """1 / G(T-) per row with an event (0 for censored rows), and 1 / G(t) per row and
        time (n, len(times))."""
        time, event = self.any_event["time"], self.any_event["event"]
        g_event = self.censoring.at_rows(time, left=True)
        g_time = self.censoring.at_grid(self.times, self.n)
        if np.any(g_event[event] <= 0) or np.any(g_time <= 0):
            raise EvaluationError(
                "the censoring distribution reaches zero before the evaluated times; "
                "evaluate at earlier horizons"
            )
        return np.where(event, 1.0 / np.where(event, g_event, 1.0), 0.0), 1.0 / g_time

    def brier(self, survival: np.ndarray) -> np.ndarray:
        """IPCW Brier score per time. With S the predicted survival and F = 1 - S the predicted
        incidence of cause 1: a cause-1 event by t scores S^2 / G(T-), a competing event by t
        F^2 / G(T-) (Schoop et al. 2011), a person still followed at t F^2 / G(t), a person
        censored by t nothing; the score is the mean over all rows."""
        estimate = self._checked_survival(survival)
        time = self.any_event["time"][:, None]
        on_event, on_time = self.weights()
        loss_event = np.where(self.competing[:, None], 1.0 - estimate, estimate) ** 2
        by_then = time <= self.times
        scores = np.where(by_then, on_event[:, None] * loss_event, 0.0)
        scores += np.where(time > self.times, on_time * (1.0 - estimate) ** 2, 0.0)
        return scores.mean(axis=0)

    def _checked_survival(self, survival: np.ndarray) -> np.ndarray:
        estimate = _estimate(survival, self.n, self.times.size, "survival predictions")
        if estimate.ndim == 1:
            if self.times.size > 1:
                raise EvaluationError(
                    f"survival predictions must have one column per time ({self.times.size})"
                )
            estimate = estimate[:, None]
        if np.any((estimate < 0) | (estimate > 1)):
            raise EvaluationError("survival predictions must be probabilities in [0, 1]")
        return estimate

    def auc(self, score: np.ndarray) -> tuple[np.ndarray, float]:
        """Weighted ROC AUC per time: cause-1 cases by t (weight 1 / G(T-)) against everyone
        else still known: followed past t (1 / G(t)) or with a competing event by t
        (1 / G(T-)); and the mean over the times weighted by the observed incidence's steps."""
        time, event = self.any_event["time"], self.any_event["event"]
        on_event, on_time = self.weights()
        case = self.outcome["event"]
        auc = np.empty(self.times.size)
        for j, t in enumerate(self.times):
            weight = np.where(event & (time <= t), on_event, np.where(time > t, on_time[:, j], 0.0))
            keep = weight > 0
            labels = case[keep] & (time[keep] <= t)
            if labels.all() or not labels.any():
                raise EvaluationError(f"no cases or no controls at time {t:g}")
            column = score[:, j] if score.ndim == 2 else score
            auc[j] = roc_auc_score(labels, column[keep], sample_weight=weight[keep])
        if self.times.size == 1:
            return auc, float(auc[0])
        codes = np.where(self.competing, 2, self.outcome["event"].astype(np.int64))
        incidence = observed_risk_arrays(codes, time, self.times)[0]
        steps = np.diff(np.r_[0.0, incidence])
        return auc, float(np.sum(auc * steps) / incidence[-1])


def _require_outcome(outcome: np.ndarray, name: str) -> np.ndarray:
    if not outcome.any():
        raise EvaluationError(f"{name} has no outcome events (event == 1): nothing to evaluate")
    return outcome


def _check_times(
    times: Sequence[float], test: SurvivalTarget, limit: float, *, need_cases: bool
) -> np.ndarray:
    grid = np.atleast_1d(np.asarray(times, dtype=float))
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise EvaluationError(f"times must be a non-empty list of finite times; got {times!r}")
    if grid.size > 1 and np.any(np.diff(grid) <= 0):
        raise EvaluationError("times must be strictly increasing")
    lower = test.time[test.event == 1].min() if need_cases else test.time.min()
    upper = min(test.time.max(), limit)
    if grid[0] < lower or grid[-1] >= upper:
        start = "first test outcome event" if need_cases else "first test time"
        raise EvaluationError(
            f"times must lie in [{lower:g}, {upper:g}) ({start}; end of the test or training "
            f"follow-up); got {grid[0]:g}..{grid[-1]:g}. evaluation_times() clips horizons "
            "to that range"
        )
    return grid


def _vector(values: np.ndarray, n: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (n,):
        raise EvaluationError(f"{name} must have one value per row ({n}); got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise EvaluationError(f"{name} holds missing or infinite values")
    return array


def _estimate(values: np.ndarray, n: int, n_times: int, name: str) -> np.ndarray:
    """One value per row (the same at every time), or one per row and time."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        return _vector(array, n, name)
    if array.shape != (n, n_times):
        raise EvaluationError(
            f"{name} must have shape (rows, times) = ({n}, {n_times}); got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise EvaluationError(f"{name} holds missing or infinite values")
    return array
