"""Fine-Gray subdistribution hazards against R: ``cmprsk::crr`` and ``survival::finegray`` +
``coxph`` (tests marked ``r`` run the real ``Rscript``), against lifelines on the expanded rows,
and end to end through ``prognosis fit`` and the model report.

Two data sets: scikit-survival's ``load_bmt`` (35 patients; ``status`` 1 transplant-related
death, the outcome, 2 relapse, competing; ``dis`` the leukaemia type as 0/1; two patients with
``ftime`` 0, moved to 0.5 days because a time must be > 0, and given to R so), with many times
tied; and planted competing risks in whole days (500 rows, ties everywhere).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from lifelines import CoxPHFitter
from sksurv.datasets import load_bmt

from prognosis.artifacts import DatasetManifest, Feature
from prognosis.cli import main
from prognosis.dataset import CohortDataset
from prognosis.evaluation.validation import parse_split
from prognosis.exceptions import DataQualityWarning, PredictionHorizonError
from prognosis.explain import explain_model
from prognosis.models.fine_gray import FineGray, censoring_survival, finegray_rows
from prognosis.models.registry import make_model
from prognosis.models.store import load_model, save_model
from prognosis.models.survival import aalen_johansen
from prognosis.models.target import TargetError, make_competing_target
from prognosis.training import fit_model
from tests.support.planted import Cause, planted_survival
from tests.support.r import run_r

TIGHT = {"precision": 1e-12, "r_precision": 1e-14}  # lifelines stops early by default

# -- data -------------------------------------------------------------------------------------


def _bmt() -> pd.DataFrame:
    X, y = load_bmt()
    time = np.where(y["ftime"] == 0, 0.5, y["ftime"])
    return pd.DataFrame(
        {"dis": X["dis"].astype(int).astype(float), "time": time, "status": y["status"]}
    )


def _planted(n: int = 500, *, whole_days: bool = True, seed: int = 0) -> pd.DataFrame:
    """Cause-specific hazards 0.01 exp(0.7 a - 0.5 b) (outcome) and 0.008 exp(0.6 b)
    (competing), uniform censoring on (0, 200) days."""
    data = planted_survival(
        n,
        seed=seed,
        features={"a": "normal", "b": 0.4},
        beta={"a": 0.7, "b": -0.5},
        base_hazard=0.01,
        competing=Cause(0.008, {"b": 0.6}),
        censor_between=(0.0, 200.0),
        whole_days=whole_days,
    )
    return data.frame().rename(columns={"event": "status"}).astype({"status": int})


DATA = {  # name: (frame, covariates, rows to predict, times, censoring groups)
    "bmt": (_bmt, ["dis"], [[0.0], [1.0]], [5.0, 12.0, 30.0], "dis"),
    "planted": (
        _planted,
        ["a", "b"],
        [[-1.0, 0.0], [0.0, 1.0], [1.5, 0.0]],
        [30.0, 90.0, 180.0],
        "b",
    ),
}

_R = """
suppressMessages({{library(survival); library(cmprsk)}})
d <- read.csv("input.csv"); d$id <- seq_len(nrow(d))
covs <- c({covs})
nd <- as.data.frame(matrix(c({rows}), ncol = length(covs), byrow = TRUE)); names(nd) <- covs
times <- c({times})
d$ev <- factor(d$status, 0:2, c("censored", "outcome", "competing"))
fg <- finegray(Surv(time, ev) ~ ., data = d[, c(covs, "time", "ev", "id")], etype = "outcome")
form <- as.formula(paste("Surv(fgstart, fgstop, fgstatus) ~", paste(covs, collapse = " + ")))
model <- coxph(form, weights = fgwt, data = fg, ties = "breslow")
clustered <- coxph(update(form, . ~ . + cluster(id)), weights = fgwt, data = fg, ties = "breslow")
fit <- crr(d$time, d$status, as.matrix(d[, covs, drop = FALSE]), failcode = 1, cencode = 0)
grouped <- crr(d$time, d$status, as.matrix(d[, covs, drop = FALSE]), failcode = 1, cencode = 0,
               cengroup = d[["{strata}"]])
cif_coxph <- 1 - as.matrix(summary(survfit(model, newdata = nd), times = times)$surv)
pc <- predict(fit, cov1 = as.matrix(nd))
cif_crr <- t(sapply(times, function(t) pc[findInterval(t, pc[, 1]), -1]))
if (nrow(nd) == 1 || length(times) == 1) cif_crr <- matrix(cif_crr, nrow = length(times))
grid <- expand.grid(time = times, row = seq_len(nrow(nd)))
key <- paste(grid$row - 1, grid$time)
out <- rbind(
  data.frame(what = "coxph_coef", name = covs, value = unname(coef(model))),
  data.frame(what = "coxph_se", name = covs, value = unname(sqrt(diag(
    if (is.null(model$naive.var)) model$var else model$naive.var)))),
  data.frame(what = "cluster_se", name = covs, value = unname(sqrt(diag(clustered$var)))),
  data.frame(what = "crr_coef", name = covs, value = unname(fit$coef)),
  data.frame(what = "crr_se", name = covs, value = unname(sqrt(diag(fit$var)))),
  data.frame(what = "grouped_coef", name = covs, value = unname(grouped$coef)),
  data.frame(what = "grouped_se", name = covs, value = unname(sqrt(diag(grouped$var)))),
  data.frame(what = "coxph_cif", name = key, value = as.vector(cif_coxph)),
  data.frame(what = "crr_cif", name = key, value = as.vector(cif_crr)),
  data.frame(what = paste("row", fg$id - 1, fg$fgstatus, fg$fgwt), name = fg$fgstart,
             value = fg$fgstop)
)
write.csv(out, "output.csv", row.names = FALSE)
"""


@pytest.fixture(scope="module", params=list(DATA))
def reference(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, rscript):
    """(censoring groups, frame, covariates, rows, times, R's output) for each data set."""
    make, covs, rows, times, strata = DATA[request.param]
    frame = make()
    script = _R.format(
        covs=", ".join(f'"{c}"' for c in covs),
        rows=", ".join(str(v) for row in rows for v in row),
        times=", ".join(str(t) for t in times),
        strata=strata,
    )
    out = run_r(rscript, script, frame[[*covs, "time", "status"]], tmp_path_factory.mktemp("r"))
    return strata, frame, covs, rows, times, out


def _values(out: pd.DataFrame, what: str) -> pd.Series:
    part = out[out["what"] == what]
    return pd.Series(part["value"].to_numpy(dtype=float), index=part["name"].astype(str))


def _fit(frame: pd.DataFrame, covs: list[str], **params) -> FineGray:
    y = make_competing_target(frame["status"].to_numpy(), frame["time"].to_numpy())
    return FineGray(**params).fit(frame[covs], y)


def _cif(model: FineGray, covs: list[str], rows, times) -> pd.Series:
    cif = model.predict_cumulative_incidence(pd.DataFrame(rows, columns=covs), 1, times)
    keys = [f"{row} {t:g}" for row in range(len(rows)) for t in times]
    return pd.Series(cif.ravel(), index=keys)


# -- against R --------------------------------------------------------------------------------
@pytest.mark.r
def test_coefficients_standard_errors_and_incidence_equal_crr(reference) -> None:
    _, frame, covs, rows, times, out = reference
    model = _fit(frame, covs, censoring_ties="crr")
    np.testing.assert_allclose(model.summary_["coef"], _values(out, "crr_coef")[covs], atol=5e-4)
    np.testing.assert_allclose(model.summary_["se"], _values(out, "crr_se")[covs], atol=5e-4)
    ours = _cif(model, covs, rows, times)
    np.testing.assert_allclose(ours, _values(out, "crr_cif")[ours.index], atol=5e-4)


@pytest.mark.r
def test_censoring_weights_by_group_equal_crr_with_cengroup(reference) -> None:
    strata, frame, covs, _, _, out = reference
    model = _fit(frame, covs, censoring_ties="crr", censoring_strata=strata)
    np.testing.assert_allclose(model.coef_, _values(out, "grouped_coef")[covs], atol=5e-4)
    np.testing.assert_allclose(model.summary_["se"], _values(out, "grouped_se")[covs], atol=5e-4)
    assert not np.allclose(model.coef_, _values(out, "crr_coef")[covs], atol=5e-4)  # it matters


@pytest.mark.r
def test_coefficients_standard_errors_and_incidence_equal_finegray_and_coxph(reference) -> None:
    _, frame, covs, rows, times, out = reference
    model = _fit(frame, covs)  # censoring_ties="finegray", the default
    np.testing.assert_allclose(model.summary_["coef"], _values(out, "coxph_coef")[covs], atol=5e-4)
    np.testing.assert_allclose(
        model.summary_["se_model"], _values(out, "coxph_se")[covs], atol=5e-4
    )
    np.testing.assert_allclose(
        model.summary_["se_cluster"], _values(out, "cluster_se")[covs], atol=5e-4
    )
    ours = _cif(model, covs, rows, times)
    np.testing.assert_allclose(ours, _values(out, "coxph_cif")[ours.index], atol=5e-4)


@pytest.mark.r
def test_the_expanded_rows_are_those_of_survival_finegray(reference) -> None:
    _, frame, _, _, _, out = reference
    theirs = out[out["what"].str.startswith("row ")]
    parts = theirs["what"].str.split(" ", expand=True)
    theirs = pd.DataFrame(
        {
            "row": parts[1].astype(int),
            "start": theirs["name"].astype(float).clip(lower=0.0),
            "stop": theirs["value"].astype(float),
            "status": parts[2].astype(int),
            "weight": parts[3].astype(float),
        }
    ).sort_values(["row", "start"], ignore_index=True)
    ours = finegray_rows(frame["time"].to_numpy(), frame["status"].to_numpy())
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, atol=1e-6, rtol=0)


# -- without R --------------------------------------------------------------------------------
def _row_score_and_information(rows: pd.DataFrame, x: np.ndarray, beta: np.ndarray):
    """The weighted Breslow partial likelihood's score and information on counting-process
    rows, summed event time by event time (risk set: start < t <= stop)."""
    score, information = np.zeros(len(beta)), np.zeros((len(beta), len(beta)))
    xs = x[rows["row"]]
    for t in np.unique(rows["stop"][rows["status"] == 1]):
        at_risk = ((rows["start"] < t) & (t <= rows["stop"])).to_numpy()
        w = rows["weight"].to_numpy()[at_risk] * np.exp(xs[at_risk] @ beta)
        mean = w @ xs[at_risk] / w.sum()
        second = (xs[at_risk] * w[:, None]).T @ xs[at_risk] / w.sum()
        events = ((rows["stop"] == t) & (rows["status"] == 1)).to_numpy()
        score += xs[events].sum(axis=0) - events.sum() * mean
        information += events.sum() * (second - np.outer(mean, mean))
    return score, information


@pytest.mark.parametrize("ties", ["finegray", "crr"])
def test_the_fit_solves_the_weighted_cox_likelihood_of_the_expanded_rows(ties) -> None:
    """At the fitted coefficients the score of the weighted partial likelihood on
    :func:`finegray_rows` (summed by hand, row by row) is zero, and its information is the
    inverse of the model-based variance."""
    frame = _planted(300)
    rows = finegray_rows(frame["time"].to_numpy(), frame["status"].to_numpy(), ties=ties)
    model = _fit(frame, ["a", "b"], censoring_ties=ties)
    x = frame[["a", "b"]].to_numpy()
    score, information = _row_score_and_information(rows, x, model.coef_)
    np.testing.assert_allclose(score, 0.0, atol=1e-8)
    np.testing.assert_allclose(
        np.sqrt(np.diag(np.linalg.inv(information))), model.summary_["se_model"], rtol=1e-9
    )


def test_censoring_distribution_is_kaplan_meier_of_the_censorings() -> None:
    # times 1 2 2 3 4, censored at 2 (with an event at 2) and at 4
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    event = np.array([1, 0, 2, 1, 0])
    times, finegray, _ = censoring_survival(time, event, ties="finegray")
    np.testing.assert_allclose(times, [2.0, 4.0])
    np.testing.assert_allclose(finegray, [1 - 1 / 3, 0.0])  # the event at 2 leaves first
    _, crr, _ = censoring_survival(time, event, ties="crr")
    np.testing.assert_allclose(crr, [1 - 1 / 4, 0.0])  # it stays in the risk set


def test_average_incidence_is_close_to_aalen_johansen() -> None:
    frame = _planted(3000, whole_days=False, seed=1)
    model = _fit(frame, ["a", "b"])
    times = np.array([25.0, 50.0, 100.0, 150.0])
    grid, cif = aalen_johansen(frame["status"].to_numpy(), frame["time"].to_numpy(), 1)
    observed = cif[np.searchsorted(grid, times, side="right") - 1]
    average = model.predict_cumulative_incidence(frame[["a", "b"]], 1, times).mean(axis=0)
    np.testing.assert_allclose(average, observed, atol=0.015)


def test_without_competing_events_it_warns_and_equals_cox() -> None:
    frame = _planted(400, whole_days=False)
    frame["status"] = frame["status"].replace(2, 0)
    with pytest.warns(DataQualityWarning, match="no competing events.*a Cox model"):
        model = _fit(frame, ["a", "b"])
    cox = CoxPHFitter().fit(
        frame[["a", "b", "time", "status"]], "time", "status", fit_options=TIGHT
    )
    np.testing.assert_allclose(model.coef_, cox.params_[["a", "b"]], atol=1e-7)
    np.testing.assert_allclose(model.summary_["se_model"], cox.standard_errors_, atol=1e-7)


def test_other_causes_are_refused_naming_what_to_do() -> None:
    frame = _bmt()
    model = _fit(frame, ["dis"])
    with pytest.raises(TargetError, match=r"outcome \(cause 1\) only.*incidence of cause 2"):
        model.predict_cumulative_incidence(frame[["dis"]], 2, [10.0])
    with pytest.raises(PredictionHorizonError, match="cannot predict at 100 days"):
        model.predict_risk(frame[["dis"]], 100.0)


def test_an_unknown_censoring_group_column_is_refused_naming_the_columns() -> None:
    with pytest.raises(ValueError, match=r"censoring_strata='sex' is not an input column; the co"):
        _fit(_bmt(), ["dis"], censoring_strata="sex")


def test_a_target_without_the_outcome_is_refused() -> None:
    frame = _bmt()
    frame["status"] = frame["status"].replace(1, 0)
    with pytest.raises(TargetError, match=r"no event of cause 1 \(the outcome\)"):
        _fit(frame, ["dis"])


def test_risk_is_the_incidence_and_its_interval_holds_it() -> None:
    frame = _planted()
    model = _fit(frame, ["a", "b"])
    X = frame[["a", "b"]].iloc[:50]
    risk = model.predict_risk(X, 90.0)
    np.testing.assert_array_equal(risk, model.predict_cumulative_incidence(X, 1, [90.0])[:, 0])
    np.testing.assert_allclose(model.predict_survival(X, [90.0])[:, 0], 1 - risk, rtol=1e-15)
    interval = model.predict_risk_interval(X, 90.0)
    assert np.all((interval[:, 0] < risk) & (risk < interval[:, 1]))


def test_summary_table_gives_subdistribution_hazard_ratios() -> None:
    model = _fit(_planted(), ["a", "b"])
    table = model.summary_table()
    assert list(table.index.names) == ["cause", "covariate"]
    assert table.index.get_level_values(0).unique().tolist() == [
        "outcome (subdistribution hazard ratio)"
    ]
    np.testing.assert_allclose(table["hazard_ratio"], np.exp(model.coef_))


# -- saved and loaded -------------------------------------------------------------------------
def _dataset(n: int = 300) -> CohortDataset:
    data = planted_survival(
        n,
        seed=2,
        features={"x": "normal", "flag": 0.5},
        beta={"x": 0.8, "flag": 0.5},
        base_hazard=1 / 800,
        competing=Cause(1 / 1200, {"flag": 0.6}),
        censor_between=(100.0, 1500.0),
        whole_days=True,
    )
    frame = data.frame(
        person_id=np.arange(n), index_date=[dt.date(2016, 1, 1)] * n, censor_reason=None
    )
    frame = frame[["person_id", "index_date", "time", "event", "censor_reason", "x", "flag"]]
    manifest = DatasetManifest(cohort="planted", source="t")
    return CohortDataset(Path("planted"), frame.astype({"time": int}), (Feature("x"),), manifest)


def test_saved_model_loads_and_predicts_and_explains_the_same(tmp_path: Path) -> None:
    dataset = _dataset()
    model = fit_model(dataset, "fine-gray", [180, 365], parse_split("none"), n_boot=0)
    save_model(tmp_path / "model", model)
    loaded = load_model(tmp_path / "model")
    X = dataset.X
    for method in ("predict", "predict_risk"):
        args = () if method == "predict" else (365.0,)
        np.testing.assert_allclose(
            getattr(loaded.pipeline, method)(X, *args),
            getattr(model.pipeline, method)(X, *args),
            rtol=0,
            atol=1e-12,
        )
    pd.testing.assert_frame_equal(loaded.pipeline[-1].summary_, model.pipeline[-1].summary_)
    got = explain_model(loaded.pipeline, X, background=X)
    want = explain_model(model.pipeline, X, background=X)
    np.testing.assert_allclose(got.values, want.values, rtol=0, atol=1e-12)
    # exact linear SHAP: base value plus the values is the linear predictor
    np.testing.assert_allclose(
        got.base_values + got.values.sum(axis=1), model.pipeline.predict(X), atol=1e-10
    )


def test_state_round_trip_keeps_every_learned_value() -> None:
    model = _fit(_planted(), ["a", "b"])
    state, arrays = model.to_state()
    twin = FineGray.from_state(state, arrays)
    np.testing.assert_array_equal(twin.coef_, model.coef_)
    np.testing.assert_array_equal(twin.variance_, model.variance_)
    pd.testing.assert_frame_equal(twin.summary_, model.summary_)
    X = _planted()[["a", "b"]]
    np.testing.assert_array_equal(twin.predict_risk(X, 100.0), model.predict_risk(X, 100.0))


def test_make_model_fits_a_pipeline_with_one_hot_levels() -> None:
    frame = _planted()
    frame["site"] = np.where(frame["a"] > 0, "north", "south")
    y = make_competing_target(frame["status"].to_numpy(), frame["time"].to_numpy())
    pipeline = make_model("fine-gray").fit(frame[["a", "b", "site"]], y)
    assert pipeline.predict_risk(frame[["a", "b", "site"]], 90.0).shape == (len(frame),)


# -- end to end ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_fit_and_model_report_on_the_synthetic_competing_cohort(
    tmp_path: Path, synth_af_stroke: Path
) -> None:
    SYNTH = synth_af_stroke
    runner = CliRunner()
    fitted = runner.invoke(
        main,
        ["fit", str(SYNTH), "--model", "fine-gray", "--horizon", "365", "--split", "none",
         "--n-boot", "0", "--quiet", "--out", str(tmp_path / "model")],
    )  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    report = runner.invoke(
        main,
        ["report", "model", str(tmp_path / "model"), str(SYNTH), "--n-boot", "0", "--quiet",
         "--out", str(tmp_path / "report")],
    )  # fmt: skip
    assert report.exit_code == 0, report.output
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "outcome (subdistribution hazard ratio)" in page
    saved = load_model(tmp_path / "model").pipeline[-1]
    assert saved.summary_.loc["age", "hazard_ratio"] > 1.0  # the synthetic CDM plants it
    predicted = runner.invoke(
        main,
        ["predict", str(tmp_path / "model"), str(SYNTH), "--out", str(tmp_path / "p.parquet")],
    )
    assert predicted.exit_code == 0, predicted.output
    columns = pd.read_parquet(tmp_path / "p.parquet").columns
    assert list(columns) == ["person_id", "index_date", "risk_365"]  # the outcome's incidence
