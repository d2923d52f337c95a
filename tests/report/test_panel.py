"""The patient pages of a folder of models, one per outcome: the panel of complications.

cohorts/synth_af_complications.yaml (stroke, major bleeding, heart-failure admission, each with
death competing and its prior records excluded, and death) on a 3,000-person synthetic CDM
(seed 7), one cause-specific Cox model per outcome. Every number of the panel is checked
against what that outcome's saved model predicts for the row of the outcome's view of the
dataset, found by person_id and index date through the private mapping.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from prognosis import workflow
from prognosis.cli import main
from prognosis.dataset import CohortDataset, load_dataset
from prognosis.evaluation.validation import parse_split
from prognosis.exceptions import DataQualityWarning
from prognosis.models.store import SavedModel, load_model, load_model_set, save_model
from prognosis.output_folders import OutputKind, write_marker
from prognosis.report import write_patient_reports
from prognosis.report.panel import exposed_outcomes
from prognosis.training import check_schema, fit_model
from tests.report.conftest import KEY
from tests.support.browser import Browser

OUTCOMES = ["stroke", "major_bleeding", "heart_failure_admission", "death"]
LABELS = [
    "ischaemic stroke",
    "major bleeding",
    "hospitalisation for heart failure",
    "death from any cause",
]
HORIZONS = [365.0, 1095.0]


@dataclass(frozen=True)
class PanelBuilt:
    dataset: Path
    models: Path
    out: Path
    mapping_dir: Path
    ids: list[int]
    not_at_risk: dict[str, list[int]]  # outcome -> chosen persons with a prior record of it


def _fit_set(dataset: CohortDataset, out: Path) -> None:
    """One model per outcome, laid out as `prognosis fit` (``workflow.fit_outcomes``) writes
    them: the folder's marker and ``out/<outcome>``. fit_outcomes takes no model parameters,
    and on this small CDM the Cox fits need a ridge of 0.1 to converge (rare drugs separate
    the causes), as in the report tests' competing cohort."""
    out.mkdir(parents=True)
    write_marker(out, OutputKind.MODEL_SET)
    for name in dataset.outcome_names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)  # death: a single cause
            saved = fit_model(
                dataset.for_outcome(name),
                "cause-specific-cox",
                HORIZONS,
                parse_split("cv:3"),
                params={"penalizer": 0.1},
                n_boot=5,
            )
        save_model(out / name, saved)


@pytest.fixture(scope="module")
def panel_built(
    tmp_path_factory: pytest.TempPathFactory, synth_af_complications: Path
) -> PanelBuilt:
    root = tmp_path_factory.mktemp("panel")
    dataset = load_dataset(synth_af_complications)
    _fit_set(dataset, root / "models")
    frame = dataset.frame
    person = frame["person_id"]
    not_at_risk = {
        "stroke": [int(p) for p in person[frame["time__stroke"].isna()].iloc[:2]],
        "major_bleeding": [int(p) for p in person[frame["time__major_bleeding"].isna()].iloc[:1]],
    }
    at_risk_of_all = frame[[f"time__{name}" for name in OUTCOMES]].notna().all(axis=1)
    ids = [*not_at_risk["stroke"], *not_at_risk["major_bleeding"]]
    ids += [int(p) for p in person[at_risk_of_all].iloc[:3]]
    written = write_patient_reports(
        root / "models",
        synth_af_complications,
        root / "patients",
        mapping_dir=root / "private",
        ids=ids,
        key=KEY,
    )
    assert len(written.pages) == len(ids) == 6
    return PanelBuilt(
        synth_af_complications,
        root / "models",
        root / "patients",
        root / "private",
        ids,
        not_at_risk,
    )


def _report(built: PanelBuilt) -> dict[str, Any]:
    return json.loads((built.out / "report.json").read_text(encoding="utf-8"))


def _mapping(built: PanelBuilt) -> pd.DataFrame:
    return pd.read_csv(built.mapping_dir / "mapping.csv", dtype=str)


def _row_of(view: CohortDataset, person_id: str, index_date: str) -> int:
    frame = view.frame
    hits = np.flatnonzero(
        (frame["person_id"].astype(str) == person_id).to_numpy()
        & (frame["index_date"].astype(str) == index_date).to_numpy()
    )
    return int(hits[0]) if len(hits) else -1


def _predicted(saved: SavedModel, X: pd.DataFrame) -> np.ndarray:
    """Each row's predicted probability at each horizon, (rows, horizons)."""
    if saved.info.competing:
        return saved.pipeline.predict_cumulative_incidence(X, 1, HORIZONS)
    return np.column_stack([saved.pipeline.predict_risk(X, h) for h in HORIZONS])


def _segment(page: str, outcome: str) -> str:
    """The HTML of one outcome's row of the panel."""
    start = page.index(f'id="panel-{outcome}"')
    ends = [page.find(f'id="panel-{o}"', start + 1) for o in OUTCOMES] + [
        page.find("</section>", start)
    ]
    return page[start : min(e for e in ends if e > start)]


def test_the_set_is_read_in_definition_order(panel_built: PanelBuilt) -> None:
    assert [m.info.outcome for m in load_model_set(panel_built.models)] == OUTCOMES
    report = _report(panel_built)
    assert [o["name"] for o in report["report"]["context"]["outcomes"]] == OUTCOMES
    assert [o["label"] for o in report["report"]["context"]["outcomes"]] == LABELS
    assert [p["outcome"] for p in report["predicts"]] == LABELS
    assert {p["quantity"] for p in report["predicts"][:3]} == {"cumulative incidence"}
    page = next(panel_built.out.glob("P-*.html")).read_text("utf-8")
    assert [page.index(f'id="panel-{o}"') for o in OUTCOMES] == sorted(
        page.index(f'id="panel-{o}"') for o in OUTCOMES
    )
    assert "cumulative incidence, death from any cause competing" in page


def test_panel_numbers_are_what_each_outcomes_model_predicts(panel_built: PanelBuilt) -> None:
    report = _report(panel_built)
    mapping = _mapping(panel_built).set_index("pseudonym")
    dataset = load_dataset(panel_built.dataset)
    checked = 0
    for name in OUTCOMES:
        saved = load_model(panel_built.models / name)
        view = dataset.for_outcome(name)
        X = check_schema(saved, view.frame, origin="test")
        cohort = _predicted(saved, X)
        for patient in report["report"]["patients"]:
            row = next(r for r in patient["panel"] if r["outcome"] == name)
            who = mapping.loc[patient["pseudonym"]]
            position = _row_of(view, who["person_id"], who["index_date"])
            if position < 0:
                assert not row["at_risk"] and row["risks"] == []
                continue
            truth = cohort[position]
            intervals = [
                saved.pipeline.predict_risk_interval(X.iloc[[position]], h) for h in HORIZONS
            ]
            page = (panel_built.out / f"{patient['pseudonym']}.html").read_text("utf-8")
            html = _segment(page, name)
            for j, risk in enumerate(row["risks"]):
                assert risk["risk"] == pytest.approx(truth[j], abs=1e-12)
                assert risk["lower_share"] == round(100 * np.mean(cohort[:, j] < truth[j]))
                assert risk["interval"] == pytest.approx(intervals[j][0].tolist(), abs=1e-9)
                assert f'<strong class="risk">{100 * truth[j]:.1f}%</strong>' in html
                low, high = intervals[j][0]
                assert f"95% interval {100 * low:.1f}%\u2013{100 * high:.1f}%" in html
                assert f"higher than {risk['lower_share']}% of those at risk" in html
            checked += 1
    assert checked >= 3 * 4 + 3  # the three persons at risk of all, and the others' other outcomes


def test_drivers_add_up_to_the_risk_less_the_reference(panel_built: PanelBuilt) -> None:
    report = _report(panel_built)
    for patient in report["report"]["patients"]:
        for row, section in zip(patient["panel"], patient["sections"], strict=True):
            if not row["at_risk"]:
                continue
            risk = row["risks"][0]["risk"]
            assert len(row["drivers"]) == 3
            total = row["reference"] + sum(d["contribution"] for d in row["drivers"]) + row["other"]
            assert total == pytest.approx(risk, abs=1e-12)
            points = sum(d["points"] for d in row["drivers"]) + row["other_points"]
            assert points == pytest.approx(
                round(100 * risk, 1) - round(100 * row["reference"], 1), abs=1e-9
            )
            # the panel's drivers are the waterfall's three largest, with its rounded points
            waterfall = section["page"]["drivers"]
            sizes = sorted((abs(d["contribution"]) for d in waterfall["drivers"]), reverse=True)
            assert [abs(d["contribution"]) for d in row["drivers"]] == sizes[:3]
            assert waterfall["risk"] == pytest.approx(risk, abs=1e-9)
            assert waterfall["reference"] == row["reference"]


def test_each_outcome_section_is_its_one_outcome_page(
    panel_built: PanelBuilt, tmp_path: Path
) -> None:
    """The one-outcome pages of the stroke model, for the persons at risk of stroke: the same
    risks, intervals, percentiles, waterfall and calibration context as the panel's section."""
    at_risk = [p for p in panel_built.ids if p not in panel_built.not_at_risk["stroke"]]
    single = write_patient_reports(
        panel_built.models / "stroke",
        panel_built.dataset,
        tmp_path / "single",
        mapping_dir=tmp_path / "private",
        ids=at_risk,
        key=KEY,
    )
    one = json.loads((single.out_dir / "report.json").read_text("utf-8"))
    pages = {p["pseudonym"]: p for p in one["report"]["patients"]}
    panel = {p["pseudonym"]: p for p in _report(panel_built)["report"]["patients"]}
    assert set(pages) <= set(panel) and len(pages) == len(at_risk)
    for name, page in pages.items():
        section = panel[name]["sections"][0]
        assert section["outcome"] == "stroke"
        assert section["page"] == {**page, "inputs": []}
        assert panel[name]["inputs"] == page["inputs"]
    assert "Panel of complications" not in single.pages[0].read_text("utf-8")


def test_rows_not_at_risk_say_so_and_show_no_number(panel_built: PanelBuilt) -> None:
    report = _report(panel_built)
    mapping = _mapping(panel_built)
    name_of = dict(zip(mapping["person_id"].astype(int), mapping["pseudonym"], strict=True))
    index = (panel_built.out / "index.html").read_text("utf-8")
    for outcome, persons in panel_built.not_at_risk.items():
        label = LABELS[OUTCOMES.index(outcome)]
        for person in persons:
            name = name_of[person]
            patient = next(p for p in report["report"]["patients"] if p["pseudonym"] == name)
            row = next(r for r in patient["panel"] if r["outcome"] == outcome)
            assert not row["at_risk"]
            assert row["not_at_risk"] == f"not at risk: a record of {label} before the time at risk"
            assert row["risks"] == [] and row["drivers"] == [] and row["reference"] is None
            section = next(s for s in patient["sections"] if s["outcome"] == outcome)
            assert section["page"] is None
            page = (panel_built.out / f"{name}.html").read_text("utf-8")
            html = _segment(page, outcome)
            assert f"Not at risk: a record of {label} before the time at risk." in html
            assert "%" not in html
            start = page.index(f'<section id="outcome-{outcome}"')
            part = page[start : page.index("</section>", start)]
            assert "%" not in part and "<svg" not in part and "Not at risk" in part
            line = re.search(rf'href="{name}\.html".*?</tr>', index, re.DOTALL)
            assert line is not None
            cells = re.findall(r'<td class="num">(.*?)</td>', line.group(0))
            assert "not at risk" in cells[OUTCOMES.index(outcome)]


def test_index_lists_each_outcomes_first_horizon_risk(panel_built: PanelBuilt) -> None:
    report = _report(panel_built)
    index = (panel_built.out / "index.html").read_text("utf-8")
    listed = re.findall(r'href="([^"]+)\.html"', index)
    assert listed == sorted(p.stem for p in panel_built.out.glob("P-*.html"))
    for patient in report["report"]["patients"]:
        line = re.search(rf'href="{patient["pseudonym"]}\.html".*?</tr>', index, re.DOTALL)
        assert line is not None
        cells = re.findall(r'<td class="num">(.*?)</td>', line.group(0))
        assert len(cells) == len(OUTCOMES)
        for cell, row in zip(cells, patient["panel"], strict=True):
            if row["at_risk"]:
                assert cell == f"{100 * row['risks'][0]['risk']:.1f}%"


def _interval(value: Any) -> str:
    return f"{value.estimate:.2f} ({value.lower:.2f} to {value.upper:.2f})"


def _page_of(built: PanelBuilt, person: int) -> Path:
    mapping = _mapping(built)
    name = mapping.loc[mapping["person_id"] == str(person), "pseudonym"].iloc[0]
    return built.out / f"{name}.html"


def test_verdict_line_is_the_verdict_on_each_model(panel_built: PanelBuilt) -> None:
    page = _page_of(panel_built, panel_built.ids[-1]).read_text("utf-8")  # at risk of all
    for name in OUTCOMES:
        verdict = workflow.verdict(panel_built.models / name)
        html = _segment(page, name)
        assert verdict.validated
        line = re.search(r'<p class="verdict-line">(.*?)</p>', html, re.DOTALL)
        assert line is not None
        text = line.group(1)
        assert "(validated, out-of-sample)" in text
        assert f"Harrell's C {_interval(verdict.harrell_c)}" in text
        assert f"calibration slope at 1 year {_interval(verdict.slope)}" in text
        alerts = re.findall(r'<p class="verdict-warning" role="alert">(.*?)</p>', html, re.DOTALL)
        assert [a.split("</strong> ", 1)[1] for a in alerts] == [
            f"{w.message}." for w in verdict.warnings
        ]
        assert ("No warning." in text) == (not verdict.warnings)
    assert any(workflow.verdict(panel_built.models / n).warnings for n in OUTCOMES)
    summary = page[page.index('<ul class="verdict-summary">') : page.index('<section id="panel"')]
    for name, label in zip(OUTCOMES, LABELS, strict=True):
        verdict = workflow.verdict(panel_built.models / name)
        item = re.search(rf'<li><a href="#panel-{name}">(.*?)</li>', summary, re.DOTALL)
        assert item is not None and label[1:] in item.group(1)
        assert f"Harrell's C {verdict.harrell_c.estimate:.2f}" in item.group(1)
        count = len(verdict.warnings)
        expected = f"⚠ {count} warning{'s' if count > 1 else ''}" if count else "no warning"
        assert expected in item.group(1)
    assert page.index('id="verdicts"') < page.index('id="panel"')


def test_no_count_under_five_and_no_identifier(panel_built: PanelBuilt) -> None:
    mapping = _mapping(panel_built)
    rows_at_risk = [load_model(panel_built.models / n).info.training_rows for n in OUTCOMES]
    total = len(load_dataset(panel_built.dataset).frame)
    files = [*panel_built.out.glob("*.html"), panel_built.out / "report.json"]
    for path in files:
        text = path.read_text("utf-8")
        for n in re.findall(r"n = ([^)\s]+)", text):
            assert n in ("\\u003c5", "&lt;5", "hidden") or int(n.replace(",", "")) >= 5, path.name
        for person, date in zip(mapping["person_id"], mapping["index_date"], strict=True):
            assert person not in text and date not in text, path.name
        for n in set(rows_at_risk) - {total}:  # one outcome's persons at risk: never shown
            assert f"{n:,}" not in text and f" {n} " not in text, path.name
    assert f"({total:,} persons" in (panel_built.out / "index.html").read_text("utf-8")


def test_outcomes_whose_numbers_at_risk_give_away_a_small_count_are_flagged() -> None:
    assert exposed_outcomes(1000, {"a": 1000, "b": 997, "c": 900}) == {"a", "b"}  # 1000 - 997
    assert exposed_outcomes(1000, {"a": 1000, "b": 990, "c": 900}) == set()
    assert exposed_outcomes(1000, {"a": 996, "b": 1000}) == {"a", "b"}


def test_report_json_holds_every_outcome_and_no_charts(panel_built: PanelBuilt) -> None:
    report = _report(panel_built)
    assert report["kind"] == "patients"
    for patient in report["report"]["patients"]:
        assert [r["outcome"] for r in patient["panel"]] == OUTCOMES
        assert patient["inputs"]
        for section in patient["sections"]:
            if section["page"] is not None:
                assert section["page"]["inputs"] == []
                assert "curve" not in section["page"] and "waterfall" not in section["page"]
    assert "<svg" not in (panel_built.out / "report.json").read_text("utf-8")


def test_cli_writes_the_panel_pages_and_fails_cleanly(
    panel_built: PanelBuilt, synth_af_stroke: Path, tmp_path: Path
) -> None:
    out, private = tmp_path / "patients", tmp_path / "private"
    args = ["report", "patients", str(panel_built.models), str(panel_built.dataset)]
    ids = ",".join(str(p) for p in panel_built.ids[:3])
    result = CliRunner().invoke(
        main, [*args, "--out", str(out), "--ids", ids, "--mapping-dir", str(private)]
    )
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("P-*.html"))) == 3
    assert "3 patient reports" in result.output
    assert "Panel of complications" in next(out.glob("P-*.html")).read_text("utf-8")
    stderr = " ".join(result.stderr.split())
    for name in OUTCOMES:  # each model's warnings, named by its outcome
        verdict = workflow.verdict(panel_built.models / name)
        for warning in verdict.warnings:
            assert f"{verdict.outcome}: WARNING: {warning.message}" in stderr
    missing = tmp_path / "no_such_models"
    bad = [
        "report",
        "patients",
        str(missing),
        str(panel_built.dataset),
        "--out",
        str(tmp_path / "x"),
    ]
    result = CliRunner().invoke(main, [*bad, "--mapping-dir", str(private)])
    assert result.exit_code == 1
    assert str(missing) in result.output and "Traceback" not in result.output
    bad = [
        "report",
        "patients",
        str(panel_built.models),
        str(missing),
        "--out",
        str(tmp_path / "y"),
    ]
    result = CliRunner().invoke(main, [*bad, "--mapping-dir", str(private)])
    assert result.exit_code == 1
    assert str(missing) in result.output and "Traceback" not in result.output
    # a dataset of one outcome (synth_af_stroke.yaml) for the folder of models
    one = ["report", "patients", str(panel_built.models), str(synth_af_stroke)]
    mapping = ["--mapping-dir", str(tmp_path / "private_z")]
    result = CliRunner().invoke(main, [*one, "--out", str(tmp_path / "z"), *mapping])
    assert result.exit_code == 1 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert "does not have (it has one outcome (outcome:))" in message
    assert "give the dataset of several outcomes the models were fitted on" in message
    assert not (tmp_path / "z").exists() or not any((tmp_path / "z").iterdir())
    assert not (tmp_path / "private_z").exists()  # nothing made before the inputs are checked


LAYOUT = (Path(__file__).parent / "layout.js").read_text(encoding="utf-8")
WIDE_TABLES = """() => [...document.querySelectorAll('.table-wrap')]
    .filter(w => w.scrollWidth > w.clientWidth + 1)
    .map(w => (w.closest('section') || {}).id || w.className)"""
PANEL = """() => [...document.querySelectorAll('#panel .panel-row')].map(r => ({
    label: r.querySelector('h3').innerText.trim(),
    notAtRisk: r.classList.contains('not-at-risk-row'),
    alerts: r.querySelectorAll('[role=alert]').length,
    width: r.getBoundingClientRect().width }))"""


@pytest.mark.parametrize("width", [1280, 390])
def test_panel_pages_open_offline_and_fit_the_window(
    panel_built: PanelBuilt, browser: Browser, tmp_path: Path, width: int
) -> None:
    pages = [
        panel_built.out / "index.html",
        _page_of(panel_built, panel_built.not_at_risk["stroke"][0]),
    ]
    pages.append(next(p for p in sorted(panel_built.out.glob("P-*.html")) if p not in pages))
    for path in pages:
        visit = browser.visit(path, screenshot=tmp_path / f"{path.stem}-{width}.png", width=width)
        assert visit.network_requests == [] and visit.console_errors == [] and not visit.page_errors
        assert visit.scroll_width <= width, f"{path.name} is {visit.scroll_width}px wide"
        assert browser.evaluate(path, LAYOUT, width=width)["problems"] == [], path.name
        if width == 1280:
            assert browser.evaluate(path, WIDE_TABLES, width=width) == [], path.name
    rows = browser.evaluate(pages[1], PANEL, width=width)
    assert [r["label"] for r in rows] == [label[0].upper() + label[1:] for label in LABELS]
    assert rows[0]["notAtRisk"] and not rows[3]["notAtRisk"]
    assert all(r["width"] <= width for r in rows)
