"""Tree ensembles from scikit-survival: random survival forest and gradient boosting."""

from __future__ import annotations

from typing import Any

import numpy as np
from sksurv.ensemble import GradientBoostingSurvivalAnalysis
from sksurv.ensemble import RandomSurvivalForest as SksurvRandomSurvivalForest

from prognosis.models.base import SurvivalEstimator
from prognosis.models.cox import survival_at
from prognosis.models.target import SurvivalTarget

__all__ = ["GradientBoostingBaseline", "RandomSurvivalForest"]


class _SksurvShell(SurvivalEstimator):
    """Shared shell: ``model_`` is a fitted scikit-survival estimator."""

    def _make(self) -> Any:
        """The unfitted scikit-survival estimator, built from this shell's parameters."""
        raise NotImplementedError

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        self.model_ = self._make().fit(X, target.for_cause(1))

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        survival = self.model_.predict_survival_function(X, return_array=True)
        return survival_at(self.model_.unique_times_, survival, times)


class RandomSurvivalForest(_SksurvShell):
    """Random survival forest (scikit-survival).

    The risk score is the ensemble's expected number of events (its cumulative hazard summed
    over the training event times); survival is the trees' Kaplan-Meier curves, averaged.

    Attributes
    ----------
    model_ : sksurv.ensemble.RandomSurvivalForest
        The fitted forest (``model_.estimators_`` holds the trees, for SHAP).
    """

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

    def _make(self) -> SksurvRandomSurvivalForest:
        return SksurvRandomSurvivalForest(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )


class GradientBoostingBaseline(_SksurvShell):
    """Gradient-boosted Cox model with regression trees (scikit-survival).

    A slow, exact baseline for the XGBoost models: each tree is grown in pure scikit-learn on
    one core, so expect minutes on tens of thousands of rows.

    Attributes
    ----------
    model_ : sksurv.ensemble.GradientBoostingSurvivalAnalysis
    """

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

    def _make(self) -> GradientBoostingSurvivalAnalysis:
        return GradientBoostingSurvivalAnalysis(
            loss="coxph",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            random_state=self.random_state,
        )
