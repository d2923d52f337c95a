"""The reports in real headless Chromium: no console errors, no network, expected headings."""

from __future__ import annotations

from pathlib import Path

from tests.report.conftest import Built
from tests.support.browser import Browser, Visit

MODEL_HEADINGS = [
    "Summary",
    "Cohort definition",
    "Attrition",
    "Baseline characteristics (Table 1)",
    "Observed risk over time",
    "Performance",
    "Time-dependent AUC",
    "Calibration",
    "Decision curves",
    "Explanations (SHAP)",
    "TRIPOD+AI checklist",
    "Provenance",
]
PATIENT_HEADINGS = [
    "Predicted risk over time",
    "Risk at each horizon",
    "What moved this estimate",
    "Inputs the model used",
    "About this model",
]


def _check(visit: Visit, headings: list[str]) -> None:
    assert visit.requests, "the page did not load"
    assert visit.network_requests == []
    assert visit.console_errors == []
    assert visit.page_errors == []
    assert visit.screenshot is not None and visit.screenshot.stat().st_size > 10_000
    missing = [h for h in headings if h not in visit.headings]
    assert not missing, f"headings missing: {missing}; found {visit.headings}"


def test_model_report_opens_offline_without_errors(
    built: Built, browser: Browser, tmp_path: Path
) -> None:
    visit = browser.visit(built.model_report, screenshot=tmp_path / "model.png")
    _check(visit, [built.report.title, *MODEL_HEADINGS])
    assert visit.title == built.report.title


def test_two_patient_reports_open_offline_without_errors(
    built: Built, browser: Browser, tmp_path: Path
) -> None:
    for page in built.pages[:2]:
        visit = browser.visit(page, screenshot=tmp_path / f"{page.stem}.png")
        _check(visit, [f"Risk report {page.stem}", *PATIENT_HEADINGS])


def test_patient_index_links_every_page(built: Built, browser: Browser, tmp_path: Path) -> None:
    visit = browser.visit(built.patients / "index.html", screenshot=tmp_path / "index.png")
    _check(visit, ["Patient risk reports", "Patients", "About this model"])


def test_reports_fit_a_narrow_window(built: Built, browser: Browser) -> None:
    for path in (built.model_report, built.pages[0]):
        visit = browser.visit(path, width=420)
        assert visit.scroll_width <= 420, f"{path.name} is {visit.scroll_width}px wide"


def test_model_report_prints(built: Built, browser: Browser, tmp_path: Path) -> None:
    assert browser.print_pdf_pages(built.model_report, tmp_path / "model.pdf") > 10_000


def test_the_harness_sees_requests_and_errors(browser: Browser, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body><h1>Bad</h1>"
        '<img src="http://192.0.2.1/pixel.png" alt="">'
        "<script>console.error('planted error')</script></body></html>",
        encoding="utf-8",
    )
    visit = browser.visit(page, screenshot=tmp_path / "bad.png")
    assert visit.network_requests == ["http://192.0.2.1/pixel.png"]
    assert any("planted error" in message for message in visit.console_errors)
