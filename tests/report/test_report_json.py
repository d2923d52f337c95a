"""report.json beside each report: its numbers recomputed from outside the report code.

The observed-risk curves are recomputed with lifelines' Kaplan-Meier estimator on each group's
rows, the metrics read straight from the model's metrics.json, each patient's calibration group
found by hand in that file's table, and the counts compared with the cells of the HTML tables.
"""

from __future__ import annotations

import dataclasses
import json
import re
import stat
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from markupsafe import Markup, escape

from prognosis.artifacts import EvaluatedOn, MetricsFile, read_metrics
from prognosis.dataset import load_dataset
from prognosis.models.store import load_model
from prognosis.report import ModelReport, write_model_report
from prognosis.report.calibration_context import (
    CalibrationContext,
    NoCalibrationContext,
    ValidationCalibration,
)
from prognosis.report.charts import Chart
from prognosis.report.patient_report import Context, HorizonRisk, PatientPage, _context
from prognosis.report.pseudonyms import pseudonym
from prognosis.report.render import render_page
from prognosis.report.report_json import EXCLUDED, FORMAT, report_data
from prognosis.report.shap_drivers import Unavailable
from prognosis.training import check_schema
from tests.report.cohort_data import (
    DISTINCT_BIRTH,
    DISTINCT_PERSON,
    DISTINCT_SOURCE,
    HORIZONS,
    RARE_NAME,
    SCRIPT_NAME,
)
from tests.report.conftest import KEY, Built


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"report.json holds {name}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def model_folder(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model_report") / "report"
    write_model_report(built.model, built.dataset, out)
    return out


@pytest.fixture(scope="module")
def model_json(model_folder: Path) -> dict[str, Any]:
    return _strict((model_folder / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def patients_json(built: Built) -> dict[str, Any]:
    return _strict((built.patients / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def metrics_file(built: Built) -> dict[str, Any]:
    """The model's metrics.json as plain JSON: the truth the report must repeat."""
    return json.loads((built.model / "metrics.json").read_text(encoding="utf-8"))


class _Cells(HTMLParser):
    """The text of every table cell of one section of a page, row by row."""

    def __init__(self, section: str) -> None:
        super().__init__()
        self.section, self.inside, self.depth = section, False, 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.depth += 1
            if ("id", self.section) in attrs:
                self.inside, self.depth = True, 1
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.depth -= 1
            self.inside = self.inside and self.depth > 0
        elif tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _cells(page: Path, section: str) -> list[list[str]]:
    parser = _Cells(section)
    parser.feed(page.read_text(encoding="utf-8"))
    return [row for row in parser.rows if row]


# -- the document --------------------------------------------------------------------------------
def test_both_documents_are_versioned_and_say_what_the_model_predicts(
    model_json: dict[str, Any], patients_json: dict[str, Any]
) -> None:
    for document, kind in ((model_json, "model"), (patients_json, "patients")):
        assert (document["format"], document["kind"]) == (FORMAT, kind)
        what = document["predicts"]
        assert what["model"] == "cox" and what["cohort"] == "report_test"
        assert what["outcome"] == "bleed" and "test drug A or B" in what["entry"]
        assert what["quantity"] == "risk"
        assert what["horizons_days"] == list(HORIZONS)
        assert what["horizons"] == ["180 days", "1 year"]


def test_report_json_lies_beside_the_page_with_its_permissions(
    model_folder: Path, built: Built
) -> None:
    for folder in (model_folder, built.patients):
        page, numbers = folder / "index.html", folder / "report.json"
        assert stat.S_IMODE(numbers.stat().st_mode) == stat.S_IMODE(page.stat().st_mode)
    assert not list(model_folder.glob(".report.json.tmp-*"))


def test_every_model_report_field_is_written_or_explicitly_excluded(
    built: Built, model_json: dict[str, Any]
) -> None:
    fields = {spec.name for spec in dataclasses.fields(ModelReport)}
    assert set(model_json["report"]) == fields - EXCLUDED["ModelReport"]
    assert EXCLUDED["ModelReport"] <= fields  # no stale exclusion

    def walk(value: Any, data: Any, where: str) -> None:  # nested sections too
        if dataclasses.is_dataclass(value) and type(value).__module__.startswith(
            "prognosis.report"
        ):
            for spec in dataclasses.fields(value):
                item = getattr(value, spec.name)
                if isinstance(item, Chart | Markup) or spec.name in EXCLUDED.get(
                    type(value).__name__, ()
                ):
                    assert spec.name not in data, f"{where}.{spec.name}"
                    continue
                assert spec.name in data, f"{where}.{spec.name} is missing from report.json"
                walk(item, data[spec.name], f"{where}.{spec.name}")
        elif isinstance(value, list | tuple) and isinstance(data, list):
            kept = [v for v in value if not isinstance(v, Chart | Markup)]
            for k, (item, entry) in enumerate(zip(kept, data, strict=True)):
                walk(item, entry, f"{where}[{k}]")

    walk(built.report, model_json["report"], "report")


def test_markup_characters_are_escaped_in_the_file_and_intact_once_parsed(
    built: Built, patients_json: dict[str, Any]
) -> None:
    text = (built.patients / "report.json").read_text(encoding="utf-8")
    assert "<" not in text and ">" not in text and "&" not in text
    labels = [i["label"] for p in patients_json["report"]["patients"] for i in p["inputs"]]
    assert any(label.startswith(SCRIPT_NAME) for label in labels)


def test_every_patient_page_field_is_written_but_the_charts(patients_json: dict[str, Any]) -> None:
    fields = {spec.name for spec in dataclasses.fields(PatientPage)}
    for patient in patients_json["report"]["patients"]:
        assert set(patient) == fields - {"curve", "waterfall"}  # the SVG of the page
    context = {spec.name for spec in dataclasses.fields(Context)}
    assert set(patients_json["report"]["context"]) == context


def test_a_value_report_json_cannot_hold_is_an_error_naming_where() -> None:
    @dataclasses.dataclass(frozen=True)
    class Section:
        rows: pd.DataFrame

    with pytest.raises(TypeError, match=r"report\.section\.rows: a DataFrame"):
        report_data({"section": Section(pd.DataFrame({"person_id": [1]}))})


# -- the model report's numbers -------------------------------------------------------------------
def test_metrics_are_those_of_metrics_json(
    model_json: dict[str, Any], metrics_file: dict[str, Any]
) -> None:
    section = model_json["report"]["metrics"]
    expected = [("Harrell's C", "", metrics_file["harrell_c"])]
    expected.append(("Uno's C", f"up to {metrics_file['uno_c']['tau']:g} days", None))
    ibs = metrics_file["integrated_brier"]
    expected.append(("Integrated Brier score", None, ibs))
    reference = "marginal incidence (no model)"
    expected.append((f"Integrated Brier score, {reference}", None, ibs["null_model"]))
    for entry, label in zip(metrics_file["horizons"], ("180 days", "1 year"), strict=True):
        expected.append(("Time-dependent AUC", label, entry["time_dependent_auc"]))
        expected.append(("Brier score", label, entry["brier"]))
        expected.append((f"Brier score, {reference}", label, entry["null_model"]["brier"]))
        expected.append(("Scaled Brier score (IPA)", label, entry["null_model"]["ipa"]))
    assert [row["metric"] for row in section["rows"]] == [e[0] for e in expected]
    for row, (_, horizon, value) in zip(section["rows"], expected, strict=True):
        if horizon is not None:
            assert row["horizon"] == horizon
        shown = row["value"]
        truth = value or metrics_file["uno_c"]
        assert {k: shown[k] for k in truth} == truth  # every key of metrics.json, exactly
    for panel, entry in zip(section["panels"], metrics_file["horizons"], strict=True):
        summary = dict(panel["summary"])  # pairs (measure, interval)
        assert summary["Calibration slope"] == entry["calibration"]["slope"]
        assert summary["ICI"] == entry["calibration"]["ici"]
        assert panel["smoothed"] == entry["calibration"]["curve"]
        assert panel["net_benefit"] == entry["decision_curve"]
        for shown, group in zip(panel["groups"], entry["calibration"]["table"], strict=True):
            assert shown == {**group, "n": str(group["n"])}  # groups of 20 and more are shown


def test_observed_risk_curves_are_kaplan_meier_of_each_group(
    built: Built, model_json: dict[str, Any]
) -> None:
    dataset = load_dataset(built.dataset)
    saved = load_model(built.model)
    frame = dataset.frame
    validation = saved.validation  # the out-of-fold predictions saved with the model
    assert validation is not None and validation.design == "cv"
    risk = np.empty(len(frame))
    risk[validation.row] = validation.risk_at(HORIZONS[0])
    thirds = pd.qcut(risk, 3, labels=False)  # the thirds of the out-of-fold risks
    members = {
        "All persons": np.ones(len(frame), dtype=bool),
        "Lowest third of predicted risk": thirds == 0,
        "Middle third of predicted risk": thirds == 1,
        "Highest third of predicted risk": thirds == 2,
    }
    curves = model_json["report"]["curves"]["observed"]
    assert len(curves) == 4
    for curve in curves:
        name, n = re.fullmatch(r"(.*) \(n = ([\d,]+)\)", curve["label"]).groups()
        mask = members[name]
        assert int(n.replace(",", "")) == mask.sum()
        time = frame["time"].to_numpy(float)[mask]
        event = frame["event"].to_numpy()[mask] == 1
        fitted = KaplanMeierFitter().fit(time, event)
        times = np.array(curve["times"])
        assert times.max() <= time.max()  # each curve ends with its own follow-up
        expected = 1.0 - fitted.survival_function_at_times(times).to_numpy()
        np.testing.assert_allclose(curve["estimate"], expected, rtol=0, atol=1e-12)
        # lifelines' interval is the same log(-log) (exponential Greenwood) one, at event times
        band = fitted.confidence_interval_cumulative_density_
        grid = band.index.to_numpy()
        at = np.searchsorted(grid, times, side="right") - 1
        np.testing.assert_allclose(curve["lower"], band.iloc[at, 0].to_numpy(), atol=1e-6)
        np.testing.assert_allclose(curve["upper"], band.iloc[at, 1].to_numpy(), atol=1e-6)


def test_counts_are_the_protected_ones_the_page_shows(
    model_folder: Path, model_json: dict[str, Any]
) -> None:
    page = model_folder / "index.html"
    report = model_json["report"]
    attrition = [
        [r["description"], r["persons"], r["index_events"], r["dropped"]]
        for r in report["attrition"]
    ]
    assert attrition == _cells(page, "attrition")
    at_risk = [[name, *counts] for name, counts in report["curves"]["at_risk"]]
    assert at_risk == _cells(page, "curves")
    table1 = [[r["label"], r["statistic"], *r["cells"], r["smd"]] for r in report["table1"]["rows"]]
    assert table1 == _cells(page, "table1")
    rare = next(r for r in report["table1"]["rows"] if r["label"].startswith(RARE_NAME))
    assert "<5" in rare["cells"] and "3" not in rare["cells"]  # 3 persons: suppressed
    shown = [c for row in _cells(page, "calibration") if len(row) == 5 for c in row[:2]]
    groups = [[str(g["group"]), g["n"]] for p in report["metrics"]["panels"] for g in p["groups"]]
    assert [c for row in groups for c in row] == shown


# -- the patient reports --------------------------------------------------------------------------
def test_each_patient_has_risks_drivers_and_the_calibration_group_found_by_hand(
    built: Built, patients_json: dict[str, Any], metrics_file: dict[str, Any]
) -> None:
    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    row = int(np.flatnonzero(frame["person_id"].to_numpy() == DISTINCT_PERSON)[0])
    X = check_schema(saved, frame.iloc[[row]], origin="test")
    patients = {p["pseudonym"]: p for p in patients_json["report"]["patients"]}
    assert len(patients) == len(built.pages)
    patient = patients[pseudonym(DISTINCT_PERSON, KEY)]
    for j, horizon in enumerate(HORIZONS):
        risk = float(saved.pipeline.predict_risk(X, horizon)[0])
        assert patient["risks"][j]["risk"] == pytest.approx(risk, abs=1e-12)
        table = next(h for h in metrics_file["horizons"] if h["horizon"] == horizon)
        table = table["calibration"]["table"]
        inside = [g for g in table if g["predicted_min"] <= risk <= g["predicted_max"]]
        if inside:
            group, placement = inside[0], "within"
        elif risk < table[0]["predicted_min"]:
            group, placement = table[0], "below"
        elif risk > table[-1]["predicted_max"]:
            group, placement = table[-1], "above"
        else:  # between two ranges: the nearer one
            group = min(
                table, key=lambda g: max(g["predicted_min"] - risk, risk - g["predicted_max"])
            )
            placement = "between"
        context = patient["calibration"][j]
        assert (context["group"], context["placement"]) == (group["group"], placement)
        for key in ("predicted_min", "predicted_max", "mean_predicted", "observed"):
            assert context[key] == group[key]
        assert (context["observed_lower"], context["observed_upper"]) == (
            group["observed_lower"],
            group["observed_upper"],
        )
        assert context["persons"] == str(group["n"])  # groups of 20 and more are shown
        assert context["validation"] == f"validation ({metrics_file['split']})"
    page = (built.patients / f"{patient['pseudonym']}.html").read_text(encoding="utf-8")
    last = patient["calibration"][-1]
    assert (
        f"had an observed risk of <strong>{100 * last['observed']:.1f}%</strong> (95% CI "
        f"{100 * last['observed_lower']:.1f}% to {100 * last['observed_upper']:.1f}%)"
    ) in page
    drivers = patient["drivers"]["drivers"]
    assert drivers and all(str(escape(d["label"])) in page for d in drivers)  # as escaped
    assert "curve" not in patient and "waterfall" not in patient  # charts are not data


def test_no_person_id_index_date_birth_or_source_value_in_either_document(
    built: Built, model_folder: Path
) -> None:
    frame = load_dataset(built.dataset).frame
    persons = {str(int(p)) for p in frame["person_id"]}
    dates = set(pd.to_datetime(frame["index_date"]).dt.strftime("%Y-%m-%d"))
    dates |= {d.replace("-", "") for d in dates}
    for path in (model_folder / "report.json", built.patients / "report.json"):
        text = path.read_text(encoding="utf-8")
        assert not persons & set(re.findall(r"[0-9]+", text)), path
        assert not dates & set(re.findall(r"[0-9-]+", text)), path
        for value in (DISTINCT_BIRTH.isoformat(), DISTINCT_SOURCE, "person_id", "index_date"):
            assert value not in text, (path, value)


# -- the calibration context, by hand ---------------------------------------------------------
def _with_table(metrics: MetricsFile, groups: list[tuple[int, float, float, float]]) -> MetricsFile:
    """``metrics`` with the 1-year table replaced by groups (n, min, mean, max)."""
    results = metrics.results
    entries = []
    for entry in results.horizons:
        old = entry.calibration.table[0]
        table = tuple(
            dataclasses.replace(
                old,
                group=k + 1,
                n=n,
                predicted_min=low,
                mean_predicted=mean,
                predicted_max=high,
                observed=mean / 2,
            )
            for k, (n, low, mean, high) in enumerate(groups)
        )
        calibration = dataclasses.replace(entry.calibration, table=table)
        entries.append(dataclasses.replace(entry, calibration=calibration))
    total = sum(n for n, *_ in groups)
    results = dataclasses.replace(results, horizons=tuple(entries), n_test=total)
    return dataclasses.replace(metrics, results=results)


@pytest.mark.parametrize(
    ("risk", "group", "placement"),
    [
        (0.03, 1, "within"),
        (0.05, 1, "within"),  # a bound belongs to its group
        (0.054, 1, "between"),  # nearer the first group's largest prediction
        (0.057, 2, "between"),
        (0.004, 1, "below"),
        (0.7, 3, "above"),
        (0.3, 3, "within"),
    ],
)
def test_a_risk_is_placed_in_the_group_whose_predictions_hold_it(
    built: Built, risk: float, group: int, placement: str
) -> None:
    metrics = _with_table(
        read_metrics(built.model / "metrics.json"),
        [(30, 0.01, 0.03, 0.05), (30, 0.06, 0.08, 0.1), (30, 0.2, 0.3, 0.5)],
    )
    found = ValidationCalibration.of(metrics).context(365.0, risk)
    assert isinstance(found, CalibrationContext)
    assert (found.group, found.placement, found.horizon) == (group, placement, "1 year")
    assert found.observed == pytest.approx(found.mean_predicted / 2)


def test_small_groups_are_suppressed_like_the_model_reports(built: Built) -> None:
    metrics = _with_table(
        read_metrics(built.model / "metrics.json"),
        [(3, 0.01, 0.03, 0.05), (40, 0.06, 0.08, 0.1), (40, 0.2, 0.3, 0.5)],
    )
    tables = ValidationCalibration.of(metrics)
    assert tables.context(365.0, 0.02).persons == "<5"
    # with the total shown, 40 and 40 would give the 3 away: one of them is hidden
    assert "hidden" in {tables.context(365.0, r).persons for r in (0.08, 0.3)}


def test_tables_without_ranges_give_the_nearest_mean_and_no_validation_says_why(
    built: Built,
) -> None:
    metrics = read_metrics(built.model / "metrics.json")
    results = metrics.results
    old = [
        dataclasses.replace(
            entry,
            calibration=dataclasses.replace(
                entry.calibration,
                table=tuple(
                    dataclasses.replace(g, predicted_min=None, predicted_max=None)
                    for g in entry.calibration.table
                ),
            ),
        )
        for entry in results.horizons
    ]
    written_before = dataclasses.replace(
        metrics, results=dataclasses.replace(results, horizons=tuple(old))
    )
    table = old[-1].calibration.table
    risk = table[1].mean_predicted + 1e-6
    found = ValidationCalibration.of(written_before).context(365.0, risk)
    assert (found.group, found.placement) == (table[1].group, "nearest mean")
    unvalidated = MetricsFile(split="none (fitted on all rows, not validated)")
    missing = ValidationCalibration.of(unvalidated).contexts(HORIZONS, [0.1, 0.2])
    assert len(missing) == 1 and isinstance(missing[0], NoCalibrationContext)
    assert "without validation (--split none)" in missing[0].reason
    absent = ValidationCalibration.of(metrics).context(90.0, 0.1)
    assert absent.reason == "the validation has no calibration table at 90 days"


def test_apparent_metrics_are_called_apparent_on_the_page(built: Built) -> None:
    saved = load_model(built.model)
    metrics = read_metrics(built.model / "metrics.json")
    in_sample = dataclasses.replace(
        metrics, evaluated=EvaluatedOn("model", "dataset", None, in_sample=True)
    )
    contexts = ValidationCalibration.of(in_sample).contexts(HORIZONS, [0.1, 0.2])
    assert all(c.apparent for c in contexts)
    unvalidated = ValidationCalibration.of(MetricsFile(split="none")).contexts(HORIZONS, [0.1, 0.2])
    for calibration, wanted in (
        (contexts, "Apparent: these are the rows the model was fitted on"),
        (unvalidated, "No calibration context: the model was fitted without validation"),
    ):
        page = PatientPage(
            pseudonym="P-0000000000000000",
            risks=[HorizonRisk("1 year", 0.1, 0.08, 60)],
            curve=Markup("<svg></svg>"),
            drivers=Unavailable("no exact SHAP method for this model"),
            waterfall=None,
            driver_horizon="1 year",
            inputs=[],
            calibration=calibration,
        )
        context = _context(saved, load_dataset(built.dataset))
        html = render_page("patient.html.jinja2", page=page, context=context, title="t")
        assert wanted in " ".join(html.split())


def test_each_patients_drivers_add_up_to_the_risk_the_model_predicts(
    built: Built, patients_json: dict[str, Any]
) -> None:
    """reference + every driver + "other factors" = the patient's risk at the drivers' horizon,
    which is the saved model's prediction for that row (computed here by the model itself)."""
    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    by_name = {pseudonym(int(p), KEY): k for k, p in enumerate(frame["person_id"])}
    for patient in patients_json["report"]["patients"]:
        drivers = patient["drivers"]
        total = drivers["reference"] + sum(d["contribution"] for d in drivers["drivers"])
        assert total + drivers["other"] == pytest.approx(drivers["risk"], abs=1e-9)
        X = check_schema(saved, frame.iloc[[by_name[patient["pseudonym"]]]], origin="test")
        expected = float(saved.pipeline.predict_risk(X, drivers["horizon"])[0])
        assert drivers["risk"] == pytest.approx(expected, abs=1e-12)
