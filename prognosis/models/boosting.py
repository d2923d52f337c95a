"""Gradient-boosted survival models on xgboost: Cox partial likelihood and accelerated failure time.

:class:`XGBCox` boosts the Cox partial likelihood (``survival:cox``); its margin is a log hazard
ratio, and absolute risk comes from a Breslow baseline cumulative hazard estimated on the
training data with the fitted margins (:func:`prognosis.models.survival.breslow_cumulative_hazard`).

:class:`XGBAFT` boosts an accelerated-failure-time likelihood (``survival:aft``):
``log T = margin + scale * Z`` with ``Z`` normal, logistic or extreme-value, as in xgboost's
"Survival Analysis with Accelerated Failure Time" tutorial; S(t | x) follows from the
distribution of ``Z`` (:func:`aft_survival`).

Both take NaN (xgboost's missing values) and scipy sparse matrices. A sparse matrix goes to
xgboost as it is, and xgboost reads an entry that it does not store as *missing*, not as zero:
it skips those entries when building histograms, which is what makes mostly-zero cohort
features cheap. Through :func:`prognosis.models.make_model` dense data gets the same reading
where it loses nothing (:class:`prognosis.models.preprocess.ZeroAsMissing`); pass dense data
with NaN where a 0 must stay an ordinary value. Dense training data is handed to xgboost as a
sparse matrix of its non-missing entries (the same data to xgboost, cheaper to build and train
on); dense data to predict is fed in row blocks, which bounds the memory of xgboost's copies.
Fitted models are saved as data (``to_state``/``from_state``, never a pickle): the booster in
xgboost's own JSON model format, the baseline as arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import xgboost as xgb
from scipy.special import expit, ndtr
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from prognosis.models.base import Fold, Inputs, ShapOutput, SurvivalEstimator
from prognosis.models.explaining import TREE_SHAP, ProportionalHazardsMixin
from prognosis.models.state import as_bytes, bytes_of
from prognosis.models.survival import breslow_cumulative_hazard, step_function
from prognosis.models.target import SurvivalTarget

__all__ = [
    "XGBAFT",
    "CoxGradient",
    "XGBCox",
    "aft_bounds",
    "aft_survival",
    "cox_labels",
]

_BLOCK_CELLS = 1 << 22  # cells per dense block handed to xgboost (32 MiB of float64)


# -- pure functions ---------------------------------------------------------------------------
def cox_labels(event: np.ndarray, time: np.ndarray) -> np.ndarray:
    """xgboost ``survival:cox`` labels: the time for events, minus the time for censored rows.

    Times must be > 0: a censored time of 0 cannot be told apart from an event at 0.
    """
    time = np.asarray(time, dtype=float)
    return np.where(np.asarray(event) > 0, time, -time)


def aft_bounds(event: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """xgboost ``survival:aft`` label bounds: [time, time] for events, [time, +inf) if censored."""
    time = np.asarray(time, dtype=float)
    return time, np.where(np.asarray(event) > 0, time, np.inf)


def _normal_survival(z: np.ndarray) -> np.ndarray:
    return ndtr(-z)


def _logistic_survival(z: np.ndarray) -> np.ndarray:
    return expit(-z)


def _extreme_survival(z: np.ndarray) -> np.ndarray:
    # xgboost's "extreme" has CDF 1 - exp(-exp(z)) (minimum extreme value: Weibull times)
    return np.exp(-np.exp(z))


_AFT_SURVIVAL = {
    "normal": _normal_survival,
    "logistic": _logistic_survival,
    "extreme": _extreme_survival,
}


def aft_survival(
    log_time: np.ndarray, times: np.ndarray, distribution: str = "normal", scale: float = 1.0
) -> np.ndarray:
    """S(t | x) = 1 - F((log t - log_time) / scale) of an AFT model, an array (n, n_times).

    ``log_time`` is the model's margin (predicted log time); F is the CDF of the noise
    distribution: ``"normal"``, ``"logistic"`` or ``"extreme"`` (F(z) = 1 - exp(-exp(z))).
    S is 1 at t <= 0.
    """
    if distribution not in _AFT_SURVIVAL:
        raise ValueError(
            f"aft_loss_distribution must be one of {sorted(_AFT_SURVIVAL)}, got {distribution!r}"
        )
    with np.errstate(divide="ignore", over="ignore"):
        log_t = np.log(np.maximum(np.asarray(times, dtype=float), 0.0))
        z = (log_t[None, :] - np.asarray(log_time, dtype=float)[:, None]) / scale
        return _AFT_SURVIVAL[distribution](z)


class CoxGradient:
    """The gradient and hessian of xgboost's ``survival:cox`` objective, computed with numpy.

    xgboost computes them in one serial loop over the rows in time order; at 930,300 rows that
    loop was three quarters of each boosting round (docs/benchmarks.md). This computes the
    same quantities, in the same order (rows sorted stably by time, Breslow's handling of
    ties, a row's own event counted in its risk-set sums), with cumulative sums: with
    ``R(t)`` the sum of ``exp(margin)`` over rows still at risk at ``t`` and the sums running
    over event rows up to and including row ``i`` in that order,
    ``grad_i = exp(m_i) * sum 1/R - event_i`` and ``hess_i = exp(m_i) * sum 1/R -
    exp(m_i)**2 * sum 1/R**2``. Given to ``xgb.train(obj=...)`` with ``objective`` still
    ``survival:cox``, so predictions, metrics and the saved model keep xgboost's meaning.
    """

    def __init__(self, label: np.ndarray) -> None:
        time = np.abs(np.asarray(label, dtype=np.float64))
        self.order = np.argsort(time, kind="stable")
        ordered = time[self.order]
        self.event = (np.asarray(label)[self.order] > 0).astype(np.float64)
        starts = np.r_[True, ordered[1:] != ordered[:-1]] if len(ordered) else np.array([], bool)
        # for each position, the first position of its group of equal times
        self.group_start = np.maximum.accumulate(np.where(starts, np.arange(len(ordered)), 0))

    def __call__(self, margin: np.ndarray, matrix: Any = None) -> tuple[np.ndarray, np.ndarray]:
        exp_m = np.exp(np.asarray(margin, dtype=np.float64)[self.order])
        at_risk = np.cumsum(exp_m[::-1])[::-1][self.group_start]
        first = np.cumsum(self.event / at_risk)
        second = np.cumsum(self.event / (at_risk * at_risk))
        grad, hess = np.empty_like(exp_m), np.empty_like(exp_m)
        grad[self.order] = exp_m * first - self.event
        hess[self.order] = exp_m * first - exp_m * exp_m * second
        return grad, hess


# -- feeding xgboost --------------------------------------------------------------------------
def _row_blocks(X: Any) -> Iterator[slice]:
    rows = max(1, _BLOCK_CELLS // max(1, X.shape[1]))
    for start in range(0, X.shape[0], rows):
        yield slice(start, start + rows)


def _present_entries(X: np.ndarray) -> sp.csr_matrix:
    """Dense ``X`` as a CSR matrix of its non-missing entries (a 0 stays a stored 0).

    xgboost reads a NaN and an absent entry alike, so this is the same data to it, and it
    builds its quantile matrix about three times faster from it, and trains about 20 %
    faster on it, when most entries are missing, as in cohort features after
    ``ZeroAsMissing`` (930,300 x 103, 80 % missing: 1.7 s against 5.5 s for the matrix;
    the same trees, docs/benchmarks.md). Built column by column from a column-major copy.
    """
    values = np.asfortranarray(X, dtype=np.float64)
    rows, counts = [], np.zeros(values.shape[1] + 1, dtype=np.int64)
    for position in range(values.shape[1]):
        present = np.flatnonzero(~np.isnan(values[:, position]))
        rows.append(present)
        counts[position + 1] = present.size
    index = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    columns = np.repeat(np.arange(values.shape[1]), counts[1:])
    data = values[index, columns]
    matrix = sp.csc_matrix((data, index, np.cumsum(counts)), shape=values.shape)
    return matrix.tocsr()


def _margins(booster: xgb.Booster, X: Any) -> np.ndarray:
    """The booster's raw margin for every row (block by block when dense)."""
    if sp.issparse(X):
        return booster.inplace_predict(X, predict_type="margin").astype(float)
    return np.concatenate(
        [booster.inplace_predict(X[rows], predict_type="margin") for rows in _row_blocks(X)]
    ).astype(float)


# -- estimators ------------------------------------------------------------------------------
class _XGBSurvival(SurvivalEstimator):
    """Shared training, prediction margins and saved state of the xgboost models."""

    _allow_nan = True
    _accept_sparse = "csr"
    _objective: ClassVar[str]
    _metric: ClassVar[str]

    def _booster_params(self) -> dict[str, Any]:
        return {
            "objective": self._objective,
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "seed": self.random_state,
            "nthread": self.n_jobs,
            "tree_method": self.tree_method,
            "verbosity": 0,
        }

    def _matrix(self, X: Any, info: dict[str, np.ndarray], ref: Any = None) -> xgb.DMatrix:
        if self.tree_method != "hist":
            return xgb.DMatrix(X, nthread=self.n_jobs, **info)
        # absent entries of a sparse matrix stay absent: missing, skipped by the histograms
        return xgb.QuantileDMatrix(X, ref=ref, nthread=self.n_jobs, **info)

    def _training_data(self, X: Any) -> Any:
        """What training reads: dense data as its non-missing entries (:func:`_present_entries`)
        for the ``hist`` method, the same data to xgboost but cheaper to build and train on."""
        if sp.issparse(X) or self.tree_method != "hist":
            return X
        return _present_entries(X)

    def _gradient(self, info: dict[str, np.ndarray]) -> Any:
        """A custom objective for ``xgb.train(obj=...)``, or None for xgboost's own."""
        return None

    def _train(self, X: Any, info: dict[str, np.ndarray], event: np.ndarray) -> xgb.Booster:
        params = self._booster_params()
        if self.early_stopping_rounds is None:
            self.best_iteration_ = self.n_estimators - 1
            return xgb.train(
                params,
                self._matrix(X, info),
                self.n_estimators,
                obj=self._gradient(info),
                verbose_eval=False,
            )
        fit_rows, valid_rows = train_test_split(
            np.arange(X.shape[0]),
            test_size=self.validation_fraction,
            random_state=self.random_state,
            stratify=event > 0,
        )
        train = self._matrix(X[fit_rows], {k: v[fit_rows] for k, v in info.items()})
        valid = self._matrix(X[valid_rows], {k: v[valid_rows] for k, v in info.items()}, train)
        booster = xgb.train(
            {**params, "eval_metric": self._metric},
            train,
            self.n_estimators,
            evals=[(valid, "validation")],
            obj=self._gradient({k: v[fit_rows] for k, v in info.items()}),
            early_stopping_rounds=self.early_stopping_rounds,
            verbose_eval=False,
        )
        self.best_iteration_ = int(booster.best_iteration)
        return booster[: self.best_iteration_ + 1]  # keep only the trees that are used

    def _margin(self, X: Any) -> np.ndarray:
        return _margins(self.booster_, X)

    def shap_values(
        self, X: np.ndarray, reference: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP of the booster's margin (:mod:`prognosis.explain.boosters`); the
        reference population is the trees' own training cover, so ``reference`` is ignored."""
        from prognosis.explain.boosters import booster_shap  # imports shap: seconds

        return booster_shap(self.booster_, X)

    # -- fitted state as data ---------------------------------------------------------------
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The booster in xgboost's own JSON model format (its bytes), plus any baseline."""
        check_is_fitted(self, "booster_")
        booster = as_bytes(self.booster_.save_raw(raw_format="json"))
        return {"best_iteration": int(self.best_iteration_)}, {"booster": booster}

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.booster_ = xgb.Booster(model_file=bytearray(bytes_of(arrays["booster"])))
        self.booster_.set_param({"nthread": self.n_jobs})
        self.best_iteration_ = int(state["best_iteration"])


class XGBCox(ProportionalHazardsMixin, _XGBSurvival):
    """Gradient-boosted Cox model (xgboost ``survival:cox``) with a Breslow baseline.

    ``predict`` returns the margin, a log hazard ratio (higher = worse). S(t | x) =
    exp(-H0(t) exp(margin)), with H0 the Breslow estimate on the training data and margins.

    Parameters
    ----------
    n_estimators : int
        Boosting rounds (the most rounds when early stopping).
    learning_rate, max_depth, subsample, colsample_bytree, min_child_weight, reg_lambda
        xgboost's ``eta``, ``max_depth``, ``subsample``, ``colsample_bytree``,
        ``min_child_weight`` and ``lambda``.
    random_state : int
        Seed for xgboost's row and column sampling and for the validation split.
    n_jobs : int
        xgboost threads.
    tree_method : str
        ``"hist"`` (data held as quantile bins, built block by block) or ``"approx"``/``"exact"``.
    early_stopping_rounds : int or None
        When set, hold out ``validation_fraction`` of the rows (stratified on the event) and
        stop when the validation negative log partial likelihood has not improved for this many
        rounds; the booster keeps only the trees up to the best round (``best_iteration_``).
    validation_fraction : float
        Share of rows held out for early stopping.
    """

    _objective = "survival:cox"
    _metric = "cox-nloglik"
    shap_output = ShapOutput("log hazard", 1, TREE_SHAP)

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        random_state: int = 0,
        n_jobs: int = 2,
        tree_method: str = "hist",
        early_stopping_rounds: int | None = None,
        validation_fraction: float = 0.1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.tree_method = tree_method
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction

    def _gradient(self, info: dict[str, np.ndarray]) -> CoxGradient:
        return CoxGradient(info["label"])

    def _fit(self, X: Any, target: SurvivalTarget) -> None:
        info = {"label": cox_labels(target.event, target.time)}
        data = self._training_data(X)
        self.booster_ = self._train(data, info, target.event)
        self.baseline_times_, self.baseline_cumulative_hazard_ = breslow_cumulative_hazard(
            target.time, target.event, self._margin(data)
        )

    def _predict_score(self, X: Any) -> np.ndarray:
        return self._margin(X)

    def _predict_survival(self, X: Any, times: np.ndarray) -> np.ndarray:
        baseline = step_function(
            self.baseline_times_, self.baseline_cumulative_hazard_, times, before=0.0
        )
        with np.errstate(over="ignore"):
            return np.exp(-np.exp(self._margin(X))[:, None] * baseline[None, :])

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._fitted_state()
        arrays["baseline_times"] = self.baseline_times_
        arrays["baseline_cumulative_hazard"] = self.baseline_cumulative_hazard_
        return state, arrays

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._set_fitted_state(state, arrays)
        self.baseline_times_ = np.asarray(arrays["baseline_times"], dtype=float)
        self.baseline_cumulative_hazard_ = np.asarray(
            arrays["baseline_cumulative_hazard"], dtype=float
        )


class XGBAFT(_XGBSurvival):
    """Gradient-boosted accelerated failure time model (xgboost ``survival:aft``).

    The margin is the predicted log time: ``predict_time`` returns exp(margin) and ``predict``
    the risk score -margin (a longer predicted time is a lower risk). S(t | x) = 1 - F((log t -
    margin) / scale) with F the CDF of ``aft_loss_distribution``.

    Parameters are those of :class:`XGBCox` (early stopping watches the AFT negative
    log likelihood), plus ``aft_loss_distribution`` (``"normal"``, ``"logistic"`` or
    ``"extreme"``) and ``aft_loss_distribution_scale`` (the scale of the noise term, > 0).
    """

    _objective = "survival:aft"
    _metric = "aft-nloglik"
    shap_output = ShapOutput("log time", -1, TREE_SHAP)

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        random_state: int = 0,
        n_jobs: int = 2,
        tree_method: str = "hist",
        early_stopping_rounds: int | None = None,
        validation_fraction: float = 0.1,
        aft_loss_distribution: str = "normal",
        aft_loss_distribution_scale: float = 1.0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.tree_method = tree_method
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.aft_loss_distribution = aft_loss_distribution
        self.aft_loss_distribution_scale = aft_loss_distribution_scale

    def _booster_params(self) -> dict[str, Any]:
        return {
            **super()._booster_params(),
            "aft_loss_distribution": self.aft_loss_distribution,
            "aft_loss_distribution_scale": self.aft_loss_distribution_scale,
        }

    def _fit(self, X: Any, target: SurvivalTarget) -> None:
        if self.aft_loss_distribution not in _AFT_SURVIVAL:
            raise ValueError(
                f"aft_loss_distribution must be one of {sorted(_AFT_SURVIVAL)}, "
                f"got {self.aft_loss_distribution!r}"
            )
        if not self.aft_loss_distribution_scale > 0:
            raise ValueError(
                f"aft_loss_distribution_scale must be > 0, got {self.aft_loss_distribution_scale!r}"
            )
        lower, upper = aft_bounds(target.event, target.time)
        info = {"label_lower_bound": lower, "label_upper_bound": upper}
        self.booster_ = self._train(self._training_data(X), info, target.event)

    def predict_time(self, X: Any) -> np.ndarray:
        """exp(margin): the predicted time (the median time under normal or logistic noise)."""
        check_is_fitted(self, "event_times_")
        return np.exp(self._margin(self._validate(X)))

    def _predict_score(self, X: Any) -> np.ndarray:
        return -self._margin(X)

    def risk_without(
        self, shap: np.ndarray, horizon: float, *, risk: float, inputs: Inputs, fold: Fold
    ) -> np.ndarray:
        """1 - S(h) from the AFT distribution at the margin (log time) moved back by shap."""
        margin = -self.predict(inputs())[0]
        moved = aft_survival(
            margin - shap,
            np.array([horizon]),
            self.aft_loss_distribution,
            self.aft_loss_distribution_scale,
        )
        return 1.0 - moved[:, 0]

    def _predict_survival(self, X: Any, times: np.ndarray) -> np.ndarray:
        return aft_survival(
            self._margin(X), times, self.aft_loss_distribution, self.aft_loss_distribution_scale
        )
