"""Fine-Gray subdistribution hazards: the weighted Cox formulation of R's ``survival::finegray``.

The subdistribution hazard of the outcome (cause 1) is the hazard of a "time to the outcome"
in which a person with a competing event stays at risk for ever. Fine and Gray (1999) fit a
proportional model of it by a Cox partial likelihood in which such a person, after their
competing event at ``T_i``, counts in the risk set at a later time ``t`` with the weight

    w_i(t) = G(t-) / G(T_i-),

``G`` the Kaplan-Meier estimate of the censoring distribution (the probability of being still
uncensored). R's ``survival::finegray`` writes this out as counting-process rows, one
``(start, stop]`` interval per step of ``G`` after the competing event, each with its weight
(:func:`finegray_rows` builds the same rows), and ``coxph(Surv(fgstart, fgstop, fgstatus) ~
..., weights = fgwt)`` on them is the Fine-Gray fit. :class:`FineGray` maximises the same
weighted partial likelihood (Breslow's handling of tied event times, as ``cmprsk::crr``) without
writing the rows: at an event time ``t`` the rows' weighted sum over the risk set is the sum over
persons still event-free plus ``G(t-)`` times a running sum over the earlier competing events, so
a fit costs O(n log n) per Newton step, where the expanded rows can number n squared.

Censorings tied with events: ``survival::finegray`` lets the events at a time happen first (they
leave the censoring distribution's risk set at that time); ``cmprsk::crr`` keeps them in it.
``censoring_ties`` picks one; without ties the two give the same fit. ``censoring_strata``
estimates ``G`` within the groups of one input column, as ``crr(..., cengroup = g)``.

The cumulative incidence of the outcome is ``1 - exp(-L0(t) exp(eta))``, with ``L0`` the weighted
Breslow estimate of the baseline cumulative subdistribution hazard and ``eta`` the linear
predictor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.utils.validation import check_is_fitted

from prognosis.exceptions import ModelConvergenceError
from prognosis.models.base import ShapOutput, SurvivalEstimator
from prognosis.models.cox import feature_names
from prognosis.models.explaining import LINEAR_SHAP, LinearShapMixin, ProportionalHazardsMixin
from prognosis.models.state import get_table, put_table
from prognosis.models.survival import proportional_hazards_interval, step_function
from prognosis.models.target import SurvivalTarget, TargetError, warn_without_competing

__all__ = ["FineGray", "censoring_survival", "finegray_rows"]

Ties = Literal["finegray", "crr"]
_TIES = ("finegray", "crr")

#: The label of the coefficient table's group: what its hazard ratios are.
SUBDISTRIBUTION = "outcome (subdistribution hazard ratio)"


def censoring_survival(
    time: np.ndarray, event: np.ndarray, *, ties: Ties = "finegray"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the censoring distribution G(t) = P(C > t).

    Parameters
    ----------
    time : array (n,)
        Event or censoring times.
    event : array (n,)
        0 for a censored row, a cause code (1, 2, ...) for an event.
    ties : {"finegray", "crr"}
        At a censoring time, ``"finegray"`` leaves the rows with an event at that very time out
        of the risk set (events happen first, as ``survival::finegray``); ``"crr"`` keeps them
        in it (``survfit(Surv(time, censored))``, as ``cmprsk::crr``).

    Returns
    -------
    times : array (k,)
        The distinct censoring times, increasing.
    survival : array (k,)
        G just after each of them (a right-continuous step function from 1).
    at_risk : array (k,)
        The size of the risk set at each of them.
    """
    time = np.asarray(time, dtype=float)
    censored = np.asarray(event) == 0
    times, counts = np.unique(time[censored], return_counts=True)
    ordered = np.sort(time)
    at_risk = (len(time) - np.searchsorted(ordered, times, side="left")).astype(float)
    if ties == "finegray":
        events = np.sort(time[~censored])
        at_risk -= np.searchsorted(events, times, side="right") - np.searchsorted(
            events, times, side="left"
        )
    return times, np.cumprod(1.0 - counts / at_risk), at_risk


def finegray_rows(time: np.ndarray, event: np.ndarray, *, ties: Ties = "finegray") -> pd.DataFrame:
    """The counting-process rows of ``survival::finegray`` for the outcome (cause 1).

    A row without a competing event is one interval ``(0, time]`` with weight 1 and status 1 for
    the outcome, 0 otherwise. A row with a competing event at ``T`` is ``(0, T]`` with weight 1,
    then one interval per step of the censoring distribution ``G`` after ``T`` that holds an
    outcome event time (intervals without one do not enter the likelihood), each with the
    weight ``G(start) / G(T-)`` and status 0; as in ``survival::finegray``, the first row runs on
    to the first step of ``G`` after ``T`` (the weight stays 1 until then), and the last interval
    ends at the end of follow-up at the latest.

    Parameters
    ----------
    time, event : array (n,)
        Times and event codes (0 censored, 1 outcome, 2+ competing events).
    ties : {"finegray", "crr"}
        As :func:`censoring_survival`.

    Returns
    -------
    DataFrame
        ``row`` (the position of the input row), ``start``, ``stop``, ``status``, ``weight``.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    outcome_times = np.unique(time[event == 1])
    cuts, survival, _ = censoring_survival(time, event, ties=ties)
    expanded = event >= 2
    plain = np.flatnonzero(~expanded)
    frames = [
        pd.DataFrame(
            {
                "row": plain,
                "start": 0.0,
                "stop": time[plain],
                "status": (event[plain] == 1).astype(int),
                "weight": 1.0,
            }
        )
    ]
    edges = np.concatenate([cuts, [time.max()]])  # the steps of G, then the end of follow-up
    frames += [
        _expanded_row(row, time[row], outcome_times, edges, (cuts, survival))
        for row in np.flatnonzero(expanded)
    ]
    return pd.concat(frames, ignore_index=True).sort_values(["row", "start"], ignore_index=True)


def _expanded_row(
    row: int,
    at: float,
    outcome_times: np.ndarray,
    edges: np.ndarray,
    censoring: tuple[np.ndarray, np.ndarray],
) -> pd.DataFrame:
    """The rows of one person with a competing event at ``at``."""

    def g_before(times: np.ndarray) -> np.ndarray:
        return step_function(*censoring, times, before=1.0, left_limit=True)

    own = g_before(np.array([at]))[0]
    ahead = edges[edges > at]
    # up to the first step of G after the event nothing changes: the first row runs to it
    first = at if at in censoring[0] or ahead.size == 0 else float(ahead[0])
    starts, stops = [0.0], [first]
    later = outcome_times[outcome_times > first]
    if later.size:
        # interval k is (ahead[k], ahead[k + 1]]; those that hold an outcome event time
        bounds = np.concatenate([[first], ahead[ahead > first]])
        keep = np.unique(np.searchsorted(bounds, later, side="left") - 1)
        starts += list(bounds[keep])
        stops += list(bounds[keep + 1])
    weights = np.concatenate([[1.0], g_before(np.array(stops[1:])) / own])
    return pd.DataFrame(
        {"row": row, "start": starts, "stop": stops, "status": 0, "weight": weights}
    )


@dataclass(frozen=True)
class _Group:
    """One censoring group: its censoring distribution and its competing events."""

    members: np.ndarray  # (n,) bool, rows in time order
    other: np.ndarray  # (n,) bool: the group's rows with a competing event
    g_event: np.ndarray  # (m,) G(t_j-) at each outcome event time
    g_other: np.ndarray  # G(T_k-) of each of its competing events, in time order
    others_before: np.ndarray  # (m,) how many of them precede t_j
    censor_times: np.ndarray  # (k,) its distinct censoring times
    censor_counts: np.ndarray  # (k,)
    censor_at_risk: np.ndarray  # (k,) the risk set of its censoring distribution
    deaths: np.ndarray  # (m,) its outcome events at each outcome event time


@dataclass(frozen=True)
class _Design:
    """What the weighted partial likelihood needs, sorted by time, computed once per fit."""

    X: np.ndarray  # (n, p) centred inputs, rows in time order
    time: np.ndarray
    outcome: np.ndarray  # bool: the row's event is the outcome
    other: np.ndarray  # bool: the row's event is a competing one
    event_times: np.ndarray  # (m,) distinct outcome event times
    deaths: np.ndarray  # (m,) outcome events at each
    outcome_x: np.ndarray  # (p,) sum of the inputs of the outcome events
    first_at_risk: np.ndarray  # (m,) index of the first row with time >= t_j
    steps_passed: np.ndarray  # (n,) how many outcome event times are <= T_i
    groups: tuple[_Group, ...]


def _group(
    members: np.ndarray, time: np.ndarray, event: np.ndarray, event_times: np.ndarray, ties: Ties
) -> _Group:
    cuts, survival, at_risk = censoring_survival(time[members], event[members], ties=ties)

    def g_before(at: np.ndarray) -> np.ndarray:
        return step_function(cuts, survival, at, before=1.0, left_limit=True)

    other = members & (event >= 2)
    censor_times, censor_counts = np.unique(time[members & (event == 0)], return_counts=True)
    return _Group(
        members=members,
        other=other,
        g_event=g_before(event_times),
        g_other=g_before(time[other]),
        others_before=np.searchsorted(time[other], event_times, side="left"),
        censor_times=censor_times,
        censor_counts=censor_counts.astype(float),
        censor_at_risk=at_risk,
        deaths=np.bincount(
            np.searchsorted(event_times, time[members & (event == 1)]), minlength=len(event_times)
        ).astype(float),
    )


def _design(X: np.ndarray, target: SurvivalTarget, ties: Ties, strata: np.ndarray) -> _Design:
    order = np.argsort(target.time, kind="stable")
    time, event, strata = target.time[order], target.event[order], strata[order]
    outcome = event == 1
    event_times, deaths = np.unique(time[outcome], return_counts=True)
    sorted_x = X[order]
    return _Design(
        X=sorted_x,
        time=time,
        outcome=outcome,
        other=event >= 2,
        event_times=event_times,
        deaths=deaths.astype(float),
        outcome_x=sorted_x[outcome].sum(axis=0),
        first_at_risk=np.searchsorted(time, event_times, side="left"),
        steps_passed=np.searchsorted(event_times, time, side="right"),
        groups=tuple(
            _group(strata == value, time, event, event_times, ties) for value in np.unique(strata)
        ),
    )


def _cumulative(values: np.ndarray) -> np.ndarray:
    """Sums of the first k values, k = 0 .. len: an array one longer, along axis 0."""
    return np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])


def _tail(values: np.ndarray) -> np.ndarray:
    """Sums from the k-th value on, k = 0 .. len (the last is 0), along axis 0."""
    total = _cumulative(values)
    return total[-1] - total


@dataclass(frozen=True)
class _Terms:
    """The weighted partial likelihood at one beta, and what the variances need."""

    loglik: float
    score: np.ndarray
    information: np.ndarray
    relative: np.ndarray  # exp(eta - shift) per row
    shift: float
    s0: np.ndarray  # (m,) weighted risk-set sums (relative scale)
    mean_x: np.ndarray  # (m, p) weighted risk-set means
    competing_sums: tuple[tuple[np.ndarray, np.ndarray], ...]  # per group, running sums of
    # r / G(T-) and r x / G(T-) over its competing events
    weight_sums: np.ndarray  # (n,) sum over event times of w_i(t_j) d_j / s0_j
    weighted_means: np.ndarray  # (n, p) the same with mean_x_j


def _terms(design: _Design, beta: np.ndarray) -> _Terms:
    X = design.X
    eta = X @ beta
    shift = float(eta.max())
    relative = np.exp(eta - shift)
    s0 = _tail(relative)[design.first_at_risk]
    s1 = _tail(relative[:, None] * X)[design.first_at_risk]
    sums = []
    for group in design.groups:  # the competing events' rows after their event, weighted
        scaled = relative[group.other] / group.g_other  # r_k / G(T_k-)
        other0, other1 = _cumulative(scaled), _cumulative(scaled[:, None] * X[group.other])
        s0 = s0 + group.g_event * other0[group.others_before]
        s1 = s1 + group.g_event[:, None] * other1[group.others_before]
        sums.append((other0, other1))
    mean_x = s1 / s0[:, None]
    loglik = float(eta[design.outcome].sum() - design.deaths @ (np.log(s0) + shift))
    score = design.outcome_x - design.deaths @ mean_x
    # row i's sum over event times of w_i(t_j) d_j / s0_j, and the same times mean_x_j
    step = design.deaths / s0
    weight_sums = _cumulative(step)[design.steps_passed]
    weighted_means = _cumulative(step[:, None] * mean_x)[design.steps_passed]
    for group in design.groups:
        later = design.steps_passed[group.other]
        weighted = group.g_event * step
        weight_sums[group.other] += _tail(weighted)[later] / group.g_other
        weighted_means[group.other] += (
            _tail(weighted[:, None] * mean_x)[later] / group.g_other[:, None]
        )
    information = X.T @ (X * (relative * weight_sums)[:, None]) - (
        mean_x.T @ (mean_x * design.deaths[:, None])
    )
    return _Terms(
        loglik,
        score,
        information,
        relative,
        shift,
        s0,
        mean_x,
        tuple(sums),
        weight_sums,
        weighted_means,
    )


def _newton(
    design: _Design, penalizer: float, max_iter: int, tol: float
) -> tuple[np.ndarray, _Terms, int]:
    """Newton-Raphson with step halving on the (ridge-penalised) weighted partial likelihood."""
    p = design.X.shape[1]
    ridge = penalizer * np.eye(p)

    def objective(terms: _Terms, beta: np.ndarray) -> float:
        return terms.loglik - 0.5 * penalizer * float(beta @ beta)

    beta = np.zeros(p)
    terms = _terms(design, beta)
    for iteration in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(terms.information + ridge, terms.score - penalizer * beta)
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            candidate = _terms(design, beta + step)
            if np.isfinite(candidate.loglik) and objective(candidate, beta + step) >= objective(
                terms, beta
            ) - 1e-12 * abs(objective(terms, beta)):
                break
            step = step / 2
        beta, terms = beta + step, candidate
        if np.max(np.abs(step)) < tol:
            return beta, terms, iteration
    raise ModelConvergenceError(
        f"the Fine-Gray model did not converge in {max_iter} Newton steps (the weighted "
        "information matrix is singular or the likelihood has no maximum). Look for collinear, "
        "near-constant or perfectly separating features, or set penalizer > 0."
    )


def _residuals(design: _Design, terms: _Terms) -> tuple[np.ndarray, np.ndarray]:
    """Each row's score residual (eta_i) and the censoring term of Fine and Gray's variance
    (psi_i), both (n, p), in time order."""
    X = design.X
    at_event = np.clip(design.steps_passed - 1, 0, None)
    residual = -terms.relative[:, None] * (X * terms.weight_sums[:, None] - terms.weighted_means)
    residual[design.outcome] += X[design.outcome] - terms.mean_x[at_event[design.outcome]]
    psi = np.zeros_like(X)
    censored = ~(design.outcome | design.other)
    for group, sums in zip(design.groups, terms.competing_sums, strict=True):
        psi[group.members] = _censoring_term(design, terms, group, sums)[group.members]
        mine = censored & group.members
        psi[mine] += _censoring_term(design, terms, group, sums, own=design.time[mine])
    return residual, psi


def _censoring_term(
    design: _Design,
    terms: _Terms,
    group: _Group,
    sums: tuple[np.ndarray, np.ndarray],
    own: np.ndarray | None = None,
) -> np.ndarray:
    """psi's integral against the group's censoring hazard for every row (``own`` None), or its
    own-censoring jump q(u) / pi(u) at the times ``own``.

    q(u) at a censoring time u carries the group's competing events before u to the outcome
    event times t >= u through G(t-) d / s0 (Fine and Gray 1999, their psi), d counting the
    group's own outcome events at t, as ``cmprsk::crr`` does (``crrvv``): with one group, all
    of them."""
    other0, other1 = sums
    before = np.searchsorted(design.time[group.other], group.censor_times, side="left")
    step = group.g_event * group.deaths / terms.s0
    from_u = np.searchsorted(design.event_times, group.censor_times, side="left")
    q = other1[before] * _tail(step)[from_u][:, None] - (
        other0[before][:, None] * _tail(step[:, None] * terms.mean_x)[from_u]
    )
    pi = group.censor_at_risk
    if own is not None:
        at = np.searchsorted(group.censor_times, own, side="left")
        return q[at] / pi[at][:, None]
    passed = np.searchsorted(group.censor_times, design.time, side="right")
    return -_cumulative(q * (group.censor_counts / pi**2)[:, None])[passed]


def _sandwich(bread: np.ndarray, parts: np.ndarray) -> np.ndarray:
    return bread @ (parts.T @ parts) @ bread


class FineGray(LinearShapMixin, ProportionalHazardsMixin, SurvivalEstimator):
    """Fine-Gray proportional subdistribution hazards model of the outcome (cause 1).

    Fitted by Newton-Raphson on the weighted partial likelihood of ``survival::finegray``'s rows
    (see the module notes; Breslow ties, censoring weights from the Kaplan-Meier estimate of the
    censoring distribution). Every competing cause (2, 3, ...) keeps a person at risk with a
    falling weight after their event.

    ``predict`` is the linear predictor ``(x - training_mean_) @ coef_``; ``predict_risk(X, h)``
    and ``predict_cumulative_incidence(X, 1, times)`` the outcome's cumulative incidence
    ``1 - exp(-L0(t) exp(eta))``; ``predict_survival`` its complement, the probability of not
    having had the outcome by t (a competing event may have happened). The model says nothing of
    the competing causes' incidence: asking for it raises :class:`TargetError`. Explained by
    exact linear SHAP of the subdistribution log hazard; taking a value away multiplies the
    subdistribution hazard by exp(-shap), so the incidence without it is
    ``1 - (1 - CIF) ** exp(-shap)``.

    Parameters
    ----------
    censoring_ties : {"finegray", "crr"}
        Censorings tied with events in the censoring Kaplan-Meier: after them
        (``survival::finegray``) or together (``cmprsk::crr``); the same without ties.
    censoring_strata : str, optional
        An input column (by its name at fit, ``x0``, ``x1``, ... for an array; in a pipeline the
        preprocessed name, such as ``sex_male``) whose values group the censoring
        distribution: G is estimated in each group and weights a person by their own group's
        G, as ``finegray(Surv(...) ~ ... + strata(g))`` and ``crr(..., cengroup = g)``. None:
        one G for all (the default).
    penalizer : float
        Ridge penalty ``penalizer / 2 * |coef|^2`` on the log partial likelihood (0: none).
    max_iter : int
        Newton steps before :class:`~prognosis.exceptions.ModelConvergenceError`.
    tol : float
        Converged when no coefficient moves by more than this in a step.

    Attributes
    ----------
    coef_ : ndarray (n_features,)
        Log subdistribution hazard ratios.
    training_mean_ : ndarray (n_features,)
        The training inputs' means; the baseline is at them.
    baseline_times_, baseline_cumulative_hazard_ : ndarray
        The outcome's event times and the weighted Breslow baseline cumulative subdistribution
        hazard there (at ``x = training_mean_``).
    variance_ : ndarray (n_features, n_features)
        Fine and Gray's sandwich covariance of ``coef_``, with the term for the estimated
        censoring distribution, as ``cmprsk::crr`` reports it (``crr(...)$var``).
    summary_ : DataFrame
        Per covariate: ``coef``, ``se`` (from ``variance_``), ``se_model`` (the inverse weighted
        information: ``coxph``'s ``se(coef)`` on the finegray rows), ``se_cluster`` (the
        sandwich grouped by person without the censoring term: ``coxph(..., cluster = id)``'s
        ``robust se``), ``hazard_ratio`` (the subdistribution hazard ratio) with its 95%
        interval, and ``p`` (Wald, from ``se``).
    n_iter_ : int
        Newton steps taken.
    """

    _competing = True
    shap_output = ShapOutput("log hazard", 1, LINEAR_SHAP)

    def __init__(
        self,
        *,
        censoring_ties: Ties = "finegray",
        censoring_strata: str | None = None,
        penalizer: float = 0.0,
        max_iter: int = 100,
        tol: float = 1e-9,
    ) -> None:
        self.censoring_ties = censoring_ties
        self.censoring_strata = censoring_strata
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        if self.censoring_ties not in _TIES:
            raise ValueError(
                f"FineGray censoring_ties={self.censoring_ties!r}: use 'finegray' or 'crr'"
            )
        if 1 not in target.causes:
            raise TargetError(
                f"y has no event of cause 1 (the outcome); event codes seen: {target.causes}"
            )
        warn_without_competing(
            target,
            "the Fine-Gray model then is a Cox model of the outcome (Breslow ties), the same "
            "as cox",
        )
        self.training_mean_ = X.mean(axis=0)
        design = _design(X - self.training_mean_, target, self.censoring_ties, self._strata(X))
        self.coef_, terms, self.n_iter_ = _newton(design, self.penalizer, self.max_iter, self.tol)
        self._summarise(design, terms)
        self.baseline_times_ = design.event_times
        self.baseline_cumulative_hazard_ = np.cumsum(
            design.deaths / (terms.s0 * np.exp(terms.shift))
        )

    def _strata(self, X: np.ndarray) -> np.ndarray:
        """The censoring group of each row (all one group without ``censoring_strata``)."""
        if self.censoring_strata is None:
            return np.zeros(len(X))
        names = feature_names(self)
        if self.censoring_strata not in names:
            raise ValueError(
                f"FineGray censoring_strata={self.censoring_strata!r} is not an input column; "
                f"the columns are {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
            )
        return X[:, names.index(self.censoring_strata)]

    def _summarise(self, design: _Design, terms: _Terms) -> None:
        """``variance_`` and ``summary_`` from the terms at the fitted coefficients."""
        ridge = self.penalizer * np.eye(design.X.shape[1])
        bread = np.linalg.inv(terms.information + ridge)
        residual, psi = _residuals(design, terms)
        self.variance_ = _sandwich(bread, residual + psi)
        coef = self.coef_
        se = np.sqrt(np.diag(self.variance_))
        z = float(norm.ppf(0.975))
        self.summary_ = pd.DataFrame(
            {
                "coef": coef,
                "se": se,
                "se_model": np.sqrt(np.diag(bread)),
                "se_cluster": np.sqrt(np.diag(_sandwich(bread, residual))),
                "hazard_ratio": np.exp(coef),
                "hazard_ratio_lower_95": np.exp(coef - z * se),
                "hazard_ratio_upper_95": np.exp(coef + z * se),
                "p": 2 * norm.sf(np.abs(coef / se)),
            },
            index=pd.Index(feature_names(self), name="covariate"),
        )

    def predict_cumulative_incidence(self, X: Any, cause: int, times: Any) -> np.ndarray:
        """The outcome's cumulative incidence for each row and time: (n_samples, n_times).

        Raises
        ------
        TargetError
            For a cause other than 1: the model is of the outcome's subdistribution only.
        PredictionHorizonError
            When a time lies past the training follow-up (``max_time_``).
        """
        check_is_fitted(self, "event_times_")
        if cause != 1:
            raise TargetError(
                f"FineGray models the subdistribution hazard of the outcome (cause 1) only, so it "
                f"has no cumulative incidence of cause {cause!r}; fit fine-gray with that event "
                "as the outcome, or use cause-specific-cox for every cause's incidence"
            )
        times = self.check_prediction_times(times)
        return 1.0 - self._predict_survival(self._validate(X), times)

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        return (X - self.training_mean_) @ self.coef_

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        baseline = step_function(
            self.baseline_times_, self.baseline_cumulative_hazard_, times, before=0.0
        )
        return np.exp(-np.exp(self._predict_score(X))[:, None] * baseline[None, :])

    def predict_risk_interval(
        self, X: Any, horizon: float, *, level: float = 0.95
    ) -> np.ndarray | None:
        """An interval for each row's cumulative incidence of the outcome by ``horizon``.

        The linear predictor's standard error ``sqrt(d' V d)`` (``d = x - training_mean_``,
        ``V = variance_``, the sandwich) gives ``eta +/- z se``, carried to
        ``1 - exp(-L0(h) exp(eta))``, which rises with eta; the baseline is held fixed.

        Returns
        -------
        ndarray (n, 2)
            Lower and upper incidence per row.
        """
        X = self._validate(X)
        grid = self.check_prediction_times([horizon])
        baseline = step_function(
            self.baseline_times_, self.baseline_cumulative_hazard_, grid, before=0.0
        )[0]
        return proportional_hazards_interval(
            X - self.training_mean_, self.coef_, self.variance_, baseline, level=level
        )

    def linear_coefficients(self) -> np.ndarray:
        """The log subdistribution hazard ratio of each input column (``coef_``)."""
        return np.asarray(self.coef_, dtype=float)

    def summary_table(self) -> pd.DataFrame:
        """``summary_`` under one group, named for what its ratios are: subdistribution hazard
        ratios of the outcome (the model report shows the group beside each row)."""
        return pd.concat({SUBDISTRIBUTION: self.summary_}, names=["cause"])

    def _linear_output(self, X: np.ndarray) -> np.ndarray:
        return self._predict_score(X)

    def _training_means(self) -> np.ndarray:
        return self.training_mean_

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state: dict[str, Any] = {"n_iter": int(self.n_iter_)}
        arrays = {
            "coef": self.coef_,
            "training_mean": self.training_mean_,
            "baseline_times": self.baseline_times_,
            "baseline_cumulative_hazard": self.baseline_cumulative_hazard_,
            "variance": self.variance_,
        }
        put_table(state, arrays, "summary", self.summary_)
        return state, arrays

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.n_iter_ = int(state["n_iter"])
        for name in (
            "coef",
            "training_mean",
            "baseline_times",
            "baseline_cumulative_hazard",
            "variance",
        ):
            setattr(self, f"{name}_", np.asarray(arrays[name], dtype=float))
        self.summary_ = get_table(state, arrays, "summary")
