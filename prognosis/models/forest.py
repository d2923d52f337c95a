"""Tree ensembles from scikit-survival: random survival forest and gradient boosting.

The fitted scikit-survival model is saved as a skops file that may contain only the types in
each family's ``_trusted_types`` (beyond skops' defaults): the ensemble, its trees and their
loss or baseline; never a pickle.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sksurv.ensemble import GradientBoostingSurvivalAnalysis
from sksurv.ensemble import RandomSurvivalForest as SksurvRandomSurvivalForest

from prognosis.models.base import Fold, Inputs, ShapOutput, SurvivalEstimator
from prognosis.models.explaining import TREE_SHAP, ProportionalHazardsMixin
from prognosis.models.state import from_skops, skops_bytes
from prognosis.models.survival import step_function
from prognosis.models.target import SurvivalTarget

__all__ = ["GradientBoostingBaseline", "RandomSurvivalForest"]


class _SksurvShell(SurvivalEstimator):
    """Shared shell: ``model_`` is a fitted scikit-survival estimator."""

    #: What the fitted ``model_`` may contain beyond the types skops trusts by default.
    _trusted_types: ClassVar[tuple[str, ...]]

    def _make(self) -> Any:
        """The unfitted scikit-survival estimator, built from this shell's parameters."""
        raise NotImplementedError

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        self.model_ = _serial_predictions(self._make().fit(X, target.for_cause(1)))

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        survival = self.model_.predict_survival_function(X, return_array=True)
        return step_function(self.model_.unique_times_, survival, times, before=1.0)

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"model": skops_bytes(self.model_)}

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.model_ = _serial_predictions(from_skops(arrays["model"], self._trusted_types))


def _serial_predictions(model: Any) -> Any:
    """``model`` predicting on one thread. A forest fits its trees in parallel (identically for
    a seed), but adds their predictions up in the order its threads finish, which moves the last
    bits of every prediction from run to run: the same data and seed must give the same numbers.
    """
    if "n_jobs" in model.get_params():
        model.set_params(n_jobs=1)
    return model


class RandomSurvivalForest(_SksurvShell):
    """Random survival forest (scikit-survival).

    The risk score is the ensemble's expected number of events (its cumulative hazard summed
    over the training event times); survival is the trees' Kaplan-Meier curves, averaged.
    Both are explained by exact TreeSHAP (:mod:`prognosis.explain.trees`): the risk score, and
    S(t) at chosen times; a feature's effect on the risk by a horizon is its share of S there.

    Attributes
    ----------
    model_ : sksurv.ensemble.RandomSurvivalForest
        The fitted forest (``model_.estimators_`` holds the trees, for SHAP).
    """

    _trusted_types = (
        "sklearn.tree._tree.Tree",
        "sksurv.ensemble.forest.RandomSurvivalForest",
        "sksurv.tree.tree.SurvivalTree",
    )

    shap_output = ShapOutput("risk score", 1, TREE_SHAP)

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        min_samples_leaf: int = 15,
        max_features: str | int | float | None = "sqrt",
        n_jobs: int | None = 2,
        random_state: int | None = 0,
    ):
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.n_jobs = n_jobs
        self.random_state = random_state

    def shap_values(
        self, X: np.ndarray, reference: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP of the risk score; ``reference`` is ignored (the trees' cover is)."""
        from prognosis.explain.trees import forest_risk_shap  # imports shap: seconds

        return forest_risk_shap(self.model_, X)

    def survival_shap_values(
        self, X: np.ndarray, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact TreeSHAP of S(t) at each of ``times`` (checked against the follow-up)."""
        from prognosis.explain.trees import forest_survival_shap

        return forest_survival_shap(self.model_, X, self.check_prediction_times(times))

    def risk_without(
        self, shap: np.ndarray, horizon: float, *, risk: float, inputs: Inputs, fold: Fold
    ) -> np.ndarray:
        """The risk plus each feature's SHAP value of S(horizon): its share taken away."""
        values, _ = self.survival_shap_values(inputs(), np.array([horizon]))
        return np.clip(risk + fold(values)[0, :, 0], 0.0, 1.0)  # S(h) less a share in [0, 1]

    def risk_contributions(
        self, shap: np.ndarray, horizon: float, *, risk: np.ndarray, inputs: Inputs, fold: Fold
    ) -> tuple[np.ndarray, np.ndarray]:
        """The risk by ``horizon`` explained directly: exact TreeSHAP of S(horizon), sign
        reversed; the reference risk is 1 minus its base value (the trees' cover's mean S),
        the same for every row. ``shap`` (of the risk score) is not used."""
        values, base = self.survival_shap_values(inputs(), np.array([horizon]))
        points = -fold(values)[:, :, 0]
        return np.full(len(points), 1.0 - float(np.ravel(base)[0])), points

    def _make(self) -> SksurvRandomSurvivalForest:
        return SksurvRandomSurvivalForest(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )


class GradientBoostingBaseline(ProportionalHazardsMixin, _SksurvShell):
    """Gradient-boosted Cox model with regression trees (scikit-survival).

    Explained by exact TreeSHAP of its margin, a log hazard ratio (:mod:`prognosis.explain.trees`).

    A slow, exact baseline for the XGBoost models: each tree is grown in pure scikit-learn on
    one core, so expect minutes on tens of thousands of rows.

    Attributes
    ----------
    model_ : sksurv.ensemble.GradientBoostingSurvivalAnalysis
    """

    _trusted_types = (
        "sklearn.tree._tree.Tree",
        "sksurv.ensemble.boosting.GradientBoostingSurvivalAnalysis",
        "sksurv.ensemble.survival_loss.CoxPH",
        "sksurv.functions.StepFunction",
        "sksurv.linear_model.coxph.BreslowEstimator",
    )

    shap_output = ShapOutput("log hazard", 1, TREE_SHAP)

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        max_depth: int = 3,
        subsample: float = 1.0,
        random_state: int | None = 0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.random_state = random_state

    def shap_values(
        self, X: np.ndarray, reference: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP of the margin; ``reference`` is ignored (the trees' cover is)."""
        from prognosis.explain.trees import boosting_shap  # imports shap: seconds

        return boosting_shap(self.model_, X)

    def _make(self) -> GradientBoostingSurvivalAnalysis:
        return GradientBoostingSurvivalAnalysis(
            loss="coxph",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            random_state=self.random_state,
        )
