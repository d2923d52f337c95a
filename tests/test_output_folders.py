"""Where commands may write: user files are never replaced, sources never overwritten, a second
writer is stopped, crashed runs are cleaned up, person-level outputs are owner-only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from prognosis.cli import main
from prognosis.exceptions import OutputError
from prognosis.output_folders import OutputKind, claim_output, output_kind_of
from prognosis.outputs import atomic_directory, atomic_file, write_parquet_output

DEFINITION = Path(__file__).resolve().parents[1] / "cohorts" / "gi_bleed_nsaid.yaml"


def _run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- cohort build -------------------------------------------------------------------------------
def test_build_into_a_folder_with_user_files_is_refused_and_loses_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "thesis.docx").write_text("x")
    result = _run("cohort", "build", str(DEFINITION), "--out", str(folder), "--quiet")
    assert result.exit_code == 1
    assert "thesis.docx" in result.output and "not a previous cohort dataset" in result.output
    assert (folder / "thesis.docx").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no lock, no staging left


def test_build_into_its_own_source_folder_is_refused(tmp_path: Path, eunomia_path: Path) -> None:
    source = tmp_path / "cdm"
    source.mkdir()
    with duckdb.connect(str(eunomia_path), read_only=True) as con:
        con.execute(f"COPY (SELECT * FROM main.person) TO '{source / 'person.csv'}'")
    for out in (source, tmp_path):  # the source folder, and a folder holding it
        result = _run(
            "cohort", "build", str(DEFINITION), "--source", str(source), "--out", str(out)
        )
        assert result.exit_code == 1
        assert "overlap" in result.output and str(source) in result.output
    assert [p.name for p in source.iterdir()] == ["person.csv"]


def test_rebuilding_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "gi"
    assert _run("cohort", "build", str(DEFINITION), "--out", str(out), "--quiet").exit_code == 0
    first = (out / "dataset.parquet").read_bytes()
    again = _run("cohort", "build", str(DEFINITION), "--out", str(out), "--quiet")
    assert again.exit_code == 1 and "pass --overwrite" in again.output
    result = _run("cohort", "build", str(DEFINITION), "--out", str(out), "--quiet", "--overwrite")
    assert result.exit_code == 0
    assert (out / "dataset.parquet").read_bytes() == first


def test_dataset_is_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "gi"
    assert _run("cohort", "build", str(DEFINITION), "--out", str(out), "--quiet").exit_code == 0
    assert _mode(out) == 0o700
    assert {_mode(path) for path in out.iterdir()} == {0o600}


@pytest.mark.parametrize("case", ["symlink", "file", "root", "parent-file"])
def test_impossible_out_paths_are_refused_before_work(tmp_path: Path, case: str) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    out = {
        "symlink": tmp_path / "link",
        "file": tmp_path / "a-file",
        "root": Path("/"),
        "parent-file": tmp_path / "a-file" / "gi",
    }[case]
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "a-file").write_text("mine")
    expected = {
        "symlink": "symbolic link",
        "file": "is a file; the cohort dataset is a folder",
        "root": "root of the file system",
        "parent-file": "is a file, not a folder",
    }[case]
    result = _run("cohort", "build", str(DEFINITION), "--out", str(out))
    assert result.exit_code == 1
    assert expected in result.output
    assert "open eunomia" not in result.output  # refused before the build started
    assert (tmp_path / "a-file").read_text() == "mine" and not list(target.iterdir())


# -- other commands -----------------------------------------------------------------------------
def test_synth_never_replaces_a_file_it_did_not_write(tmp_path: Path) -> None:
    real = tmp_path / "real.duckdb"
    with duckdb.connect(str(real)) as con:
        con.execute("CREATE TABLE person AS SELECT 1 AS person_id")
    before = real.read_bytes()
    for extra in ([], ["--overwrite"]):
        result = _run("synth", "--persons", "5", "--out", str(real), *extra)
        assert result.exit_code == 1 and "not a previous synthetic CDM file" in result.output
    assert real.read_bytes() == before

    ours = tmp_path / "synth.duckdb"
    assert _run("synth", "--persons", "5", "--out", str(ours), "--quiet").exit_code == 0
    again = _run("synth", "--persons", "6", "--out", str(ours), "--quiet")
    assert again.exit_code == 1 and "--overwrite" in again.output
    replaced = _run("synth", "--persons", "6", "--out", str(ours), "--quiet", "--overwrite")
    assert replaced.exit_code == 0


def test_a_file_output_is_not_written_inside_a_model_directory(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "manifest.json").write_text('{"format": "prognosis-model/1", "files": {}}')
    with (
        pytest.raises(OutputError, match="overlap"),
        claim_output(model / "p.parquet", OutputKind.PREDICTIONS, protect=[model]),
    ):
        pass


def test_n_boot_must_not_be_negative(gi_bleed: Path, tmp_path: Path) -> None:
    result = _run(
        "fit", str(gi_bleed), "--model", "cox", "--horizon", "365", "--n-boot", "-5",
        "--out", str(tmp_path / "m"),
    )  # fmt: skip
    assert result.exit_code == 2 and "-5 is not in the range x>=0" in result.output


def test_parquet_outputs_are_marked_and_owner_only(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "p.parquet"
    with claim_output(path, OutputKind.PREDICTIONS):
        write_parquet_output(pd.DataFrame({"risk": [0.1]}), path, OutputKind.PREDICTIONS)
    assert output_kind_of(path) is OutputKind.PREDICTIONS and _mode(path) == 0o600
    assert pq.read_table(path).column("risk").to_pylist() == [0.1]
    with (
        pytest.raises(OutputError, match="not a previous SHAP values file"),
        claim_output(path, OutputKind.SHAP_VALUES, overwrite=True),
    ):
        pass


def test_report_folders_keep_the_usual_permissions(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with claim_output(out, OutputKind.PATIENT_REPORTS), atomic_directory(out) as folder:
        (folder / "index.html").write_text("<p>")
    umask = os.umask(0)
    os.umask(umask)
    assert _mode(out) == 0o777 & ~umask and _mode(out / "index.html") == 0o666 & ~umask


# -- locks and leftovers ------------------------------------------------------------------------
_HOLD = textwrap.dedent(
    """
    import sys, time
    from prognosis.output_folders import OutputKind, claim_output
    with claim_output(sys.argv[1], OutputKind.DATASET):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_a_second_writer_is_told_the_output_is_being_written(tmp_path: Path) -> None:
    out = tmp_path / "gi"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = _run("cohort", "build", str(DEFINITION), "--out", str(out))
        assert result.exit_code == 1
        assert "being written by another process" in result.output
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the lock died with its process (kill -9 included): the next writer goes ahead
    assert _run("cohort", "build", str(DEFINITION), "--out", str(out), "--quiet").exit_code == 0


def test_leftovers_of_crashed_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "gi"
    with claim_output(out, OutputKind.DATASET), atomic_directory(out) as folder:
        (folder / "manifest.json").write_text('{"cohort": "x", "files": {"dataset.parquet": ""}}')
    (tmp_path / ".gi.tmp-abc").mkdir()
    (tmp_path / ".gi.tmp-abc" / "dataset.parquet").write_text("half")
    (tmp_path / ".gi.old-123").mkdir()
    with claim_output(out, OutputKind.DATASET, overwrite=True):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gi"]


def test_an_output_caught_between_the_renames_is_put_back(tmp_path: Path) -> None:
    out = tmp_path / "gi"
    old = tmp_path / ".gi.old-4242"  # a crash after moving the previous output aside
    old.mkdir()
    (old / "manifest.json").write_text('{"cohort": "x", "files": {"dataset.parquet": ""}}')
    (tmp_path / ".gi.tmp-xyz").mkdir()  # ... and before renaming the new one in
    with claim_output(out, OutputKind.DATASET, overwrite=True):
        assert (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gi"]


def test_a_failed_write_leaves_the_previous_output_and_no_staging(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    out.write_text("previous")
    with (
        pytest.raises(OutputError, match="could not write the output"),
        atomic_file(out) as temporary,
    ):
        raise OSError(28, "No space left on device", str(temporary))
    assert out.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == [
        "result.json"
    ]


def test_model_directory_and_predictions_are_owner_only(gi_bleed: Path, tmp_path: Path) -> None:
    model, predictions = tmp_path / "model", tmp_path / "p.parquet"
    fit = ["fit", str(gi_bleed), "--model", "cox", "--horizon", "365", "--split", "none"]
    assert _run(*fit, "--n-boot", "0", "--out", str(model), "--quiet").exit_code == 0
    assert _mode(model) == 0o700 and {_mode(p) for p in model.iterdir()} == {0o600}
    assert _run("predict", str(model), str(gi_bleed), "--out", str(predictions)).exit_code == 0
    assert _mode(predictions) == 0o600
    again = _run("predict", str(model), str(gi_bleed), "--out", str(predictions))
    assert again.exit_code == 1 and "--overwrite" in again.output
