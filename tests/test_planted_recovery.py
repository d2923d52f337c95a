"""On the synthetic CDM with planted hazards, the cause-specific Cox model recovers the truth.

The whole chain runs: ``generate_cdm`` writes an OMOP CDM, ``cohorts/synth_af_stroke.yaml`` is
built on it, and ``make_model("cause-specific-cox")`` is fitted on the planted covariates. The
true log hazard ratios come from the generator's truth (``SynthTruth.beta``), never from the
code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.exceptions import DataQualityWarning
from prognosis.models.registry import make_model
from prognosis.models.target import target_from_frame
from prognosis.synth import SynthTruth, generate_cdm

DEFINITION = Path(__file__).resolve().parent.parent / "cohorts" / "synth_af_stroke.yaml"
PERSONS = 10_000
# Chosen once, before any fit was looked at; not tuned. With it, the nominal 95% interval of
# age (outcome) misses its truth (|z| = 2.2), as 1 in 20 intervals should: hence Bonferroni.
SEED = 5
# Bonferroni: 20 intervals at family-wise 95% need z = Phi^-1(1 - 0.05 / 40) = 3.02.
Z_FAMILY = 3.02
# Truth covariate name -> dataset column. The truth centres age at 65 and the measurements at
# their centres; centring does not change a Cox coefficient. Sex is 'male' in the truth.
COLUMNS = {
    "age": "age",
    "male": "sex_male",
    "diabetes": "diabetes_prior_year",
    "hypertension": "hypertension_prior_year",
    "heart_failure": "heart_failure_prior_year",
    "ckd": "ckd_prior_year",
    "anticoagulant": "anticoagulant_prior_year",
    "statin": "statin_prior_year",
    "hba1c": "hba1c_prior_year_last",
    "egfr": "egfr_prior_year_last",
}
CAUSES = {1: "outcome", 2: "death"}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthTruth, pd.DataFrame, dict]:
    """The truth, the built dataset and the fitted model's per-cause summaries."""
    folder = tmp_path_factory.mktemp("synth")
    truth = generate_cdm(folder / "cdm.duckdb", persons=PERSONS, seed=SEED)
    # the generator puts pre-index history of 3 % of persons before their observation period
    with pytest.warns(DataQualityWarning, match="outside every observation period"):
        build_cohort(
            load_definition(DEFINITION), parse_source(str(folder / "cdm.duckdb")), folder / "out"
        )
    frame = pd.read_parquet(folder / "out" / "dataset.parquet")
    X = frame[list(COLUMNS.values())].astype(float)
    model = make_model("cause-specific-cox").fit(X, target_from_frame(frame))
    return truth, frame, model.steps[-1][1].summary_


def test_the_dataset_has_both_causes_and_missing_measurements(fitted) -> None:
    _, frame, summaries = fitted
    assert set(frame["event"]) == {0, 1, 2}
    assert min((frame["event"] == 1).sum(), (frame["event"] == 2).sum()) > 1000
    for column in ("hba1c_prior_year_last", "egfr_prior_year_last"):
        assert 0.1 < frame[column].isna().mean() < 0.5
        # the pipeline imputed the median and added an indicator, which the model estimated
        assert f"missingindicator_{column}" in summaries[1].index
    assert sorted(summaries) == [1, 2]


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_every_true_log_hazard_ratio_is_inside_its_bonferroni_interval(fitted, cause: int) -> None:
    """Each true beta lies in coef +/- 3.02 se (Bonferroni over all 20 intervals).

    Each nominal 95% interval covers its truth 92-97% of the time (docs/synthetic_cdm.md), so
    all 20 cover together in only about half of the seeds; at the seed fixed above one nominal
    interval misses. Per the generator's author, instead of searching for a passing seed the
    intervals are widened to family-wise 95%: coef +/- z se with z = 3.02 for 20 intervals.
    """
    truth, _, summaries = fitted
    summary = summaries[cause]
    missed = {}
    for name, beta in truth.beta(CAUSES[cause]).items():
        row = summary.loc[COLUMNS[name]]
        lower, upper = row["coef"] - Z_FAMILY * row["se"], row["coef"] + Z_FAMILY * row["se"]
        if not lower <= beta <= upper:
            missed[name] = (beta, round(lower, 4), round(upper, 4))
    assert missed == {}


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_reported_95_intervals_are_coef_plus_or_minus_1_96_se(fitted, cause: int) -> None:
    """The summary's hazard-ratio interval is exp(coef +/- 1.96 se), so the check above is
    the same interval widened, not another quantity."""
    summary = fitted[2][cause].loc[list(COLUMNS.values())]
    half_width = 1.959964 * summary["se"]
    lower, upper = (
        np.log(summary["hazard_ratio_lower_95"]),
        np.log(summary["hazard_ratio_upper_95"]),
    )
    np.testing.assert_allclose(lower, summary["coef"] - half_width, rtol=1e-5)
    np.testing.assert_allclose(upper, summary["coef"] + half_width, rtol=1e-5)


@pytest.mark.parametrize(("cause", "other"), [(1, "death"), (2, "outcome")])
def test_the_intervals_tell_the_two_planted_models_apart(fitted, cause: int, other: str) -> None:
    """Not vacuous: the same intervals reject most of the other cause's true coefficients."""
    truth, _, summaries = fitted
    summary = summaries[cause]
    outside = [
        name
        for name, beta in truth.beta(other).items()
        if abs(summary.loc[COLUMNS[name], "coef"] - beta)
        > Z_FAMILY * summary.loc[COLUMNS[name], "se"]
    ]
    assert len(outside) >= 5, outside
