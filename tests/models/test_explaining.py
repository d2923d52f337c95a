"""The shared explanation hooks, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prognosis.exceptions import ExplanationError
from prognosis.models.base import SurvivalEstimator
from prognosis.models.explaining import LinearShapMixin, ProportionalHazardsMixin
from prognosis.models.registry import MODEL_NAMES, estimator_class
from prognosis.models.target import make_competing_target, make_target


class _Line(LinearShapMixin, SurvivalEstimator):
    """f(x) = 0.5 + 2 x0 - x1, fitted to nothing."""

    def linear_coefficients(self) -> np.ndarray:
        return np.array([2.0, -1.0])

    def _linear_output(self, X: np.ndarray) -> np.ndarray:
        return 0.5 + X @ self.linear_coefficients()


def test_linear_shap_is_coefficient_times_distance_from_the_reference_mean() -> None:
    X = np.array([[1.0, 3.0], [0.0, 0.0]])
    reference = np.array([[0.0, 1.0], [2.0, 3.0]])  # mean (1, 2): f = 0.5 + 2 - 2 = 0.5
    values, base = _Line().shap_values(X, reference)
    np.testing.assert_array_equal(values, [[0.0, -1.0], [-2.0, 2.0]])
    assert base == 0.5
    np.testing.assert_array_equal(base + values.sum(axis=1), [-0.5, 0.5])  # f(X)


def test_linear_shap_without_training_means_needs_a_background() -> None:
    with pytest.raises(ExplanationError, match=r"_Line keeps no training means.*background="):
        _Line().shap_values(np.zeros((1, 2)))


def _unused(*args: object) -> np.ndarray:
    raise AssertionError("a proportional-hazards family needs only the risk")


def test_proportional_hazards_risk_without_scales_the_hazard() -> None:
    # S = 0.8; taking away log 2 halves the hazard: S' = 0.8 ** 0.5
    without = ProportionalHazardsMixin().risk_without(
        np.array([np.log(2.0), 0.0]), 365.0, risk=0.2, inputs=_unused, fold=_unused
    )
    np.testing.assert_allclose(without, [1 - np.sqrt(0.8), 0.2], rtol=1e-15)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_family_of_the_registry_has_an_exact_shap_method(name: str) -> None:
    output = estimator_class(name).shap_output
    assert output is not None and output.method.startswith("exact")
    assert (output.unit == "log time") == (output.sign == -1)


@pytest.mark.parametrize("name", ["rsf", "gbsa", "xgb-cox", "xgb-aft"])
def test_tree_families_are_not_linear_and_have_no_summary_table(name: str) -> None:
    model = estimator_class(name)()
    with pytest.raises(ExplanationError, match="is not a linear model"):
        model.linear_coefficients()
    assert model.summary_table() is None


def test_only_the_forest_explains_survival_over_time() -> None:
    for name in MODEL_NAMES:
        model = estimator_class(name)()
        if name == "rsf":
            continue
        with pytest.raises(ExplanationError, match=r"random survival forest \(rsf\) only"):
            model.survival_shap_values(np.zeros((1, 1)), np.array([1.0]))


def _planted(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Hazard 0.01 exp(0.7 a - 0.5 b) for cause 1, 0.005 for cause 2, censoring uniform."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.integers(0, 2, 3000).astype(float)})
    first = rng.exponential(1 / (0.01 * np.exp(0.7 * X["a"] - 0.5 * X["b"])))
    second = rng.exponential(1 / 0.005, len(X))
    censor = rng.uniform(20, 300, len(X))
    time = np.minimum.reduce([first, second, censor])
    event = np.select([time == first, time == second], [1, 2], 0)
    return X, make_competing_target(event, time)


def test_cause_specific_summary_table_holds_each_causes_hazard_ratios() -> None:
    X, y = _planted()
    table = estimator_class("cause-specific-cox")().fit(X, y).summary_table()
    assert list(table.index.names) == ["cause", "covariate"]
    np.testing.assert_allclose(
        table.loc[1, "hazard_ratio"], np.exp([0.7, -0.5]), rtol=0.15
    )  # planted
    np.testing.assert_allclose(table.loc[2, "hazard_ratio"], [1.0, 1.0], atol=0.2)


def test_coxnet_summary_table_gives_its_hazard_ratios() -> None:
    X, y = _planted()
    single = make_target(y["event"] == 1, y["time"])
    table = (
        estimator_class("coxnet")(l1_ratio=0.5, n_alphas=10, cv=3).fit(X, single).summary_table()
    )
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["coef", "hazard_ratio"]
    assert table.loc["a", "hazard_ratio"] > 1.5 and table.loc["b", "hazard_ratio"] < 1.0
