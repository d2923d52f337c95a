"""The workflow layer called directly: one function per command, on real data, real fits.

The data are the gi_bleed_nsaid cohort built on Eunomia (``gi_bleed``, tests/conftest.py) and
a 40-person synthetic CDM. Expected values come from outside the function under test:
scikit-survival's concordance of the saved model's scores, the dataset's own rows, the
Eunomia person count established by hand-written SQL (tests/cohort/test_eunomia.py), the
SHAP efficiency property (values add up to the model's output), and the files on disk.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlglot
from sksurv.metrics import concordance_index_censored

from prognosis import workflow
from prognosis.artifacts import read_metrics
from prognosis.dataset import load_dataset
from prognosis.evaluation.summary import performance_title
from prognosis.exceptions import (
    DataQualityWarning,
    ModelDirectoryError,
    OutputError,
    PrognosisError,
)
from prognosis.models.store import load_model
from prognosis.training import check_schema

DEFINITION = Path(__file__).resolve().parents[1] / "cohorts" / "gi_bleed_nsaid.yaml"
EUNOMIA_PERSONS = 2630  # established by hand-written SQL in tests/cohort/test_eunomia.py
HORIZON = 365.0


@pytest.fixture(scope="module")
def cox(gi_bleed: Path, tmp_path_factory: pytest.TempPathFactory) -> workflow.Fitted:
    """A Cox model fitted on every row of gi_bleed, without validation (fast)."""
    out = tmp_path_factory.mktemp("workflow") / "cox"
    options = workflow.FitOptions("cox", (HORIZON,), split="none")
    return workflow.fit(gi_bleed, options, out)


@pytest.fixture(scope="module")
def predictions(cox: workflow.Fitted, gi_bleed: Path, tmp_path_factory) -> workflow.Scored:
    out = tmp_path_factory.mktemp("predictions") / "p.parquet"
    return workflow.predict_dataset(cox.out, gi_bleed, out)


def test_the_command_line_starts_without_the_modelling_libraries() -> None:
    """``prognosis cohort build`` and ``--help`` need none of them (docs/benchmarks.md: about
    3 s of start-up); the workflow imports them inside the functions that use them."""
    code = (
        "import sys, prognosis.cli, prognosis.workflow\n"
        "heavy = ['sklearn', 'scipy', 'lifelines', 'xgboost', 'prognosis.training']\n"
        "print([name for name in heavy if name in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- cohorts -----------------------------------------------------------------------------------
def test_cohort_sql_parses_back_in_its_dialect() -> None:
    script = workflow.cohort_sql(DEFINITION, "postgres")
    assert script.startswith("-- prognosis cohort 'gi_bleed_nsaid', SQL for postgres")
    assert all(statement is not None for statement in sqlglot.parse(script, read="postgres"))


def test_build_dataset_writes_to_data_cohorts_name_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    steps: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        result = workflow.build_dataset(DEFINITION, "eunomia", progress=steps.append)
    # data-quality findings are left to the caller (the CLI prints them)
    assert any("table 'death' is malformed" in str(w.message) for w in caught)
    assert result.out_dir == Path("data/cohorts/gi_bleed_nsaid")
    assert result.persons == EUNOMIA_PERSONS
    assert len(pd.read_parquet(tmp_path / result.out_dir / "dataset.parquet")) == result.persons
    assert steps  # each step announced to the caller
    with pytest.raises(OutputError, match="holds a previous cohort dataset; pass --overwrite"):
        workflow.build_dataset(DEFINITION, "eunomia")


def test_build_dataset_refuses_to_write_into_the_model_it_takes_features_of(
    cox: workflow.Fitted,
) -> None:
    before = sorted(p.name for p in cox.out.iterdir())
    with pytest.raises(OutputError, match=re.escape(str(cox.out))):
        workflow.build_dataset(DEFINITION, "eunomia", out=cox.out / "x", features_of=cox.out)
    assert sorted(p.name for p in cox.out.iterdir()) == before


def test_synthesize_writes_the_cdm_and_its_truth(tmp_path: Path) -> None:
    out = tmp_path / "cdm.duckdb"
    written = workflow.synthesize(out, persons=40, seed=3)
    assert written.out == out and out.is_file()
    assert written.truth_path == tmp_path / "cdm.truth.json"
    truth = json.loads(written.truth_path.read_text(encoding="utf-8"))
    assert (truth["persons"], truth["seed"]) == (40, 3)
    assert written.truth.counts == truth["counts"]
    with pytest.raises(OutputError, match="--overwrite"):
        workflow.synthesize(out, persons=40, seed=3)


# -- models ------------------------------------------------------------------------------------
def test_fit_without_a_split_saves_an_unvalidated_model(
    cox: workflow.Fitted, gi_bleed: Path
) -> None:
    assert not cox.validated
    saved = load_model(cox.out)
    assert saved.info.training_rows == len(pd.read_parquet(gi_bleed / "dataset.parquet"))
    assert saved.feature_names == cox.saved.feature_names


def test_fit_with_cross_validation_is_validated(gi_bleed: Path, tmp_path: Path) -> None:
    options = workflow.FitOptions("cox", (HORIZON,), split="cv:3", n_boot=0)
    fitted = workflow.fit(gi_bleed, options, tmp_path / "m")
    assert fitted.validated
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["split"].startswith("3-fold")


def test_fit_refuses_an_output_inside_the_dataset_before_work(gi_bleed: Path) -> None:
    options = workflow.FitOptions("cox", (HORIZON,), split="none")
    with pytest.raises(OutputError, match=re.escape(str(gi_bleed))):
        workflow.fit(gi_bleed, options, gi_bleed / "model")
    assert not (gi_bleed / "model").exists()


def test_fit_checks_the_output_before_the_split(gi_bleed: Path, cox: workflow.Fitted) -> None:
    options = workflow.FitOptions("cox", (HORIZON,), split="bogus")
    with pytest.raises(OutputError, match="pass --overwrite"):
        workflow.fit(gi_bleed, options, cox.out)
    with pytest.raises(PrognosisError, match="bogus"):
        workflow.fit(gi_bleed, options, cox.out, overwrite=True)
    assert load_model(cox.out).info.split.kind == "none"  # the previous model stays


def test_evaluate_writes_the_metrics_it_returns(
    cox: workflow.Fitted, gi_bleed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "metrics.json"
    metrics = workflow.evaluate(cox.out, gi_bleed, out, n_boot=0)
    assert read_metrics(out) == metrics
    frame = load_dataset(gi_bleed).frame
    risk = cox.saved.pipeline.predict(check_schema(cox.saved, frame, origin="test"))
    expected = concordance_index_censored(frame["event"] == 1, frame["time"], risk)[0]
    assert metrics.results is not None
    assert metrics.results.harrell_c.estimate == pytest.approx(expected, abs=1e-12)


def test_evaluate_on_the_training_rows_says_the_figures_are_apparent(
    cox: workflow.Fitted, gi_bleed: Path, tmp_path: Path
) -> None:
    metrics = workflow.evaluate(cox.out, gi_bleed, tmp_path / "metrics.json", n_boot=0)
    assert metrics.evaluated is not None and metrics.evaluated.in_sample is True
    assert '"in_sample": true' in (tmp_path / "metrics.json").read_text(encoding="utf-8")
    assert performance_title(metrics).startswith("Apparent (in-sample) performance")
    # the same rows under another file are still the training rows: the hash decides
    copy = tmp_path / "copy"
    shutil.copytree(gi_bleed, copy)
    again = workflow.evaluate(cox.out, copy, tmp_path / "again.json", n_boot=0)
    assert again.evaluated is not None and again.evaluated.in_sample is True


def test_evaluate_on_other_rows_is_not_apparent(
    cox: workflow.Fitted, gi_bleed: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(gi_bleed, other)
    frame = pd.read_parquet(other / "dataset.parquet")
    frame.iloc[: len(frame) // 2].to_parquet(other / "dataset.parquet")  # half the persons
    metrics = workflow.evaluate(cox.out, other, tmp_path / "metrics.json", n_boot=0)
    assert metrics.evaluated is not None and metrics.evaluated.in_sample is False
    assert performance_title(metrics) == (
        f"Performance on {other} (not the rows the model was fitted on)"
    )


def test_predict_dataset_writes_one_row_per_dataset_row(
    predictions: workflow.Scored, gi_bleed: Path
) -> None:
    assert (predictions.rows, predictions.on_spark) == (EUNOMIA_PERSONS, False)
    table = pq.read_table(predictions.out)
    assert table.schema.metadata[b"prognosis.kind"] == b"predictions"
    frame, dataset = table.to_pandas(), pd.read_parquet(gi_bleed / "dataset.parquet")
    assert list(frame.columns) == ["person_id", "index_date", "risk_365"]
    assert frame["person_id"].tolist() == dataset["person_id"].tolist()
    assert frame["risk_365"].between(0.0, 1.0).all()


def test_predict_dataset_replaces_its_output_only_with_overwrite(
    predictions: workflow.Scored, cox: workflow.Fitted, gi_bleed: Path
) -> None:
    before = predictions.out.read_bytes()
    with pytest.raises(OutputError, match="holds a previous predictions file; pass --overwrite"):
        workflow.predict_dataset(cox.out, gi_bleed, predictions.out)
    assert predictions.out.read_bytes() == before
    workflow.predict_dataset(cox.out, gi_bleed, predictions.out, overwrite=True)
    assert predictions.out.read_bytes() == before  # the same model and rows: the same bytes


def test_predict_person_equals_their_row_of_the_dataset_predictions(
    predictions: workflow.Scored, cox: workflow.Fitted
) -> None:
    row = pd.read_parquet(predictions.out).iloc[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # Eunomia's known defects
        scored = workflow.predict_person(cox.out, "eunomia", int(row["person_id"]))
    assert scored["index_date"].tolist() == [row["index_date"]]
    assert scored["risk_365"].iloc[0] == pytest.approx(row["risk_365"], abs=1e-6)


def test_predict_person_verifies_the_model_before_asking_for_a_person(
    cox: workflow.Fitted, tmp_path: Path
) -> None:
    with pytest.raises(PrognosisError, match="or --source and --person-id to score one person"):
        workflow.predict_person(cox.out, None, None)
    tampered = Path(shutil.copytree(cox.out, tmp_path / "model"))
    (tampered / "model.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelDirectoryError, match=r"model\.json was modified"):
        workflow.predict_person(tampered, None, None)


def test_explain_values_add_up_to_each_rows_log_hazard(
    cox: workflow.Fitted, gi_bleed: Path, tmp_path: Path
) -> None:
    scored = workflow.explain(cox.out, gi_bleed, tmp_path / "shap.parquet", background_rows=20)
    explained = pd.read_parquet(scored.out)
    assert scored.rows == len(explained) == EUNOMIA_PERSONS
    frame = load_dataset(gi_bleed).frame
    names = [f"shap_{name}" for name in cox.saved.feature_names]
    total = explained["base_value"] + explained[names].sum(axis=1)
    log_hazard = cox.saved.pipeline.predict(check_schema(cox.saved, frame, origin="test"))
    np.testing.assert_allclose(total, log_hazard, rtol=0, atol=1e-8)


def test_compare_refuses_unknown_names_before_reading_the_dataset(tmp_path: Path) -> None:
    with pytest.raises(PrognosisError, match=r"unknown model\(s\) \['deepsurv'\]; choose from"):
        workflow.compare(tmp_path / "no such dataset", ["cox", "deepsurv"], [HORIZON])


def test_compare_gives_one_row_per_model(gi_bleed: Path) -> None:
    rows = workflow.compare(gi_bleed, ["cox", "weibull"], [HORIZON], split="cv:3")
    assert [(row["model"], row["horizon"]) for row in rows] == [
        ("marginal incidence (no model)", HORIZON),
        ("cox", HORIZON),
        ("weibull", HORIZON),
    ]
    assert all(0.5 < row["harrell_c"] < 1.0 for row in rows[1:])


# -- reports -----------------------------------------------------------------------------------
def test_report_model_writes_the_page(cox: workflow.Fitted, gi_bleed: Path, tmp_path: Path) -> None:
    written = workflow.report_model(cox.out, gi_bleed, tmp_path / "report")
    assert written.page == tmp_path / "report" / "index.html"
    html = written.page.read_text(encoding="utf-8")
    assert "fit without validation (--split none)" in html
    assert [w.kind for w in written.verdict.warnings] == ["not_validated"]
    assert 'role="alert"><strong>Warning:</strong> not validated' in html


def test_report_patients_keeps_pseudonyms_in_data_pseudonyms_by_default(
    cox: workflow.Fitted,
    gi_bleed: Path,
    predictions: workflow.Scored,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    persons = pd.read_parquet(predictions.out)["person_id"].iloc[:2].tolist()
    written = workflow.report_patients(cox.out, gi_bleed, tmp_path / "pages", ids=persons)
    assert len(written.pages) == 2 and written.index == tmp_path / "pages" / "index.html"
    assert written.mapping == Path("data/pseudonyms") / gi_bleed.name / "mapping.csv"
    mapped = pd.read_csv(tmp_path / written.mapping)["person_id"].tolist()
    assert sorted(mapped) == sorted(persons)
