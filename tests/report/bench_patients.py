"""Benchmark: time to render 1,000 patient reports (target: under 60 s on 2 cores).

Not a test (pytest does not collect it). Run it directly, or register ``main`` in
``tests/benchmarks/run.py`` for ``make bench``::

    .venv/bin/python -m tests.report.bench_patients [--count 1000] [--model cox]

It builds ``cohorts/gi_bleed_nsaid.yaml`` on Eunomia (2,630 persons) into a temporary folder,
fits the model without validation, then times :func:`write_patient_reports` for ``count``
persons drawn at random: predictions for the whole cohort, SHAP for the chosen persons, one
page each and the index. Wall and CPU time are shown.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from prognosis.cohort import build_cohort, load_definition, parse_source
from prognosis.dataset import load_dataset
from prognosis.evaluation.validation import parse_split
from prognosis.exceptions import DataQualityWarning
from prognosis.models.store import save_model
from prognosis.report import write_patient_reports
from prognosis.training import fit_model

ROOT = Path(__file__).resolve().parents[2]


def main(count: int = 1000, model: str = "cox") -> float:
    """Print and return the seconds taken to write ``count`` patient reports."""
    with tempfile.TemporaryDirectory(prefix="bench-patients-") as folder:
        work = Path(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            definition = load_definition(ROOT / "cohorts" / "gi_bleed_nsaid.yaml")
            build_cohort(definition, parse_source("eunomia"), work / "cohort")
        dataset = load_dataset(work / "cohort")
        saved = fit_model(dataset, model, [365.0, 730.0], parse_split("none"), n_boot=0)
        save_model(work / "model", saved)
        wall, cpu = time.perf_counter(), time.process_time()
        written = write_patient_reports(
            work / "model",
            work / "cohort",
            work / "reports" / "patients",
            mapping_dir=work / "private",
            sample=count,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = sum(p.stat().st_size for p in written.pages) / max(len(written.pages), 1)
    print(
        f"patient reports: {len(written.pages)} pages ({model}, {len(dataset.frame)} persons in "
        f"the cohort) in {wall:.1f} s wall, {cpu:.1f} s CPU; {size / 1024:.0f} KiB per page"
    )
    return wall


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--model", default="cox")
    arguments = parser.parse_args()
    main(arguments.count, arguments.model)
