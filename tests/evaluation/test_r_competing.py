"""Competing-risk metrics against R: ``riskRegression::Score(..., cause = 1)`` on the predicted
cumulative incidence of a real cause-specific Cox fit, on planted competing-risk data (continuous
times, and whole days with their ties).

What R gives and what is compared (riskRegression 2022.11.28, prodlim 2019.11.13):

- the time-dependent AUC (definition 2 of Blanche et al. 2013: controls are everyone event-free
  at t and those with a competing event by t), the Brier score of the cause-1 incidence, the
  null model's Brier score (Aalen-Johansen of the rows scored) and IPA, from ``Score``;
- the jackknife pseudo-observations of the Aalen-Johansen incidence that
  ``Score(plots = "calibration")`` keeps in ``$Calibration$plotframe``, which our calibration
  slope, intercept and ICI regress on; the slope and intercept refitted by ``nls`` and the ICI,
  E50 and E90 from ``lm`` on the same cubic B-spline basis in R;
- the calibration table's observed risks: prodlim's Aalen-Johansen per group of predicted risk
  (``cut`` at the deciles, as ``plotCalibration(method = "quantile")`` does for single events;
  this riskRegression version builds no frame for competing risks with that method), and the
  calibration in the large (Aalen-Johansen of every row).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prognosis.evaluation.calibration import calibration_at, pseudo_values
from prognosis.evaluation.summary import evaluate_predictions
from prognosis.models.registry import make_model
from prognosis.models.target import make_competing_target
from tests.support.planted import Cause, planted_survival
from tests.support.r import run_r

pytestmark = pytest.mark.r

HORIZONS = [200.0, 500.0]
FEATURES = {"x": "normal", "z": 0.4}
OUTCOME = {"x": 0.7, "z": 0.4}  # planted log hazard ratios of the outcome
COMPETING = Cause(1 / 600, {"x": -0.3, "z": 0.5})  # and of the competing event (code 2)

_SCORE = """
suppressMessages({library(survival); library(riskRegression); library(prodlim)})
d <- read.csv("input.csv")
risks <- as.matrix(d[, c("risk_200", "risk_500")])
s <- Score(list(m = risks), formula = Hist(time, status) ~ 1, data = d, cause = 1,
           times = c(200, 500), metrics = c("auc", "brier"), cens.model = "km",
           se.fit = FALSE, summary = "ipa", plots = "calibration")
row <- function(what, times, value, key = NA) data.frame(what, times, key, value)
b <- s$Brier$score
out <- rbind(row("auc", s$AUC$score$times, s$AUC$score$AUC),
             row("brier", b[model == "m"]$times, b[model == "m"]$Brier),
             row("ipa", b[model == "m"]$times, b[model == "m"]$IPA),
             row("null_brier", b[model == "Null model"]$times, b[model == "Null model"]$Brier))
frame <- s$Calibration$plotframe[model == "m"]
out <- rbind(out, row("pseudo", frame$times, frame$pseudovalue, sprintf("%.15g", frame$risk)))
cloglog <- function(p) log(-log(1 - p))
for (h in c(200, 500)) {
  p <- d[[paste0("risk_", h)]]
  y <- frame[times == h][match(sprintf("%.15g", p), sprintf("%.15g", risk))]$pseudovalue
  eta <- cloglog(p)
  slope <- nls(y ~ 1 - exp(-exp(a + b * eta)), start = list(a = 0, b = 1),
               control = nls.control(maxiter = 200, tol = 1e-8))
  large <- nls(y ~ 1 - exp(-exp(a + eta)), start = list(a = 0),
               control = nls.control(maxiter = 200, tol = 1e-8))
  knots <- quantile(eta, c(1, 2) / 3)
  spline <- lm(y ~ splines::bs(eta, knots = knots, degree = 3))
  error <- abs(p - pmin(1, pmax(0, fitted(spline))))
  out <- rbind(out, row("slope", h, coef(slope)[["b"]]), row("intercept", h, coef(large)[["a"]]),
               row("ici", h, mean(error)), row("e50", h, median(error)),
               row("e90", h, quantile(error, 0.9, names = FALSE)))
  group <- cut(p, quantile(p, seq(0, 1, 0.1)), include.lowest = TRUE)
  fit <- prodlim(Hist(time, status) ~ group, data = data.frame(d, group = group))
  observed <- predict(fit, newdata = data.frame(group = levels(group)), times = h, cause = 1,
                      mode = "matrix", type = "cuminc")
  out <- rbind(out, row("group_observed", h, as.numeric(observed), seq_along(levels(group))),
               row("group_n", h, as.numeric(table(group)), seq_along(levels(group))))
  all <- prodlim(Hist(time, status) ~ 1, data = d)
  out <- rbind(out, row("observed", h, predict(all, times = h, cause = 1, type = "cuminc")))
}
write.csv(out, "output.csv", row.names = FALSE)
"""


def _draw(n: int, censor_mean: float, rng: np.random.Generator, whole_days: bool):
    return planted_survival(
        n,
        seed=rng,
        features=FEATURES,
        beta=OUTCOME,
        base_hazard=1 / 800,
        competing=COMPETING,
        censor_mean=censor_mean,
        whole_days=whole_days,
    )


@pytest.fixture(scope="module", params=[False, True], ids=["continuous", "whole-days"])
def scored(request: pytest.FixtureRequest, rscript: str, tmp_path_factory: pytest.TempPathFactory):
    """Test rows with a cause-specific Cox model's cumulative incidence of the outcome (fitted
    on lightly censored training rows), and what R makes of them."""
    rng = np.random.default_rng(0)
    train = _draw(2000, 3000.0, rng, request.param)
    test = _draw(1500, 500.0, rng, request.param)  # censored far more heavily
    model = make_model("cause-specific-cox").fit(train.X, train.y)
    incidence = model.predict_cumulative_incidence(test.X, 1, HORIZONS)
    frame = pd.DataFrame({"time": test.time, "status": test.event})
    frame["risk_200"], frame["risk_500"] = incidence[:, 0], incidence[:, 1]
    assert set(np.unique(test.event)) == {0, 1, 2}
    if request.param:
        assert frame["time"].nunique() < len(frame) / 2  # many tied days
    reference = run_r(rscript, _SCORE, frame, tmp_path_factory.mktemp("r"))
    return frame, model.predict(test.X), reference


def _values(reference: pd.DataFrame, what: str, horizon: float) -> np.ndarray:
    chosen = reference[(reference["what"] == what) & (reference["times"] == horizon)]
    return chosen["value"].to_numpy(dtype=float)


def _target(frame: pd.DataFrame) -> np.ndarray:
    return make_competing_target(frame["status"].to_numpy(), frame["time"].to_numpy())


def test_auc_brier_and_ipa_equal_r(scored: tuple[pd.DataFrame, np.ndarray, pd.DataFrame]) -> None:
    frame, score, reference = scored
    y = _target(frame)
    risks = frame[["risk_200", "risk_500"]].to_numpy()
    # y_train = the rows scored: R's null model is the Aalen-Johansen incidence of these rows.
    # The same formulas: equal to rounding (about 1e-15 measured)
    ours = evaluate_predictions(y, y, score, 1 - risks, HORIZONS, competing=True, n_boot=0)
    for entry in ours.horizons:
        h = entry.horizon
        assert entry.time_dependent_auc.estimate == pytest.approx(
            _values(reference, "auc", h)[0], abs=1e-9
        )
        assert entry.brier.estimate == pytest.approx(_values(reference, "brier", h)[0], abs=1e-9)
        null = entry.null_model
        assert null.brier.estimate == pytest.approx(
            _values(reference, "null_brier", h)[0], abs=1e-9
        )
        assert null.ipa.estimate == pytest.approx(_values(reference, "ipa", h)[0], abs=1e-9)
        assert null.risk == pytest.approx(_values(reference, "observed", h)[0], abs=1e-9)


def test_pseudo_observations_equal_those_of_score(
    scored: tuple[pd.DataFrame, np.ndarray, pd.DataFrame],
) -> None:
    frame, _, reference = scored
    y = _target(frame)
    pseudo = reference[reference["what"] == "pseudo"]
    for h in HORIZONS:
        # R's rows are in its own order, each keyed by its predicted risk (15 digits): find
        # each one's row here by the nearest risk (the risks are distinct)
        risk = frame[f"risk_{h:g}"].to_numpy()
        order = np.argsort(risk)
        theirs = pseudo[pseudo["times"] == h]
        key = theirs["key"].to_numpy(dtype=float)
        place = np.clip(np.searchsorted(risk[order], key), 1, risk.size - 1)
        nearer = np.abs(risk[order][place - 1] - key) < np.abs(risk[order][place] - key)
        rows = order[place - nearer]
        np.testing.assert_allclose(risk[rows], key, rtol=1e-13)
        assert np.unique(rows).size == len(frame)
        ours = pseudo_values(y, h)[rows]
        np.testing.assert_allclose(ours, theirs["value"].to_numpy(dtype=float), rtol=0, atol=1e-9)


def test_calibration_equals_r_on_the_same_pseudo_observations(
    scored: tuple[pd.DataFrame, np.ndarray, pd.DataFrame],
) -> None:
    frame, _, reference = scored
    y = _target(frame)
    for h in HORIZONS:
        ours = calibration_at(y, frame[f"risk_{h:g}"].to_numpy(), h)
        # least squares by two optimisers (scipy, R's nls): equal to their stopping rules
        # (7e-6 measured)
        assert ours.slope == pytest.approx(_values(reference, "slope", h)[0], abs=1e-5)
        assert ours.intercept == pytest.approx(_values(reference, "intercept", h)[0], abs=1e-5)
        for name in ("ici", "e50", "e90"):
            assert getattr(ours, name) == pytest.approx(_values(reference, name, h)[0], abs=1e-9)


def test_calibration_table_and_observed_risk_are_aalen_johansen_as_prodlim(
    scored: tuple[pd.DataFrame, np.ndarray, pd.DataFrame],
) -> None:
    frame, score, reference = scored
    y = _target(frame)
    risks = frame[["risk_200", "risk_500"]].to_numpy()
    ours = evaluate_predictions(y, y, score, 1 - risks, HORIZONS, competing=True, n_boot=0)
    for entry in ours.horizons:
        h = entry.horizon
        table = entry.calibration.table
        # 1,500 distinct risks: equal tenths, the same groups as R's cut at the deciles
        assert [g.n for g in table] == _values(reference, "group_n", h).astype(int).tolist()
        np.testing.assert_allclose(
            [g.observed for g in table], _values(reference, "group_observed", h), atol=1e-9
        )
        assert entry.marginal.observed == pytest.approx(_values(reference, "observed", h)[0])
        assert entry.marginal.mean_predicted == pytest.approx(frame[f"risk_{h:g}"].mean())


_SCORE_COX = """
suppressMessages({library(survival); library(riskRegression); library(prodlim)})
d <- read.csv("input.csv")
s <- Score(list(m = as.matrix(d[, c("risk_200", "risk_500")])),
           formula = Hist(time, status) ~ z, data = d, cause = 1, times = c(200, 500),
           metrics = c("auc", "brier"), cens.model = "cox", se.fit = FALSE, null.model = FALSE)
write.csv(data.frame(times = s$AUC$score$times, auc = s$AUC$score$AUC,
                     brier = s$Brier$score$Brier), "output.csv", row.names = FALSE)
"""


@pytest.mark.parametrize("whole_days", [False, True], ids=["continuous", "whole-days"])
def test_cox_censoring_weights_equal_r_under_competing_risks(
    rscript: str, tmp_path: Path, whole_days: bool
) -> None:
    # censoring that depends on z, which the model does not use; R fits the censoring model
    # with rms::cph (Efron ties and baseline): with whole days, the censorings tie
    data = planted_survival(
        1500,
        seed=2,
        features={"x": "normal", "z": "normal"},
        beta={"x": 0.7},
        base_hazard=1 / 800,
        competing=Cause(1 / 700, {"z": 0.4}),
        censor_by=Cause(1 / 500, {"z": 0.8}),
        whole_days=whole_days,
    )
    X = data.X[["x"]]
    model = make_model("cause-specific-cox").fit(X, data.y)
    incidence = model.predict_cumulative_incidence(X, 1, HORIZONS)
    frame = pd.DataFrame({"time": data.time, "status": data.event, "z": data.X["z"]})
    frame["risk_200"], frame["risk_500"] = incidence[:, 0], incidence[:, 1]
    reference = run_r(rscript, _SCORE_COX, frame, tmp_path)
    y = _target(frame)
    ours = evaluate_predictions(
        y,
        y,
        model.predict(X),
        1 - incidence,
        HORIZONS,
        competing=True,
        n_boot=0,
        censoring_covariates=frame[["z"]],
    )
    by_horizon = {entry.horizon: entry for entry in ours.horizons}
    for row in reference.itertuples():
        entry = by_horizon[float(row.times)]
        assert entry.time_dependent_auc.estimate == pytest.approx(row.auc, abs=1e-6)
        assert entry.brier.estimate == pytest.approx(row.brier, abs=1e-6)
