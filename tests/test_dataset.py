"""Reading dataset folders: a corrupt or mis-shaped file is one clear message naming it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from prognosis.cli import main
from prognosis.dataset import DatasetError, load_dataset

DEFINITION = Path(__file__).resolve().parents[1] / "cohorts" / "gi_bleed_nsaid.yaml"


@pytest.fixture
def copy(gi_bleed: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "gi"
    shutil.copytree(gi_bleed, folder)
    return folder


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("dataset.parquet", b"PAR1 not really", r"dataset.parquet: not a readable Parquet"),
        (
            "manifest.json",
            b"[1, 2]",
            r"manifest.json: expected a JSON object, found an array; rebuild the dataset",
        ),
        ("features.json", b'{"a": 1}', r"features.json: expected a JSON array, found an object"),
        ("features.json", b"[{", r"features.json: cannot read \(Expecting"),
        ("manifest.json", b"\xff\xfe{}", r"manifest.json: cannot read \('utf-8' codec"),
    ],
)
def test_corrupt_files_name_the_file(copy: Path, name: str, content: bytes, match: str) -> None:
    (copy / name).write_bytes(content)
    with pytest.raises(DatasetError, match=match):
        load_dataset(copy)


def test_missing_folder_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such dataset folder; build one"):
        load_dataset(tmp_path / "nothing")


def test_fit_on_a_corrupt_dataset_prints_one_message(copy: Path, tmp_path: Path) -> None:
    (copy / "dataset.parquet").write_bytes(b"garbage")
    result = CliRunner().invoke(
        main, ["fit", str(copy), "--model", "cox", "--horizon", "365", "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 1
    assert "not a readable Parquet dataset" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


_FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    from prognosis.cli import main
    main(sys.argv[1:])
    """
)


def test_a_disk_that_fills_up_leaves_the_previous_dataset(tmp_path: Path) -> None:
    out = tmp_path / "gi"
    args = ["cohort", "build", str(DEFINITION), "--out", str(out), "--quiet"]
    assert CliRunner().invoke(main, args).exit_code == 0
    before = (out / "dataset.parquet").read_bytes()
    result = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, *args, "--overwrite"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "gi: could not write the output (" in result.stderr
    assert "File too large); nothing was replaced" in result.stderr
    assert "Traceback" not in result.stderr
    assert (out / "dataset.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gi"]
