"""cohorts/synth_af_stroke.yaml on the synthetic CDM reproduces the generator's planted truth.

The generator keeps its own person-level record of who is eligible, each covariate, and the
time and cause of the first event (`planted_cohort`); the cohort engine must find the same from
the database alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.exceptions import DataQualityWarning
from prognosis.synth import generate_cdm, planted_cohort

PERSONS, SEED = 3000, 7
BINARY = ["diabetes", "hypertension", "heart_failure", "ckd", "anticoagulant", "statin"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("synth")
    generate_cdm(folder / "cdm.duckdb", persons=PERSONS, seed=SEED)
    definition = load_definition(Path("cohorts/synth_af_stroke.yaml"))
    # the generator puts pre-index history of 3 % of persons before their observation period
    with pytest.warns(DataQualityWarning, match="outside every observation period"):
        build_cohort(definition, parse_source(f"{folder}/cdm.duckdb"), folder / "out")
    dataset = pd.read_parquet(folder / "out" / "dataset.parquet").set_index("person_id")
    truth = planted_cohort(persons=PERSONS, seed=SEED)
    return dataset, truth[truth["eligible"]].set_index("person_id").loc[dataset.index]


def test_the_cohort_holds_exactly_the_eligible_persons(built) -> None:
    dataset, _ = built
    truth = planted_cohort(persons=PERSONS, seed=SEED)
    assert sorted(dataset.index) == sorted(truth.loc[truth["eligible"], "person_id"])


def test_time_and_event_equal_the_planted_ones(built) -> None:
    dataset, truth = built
    np.testing.assert_array_equal(dataset["time"], truth["time"])
    np.testing.assert_array_equal(dataset["event"], truth["event"])
    assert set(dataset["event"]) == {0, 1, 2}


def test_covariates_equal_the_planted_ones(built) -> None:
    dataset, truth = built
    np.testing.assert_array_equal(dataset["age"], truth["age"])
    np.testing.assert_array_equal(dataset["sex_male"], truth["male"])
    for name in BINARY:
        np.testing.assert_array_equal(dataset[f"{name}_prior_year"], truth[name], err_msg=name)
    for name in ("hba1c", "egfr"):
        np.testing.assert_array_equal(
            dataset[f"{name}_prior_year_last"].to_numpy(), truth[name].to_numpy(), err_msg=name
        )
