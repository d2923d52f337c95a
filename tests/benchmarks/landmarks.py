"""Benchmark: landmark cohorts on synthetic CDMs of N persons (issue 14).

For each size, each in its own subprocess (wall time and peak RSS of that process alone):

* ``prognosis cohort build cohorts/synth_af_dynamic.yaml`` (8 landmarks, days 0 to 1260) and
  the same definition at entry only (no ``landmarks:``, no ``time_since_entry``): the landmark
  build's wall time is to be within 3x the entry build's, under 8 GB;
* ``prognosis fit --model xgb-cox`` on the stacked landmark rows (one fit, ``--split none``,
  death censored): under 5 minutes;
* discrimination at the later landmarks (540 days and later) of a Cox model of the landmark
  rows against the same model of the features at entry, fitted on half of the persons and
  scored on the other half: the time-dependent AUC at 180 days after the landmark
  (scikit-survival's IPCW estimator), as tests/test_landmark_recovery.py checks at 12,000.

CDMs are ``data/bench/cdm_v4_<N>.duckdb`` (generator version 4, seed 42), generated when
missing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tests.benchmarks.cohort_build import BENCH, PROGNOSIS, SEED, Measurement, console, measure

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "cohorts" / "synth_af_dynamic.yaml"
TARGET_RATIO, TARGET_GB, TARGET_FIT_S = 3.0, 8.0, 300.0
WINDOW, LATE = 180, 540
BASELINE = ["age", "sex_male", "diabetes_history", "hypertension_history"]
BASELINE += ["anticoagulant_history", "statin_history"]


def _cdm(persons: int, log_dir: Path) -> Path:
    path = BENCH / f"cdm_v4_{persons}.duckdb"
    if not path.is_file():
        command = [str(PROGNOSIS), "synth", "--persons", str(persons), "--seed", str(SEED)]
        generated = measure("generate CDM", [*command, "--out", str(path), "--quiet"], log_dir)
        if not generated.ok:
            raise RuntimeError(f"generating {path} failed:\n{generated.stderr}")
    return path


def _entry_only(folder: Path) -> Path:
    """synth_af_dynamic without its landmarks: the single-index build of the same definition."""
    data = yaml.safe_load(DEFINITION.read_text())
    del data["landmarks"]
    data["name"] = "synth_af_dynamic_entry"
    data["features"]["items"] = [
        item for item in data["features"]["items"] if item.get("kind") != "time_since_entry"
    ]
    path = folder / "synth_af_dynamic_entry.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _build(what: str, definition: Path, cdm: Path, out: Path, log_dir: Path) -> Measurement:
    command = [str(PROGNOSIS), "cohort", "build", str(definition), "--source"]
    command += [f"duckdb:///{cdm}", "--out", str(out), "--overwrite", "--quiet"]
    return measure(what, command, log_dir)


def _fit(dataset: Path, out: Path, log_dir: Path) -> Measurement:
    command = [str(PROGNOSIS), "fit", str(dataset), "--model", "xgb-cox", "--horizon", "365"]
    command += ["--censor-competing", "--split", "none", "--n-boot", "0"]
    return measure("fit xgb-cox", [*command, "--out", str(out), "--overwrite", "--quiet"], log_dir)


def late_auc(frame: pd.DataFrame, seed: int = 0) -> dict[str, float]:
    """Time-dependent AUC at WINDOW days, at landmarks LATE and later, of the landmark model and
    of the entry model (lifelines Cox; held-out half of the persons; TIA, death censored)."""
    from lifelines import CoxPHFitter
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    rows = frame.assign(
        tia=((frame["event"] == 1) & (frame["time"] <= WINDOW)).astype(int),
        days=np.minimum(frame["time"], WINDOW).astype(float),
    )
    persons = np.random.default_rng(seed).permutation(np.sort(rows["person_id"].unique()))
    test = rows["person_id"].isin(persons[: len(persons) // 2]).to_numpy()
    dynamic = [*BASELINE, "time_since_entry", "on_dabigatran", "nt_probnp_past_year_last"]
    at_zero = [*BASELINE, "nt_probnp_past_year_last"]

    def cox(data: pd.DataFrame, columns: list[str]) -> Any:
        return CoxPHFitter().fit(data[[*columns, "days", "tia"]], "days", "tia")

    landmark_model = cox(rows[~test], dynamic)
    entry_model = cox(rows[~test & (rows["landmark"] == 0)], at_zero)
    entry = rows[rows["landmark"] == 0].set_index("person_id")
    late = rows[test & (rows["landmark"] >= LATE)]
    at_entry = entry.loc[late["person_id"], at_zero].set_index(late.index)
    scores = {
        "landmark model": landmark_model.predict_partial_hazard(late).to_numpy(),
        "entry-features model": entry_model.predict_partial_hazard(at_entry).to_numpy(),
    }
    # as tests/test_landmark_recovery.py: the AUC and its weights read the whole follow-up
    train = Surv.from_arrays(rows.loc[~test, "event"] == 1, rows.loc[~test, "time"])
    tested = Surv.from_arrays(late["event"] == 1, late["time"])
    return {
        name: float(cumulative_dynamic_auc(train, tested, score, [WINDOW - 1])[0][0])
        for name, score in scores.items()
    }


def bench_size(persons: int) -> dict[str, Any]:
    log_dir = BENCH / "logs" / f"landmarks_{persons}"
    cdm = _cdm(persons, log_dir)
    with tempfile.TemporaryDirectory(dir=BENCH) as scratch:
        folder = Path(scratch)
        entry = _build("entry build", _entry_only(folder), cdm, folder / "entry", log_dir)
        stacked = _build("landmark build", DEFINITION, cdm, folder / "landmarks", log_dir)
        fitted = _fit(folder / "landmarks", folder / "model", log_dir)
        frame = pd.read_parquet(folder / "landmarks" / "dataset.parquet")
        rows = {
            "entry": len(pd.read_parquet(folder / "entry" / "dataset.parquet", columns=["time"]))
        }
        rows["landmarks"] = len(frame)
        auc = late_auc(frame)
    return {"persons": persons, "entry": entry, "landmarks": stacked, "fit": fitted, "rows": rows,
            "auc": auc}  # fmt: skip


def _print(result: dict[str, Any]) -> None:
    entry, stacked, fitted = result["entry"], result["landmarks"], result["fit"]
    ratio = stacked.wall_s / entry.wall_s
    gb = stacked.peak_rss_mb / 1024
    console.print(f"[bold]landmarks, {result['persons']:,} persons[/bold]")
    console.print(
        f"  entry build: {result['rows']['entry']:,} rows, {entry.wall_s:.1f} s, "
        f"{entry.peak_rss_mb:,.0f} MB (load {entry.load_before:.1f})"
    )
    console.print(
        f"  landmark build (8 landmarks): {result['rows']['landmarks']:,} rows, "
        f"{stacked.wall_s:.1f} s, {stacked.peak_rss_mb:,.0f} MB: {ratio:.2f}x the entry build "
        f"(target <= {TARGET_RATIO}x), {gb:.2f} GB (target < {TARGET_GB} GB)"
    )
    console.print(
        f"  xgb-cox on the stacked rows: {fitted.wall_s:.1f} s, {fitted.peak_rss_mb:,.0f} MB "
        f"(target < {TARGET_FIT_S:.0f} s){'' if fitted.ok else ' FAILED'}"
    )
    aucs = ", ".join(f"{name} {value:.3f}" for name, value in result["auc"].items())
    console.print(f"  time-dependent AUC at {WINDOW} days, landmarks >= {LATE}: {aucs}")


def main(sizes: list[int]) -> list[dict[str, Any]]:
    """Run the landmark benchmark at each size and print its figures."""
    console.print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    results = []
    for persons in sizes:
        result = bench_size(persons)
        _print(result)
        results.append(result)
    return results


if __name__ == "__main__":
    main([int(size) for size in sys.argv[1:]] or [100_000])
