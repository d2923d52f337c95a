"""Calibration of predicted risks at a horizon: grouped table, slope, intercept, ICI.

Predicted risk is the probability of the outcome by the horizon (1 - S(h), or the cumulative
incidence of cause 1 under competing risks). Observed risk comes from the data:

* the **table** groups rows by predicted risk (deciles, or fewer groups when rows are few) and
  estimates the observed risk of each group by Kaplan-Meier 1 - S(h), or by Aalen-Johansen
  under competing risks, with a log-log 95% interval (scikit-survival estimators); each group
  records its mean, smallest and largest predicted risk (the range a patient's risk is placed
  in by the patient reports);
* **slope, intercept and the smoothed curve** regress jackknife pseudo-observations of the
  observed risk on the predictions (Andersen & Pohar Perme 2010, "Pseudo-observations in
  survival analysis", Stat Methods Med Res 19:71; for calibration under censoring and
  competing risks, Gerds, Andersen & Kattan 2014, "Calibration plots for risk prediction
  models in the presence of competing risks", Stat Med 33:3191). A pseudo-observation has the
  observed risk of its row as expectation, censored or not, so one method serves single
  events and competing risks alike:

  - slope: ``cloglog(F) = a + b * cloglog(p)`` fitted by least squares on the
    pseudo-observations (a GEE with independence working variance); ``b`` is the slope,
    1 when the spread of risks is right, below 1 when predictions are too extreme;
  - intercept: ``a`` with the slope fixed at 1 (calibration-in-the-large on the
    complementary log-log scale: 0 when right, negative when risks are overestimated);
  - ICI, E50, E90: mean, median and 90th percentile of |p - smoothed observed risk|, the
    smoothed curve being a cubic regression spline of the pseudo-observations in
    cloglog(p) (the summaries of Austin, Harrell & van Klaveren 2020, "Graphical calibration
    curves and the integrated calibration index (ICI) for survival models", Stat Med 39:2714).
    The summaries use every row; the curve the report draws spans only the 1st to 99th
    percentile of the predictions (``CURVE_RANGE``), never beyond the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline
from scipy.optimize import least_squares

from prognosis.evaluation.metrics import (
    EvaluationError,
    check_probabilities,
    check_within_follow_up,
    observed_risk_arrays,
)
from prognosis.models.target import SurvivalTarget, check_target

__all__ = [
    "CURVE_RANGE",
    "Calibration",
    "CalibrationGroup",
    "calibration_at",
    "calibration_summary",
    "incidence_at",
    "incidence_of_first",
    "pseudo_values",
]

_EPS = 1e-8  # predicted risks are clipped to [eps, 1 - eps] before cloglog
_CURVE_POINTS = 50
CURVE_RANGE = (0.01, 0.99)  # quantiles of the predictions the smoothed curve spans


@dataclass(frozen=True)
class CalibrationGroup:
    """One row of the calibration table: its rows' predicted risks (mean, smallest and largest)
    and their observed risk with its interval."""

    group: int
    n: int
    mean_predicted: float
    observed: float
    observed_lower: float
    observed_upper: float
    predicted_min: float
    predicted_max: float


@dataclass(frozen=True)
class Calibration:
    """Calibration at one horizon; ``curve`` holds (predicted, smoothed observed) points,
    over the 1st to 99th percentile of the predictions only (:data:`CURVE_RANGE`)."""

    horizon: float
    groups: tuple[CalibrationGroup, ...]
    slope: float
    intercept: float
    ici: float
    e50: float
    e90: float
    curve: tuple[tuple[float, float], ...]


def calibration_at(
    y: np.ndarray,
    predicted_risk: np.ndarray,
    horizon: float,
    *,
    n_groups: int = 10,
    min_group_size: int = 20,
    conf_level: float = 0.95,
) -> Calibration:
    """Calibration of predicted risks at ``horizon``: table, slope, intercept, ICI, E50, E90.

    Parameters
    ----------
    y : structured array with fields ``event`` and ``time`` (integer codes: competing risks)
    predicted_risk : predicted probability of the outcome by ``horizon``, one per row
    horizon : the time the risks refer to
    n_groups : groups of the table (deciles by default), of equal size by predicted risk
    min_group_size : fewer groups are used when rows are few, so each has at least this many
    conf_level : level of the observed-risk intervals in the table

    Returns
    -------
    Calibration

    Raises
    ------
    EvaluationError
        When ``horizon`` lies past the follow-up of ``y`` (its last time, event or censored):
        there the observed risk cannot be estimated.
    """
    target, risk, horizon = _checked(y, predicted_risk, horizon)
    fit = _Fit.build(target.event, target.time, risk, horizon)
    order = np.argsort(risk, kind="stable")
    chosen = _curve_rows(risk, order)
    count = max(1, min(n_groups, risk.size // max(1, min_group_size)))
    groups = tuple(
        _group(number, members, target, risk, horizon, conf_level)
        for number, members in enumerate(np.array_split(order, count), start=1)
    )
    slope, intercept, ici, e50, e90 = fit.summary().tolist()
    return Calibration(
        horizon=horizon,
        groups=groups,
        slope=slope,
        intercept=intercept,
        ici=ici,
        e50=e50,
        e90=e90,
        curve=tuple(zip(risk[chosen].tolist(), fit.smoothed[chosen].tolist(), strict=True)),
    )


def _curve_rows(risk: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Up to 50 rows, evenly spaced in rank, whose predictions lie within the 1st to 99th
    percentile of ``risk``: the smoothed curve is drawn only where predictions are, and not
    over the sparse extreme percent at either end, where a spline follows a handful of rows."""
    low, high = np.quantile(risk, list(CURVE_RANGE))
    ranked = risk[order]
    inside = order[(ranked >= low) & (ranked <= high)]
    points = np.unique(np.linspace(0, inside.size - 1, min(_CURVE_POINTS, inside.size)).round())
    return inside[points.astype(int)]


def calibration_summary(y: np.ndarray, predicted_risk: np.ndarray, horizon: float) -> np.ndarray:
    """Slope, intercept, ICI, E50 and E90 of :func:`calibration_at`, without the table.

    What the bootstrap resamples: the table's Kaplan-Meier intervals are not needed there.
    """
    target, risk, horizon = _checked(y, predicted_risk, horizon)
    return _Fit.build(target.event, target.time, risk, horizon).summary()


def pseudo_values(y: np.ndarray, horizon: float) -> np.ndarray:
    """Jackknife pseudo-observations of the observed risk by ``horizon``, one per row.

    ``n * F(h) - (n - 1) * F_{-i}(h)``, with F the Aalen-Johansen cumulative incidence of
    cause 1 (1 - Kaplan-Meier without competing events) and F_{-i} the same without row i.
    Computed in O(n log n), not by n refits. A horizon past the last time of ``y`` raises
    :class:`EvaluationError`.
    """
    target = check_target(y, competing=True)
    check_within_follow_up(target.time, horizon)
    return _pseudo_values(target.event, target.time, float(horizon))


def incidence_at(event: np.ndarray, time: np.ndarray, horizon: float) -> float:
    """Observed risk by ``horizon`` from checked arrays (integer codes; 0 if no outcome).

    The Aalen-Johansen cumulative incidence of cause 1, which is 1 - Kaplan-Meier without
    competing events: the same value as scikit-survival's estimators, in vectorised numpy,
    for callers that need it many times (decision curves, the bootstrap).
    """
    return float(incidence_of_first(event, time, horizon, np.array([time.size]))[0])


def incidence_of_first(
    event: np.ndarray, time: np.ndarray, horizon: float, sizes: np.ndarray
) -> np.ndarray:
    """:func:`incidence_at` among the first k rows, for each k in ``sizes`` (ascending, >= 1).

    With rows sorted by decreasing predicted risk, these are the observed risks of the
    groups treated at a series of thresholds, all from one set of counts.
    """
    counts = _Counts.build(event, time, horizon)
    m = counts.at_risk.size
    if m == 0:
        return np.zeros(len(sizes))
    sizes = np.asarray(sizes, dtype=int)
    # row i belongs to the groups of size > i: count it in the first such group, then
    # accumulate over the (ascending) groups
    group = np.searchsorted(sizes, np.arange(time.size), side="right")
    member = group < sizes.size
    cell = group[member] * (m + 1) + counts.step[member]
    shape = (sizes.size, m + 1)

    def tally(mask: np.ndarray) -> np.ndarray:
        flat = np.bincount(cell[mask[member]], minlength=shape[0] * shape[1])
        return np.cumsum(flat.reshape(shape), axis=0).astype(float)

    leaving = tally(np.ones(time.size, dtype=bool))
    d_any = tally(counts.seen & (event > 0))
    d_one = tally(counts.seen & (event == 1))
    at_risk = np.cumsum(leaving[:, ::-1], axis=1)[:, ::-1][:, :m]  # rows with step >= k
    survival = np.cumprod(1.0 - _ratio(d_any[:, :m], at_risk), axis=1)
    before = np.hstack([np.ones((len(sizes), 1)), survival[:, :-1]])
    return np.sum(before * _ratio(d_one[:, :m], at_risk), axis=1)


@dataclass(frozen=True)
class _Counts:
    """Risk sets and events at each distinct time up to the horizon."""

    step: np.ndarray  # each row's index on the grid of times (grid size: past the horizon)
    seen: np.ndarray  # rows whose time is at or before the horizon
    at_risk: np.ndarray
    d_any: np.ndarray
    d_one: np.ndarray

    @classmethod
    def build(cls, event: np.ndarray, time: np.ndarray, horizon: float) -> _Counts:
        seen = time <= horizon
        grid = np.unique(time[seen])
        m = grid.size
        step = np.searchsorted(grid, time)
        return cls(
            step=step,
            seen=seen,
            at_risk=(time.size - np.searchsorted(np.sort(time), grid, side="left")).astype(float),
            d_any=np.bincount(step[seen & (event > 0)], minlength=m).astype(float),
            d_one=np.bincount(step[seen & (event == 1)], minlength=m).astype(float),
        )


@dataclass(frozen=True)
class _Fit:
    """Pseudo-observations regressed on the predictions."""

    risk: np.ndarray
    slope: float
    intercept: float
    smoothed: np.ndarray

    @classmethod
    def build(cls, event: np.ndarray, time: np.ndarray, risk: np.ndarray, horizon: float) -> _Fit:
        pseudo = _pseudo_values(event, time, horizon)
        link = _cloglog(risk)
        return cls(
            risk=risk,
            slope=float(_fit_link(link, pseudo, free_slope=True)[1]),
            intercept=float(_fit_link(link, pseudo, free_slope=False)[0]),
            smoothed=_smooth(link, pseudo),
        )

    def summary(self) -> np.ndarray:
        error = np.abs(self.risk - self.smoothed)
        return np.array(
            [self.slope, self.intercept, error.mean(), np.median(error), np.quantile(error, 0.9)]
        )


def _checked(
    y: np.ndarray, predicted_risk: np.ndarray, horizon: float
) -> tuple[SurvivalTarget, np.ndarray, float]:
    target = check_target(y, competing=True)
    risk = check_probabilities(predicted_risk, target.time.size)
    if not horizon > 0:
        raise EvaluationError(f"horizon must be a positive time; got {horizon!r}")
    check_within_follow_up(target.time, horizon)
    return target, risk, float(horizon)


def _pseudo_values(event: np.ndarray, time: np.ndarray, horizon: float) -> np.ndarray:
    n = time.size
    counts = _Counts.build(event, time, horizon)
    m = counts.at_risk.size
    if m == 0:
        return np.zeros(n)
    at_risk, d_any, d_one = counts.at_risk, counts.d_any, counts.d_one
    hazard_any, hazard_one = d_any / at_risk, d_one / at_risk
    full = np.sum(_before(np.cumprod(1.0 - hazard_any)) * hazard_one)

    # Leaving out a row removes it from the risk sets up to its own step: one fewer at risk
    # up to there, the full counts after it.
    fewer = at_risk - 1.0
    survival_fewer = np.r_[1.0, np.cumprod(1.0 - _ratio(d_any, fewer))]  # [k]: after k steps
    incidence_fewer = np.r_[0.0, np.cumsum(survival_fewer[:-1] * _ratio(d_one, fewer))]
    tail = np.zeros(m)  # [k]: incidence gained after step k per unit survival at step k
    for k in range(m - 2, -1, -1):
        tail[k] = hazard_one[k + 1] + (1.0 - hazard_any[k + 1]) * tail[k + 1]

    leave_out = np.full(n, incidence_fewer[m])
    seen = counts.seen
    k = counts.step[seen]
    own_any = _ratio(d_any[k] - (event[seen] > 0), fewer[k])
    own_one = _ratio(d_one[k] - (event[seen] == 1), fewer[k])
    alive = survival_fewer[k]
    leave_out[seen] = incidence_fewer[k] + alive * own_one + alive * (1.0 - own_any) * tail[k]
    return n * full - (n - 1) * leave_out


def _before(survival: np.ndarray) -> np.ndarray:
    return np.r_[1.0, survival[:-1]]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    shape = np.broadcast_shapes(np.shape(numerator), np.shape(denominator))
    return np.divide(numerator, denominator, out=np.zeros(shape), where=denominator > 0)


def _group(
    number: int,
    members: np.ndarray,
    target: SurvivalTarget,
    risk: np.ndarray,
    horizon: float,
    conf_level: float,
) -> CalibrationGroup:
    observed, low, high = observed_risk_arrays(
        target.event[members], target.time[members], np.array([horizon]), conf_level
    )
    return CalibrationGroup(
        group=number,
        n=int(members.size),
        mean_predicted=float(risk[members].mean()),
        observed=float(observed[0]),
        observed_lower=float(low[0]),
        observed_upper=float(high[0]),
        predicted_min=float(risk[members].min()),
        predicted_max=float(risk[members].max()),
    )


def _fit_link(link: np.ndarray, pseudo: np.ndarray, *, free_slope: bool) -> np.ndarray:
    """Least squares of pseudo-observations on 1 - exp(-exp(a + b * cloglog(p)))."""
    if free_slope:

        def residuals(theta: np.ndarray) -> np.ndarray:
            return _inverse_cloglog(theta[0] + theta[1] * link) - pseudo

        return least_squares(residuals, x0=np.array([0.0, 1.0])).x

    def shifted(theta: np.ndarray) -> np.ndarray:
        return _inverse_cloglog(theta[0] + link) - pseudo

    return least_squares(shifted, x0=np.array([0.0])).x


def _smooth(link: np.ndarray, pseudo: np.ndarray) -> np.ndarray:
    """Cubic regression spline of the pseudo-observations in cloglog(p), within [0, 1]."""
    knots = np.unique(np.quantile(link, [0.0, 1 / 3, 2 / 3, 1.0]))
    if knots.size < 2:
        return np.full(link.size, np.clip(pseudo.mean(), 0.0, 1.0))
    # cubic B-splines with knots at the tertiles, boundary knots repeated
    padded = np.r_[[knots[0]] * 3, knots, [knots[-1]] * 3]
    basis = BSpline.design_matrix(link, padded, 3).toarray()
    coefficients = np.linalg.lstsq(basis, pseudo, rcond=None)[0]
    return np.clip(basis @ coefficients, 0.0, 1.0)


def _cloglog(risk: np.ndarray) -> np.ndarray:
    p = np.clip(risk, _EPS, 1.0 - _EPS)
    return np.log(-np.log1p(-p))


def _inverse_cloglog(eta: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.exp(np.minimum(eta, 30.0)))
