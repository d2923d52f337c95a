"""cohorts/synth_af_stroke.yaml on the synthetic CDM reproduces the generator's planted truth.

The generator keeps its own person-level record of who is eligible, each covariate, and the
time and cause of the first event (`planted_cohort`); the cohort engine must find the same from
the database alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.cohort.engines.duckdb import DuckDBEngine
from prognosis.exceptions import DataQualityWarning
from prognosis.synth import generate_cdm, planted_cohort

PERSONS, SEED = 3000, 7
BINARY = ["diabetes", "hypertension", "heart_failure", "ckd", "anticoagulant", "statin"]


def _build(folder: Path, out: Path) -> None:
    definition = load_definition(Path("cohorts/synth_af_stroke.yaml"))
    # the generator puts pre-index history of 3 % of persons before their observation period
    with pytest.warns(DataQualityWarning, match="outside every observation period"):
        build_cohort(definition, parse_source(f"{folder}/cdm.duckdb"), out)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synth")
    generate_cdm(folder / "cdm.duckdb", persons=PERSONS, seed=SEED)
    _build(folder, folder / "out")
    return folder


@pytest.fixture(scope="module")
def built(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
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


def test_sql_assembly_equals_client_assembly(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measurements' last values and counts, concept sets and domain-wide features: the SQL
    pivot-and-join path (kept for Spark) writes the same dataset as client-side assembly."""
    monkeypatch.setattr(DuckDBEngine, "assemble_locally", False)
    _build(folder, tmp_path / "sql")
    expected = pq.read_table(folder / "out" / "dataset.parquet")
    assert pq.read_table(tmp_path / "sql" / "dataset.parquet").equals(expected)
    assert expected.num_columns > 30
