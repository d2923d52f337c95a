"""Fixtures of the report tests: one purpose-built cohort, one model, its reports, a browser.

The reports are explained by the real ``prognosis.explain`` when it can be imported, otherwise
by ``tests/report/fake_explain.py`` (same API), so that every section is rendered either way.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from prognosis.dataset import load_dataset
from prognosis.evaluation.validation import parse_split
from prognosis.exceptions import DataQualityWarning
from prognosis.models.store import save_model
from prognosis.report import ModelReport, build_model_report, write_patient_reports
from prognosis.report.render import render_page, write_page
from prognosis.training import fit_model
from tests.report import fake_explain
from tests.report.cohort_data import DISTINCT_PERSON, HORIZONS, build_test_cohort
from tests.support.browser import Browser, BrowserUnavailable, headless_chromium

KEY = bytes(range(32))  # a fixed pseudonym key, so that tests can recompute pseudonyms


def _real_explain() -> bool:
    """Whether ``prognosis.explain`` is importable and offers the API the reports use."""
    if importlib.util.find_spec("prognosis.explain") is None:
        return False
    module = importlib.import_module("prognosis.explain")
    return all(
        hasattr(module, name) for name in ("explain_model", "clinical_label", "risk_effects")
    )


REAL_EXPLAIN = _real_explain()


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


def explain_module() -> contextlib.AbstractContextManager:
    """The real explain module when installed, else the fake one in its place."""
    if REAL_EXPLAIN:
        return contextlib.nullcontext()
    return mock.patch.dict(sys.modules, {"prognosis.explain": fake_explain.as_module()})


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
    with explain_module():
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
