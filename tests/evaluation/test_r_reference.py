"""Metrics against R: ``riskRegression::Score`` (AUC and Brier score with the censoring weights
estimated on the data being scored) and ``survival::concordance`` (Harrell's C), on a test set
censored far more heavily than the training set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prognosis.evaluation.summary import evaluate_predictions
from prognosis.models.target import make_target
from tests.support.planted import Cause, planted_survival
from tests.support.r import run_r

pytestmark = pytest.mark.r

HORIZONS = [200.0, 500.0]

_SCORE = """
suppressMessages({library(survival); library(riskRegression); library(prodlim)})
d <- read.csv("input.csv")
s <- Score(list(m = as.matrix(d[, c("risk_200", "risk_500")])),
           formula = Hist(time, status) ~ 1, data = d, times = c(200, 500),
           metrics = c("auc", "brier"), cens.model = "km", null.model = FALSE,
           conf.int = FALSE)
c <- concordance(Surv(time, status) ~ score, data = d, reverse = TRUE)
write.csv(data.frame(times = s$AUC$score$times, auc = s$AUC$score$AUC,
                     brier = s$Brier$score$Brier, harrell = c$concordance),
          "output.csv", row.names = FALSE)
"""


def _cohort(
    n: int, censoring_rate: float, rng: np.random.Generator, *, whole_days: bool
) -> pd.DataFrame:
    """Hazard exp(0.7 x) / 800, exponential censoring; whole days as in cohort datasets (tied
    times, events tied with censorings)."""
    data = planted_survival(
        n,
        seed=rng,
        beta={"x": 0.7},
        base_hazard=1 / 800,
        censor_mean=1 / censoring_rate,
        whole_days=whole_days,
    )
    return data.frame().astype({"event": int}).rename(columns={"event": "status"})


@pytest.fixture(scope="module", params=[False, True], ids=["continuous", "whole-days"])
def scored(request: pytest.FixtureRequest) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    days = request.param
    train = _cohort(2000, 1 / 5000, rng, whole_days=days)  # lightly censored
    test = _cohort(1500, 1 / 400, rng, whole_days=days)  # a later cohort, censored far more
    survival = np.exp(-np.outer(np.exp(0.6 * test["x"]), HORIZONS) / 900.0)  # a model's S(t|x)
    test["score"] = 0.6 * test["x"]
    test["risk_200"], test["risk_500"] = 1 - survival[:, 0], 1 - survival[:, 1]
    return train, test


def test_auc_brier_and_concordance_equal_r(
    scored: tuple[pd.DataFrame, pd.DataFrame], rscript: str, tmp_path: Path
) -> None:
    train, test = scored
    reference = run_r(rscript, _SCORE, test, tmp_path)
    ours = evaluate_predictions(
        make_target(train["status"].to_numpy() == 1, train["time"].to_numpy()),
        make_target(test["status"].to_numpy() == 1, test["time"].to_numpy()),
        test["score"].to_numpy(),
        1 - test[["risk_200", "risk_500"]].to_numpy(),
        HORIZONS,
        n_boot=0,
    )
    by_horizon = {entry.horizon: entry for entry in ours.horizons}
    for row in reference.itertuples():
        entry = by_horizon[float(row.times)]
        assert entry.time_dependent_auc.estimate == pytest.approx(row.auc, abs=1e-6)
        assert entry.brier.estimate == pytest.approx(row.brier, abs=1e-6)
    assert ours.harrell_c.estimate == pytest.approx(reference["harrell"].iloc[0], abs=1e-6)


_SCORE_COX = """
suppressMessages({library(survival); library(riskRegression); library(prodlim)})
d <- read.csv("input.csv")
s <- Score(list(m = as.matrix(d[, c("risk_200", "risk_500")])),
           formula = Hist(time, status) ~ z, data = d, times = c(200, 500),
           metrics = c("auc", "brier"), cens.model = "cox", null.model = FALSE,
           conf.int = FALSE)
write.csv(data.frame(times = s$AUC$score$times, auc = s$AUC$score$AUC,
                     brier = s$Brier$score$Brier), "output.csv", row.names = FALSE)
"""


@pytest.mark.parametrize("whole_days", [False, True], ids=["continuous", "whole-days"])
def test_cox_censoring_weights_equal_r(rscript: str, tmp_path: Path, whole_days: bool) -> None:
    # censoring that depends on a covariate z: Kaplan-Meier weights are biased, a Cox model of
    # the censoring time on z is not; riskRegression::Score(cens.model = "cox") is the reference.
    # With whole days the censorings tie: R's baseline (rms::cph) is Efron's, and so is ours
    data = planted_survival(
        1500,
        seed=2,
        features={"x": "normal", "z": "normal"},
        beta={"x": 0.7},
        base_hazard=1 / 800,
        censor_by=Cause(1 / 500, {"z": 0.8}),
        whole_days=whole_days,
    )
    x, z = data.X["x"].to_numpy(), data.X["z"].to_numpy()
    test = pd.DataFrame({"time": data.time, "status": data.event, "z": z})
    survival = np.exp(-np.outer(np.exp(0.6 * x), HORIZONS) / 900.0)
    test["risk_200"], test["risk_500"] = 1 - survival[:, 0], 1 - survival[:, 1]
    reference = run_r(rscript, _SCORE_COX, test, tmp_path)
    y = make_target(test["status"].to_numpy() == 1, test["time"].to_numpy())
    ours = evaluate_predictions(
        y, y, 0.6 * x, survival, HORIZONS, n_boot=0, censoring_covariates=test[["z"]]
    )
    assert ours.censoring_weights.startswith("Cox model of the censoring time on z")
    by_horizon = {entry.horizon: entry for entry in ours.horizons}
    for row in reference.itertuples():
        entry = by_horizon[float(row.times)]
        assert entry.time_dependent_auc.estimate == pytest.approx(row.auc, abs=1e-6)
        assert entry.brier.estimate == pytest.approx(row.brier, abs=1e-6)
