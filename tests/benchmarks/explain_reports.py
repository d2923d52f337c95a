"""Benchmark: explain 100,000 patients with an xgboost model; render 1,000 patient reports.

Targets (issue 4): each under 60 s on 2 cores.

* Explain: the ``synth_af_stroke`` cohort built on the 100,000-person synthetic CDM (made by the
  cohort benchmark, or here when absent), an ``xgb-cox`` model (default parameters: 300 trees of
  depth 3) for the outcome with death counted as censored, and exact SHAP values
  (``prognosis.explain.explain_model``) for 100,000 rows drawn from the cohort with replacement.
* Reports: ``tests.report.bench_patients`` — 1,000 patient pages for ``gi_bleed_nsaid`` on
  Eunomia with an ``xgb-cox`` model (predictions, SHAP, waterfall, page, index).
* Model report (issue 12: under 30 s): ``prognosis report model`` for the demo's
  ``gi_bleed_nsaid`` ``xgb-cox`` model (5-fold cross-validation, seed 0, as ``make demo`` fits
  it), timed from loading the model to the written page.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.dataset import load_dataset
from prognosis.exceptions import DataQualityWarning
from prognosis.explain import explain_model
from prognosis.models.registry import make_model
from prognosis.models.target import make_target
from prognosis.synth import generate_cdm

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "data" / "bench"
ROWS = 100_000


def _cohort(persons: int = 100_000) -> Path:
    cdm = BENCH / f"cdm_{persons}.duckdb"
    if not cdm.exists():
        print(f"generating the {persons:,}-person synthetic CDM (seed 42) ...")
        generate_cdm(cdm, persons=persons, seed=42)
    out = BENCH / "explain" / f"synth_af_stroke_{persons}"
    if not (out / "dataset.parquet").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            definition = load_definition(ROOT / "cohorts" / "synth_af_stroke.yaml")
            build_cohort(definition, parse_source(str(cdm)), out)
    return out


def explain_benchmark() -> float:
    """Print and return the wall seconds to explain ``ROWS`` patients with xgb-cox."""
    dataset = load_dataset(_cohort())
    X = dataset.X
    event = dataset.frame["event"].to_numpy()
    y = make_target(event == 1, dataset.frame["time"].to_numpy())  # death: censored
    started = time.perf_counter()
    model = make_model("xgb-cox", seed=0).fit(X, y)
    fit_seconds = time.perf_counter() - started
    rows = np.random.default_rng(0).integers(0, len(X), size=ROWS)
    sample = X.iloc[rows].reset_index(drop=True)
    wall, cpu = time.perf_counter(), time.process_time()
    explanation = explain_model(model, sample)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    margin = model.predict(sample)
    error = float(np.max(np.abs(explanation.prediction - margin)))
    print(
        f"explain: {ROWS:,} patients x {X.shape[1]} features, xgb-cox (fit {fit_seconds:.1f} s on "
        f"{len(X):,} rows): {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"(target < 60 s); max |base + sum(SHAP) - margin| = {error:.1e}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    return wall


def reports_benchmark(count: int = 1000) -> float:
    """Print and return the wall seconds to render ``count`` patient reports."""
    from tests.report.bench_patients import main as render_patients

    wall = render_patients(count=count, model="xgb-cox")
    print(f"  (target < 60 s; load {os.getloadavg()[0]:.2f})")
    return wall


def model_report_benchmark() -> float:
    """Print and return the wall seconds of the demo's model report (``make demo``'s model)."""
    import tempfile

    from prognosis.evaluation.validation import parse_split
    from prognosis.models.store import save_model
    from prognosis.report import write_model_report
    from prognosis.training import fit_model

    with tempfile.TemporaryDirectory(prefix="bench-model-report-") as folder:
        work = Path(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            definition = load_definition(ROOT / "cohorts" / "gi_bleed_nsaid.yaml")
            build_cohort(definition, parse_source("eunomia"), work / "cohort")
        dataset = load_dataset(work / "cohort")
        saved = fit_model(dataset, "xgb-cox", [365.0], parse_split("cv"), seed=0)
        save_model(work / "model", saved)
        wall, cpu = time.perf_counter(), time.process_time()
        write_model_report(work / "model", work / "cohort", work / "report")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"model report: gi_bleed_nsaid xgb-cox ({len(dataset.frame)} persons, 5-fold cv) in "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU (target < 30 s; load {os.getloadavg()[0]:.2f})"
    )
    return wall


def main() -> None:
    explain_benchmark()
    reports_benchmark()
    model_report_benchmark()


if __name__ == "__main__":
    main()
