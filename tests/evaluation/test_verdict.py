"""The verdict's rules on constructed metrics, at and around each threshold, and the progress
callbacks of the bootstrap.

The metrics are one real :func:`evaluate_predictions` value (planted data, the planted risks as
predictions) whose discrimination and calibration figures are then set by hand, so that each
rule meets exactly the values it is about.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from prognosis.artifacts import EvaluatedOn, Interval, Marginal, Metrics, MetricsFile, to_json
from prognosis.evaluation.bootstrap import bootstrap_ci
from prognosis.evaluation.metrics import harrell_c
from prognosis.evaluation.summary import evaluate_predictions
from prognosis.evaluation.verdict import (
    CHANCE,
    ICI_SHARE,
    SLOPE_TOO_HIGH,
    SLOPE_TOO_LOW,
    Basis,
    Verdict,
    basis_of,
    judge,
    warning_lines,
)
from tests.support.planted import planted_survival

TRAIN, TEST = planted_survival(300, seed=0), planted_survival(200, seed=1)


@pytest.fixture(scope="module")
def metrics() -> Metrics:
    """Real metrics of the planted risks at two horizons, without intervals (n_boot 0)."""
    return evaluate_predictions(TRAIN.y, TEST.y, TEST.hazard, TEST.survival, [2.0, 5.0], n_boot=0)


def _interval(estimate: float, lower: float | None = None, upper: float | None = None) -> Interval:
    return Interval(estimate, lower, upper, failed_resamples=0, extended_to_estimate=False)


def _good(metrics: Metrics) -> Metrics:
    """The metrics with C, slopes and ICIs that no rule objects to."""
    horizons = tuple(
        _horizon(entry, slope=_interval(1.0, 0.9, 1.1), ici=0.0, observed=0.2)
        for entry in metrics.horizons
    )
    return dataclasses.replace(metrics, harrell_c=_interval(0.75, 0.7, 0.8), horizons=horizons)


def _horizon(entry, *, slope: Interval | None = None, ici: float | None = None, observed=None):
    calibration = entry.calibration
    if slope is not None:
        calibration = dataclasses.replace(calibration, slope=slope)
    if ici is not None:
        calibration = dataclasses.replace(calibration, ici=_interval(ici))
    marginal = entry.marginal
    if observed is not None:
        marginal = Marginal(0.18, observed, observed - 0.02, observed + 0.02)
    return dataclasses.replace(entry, calibration=calibration, marginal=marginal)


def _judge(metrics: Metrics | None, basis: Basis = Basis.VALIDATED) -> Verdict:
    return judge(
        metrics,
        basis=basis,
        basis_text="validated: 5-fold cross-validation",
        model="cox",
        outcome="test bleed",
        cohort="planted",
        horizons=[2.0, 5.0],
    )


def _kinds(verdict: Verdict) -> list[str]:
    return [warning.kind for warning in verdict.warnings]


def _with_c(metrics: Metrics, c: Interval) -> Metrics:
    return dataclasses.replace(_good(metrics), harrell_c=c)


def _with_first(metrics: Metrics, **change) -> Metrics:
    good = _good(metrics)
    first = _horizon(good.horizons[0], **change)
    return dataclasses.replace(good, horizons=(first, *good.horizons[1:]))


# -- what a verdict says ------------------------------------------------------------------------
def test_good_validated_metrics_give_no_warning(metrics: Metrics) -> None:
    verdict = _judge(_good(metrics))
    assert verdict.warnings == ()
    assert verdict.validated and verdict.basis is Basis.VALIDATED
    assert warning_lines(verdict) == []


def test_a_verdict_is_plain_json(metrics: Metrics) -> None:
    verdict = _judge(_with_c(metrics, _interval(0.43, 0.38, 0.49)), Basis.APPARENT)
    data = json.loads(json.dumps(to_json(verdict), allow_nan=False))
    assert data["basis"] == "apparent"
    assert data["harrell_c"]["estimate"] == 0.43
    assert [w["kind"] for w in data["warnings"]] == ["chance", "not_validated"]


def test_the_verdict_shows_the_first_horizons_auc_and_calibration(metrics: Metrics) -> None:
    verdict = _judge(metrics)
    first = metrics.horizons[0]
    assert verdict.horizon == 2.0
    assert verdict.harrell_c == metrics.harrell_c
    assert verdict.auc == first.time_dependent_auc
    assert verdict.slope == first.calibration.slope
    assert verdict.ici == first.calibration.ici
    assert verdict.marginal == first.marginal
    assert verdict.horizons == (2.0, 5.0) and verdict.horizons_text == "2 days, 5 days"
    assert (verdict.outcome, verdict.cohort, verdict.model) == ("test bleed", "planted", "cox")
    assert verdict.level == 95


# -- discrimination: no better than chance ------------------------------------------------------
@pytest.mark.parametrize(
    ("c", "warned"),
    [
        ((0.55, 0.48, 0.62), True),  # the interval includes 0.5
        ((0.55, CHANCE, 0.62), True),  # its lower bound is 0.5: still includes it
        ((0.55, 0.501, 0.62), False),  # just above
        ((0.45, 0.40, 0.49), True),  # below chance, the whole interval too
        ((0.5, None, None), True),  # no interval: the estimate at 0.5
        ((0.501, None, None), False),
    ],
)
def test_chance_rule(metrics: Metrics, c: tuple, warned: bool) -> None:
    verdict = _judge(_with_c(metrics, _interval(*c)))
    assert _kinds(verdict) == (["chance"] if warned else [])


def test_the_chance_warning_line_gives_the_figures_and_what_to_do(metrics: Metrics) -> None:
    verdict = _judge(_with_c(metrics, _interval(0.43, 0.38, 0.49)))
    assert warning_lines(verdict) == [
        "WARNING: discrimination is no better than chance (Harrell's C 0.43, 95 % CI "
        "0.38 to 0.49): do not use these risks for decisions"
    ]


# -- calibration ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("slope", "warned", "words"),
    [
        ((0.6, 0.5, 0.79), True, "too extreme"),
        ((0.6, 0.5, SLOPE_TOO_LOW), False, None),  # the upper bound at 0.8: not wholly below
        ((1.5, 1.26, 1.8), True, "too moderate"),
        ((1.5, SLOPE_TOO_HIGH, 1.8), False, None),
        ((0.5, 0.2, 1.1), False, None),  # wide, but it includes 1
        ((0.79, None, None), True, "too extreme"),  # no interval: the estimate
        ((0.8, None, None), False, None),
    ],
)
def test_slope_rule(metrics: Metrics, slope: tuple, warned: bool, words: str | None) -> None:
    verdict = _judge(_with_first(metrics, slope=_interval(*slope)))
    assert _kinds(verdict) == (["calibration"] if warned else [])
    if warned:
        (message,) = [w.message for w in verdict.warnings]
        assert message.startswith("poorly calibrated at 2 days: calibration slope")
        assert words in message


@pytest.mark.parametrize(("ici", "warned"), [(0.051, True), (ICI_SHARE * 0.1, False)])
def test_ici_rule_against_half_the_observed_risk(metrics: Metrics, ici: float, warned) -> None:
    verdict = _judge(_with_first(metrics, ici=ici, observed=0.1))
    assert _kinds(verdict) == (["calibration"] if warned else [])
    if warned:
        assert "ICI 5.1 percentage points" in verdict.warnings[0].message
        assert "observed risk (10.0 %" in verdict.warnings[0].message


def test_every_horizon_is_checked(metrics: Metrics) -> None:
    good = _good(metrics)
    last = _horizon(good.horizons[1], slope=_interval(0.5, 0.4, 0.6))
    verdict = _judge(dataclasses.replace(good, horizons=(good.horizons[0], last)))
    assert _kinds(verdict) == ["calibration"]
    assert "at 5 days" in verdict.warnings[0].message


# -- validation -----------------------------------------------------------------------------------
def test_no_metrics_warn_not_validated(metrics: Metrics) -> None:
    verdict = _judge(None, Basis.NONE)
    assert _kinds(verdict) == ["not_validated"]
    assert verdict.harrell_c is None and verdict.auc is None and not verdict.validated
    assert "--split none" in verdict.warnings[0].message


def test_apparent_metrics_warn_not_validated(metrics: Metrics) -> None:
    verdict = _judge(_good(metrics), Basis.APPARENT)
    assert _kinds(verdict) == ["not_validated"]
    assert "apparent" in verdict.warnings[0].message


def test_the_basis_of_each_kind_of_metrics_file(metrics: Metrics) -> None:
    assert basis_of(MetricsFile(split="none"))[0] is Basis.NONE
    validated = basis_of(MetricsFile(split="5-fold cross-validation", results=metrics))
    assert validated == (Basis.VALIDATED, "validated: 5-fold cross-validation")
    on = EvaluatedOn("cox", "data/cohorts/x", "eunomia", in_sample=True)
    assert basis_of(MetricsFile(evaluated=on, results=metrics))[0] is Basis.APPARENT
    other = dataclasses.replace(on, in_sample=False)
    assert basis_of(MetricsFile(evaluated=other, results=metrics))[0] is Basis.VALIDATED
    older = dataclasses.replace(on, in_sample=None)  # files written before in_sample
    assert basis_of(MetricsFile(evaluated=older, results=metrics))[0] is Basis.VALIDATED


# -- progress callbacks -----------------------------------------------------------------------
def test_the_bootstrap_calls_its_progress_callback_once_per_resample() -> None:
    calls = []
    result = bootstrap_ci(
        harrell_c, TEST.y, TEST.hazard, n_boot=17, seed=0, progress=lambda: calls.append(1)
    )
    assert len(calls) == 17
    plain = bootstrap_ci(harrell_c, TEST.y, TEST.hazard, n_boot=17, seed=0)
    assert result == plain  # counting changes nothing


def test_the_evaluation_counts_every_resample_up_to_its_total() -> None:
    seen: list[tuple[int, int]] = []
    evaluate_predictions(
        TRAIN.y,
        TEST.y,
        TEST.hazard,
        TEST.survival,
        [2.0, 5.0],
        n_boot=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    # C (Harrell, Uno), AUC, Brier scores, integrated Brier, calibration and net benefit at
    # each of the two horizons: 9 bootstrapped metrics of 3 resamples each
    totals = {total for _, total in seen}
    assert totals == {27}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == 27
    assert len([d for d in done if d < 27]) == 26  # one call per resample, then the last
    assert np.all(np.diff(done)[:-1] == 1)
