"""Every estimator honours the same survival contract (as scikit-survival's
``tests/test_survival_function.py`` runs one set of checks over all its models).

Data are planted: hazard = 0.02 * exp(1.0 * x0 + 0.7 * x1), x2 is noise, so the ordering of risk
between rows is known without asking any model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.preprocessing import StandardScaler
from sksurv.metrics import concordance_index_censored

from prognosis.exceptions import FeatureNamesError, PredictionHorizonError, PrognosisError
from prognosis.models.base import SurvivalPipeline
from prognosis.models.cox import CoxNet, CoxPH
from prognosis.models.fine_gray import FineGray
from prognosis.models.forest import GradientBoostingBaseline, RandomSurvivalForest
from prognosis.models.parametric import WeibullAFT
from prognosis.models.registry import MODEL_NAMES, make_model
from prognosis.models.target import TargetError, make_target
from tests.support.planted import planted_survival

# The planted data have no competing events, on which Fine-Gray is a Cox model and says so.
pytestmark = pytest.mark.filterwarnings("ignore:y has no competing events:UserWarning")


@dataclass(frozen=True)
class Case:
    make: Callable[[], Any]
    grid: dict[str, list[Any]]  # a small GridSearchCV grid
    setting: tuple[str, Any]  # a parameter to set and read back


CASES = {
    "cox": Case(CoxPH, {"penalizer": [0.0, 0.1]}, ("penalizer", 0.5)),
    "coxnet": Case(lambda: CoxNet(n_alphas=10, cv=3), {"l1_ratio": [0.5, 1.0]}, ("l1_ratio", 0.9)),
    "weibull": Case(WeibullAFT, {"penalizer": [0.0, 0.1]}, ("penalizer", 0.2)),
    "rsf": Case(
        lambda: RandomSurvivalForest(n_estimators=25, min_samples_leaf=10, n_jobs=1),
        {"min_samples_leaf": [5, 10]},
        ("n_estimators", 7),
    ),
    "gbsa": Case(
        lambda: GradientBoostingBaseline(n_estimators=40),
        {"max_depth": [1, 2]},
        ("learning_rate", 0.3),
    ),
    "xgb-cox": Case(
        lambda: make_model("xgb-cox", n_estimators=25, n_jobs=1),
        {"model__max_depth": [1, 2]},
        ("model__max_depth", 4),
    ),
    "xgb-aft": Case(
        lambda: make_model("xgb-aft", n_estimators=25, n_jobs=1),
        {"model__max_depth": [1, 2]},
        ("model__max_depth", 4),
    ),
    "fine-gray": Case(FineGray, {"penalizer": [0.0, 0.1]}, ("censoring_ties", "crr")),
    # a competing-risk family on single-event data: one cause, the outcome
    "xgb-cause-specific": Case(
        lambda: make_model("xgb-cause-specific", n_estimators=25, n_jobs=1),
        {"model__max_depth": [1, 2]},
        ("model__max_depth", 4),
    ),
}
PARAMS = list(CASES)


def planted(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Hazard 0.02 exp(x0 + 0.7 x1) per day (x2 is noise), uniform censoring from day 10 to
    150, whole days."""
    data = planted_survival(
        n,
        seed=seed,
        features={"x0": "normal", "x1": 0.5, "x2": "normal"},
        beta={"x0": 1.0, "x1": 0.7},
        base_hazard=0.02,
        censor_between=(10.0, 150.0),
        whole_days=True,
    )
    return data.X, data.y


# Row 0 has the higher planted hazard: exp(2 + 0.7) against exp(-2).
HIGH_THEN_LOW = pd.DataFrame({"x0": [2.0, -2.0], "x1": [1.0, 0.0], "x2": [0.0, 0.0]})


def final_step(estimator: Any) -> Any:
    return estimator.steps[-1][1] if isinstance(estimator, SurvivalPipeline) else estimator


def concordance(estimator: Any, X: Any, y: np.ndarray) -> float:
    return concordance_index_censored(y["event"], y["time"], estimator.predict(X))[0]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return planted()


@pytest.fixture(scope="module", params=PARAMS)
def fitted(request, data) -> tuple[str, Any]:
    X, y = data
    return request.param, CASES[request.param].make().fit(X, y)


@pytest.mark.parametrize("name", PARAMS)
def test_clone_and_params_round_trip(name):
    estimator = CASES[name].make()
    twin = clone(estimator)
    assert twin is not estimator
    assert repr(twin) == repr(estimator)
    key, value = CASES[name].setting
    assert estimator.set_params(**{key: value}) is estimator
    assert estimator.get_params()[key] == value
    assert clone(estimator).get_params()[key] == value


@pytest.mark.parametrize("name", PARAMS)
def test_works_inside_a_pipeline_and_a_grid_search(name, data):
    X, y = data
    estimator = CASES[name].make()
    if not isinstance(estimator, SurvivalPipeline):
        estimator = SurvivalPipeline([("scale", StandardScaler()), ("model", estimator)])
        grid = {f"model__{key}": values for key, values in CASES[name].grid.items()}
    else:
        grid = CASES[name].grid
    search = GridSearchCV(
        estimator,
        grid,
        scoring=concordance,
        cv=KFold(2, shuffle=True, random_state=0),
        error_score="raise",
    ).fit(X, y)
    assert np.all(search.cv_results_["mean_test_score"] > 0.6)  # planted signal is found
    assert search.best_estimator_.predict_risk(X.iloc[:5], 30.0).shape == (5,)


def test_predict_ranks_the_planted_higher_risk_row_higher(fitted, data):
    name, model = fitted
    X, y = data
    high, low = model.predict(HIGH_THEN_LOW)
    assert high > low, name
    assert concordance(model, X, y) > 0.7


def test_predict_survival_is_a_probability_non_increasing_in_time(fitted, data):
    _, model = fitted
    X, y = data
    times = np.linspace(0.0, y["time"].max(), 40)
    survival = model.predict_survival(X.iloc[:20], times)
    assert survival.shape == (20, 40)
    assert np.all((survival >= 0.0) & (survival <= 1.0))
    assert np.all(np.diff(survival, axis=1) <= 1e-12)
    # A higher planted hazard means lower survival at every time after the first event.
    pair = model.predict_survival(HIGH_THEN_LOW, [60.0])
    assert pair[0, 0] < pair[1, 0]


def test_predictions_past_the_training_follow_up_raise(fitted, data):
    name, model = fitted
    X, y = data
    end = float(y["time"].max())  # the planted censoring ends by day 150
    assert model.predict_survival(X.iloc[:2], [end]).shape == (2, 1)  # the last day is inside
    message = rf"cannot predict at {end + 1:g} days: its training follow-up ends at {end:g} days"
    with pytest.raises(PredictionHorizonError, match=message):
        model.predict_survival(X.iloc[:2], [10.0, end + 1])
    with pytest.raises(PredictionHorizonError, match=message):
        model.predict_risk(X.iloc[:2], end + 1)
    assert final_step(model).max_time_ == end, name


def test_predict_risk_grows_with_the_horizon_and_the_planted_hazard(fitted, data):
    _, model = fitted
    X, _ = data
    risks = np.column_stack([model.predict_risk(X.iloc[:10], h) for h in (5.0, 30.0, 90.0)])
    assert np.all((risks >= 0.0) & (risks <= 1.0)) and np.all(np.diff(risks, axis=1) >= 0.0)
    high, low = model.predict_risk(HIGH_THEN_LOW, 60.0)
    assert high > low


def test_survival_step_functions_evaluate_at_training_event_times(fitted, data):
    _, model = fitted
    X, y = data
    event_times = final_step(model).event_times_
    np.testing.assert_array_equal(event_times, np.unique(y["time"][y["event"]]))
    functions = model.predict_survival_function(X.iloc[:3])
    values = np.array([function(event_times) for function in functions])
    np.testing.assert_allclose(values, model.predict_survival(X.iloc[:3], event_times))


@pytest.mark.parametrize("name", PARAMS)
def test_unfitted_estimator_refuses_to_predict(name, data):
    X, _ = data
    estimator = CASES[name].make()
    with pytest.raises(NotFittedError):
        estimator.predict(X)
    with pytest.raises(NotFittedError):
        estimator.predict_survival(X, [10.0])


def test_wrong_number_of_columns_is_refused(fitted, data):
    _, model = fitted
    X, _ = data
    with pytest.raises(ValueError, match=r"X has 2 features|columns are missing|now missing"):
        model.predict(X[["x0", "x1"]])


@pytest.mark.parametrize("name", PARAMS)
def test_bad_target_is_refused_with_the_target_check_message(name, data):
    X, y = data
    with pytest.raises(TargetError, match="structured array with fields 'event' and 'time'"):
        CASES[name].make().fit(X, y["time"])
    zero = y.copy()
    zero["time"][0] = 0.0
    with pytest.raises(TargetError, match=r"must be > 0; 1 rows have time <= 0"):
        CASES[name].make().fit(X, zero)
    censored = make_target(np.zeros(len(y), bool), y["time"])
    with pytest.raises(TargetError, match="no events"):
        CASES[name].make().fit(X, censored)


# -- the registry ---------------------------------------------------------------------------
OURS = ["cox", "coxnet", "weibull", "rsf", "gbsa"]


@pytest.mark.parametrize("name", OURS)
def test_make_model_builds_a_pipeline_that_fits_raw_frames(name):
    X, y = planted(n=200)
    X["site"] = np.where(X["x2"] > 0, "north", "south")  # a category to encode
    X.loc[::7, "x0"] = np.nan  # missing values to impute
    params = {"rsf": {"n_estimators": 10}, "gbsa": {"n_estimators": 20}}.get(name, {})
    pipeline = make_model(name, seed=3, **params).fit(X, y)
    assert [step for step, _ in pipeline.steps] == ["preprocess", "model"]
    assert pipeline.predict(X).shape == (200,)
    model = pipeline.named_steps["model"]
    assert "missingindicator_x0" in model.feature_names_in_
    if "random_state" in model.get_params():
        assert model.random_state == 3


def test_make_model_scales_inputs_only_for_coxnet():
    X, _ = planted(n=50)
    for name, scaled in [("coxnet", True), ("cox", False), ("rsf", False)]:
        out = make_model(name)[:-1].fit_transform(X)
        assert (abs(out["x0"].mean()) < 1e-12 and out["x0"].std(ddof=0) == pytest.approx(1.0)) == (
            scaled
        ), name


def test_unknown_model_name_lists_the_valid_names():
    with pytest.raises(PrognosisError, match=r"unknown model 'cux'; valid names are cox, coxnet"):
        make_model("cux")
    assert set(MODEL_NAMES) == {
        *OURS,
        "xgb-cox",
        "xgb-aft",
        "cause-specific-cox",
        "fine-gray",
        "xgb-cause-specific",
    }


# -- the scikit-learn contract: inputs, names, score ---------------------------------------
def harrell_by_pairs(y: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C counted pair by pair: comparable when the shorter time is an event (or the
    same time censored); risks within 1e-8 count as tied, one half (Harrell 1982; sksurv)."""
    concordant = comparable = 0.0
    for i in range(len(y)):
        if not y["event"][i]:
            continue
        later = (y["time"] > y["time"][i]) | ((y["time"] == y["time"][i]) & ~y["event"])
        tied = np.abs(risk[i] - risk[later]) <= 1e-8
        comparable += later.sum()
        concordant += (~tied & (risk[i] > risk[later])).sum() + 0.5 * tied.sum()
    return concordant / comparable


def test_reordered_columns_are_refused_naming_them(fitted, data):
    _, model = fitted
    X, _ = data
    with pytest.raises(FeatureNamesError, match=r"out of place: 'x0' \(at fit\) / 'x2' \(now\)"):
        model.predict(X[["x2", "x1", "x0"]])
    with pytest.raises(FeatureNamesError, match=r"X\[model\.feature_names_in_\]"):
        model.predict_risk(X[["x1", "x0", "x2"]], 30.0)


def test_missing_and_unexpected_columns_are_refused_naming_them(fitted, data):
    _, model = fitted
    X, _ = data
    renamed = X.rename(columns={"x1": "sex"})
    with pytest.raises(
        FeatureNamesError, match=r"now missing: 'x1'\ncolumns not seen at fit: 'sex'"
    ):
        model.predict(renamed)
    with pytest.raises(FeatureNamesError, match="columns now missing: 'x2'"):
        model.predict_survival(X[["x0", "x1"]], [10.0])


@pytest.mark.parametrize("name", PARAMS)
def test_refit_on_an_array_forgets_the_feature_names(name, data):
    X, y = data
    model = final_step(CASES[name].make())
    model.fit(X, y)
    assert list(model.feature_names_in_) == ["x0", "x1", "x2"]
    model.fit(X.to_numpy(), y)
    assert not hasattr(model, "feature_names_in_")
    assert model.n_features_in_ == 3


@pytest.mark.parametrize("name", PARAMS)
def test_rows_of_x_and_y_must_agree_and_x_be_2d(name, data):
    X, y = data
    model = final_step(CASES[name].make())
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[299, 300\]"):
        model.fit(X.iloc[:-1], y)
    with pytest.raises(ValueError, match=r"Expected a 2-dimensional container|Expected 2D array"):
        model.fit(X["x0"].to_numpy(), y)
    model.fit(X, y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        model.predict(X.iloc[0].to_numpy())


def test_score_is_harrells_c(fitted, data):
    name, model = fitted
    X, y = data
    expected = harrell_by_pairs(y, model.predict(X))
    assert model.score(X, y) == pytest.approx(expected, abs=1e-12), name
    assert final_step(model).score(model[:-1].transform(X) if name.startswith("xgb") else X, y) == (
        pytest.approx(expected, abs=1e-12)
    )


@pytest.mark.parametrize("name", ["cox", "xgb-cox"])
def test_grid_search_and_cross_val_score_use_score_by_default(name, data):
    X, y = data
    estimator = CASES[name].make()
    search = GridSearchCV(estimator, CASES[name].grid, cv=KFold(2, shuffle=True, random_state=0))
    search.fit(X, y)
    assert np.all(search.cv_results_["mean_test_score"] > 0.6)
    scores = cross_val_score(estimator, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and np.all(scores > 0.6)


def test_tags_say_what_each_family_accepts():
    for family in (CoxPH, CoxNet, WeibullAFT, RandomSurvivalForest, GradientBoostingBaseline):
        tags = family().__sklearn_tags__()
        assert (tags.input_tags.allow_nan, tags.input_tags.sparse) == (False, False)
        assert tags.target_tags.required
    for name in ("xgb-cox", "xgb-aft", "xgb-cause-specific"):
        tags = final_step(make_model(name)).__sklearn_tags__()
        assert (tags.input_tags.allow_nan, tags.input_tags.sparse) == (True, True)
