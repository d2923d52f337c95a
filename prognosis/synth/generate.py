"""Write a synthetic OMOP CDM (DuckDB) and its planted truth (JSON), atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from prognosis.exceptions import OutputError
from prognosis.output_folders import OutputKind, claim_output
from prognosis.outputs import atomic_file
from prognosis.synth.complications import COMPLICATIONS
from prognosis.synth.dynamic import DYNAMIC
from prognosis.synth.planted import COVARIATES, Persons, persons_frame, simulate_persons
from prognosis.synth.records import chunk_tables
from prognosis.synth.truth import SynthTruth
from prognosis.synth.vocabulary import (
    NOISE_CONDITIONS,
    NOISE_DRUGS,
    NOISE_MEASUREMENTS,
    concept_ancestor_table,
    concept_table,
)

__all__ = ["generate_cdm", "truth_path"]

#: Persons per chunk. Part of the output's definition: changing it changes the random draws.
CHUNK_PERSONS = 100_000

# primary keys as in the OMOP CDM DDL: they let a build skip its duplicate-record-id check
_DDL: dict[str, tuple[str, ...]] = {
    "person": (
        "person_id BIGINT PRIMARY KEY",
        "gender_concept_id BIGINT",
        "year_of_birth INTEGER",
        "month_of_birth INTEGER",
        "day_of_birth INTEGER",
        "birth_datetime TIMESTAMP",
        "race_concept_id BIGINT",
        "ethnicity_concept_id BIGINT",
        "person_source_value VARCHAR",
        "gender_source_value VARCHAR",
    ),
    "observation_period": (
        "observation_period_id BIGINT PRIMARY KEY",
        "person_id BIGINT",
        "observation_period_start_date DATE",
        "observation_period_end_date DATE",
        "period_type_concept_id BIGINT",
    ),
    "condition_occurrence": (
        "condition_occurrence_id BIGINT PRIMARY KEY",
        "person_id BIGINT",
        "condition_concept_id BIGINT",
        "condition_start_date DATE",
        "condition_end_date DATE",
        "condition_type_concept_id BIGINT",
        "condition_source_value VARCHAR",
    ),
    "drug_exposure": (
        "drug_exposure_id BIGINT PRIMARY KEY",
        "person_id BIGINT",
        "drug_concept_id BIGINT",
        "drug_exposure_start_date DATE",
        "drug_exposure_end_date DATE",
        "drug_type_concept_id BIGINT",
        "days_supply INTEGER",
        "drug_source_value VARCHAR",
    ),
    "measurement": (
        "measurement_id BIGINT PRIMARY KEY",
        "person_id BIGINT",
        "measurement_concept_id BIGINT",
        "measurement_date DATE",
        "measurement_type_concept_id BIGINT",
        "value_as_number DOUBLE",
        "unit_concept_id BIGINT",
        "measurement_source_value VARCHAR",
    ),
    "death": (
        "person_id BIGINT",
        "death_date DATE",
        "death_type_concept_id BIGINT",
        "cause_concept_id BIGINT",
    ),
    "concept": (
        "concept_id BIGINT PRIMARY KEY",
        "concept_name VARCHAR",
        "domain_id VARCHAR",
        "vocabulary_id VARCHAR",
        "concept_class_id VARCHAR",
        "standard_concept VARCHAR",
        "concept_code VARCHAR",
        "valid_start_date DATE",
        "valid_end_date DATE",
        "invalid_reason VARCHAR",
    ),
    "concept_ancestor": (
        "ancestor_concept_id BIGINT",
        "descendant_concept_id BIGINT",
        "min_levels_of_separation INTEGER",
        "max_levels_of_separation INTEGER",
    ),
}

_PERSON_SELECT = (
    "SELECT person_id, gender_concept_id, year_of_birth, month_of_birth, day_of_birth, "
    "CAST(birth_date AS TIMESTAMP), race_concept_id, ethnicity_concept_id, "
    "'SYN-' || lpad(lower(hex(person_id)), 8, '0'), "
    "CASE gender_concept_id WHEN 8507 THEN 'M' ELSE 'F' END FROM chunk"
)


def truth_path(path: Path | str) -> Path:
    """Where :func:`generate_cdm` writes the truth of the database at ``path``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.truth.json")


def _insert(con: duckdb.DuckDBPyConnection, table: str, data: Any) -> None:
    con.register("chunk", data)
    try:
        select = _PERSON_SELECT if table == "person" else "SELECT * FROM chunk"
        con.execute(f"INSERT INTO {table} {select}")
    finally:
        con.unregister("chunk")


def _fill(
    con: duckdb.DuckDBPyConnection, people: Persons, seed: int, say: Callable[[str], None]
) -> dict[str, int]:
    """Create the tables and insert every chunk; return the row count of each table."""
    persons = len(people)
    for table, columns in _DDL.items():
        con.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
    _insert(con, "concept", concept_table())
    _insert(con, "concept_ancestor", concept_ancestor_table())
    starts = range(0, persons, CHUNK_PERSONS)
    streams = np.random.SeedSequence([seed, 1]).spawn(len(starts))
    rows = dict.fromkeys(_DDL, 0)
    for start, stream in zip(starts, streams, strict=True):
        stop = min(start + CHUNK_PERSONS, persons)
        tables = chunk_tables(
            people, start, stop, np.random.default_rng(stream), {t: n + 1 for t, n in rows.items()}
        )
        for table, data in tables.items():
            _insert(con, table, data)
            rows[table] += data.num_rows
        say(f"wrote persons {stop:,}/{persons:,}")
    rows["concept"] = con.execute("SELECT count(*) FROM concept").fetchone()[0]
    rows["concept_ancestor"] = con.execute("SELECT count(*) FROM concept_ancestor").fetchone()[0]
    return rows


def _counts(people: Persons, rows: dict[str, int]) -> dict[str, Any]:
    frame = persons_frame(people)
    events = frame["event"].value_counts()
    binary = [c.name for c in COVARIATES if c.kind != "measurement-last"]
    measured = [c.name for c in COVARIATES if c.kind == "measurement-last"]
    return {
        "persons": len(frame),
        "persons_with_index": len(frame),
        "index_in_observation": int(frame["index_in_observation"].sum()),
        "eligible": int(frame["eligible"].sum()),
        "events": {
            "censored": int(events.get(0, 0)),
            "outcome": int(events.get(1, 0)),
            "death": int(events.get(2, 0)),
        },
        "deaths": int(frame["death_date"].notna().sum()),
        "deaths_after_outcome": int((frame["death_date"].notna() & (frame["event"] == 1)).sum()),
        "complications": {c.name: _complication_counts(frame, c.name) for c in COMPLICATIONS},
        "dynamic": _dynamic_counts(people),
        "covariate_mean": {c: round(float(frame[c].mean()), 4) for c in binary},
        "measured_share": {c: round(float(frame[c].notna().mean()), 4) for c in measured},
        "rows": rows,
    }


def _complication_counts(frame: pd.DataFrame, name: str) -> dict[str, int]:
    events = frame[f"event_{name}"].value_counts()
    return {
        "censored": int(events.get(0, 0)),
        "complication": int(events.get(1, 0)),
        "death": int(events.get(2, 0)),
        "prior": int(frame[f"prior_{name}"].sum()),
    }


def _dynamic_counts(people: Persons) -> dict[str, int]:
    dyn = people.dynamic
    return {
        "censored": int((dyn.event == 0).sum()),
        "outcome": int((dyn.event == 1).sum()),
        "death": int((dyn.event == 2).sum()),
        "treated": int((dyn.treatment_start > 0).sum()),
        "stopped": int((dyn.treatment_stop > 0).sum()),
        "treatment_fills": _fills(dyn.treatment_start, dyn.treatment_stop, people),
        "lab_values": len(dyn.lab_day),
        "lab_values_before_index": int((dyn.lab_day < 0).sum()),
    }


def _fills(start: np.ndarray, stop: np.ndarray, people: Persons) -> int:
    """Number of drug_exposure rows of the planted treatment (as records.py writes them)."""
    last = np.where(stop > 0, stop - 1, people.obs_end - people.index_day)
    return int(np.where(start > 0, (last - start) // DYNAMIC.supply_days + 1, 0).sum())


def _write_database(
    path: Path, people: Persons, seed: int, say: Callable[[str], None]
) -> dict[str, int]:
    path.with_name(path.name + ".wal").unlink(missing_ok=True)  # a stale log would be replayed
    with atomic_file(path) as tmp:
        tmp.unlink()  # DuckDB creates the file itself; it refuses an empty one
        wal = tmp.with_name(tmp.name + ".wal")
        try:
            with duckdb.connect(str(tmp)) as con:
                con.execute("SET enable_progress_bar = false")
                rows = _fill(con, people, seed, say)
                con.execute("CHECKPOINT")
        finally:
            wal.unlink(missing_ok=True)
    return rows


def generate_cdm(
    path: Path | str,
    *,
    persons: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> SynthTruth:
    """Write a synthetic OMOP CDM with planted hazards to a DuckDB file.

    Parameters
    ----------
    path
        The DuckDB file to create. An existing file is replaced only when it is a previous
        synthetic CDM (its truth file beside it) and ``overwrite`` is set; anything else is
        refused before any work. Written to a temporary file in the same folder and moved into
        place, so a reader never sees a half-written database. The truth goes beside it, at
        :func:`truth_path` (``<stem>.truth.json``).
    persons
        Number of persons (>= 1); each has an index event (first atrial fibrillation).
    seed
        Seed of every random draw: the same ``persons`` and ``seed`` give identical contents.
    progress
        Called with a short message after each step; nothing is printed.

    Returns
    -------
    SynthTruth
        The planted model (covariates, true log hazard ratios, baselines, censoring) and the
        counts actually generated.

    Raises
    ------
    ValueError
        If ``persons`` is not a positive integer or ``seed`` is negative.
    OutputError
        If ``path`` may not be written (see :func:`prognosis.output_folders.check_output`).
    """
    if isinstance(persons, bool) or not isinstance(persons, int) or persons < 1:
        raise ValueError(f"persons must be a positive integer, got {persons!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    say = progress or (lambda _message: None)
    path = Path(path)
    if path.suffix != ".duckdb":
        raise OutputError(f"--out {path}: a synthetic CDM is a DuckDB file; name it *.duckdb")
    with claim_output(path, OutputKind.SYNTHETIC_CDM, overwrite=overwrite):
        return _generate(path, persons, seed, say)


def _generate(path: Path, persons: int, seed: int, say: Callable[[str], None]) -> SynthTruth:
    say(f"simulating {persons:,} persons")
    people = simulate_persons(persons, seed)
    rows = _write_database(path, people, seed, say)
    noise = (*NOISE_CONDITIONS, *NOISE_DRUGS, *NOISE_MEASUREMENTS)
    truth = SynthTruth(seed=seed, persons=persons, counts=_counts(people, rows), noise=noise)
    with atomic_file(truth_path(path)) as tmp:
        tmp.write_text(json.dumps(truth.to_dict(), indent=2) + "\n", encoding="utf-8")
    say(f"wrote {path} and {truth_path(path).name}")
    return truth
