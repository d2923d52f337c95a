"""xgboost survival models: Breslow baseline, label encoding, planted hazards, sparse/NaN, JSON.

The models run with ``n_jobs=1``: the test machines' cores are shared, and xgboost's threads
slow down many times over when the cores are oversubscribed.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import xgboost as xgb
from lifelines import CoxPHFitter
from scipy import stats
from sksurv.metrics import concordance_index_censored

from prognosis.models.boosting import (
    XGBAFT,
    XGBCox,
    aft_bounds,
    cox_labels,
)
from prognosis.models.cox import lifelines_calls
from prognosis.models.registry import make_model
from prognosis.models.survival import breslow_cumulative_hazard
from tests.support.planted import planted_survival

BETA = np.array([0.8, 0.5, 0.8, -0.5, 0.0])  # planted log hazard ratios (2 binary, 3 normal)
BASE_HAZARD = 0.01  # exponential baseline: S(t | x) = exp(-0.01 t exp(x beta))
TIMES = np.array([20.0, 50.0, 100.0, 150.0])


def simulate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, planted log hazard, and the target (exponential times, uniform censoring)."""
    names = ["b0", "b1", "n0", "n1", "n2"]  # 2 binary (35% ones), 3 normal
    data = planted_survival(
        n,
        seed=rng,
        features={name: 0.35 if name.startswith("b") else "normal" for name in names},
        beta=dict(zip(names, BETA, strict=True)),
        base_hazard=BASE_HAZARD,
        censor_between=(0.0, 300.0),
    )
    return data.X.to_numpy(), data.log_hazard, data.y


@pytest.fixture(scope="module")
def planted() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    X, _, y = simulate(rng, 3000)
    X_test, log_hazard_test, y_test = simulate(rng, 2000)
    return {"X": X, "y": y, "X_test": X_test, "log_hazard_test": log_hazard_test, "y_test": y_test}


@pytest.fixture(scope="module")
def cox(planted: dict[str, np.ndarray]) -> XGBCox:
    return XGBCox(n_jobs=1).fit(planted["X"], planted["y"])


# -- Breslow baseline ---------------------------------------------------------------------------
# (the hand-computed case is in tests/models/test_survival.py)
def test_breslow_matches_lifelines_baseline_of_a_linear_cox_model() -> None:
    data = planted_survival(
        400,
        seed=1,
        features={"a": "normal", "b": 0.5},
        beta={"a": 0.6, "b": -0.4},
        censor_between=(1.0, 30.0),
        whole_days=True,  # many ties
    )
    frame = data.X.assign(T=data.time, E=data.event)
    with lifelines_calls():
        fitter = CoxPHFitter().fit(frame, "T", "E")
        log_hazard = fitter.predict_log_partial_hazard(frame).to_numpy()
    reference = fitter.baseline_cumulative_hazard_.iloc[:, 0]

    times, cumulative = breslow_cumulative_hazard(frame["T"], frame["E"], log_hazard)

    np.testing.assert_allclose(cumulative, reference.loc[times].to_numpy(), rtol=1e-9)


# -- label encoding -----------------------------------------------------------------------------
def test_cox_labels_make_censored_times_negative() -> None:
    labels = cox_labels(np.array([True, False, True]), np.array([3.0, 5.0, 7.5]))
    np.testing.assert_array_equal(labels, [3.0, -5.0, 7.5])


def test_aft_bounds_leave_censored_rows_open_above() -> None:
    lower, upper = aft_bounds(np.array([1, 0]), np.array([3.0, 5.0]))
    np.testing.assert_array_equal(lower, [3.0, 5.0])
    np.testing.assert_array_equal(upper, [3.0, np.inf])


# -- XGBCox on planted hazards ------------------------------------------------------------------
def test_xgbcox_ranks_held_out_rows_by_planted_hazard(planted, cox) -> None:
    y_test = planted["y_test"]
    score = cox.predict(planted["X_test"])

    concordance = concordance_index_censored(y_test["event"], y_test["time"], score)[0]

    assert concordance > 0.7


def test_xgbcox_survival_is_close_to_the_true_survival(planted, cox) -> None:
    truth = np.exp(-BASE_HAZARD * TIMES[None, :] * np.exp(planted["log_hazard_test"])[:, None])

    survival = cox.predict_survival(planted["X_test"], TIMES)

    assert np.all(np.abs(survival - truth).mean(axis=0) < 0.05)  # per row, then averaged
    assert np.all(np.abs(survival.mean(axis=0) - truth.mean(axis=0)) < 0.03)  # average curves


def test_xgbcox_survival_is_one_before_the_first_event(planted, cox) -> None:
    X = planted["X_test"][:50]
    first_event = planted["y"]["time"][planted["y"]["event"]].min()
    survival = cox.predict_survival(X, [1e-9, first_event / 2, 100.0])

    np.testing.assert_array_equal(survival[:, :2], 1.0)
    assert np.all(survival[:, 2] < 1.0)


# -- input formats ------------------------------------------------------------------------------
def test_sparse_input_reads_absent_entries_as_missing(planted) -> None:
    """A sparse matrix means what it means to xgboost: an absent entry is missing (NaN)."""
    X, y = planted["X"][:1000], planted["y"][:1000]
    X_test = planted["X_test"][:200]
    assert np.mean(X == 0) > 0.1  # the binary covariates give zeros to drop
    as_nan = np.where(X == 0, np.nan, X)
    test_as_nan = np.where(X_test == 0, np.nan, X_test)
    dense = XGBCox(n_estimators=50, n_jobs=1).fit(as_nan, y)
    sparse = XGBCox(n_estimators=50, n_jobs=1).fit(sp.csr_matrix(X), y)

    np.testing.assert_array_equal(sparse.predict(sp.csr_matrix(X_test)), dense.predict(test_as_nan))
    np.testing.assert_array_equal(sparse.predict(sp.csc_matrix(X_test)), dense.predict(test_as_nan))
    np.testing.assert_array_equal(
        sparse.predict_survival(sp.csr_matrix(X_test), TIMES),
        dense.predict_survival(test_as_nan, TIMES),
    )


@pytest.mark.parametrize("name", ["xgb-cox", "xgb-aft"])
def test_make_model_reads_dense_and_sparse_data_alike(planted, name: str) -> None:
    """Through the pipeline, zeros of non-negative columns read as missing (ZeroAsMissing), as
    absent entries of the same data in a sparse matrix do; the sparse matrix stays sparse."""
    X, y = np.abs(planted["X"][:1000]), planted["y"][:1000]
    X_test = np.abs(planted["X_test"][:200])
    columns = [f"f{i}" for i in range(X.shape[1])]
    dense = make_model(name, n_estimators=50, n_jobs=1).fit(pd.DataFrame(X, columns=columns), y)
    sparse = make_model(name, n_estimators=50, n_jobs=1).fit(sp.csr_matrix(X), y)

    assert sp.issparse(sparse[:-1].transform(sp.csr_matrix(X_test)))
    np.testing.assert_array_equal(
        sparse.predict_risk(sp.csr_matrix(X_test), 200.0),
        dense.predict_risk(pd.DataFrame(X_test, columns=columns), 200.0),
    )


@pytest.mark.parametrize("model", [XGBCox, XGBAFT])
def test_missing_values_are_accepted(planted, model) -> None:
    X = planted["X"][:1000].copy()
    X[np.random.default_rng(2).random(X.shape) < 0.1] = np.nan

    fitted = model(n_estimators=50, n_jobs=1).fit(X, planted["y"][:1000])

    assert np.all(np.isfinite(fitted.predict(X)))
    assert np.all(np.isfinite(fitted.predict_survival(X, TIMES)))


# -- fitted state as data ----------------------------------------------------------------------
def _through_files(state: dict, arrays: dict, folder) -> tuple[dict, dict]:
    """The state as the model directory stores it: JSON text and an .npz read without pickle."""
    np.savez(folder / "state.npz", allow_pickle=False, **arrays)
    with np.load(folder / "state.npz", allow_pickle=False) as stored:
        return json.loads(json.dumps(state)), {name: stored[name] for name in stored.files}


@pytest.mark.parametrize("model", [XGBCox, XGBAFT])
def test_state_round_trip_gives_identical_predictions(planted, model, tmp_path) -> None:
    fitted = model(n_estimators=50, n_jobs=1).fit(planted["X"], planted["y"])
    X_test = planted["X_test"]

    loaded = model.from_state(*_through_files(*fitted.to_state(), tmp_path))

    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict(X_test), fitted.predict(X_test))
    np.testing.assert_array_equal(
        loaded.predict_survival(X_test, TIMES), fitted.predict_survival(X_test, TIMES)
    )


def test_booster_state_is_xgboost_json_that_xgboost_reads(planted) -> None:
    fitted = XGBCox(n_estimators=7, n_jobs=1).fit(planted["X"], planted["y"])

    _, arrays = fitted.to_state()
    document = arrays["booster"].tobytes()

    assert json.loads(document)["learner"]["objective"]["name"] == "survival:cox"
    booster = xgb.Booster(model_file=bytearray(document))
    assert booster.num_boosted_rounds() == 7
    np.testing.assert_array_equal(
        booster.inplace_predict(planted["X_test"], predict_type="margin"),
        fitted.booster_.inplace_predict(planted["X_test"], predict_type="margin"),
    )


def test_state_of_a_different_model_kind_is_refused(planted) -> None:
    state, arrays = XGBAFT(n_estimators=5, n_jobs=1).fit(planted["X"], planted["y"]).to_state()

    with pytest.raises(ValueError, match=r"the state is of a 'XGBAFT', not a XGBCox"):
        XGBCox.from_state(state, arrays)


def test_early_stopping_keeps_only_the_trees_up_to_the_best_round(planted) -> None:
    model = XGBCox(n_estimators=2000, early_stopping_rounds=20, n_jobs=1)

    model.fit(planted["X"], planted["y"])

    assert model.best_iteration_ < 1999
    assert model.booster_.num_boosted_rounds() == model.best_iteration_ + 1


# -- XGBAFT -------------------------------------------------------------------------------------
def test_aft_longer_predicted_time_means_lower_risk(planted) -> None:
    model = XGBAFT(n_jobs=1).fit(planted["X"], planted["y"])
    X_test = planted["X_test"]

    risk, predicted_time = model.predict(X_test), model.predict_time(X_test)

    np.testing.assert_allclose(risk, -np.log(predicted_time), rtol=1e-6)
    assert stats.spearmanr(risk, planted["log_hazard_test"]).statistic > 0.8


SURVIVAL_OF = {  # S(z) of the noise distribution, from scipy (the extreme one is Gumbel-min)
    "normal": stats.norm.sf,
    "logistic": stats.logistic.sf,
    "extreme": stats.gumbel_l.sf,
}


@pytest.mark.parametrize("distribution", sorted(SURVIVAL_OF))
def test_aft_survival_follows_the_noise_distribution(planted, distribution) -> None:
    scale = 1.5
    model = XGBAFT(
        n_estimators=50,
        n_jobs=1,
        aft_loss_distribution=distribution,
        aft_loss_distribution_scale=scale,
    ).fit(planted["X"], planted["y"])
    X_test = planted["X_test"][:300]
    z = (np.log(TIMES)[None, :] - np.log(model.predict_time(X_test))[:, None]) / scale

    survival = model.predict_survival(X_test, TIMES)

    np.testing.assert_allclose(survival, SURVIVAL_OF[distribution](z), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("distribution", sorted(SURVIVAL_OF))
def test_aft_survival_agrees_with_xgboost_censored_likelihood(planted, distribution) -> None:
    # For right-censored rows xgboost's aft-nloglik is the mean of -log S(time | x), with S
    # floored at 1e-12 (kEps in xgboost's src/common/survival_util.h).
    model = XGBAFT(n_estimators=50, n_jobs=1, aft_loss_distribution=distribution)
    model.fit(planted["X"], planted["y"])
    censored = planted["y_test"][~planted["y_test"]["event"]][:300]
    X = planted["X_test"][~planted["y_test"]["event"]][:300]
    lower, upper = aft_bounds(censored["event"], censored["time"])
    matrix = xgb.DMatrix(X, label_lower_bound=lower, label_upper_bound=upper)
    reported = float(model.booster_.eval(matrix, name="censored").split(":")[-1])

    survival = np.diag(model.predict_survival(X, censored["time"]))

    assert np.mean(-np.log(np.maximum(survival, 1e-12))) == pytest.approx(reported, rel=1e-4)


def test_aft_unknown_distribution_raises(planted) -> None:
    with pytest.raises(ValueError, match=r"aft_loss_distribution must be one of .* got 'weibull'"):
        XGBAFT(aft_loss_distribution="weibull").fit(planted["X"], planted["y"])


def test_present_entries_keeps_zeros_and_leaves_out_only_nan() -> None:
    from prognosis.models.boosting import _present_entries

    X = np.array([[0.0, np.nan, 2.5], [np.nan, np.nan, -1.0], [3.0, 0.0, np.nan]])
    matrix = _present_entries(X)
    assert sp.isspmatrix_csr(matrix) and matrix.nnz == 5  # the two zeros are stored
    np.testing.assert_array_equal(matrix.indptr, [0, 2, 3, 5])
    np.testing.assert_array_equal(matrix.indices, [0, 2, 2, 0, 1])
    np.testing.assert_array_equal(matrix.data, [0.0, 2.5, -1.0, 3.0, 0.0])


def test_cox_gradient_equals_xgboosts_serial_loop() -> None:
    """CoxGradient reproduces xgboost's survival:cox loop (time order, Breslow ties, a row's
    own event counted), written out here as xgboost's C++ does it, on data with ties."""
    from prognosis.models.boosting import CoxGradient

    time = np.array([3.0, 1.0, 3.0, 2.0, 5.0, 3.0, 2.0])
    event = np.array([1, 0, 1, 1, 0, 1, 0])
    label, margin = cox_labels(event, time), np.array([0.1, -0.2, 0.3, 0.0, 0.5, -0.1, 0.2])
    grad, hess = CoxGradient(label)(margin)

    exp_m = np.exp(margin)
    total, accumulated, last_exp, last_time, r, s = exp_m.sum(), 0.0, 0.0, 0.0, 0.0, 0.0
    want_grad, want_hess = np.zeros(len(time)), np.zeros(len(time))
    for i in np.argsort(np.abs(label), kind="stable"):
        accumulated += last_exp
        if last_time < abs(label[i]):
            total, accumulated = total - accumulated, 0.0
        if label[i] > 0:
            r, s = r + 1 / total, s + 1 / total**2
        want_grad[i] = exp_m[i] * r - (label[i] > 0)
        want_hess[i] = exp_m[i] * r - exp_m[i] ** 2 * s
        last_time, last_exp = abs(label[i]), exp_m[i]
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=1e-15)
    np.testing.assert_allclose(hess, want_hess, rtol=0, atol=1e-15)


def test_xgbcox_grows_the_trees_of_xgboosts_own_cox_objective(planted) -> None:
    X, y = planted["X"][:2000], planted["y"][:2000]
    label = cox_labels(y["event"], y["time"])
    params = XGBCox(n_estimators=40, n_jobs=1)._booster_params()
    native = xgb.train(params, xgb.DMatrix(X, label=label), 40)
    ours = XGBCox(n_estimators=40, n_jobs=1).fit(X, y)

    difference = native.predict(xgb.DMatrix(X), output_margin=True) - ours.predict(X)
    # the same trees; only the constant start (base_score) differs, which the Breslow
    # baseline absorbs: risks are unchanged by it
    assert np.ptp(difference) < 1e-5
