"""The model report's content, built on the purpose-built cohort (tests/report/cohort_data.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from prognosis.artifacts import AttritionStep, EvaluatedOn, MetricsFile
from prognosis.dataset import CohortDataset, load_dataset
from prognosis.evaluation.validation import parse_split
from prognosis.exceptions import ModelDirectoryError, PrognosisError
from prognosis.models.store import load_model, save_model
from prognosis.report import model_report, svg
from prognosis.report.render import render_page
from prognosis.report.shap_drivers import Unavailable
from prognosis.training import fit_model
from tests.report.conftest import Built, CompetingBuilt
from tests.report.linear_audit import System, exposed
from tests.support.planted import planted_survival


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
    predictions = model_report.CurvePredictions(
        np.arange(60), rng.random(60), 365.0, "out-of-sample (external)", "test predictions"
    )
    curves = model_report._curves(dataset, predictions)
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


# -- which predictions the observed-risk curves are cut on --------------------------------------
NOISE = [f"noise_{k}" for k in range(8)]


def _planted_dataset(folder: Path, *, beta: dict[str, float], n: int = 600, seed: int = 0) -> Path:
    """A dataset folder of planted exponential times (baseline hazard 1/900 per day, censoring
    uniform from day 100 to 1500, whole days) with eight standard normal features; its
    manifest records the hash of dataset.parquet, as ``prognosis cohort build`` writes it."""
    rng = np.random.default_rng(seed)
    data = planted_survival(
        n,
        seed=rng,
        features=dict.fromkeys(NOISE, "normal"),
        beta=beta,
        base_hazard=1 / 900,
        censor_between=(100.0, 1500.0),
        whole_days=True,
    )
    start = dt.date(2014, 1, 1)
    frame = data.frame(
        person_id=np.arange(1, n + 1),
        index_date=[start + dt.timedelta(days=int(d)) for d in rng.integers(0, 4 * 365, n)],
        censor_reason=np.where(data.event == 1, None, "end_of_observation"),
    )
    frame = frame[["person_id", "index_date", "time", "event", "censor_reason", *NOISE]]
    folder.mkdir(parents=True)
    frame.astype({"time": int}).to_parquet(folder / "dataset.parquet", index=False)
    digest = hashlib.sha256((folder / "dataset.parquet").read_bytes()).hexdigest()
    (folder / "features.json").write_text("[]", encoding="utf-8")
    manifest = {"cohort": "planted", "source": "planted", "files": {"dataset.parquet": digest}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@dataclasses.dataclass(frozen=True)
class _Fitted:
    dataset: CohortDataset
    model: Path
    report: model_report.ModelReport


def _fit_and_report(root: Path, split: str, beta: dict[str, float]) -> _Fitted:
    dataset = load_dataset(_planted_dataset(root / "dataset", beta=beta))
    saved = fit_model(dataset, "cox", [365, 730], parse_split(split), seed=0, n_boot=5)
    save_model(root / "model", saved)
    report = model_report.build_model_report(root / "model", dataset, n_boot=5)
    return _Fitted(dataset, root / "model", report)


@pytest.fixture(scope="module")
def no_signal(tmp_path_factory: pytest.TempPathFactory) -> _Fitted:
    """Eight features independent of the event times, a Cox model validated by 5-fold CV."""
    return _fit_and_report(tmp_path_factory.mktemp("no_signal"), "cv", {})


def _km(frame: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """1 - Kaplan-Meier by lifelines, read at ``times``."""
    fitter = KaplanMeierFitter().fit(frame["time"], frame["event"] == 1)
    return 1.0 - fitter.survival_function_at_times(times).to_numpy()


def test_curves_are_cut_on_the_saved_out_of_fold_predictions(no_signal: _Fitted) -> None:
    validation = load_model(no_signal.model).validation
    curves = no_signal.report.curves
    assert curves.predictions == "validation (out-of-fold) predictions"
    assert "cut on validation (out-of-fold) predictions" in curves.caption
    np.testing.assert_array_equal(curves.rows, np.arange(len(no_signal.dataset.frame)))
    # thirds of the saved out-of-fold risk at the first horizon, cut here by pandas
    thirds = pd.qcut(validation.risk_at(365.0), 3, labels=False)
    np.testing.assert_array_equal(curves.third, thirds)
    # each third's curve is lifelines' Kaplan-Meier on those rows
    frame = no_signal.dataset.frame
    for k, curve in enumerate(curves.observed[1:]):
        np.testing.assert_allclose(curve.estimate, _km(frame[thirds == k], curve.times), atol=1e-12)
    html = render_page("model.html.jinja2", report=no_signal.report, title="t")
    assert "Thirds of predicted risk from: <strong>validation (out-of-fold) predictions" in html


def test_a_model_without_signal_shows_overlapping_thirds(no_signal: _Fitted) -> None:
    saved = load_model(no_signal.model)
    assert saved.metrics.results.harrell_c.estimate < 0.56  # planted: no signal at all
    curves = no_signal.report.curves.observed
    assert [c.label.split(" (")[0] for c in curves[1:]] == [
        "Lowest third of predicted risk",
        "Middle third of predicted risk",
        "Highest third of predicted risk",
    ]
    for day in (365.0, 730.0):
        at = [np.searchsorted(c.times, day, side="right") - 1 for c in curves[1:]]
        lowers = [c.lower[j] for c, j in zip(curves[1:], at, strict=True)]
        uppers = [c.upper[j] for c, j in zip(curves[1:], at, strict=True)]
        assert max(lowers) < min(uppers), (day, lowers, uppers)  # every pair of intervals meets


def test_without_validation_the_curves_are_labelled_apparent(tmp_path: Path) -> None:
    fitted = _fit_and_report(tmp_path, "none", {"noise_0": 0.8})
    saved = load_model(fitted.model)
    curves = fitted.report.curves
    assert saved.validation is None
    assert curves.predictions == "apparent (in-sample)"
    assert "cut on apparent (in-sample) predictions of the saved model" in curves.caption
    risk = saved.pipeline.predict_risk(fitted.dataset.X, 365.0)
    np.testing.assert_array_equal(curves.third, pd.qcut(risk, 3, labels=False))
    html = render_page("model.html.jinja2", report=fitted.report, title="t")
    assert "Thirds of predicted risk from: <strong>apparent (in-sample)</strong>" in html


def test_another_dataset_gives_out_of_sample_curves(no_signal: _Fitted, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(no_signal.dataset.path, other)
    frame = pd.read_parquet(other / "dataset.parquet").iloc[100:]
    frame.to_parquet(other / "dataset.parquet", index=False)
    dataset = load_dataset(other)
    saved = load_model(no_signal.model)
    found = model_report.curve_predictions(saved, dataset, dataset.X, origin=no_signal.model)
    assert found.kind == "out-of-sample (external)"
    np.testing.assert_allclose(found.risk, saved.pipeline.predict_risk(dataset.X, 365.0))


def test_a_temporal_split_draws_the_test_rows_only(tmp_path: Path) -> None:
    fitted = _fit_and_report(tmp_path, "temporal:2016-01-01", {"noise_0": 0.8})
    frame = fitted.dataset.frame
    tested = np.flatnonzero(pd.to_datetime(frame["index_date"]) >= "2016-01-01")
    curves = fitted.report.curves
    assert curves.predictions == "temporal test rows"
    assert "persons first indexed on or after 2016-01-01" in curves.caption
    np.testing.assert_array_equal(curves.rows, tested)
    name, counts = curves.at_risk[0]
    assert name == "All test persons"
    followed = frame["time"].iloc[tested].to_numpy()
    expected = [f"{int((followed >= float(t)).sum()):,}" for t in curves.at_risk_times]
    # a thin tail (1 or 2 persons followed past four years) hides much of this table
    assert all(text in (hand, "<5", "hidden") for text, hand in zip(counts, expected, strict=True))
    validation = load_model(fitted.model).validation
    np.testing.assert_array_equal(validation.row, tested)
    np.testing.assert_array_equal(curves.third, pd.qcut(validation.risk_at(365.0), 3, labels=False))


def test_validation_rows_that_are_not_the_datasets_are_refused(no_signal: _Fitted) -> None:
    saved = load_model(no_signal.model)
    saved.validation = dataclasses.replace(saved.validation, time=saved.validation.time + 1)
    dataset = no_signal.dataset
    with pytest.raises(
        ModelDirectoryError, match=r"validation_predictions\.parquet: its rows are not those of"
    ):
        model_report.curve_predictions(saved, dataset, dataset.X, origin=no_signal.model)


# -- the summary's outcome events by horizon -------------------------------------------------------
def test_summary_counts_outcome_events_within_each_horizon(built: Built) -> None:
    frame = pd.read_parquet(built.dataset / "dataset.parquet")
    outcome = frame["event"] == 1
    summary = dict(built.report.summary)
    within = {h: int((outcome & (frame["time"] <= h)).sum()) for h in (180, 365)}
    assert min(within.values()) >= 5 and within[365] - within[180] >= 5  # all shown
    assert summary["Outcome events within 180 days"] == f"{within[180]:,}"
    assert summary["Outcome events within 1 year"] == f"{within[365]:,}"
    longest = frame["time"].max()
    assert summary[f"Outcome events in all follow-up (up to {longest:g} days)"] == (
        f"{int(outcome.sum()):,}"
    )


@pytest.mark.parametrize(
    "days",
    [
        [100] * 20 + [300] * 2 + [500] * 18,  # 2 between the horizons
        [100] * 3 + [300] * 30 + [500] * 7,  # 3 within the first
        [100] * 20 + [300] * 16 + [500] * 4,  # 4 after the last
    ],
)
def test_outcome_events_by_horizon_leave_no_small_count_solvable(days: list[int]) -> None:
    time = np.array([*days, *[600] * 60])
    event = np.array([1] * len(days) + [0] * 60)
    frame = pd.DataFrame({"time": time, "event": event})
    total = f"{len(days):,}"
    shown = dict(model_report.outcome_events(frame, [180.0, 365.0], total))
    system = System()
    system.read("h0", shown["Outcome events within 180 days"])
    system.read("h1", shown["Outcome events within 1 year"])
    system.read("all", shown["Outcome events in all follow-up (up to 600 days)"])
    system.sum_of("h1", ["h0", "between"])
    system.sum_of("all", ["h1", "after"])
    truth = {
        "h0": int(np.sum(event[time <= 180])),
        "between": int(np.sum(event[(time > 180) & (time <= 365)])),
        "after": int(np.sum(event[time > 365])),
    }
    truth["h1"] = truth["h0"] + truth["between"]
    assert exposed(system, truth) == []
    assert "<5" in shown.values() or "hidden" in shown.values()


def test_the_subgroups_section_shows_the_stored_validation_by_group(built: Built) -> None:
    html = _html(built)
    assert '<a href="#subgroups">Subgroups</a>' in html and '<section id="subgroups">' in html
    section = built.report.subgroups
    assert section is not None and section.kind == "Validation"
    assert section.horizons == ["180 days", "1 year"]
    stored = load_model(built.model).metrics.results.subgroups
    assert [(row.variable, row.group) for row in section.rows] == [
        (s.variable, s.group) for s in stored
    ]
    for entry in stored:
        if entry.harrell_c is not None:
            c = entry.harrell_c
            assert f"{c.estimate:.3f} ({c.lower:.3f} to {c.upper:.3f})" in html
    items = {item.topic: item for item in built.report.tripod}
    assert items["Fairness and subgroups"].known[0].startswith("Performance by Sex, ")


def test_subgroups_of_another_dataset_equal_scikit_survival_on_the_groups_rows(
    built: Built, tmp_path: Path
) -> None:
    from sksurv.metrics import concordance_index_censored

    other = tmp_path / "other"
    shutil.copytree(built.dataset, other)
    frame = pd.read_parquet(other / "dataset.parquet").iloc[:200]  # not the training rows
    frame.to_parquet(other / "dataset.parquet", index=False)
    dataset = load_dataset(other)
    saved = load_model(built.model)
    measured, origin = model_report._metrics(saved, dataset, None, n_boot=5, seed=0)
    assert origin.startswith("the saved model evaluated on this dataset")
    section = model_report._subgroup_section(measured, origin)
    frame = dataset.frame
    risk = saved.pipeline.predict(dataset.X)
    by_group = {(row.variable, row.group): row for row in section.rows}
    for group, rows in (("female", frame["sex_male"] == 0), ("male", frame["sex_male"] == 1)):
        rows = rows.to_numpy()
        event, time = (frame["event"] == 1).to_numpy()[rows], frame["time"].to_numpy()[rows]
        expected = concordance_index_censored(event, time, risk[rows])[0]
        row = by_group[("Sex", group)]
        assert row.harrell_c.estimate == pytest.approx(expected, abs=1e-12)
        assert row.n == f"{rows.sum():,}"


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


def test_the_verdict_names_the_quantity_a_competing_risk_model_predicts(
    competing_built: CompetingBuilt,
) -> None:
    html = competing_built.model_report.read_text(encoding="utf-8")
    verdict = html[html.index('id="verdict"') : html.index('id="summary"')]
    assert "The cumulative incidence of " in verdict and "The risk of " not in verdict
