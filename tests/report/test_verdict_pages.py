"""The verdict's warning on the pages of a model without signal, in real Chromium.

The model is a Cox model cross-validated on planted data whose outcome depends on no feature
(``tests/support/planted_dataset.py``, every log hazard ratio 0): its verdict must warn, and the
warning must open the model report, the patient page and the index, at desktop and phone width,
without overflowing the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prognosis import workflow
from tests.report.conftest import KEY
from tests.support.browser import Browser
from tests.support.planted_dataset import write_planted_dataset


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("no_signal_pages")
    dataset = write_planted_dataset(root / "dataset", beta=0.0, seed=3)
    options = workflow.FitOptions("cox", (365.0,), split="cv:3", n_boot=30)
    fitted = workflow.fit(dataset, options, root / "model")
    assert [w.kind for w in fitted.verdict.warnings][:1] == ["chance"]
    report = workflow.report_model(fitted.out, dataset, root / "report")
    from prognosis.report import write_patient_reports

    patients = write_patient_reports(
        fitted.out, dataset, root / "patients", mapping_dir=root / "private", sample=1, key=KEY
    )
    return [report.page, *patients.pages, patients.index]


def test_the_warning_opens_every_page_and_fits_a_phone(pages: list[Path], browser: Browser) -> None:
    for path in pages:
        html = path.read_text(encoding="utf-8")
        start = html.index("<section")  # the first section of the page is the verdict
        verdict = html[start : html.index("</section>", start)]
        assert 'id="verdict"' in verdict and 'role="alert"' in verdict
        assert "discrimination is no better than chance" in verdict
        for width in (1280, 390):
            visit = browser.visit(path, screenshot=path.with_suffix(f".{width}.png"), width=width)
            assert visit.console_errors == [] and visit.page_errors == []
            assert visit.network_requests == []
            assert visit.scroll_width <= width, f"{path.name} is {visit.scroll_width}px wide"
            assert visit.headings[1] == "Verdict on this model"  # first after the title
