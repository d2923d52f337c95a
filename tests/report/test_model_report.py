"""The model report's content, built on the purpose-built cohort (tests/report/cohort_data.py)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest

from prognosis.artifacts import AttritionStep, EvaluatedOn, MetricsFile
from prognosis.dataset import CohortDataset, load_dataset
from prognosis.exceptions import PrognosisError
from prognosis.models.store import load_model
from prognosis.report import model_report, svg
from prognosis.report.render import render_page
from prognosis.report.shap_drivers import Unavailable
from tests.report.conftest import Built, CompetingBuilt


def _html(built: Built) -> str:
    return built.model_report.read_text(encoding="utf-8")


def test_stored_out_of_fold_metrics_are_shown_with_intervals(built: Built) -> None:
    saved = load_model(built.model)
    metrics = built.report.metrics
    assert metrics is not None
    assert metrics.origin == (
        "3-fold cross-validation by person (out-of-fold predictions) on the training cohort"
    )
    assert saved.metrics.results is not None
    c = saved.metrics.results.harrell_c
    shown = f"{c.estimate:.3f} ({c.lower:.3f} to {c.upper:.3f})"
    assert shown in _html(built)
    assert [panel.horizon for panel in metrics.panels] == ["180 days", "1 year"]


def test_definition_attrition_and_summary_are_described(built: Built) -> None:
    html = _html(built)
    assert "Persons enter the cohort on the first ever record of test drug A or B" in html
    assert "from day 1 to day 730 after index" in html
    assert "outcome &lt;b&gt;test bleed&lt;/b&gt; within two years" in html  # escaped
    assert [row.persons for row in built.report.attrition][-1] == "240"
    assert dict(built.report.summary)["Persons in this dataset"] == "240"


def test_number_at_risk_counts_persons_still_followed(built: Built) -> None:
    frame = pd.read_parquet(built.dataset / "dataset.parquet")
    curves = built.report.curves
    times = [float(t) for t in curves.at_risk_times]
    name, counts = curves.at_risk[0]
    assert name == "All persons"
    assert counts == [f"{int((frame['time'] >= t).sum()):,}" for t in times]


def test_provenance_lists_the_model_files_and_their_hashes(built: Built) -> None:
    manifest = json.loads((built.model / "manifest.json").read_text(encoding="utf-8"))
    assert dict(built.report.provenance.model_files) == manifest["files"]
    assert ("Same rows as training", "yes") in built.report.provenance.facts


def test_provenance_gives_the_fitted_hyperparameters_and_tripod_the_missing_data_handling(
    built: Built,
) -> None:
    # fitted with default settings: the facts show what those defaults were, not "{}"
    settings = dict(built.report.provenance.facts)["Model family and settings"]
    assert settings.startswith("cox {") and '"penalizer": 0.0' in settings
    items = {item.topic: item for item in built.report.tripod}
    assert any("imputes the training median" in line for line in items["Missing data"].known)


def test_tripod_words_missing_data_for_the_family_fitted() -> None:
    from prognosis.report.tripod import _missing_handling

    assert "without imputation" in _missing_handling("xgb-cox")
    assert "without imputation" in _missing_handling("xgb-aft")
    assert "imputes the training median" in _missing_handling("rsf")


def test_tripod_marks_what_the_authors_must_add(built: Built) -> None:
    items = {item.topic: item for item in built.report.tripod}
    assert items["Sample size and events"].known[0].startswith("240 persons, ")
    assert items["Ethics, funding and conflicts of interest"].todo
    assert items["Missing data"].todo is None
    assert _html(built).count("To be completed by the authors") >= 10


def test_sections_without_data_say_so(built: Built) -> None:
    report = dataclasses.replace(
        built.report,
        shap=Unavailable("no explainer for this model"),
        metrics=None,
        metrics_missing="the model was fit without validation",
    )
    html = render_page("model.html.jinja2", report=report, title=report.title)
    assert "Explanations unavailable: no explainer for this model." in html
    assert "No performance figures: the model was fit without validation." in html


def test_another_dataset_is_evaluated_and_given_metrics_win(built: Built, tmp_path: Path) -> None:
    saved = load_model(built.model)
    other = tmp_path / "other"
    shutil.copytree(built.dataset, other)
    frame = pd.read_parquet(other / "dataset.parquet").iloc[:200]
    frame.to_parquet(other / "dataset.parquet", index=False)
    dataset = load_dataset(other)
    measured, origin = model_report._metrics(saved, dataset, None, n_boot=5, seed=0)
    assert origin.startswith("the saved model evaluated on this dataset")
    assert measured is not None and measured.n_test == 200
    evaluated = MetricsFile(evaluated=EvaluatedOn("cox", "site B", None), results=measured)
    given, origin = model_report._metrics(saved, dataset, evaluated, 5, 0)
    assert (given, origin) == (measured, "from prognosis evaluate on site B")


def test_competing_events_give_cumulative_incidence_curves(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "time": rng.integers(1, 400, 60),
            "event": rng.choice([0, 1, 2], 60, p=[0.5, 0.3, 0.2]),
        }
    )
    dataset = CohortDataset(tmp_path, frame)
    curves = model_report._curves(dataset, rng.random(60), 365.0)
    assert "Aalen-Johansen" in curves.caption
    assert curves.at_risk[0][0] == "All persons"


def test_unknown_metrics_file_is_an_error(built: Built, tmp_path: Path) -> None:
    with pytest.raises(PrognosisError, match=r"none\.json: cannot read .*prognosis evaluate"):
        model_report.write_model_report(
            built.model, built.dataset, tmp_path, metrics_path=tmp_path / "none.json"
        )


def test_the_auc_chart_is_drawn_for_several_horizons_only(built: Built) -> None:
    from prognosis.models.store import load_model
    from prognosis.report.model_report import _metric_section

    metrics = load_model(built.model).metrics.results
    assert metrics is not None and len(metrics.horizons) > 1
    assert _metric_section(metrics, "test").auc is not None
    one = dataclasses.replace(metrics, horizons=metrics.horizons[:1])
    assert _metric_section(one, "test").auc is None  # the table gives its one AUC


def test_table_one_shows_the_standardized_difference_of_each_characteristic(built: Built) -> None:
    frame = pd.read_parquet(built.dataset / "dataset.parquet")
    saved = load_model(built.model)
    html = _html(built)
    assert "SMD<br>outcome vs<br>no event (censored)" in html
    rows = {row.label: row for row in built.report.table1.rows}
    checked = 0
    for feature in saved.features:
        values = frame[feature.name].astype(float)
        one, none = values[frame["event"] == 1].dropna(), values[frame["event"] == 0].dropna()
        row = rows[feature.label or feature.name]
        if row.smd == "hidden" or min(len(one), len(none)) < 5:
            continue
        if set(values.dropna().unique()) <= {0.0, 1.0}:
            p, q = one.mean(), none.mean()
            expected = (p - q) / np.sqrt((p * (1 - p) + q * (1 - q)) / 2)
        else:
            expected = (one.mean() - none.mean()) / np.sqrt((one.var() + none.var()) / 2)
        assert row.smd == f"{expected:+.2f}", row.label
        assert f'<td class="num">{row.smd}</td></tr>' in html
        checked += 1
    assert checked >= 2


def _flow_boxes(flow: str) -> list[list[str]]:
    """The texts of each box of a flow diagram, top to bottom (side boxes after their arrow)."""
    root = ElementTree.fromstring(flow)
    return [[t.text or "" for t in box.iter("text")] for box in root.iter("g")]


def test_attrition_flow_has_one_box_per_step_and_the_exclusions_beside_it(built: Built) -> None:
    rows = built.report.attrition
    flow = str(built.report.attrition_flow)
    assert flow in _html(built)
    boxes = _flow_boxes(flow)
    main = [box for box in boxes if box[0] != "Persons excluded"]
    side = [box for box in boxes if box[0] == "Persons excluded"]
    assert [box[-1] for box in main] == [f"{row.persons} persons" for row in rows]
    assert [box[-1] for box in side] == [row.dropped for row in rows[1:]]
    assert " ".join(main[0][:-1]) == rows[0].description
    view = ElementTree.fromstring(flow).get("viewBox").split()
    assert float(view[2]) <= 390  # drawn for a phone's width, and scaled to its container


def test_attrition_flow_is_protected_and_escaped_exactly_as_the_table() -> None:
    steps = [
        AttritionStep("index_events", "Index events: <b>drug</b> & more", 2630, 2630, 0, 0),
        AttritionStep("prior", "At least 365 days of prior observation", 2627, 2627, 3, 3),
    ]
    rows = model_report.attrition_rows(steps)
    flow = str(model_report.attrition_flow(rows))
    assert "&lt;b&gt;drug&lt;/b&gt; &amp; more" in flow and "<b>" not in flow
    texts = [text for box in _flow_boxes(flow) for text in box]
    assert "hidden persons" in texts and "<5" in texts  # as the table: 2,630 hidden, 3 as <5
    assert (rows[0].persons, rows[1].dropped) == ("hidden", "<5")
    assert not any("2,630" in text or text == "3" for text in texts)
    assert model_report.attrition_flow([]) is None


def _aalen_johansen(event: np.ndarray, time: np.ndarray, cause: int, horizon: float) -> float:
    """By hand: the sum over event times t <= horizon of S(t-) d_cause(t) / n(t), with S the
    Kaplan-Meier survival from any event."""
    survival, total = 1.0, 0.0
    for t in np.unique(time[(time <= horizon) & (event > 0)]):
        at_risk = np.sum(time >= t)
        total += survival * np.sum((time == t) & (event == cause)) / at_risk
        survival *= 1 - np.sum((time == t) & (event > 0)) / at_risk
    return total


def test_competing_report_shows_the_observed_incidence_of_every_cause(
    competing_built: CompetingBuilt,
) -> None:
    frame = pd.read_parquet(competing_built.dataset / "dataset.parquet")
    event, time = frame["event"].to_numpy(), frame["time"].to_numpy(float)
    incidence = competing_built.report.incidence
    assert incidence is not None
    assert incidence.horizons == ["1 year", "3 years"]
    rows = dict(incidence.rows)
    assert list(rows) == ["stroke (outcome)", "death (competing event)"]
    for name, cause in (("stroke (outcome)", 1), ("death (competing event)", 2)):
        for text, horizon in zip(rows[name], (365.0, 1095.0), strict=True):
            estimate, lower, upper = (float(v) for v in re.findall(r"([\d.]+)%", text))
            assert estimate == pytest.approx(
                100 * _aalen_johansen(event, time, cause, horizon), abs=0.051
            )
            assert lower < estimate < upper
    html = competing_built.model_report.read_text(encoding="utf-8")
    assert "Cumulative incidence of each cause" in html
    assert "Cumulative incidence (Aalen-Johansen)</text>" in html  # the whole axis label
    assert f'<td>stroke (outcome)</td><td class="num">{rows["stroke (outcome)"][0]}' in html


def test_single_event_report_has_no_cause_section(built: Built) -> None:
    assert built.report.incidence is None
    assert "Cumulative incidence of each cause" not in _html(built)


def test_attrition_flow_wraps_long_descriptions_into_three_lines_at_most() -> None:
    long = "no record of " + "a very long concept name " * 8
    flow = str(
        svg.attrition_flow_svg([svg.FlowStep(long, "1,234"), svg.FlowStep("b", "1,000", "234")])
    )
    first = _flow_boxes(flow)[0]
    assert len(first) == 4 and first[2].endswith("\u2026") and first[3] == "1,234 persons"
    assert all(len(line) <= 32 for line in first[:3])
