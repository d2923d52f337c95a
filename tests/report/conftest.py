"""Fixtures of the report tests: one purpose-built cohort, one model, its reports, a browser."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from prognosis.dataset import load_dataset
from prognosis.evaluation.validation import parse_split
from prognosis.exceptions import DataQualityWarning
from prognosis.models.store import save_model
from prognosis.report import ModelReport, build_model_report, write_patient_reports
from prognosis.report.render import render_page, write_page
from prognosis.training import fit_model
from tests.report.cohort_data import DISTINCT_PERSON, HORIZONS, build_test_cohort
from tests.support.browser import Browser, BrowserUnavailable, headless_chromium

KEY = bytes(range(32))  # a fixed pseudonym key, so that tests can recompute pseudonyms


@dataclass(frozen=True)
class Built:
    root: Path
    dataset: Path
    model: Path
    report: ModelReport
    model_report: Path
    patients: Path
    mapping_dir: Path
    pages: list[Path]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The test cohort, a Cox model fitted on it, the model report and five patient pages
    (the person with the distinctive identifiers among them)."""
    root = tmp_path_factory.mktemp("reports")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # tiny CDM: empty death table
        dataset_dir = build_test_cohort(root / "cohort")
    dataset = load_dataset(dataset_dir)
    saved = fit_model(dataset, "cox", HORIZONS, parse_split("cv:3"), seed=0, n_boot=10)
    model_dir = root / "model"
    save_model(model_dir, saved)
    out = root / "reports" / "report_test"
    persons = dataset.frame["person_id"].tolist()
    ids = [DISTINCT_PERSON, *[p for p in persons if p != DISTINCT_PERSON][:4]]
    mapping_dir = root / "private"
    report = build_model_report(model_dir, dataset)
    html = render_page("model.html.jinja2", report=report, title=report.title)
    model_report = write_page(out / "index.html", html)
    written = write_patient_reports(
        model_dir, dataset_dir, out / "patients", mapping_dir=mapping_dir, ids=ids, key=KEY
    )
    return Built(
        root=root,
        dataset=dataset_dir,
        model=model_dir,
        report=report,
        model_report=model_report,
        patients=written.out_dir,
        mapping_dir=mapping_dir,
        pages=written.pages,
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium; skipped when absent, unless PROGNOSIS_REQUIRE_BROWSER=1."""
    try:
        with headless_chromium() as launched:
            yield launched
    except BrowserUnavailable as missing:
        if os.environ.get("PROGNOSIS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"PROGNOSIS_REQUIRE_BROWSER=1 but no browser can be started: {missing}")
        print(f"skipping browser tests: {missing}")
        pytest.skip(str(missing))


@dataclass(frozen=True)
class CompetingBuilt:
    dataset: Path
    model: Path
    report: ModelReport
    model_report: Path
    patients: Path
    pages: list[Path]
    ids: list[int]


@pytest.fixture(scope="session")
def competing_built(
    tmp_path_factory: pytest.TempPathFactory, synth_af_stroke: Path
) -> CompetingBuilt:
    """cohorts/synth_af_stroke.yaml (stroke, death competing) on a synthetic CDM of 3,000
    persons (the session's ``synth_af_stroke``), a cause-specific Cox model fitted on it (ridge
    0.1: a few rare drugs separate the causes), its model report and three patient pages."""
    root = tmp_path_factory.mktemp("competing")
    shutil.copytree(synth_af_stroke, root / "cohort")
    dataset = load_dataset(root / "cohort")
    saved = fit_model(
        dataset,
        "cause-specific-cox",
        [365.0, 1095.0],
        parse_split("none"),
        params={"penalizer": 0.1},
        n_boot=0,
    )
    save_model(root / "model", saved)
    report = build_model_report(root / "model", dataset)
    out = root / "reports"
    model_report = write_page(
        out / "index.html", render_page("model.html.jinja2", report=report, title=report.title)
    )
    ids = [int(p) for p in dataset.frame["person_id"].iloc[[0, 1, 2]]]
    written = write_patient_reports(
        root / "model",
        root / "cohort",
        out / "patients",
        mapping_dir=root / "private",
        ids=ids,
        key=KEY,
    )
    return CompetingBuilt(
        root / "cohort", root / "model", report, model_report, written.out_dir, written.pages, ids
    )
