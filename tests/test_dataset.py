"""Reading dataset folders (prognosis.dataset): a corrupt or mis-shaped file is one clear
message naming it; features, target and competing events come from the rows as written."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from prognosis.artifacts import DatasetManifest, Feature, write_features, write_manifest
from prognosis.cli import main
from prognosis.dataset import DatasetError, feature_frame, load_dataset

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


# -- the rows: features, target, competing events ----------------------------------------------
def _folder(tmp_path: Path, frame: pd.DataFrame) -> Path:
    """A dataset folder as a build writes one, holding ``frame``."""
    folder = tmp_path / "dataset"
    folder.mkdir()
    frame.to_parquet(folder / "dataset.parquet")
    write_features(folder / "features.json", (Feature("age", kind="demographics"),))
    write_manifest(folder / "manifest.json", DatasetManifest(cohort="hand-made"))
    return folder


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": [1, 2, 3, 4],
            "age": [50, 61, 72, 83],  # integers
            "smoker": [True, False, True, False],
            "bmi": pd.array([22, None, 31, 27], dtype="Int64"),  # nullable, one missing
            "index_date": pd.to_datetime(["2020-01-01"] * 4),
            "site": ["north", "south", "north", "east"],
            "time": [10.0, 20.0, 30.0, 40.0],
            "event": [1, 2, 0, 2],
            "censor_reason": [None, None, "end_of_observation", None],
        },
        index=[7, 8, 9, 10],  # stored by pandas: dropped when read
    )


def test_features_are_the_columns_other_than_the_survival_columns_in_order(
    tmp_path: Path,
) -> None:
    dataset = load_dataset(_folder(tmp_path, _rows()))
    assert dataset.feature_names == ["age", "smoker", "bmi", "site"]
    assert dataset.frame.index.tolist() == [0, 1, 2, 3]
    assert [feature.name for feature in dataset.features] == ["age"]
    assert dataset.manifest.cohort == "hand-made"


def test_numeric_features_become_floats_with_nan_and_categories_stay_text(
    tmp_path: Path,
) -> None:
    X = load_dataset(_folder(tmp_path, _rows())).X
    assert X.dtypes.astype(str).tolist() == ["float64", "float64", "float64", "object"]
    assert X["age"].tolist() == [50.0, 61.0, 72.0, 83.0]
    assert X["smoker"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert X["bmi"].isna().tolist() == [False, True, False, False]
    assert X["site"].tolist() == ["north", "south", "north", "east"]
    numbers = feature_frame(_rows().reset_index(drop=True), ["bmi", "age"])  # all numeric
    assert numbers.to_numpy().tolist()[0] == [22.0, 50.0] and np.isnan(numbers.iloc[1, 0])


def test_event_codes_give_the_target_and_competing_events(tmp_path: Path) -> None:
    dataset = load_dataset(_folder(tmp_path, _rows()))
    assert dataset.competing
    assert dataset.y["event"].tolist() == [1, 2, 0, 2]
    assert dataset.y["time"].tolist() == [10.0, 20.0, 30.0, 40.0]


def test_competing_events_censored_keep_their_time_and_say_why(tmp_path: Path) -> None:
    dataset = load_dataset(_folder(tmp_path, _rows()))
    censored = dataset.competing_censored()
    assert censored.frame["event"].tolist() == [1, 0, 0, 0]
    assert censored.frame["censor_reason"].tolist() == [
        None,
        "competing_event",
        "end_of_observation",
        "competing_event",
    ]
    assert censored.frame["time"].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert not censored.competing and censored.y["event"].dtype == bool
    assert dataset.frame["event"].tolist() == [1, 2, 0, 2]  # the original is untouched


def test_a_subset_keeps_the_rows_asked_for(tmp_path: Path) -> None:
    dataset = load_dataset(_folder(tmp_path, _rows()))
    part = dataset.subset(np.array([3, 1]))
    assert part.frame["person_id"].tolist() == [4, 2] and part.features == dataset.features


def test_a_dataset_without_time_names_the_column(tmp_path: Path) -> None:
    folder = _folder(tmp_path, _rows().drop(columns="time"))
    with pytest.raises(DatasetError, match=r"dataset.parquet: no column time; a survival dataset"):
        load_dataset(folder)
