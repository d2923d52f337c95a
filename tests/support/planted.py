"""Planted survival data: exponential event times whose log hazard is a planted linear predictor.

The one generator of survival data for the tests (the fixture ``planted_survival`` in
``tests/conftest.py`` wraps it). The truth a test checks against is what was planted here, in
plain numpy, never computed by prognosis:

- a row's hazard of the outcome is ``base_hazard * exp(sum(beta[name] * X[name]))``, constant
  in time, so its survival is ``S(t | x) = exp(-hazard t)``;
- with ``competing=Cause(...)`` a second cause has its own constant hazard; the first event is
  exponential with the sum of both, and it is the outcome with probability ``h1 / (h1 + h2)``;
  the cumulative incidence of the outcome is ``h1 / (h1 + h2) (1 - exp(-(h1 + h2) t))``;
- censoring is uniform on ``censor_between``, or exponential with mean ``censor_mean``, or
  exponential with a hazard of its own that depends on the features (``censor_by=Cause(...)``,
  censoring that is not independent of the covariates), and
  follow-up stops at ``end`` (administrative censoring).

Values are drawn in one fixed order from ``np.random.default_rng(seed)`` (or the generator
given): the features (in the order named), the first event times, the censoring times, the
causes (competing data only), then the missing values. ``whole_days=True`` rounds the observed
times up to whole days, as cohort datasets store them (many ties, events tied with censorings);
``missing`` blanks that share of a feature's values (after the event times were drawn, so the
planted hazard used the complete value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Cause", "Planted", "planted_survival"]

#: A feature's distribution: "normal" (standard normal) or a probability p (binary, 1 with p).
FeatureSpec = str | float


@dataclass(frozen=True)
class Cause:
    """A competing cause: its constant baseline hazard and its planted log hazard ratios."""

    base_hazard: float
    beta: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Planted:
    """Planted survival data and the truth it was drawn from.

    ``event`` holds 0 (censored), 1 (the outcome) and 2 (the competing cause, if any);
    ``time`` the observed time (rounded up to whole days when asked).
    """

    X: pd.DataFrame
    beta: Mapping[str, float]
    base_hazard: float
    log_hazard: np.ndarray
    hazard: np.ndarray
    other_hazard: np.ndarray | None
    event_time: np.ndarray
    censor_time: np.ndarray
    time: np.ndarray
    event: np.ndarray

    @property
    def competing(self) -> bool:
        """Whether the data have a competing cause."""
        return self.other_hazard is not None

    @property
    def y(self) -> np.ndarray:
        """The scikit-survival structured target: ``event`` bool (integer codes when competing),
        ``time`` float."""
        kind = "<i8" if self.competing else "?"
        target = np.empty(len(self.time), dtype=[("event", kind), ("time", "<f8")])
        target["event"] = self.event if self.competing else self.event == 1
        target["time"] = self.time
        return target

    def risk(self, t: float) -> np.ndarray:
        """The true risk of the outcome by ``t`` (its cumulative incidence if competing)."""
        return 1.0 - self.survival([t])[:, 0]

    def survival(self, times: np.ndarray | list[float]) -> np.ndarray:
        """The true ``1 - risk`` at each time: rows are persons, columns the times."""
        times = np.asarray(times, dtype=float)[None, :]
        if self.other_hazard is None:
            return np.exp(-self.hazard[:, None] * times)
        total = (self.hazard + self.other_hazard)[:, None]
        share = self.hazard[:, None] / total
        return 1.0 - share * (1.0 - np.exp(-total * times))

    def frame(self, **columns: object) -> pd.DataFrame:
        """The features with ``time`` and ``event`` (and any further columns given)."""
        out = self.X.copy()
        out["time"], out["event"] = self.time, self.event
        for name, values in columns.items():
            out[name] = values
        return out


def _features(rng: np.random.Generator, n: int, spec: Mapping[str, FeatureSpec]) -> pd.DataFrame:
    columns = {}
    for name, kind in spec.items():
        if kind == "normal":
            columns[name] = rng.normal(size=n)
        elif isinstance(kind, float) and 0.0 < kind < 1.0:
            columns[name] = (rng.random(n) < kind).astype(float)
        else:
            raise ValueError(f"feature {name!r}: 'normal' or a probability in (0, 1), not {kind!r}")
    return pd.DataFrame(columns, index=pd.RangeIndex(n))


def _linear(X: pd.DataFrame, beta: Mapping[str, float]) -> np.ndarray:
    lp = np.zeros(len(X))
    for name, coefficient in beta.items():
        lp = lp + coefficient * X[name].to_numpy(dtype=float)
    return lp


def _censor_times(
    rng: np.random.Generator,
    X: pd.DataFrame,
    between: tuple[float, float] | None,
    mean: float | None,
    by: Cause | None,
) -> np.ndarray:
    n = len(X)
    if by is not None:
        return rng.exponential(1 / (by.base_hazard * np.exp(_linear(X, by.beta))))
    if mean is not None:
        return rng.exponential(mean, size=n)
    if between is not None:
        return rng.uniform(*between, n)
    return np.full(n, np.inf)


def planted_survival(
    n: int,
    *,
    seed: int | np.random.Generator = 0,
    features: Mapping[str, FeatureSpec] | None = None,
    X: pd.DataFrame | None = None,
    beta: Mapping[str, float] | None = None,
    base_hazard: float = 0.1,
    competing: Cause | None = None,
    censor_between: tuple[float, float] | None = (0.0, 15.0),
    censor_mean: float | None = None,
    censor_by: Cause | None = None,
    end: float = np.inf,
    whole_days: bool = False,
    missing: Mapping[str, float] | None = None,
) -> Planted:
    """Draw ``n`` rows of planted survival data (see the module docstring for the model).

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int or numpy.random.Generator
        Seed of ``np.random.default_rng``, or a generator to draw from (several samples in turn).
    features : mapping, optional
        Feature name to its distribution: ``"normal"`` or the probability of a binary 1.
        Default: one standard normal feature ``x``.
    X : pandas.DataFrame, optional
        Features drawn by the caller instead (then ``features`` must not be given).
    beta : mapping, optional
        Planted log hazard ratio per feature (features not named have none). Default 0.8 on
        ``x``.
    base_hazard : float
        Constant baseline hazard of the outcome per unit of time.
    competing : Cause, optional
        A competing cause (event code 2).
    censor_between : tuple of float, optional
        Bounds of uniform censoring times; ``None`` for none.
    censor_mean : float, optional
        Mean of exponential censoring times instead.
    censor_by : Cause, optional
        Exponential censoring times with this baseline hazard and these log hazard ratios
        instead.
    end : float
        Administrative end of follow-up.
    whole_days : bool
        Round the observed times up to whole numbers.
    missing : mapping, optional
        Feature name to the share of its values set to NaN.

    Returns
    -------
    Planted
        The data and the planted truth.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if X is None:
        X = _features(rng, n, features if features is not None else {"x": "normal"})
    elif features is not None:
        raise ValueError("give features to draw or X, not both")
    X = X.reset_index(drop=True).copy()
    beta = dict(beta if beta is not None else {"x": 0.8})
    log_hazard = _linear(X, beta)
    hazard = base_hazard * np.exp(log_hazard)
    other = None
    if competing is not None:
        other = competing.base_hazard * np.exp(_linear(X, competing.beta))
    total = hazard if other is None else hazard + other
    event_time = rng.exponential(1 / total)
    censor_time = _censor_times(rng, X, censor_between, censor_mean, censor_by)
    censor_time = np.minimum(censor_time, end)
    cause = np.ones(n, dtype=np.int64)
    if other is not None:
        cause = np.where(rng.random(n) < hazard / total, 1, 2)
    event = np.where(event_time <= censor_time, cause, 0)
    time = np.minimum(event_time, censor_time)
    for name, share in (missing or {}).items():
        X.loc[rng.random(n) < share, name] = np.nan
    return Planted(
        X=X,
        beta=beta,
        base_hazard=base_hazard,
        log_hazard=log_hazard,
        hazard=hazard,
        other_hazard=other,
        event_time=event_time,
        censor_time=censor_time,
        time=np.ceil(time) if whole_days else time,
        event=event,
    )
