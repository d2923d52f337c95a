"""Model directories (prognosis.models.store): round trips, the xgboost JSON, hash verification.

The expected layout is the documented one (the module docstring of ``store.py``); the expected
hashes come from ``hashlib``; a loaded model must predict exactly what the saved one did.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost

from prognosis.dataset import CohortDataset
from prognosis.evaluation.validation import parse_split
from prognosis.models.store import ModelDirectoryError, SavedModel, load_model, save_model
from prognosis.training import fit_model, predict_frame

LAYOUT = {
    "model.json",
    "feature_schema.json",
    "features.json",
    "training_manifest.json",
    "training_target.parquet",
    "metrics.json",
    "pipeline.joblib",
    "manifest.json",
}
BOOSTER = "xgboost_model.json"
MODELS = {  # name: (params, competing data)
    "cox": ({}, False),
    "xgb-cox": ({"n_estimators": 12, "n_jobs": 1}, False),
    "cause-specific-cox": ({}, True),
}


def _dataset(competing: bool, n: int = 240, seed: int = 1) -> CohortDataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    flag = rng.binomial(1, 0.5, size=n).astype(float)
    outcome = rng.exponential(800.0 * np.exp(-(0.8 * x + 0.5 * flag)))
    death = rng.exponential(1200.0 * np.exp(-0.6 * flag)) if competing else np.full(n, np.inf)
    censor = rng.uniform(100.0, 1500.0, size=n)
    first = np.minimum.reduce([outcome, death, censor])
    event = np.select([first == outcome, first == death], [1, 2], default=0)
    frame = pd.DataFrame(
        {
            "person_id": np.arange(n),
            "index_date": [dt.date(2016, 1, 1)] * n,
            "time": np.maximum(1, np.ceil(first)).astype(int),
            "event": event,
            "censor_reason": None,
            "x": x,
            "flag": flag,
            "lab": np.where(rng.random(n) < 0.2, np.nan, rng.normal(5, 1, n)),  # imputed
        }
    )
    features = [{"name": "x", "label": "a planted risk factor"}]
    return CohortDataset(Path("planted"), frame, features, {"cohort": "planted", "source": "t"})


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Per model name: (dataset, the fitted SavedModel, the directory it was saved to)."""
    out = {}
    for name, (params, competing) in MODELS.items():
        dataset = _dataset(competing)
        model = fit_model(dataset, name, [180, 365], parse_split("none"), seed=3, params=params)
        folder = tmp_path_factory.mktemp(name) / "model"
        save_model(folder, model)
        out[name] = (dataset, model, folder)
    return out


@pytest.fixture(params=list(MODELS))
def saved(request: pytest.FixtureRequest, fitted: dict[str, tuple]) -> tuple:
    """(model name, dataset, the fitted SavedModel, its directory), for each model."""
    return (request.param, *fitted[request.param])


@pytest.fixture(scope="module")
def cox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = fit_model(_dataset(False), "cox", [365], parse_split("none"))
    folder = tmp_path_factory.mktemp("cox") / "model"
    save_model(folder, model)
    return folder


@pytest.fixture
def copy(cox_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy of a saved Cox model directory, to tamper with."""
    return Path(shutil.copytree(cox_dir, tmp_path / "model"))


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# -- round trip -------------------------------------------------------------------------------
def test_loaded_model_predicts_exactly_what_the_saved_one_did(saved) -> None:
    _, dataset, model, folder = saved
    loaded = load_model(folder)
    pd.testing.assert_frame_equal(
        predict_frame(loaded, dataset.frame, origin="t"),
        predict_frame(model, dataset.frame, origin="t"),
        check_exact=True,
    )
    np.testing.assert_array_equal(
        loaded.pipeline.predict(dataset.X), model.pipeline.predict(dataset.X)
    )
    times = np.array([30.0, 200.0, 700.0])
    np.testing.assert_array_equal(
        loaded.pipeline.predict_survival(dataset.X, times),
        model.pipeline.predict_survival(dataset.X, times),
    )


def test_loaded_model_keeps_what_it_was_trained_on(saved) -> None:
    name, dataset, model, folder = saved
    loaded = load_model(folder)
    assert loaded.info == json.loads(json.dumps(model.info))
    assert loaded.info["model"] == name
    assert loaded.feature_names == ["x", "flag", "lab"]
    assert loaded.features == dataset.features
    assert loaded.training_manifest == dataset.manifest
    assert loaded.metrics == model.metrics
    np.testing.assert_array_equal(loaded.training_target["time"], dataset.frame["time"])
    np.testing.assert_array_equal(loaded.training_target["event"], dataset.frame["event"])


def test_competing_model_keeps_every_cause_after_loading(fitted) -> None:
    dataset, model, folder = fitted["cause-specific-cox"]
    loaded = load_model(folder)
    assert set(dataset.frame["event"]) == {0, 1, 2}
    np.testing.assert_array_equal(
        loaded.pipeline.predict_cumulative_incidence(dataset.X, 2, [365.0]),
        model.pipeline.predict_cumulative_incidence(dataset.X, 2, [365.0]),
    )


def test_directory_holds_the_documented_files(saved) -> None:
    name, _, _, folder = saved
    expected = LAYOUT | ({BOOSTER} if name == "xgb-cox" else set())
    assert {path.name for path in folder.iterdir()} == expected


def test_manifest_lists_the_sha256_of_every_other_file(saved) -> None:
    _, _, _, folder = saved
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "prognosis-model/1"
    assert manifest["files"] == {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.iterdir()
        if path.name != "manifest.json"
    }


# -- xgboost: its own JSON, not a pickle ------------------------------------------------------
def test_xgboost_booster_is_stored_as_json_that_xgboost_reads(fitted) -> None:
    dataset, model, folder = fitted["xgb-cox"]
    json.loads((folder / BOOSTER).read_text(encoding="utf-8"))  # valid JSON
    booster = xgboost.Booster()
    booster.load_model(str(folder / BOOSTER))
    assert booster.num_boosted_rounds() == 12
    X = model.pipeline[:-1].transform(dataset.X).to_numpy(dtype=float)
    np.testing.assert_allclose(
        booster.inplace_predict(X, predict_type="margin"),
        model.pipeline.predict(dataset.X),
        rtol=1e-6,
    )


def test_a_modified_or_deleted_booster_is_refused_by_name(fitted, tmp_path: Path) -> None:
    _, _, folder = fitted["xgb-cox"]
    modified = Path(shutil.copytree(folder, tmp_path / "modified"))
    _flip_a_byte(modified / BOOSTER)
    with pytest.raises(ModelDirectoryError, match=r"xgboost_model\.json was modified"):
        load_model(modified)
    deleted = Path(shutil.copytree(folder, tmp_path / "deleted"))
    (deleted / BOOSTER).unlink()
    with pytest.raises(ModelDirectoryError, match=r"xgboost_model\.json is missing"):
        load_model(deleted)


def test_pickle_holds_no_booster_and_saving_leaves_the_model_usable(saved) -> None:
    name, dataset, model, folder = saved
    pipeline = joblib.load(folder / "pipeline.joblib")
    assert getattr(pipeline.steps[-1][1], "booster_", None) is None
    if name == "xgb-cox":
        assert model.pipeline.steps[-1][1].booster_ is not None  # put back after saving
        # every serialised tree (JSON or UBJSON) names its "split_conditions"; the pickle has none
        assert b"split_conditions" in (folder / BOOSTER).read_bytes()
        assert b"split_conditions" not in (folder / "pipeline.joblib").read_bytes()
    assert np.isfinite(model.pipeline.predict_risk(dataset.X, 365.0)).all()


# -- verification -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(LAYOUT - {"manifest.json"}))
def test_a_modified_file_is_refused_by_name(copy: Path, name: str) -> None:
    _flip_a_byte(copy / name)
    with pytest.raises(
        ModelDirectoryError,
        match=rf"refusing to load .* {name.replace('.', '[.]')} was modified \(SHA-256 differs\)",
    ):
        load_model(copy)


@pytest.mark.parametrize("name", sorted(LAYOUT - {"manifest.json"}))
def test_a_deleted_file_is_refused_by_name(copy: Path, name: str) -> None:
    (copy / name).unlink()
    with pytest.raises(ModelDirectoryError, match=rf"{name.replace('.', '[.]')} is missing"):
        load_model(copy)


def test_an_added_file_is_refused_by_name(copy: Path) -> None:
    (copy / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(ModelDirectoryError, match=r"notes\.txt is not in the manifest"):
        load_model(copy)


def test_an_added_booster_is_refused(copy: Path) -> None:
    (copy / BOOSTER).write_text("{}", encoding="utf-8")
    with pytest.raises(ModelDirectoryError, match=r"xgboost_model\.json is not in the manifest"):
        load_model(copy)


def test_a_changed_hash_in_the_manifest_is_refused(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["metrics.json"] = hashlib.sha256(b"something else").hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelDirectoryError, match=r"metrics\.json was modified"):
        load_model(copy)


def test_a_corrupt_manifest_is_refused_by_name(copy: Path) -> None:
    (copy / "manifest.json").write_text('{"files": ', encoding="utf-8")
    with pytest.raises(ModelDirectoryError, match=r"manifest\.json: cannot read"):
        load_model(copy)


def test_an_unknown_format_in_the_manifest_is_refused_by_name(copy: Path) -> None:
    path = copy / "manifest.json"
    path.write_text(
        path.read_text(encoding="utf-8").replace("prognosis-model/1", "prognosis-model/9"),
        encoding="utf-8",
    )
    with pytest.raises(ModelDirectoryError, match=r"manifest\.json.*'prognosis-model/9'"):
        load_model(copy)


def test_an_unknown_format_in_model_json_is_refused(copy: Path) -> None:
    """A consistent directory (hashes updated) of a format this version cannot read."""
    info = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    (copy / "model.json").write_text(json.dumps({**info, "format": "prognosis-model/9"}))
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["model.json"] = hashlib.sha256((copy / "model.json").read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(
        ModelDirectoryError,
        match=r"unknown model format 'prognosis-model/9' \(expected prognosis-model/1\)",
    ):
        load_model(copy)


def test_a_directory_without_a_manifest_is_refused(copy: Path) -> None:
    (copy / "manifest.json").unlink()
    with pytest.raises(ModelDirectoryError, match=r"not a model directory \(no manifest\.json\)"):
        load_model(copy)


def test_a_missing_path_or_a_file_is_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelDirectoryError, match="no such model directory"):
        load_model(tmp_path / "absent")
    (tmp_path / "model.joblib").write_bytes(b"not a directory")
    with pytest.raises(ModelDirectoryError, match=r"model\.joblib: no such model directory"):
        load_model(tmp_path / "model.joblib")


def test_saving_replaces_an_older_model_directory(cox_dir: Path, tmp_path: Path) -> None:
    target = Path(shutil.copytree(cox_dir, tmp_path / "model"))
    (target / "stale.txt").write_text("left over", encoding="utf-8")
    model: SavedModel = load_model(cox_dir)
    save_model(target, model)
    assert {path.name for path in target.iterdir()} == LAYOUT
    load_model(target)
