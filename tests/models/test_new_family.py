"""A model family defined in this one module and registered with one line goes through every
stage: fit, save and load as data, predict, explain (SHAP values and risk effects) and the model
report, without any other file knowing it (docs/adding_a_model_family.md).

The family is an exponential proportional-hazards model fitted by Newton's method in numpy:
hazard(t | x) = exp(intercept + x @ coef), constant in time, so S(t | x) = exp(-t * hazard).
Its truths come from outside its code: planted coefficients, and for the explanation the
model's own predict and predict_risk on rows built by hand.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prognosis.dataset import load_dataset
from prognosis.evaluation.validation import parse_split
from prognosis.exceptions import DataQualityWarning
from prognosis.explain import explain_model, risk_effects
from prognosis.models import registry
from prognosis.models.base import ShapOutput, SurvivalEstimator
from prognosis.models.explaining import LINEAR_SHAP, LinearShapMixin, ProportionalHazardsMixin
from prognosis.models.registry import ModelSpec
from prognosis.models.store import load_model, save_model
from prognosis.models.target import SurvivalTarget, make_target
from prognosis.report import build_model_report
from prognosis.training import check_schema, fit_model, predict_frame
from tests.report.cohort_data import HORIZONS, build_test_cohort

NAME = "exponential-ph"


class ExponentialPH(LinearShapMixin, ProportionalHazardsMixin, SurvivalEstimator):
    """Exponential proportional-hazards regression, fitted by damped Newton steps.

    Parameters
    ----------
    penalizer : float
        Ridge penalty on the coefficients (not the intercept), keeping a small cohort finite.
    max_iter : int
        Newton steps at most.
    """

    shap_output = ShapOutput("log hazard", 1, LINEAR_SHAP)

    def __init__(self, *, penalizer: float = 1.0, max_iter: int = 100) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        design = np.column_stack([np.ones(len(X)), X])
        event = (target.event == 1).astype(float)
        ridge = np.diag([0.0] + [self.penalizer] * X.shape[1])
        beta = np.zeros(design.shape[1])
        beta[0] = np.log(event.sum() / target.time.sum())
        for _ in range(self.max_iter):
            expected = target.time * np.exp(design @ beta)
            gradient = design.T @ (event - expected) - ridge @ beta
            hessian = design.T @ (design * expected[:, None]) + ridge
            step = np.linalg.solve(hessian, gradient)
            beta += step / max(1.0, np.abs(step).max())  # at most 1 per coefficient a step
            if np.abs(step).max() < 1e-10:
                break
        self.intercept_, self.coef_ = float(beta[0]), beta[1:]

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        return self.intercept_ + X @ self.coef_

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        return np.exp(-np.exp(self._predict_score(X))[:, None] * times[None, :])

    def linear_coefficients(self) -> np.ndarray:
        return np.asarray(self.coef_, dtype=float)

    def _linear_output(self, X: np.ndarray) -> np.ndarray:
        return self.predict(X)

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"intercept": self.intercept_}, {"coef": self.coef_}

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.intercept_ = float(state["intercept"])
        self.coef_ = np.asarray(arrays["coef"], dtype=float)


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        # the one line a new family adds to prognosis/models/registry.py
        patch.setitem(registry._SPECS, NAME, ModelSpec(__name__, "ExponentialPH", scale=True))
        yield


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # tiny CDM: empty death table
        return build_test_cohort(tmp_path_factory.mktemp("new_family") / "cohort")


def test_the_new_family_recovers_planted_hazard_ratios() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=4000), "b": rng.integers(0, 2, 4000).astype(float)})
    hazard = 0.01 * np.exp(0.7 * X["a"] - 0.5 * X["b"])
    event_time = rng.exponential(1 / hazard)
    censor = rng.uniform(20, 300, len(X))
    y = make_target(event_time <= censor, np.minimum(event_time, censor))
    model = ExponentialPH().fit(X, y)
    np.testing.assert_allclose(model.coef_, [0.7, -0.5], atol=0.08)
    assert model.intercept_ == pytest.approx(np.log(0.01), abs=0.1)


def test_the_new_family_goes_through_fit_save_load_predict_explain_and_report(
    cohort: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(cohort)
    saved = fit_model(dataset, NAME, HORIZONS, parse_split("cv:3"), seed=0, n_boot=5)
    save_model(tmp_path / "model", saved)
    loaded = load_model(tmp_path / "model")
    assert type(loaded.pipeline[-1]).__name__ == "ExponentialPH"

    fitted = predict_frame(saved, dataset.frame, origin="test")
    again = predict_frame(loaded, dataset.frame, origin="test")
    pd.testing.assert_frame_equal(fitted, again)

    X = check_schema(loaded, dataset.frame, origin="test")
    explanation = explain_model(loaded.pipeline, X, background=X)
    assert (explanation.output, explanation.sign) == ("log hazard", 1)
    np.testing.assert_allclose(explanation.prediction, loaded.pipeline.predict(X), atol=1e-9)

    row = X.iloc[[0]]
    one = explain_model(loaded.pipeline, row, background=X)
    horizon = HORIZONS[0]
    for effect in risk_effects(loaded.pipeline, row, one, [horizon], top=X.shape[1]):
        # S(h) = exp(-h exp(margin)): the risk with the log hazard moved back by the SHAP value
        moved = loaded.pipeline.predict(row) - effect.shap
        expected = 1 - np.exp(-np.exp(moved[0]) * horizon)
        assert effect.risk_without == pytest.approx(expected, rel=1e-9)
        assert effect.risk_with == pytest.approx(loaded.pipeline.predict_risk(row, horizon)[0])

    report = build_model_report(tmp_path / "model", dataset, n_boot=5)
    assert NAME in report.title
    assert not hasattr(report.shap, "reason"), report.shap  # explained, not "unavailable"
