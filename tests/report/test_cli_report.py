"""`prognosis report model` and `prognosis report patients` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import prognosis.report
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


def test_report_model_calls_the_library_and_prints_the_path(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def fake(model_dir: Path, dataset_dir: Path, out: Path, **options: Any) -> Path:
        calls.append({"model": model_dir, "dataset": dataset_dir, "out": out, **options})
        return out / "index.html"

    monkeypatch.setattr(prognosis.report, "write_model_report", fake)
    args = ["report", "model", str(built.model), str(built.dataset), "--out", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--n-boot", "7"])
    assert result.exit_code == 0, result.output
    assert f"model report → {tmp_path / 'index.html'}" in result.output
    assert calls == [
        {
            "model": built.model,
            "dataset": built.dataset,
            "out": tmp_path,
            "metrics_path": None,
            "n_boot": 7,
            "seed": 0,
            "overwrite": False,
        }
    ]


def test_report_errors_are_printed_not_raised(built: Built, tmp_path: Path) -> None:
    missing = ["report", "model", str(tmp_path / "nope"), str(built.dataset), "--out", "x"]
    result = CliRunner().invoke(main, missing)
    assert result.exit_code == 1
    assert "error:" in result.output and "no such model directory" in result.output
    bad_ids = ["report", "patients", str(built.model), str(built.dataset), "--out", "y"]
    result = CliRunner().invoke(main, [*bad_ids, "--ids", "12,abc"])
    assert result.exit_code == 1
    assert "--ids takes whole numbers" in result.output
