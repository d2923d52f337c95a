"""Patient pages: pseudonyms, risks and percentiles from the model, selection, the mapping."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import Markup

from prognosis.dataset import load_dataset
from prognosis.exceptions import PrognosisError
from prognosis.models.store import load_model
from prognosis.report import patient_report, write_patient_reports
from prognosis.report.incidence import patient_incidence
from prognosis.report.pseudonyms import pseudonym
from prognosis.report.render import render_page
from prognosis.report.shap_drivers import Unavailable
from prognosis.scoring import background_rows
from prognosis.training import check_schema, predict_frame
from tests.report.cohort_data import DISTINCT_PERSON
from tests.report.conftest import KEY, Built, CompetingBuilt
from tests.support.browser import Browser


def test_pages_are_named_by_keyed_pseudonyms(built: Built) -> None:
    mapping = pd.read_csv(built.mapping_dir / "mapping.csv")
    assert {page.stem for page in built.pages} == {
        pseudonym(person, KEY) for person in mapping["person_id"]
    }
    assert pseudonym(DISTINCT_PERSON, KEY) in {page.stem for page in built.pages}


def test_risk_and_percentile_come_from_the_model_and_the_cohort(built: Built) -> None:
    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    X = check_schema(saved, frame, origin="test")
    cohort = saved.pipeline.predict_risk(X, 365.0)
    row = int(np.flatnonzero(frame["person_id"].to_numpy() == DISTINCT_PERSON)[0])
    page = (built.patients / f"{pseudonym(DISTINCT_PERSON, KEY)}.html").read_text("utf-8")
    match = re.search(r"<tr><td>1 year</td>(.*?)</tr>", page, re.DOTALL)
    assert match is not None
    cells = match.group(1)
    assert f"<strong>{100 * cohort[row]:.1f}%</strong>" in cells
    assert f"{100 * cohort.mean():.1f}%" in cells
    share = round(100 * np.mean(cohort < cohort[row]))
    assert f"higher than {share}% of the cohort" in cells


def test_page_shows_curve_drivers_inputs_and_purpose(built: Built) -> None:
    page = built.pages[0].read_text("utf-8")
    for text in ("This patient", "Cohort average", "What it is not:", "Age at index (years)"):
        assert text in page
    assert "▲" in page or "▼" in page
    assert page.count("<svg") == 2  # the curve and the waterfall


def test_index_links_every_page(built: Built) -> None:
    index = (built.patients / "index.html").read_text("utf-8")
    assert set(re.findall(r'href="([^"]+)"', index)) == {page.name for page in built.pages}


def test_index_lists_the_patients_by_risk_highest_first(built: Built) -> None:
    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    risk = saved.pipeline.predict_risk(check_schema(saved, frame, origin="test"), 365.0)
    mapping = pd.read_csv(built.mapping_dir / "mapping.csv")
    by_person = dict(zip(frame["person_id"], risk, strict=True))
    expected = sorted(mapping["person_id"], key=lambda person: -by_person[person])
    index = (built.patients / "index.html").read_text("utf-8")
    listed = re.findall(r'href="([^"]+)\.html"', index)
    assert listed == [pseudonym(person, KEY) for person in expected]
    assert "factors below" not in index


def test_sample_is_reproducible_and_ids_must_exist(built: Built) -> None:
    frame = load_dataset(built.dataset).frame
    first = patient_report._select(frame, None, 3, seed=4)
    assert len(first) == 3 and list(first) == list(patient_report._select(frame, None, 3, 4))
    with pytest.raises(PrognosisError, match=r"1 person_id\(s\) are not in the dataset: 42"):
        patient_report._select(frame, [42, DISTINCT_PERSON], None, 0)


def test_a_second_index_date_gets_a_numbered_pseudonym() -> None:
    frame = pd.DataFrame(
        {"person_id": [5, 5, 6], "index_date": ["2010-05-01", "2009-01-01", "2010-01-01"]}
    )
    names = patient_report._pseudonyms(frame, np.arange(3), KEY)
    base = pseudonym(5, KEY)
    assert names == [f"{base}-2", base, pseudonym(6, KEY)]


def test_runs_add_to_the_mapping(built: Built, tmp_path: Path) -> None:
    frame = load_dataset(built.dataset).frame
    private = tmp_path / "private"
    first, second = (int(p) for p in frame["person_id"].iloc[:2])
    for person in (first, second):
        write_patient_reports(
            built.model,
            built.dataset,
            tmp_path / "out",
            mapping_dir=private,
            ids=[person],
            overwrite=True,
        )
    mapping = pd.read_csv(private / "mapping.csv")
    assert sorted(mapping["person_id"]) == sorted([first, second])
    assert (private / "pseudonym.key").is_file()


def test_a_page_without_explanations_says_why(built: Built) -> None:
    saved = load_model(built.model)
    page = patient_report.PatientPage(
        pseudonym="P-0000000000000000",
        risks=[patient_report.HorizonRisk("1 year", 0.1, 0.08, 60)],
        curve=Markup("<svg></svg>"),
        drivers=Unavailable("no exact SHAP method for this model"),
        waterfall=None,
        driver_horizon="1 year",
        inputs=[],
    )
    context = patient_report._context(saved, load_dataset(built.dataset))
    html = render_page("patient.html.jinja2", page=page, context=context, title="Risk report")
    assert "Explanations unavailable: no exact SHAP method for this model." in html
    assert html.count("<svg") == 1  # the curve, no waterfall


def test_risks_ignoring_competing_events_say_so_beside_the_observed_incidence(
    tmp_path: Path,
) -> None:
    from prognosis.evaluation.validation import parse_split
    from prognosis.models.store import save_model
    from prognosis.training import fit_model
    from tests.test_training import _competing_frame, write_dataset

    frame = _competing_frame(600, 7)
    dataset_dir = write_dataset(tmp_path / "competing", frame)
    saved = fit_model(
        load_dataset(dataset_dir), "cox", [730], parse_split("none"), censor_competing=True
    )
    save_model(tmp_path / "model", saved)
    written = write_patient_reports(
        tmp_path / "model", dataset_dir, tmp_path / "pages", mapping_dir=tmp_path / "private",
        sample=2, key=KEY,
    )  # fmt: skip
    page = written.pages[0].read_text(encoding="utf-8")
    assert "Predicted risk ignoring competing events of" in page
    time, event = frame["time"].to_numpy(), frame["event"].to_numpy()
    expected, alive = 0.0, 1.0  # the Aalen-Johansen incidence by 730 days, step by step
    for t in np.unique(time[time <= 730]):
        at_risk = np.sum(time >= t)
        expected += alive * np.sum((time == t) & (event == 1)) / at_risk
        alive *= 1 - np.sum((time == t) & (event > 0)) / at_risk
    shown = re.search(r"Aalen-Johansen\): 2 years ([\d.]+)%", page)
    assert shown and float(shown.group(1)) == pytest.approx(100 * expected, abs=0.05)


def test_patient_page_shows_the_predicted_incidence_of_every_cause(
    competing_built: CompetingBuilt,
) -> None:
    saved = load_model(competing_built.model)
    frame = load_dataset(competing_built.dataset).frame
    X = check_schema(saved, frame, origin="test")
    predicted = predict_frame(saved, frame, origin="test")  # what `prognosis predict` writes
    for person in competing_built.ids:
        row = int(np.flatnonzero(frame["person_id"].to_numpy() == person)[0])
        stroke = saved.pipeline.predict_cumulative_incidence(X.iloc[[row]], 1, [365.0, 1095.0])[0]
        death = saved.pipeline.predict_cumulative_incidence(X.iloc[[row]], 2, [365.0, 1095.0])[0]
        assert predicted.loc[row, "incidence_death_1095"] == pytest.approx(death[1])
        assert predicted.loc[row, "risk_365"] == pytest.approx(stroke[0])
        page = (competing_built.patients / f"{pseudonym(person, KEY)}.html").read_text("utf-8")
        table = page[page.index('id="incidence"') :]
        table = table[: table.index("</table>")]
        cells = dict(
            re.findall(r"<tr><td>([^<]+)</td>((?:<td class=\"num\">[^<]+</td>)+)</tr>", table)
        )
        values = {name: re.findall(r">([^<]+)</td>", rest) for name, rest in cells.items()}
        assert values == {
            "stroke (outcome)": [f"{100 * v:.1f}%" for v in stroke],
            "death (competing event)": [f"{100 * v:.1f}%" for v in death],
            "none of these": [
                f"{100 * (1 - a - b):.1f}%" for a, b in zip(stroke, death, strict=True)
            ],
        }
        assert "risk_&lt;days&gt; and incidence_death_&lt;days&gt; of prognosis predict" in page


def test_patient_incidence_is_the_models_for_each_cause_at_full_precision(
    competing_built: CompetingBuilt,
) -> None:
    saved = load_model(competing_built.model)
    X = check_schema(saved, load_dataset(competing_built.dataset).frame.iloc[:20], origin="test")
    entries = patient_incidence(saved, X)
    for cause, k in ((1, 0), (2, 1)):
        expected = saved.pipeline.predict_cumulative_incidence(X, cause, [365.0, 1095.0])
        assert np.array([e[k].values for e in entries]) == pytest.approx(expected, abs=1e-12)
    totals = np.array([[sum(e.values[h] for e in page) for h in range(2)] for page in entries])
    assert totals == pytest.approx(1.0)


def test_a_single_event_model_shows_no_incidence_table(built: Built) -> None:
    page = built.pages[0].read_text("utf-8")
    assert 'id="incidence"' not in page


def test_index_lists_patients_by_risk_with_their_percentile_among_every_scored_row(
    built: Built,
) -> None:
    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    cohort = saved.pipeline.predict_risk(check_schema(saved, frame, origin="test"), 180.0)
    index = (built.patients / "index.html").read_text("utf-8")
    rows = re.findall(
        r'<td class="pseudonym"><a href="([^"]+)\.html">.*?</a></td>(.*?)</tr>', index, re.DOTALL
    )
    by_name = {pseudonym(int(p), KEY): k for k, p in enumerate(frame["person_id"])}
    assert len(rows) == len(built.pages) == 5
    risks = [cohort[by_name[name]] for name, _ in rows]
    assert risks == sorted(risks, reverse=True)  # highest first
    for (_, cells), risk in zip(rows, risks, strict=True):
        # the share of all 240 rows of the dataset below this one, not of the 5 listed
        percentile = round(100 * np.mean(cohort < risk))
        assert re.findall(r'<td class="num">([^<]+)</td>', cells)[-1] == str(percentile)
    assert "Risk percentile in the cohort (180 days)" in index


def _page_of(built: Built, person: int) -> str:
    return (built.patients / f"{pseudonym(person, KEY)}.html").read_text("utf-8")


def _drivers_table(page: str) -> list[tuple[str, str]]:
    table = re.search(r'<table class="drivers">(.*?)</table>', page, re.DOTALL)
    assert table is not None
    rows = re.findall(r'<tr><td[^>]*>(.*?)</td><td class="points">(.*?)</td></tr>', table[1])
    plain = [
        (re.sub(r"<[^>]+>", "", label), re.sub(r"<[^>]+>", "", value)) for label, value in rows
    ]
    return [(label, value.split()[-1]) for label, value in plain]  # "▲ raises +6.5" -> "+6.5"


def test_drivers_are_risk_points_from_the_reference_to_the_patients_risk(built: Built) -> None:
    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    X = check_schema(saved, frame, origin="test")
    row = int(np.flatnonzero(frame["person_id"].to_numpy() == DISTINCT_PERSON)[0])
    rows = _drivers_table(_page_of(built, DISTINCT_PERSON))
    assert rows[0][0] == "Reference risk" and rows[-1][0] == "This patient"
    # the Cox model's risk at the mean of the 100 reference rows (its SHAP base value)
    background = check_schema(saved, background_rows(frame, 100, 0), origin="test")
    reference = saved.pipeline.predict_risk(background.mean().to_frame().T, 180.0)[0]
    risk = saved.pipeline.predict_risk(X.iloc[[row]], 180.0)[0]
    assert rows[0][1] == f"{100 * reference:.1f}%" and rows[-1][1] == f"{100 * risk:.1f}%"
    points = [round(float(value) * 10) for _, value in rows[1:-1]]  # tenths of a point
    assert sum(points) == round(1000 * risk) - round(1000 * reference)  # adds up as printed
    page = _page_of(built, DISTINCT_PERSON)
    assert len(points) >= 2 and "Change in 180-day risk (percentage points)" in page
    assert "How the drivers are computed:" in page


def test_risk_interval_on_the_page_is_the_delta_method_of_lifelines_fit(built: Built) -> None:
    # lifelines refitted on the model's own inputs: eta +/- 1.96 se(eta) carried to the risk
    # with the Breslow baseline held fixed, se(eta)^2 = d' V d
    from lifelines import CoxPHFitter

    saved = load_model(built.model)
    frame = load_dataset(built.dataset).frame
    inputs = saved.pipeline[:-1].transform(check_schema(saved, frame, origin="test"))
    target = saved.training_target
    assert len(target) == len(inputs)
    data = inputs.assign(time=target["time"], event=(target["event"] == 1).astype(int))
    fitter = CoxPHFitter().fit(data, "time", "event")
    row = int(np.flatnonzero(frame["person_id"].to_numpy() == DISTINCT_PERSON)[0])
    offset = inputs.iloc[row].to_numpy() - inputs.mean().to_numpy()
    eta = offset @ fitter.params_.to_numpy()
    se = np.sqrt(offset @ fitter.variance_matrix_.to_numpy() @ offset)
    page = _page_of(built, DISTINCT_PERSON)
    for label, days in (("180 days", 180.0), ("1 year", 365.0)):
        hazard = fitter.baseline_cumulative_hazard_.iloc[:, 0]
        h0 = float(hazard[hazard.index <= days].iloc[-1])
        low, high = (1 - np.exp(-h0 * np.exp(eta + k * 1.959963984540054 * se)) for k in (-1, 1))
        cell = re.search(rf"<tr><td>{label}</td><td class=\"num\">(.*?)</td>", page, re.S)
        assert cell is not None
        assert f"95% interval {100 * low:.1f}%\u2013{100 * high:.1f}%" in cell[1]
    assert "uncertainty in the model&#39;s coefficients" in page


def test_a_family_without_an_interval_says_so_in_one_line(tmp_path: Path) -> None:
    from prognosis.evaluation.validation import parse_split
    from prognosis.models.store import save_model
    from prognosis.training import fit_model
    from tests.test_training import _competing_frame, write_dataset

    dataset_dir = write_dataset(tmp_path / "data", _competing_frame(300, 3))
    saved = fit_model(
        load_dataset(dataset_dir), "coxnet", [365], parse_split("none"), censor_competing=True
    )
    save_model(tmp_path / "model", saved)
    written = write_patient_reports(
        tmp_path / "model", dataset_dir, tmp_path / "pages", mapping_dir=tmp_path / "private",
        sample=1, key=KEY,
    )  # fmt: skip
    page = written.pages[0].read_text(encoding="utf-8")
    assert "No interval for this model family (coxnet)" in page
    assert "95% interval" not in page
    assert "How the drivers are computed:" in page


_OVERFLOWING = """() => {
  const cells = [...document.querySelectorAll('table.drivers td, table.drivers th')];
  const wrap = document.querySelector('table.drivers').parentElement;
  return {
    cells: cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent),
    table: wrap.scrollWidth - wrap.clientWidth,
    page: document.documentElement.scrollWidth,
  };
}"""


def test_driver_labels_fit_a_phone_width_without_cuts(built: Built, browser: Browser) -> None:
    page = built.patients / f"{pseudonym(DISTINCT_PERSON, KEY)}.html"
    found = browser.evaluate(page, _OVERFLOWING, width=390)
    assert found == {"cells": [], "table": 0, "page": 390}
    text = page.read_text("utf-8")
    labels = [unescape(x) for x in re.findall(r'<td class="driver-label">(.*?)</td>', text)]
    assert any(len(label) > 52 for label in labels), "no label longer than a waterfall line"
    lines = [unescape(x) for x in re.findall(r'<tspan x="[^"]*" y="[^"]*">(.*?)</tspan>', text)]
    assert lines, "the long labels take two lines in the waterfall"
    words = {word for label in labels for word in label.split()}
    for line in lines:  # each line ends at a word, or with "…" after one
        assert len(line) <= 52
        assert all(word in words or word.endswith("…") for word in line.split())
        assert all(word[:-1] in words for word in line.split() if word.endswith("…"))
