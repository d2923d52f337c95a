"""A patient's risk trajectory (issue 14): on the patient pages of a landmark model, the risk at
each landmark of the patient's course so far, and the factors whose value changed that moved it.

cohorts/synth_af_dynamic.yaml is built on a 3,000-person synthetic CDM (generator version 4:
a drug started after entry and a drifting NT-proBNP move the TIA hazard) and an xgb-cox model
fitted on its landmark rows. Each number on the page is checked against the saved model's own
prediction for that landmark row, found in the dataset by person and landmark day.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prognosis import workflow
from prognosis.dataset import load_dataset
from prognosis.models.store import load_model
from prognosis.report import write_patient_reports
from prognosis.training import check_schema

DEFINITION = Path(__file__).resolve().parents[2] / "cohorts" / "synth_af_dynamic.yaml"


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory, synth_af_dynamic: Path
) -> tuple[Path, Path, Path, list[int]]:
    """The dataset, the model, the report folder, and the persons reported on (three with at
    least four landmarks)."""
    root = tmp_path_factory.mktemp("trajectory")
    dataset = synth_af_dynamic
    options = workflow.FitOptions(
        "xgb-cox", (365.0,), split="none", n_boot=0, censor_competing=True
    )
    workflow.fit(dataset, options, root / "model")
    frame = load_dataset(dataset).frame
    counts = frame.groupby("person_id")["landmark"].count()
    persons = [int(p) for p in counts[counts >= 4].index[:3]]
    write_patient_reports(
        root / "model", dataset, root / "pages", mapping_dir=root / "map", ids=persons
    )
    return dataset, root / "model", root / "pages", persons


def _pages(pages: Path) -> list[dict]:
    return json.loads((pages / "report.json").read_text())["report"]["patients"]


def test_each_step_is_the_models_risk_at_that_landmark(written) -> None:
    dataset, model, pages, persons = written
    saved = load_model(model)
    frame = load_dataset(dataset).frame
    mapping = pd.read_csv(pages.parent / "map" / "mapping.csv", dtype=str)
    person_of = dict(zip(mapping["pseudonym"], mapping["person_id"].astype(int), strict=True))
    checked = 0
    for page in _pages(pages):
        rows = frame[frame["person_id"] == person_of[page["pseudonym"]]].sort_values("landmark")
        steps = page["trajectory"]
        assert [s["landmark"] for s in steps] == rows["landmark"].tolist()[: len(steps)]
        X = check_schema(saved, rows.iloc[: len(steps)], origin="rows")
        expected = saved.pipeline.predict_risk(X, 365.0)
        np.testing.assert_allclose([s["risk"] for s in steps], expected, rtol=1e-9, atol=1e-12)
        checked += len(steps)
    assert checked >= 4 * len(persons)  # at least the pages of the fourth landmark


def test_the_moves_and_the_other_factors_add_up_to_each_change(written) -> None:
    _, _, pages, _ = written
    for page in _pages(pages):
        steps = page["trajectory"]
        for before, step in itertools.pairwise(steps):
            moved = sum(move["change"] for move in step["moves"]) + step["other"]
            assert step["change"] == pytest.approx(step["risk"] - before["risk"], abs=1e-12)
            assert moved == pytest.approx(step["change"], abs=1e-12)
            for move in step["moves"]:
                assert move["before"] != move["now"]  # only factors whose value changed
        assert steps[-1]["risk"] == pytest.approx(page["risks"][0]["risk"], abs=1e-12)


def test_every_landmark_page_shows_its_course_and_no_date(written) -> None:
    dataset, _, pages, persons = written
    frame = load_dataset(dataset).frame
    reported = _pages(pages)
    assert len(reported) == int(frame["person_id"].isin(persons).sum())
    shown = [page for page in reported if len(page["trajectory"]) > 1]
    assert shown, "no page has more than one landmark"
    for page in shown:
        html = (pages / f"{page['pseudonym']}.html").read_text()
        assert "through the course of the disease" in html
        assert f"day {page['trajectory'][-1]['landmark']}" in html
    dates = frame.loc[frame["person_id"].isin(persons), ["index_date", "entry_date"]]
    text = "".join(path.read_text() for path in pages.glob("*.html"))
    for value in pd.unique(dates.to_numpy().ravel()):
        assert str(value)[:10] not in text  # landmark and entry dates are not shown


def test_with_a_source_the_latest_page_ends_on_the_day_of_the_report(
    written, tmp_path: Path
) -> None:
    """--source and --as-of: each patient's latest landmark page gets a last step on that day,
    the risk `prognosis predict --as-of` gives for them; a patient not at risk then gets a note
    with no date in it."""
    dataset, model, _, persons = written
    frame = load_dataset(dataset).frame
    source = f"duckdb:///{dataset.parent / 'cdm.duckdb'}"
    person = persons[0]
    rows = frame[frame["person_id"] == person].sort_values("landmark")
    last = rows.iloc[-1]
    # a day after the latest landmark, inside the follow-up of its row
    day = int(last["landmark"]) + min(30, int(last["time"]) - 1)
    as_of = (pd.Timestamp(last["entry_date"]) + pd.Timedelta(days=day)).date()
    pages = tmp_path / "pages"
    workflow.report_patients(
        model, dataset, pages, ids=[person], mapping_dir=tmp_path / "map", source=source,
        as_of=as_of,
    )  # fmt: skip
    latest = next(p for p in _pages(pages) if len(p["trajectory"]) == len(rows) + 1)
    today = latest["trajectory"][-1]
    assert today["today"] and today["landmark"] == day
    scored = workflow.predict_person(model, source, person, as_of=as_of)
    assert today["risk"] == pytest.approx(float(scored.iloc[0, -1]), abs=1e-12)
    html = (pages / f"{latest['pseudonym']}.html").read_text()
    assert f"day {day} (the day of this report)" in html
    assert as_of.isoformat() not in html
    late = tmp_path / "late"
    workflow.report_patients(
        model, dataset, late, ids=[person], mapping_dir=tmp_path / "map", source=source,
        as_of=as_of.replace(year=as_of.year + 20),
    )  # fmt: skip
    noted = [p for p in _pages(late) if p["today_note"]]
    assert len(noted) == 1 and "Not scored on the day of this report" in noted[0]["today_note"]
    assert not any(step["today"] for page in _pages(late) for step in page["trajectory"])
