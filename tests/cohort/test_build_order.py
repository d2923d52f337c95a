"""The build runs each domain scan with the tables read from it, and fills their columns as
they come (on a worker thread); the dataset must not depend on that order.

Truth from outside the client path: the SQL pivot-and-join assembly (kept for Spark), which
runs every step in definition order and joins the tables in the engine.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.cohort.engines.duckdb import DuckDBEngine
from prognosis.cohort.features import plan_features
from prognosis.exceptions import DataQualityWarning
from prognosis.synth import generate_cdm

# items whose domains interleave: the domain-wide measurement item comes first, the
# condition and drug ones in the reverse of their scans' order, a measurement set last
_ITEMS = [
    {"kind": "demographics"},
    {"kind": "domain", "domain": "measurement", "windows": ["prior_year"],
     "min_prevalence": 0.01, "statistics": ["last", "count"]},
    {"kind": "concept_set", "name": "diabetes", "concept_set": "diabetes",
     "domain": "condition_occurrence", "windows": ["prior_year", "history"]},
    {"kind": "concept_set", "name": "statin", "concept_set": "statin",
     "domain": "drug_exposure", "windows": ["prior_year"]},
    {"kind": "domain", "domain": "drug_exposure", "windows": ["prior_year"],
     "min_prevalence": 0.01},
    {"kind": "domain", "domain": "condition_occurrence", "windows": ["prior_year", "history"],
     "min_prevalence": 0.02},
    {"kind": "concept_set", "name": "hba1c", "concept_set": "hba1c", "domain": "measurement",
     "windows": ["history"], "statistics": ["last", "count"]},
]  # fmt: skip


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("order")
    content = yaml.safe_load(Path("cohorts/synth_af_stroke.yaml").read_text())
    content["features"] = {
        "windows": {"prior_year": [-365, -1], "history": [-1095, -366]},
        "items": _ITEMS,
    }
    (folder / "cohort.yaml").write_text(yaml.safe_dump(content))
    generate_cdm(folder / "cdm.duckdb", persons=2000, seed=11)
    return folder


def _build(folder: Path, out: Path) -> None:
    definition = load_definition(folder / "cohort.yaml")
    with pytest.warns(DataQualityWarning, match="outside every observation period"):
        build_cohort(definition, parse_source(f"{folder}/cdm.duckdb"), out)


def test_each_scan_is_followed_by_the_tables_read_from_it(interleaved: Path) -> None:
    plan = plan_features(load_definition(interleaved / "cohort.yaml"))
    order = [step.name for step in plan.schedule()]
    assert sorted(order) == sorted(step.name for step in plan.steps)
    assert len(plan.scratch) == 3
    for scan in plan.scratch:
        readers = [name for name, read in plan.reads.items() if read == scan]
        at = order.index(scan)
        assert sorted(order[at + 1 : at + 1 + len(readers)]) == sorted(readers), scan
    # definition order is not schedule order here: the condition scan's tables come before
    # the drug-wide one in the schedule, after it in ``steps``
    assert order != [step.name for step in plan.steps]


def test_interleaved_domains_give_the_sql_assembly(
    interleaved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _build(interleaved, tmp_path / "client")
    with monkeypatch.context() as patch:
        patch.setattr(DuckDBEngine, "assemble_locally", False)
        _build(interleaved, tmp_path / "sql")
    client = pq.read_table(tmp_path / "client" / "dataset.parquet")
    assert client.equals(pq.read_table(tmp_path / "sql" / "dataset.parquet"))
    names = client.schema.names
    # columns in definition order: measurement-wide first, the hba1c set last
    features = [name for name in names if name not in ("age", "sex_male")][5:]
    assert features[0].startswith("measurement_")
    assert features.index("statin_prior_year") < features.index(
        next(name for name in features if name.startswith("drug_"))
    )
    assert features[-2:] == ["hba1c_history_last", "hba1c_history_count"]
    assert client.num_rows > 100
    assert sum(name.startswith("measurement_") for name in names) >= 4
