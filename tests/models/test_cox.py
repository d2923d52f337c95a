"""Cox models against published reference values, and the convergence guard.

Reference: R ``survival::coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio,
data = Rossi)`` (Efron ties), printed in Fox & Weisberg, "Cox Proportional-Hazards Regression
for Survival Data in R", appendix to *An R Companion to Applied Regression*; the lifelines
documentation prints the same fit. carData codes ``race`` as "other" and ``mar`` as "not
married", lifelines' ``load_rossi`` codes them as black = 1 and married = 1, so those two
coefficients change sign here; their standard errors do not.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from lifelines.exceptions import ConvergenceWarning
from sksurv.datasets import load_flchain
from sksurv.metrics import concordance_index_censored

from prognosis.models.cox import STEP_SIZES, CoxPH, ModelConvergenceError, fit_converged
from prognosis.models.registry import make_model
from prognosis.models.target import make_target

COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
R_COEF = [-0.37942, -0.05744, 0.31390, -0.14980, -0.43370, -0.08487, 0.09150]
R_SE = [0.19138, 0.02200, 0.30799, 0.21222, 0.38187, 0.19576, 0.02865]
# R summary(): exp(coef), lower .95, upper .95 for the covariates coded alike in both datasets.
R_HAZARD_RATIO = {
    "fin": (0.6843, 0.4702, 0.9957),
    "age": (0.9442, 0.9043, 0.9858),
    "prio": (1.0958, 1.0360, 1.1591),
}


def _rossi() -> tuple[pd.DataFrame, np.ndarray]:
    rossi = load_rossi()
    return rossi[COVARIATES], make_target(rossi["arrest"], rossi["week"])


def _c_index(model, X, y) -> float:
    return concordance_index_censored(y["event"], y["time"], model.predict(X))[0]


@pytest.fixture(scope="module")
def rossi_model() -> CoxPH:
    return CoxPH().fit(*_rossi())


def test_rossi_coefficients_and_standard_errors_match_r(rossi_model):
    summary = rossi_model.summary_
    assert summary.index.tolist() == COVARIATES
    np.testing.assert_allclose(summary["coef"], R_COEF, atol=5e-4)
    np.testing.assert_allclose(summary["se"], R_SE, atol=5e-4)
    np.testing.assert_allclose(rossi_model.linear_coefficients(), R_COEF, atol=5e-4)


def test_log_hazard_is_centred_where_lifelines_centres_it(rossi_model):
    # the training means come from the data, not from lifelines' private state; its public
    # predict_log_partial_hazard is the truth they must reproduce
    X, y = _rossi()
    frame = X.assign(week=y["time"], arrest=y["event"].astype(int))
    fitter = CoxPHFitter().fit(frame, "week", "arrest")
    expected = fitter.predict_log_partial_hazard(X).to_numpy()
    np.testing.assert_allclose(rossi_model.predict(X), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(rossi_model.training_mean_, X.mean().to_numpy(), rtol=1e-12)


def test_rossi_concordance_matches_r(rossi_model):
    X, y = _rossi()
    assert round(_c_index(rossi_model, X, y), 2) == 0.64  # R: "Concordance= 0.64"


def test_summary_has_hazard_ratios_with_95_percent_intervals(rossi_model):
    summary = rossi_model.summary_table()
    assert summary.columns.tolist() == [
        "coef",
        "se",
        "hazard_ratio",
        "hazard_ratio_lower_95",
        "hazard_ratio_upper_95",
        "p",
        "proportional_hazards_p",  # the Schoenfeld test of each covariate (checked below)
    ]
    tested = rossi_model.proportional_hazards_test_["p"]
    assert summary["proportional_hazards_p"].to_dict() == tested.to_dict()
    for covariate, (ratio, lower, upper) in R_HAZARD_RATIO.items():
        row = summary.loc[covariate]
        assert row["hazard_ratio"] == pytest.approx(ratio, abs=1e-4)
        assert row["hazard_ratio_lower_95"] == pytest.approx(lower, abs=1e-4)
        assert row["hazard_ratio_upper_95"] == pytest.approx(upper, abs=1e-4)
    assert summary.loc["fin", "p"] == pytest.approx(0.04742, abs=1e-5)  # R Pr(>|z|)


def test_proportional_hazards_test_flags_age_and_wexp_on_rossi(rossi_model):
    # Fox & Weisberg's appendix (cox.zph) and the lifelines docs both find the PH assumption
    # doubtful for age and wexp, and no evidence against it for fin.
    table = rossi_model.proportional_hazards_test_
    assert sorted(table.index) == sorted(COVARIATES)
    assert table.columns.tolist() == ["test_statistic", "p"]
    assert table.loc["age", "p"] < 0.01
    assert table.loc["wexp", "p"] < 0.05
    assert table.loc["fin", "p"] > 0.5


def test_survival_is_the_breslow_baseline_raised_to_the_relative_hazard(rossi_model):
    X, _ = _rossi()
    rows = X.iloc[:3]
    # lifelines' own prediction at its baseline time grid (weeks where events happened).
    weeks = [1.0, 10.0, 52.0]
    X, y = _rossi()
    fitter = CoxPHFitter().fit(X.assign(week=y["time"], arrest=y["event"]), "week", "arrest")
    reference = fitter.predict_survival_function(rows, times=weeks).T.to_numpy()
    np.testing.assert_allclose(rossi_model.predict_survival(rows, weeks), reference)
    np.testing.assert_allclose(
        rossi_model.predict(X), fitter.predict_log_partial_hazard(X).to_numpy(), atol=1e-12
    )
    # Before the first event nobody has failed.
    np.testing.assert_array_equal(rossi_model.predict_survival(rows, [0.5]), 1.0)


# -- the flchain convergence trap -----------------------------------------------------------
@pytest.fixture(scope="module")
def flchain() -> tuple[pd.DataFrame, np.ndarray]:
    """scikit-survival's flchain: ``chapter`` (cause of death) dropped, creatinine, kappa and
    lambda standardised; creatinine's missing values are left to the model's imputer. Three
    people died on the day of sampling (futime 0); they count as half a day."""
    X, y = load_flchain()
    X = X.drop(columns="chapter")
    for column in ("creatinine", "kappa", "lambda"):
        X[column] = (X[column] - X[column].mean()) / X[column].std()
    time = np.where(y["futime"] > 0, y["futime"], 0.5)
    return X, make_target(y["death"], time)


def test_flchain_fit_needs_a_smaller_step_and_reaches_the_maximum(flchain):
    X, y = flchain
    pipeline = make_model("cox").fit(X, y)
    model = pipeline.named_steps["model"]
    # lifelines' default Newton step (0.95) fails on this data; the retry at 0.5 converges.
    assert model.step_size_ == 0.5, "the default step converged: the trap is not exercised"
    assert _c_index(pipeline, X, y) >= 0.79


def _warn_when(step_sizes: set[float], monkeypatch) -> None:
    """Make lifelines warn ConvergenceWarning (after fitting) at the given step sizes."""
    original = CoxPHFitter.fit

    def fit(self, *args, fit_options=None, **kwargs):
        fitted = original(self, *args, fit_options=fit_options, **kwargs)
        if (fit_options or {}).get("step_size", 0.95) in step_sizes:
            warnings.warn(
                "simulated: Newton-Raphson failed to converge", ConvergenceWarning, stacklevel=2
            )
        return fitted

    monkeypatch.setattr(CoxPHFitter, "fit", fit)


def test_fit_that_warns_at_every_step_size_raises(monkeypatch):
    _warn_when(set(STEP_SIZES), monkeypatch)
    with pytest.raises(ModelConvergenceError, match="CoxPH did not converge with any of 4"):
        CoxPH().fit(*_rossi())


def test_fit_that_warns_at_the_default_step_is_retried(monkeypatch):
    _warn_when({0.95}, monkeypatch)
    model = CoxPH().fit(*_rossi())
    assert model.step_size_ == 0.5
    np.testing.assert_allclose(model.summary_["coef"], R_COEF, atol=5e-4)


def test_fit_below_the_null_likelihood_is_rejected_even_without_a_warning(monkeypatch):
    original = CoxPHFitter.fit

    def diverged_at_default_step(self, *args, fit_options=None, **kwargs):
        fitted = original(self, *args, fit_options=fit_options, **kwargs)
        if fit_options["step_size"] == 0.95:
            inner = fitted._model  # CoxPHFitter delegates to its fitted inner model
            inner.log_likelihood_ = inner._ll_null_ - 10.0  # a silent divergence
        return fitted

    monkeypatch.setattr(CoxPHFitter, "fit", diverged_at_default_step)
    assert CoxPH().fit(*_rossi()).step_size_ == 0.5


def test_fit_converged_names_every_failed_setting():
    def fit_once(options):
        raise ConvergenceWarning(f"no luck at {options['step_size']}")

    expected = r"step_size=0\.95: no luck at 0\.95; step_size=0\.5: no luck at 0\.5"
    with pytest.raises(ModelConvergenceError, match=expected):
        fit_converged(fit_once, [{"step_size": 0.95}, {"step_size": 0.5}], model="Test")


def test_unsupported_ties_method_is_refused():
    with pytest.raises(ValueError, match="ties='breslow' is not supported"):
        CoxPH(ties="breslow").fit(*_rossi())


# -- CoxNet ---------------------------------------------------------------------------------
def test_coxnet_picks_the_alpha_with_the_best_cross_validated_concordance():
    X, y = _rossi()
    pipeline = make_model("coxnet", n_alphas=20, cv=3).fit(X, y)
    model = pipeline.named_steps["model"]
    assert model.alpha_ == model.alphas_[np.nanargmax(model.cv_concordance_)]
    assert model.alpha_ < model.alphas_[0]  # the largest alpha zeroes every coefficient
    # With little shrinkage the coxnet signs agree with R's unpenalised fit for prio and age.
    coef = dict(zip(pipeline[:-1].get_feature_names_out(), model.model_.coef_.ravel(), strict=True))
    assert coef["prio"] > 0 > coef["age"]


# -- an interval for each row's risk --------------------------------------------------------
def test_one_covariate_risk_interval_is_the_hand_delta_method_on_the_log_hazard():
    rossi = load_rossi()
    X, y = rossi[["prio"]], make_target(rossi["arrest"], rossi["week"])
    model = CoxPH().fit(X, y)
    fitter = CoxPHFitter().fit(rossi[["prio", "week", "arrest"]], "week", "arrest")
    beta, se = float(fitter.params_["prio"]), float(fitter.standard_errors_["prio"])
    hazard = fitter.baseline_cumulative_hazard_.iloc[:, 0]
    h0 = float(hazard[hazard.index <= 30].iloc[-1])
    offset = X["prio"].to_numpy() - X["prio"].mean()
    eta, spread = beta * offset, 1.959963984540054 * se * np.abs(offset)
    expected = 1 - np.exp(-h0 * np.exp(np.column_stack([eta - spread, eta + spread])))
    found = model.predict_risk_interval(X, 30.0)
    np.testing.assert_allclose(found, expected, rtol=1e-6)
    risk = model.predict_risk(X, 30.0)
    assert np.all((found[:, 0] <= risk + 1e-12) & (risk <= found[:, 1] + 1e-12))
    narrow = model.predict_risk_interval(X, 30.0, level=0.5)
    assert np.all(narrow[:, 1] - narrow[:, 0] <= found[:, 1] - found[:, 0] + 1e-15)


def test_risk_interval_matches_draws_of_the_coefficients(rossi_model):
    # 95% of the risks computed with coefficients drawn from lifelines' estimated covariance
    # (baseline held fixed) lie inside the interval
    X, y = _rossi()
    frame = X.assign(week=y["time"], arrest=y["event"].astype(int))
    fitter = CoxPHFitter().fit(frame, "week", "arrest")
    draws = np.random.default_rng(0).multivariate_normal(
        fitter.params_.to_numpy(), fitter.variance_matrix_.to_numpy(), size=40_000
    )
    hazard = fitter.baseline_cumulative_hazard_.iloc[:, 0]
    h0 = float(hazard[hazard.index <= 52].iloc[-1])
    rows = X.iloc[:5]
    offset = rows.to_numpy() - X.mean().to_numpy()
    risks = 1 - np.exp(-h0 * np.exp(offset @ draws.T))  # (5, draws)
    expected = np.quantile(risks, [0.025, 0.975], axis=1).T
    np.testing.assert_allclose(rossi_model.predict_risk_interval(rows, 52.0), expected, rtol=0.02)


def test_a_model_saved_without_its_covariance_has_no_interval(rossi_model):
    state, arrays = rossi_model.to_state()
    assert "variance" in arrays
    arrays.pop("variance")
    loaded = CoxPH.from_state(state, arrays)
    assert loaded.predict_risk_interval(_rossi()[0], 52.0) is None
    np.testing.assert_array_equal(loaded.predict(_rossi()[0]), rossi_model.predict(_rossi()[0]))
