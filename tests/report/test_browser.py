"""The reports in real headless Chromium: no console errors, no network, expected headings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.conftest import Built, CompetingBuilt
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


LAYOUT = (Path(__file__).parent / "layout.js").read_text(encoding="utf-8")


@pytest.mark.parametrize("width", [1280, 390])
def test_no_text_overflows_its_box_and_no_legend_sits_on_the_data(
    built: Built, browser: Browser, width: int
) -> None:
    """At desktop width and on a 390-px phone: no text wider than its box (wide tables scroll
    inside their wrapper, on purpose), nothing past the page's edge, every chart text and legend
    inside its chart, and no legend over the plotted area of its axes."""
    for path in (built.model_report, built.pages[0], built.patients / "index.html"):
        found = browser.evaluate(path, LAYOUT, width=width)
        assert found["problems"] == [], f"{path.name} at {width}px"
        if path == built.model_report:
            assert found["legends"] >= 3 and found["charts"] >= 5  # the check saw the charts


@pytest.mark.parametrize("width", [1280, 390])
def test_competing_risk_reports_fit_their_boxes(
    competing_built: CompetingBuilt, browser: Browser, width: int
) -> None:
    """The same check on the synthetic competing-risk cohort: its long axis label
    ("Cumulative incidence (Aalen-Johansen)") whole, the cause chart's legend off the data."""
    for path in (competing_built.model_report, competing_built.pages[0]):
        found = browser.evaluate(path, LAYOUT, width=width)
        assert found["problems"] == [], f"{path.name} at {width}px"


def test_the_layout_check_sees_overflow_cut_labels_and_covered_data(
    browser: Browser, tmp_path: Path
) -> None:
    page = tmp_path / "cut.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>cut</title></head><body>"
        '<p style="width:80px;white-space:nowrap;overflow:hidden">a label far too long for it</p>'
        '<svg viewBox="0 0 100 50" width="100" height="50">'
        '<text x="60" y="20">cut at the edge</text>'
        '<g id="chart-a-axes_1"><g id="chart-a-patch_2"><rect x="0" y="0" width="100" '
        'height="40"/></g></g><g id="chart-a-legend_1"><rect x="10" y="10" width="20" '
        'height="10"/></g></svg></body></html>',
        encoding="utf-8",
    )
    problems = browser.evaluate(page, LAYOUT, width=390)["problems"]
    assert any(p.startswith('text overflows its box: p "a label far') for p in problems)
    assert any("text cut at the edge" in p for p in problems)
    assert any("legend on the plotted area" in p for p in problems)


WIDE_TABLES = """() => [...document.querySelectorAll('.table-wrap')]
    .filter(w => w.scrollWidth > w.clientWidth + 1)
    .map(w => (w.closest('section') || {}).id || w.className)"""


def test_no_table_needs_a_sideways_scroll_at_desktop_width(
    built: Built, competing_built: CompetingBuilt, browser: Browser
) -> None:
    """At 1280 px every table is whole on the page (Table 1 with four groups and the SMD
    column included); only on a phone do wide tables scroll inside their wrapper."""
    pages = (
        built.model_report,
        built.pages[0],
        built.patients / "index.html",
        competing_built.model_report,
        competing_built.pages[0],
    )
    for path in pages:
        assert browser.evaluate(path, WIDE_TABLES, width=1280) == [], path.name
