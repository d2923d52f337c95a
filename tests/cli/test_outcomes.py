"""The CLI on a dataset of several outcomes: ``fit`` (one model per outcome, or ``--outcome``),
``compare`` per outcome, and the commands that take one model refusing a folder of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from prognosis.cli import main
from prognosis.models.store import load_model
from prognosis.output_folders import OutputKind, output_kind_of

OUTCOMES = ["stroke", "major_bleeding", "heart_failure_admission", "death"]


@pytest.fixture(scope="module")
def dataset(synth_af_complications: Path) -> Path:
    """synth_af_complications built on a 3,000-person synthetic CDM (seed 7)."""
    return synth_af_complications


def _run(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(arguments))
    return result.exit_code, result.output


def _fit(dataset: Path, out: Path, *more: str) -> tuple[int, str]:
    return _run(
        "fit", str(dataset), "--model", "xgb-cause-specific", "--horizon", "365",
        "--split", "cv:3", "--n-boot", "0", "--out", str(out), "--quiet", *more,
    )  # fmt: skip


def test_fit_writes_a_folder_of_models_one_per_outcome(dataset: Path, tmp_path: Path) -> None:
    code, output = _fit(dataset, tmp_path / "models")
    assert code == 0, output
    assert output_kind_of(tmp_path / "models") is OutputKind.MODEL_SET
    for name in OUTCOMES:
        assert f"model (outcome {name}) → {tmp_path / 'models' / name}" in output.replace("\n", "")
        assert load_model(tmp_path / "models" / name).info.outcome == name
    assert "warning: y has no competing events" in output  # death: nothing competes with it
    # a second fit into the same folder needs --overwrite
    code, output = _fit(dataset, tmp_path / "models")
    assert code == 1 and "pass --overwrite" in output and "Traceback" not in output
    # the commands that take one model name the models of the folder
    code, output = _run(
        "evaluate", str(tmp_path / "models"), str(dataset), "--out", str(tmp_path / "m.json")
    )
    assert code == 1 and "Traceback" not in output
    assert "a folder of models, one per outcome" in output and "models/death" in output


def test_fit_outcome_fits_only_that_one(dataset: Path, tmp_path: Path) -> None:
    code, output = _fit(dataset, tmp_path / "stroke", "--outcome", "stroke")
    assert code == 0, output
    saved = load_model(tmp_path / "stroke")
    assert saved.info.outcome == "stroke" and saved.info.competing
    code, output = _run(
        "evaluate", str(tmp_path / "stroke"), str(dataset), "--out", str(tmp_path / "m.json"),
        "--n-boot", "0", "--quiet",
    )  # fmt: skip
    assert code == 0, output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n_test"] == saved.info.training_rows  # the stroke rows, not the whole cohort


def test_an_outcome_the_dataset_lacks_is_refused_naming_the_ones_it_has(
    dataset: Path, tmp_path: Path
) -> None:
    code, output = _fit(dataset, tmp_path / "m", "--outcome", "bleeding")
    assert code == 1 and "Traceback" not in output
    assert "no outcome 'bleeding'; it has stroke, major_bleeding, heart_failure_admission" in (
        output.replace("\n", " ")
    )
    assert not (tmp_path / "m").exists()


def test_compare_gives_one_table_per_outcome(dataset: Path) -> None:
    code, output = _run(
        "compare", str(dataset), "--models", "xgb-cause-specific", "--horizon", "365",
        "--split", "cv:3", "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, output
    compared = json.loads(output[output.index("{") :])
    assert list(compared) == OUTCOMES
    for rows in compared.values():
        assert [row["model"] for row in rows] == [
            "marginal incidence (no model)",
            "xgb-cause-specific",
        ]
    code, output = _run(
        "compare", str(dataset), "--models", "xgb-cause-specific", "--horizon", "365",
        "--split", "cv:3", "--outcome", "major_bleeding", "--quiet",
    )  # fmt: skip
    assert code == 0, output
    words = " ".join(output.split())
    assert "outcome major_bleeding" in words and "outcome stroke" not in words


def test_param_passes_estimator_parameters_to_every_outcomes_model(
    dataset: Path, tmp_path: Path
) -> None:
    """Unpenalised cause-specific Cox models do not converge on this small cohort's rare
    columns; --param penalizer=0.1 reaches each outcome's fit and is recorded in model.json."""
    code, output = _run(
        "fit", str(dataset), "--model", "cause-specific-cox", "--horizon", "365",
        "--split", "none", "--n-boot", "0", "--param", "penalizer=0.1",
        "--out", str(tmp_path / "models"), "--quiet",
    )  # fmt: skip
    assert code == 0, output
    for name in OUTCOMES:
        assert load_model(tmp_path / "models" / name).info.params["penalizer"] == 0.1
    code, output = _run(
        "fit", str(dataset), "--model", "cause-specific-cox", "--horizon", "365",
        "--param", "penaliser=0.1", "--out", str(tmp_path / "other"),
    )  # fmt: skip
    assert code == 1 and "Traceback" not in output and not (tmp_path / "other").exists()
    assert "has no parameter 'penaliser'; it has penalizer" in output
