"""`prognosis report model` and `prognosis report patients` through click's CliRunner.

The cohort and model are the report tests' (``built``, tests/report/conftest.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from prognosis.cli import main
from tests.report.conftest import Built


def test_report_patients_writes_pages_and_prints_their_paths(built: Built, tmp_path: Path) -> None:
    out, private = tmp_path / "patients", tmp_path / "private"
    args = ["report", "patients", str(built.model), str(built.dataset), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--sample", "2", "--mapping-dir", str(private)])
    assert result.exit_code == 0, result.output
    pages = sorted(out.glob("P-*.html"))
    assert len(pages) == 2
    for page in pages:
        assert str(page) in result.output
    assert f"index → {out / 'index.html'}" in result.output
    assert str(private / "mapping.csv") in result.output
    numbers = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert sorted(p["pseudonym"] for p in numbers["report"]["patients"]) == [p.stem for p in pages]


def test_report_model_writes_the_page_and_prints_its_path(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["report", "model", str(built.model), str(built.dataset), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--n-boot", "7"])
    assert result.exit_code == 0, result.output
    assert f"model report → {out / 'index.html'}" in result.output
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "3-fold cross-validation" in page  # the model's stored metrics: its training cohort
    result = CliRunner().invoke(main, [*args, "--n-boot", "7"])
    assert result.exit_code == 1
    assert "--overwrite" in result.output and "Traceback" not in result.output


def test_report_model_shows_the_metrics_file_it_is_given(built: Built, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    evaluate = ["evaluate", str(built.model), str(built.dataset), "--out", str(metrics)]
    evaluated = CliRunner().invoke(main, [*evaluate, "--n-boot", "0"])
    assert evaluated.exit_code == 0, evaluated.output
    # the model's own training rows: the terminal and the report call the figures apparent
    assert "Apparent (in-sample) performance" in " ".join(evaluated.output.split())
    out = tmp_path / "report"
    args = ["report", "model", str(built.model), str(built.dataset), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--metrics", str(metrics)])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "apparent (in-sample) performance, from prognosis evaluate on" in page
    numbers = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert numbers["report"]["metrics"]["origin"].startswith("apparent (in-sample) performance")


def test_report_errors_are_printed_not_raised(built: Built, tmp_path: Path) -> None:
    missing = ["report", "model", str(tmp_path / "nope"), str(built.dataset), "--out", "x"]
    result = CliRunner().invoke(main, missing)
    assert result.exit_code == 1
    assert "error:" in result.output and "no such model directory" in result.output
    bad_ids = ["report", "patients", str(built.model), str(built.dataset), "--out", "y"]
    result = CliRunner().invoke(main, [*bad_ids, "--ids", "12,abc"])
    assert result.exit_code == 1
    assert "--ids takes whole numbers" in result.output


def test_report_model_refuses_an_ill_formed_validation_file_by_name(
    built: Built, tmp_path: Path
) -> None:
    model = Path(shutil.copytree(built.model, tmp_path / "model"))
    path = model / "validation_predictions.parquet"
    table = pq.read_table(path)
    risks = table.column("risk_180").to_pylist()
    risks[0] = 2.0
    pq.write_table(
        table.set_column(table.column_names.index("risk_180"), "risk_180", pa.array(risks)), path
    )
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()  # re-hashed
    (model / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    args = ["report", "model", str(model), str(built.dataset), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "validation_predictions.parquet: column 'risk_180': expected risks from 0 to 1" in text
    assert "Traceback" not in result.output
