"""A purpose-built cohort for the report tests, from a hand-made CDM.

240 persons start test drug A or B between 2003 and 2009; a condition named
``<script>alert(1)</script> Zzyzx`` (recorded in the prior year for about 40%) and age raise the
hazard of the outcome; a rare condition is recorded for exactly 3 persons (Table 1 shows <5).
One person carries identifiers that must never reach a report: person_id 987654321, the
source value ``ZZSRC-424242-QQ`` and the birth date 1937-03-17.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from prognosis.cohort import build_cohort, load_definition, parse_source
from tests.support.cdm import TABLES

DISTINCT_PERSON = 987654321
DISTINCT_SOURCE = "ZZSRC-424242-QQ"
DISTINCT_BIRTH = dt.date(1937, 3, 17)
SCRIPT_NAME = "<script>alert(1)</script> Zzyzx"
RARE_NAME = "Rare test condition"
RARE_PERSONS = 3
DRUG_A, DRUG_B, OUTCOME, MARKER, RARE = 1001, 1002, 2001, 3001, 3002
N_PERSONS = 240
HORIZONS = (180.0, 365.0)

DEFINITION = {
    "name": "report_test",
    "description": "Persons starting test drug A or B; outcome <b>test bleed</b> within two years.",
    "concept_sets": {
        "index_drugs": {"include": [DRUG_A, DRUG_B], "label": "test drug A or B"},
        "bleed": [OUTCOME],
        "rare": [RARE],
    },
    "index": {
        "concept_set": "index_drugs",
        "domain": "drug_exposure",
        "min_prior_observation": 365,
    },
    "outcome": {"concept_set": "bleed", "domain": "condition_occurrence", "time_at_risk": [1, 730]},
    "features": {
        "windows": {"prior_year": [-365, -1]},
        "items": [
            {"kind": "demographics"},
            {"kind": "index_concept"},
            {
                "kind": "concept_set",
                "name": "rare_condition",
                "concept_set": "rare",
                "domain": "condition_occurrence",
                "windows": ["prior_year"],
            },
            {
                "kind": "domain",
                "domain": "condition_occurrence",
                "windows": ["prior_year"],
                "min_prevalence": 0.05,
            },
        ],
    },
}


def _tables(seed: int = 0) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    concepts = [
        {"concept_id": DRUG_A, "concept_name": "Test drug A"},
        {"concept_id": DRUG_B, "concept_name": "Test drug B"},
        {"concept_id": OUTCOME, "concept_name": "Test bleed"},
        {"concept_id": MARKER, "concept_name": SCRIPT_NAME},
        {"concept_id": RARE, "concept_name": RARE_NAME},
    ]
    tables: dict[str, list[dict]] = {
        "concept": concepts,
        "person": [],
        "observation_period": [],
        "drug_exposure": [],
        "condition_occurrence": [],
    }
    start = dt.date(2003, 1, 1)
    for i in range(N_PERSONS):
        person = DISTINCT_PERSON if i == 7 else 100_000 + 37 * i
        birth = DISTINCT_BIRTH if i == 7 else dt.date(int(rng.integers(1940, 1986)), 1, 1)
        tables["person"].append(
            {
                "person_id": person,
                "gender_concept_id": 8507 if rng.random() < 0.5 else 8532,
                "year_of_birth": birth.year,
                "month_of_birth": birth.month,
                "day_of_birth": birth.day,
                "person_source_value": DISTINCT_SOURCE if i == 7 else f"SRC{i:05d}",
            }
        )
        tables["observation_period"].append(
            {
                "person_id": person,
                "observation_period_start_date": "2000-01-01",
                "observation_period_end_date": "2015-12-31",
            }
        )
        index = start + dt.timedelta(days=int(rng.integers(0, 2500)))
        drug = DRUG_A if rng.random() < 0.6 else DRUG_B
        tables["drug_exposure"].append(
            {"person_id": person, "drug_concept_id": drug, "drug_exposure_start_date": index}
        )
        marker = rng.random() < 0.4
        if marker:
            tables["condition_occurrence"].append(
                _condition(person, MARKER, index, -rng.integers(10, 300))
            )
        if i in (3, 50, 100):
            tables["condition_occurrence"].append(_condition(person, RARE, index, -20))
        age = index.year - birth.year
        hazard = 0.0006 * np.exp(1.2 * marker + 0.03 * (age - 45))
        day = int(np.ceil(rng.exponential(1.0 / hazard)))
        if day <= 730:
            tables["condition_occurrence"].append(_condition(person, OUTCOME, index, day))
    return tables


def _condition(person: int, concept: int, index: dt.date, offset: int) -> dict:
    return {
        "person_id": person,
        "condition_concept_id": concept,
        "condition_start_date": index + dt.timedelta(days=int(offset)),
    }


def _write_cdm(path: Path, tables: dict[str, list[dict]]) -> Path:
    """tests.support.cdm's layout, loaded from DataFrames (row-by-row inserts are slow)."""
    con = duckdb.connect(str(path))
    try:
        for table, layout in TABLES.items():
            ddl = ", ".join(f'"{name}" {kind}' for name, kind in layout.items())
            con.execute(f'CREATE TABLE "{table}" ({ddl})')
            rows = tables.get(table)
            if rows:
                frame = pd.DataFrame(rows).reindex(columns=list(layout))
                id_column = f"{table}_id"
                if id_column in layout and frame[id_column].isna().all():
                    frame[id_column] = np.arange(1, len(frame) + 1)
                con.register("rows", frame)
                con.execute(f'INSERT INTO "{table}" SELECT * FROM rows')
                con.unregister("rows")
    finally:
        con.close()
    return path


def build_test_cohort(folder: Path) -> Path:
    """Write the CDM and the definition under ``folder``; build the cohort; its dataset dir."""
    folder.mkdir(parents=True, exist_ok=True)
    cdm = _write_cdm(folder / "cdm.duckdb", _tables())
    definition_path = folder / "report_test.yaml"
    definition_path.write_text(yaml.safe_dump(DEFINITION, sort_keys=False), encoding="utf-8")
    out = folder / "dataset"
    build_cohort(
        load_definition(definition_path),
        parse_source(f"duckdb:///{cdm}"),
        out,
        definition_path=str(definition_path),
        today=dt.date(2024, 1, 1),
    )
    return out
