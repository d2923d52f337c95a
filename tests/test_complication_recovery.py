"""Several complications from one definition, against the generator's planted truth.

``cohorts/synth_af_complications.yaml`` (stroke, major bleeding, heart-failure admission, each
with death competing and its own prior records excluded, and death) is built on a synthetic CDM;
the generator keeps, per person, each complication's time and cause of the first event
(``planted_cohort``) and the true log hazard ratios of each cause (``SynthTruth.beta``). The
dataset's time/event pair of every outcome must equal the planted one, a cause-specific Cox
model of each complication must recover its planted coefficients, and ``prognosis fit`` must
fit one model per outcome on the right rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prognosis import workflow
from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.dataset import load_dataset
from prognosis.exceptions import DataQualityWarning
from prognosis.models.registry import make_model
from prognosis.models.store import load_model_set, model_set_members
from prognosis.synth import SynthTruth, generate_cdm, planted_cohort
from tests.test_planted_recovery import COLUMNS

DEFINITION = Path(__file__).resolve().parent.parent / "cohorts" / "synth_af_complications.yaml"
PERSONS, SEED = 10_000, 5  # the seed of tests/test_planted_recovery.py, chosen before any fit
COMPLICATIONS = {"stroke": "outcome", "major_bleeding": "major_bleeding"}
COMPLICATIONS["heart_failure_admission"] = "heart_failure_admission"
# Bonferroni: 3 complications x 10 intervals at family-wise 95%: Phi^-1(1 - 0.05 / 60)
Z_FAMILY = 3.14


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthTruth, Path, pd.DataFrame]:
    """The truth, the dataset folder, and the planted persons of the cohort (by person_id)."""
    folder = tmp_path_factory.mktemp("complications")
    truth = generate_cdm(folder / "cdm.duckdb", persons=PERSONS, seed=SEED)
    with pytest.warns(DataQualityWarning, match="outside every observation period"):
        build_cohort(
            load_definition(DEFINITION), parse_source(str(folder / "cdm.duckdb")), folder / "out"
        )
    planted = planted_cohort(persons=PERSONS, seed=SEED).set_index("person_id")
    return truth, folder / "out", planted


def _planted_pair(planted: pd.DataFrame, outcome: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(at risk, time, event) of ``outcome`` for every planted person, from the truth alone."""
    if outcome == "stroke":
        return ~planted["prior_outcome"], planted["time"], planted["event"]
    if outcome == "death":
        end = (planted["observation_period_end_date"] - planted["index_date"]).dt.days
        return pd.Series(True, planted.index), end, planted["death_date"].notna().astype(int)
    return (
        ~planted[f"prior_{outcome}"],
        planted[f"time_{outcome}"],
        planted[f"event_{outcome}"],
    )


def test_the_cohort_is_every_person_with_a_year_of_prior_observation(built) -> None:
    _, out, planted = built
    whole = load_dataset(out)
    eligible = planted["index_in_observation"] & (planted["prior_observation_days"] >= 365)
    assert sorted(whole.frame["person_id"]) == sorted(planted.index[eligible])
    assert whole.outcome_names == ["stroke", "major_bleeding", "heart_failure_admission", "death"]


@pytest.mark.parametrize(
    "outcome", ["stroke", "major_bleeding", "heart_failure_admission", "death"]
)
def test_each_outcome_has_the_planted_time_and_event(built, outcome: str) -> None:
    _, out, planted = built
    view = load_dataset(out, outcome).frame.set_index("person_id")
    cohort = load_dataset(out).frame["person_id"]
    at_risk, time, event = (s.loc[cohort] for s in _planted_pair(planted, outcome))
    assert sorted(view.index) == sorted(at_risk.index[at_risk])
    np.testing.assert_array_equal(view["time"], time.loc[view.index])
    np.testing.assert_array_equal(view["event"], event.loc[view.index])
    expected = {0, 1} if outcome == "death" else {0, 1, 2}
    assert set(view["event"]) == expected


@pytest.mark.parametrize("outcome", sorted(COMPLICATIONS))
def test_a_cause_specific_cox_model_recovers_each_complications_hazard(built, outcome: str) -> None:
    """Each planted log hazard ratio lies in coef +/- 3.14 se (Bonferroni over 30 intervals);
    and the same intervals reject at least two of each other complication's coefficients, the
    ones that differ most (not vacuous: the causes are told apart)."""
    truth, out, _ = built
    view = load_dataset(out, outcome)
    X = view.frame[list(COLUMNS.values())].astype(float)
    summary = make_model("cause-specific-cox").fit(X, view.y).steps[-1][1].summary_[1]
    coef, se = summary["coef"], summary["se"]
    missed = {
        name: (beta, round(coef[COLUMNS[name]], 3), round(se[COLUMNS[name]], 3))
        for name, beta in truth.beta(COMPLICATIONS[outcome]).items()
        if abs(coef[COLUMNS[name]] - beta) > Z_FAMILY * se[COLUMNS[name]]
    }
    assert missed == {}
    for other in set(COMPLICATIONS) - {outcome}:
        betas = truth.beta(COMPLICATIONS[other])
        apart = [
            n for n, b in betas.items() if abs(coef[COLUMNS[n]] - b) > Z_FAMILY * se[COLUMNS[n]]
        ]
        assert len(apart) >= 2, (other, apart)


def test_fit_writes_one_model_per_outcome_on_that_outcomes_rows(built, tmp_path: Path) -> None:
    _, out, planted = built
    options = workflow.FitOptions("cause-specific-cox", (365.0,), split="none", n_boot=0)
    with pytest.warns(DataQualityWarning, match="no competing events"):  # death: nothing competes
        fitted = workflow.fit_outcomes(out, options, tmp_path / "models")
    names = ["stroke", "major_bleeding", "heart_failure_admission", "death"]
    assert [f.outcome for f in fitted] == names
    assert sorted(p.name for p in model_set_members(tmp_path / "models")) == sorted(names)
    cohort = load_dataset(out).frame["person_id"]
    for saved in load_model_set(tmp_path / "models"):
        at_risk, _, event = (s.loc[cohort] for s in _planted_pair(planted, saved.info.outcome))
        assert saved.info.training_rows == int(at_risk.sum())
        assert saved.info.training_events == int((event[at_risk] == 1).sum())
    options = workflow.FitOptions("cox", (365.0,), split="none", n_boot=0, outcome="death")
    one = workflow.fit(out, options, tmp_path / "death")
    assert one.outcome == "death" and one.saved.info.training_rows == len(cohort)
