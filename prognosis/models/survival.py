"""Survival mathematics as pure functions: numpy arrays in, numpy arrays out.

Every estimator family is a thin shell over these, and ``prognosis.explain`` calls them too, so
each formula exists once:

- :func:`step_function`: a right-continuous step function (a survival curve, a cumulative
  hazard) evaluated at arbitrary times;
- :func:`breslow_cumulative_hazard`: Breslow's baseline cumulative hazard given fitted log hazard
  ratios (boosted Cox, cause-specific Cox);
- :func:`competing_risk_curves` and :func:`cumulative_incidence`: event-free survival and
  cumulative incidences from cause-specific hazards;
- :func:`aalen_johansen`: the non-parametric cumulative incidence of one cause.

Nothing here fits a model; this module imports neither lifelines nor xgboost.
"""

from __future__ import annotations

import numpy as np
from sksurv.nonparametric import cumulative_incidence_competing_risks

from prognosis.models.target import check_target, make_competing_target

__all__ = [
    "aalen_johansen",
    "breslow_cumulative_hazard",
    "competing_risk_curves",
    "cumulative_incidence",
    "proportional_hazards_interval",
    "step_function",
]

_BLOCK_CELLS = 1 << 22  # rows x causes x times computed at once by cumulative_incidence


def step_function(
    grid: np.ndarray,
    values: np.ndarray,
    times: np.ndarray,
    *,
    before: float,
    left_limit: bool = False,
) -> np.ndarray:
    """Evaluate right-continuous step functions at ``times`` (or their left limits there).

    Parameters
    ----------
    grid : array (G,)
        The step times, increasing.
    values : array (G,) or (n, G)
        ``values[..., i]`` holds from ``grid[i]`` on (one function, or one per row).
    times : array (m,)
        Where to evaluate.
    before : float
        The value before ``grid[0]`` (1 for a survival curve, 0 for a cumulative hazard); after
        the last step the last value holds.
    left_limit : bool
        Evaluate the limit from the left, f(t-): a step at exactly ``t`` does not count yet.

    Returns
    -------
    array (m,) or (n, m)
        The functions at ``times``.
    """
    values = np.asarray(values, dtype=float)
    times = np.asarray(times, dtype=float)
    if values.shape[-1] == 0:
        return np.full(values.shape[:-1] + times.shape, before, dtype=float)
    index = np.searchsorted(grid, times, side="left" if left_limit else "right") - 1
    return np.where(index >= 0, values[..., np.maximum(index, 0)], before)


def breslow_cumulative_hazard(
    time: np.ndarray, event: np.ndarray, log_hazard: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breslow's estimator of the baseline cumulative hazard given fitted log hazard ratios.

    H0(t) = sum over event times s <= t of d(s) / sum_{j: T_j >= s} exp(log_hazard_j), where d(s)
    counts the events at s (Breslow's handling of ties).

    Parameters
    ----------
    time : array (n,)
        Event or censoring times.
    event : array (n,)
        Nonzero where the row had the event.
    log_hazard : array (n,)
        Each row's fitted log hazard ratio (a Cox linear predictor or a boosted margin).

    Returns
    -------
    times : array (k,)
        The distinct event times, increasing.
    cumulative_hazard : array (k,)
        H0 at each of those times, relative to ``log_hazard = 0``.
    """
    time = np.asarray(time, dtype=float)
    log_hazard = np.asarray(log_hazard, dtype=float)
    shift = log_hazard.max()  # exp of the shifted values cannot overflow
    order = np.argsort(time, kind="stable")
    unique, first = np.unique(time[order], return_index=True)
    weights = np.exp(log_hazard[order] - shift)
    at_risk = np.cumsum(weights[::-1])[::-1][first]  # sum over rows with T_j >= t
    deaths = np.bincount(
        np.searchsorted(unique, time[np.asarray(event) > 0]), minlength=len(unique)
    )
    has_event = deaths > 0
    jumps = deaths[has_event] / at_risk[has_event] * np.exp(-shift)
    return unique[has_event], np.cumsum(jumps)


def competing_risk_curves(hazard_jumps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event-free survival and cumulative incidences from cause-specific hazard jumps.

    ``hazard_jumps[i, k, g]`` is row i's cause-k cumulative-hazard increment at grid time g.
    The event-free survival is S(t) = exp(-sum_k H_k(t)); at each grid time the fall in S,
    S(t-) (1 - exp(-sum_k dH_k)), is shared among the causes in proportion to their hazard
    jumps, so CIF_k(t) ~ sum_{s <= t} dH_k(s) S(s-) and sum_k CIF_k(t) + S(t) = 1 exactly.

    Parameters
    ----------
    hazard_jumps : array (n, K, G)
        Cause-specific cumulative-hazard increments per row, cause and grid time.

    Returns
    -------
    survival : array (n, G)
        S at each grid time.
    incidence : array (n, K, G)
        CIF_k at each grid time.
    """
    total = hazard_jumps.sum(axis=1)
    survival = np.exp(-np.cumsum(total, axis=1))
    before = np.concatenate([np.ones((total.shape[0], 1)), survival[:, :-1]], axis=1)
    share = np.divide(
        hazard_jumps,
        total[:, None, :],
        out=np.zeros_like(hazard_jumps),
        where=total[:, None, :] > 0,
    )
    incidence = np.cumsum(share * (before - survival)[:, None, :], axis=2)
    return survival, incidence


def cumulative_incidence(
    log_hazard: np.ndarray, baseline_jumps: np.ndarray, grid: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Event-free survival and cumulative incidences of proportional cause-specific hazards.

    Row i's cause-k hazard jumps are ``exp(log_hazard[i, k]) * baseline_jumps[k]``; they are
    combined by :func:`competing_risk_curves` and read at ``times`` as right-continuous step
    functions (S = 1 and CIF = 0 before ``grid[0]``). Rows go in blocks that bound memory.

    Parameters
    ----------
    log_hazard : array (n, K)
        Each row's log hazard ratio for each cause.
    baseline_jumps : array (K, G)
        Each cause's baseline cumulative-hazard increment at each grid time.
    grid : array (G,)
        The grid (event) times, increasing.
    times : array (m,)
        Where to read the curves; each >= 0.

    Returns
    -------
    survival : array (n, m)
        Event-free survival at ``times``.
    incidence : array (n, K, m)
        Each cause's cumulative incidence at ``times``.
    """
    times = np.asarray(times, dtype=float)
    horizon = int(np.searchsorted(grid, times.max(), side="right"))
    baseline = baseline_jumps[:, :horizon]
    # column 0 stands for "before the first grid time": S = 1, CIF = 0
    column = np.searchsorted(grid[:horizon], times, side="right")
    relative = np.exp(log_hazard)
    n_rows, n_causes = log_hazard.shape
    survival = np.empty((n_rows, len(times)))
    incidence = np.empty((n_rows, n_causes, len(times)))
    rows = max(1, _BLOCK_CELLS // max(1, n_causes * horizon))
    for start in range(0, n_rows, rows):
        block = slice(start, start + rows)
        s, c = competing_risk_curves(relative[block, :, None] * baseline[None])
        survival[block] = np.pad(s, ((0, 0), (1, 0)), constant_values=1.0)[:, column]
        incidence[block] = np.pad(c, ((0, 0), (0, 0), (1, 0)))[:, :, column]
    return survival, incidence


def aalen_johansen(
    event: np.ndarray, time: np.ndarray, cause: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Aalen-Johansen estimate of the cumulative incidence of one cause.

    Parameters
    ----------
    event : array (n,)
        0 censored, 1, 2, ... the cause of the event.
    time : array (n,)
        Event or censoring times, > 0.
    cause : int
        The cause whose cumulative incidence is returned.

    Returns
    -------
    times : array (k,)
        The distinct observed times (events and censorings), increasing.
    incidence : array (k,)
        P(T <= t, cause) at each of those times, a right-continuous step function.
    """
    event, time = np.asarray(event), np.asarray(time)
    if event.ndim != 1 or event.shape != time.shape:
        raise ValueError(
            f"event and time must be 1-d arrays of one length, got shapes {event.shape} and "
            f"{time.shape}"
        )
    target = check_target(make_competing_target(event, time), competing=True)
    if not 1 <= cause <= target.event.max():
        raise ValueError(f"cause {cause!r} is not an event code in the data {target.causes}")
    times, incidence = cumulative_incidence_competing_risks(target.event, target.time)
    return times, incidence[cause]


def proportional_hazards_interval(
    offset: np.ndarray,
    coef: np.ndarray,
    variance: np.ndarray,
    baseline: float,
    *,
    level: float = 0.95,
) -> np.ndarray:
    """Each row's risk ``1 - exp(-H0 exp(eta))`` at the ends of its linear predictor's interval.

    ``eta = offset @ coef`` (``offset``: the rows' inputs minus the centring the coefficients
    were fitted at) has the standard error ``sqrt(d' V d)`` (``V = variance``, the coefficients'
    covariance); its normal interval ``eta +/- z se`` is carried to the risk, which rises with
    eta, with the baseline cumulative hazard ``H0 = baseline`` at the horizon held fixed (its own
    uncertainty is left out). Returns an array (n, 2): lower and upper risk per row.
    """
    from scipy.stats import norm

    se = np.sqrt(np.einsum("ij,jk,ik->i", offset, variance, offset))
    z = float(norm.ppf(0.5 + level / 2))
    eta = offset @ coef
    bounds = np.column_stack([eta - z * se, eta + z * se])
    with np.errstate(over="ignore"):
        return 1.0 - np.exp(-baseline * np.exp(bounds))
