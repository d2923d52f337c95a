"""Gradient-boosted competing risks: one xgboost ``survival:cox`` booster per cause.

:class:`XGBCauseSpecific` is to :class:`prognosis.models.boosting.XGBCox` what
:class:`prognosis.models.competing.CauseSpecificCox` is to ``cox``: each cause k (event codes 1,
2, ...) gets its own boosted Cox model with the other causes counted as censored, and its own
Breslow baseline from its training margins
(:func:`prognosis.models.survival.breslow_cumulative_hazard`). The cause-specific hazards are
combined into each row's cumulative incidences by the same function as ``cause-specific-cox``
(:func:`prognosis.models.survival.cumulative_incidence`).

The causes share one training matrix (xgboost's quantile bins are built once, only the labels
change), so a second cause costs its boosting rounds and little else. Saved as data: each
booster in xgboost's own JSON model format, the baselines as arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.utils.validation import check_is_fitted

from prognosis.models.base import Fold, Inputs, ShapOutput
from prognosis.models.boosting import CoxGradient, XGBCox, _margins, _XGBSurvival, cox_labels
from prognosis.models.explaining import TREE_SHAP
from prognosis.models.state import as_bytes, bytes_of
from prognosis.models.survival import (
    breslow_cumulative_hazard,
    cumulative_incidence,
    step_function,
)
from prognosis.models.target import SurvivalTarget, TargetError, warn_without_competing

__all__ = ["XGBCauseSpecific"]


class XGBCauseSpecific(_XGBSurvival):
    """One gradient-boosted Cox model per cause, combined into cumulative incidences.

    Each cause k gets an xgboost ``survival:cox`` booster trained with the other causes counted
    as censored, and the Breslow baseline hazard of its margins. For a row x, CIF_k(t | x) = sum
    over event times s <= t of dH_k(s | x) S(s- | x), with dH_k(s | x) = exp(margin_k(x))
    dH0_k(s) and S(t | x) = exp(-sum_j H_j(t | x)) the event-free survival (see
    :func:`prognosis.models.survival.competing_risk_curves`).

    ``predict`` is the cause-1 margin (log hazard ratio); ``predict_survival`` the event-free
    survival; ``predict_risk(X, horizon)`` the cumulative incidence of cause 1. Explained by
    exact TreeSHAP of the cause-1 booster's margin (:meth:`shap_values`; any cause through
    :meth:`cause_shap_values`); taking a feature's value away moves the cause-1 log hazard and
    leaves the other causes' hazards.

    Parameters
    ----------
    n_estimators, learning_rate, max_depth, subsample, colsample_bytree, min_child_weight, \
reg_lambda, random_state, n_jobs, tree_method, early_stopping_rounds, validation_fraction
        Those of :class:`prognosis.models.boosting.XGBCox`, the same for every cause's booster
        (early stopping picks each cause's number of rounds on its own partial likelihood).

    Attributes
    ----------
    causes_ : list of int
        The causes seen in fit (1 must be one).
    boosters_ : list of xgboost.Booster
        One booster per cause, in the order of ``causes_``.
    best_iterations_ : list of int
        The last round kept by each cause's booster.
    hazard_jumps_ : array (n_causes, n_event_times)
        Breslow baseline hazard increments of each cause on ``event_times_``.
    """

    _competing = True
    _objective = "survival:cox"
    _metric = "cox-nloglik"
    shap_output = ShapOutput("log hazard", 1, TREE_SHAP)

    # the hyperparameters of XGBCox, shared by every cause's booster
    __init__ = XGBCox.__init__

    def _gradient(self, info: dict[str, np.ndarray]) -> CoxGradient:
        return CoxGradient(info["label"])

    def _fit(self, X: Any, target: SurvivalTarget) -> None:
        if 1 not in target.causes:
            raise TargetError(
                f"y has no event of cause 1 (the outcome); event codes seen: {target.causes}"
            )
        warn_without_competing(
            target,
            "with the outcome as its only cause, the gradient-boosted cause-specific model "
            "equals xgb-cox",
        )
        self.causes_ = target.causes
        data = self._training_data(X)
        # one quantile matrix for every cause (without early stopping): only the labels differ
        shared = None if self.early_stopping_rounds is not None else self._matrix(data, {})
        boosters, rounds, jumps = [], [], []
        for cause in self.causes_:
            events = target.event == cause
            info = {"label": cox_labels(events, target.time)}
            booster = self._train_cause(data, info, events, shared)
            times, cumulative = breslow_cumulative_hazard(
                target.time, events, _margins(booster, data)
            )
            jumps.append(
                np.diff(
                    step_function(times, cumulative, self.event_times_, before=0.0), prepend=0.0
                )
            )
            boosters.append(booster)
            rounds.append(int(self.best_iteration_))
        self.boosters_ = boosters
        self.best_iterations_ = rounds
        self.best_iteration_ = rounds[0]  # the outcome's, as xgb-cox reports it
        self.hazard_jumps_ = np.vstack(jumps)

    def _train_cause(
        self, data: Any, info: dict[str, np.ndarray], events: np.ndarray, shared: Any
    ) -> xgb.Booster:
        """One cause's booster: on the shared matrix with this cause's labels, or (early
        stopping) through the shared training with its own validation split."""
        if shared is None:
            return self._train(data, info, events)
        shared.set_label(info["label"])
        self.best_iteration_ = self.n_estimators - 1
        return xgb.train(
            self._booster_params(),
            shared,
            self.n_estimators,
            obj=self._gradient(info),
            verbose_eval=False,
        )

    # -- predictions ------------------------------------------------------------------------
    def _log_hazards(self, X: Any) -> np.ndarray:
        """Each row's margin (log hazard ratio) of each cause: an array (n, n_causes)."""
        return np.column_stack([_margins(booster, X) for booster in self.boosters_])

    def _curves(self, X: Any, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event-free survival (n, m) and cumulative incidences (n, K, m) at ``times``."""
        return cumulative_incidence(
            self._log_hazards(X), self.hazard_jumps_, self.event_times_, times
        )

    def predict_cumulative_incidence(self, X: Any, cause: int, times: Any) -> np.ndarray:
        """CIF of ``cause`` for each row and each time: an array (n_samples, n_times).

        Raises
        ------
        ValueError
            When ``cause`` was not seen in fit.
        PredictionHorizonError
            When a time lies past the training follow-up (``max_time_``).
        """
        check_is_fitted(self, "event_times_")
        position = self._cause_position(cause)
        times = self.check_prediction_times(times)
        _, incidence = self._curves(self._validate(X), times)
        return incidence[:, position, :]

    def _cause_position(self, cause: int) -> int:
        if cause not in self.causes_:
            raise ValueError(f"cause {cause!r} was not seen in fit; causes: {self.causes_}")
        return self.causes_.index(cause)

    def _margin(self, X: Any) -> np.ndarray:
        return _margins(self.boosters_[self.causes_.index(1)], X)

    def _predict_score(self, X: Any) -> np.ndarray:
        return self._margin(X)

    def _predict_survival(self, X: Any, times: np.ndarray) -> np.ndarray:
        return self._curves(X, times)[0]

    # -- explanations -----------------------------------------------------------------------
    def shap_values(
        self, X: np.ndarray, reference: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP of the cause-1 booster's margin (its log hazard ratio); the reference
        population is the trees' own training cover, so ``reference`` is ignored."""
        return self.cause_shap_values(X, 1)

    def cause_shap_values(self, X: np.ndarray, cause: int) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP of one cause's booster margin (its log cause-specific hazard ratio).

        Parameters
        ----------
        X : ndarray (n, q)
            Model-input rows (after the preprocessing).
        cause : int
            One of ``causes_``.

        Returns
        -------
        values : ndarray (n, q)
            Each column's contribution; ``base + values.sum(axis=1)`` is the cause's margin.
        base : float
            The expected margin under the trees' training cover.

        Raises
        ------
        ValueError
            When ``cause`` was not seen in fit.
        """
        from prognosis.explain.boosters import booster_shap  # imports shap: seconds

        check_is_fitted(self, "boosters_")
        return booster_shap(self.boosters_[self._cause_position(cause)], X)

    def risk_without(
        self, shap: np.ndarray, horizon: float, *, risk: float, inputs: Inputs, fold: Fold
    ) -> np.ndarray:
        """Cause-1 cumulative incidence by ``horizon`` with the cause-1 log hazard moved by -shap
        (the other causes' hazards unchanged), one value per feature."""
        cause = self.causes_.index(1)
        log_hazard = np.repeat(self._log_hazards(inputs()), len(shap), axis=0)  # (p, K)
        log_hazard[:, cause] -= shap
        _, incidence = cumulative_incidence(
            log_hazard, self.hazard_jumps_, self.event_times_, np.array([horizon])
        )
        return incidence[:, cause, 0]

    # -- fitted state as data ---------------------------------------------------------------
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Each cause's booster in xgboost's own JSON model format (its bytes), and the
        baselines' hazard increments."""
        check_is_fitted(self, "boosters_")
        state = {
            "causes": [int(cause) for cause in self.causes_],
            "best_iterations": [int(rounds) for rounds in self.best_iterations_],
        }
        arrays = {"hazard_jumps": self.hazard_jumps_}
        for cause, booster in zip(self.causes_, self.boosters_, strict=True):
            arrays[f"booster_{cause}"] = as_bytes(booster.save_raw(raw_format="json"))
        return state, arrays

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.causes_ = [int(cause) for cause in state["causes"]]
        self.best_iterations_ = [int(rounds) for rounds in state["best_iterations"]]
        self.best_iteration_ = self.best_iterations_[self.causes_.index(1)]
        self.hazard_jumps_ = np.asarray(arrays["hazard_jumps"], dtype=float)
        self.boosters_ = []
        for cause in self.causes_:
            booster = xgb.Booster(model_file=bytearray(bytes_of(arrays[f"booster_{cause}"])))
            booster.set_param({"nthread": self.n_jobs})
            self.boosters_.append(booster)
