"""Model directories (prognosis.models.store): round trips of every family, no pickle, hostile
files, the old format, signing, hash verification.

The expected layout is the documented one (the module docstring of ``store.py``); the expected
hashes and signatures come from ``hashlib`` and ``hmac``; a loaded model must predict and explain
what the saved one did (to 1e-12). A hostile file is a joblib pickle whose unpickling creates a
marker file (shown to work by a test); the marker must never appear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import skops.io
import xgboost
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from prognosis.artifacts import DatasetManifest, Feature
from prognosis.dataset import CohortDataset
from prognosis.evaluation.validation import parse_split
from prognosis.explain import explain_model
from prognosis.explain.columns import model_inputs
from prognosis.models.store import ModelDirectoryError, SavedModel, load_model, save_model
from prognosis.training import fit_model, predict_frame
from tests.support.planted import Cause, planted_survival

LAYOUT = {
    "model.json",
    "feature_schema.json",
    "features.json",
    "training_manifest.json",
    "training_target.parquet",
    "metrics.json",
    "preprocess.skops",
    "estimator.json",
    "estimator.npz",
    "manifest.json",
}
SMALL = {"n_estimators": 12, "n_jobs": 1}
MODELS = {  # name: (params, competing data); every family
    "cox": ({}, False),
    "coxnet": ({"n_alphas": 10, "cv": 3}, False),
    "weibull": ({}, False),
    "rsf": ({**SMALL, "min_samples_leaf": 10}, False),
    "gbsa": ({"n_estimators": 12}, False),
    "xgb-cox": (SMALL, False),
    "xgb-aft": (SMALL, False),
    "cause-specific-cox": ({}, True),
    "fine-gray": ({}, True),
    "xgb-cause-specific": (SMALL, True),
}
KEY = "PROGNOSIS_MODEL_KEY"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run unsigned unless they set the key themselves."""
    monkeypatch.delenv(KEY, raising=False)


def _dataset(competing: bool, n: int = 240, seed: int = 1) -> CohortDataset:
    """Outcome hazard exp(0.8 x + 0.5 flag) / 800, death (competing) exp(0.6 flag) / 1200,
    uniform censoring from day 100 to 1500, whole days; ``lab`` is noise with 20% missing."""
    data = planted_survival(
        n,
        seed=seed,
        features={"x": "normal", "flag": 0.5, "lab": "normal"},
        beta={"x": 0.8, "flag": 0.5},
        base_hazard=1 / 800,
        competing=Cause(1 / 1200, {"flag": 0.6}) if competing else None,
        censor_between=(100.0, 1500.0),
        whole_days=True,
        missing={"lab": 0.2},  # imputed
    )
    frame = data.frame(
        person_id=np.arange(n),
        index_date=[dt.date(2016, 1, 1)] * n,
        censor_reason=None,
        lab=data.X["lab"] + 5.0,
    )
    columns = ["person_id", "index_date", "time", "event", "censor_reason", "x", "flag", "lab"]
    frame = frame[columns].astype({"time": int})
    features = (Feature("x", label="a planted risk factor"),)
    manifest = DatasetManifest(cohort="planted", source="t")
    return CohortDataset(Path("planted"), frame, features, manifest)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Per model name: (dataset, the fitted SavedModel, the directory it was saved to)."""
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(KEY, raising=False)
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
def cox_dir(fitted: dict[str, tuple]) -> Path:
    return fitted["cox"][2]


@pytest.fixture
def copy(cox_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy of a saved Cox model directory, to tamper with."""
    return Path(shutil.copytree(cox_dir, tmp_path / "model"))


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _rehash(folder: Path) -> None:
    """Do what an attacker who can write the directory does: make the manifest match again."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.iterdir()
        if path.name not in ("manifest.json", "manifest.hmac")
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


class _Payload:
    """Unpickling this object creates ``marker``: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def _pickle_payload(path: Path, marker: Path) -> None:
    joblib.dump(_Payload(marker), path)


def test_the_pickle_payload_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The attack is real: joblib.load of the payload creates the marker."""
    _pickle_payload(tmp_path / "payload", tmp_path / "marker")
    joblib.load(tmp_path / "payload").close()
    assert (tmp_path / "marker").exists()


# -- round trip -------------------------------------------------------------------------------
def test_loaded_model_predicts_exactly_what_the_saved_one_did(saved) -> None:
    _, dataset, model, folder = saved
    loaded = load_model(folder)
    pd.testing.assert_frame_equal(
        predict_frame(loaded, dataset.frame, origin="t"),
        predict_frame(model, dataset.frame, origin="t"),
        check_exact=False,
        rtol=0,
        atol=1e-12,
    )
    close = {"rtol": 0, "atol": 1e-12}
    np.testing.assert_allclose(
        loaded.pipeline.predict(dataset.X), model.pipeline.predict(dataset.X), **close
    )
    times = np.array([30.0, 200.0, 700.0])
    np.testing.assert_allclose(
        loaded.pipeline.predict_survival(dataset.X, times),
        model.pipeline.predict_survival(dataset.X, times),
        **close,
    )
    np.testing.assert_allclose(
        loaded.pipeline.predict_risk(dataset.X, 365.0),
        model.pipeline.predict_risk(dataset.X, 365.0),
        **close,
    )
    loaded_steps = loaded.pipeline.predict_survival_function(dataset.X.iloc[:5])
    fitted_steps = model.pipeline.predict_survival_function(dataset.X.iloc[:5])
    for got, want in zip(loaded_steps, fitted_steps, strict=True):
        np.testing.assert_array_equal(got.x, want.x)
        np.testing.assert_allclose(got.y, want.y, **close)


def test_loaded_model_explains_exactly_what_the_saved_one_did(saved) -> None:
    _, dataset, model, folder = saved
    loaded = load_model(folder)
    inputs = model_inputs(loaded.pipeline, dataset.X)
    want = model_inputs(model.pipeline, dataset.X)
    pd.testing.assert_frame_equal(inputs.data, want.data, check_exact=True)
    np.testing.assert_array_equal(inputs.array, want.array)
    got = explain_model(loaded.pipeline, dataset.X, background=dataset.X)
    expected = explain_model(model.pipeline, dataset.X, background=dataset.X)
    assert got.feature_names == expected.feature_names
    np.testing.assert_allclose(got.values, expected.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.base_values, expected.base_values, rtol=0, atol=1e-12)


def test_loaded_lifelines_families_keep_their_tables(fitted) -> None:
    for name in ("cox", "weibull"):
        _, model, folder = fitted[name]
        loaded = load_model(folder).pipeline[-1]
        pd.testing.assert_frame_equal(loaded.summary_, model.pipeline[-1].summary_)
    cox = load_model(fitted["cox"][2]).pipeline[-1]
    pd.testing.assert_frame_equal(
        cox.proportional_hazards_test_, fitted["cox"][1].pipeline[-1].proportional_hazards_test_
    )
    competing = load_model(fitted["cause-specific-cox"][2]).pipeline[-1]
    for cause, table in fitted["cause-specific-cox"][1].pipeline[-1].summary_.items():
        pd.testing.assert_frame_equal(competing.summary_[cause], table)


def test_loaded_model_keeps_what_it_was_trained_on(saved) -> None:
    name, dataset, model, folder = saved
    loaded = load_model(folder)
    assert loaded.info == model.info
    assert loaded.info.model == name
    assert loaded.feature_names == ["x", "flag", "lab"]
    assert loaded.features == dataset.features
    assert loaded.training_manifest == dataset.manifest
    assert loaded.metrics == model.metrics
    np.testing.assert_array_equal(loaded.training_target["time"], dataset.frame["time"])
    np.testing.assert_array_equal(loaded.training_target["event"], dataset.frame["event"])
    assert loaded.pipeline[-1].get_params() == model.pipeline[-1].get_params()


@pytest.mark.parametrize("name", ["cause-specific-cox", "xgb-cause-specific"])
def test_competing_model_keeps_every_cause_after_loading(fitted, name) -> None:
    dataset, model, folder = fitted[name]
    loaded = load_model(folder)
    assert set(dataset.frame["event"]) == {0, 1, 2}
    np.testing.assert_array_equal(
        loaded.pipeline.predict_cumulative_incidence(dataset.X, 2, [365.0]),
        model.pipeline.predict_cumulative_incidence(dataset.X, 2, [365.0]),
    )


def test_directory_holds_the_documented_files(saved) -> None:
    _, _, _, folder = saved
    assert {path.name for path in folder.iterdir()} == LAYOUT


def test_manifest_lists_the_sha256_of_every_other_file(saved) -> None:
    _, _, _, folder = saved
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "prognosis-model/2"
    assert manifest["files"] == {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.iterdir()
        if path.name != "manifest.json"
    }


# -- no pickle anywhere -----------------------------------------------------------------------
def test_every_file_is_json_parquet_or_a_zip_of_json_and_arrays(saved) -> None:
    _, _, _, folder = saved
    for path in folder.iterdir():
        if path.suffix == ".json":
            json.loads(path.read_bytes())
        elif path.suffix == ".parquet":
            assert path.read_bytes()[:4] == b"PAR1"
        else:  # .skops and .npz are zip archives of JSON and .npy members
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            assert names and all(n == "schema.json" or n.endswith(".npy") for n in names), path
    with np.load(folder / "estimator.npz", allow_pickle=False) as arrays:
        assert all(not arrays[name].dtype.hasobject for name in arrays.files)


def test_xgboost_booster_is_stored_as_json_that_xgboost_reads(fitted) -> None:
    dataset, model, folder = fitted["xgb-cox"]
    with np.load(folder / "estimator.npz", allow_pickle=False) as arrays:
        document = arrays["booster"].tobytes()
    json.loads(document)  # xgboost's own JSON model format
    booster = xgboost.Booster(model_file=bytearray(document))
    assert booster.num_boosted_rounds() == 12
    X = model.pipeline[:-1].transform(dataset.X).to_numpy(dtype=float)
    np.testing.assert_allclose(
        booster.inplace_predict(X, predict_type="margin"),
        model.pipeline.predict(dataset.X),
        rtol=1e-6,
    )


def test_saving_leaves_the_fitted_model_usable(saved) -> None:
    _, dataset, model, _ = saved
    assert np.isfinite(model.pipeline.predict_risk(dataset.X, 365.0)).all()


# -- a pickle or a foreign type put in, and the manifest re-hashed: nothing runs ----------------
@pytest.mark.parametrize("name", sorted(LAYOUT - {"manifest.json"}))
def test_a_pickle_payload_in_any_file_runs_nothing_and_is_refused(
    fitted, tmp_path: Path, name: str
) -> None:
    folder = Path(shutil.copytree(fitted["xgb-cox"][2], tmp_path / "model"))
    marker = tmp_path / "marker"
    _pickle_payload(folder / name, marker)
    _rehash(folder)
    with pytest.raises(ModelDirectoryError, match=rf"{name.replace('.', '[.]')}: cannot read"):
        load_model(folder)
    assert not marker.exists()


def test_a_pickle_payload_as_the_manifest_runs_nothing(copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _pickle_payload(copy / "manifest.json", marker)
    with pytest.raises(ModelDirectoryError, match=r"manifest\.json: cannot read"):
        load_model(copy)
    assert not marker.exists()


def test_a_pickled_array_in_the_npz_runs_nothing(copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with np.load(copy / "estimator.npz", allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["coef"] = np.array([_Payload(marker)], dtype=object)  # np.savez pickles it
    np.savez(copy / "estimator.npz", **arrays)
    _rehash(copy)
    with pytest.raises(
        ModelDirectoryError,
        match=r"estimator\.npz: cannot read \(Object arrays .* allow_pickle=False",
    ):
        load_model(copy)
    assert not marker.exists()


class _Foreign(TransformerMixin, BaseEstimator):
    """A transformer of a type outside the allow-list (a stand-in for an attacker's class)."""

    def fit(self, X: object, y: object = None) -> _Foreign:
        return self

    def transform(self, X: object) -> object:
        return X


def test_a_preprocessor_naming_a_type_outside_the_allow_list_is_refused(copy: Path) -> None:
    skops.io.dump(Pipeline([("preprocess", _Foreign())]), copy / "preprocess.skops")
    _rehash(copy)
    with pytest.raises(
        ModelDirectoryError,
        match=r"preprocess\.skops: refusing to load types outside the allow-list .*_Foreign",
    ):
        load_model(copy)


def test_a_preprocessor_calling_a_function_outside_the_allow_list_is_refused(copy: Path) -> None:
    """scikit-learn's FunctionTransformer is trusted; the function it would call is not."""
    step = FunctionTransformer(os.system)
    skops.io.dump(Pipeline([("preprocess", step)]), copy / "preprocess.skops")
    _rehash(copy)
    with pytest.raises(ModelDirectoryError, match=r"outside the allow-list .*system"):
        load_model(copy)


def test_a_forest_naming_a_type_outside_its_allow_list_is_refused(fitted, tmp_path) -> None:
    folder = Path(shutil.copytree(fitted["rsf"][2], tmp_path / "model"))
    with np.load(folder / "estimator.npz", allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["model"] = np.frombuffer(skops.io.dumps(_Foreign()), dtype=np.uint8)
    np.savez(folder / "estimator.npz", allow_pickle=False, **arrays)
    _rehash(folder)
    with pytest.raises(
        ModelDirectoryError, match=r"cannot rebuild the rsf estimator .*Untrusted.*_Foreign"
    ):
        load_model(folder)


def test_a_model_name_outside_the_registry_is_refused(copy: Path) -> None:
    info = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    (copy / "model.json").write_text(json.dumps({**info, "model": "os.system"}))
    _rehash(copy)
    with pytest.raises(ModelDirectoryError, match=r"model\.json: unknown model 'os\.system'"):
        load_model(copy)


# -- corrupt files: one clear message naming the file -------------------------------------------
JSON_FILES = {  # name: a valid JSON value of the wrong kind, and the kind expected
    "model.json": ([1, 2], "object", "an array"),
    "feature_schema.json": ({"name": "x"}, "array", "an object"),
    "features.json": ("x", "array", "a string"),
    "training_manifest.json": (None, "object", "null"),
    "metrics.json": (3, "object", "a number"),
    "estimator.json": ([], "object", "an array"),
}


@pytest.mark.parametrize("name", sorted(JSON_FILES))
def test_truncated_json_is_refused_naming_the_file(copy: Path, name: str) -> None:
    text = (copy / name).read_text(encoding="utf-8")
    (copy / name).write_text(text[: len(text) // 2], encoding="utf-8")
    _rehash(copy)
    with pytest.raises(ModelDirectoryError, match=rf"{name.replace('.', '[.]')}: cannot read"):
        load_model(copy)


@pytest.mark.parametrize("name", sorted(JSON_FILES))
def test_json_of_the_wrong_kind_is_refused_naming_the_file(copy: Path, name: str) -> None:
    value, expected, found = JSON_FILES[name]
    (copy / name).write_text(json.dumps(value), encoding="utf-8")
    _rehash(copy)
    with pytest.raises(
        ModelDirectoryError,
        match=rf"{name.replace('.', '[.]')}: expected a JSON {expected}, found {found}",
    ):
        load_model(copy)


def test_a_manifest_that_is_a_list_is_refused(copy: Path) -> None:
    (copy / "manifest.json").write_text("[]", encoding="utf-8")
    with pytest.raises(
        ModelDirectoryError, match=r"manifest\.json: expected a JSON object, found an array"
    ):
        load_model(copy)


def test_a_manifest_whose_files_are_not_an_object_is_refused(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    (copy / "manifest.json").write_text(json.dumps({**manifest, "files": ["model.json"]}))
    with pytest.raises(ModelDirectoryError, match=r"manifest\.json: 'files' must be an object"):
        load_model(copy)


def test_a_feature_schema_entry_without_a_name_is_refused(copy: Path) -> None:
    (copy / "feature_schema.json").write_text('[{"dtype": "float64"}]', encoding="utf-8")
    _rehash(copy)
    with pytest.raises(
        ModelDirectoryError, match=r"feature_schema\.json: each entry must be an object"
    ):
        load_model(copy)


@pytest.mark.parametrize("name", ["estimator.npz", "preprocess.skops", "training_target.parquet"])
def test_garbage_in_a_binary_file_is_refused_naming_the_file(copy: Path, name: str) -> None:
    (copy / name).write_bytes(np.random.default_rng(0).bytes(300))
    _rehash(copy)
    with pytest.raises(ModelDirectoryError, match=rf"{name.replace('.', '[.]')}: cannot read"):
        load_model(copy)


def test_a_single_array_instead_of_an_archive_is_refused(copy: Path) -> None:
    with (copy / "estimator.npz").open("wb") as handle:
        np.save(handle, np.arange(3.0))
    _rehash(copy)
    with pytest.raises(ModelDirectoryError, match=r"estimator\.npz: cannot read .*not an \.npz"):
        load_model(copy)


def test_a_state_missing_an_array_is_refused_naming_both_files(copy: Path) -> None:
    with np.load(copy / "estimator.npz", allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files if name != "coef"}
    np.savez(copy / "estimator.npz", allow_pickle=False, **arrays)
    _rehash(copy)
    with pytest.raises(
        ModelDirectoryError,
        match=r"cannot rebuild the cox estimator from estimator\.json and estimator\.npz "
        r"\(KeyError: 'coef'\)",
    ):
        load_model(copy)


# -- the old format -----------------------------------------------------------------------------
def test_an_old_format_directory_is_refused_with_the_command_to_refit(
    copy: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    for name in ("preprocess.skops", "estimator.json", "estimator.npz"):
        (copy / name).unlink()
    _pickle_payload(copy / "pipeline.joblib", marker)
    for name in ("model.json", "manifest.json"):
        path = copy / name
        path.write_text(path.read_text().replace("prognosis-model/2", "prognosis-model/1"))
    _rehash(copy)
    with pytest.raises(
        ModelDirectoryError,
        match=r"old format prognosis-model/1, whose pipeline\.joblib is a pickle .* refuses to "
        rf"load it\. Refit the model from its dataset: prognosis fit DATASET_DIR --model cox "
        rf"--horizon 180 --horizon 365 --out {re.escape(str(copy))}$",
    ):
        load_model(copy)
    assert not marker.exists()


# -- signing with PROGNOSIS_MODEL_KEY ----------------------------------------------------------
@pytest.fixture
def signed(fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Cox model saved again with the key set."""
    model = load_model(fitted["cox"][2])
    monkeypatch.setenv(KEY, "s3cret-ключ")
    folder = tmp_path / "signed"
    save_model(folder, model)
    return folder


def test_with_a_key_the_manifest_is_signed_with_hmac_sha256(signed: Path) -> None:
    expected = hmac.new(
        "s3cret-ключ".encode(), (signed / "manifest.json").read_bytes(), hashlib.sha256
    ).hexdigest()
    assert (signed / "manifest.hmac").read_text(encoding="ascii") == expected + "\n"
    assert "manifest.hmac" not in json.loads((signed / "manifest.json").read_text())["files"]
    load_model(signed)


def test_with_the_key_set_an_unsigned_directory_is_refused(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY, "s3cret")
    with pytest.raises(
        ModelDirectoryError, match=r"PROGNOSIS_MODEL_KEY is set but this model directory is not "
    ):
        load_model(copy)


def test_another_key_is_refused(signed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY, "another key")
    with pytest.raises(
        ModelDirectoryError, match=r"manifest\.hmac: the HMAC-SHA256 of manifest\.json does not "
    ):
        load_model(signed)


def test_a_changed_field_of_the_manifest_itself_is_refused_when_signed(signed: Path) -> None:
    path = signed / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, "created_at": "2000-01-01T00:00:00+00:00"}))
    with pytest.raises(ModelDirectoryError, match=r"does not match PROGNOSIS_MODEL_KEY"):
        load_model(signed)


def test_a_re_hashed_pickle_payload_is_refused_when_signed(signed: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _pickle_payload(signed / "estimator.npz", marker)
    _rehash(signed)
    with pytest.raises(ModelDirectoryError, match=r"does not match PROGNOSIS_MODEL_KEY"):
        load_model(signed)
    assert not marker.exists()


def test_a_removed_signature_is_refused(signed: Path) -> None:
    (signed / "manifest.hmac").unlink()
    with pytest.raises(ModelDirectoryError, match=r"not signed \(no manifest\.hmac\)"):
        load_model(signed)


def test_a_pickle_payload_as_the_signature_runs_nothing(signed: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _pickle_payload(signed / "manifest.hmac", marker)
    with pytest.raises(ModelDirectoryError, match=r"manifest\.hmac: the HMAC-SHA256"):
        load_model(signed)
    assert not marker.exists()


def test_without_the_key_a_signed_directory_still_loads(
    signed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY)
    load_model(signed)


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


def test_an_added_pickle_is_refused_without_being_read(copy: Path, tmp_path: Path) -> None:
    _pickle_payload(copy / "pipeline.joblib", tmp_path / "marker")
    with pytest.raises(ModelDirectoryError, match=r"pipeline\.joblib is not in the manifest"):
        load_model(copy)
    assert not (tmp_path / "marker").exists()


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
        path.read_text(encoding="utf-8").replace("prognosis-model/2", "prognosis-model/9"),
        encoding="utf-8",
    )
    with pytest.raises(ModelDirectoryError, match=r"manifest\.json.*'prognosis-model/9'"):
        load_model(copy)


def test_an_unknown_format_in_model_json_is_refused(copy: Path) -> None:
    """A consistent directory (hashes updated) of a format this version cannot read."""
    info = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    (copy / "model.json").write_text(json.dumps({**info, "format": "prognosis-model/9"}))
    _rehash(copy)
    with pytest.raises(
        ModelDirectoryError,
        match=r"unknown model format 'prognosis-model/9' \(expected prognosis-model/2\)",
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


# -- validation predictions --------------------------------------------------------------------
VALIDATION = "validation_predictions.parquet"


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """(dataset, a Cox model fitted with 3-fold cross-validation, its directory)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(KEY, raising=False)
        dataset = _dataset(False)
        model = fit_model(dataset, "cox", [180, 365], parse_split("cv:3"), seed=3, n_boot=0)
        folder = tmp_path_factory.mktemp("validated") / "model"
        save_model(folder, model)
    return dataset, model, folder


@pytest.fixture
def validated_copy(validated: tuple, tmp_path: Path) -> Path:
    return Path(shutil.copytree(validated[2], tmp_path / "model"))


def test_validation_predictions_are_saved_hashed_owner_only_and_read_back(validated) -> None:
    dataset, model, folder = validated
    assert {path.name for path in folder.iterdir()} == LAYOUT | {VALIDATION}
    path = folder / VALIDATION
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"][VALIDATION] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o777 == 0o700
    stored = pd.read_parquet(path)
    # positions in the training dataset, no person id
    columns = ["row", "fold", "time", "event", "risk_score", "risk_180", "risk_365"]
    assert list(stored.columns) == columns
    np.testing.assert_array_equal(stored["row"], np.arange(len(dataset.frame)))
    np.testing.assert_array_equal(stored["time"], dataset.frame["time"])
    assert sorted(set(stored["fold"])) == [1, 2, 3]
    loaded = load_model(folder).validation
    assert (loaded.design, loaded.horizons) == ("cv", (180.0, 365.0))
    for name in ("row", "fold", "time", "event", "risk_score", "risk"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model.validation, name))


def test_a_model_fitted_without_validation_has_no_validation_predictions(cox_dir: Path) -> None:
    assert not (cox_dir / VALIDATION).exists()
    assert load_model(cox_dir).validation is None


def test_a_changed_validation_file_is_refused_by_its_hash(validated_copy: Path) -> None:
    _flip_a_byte(validated_copy / VALIDATION)
    with pytest.raises(ModelDirectoryError, match=rf"{VALIDATION} was modified"):
        load_model(validated_copy)


def _set(name: str, values: object):
    def change(table: pa.Table) -> pa.Table:
        return table.set_column(table.column_names.index(name), name, pa.array(values))

    return change


def _header(**fields: object):
    def change(table: pa.Table) -> pa.Table:
        header = json.loads(table.schema.metadata[b"prognosis.validation"])
        return table.replace_schema_metadata(
            {b"prognosis.validation": json.dumps({**header, **fields}).encode()}
        )

    return change


def _with(table: pa.Table, name: str, column: int, value: object) -> list:
    values = table.column(name).to_pylist()
    values[column] = value
    return values


ILL_FORMED = {  # what is done to the table, and the message
    "risk above 1": (
        lambda t: _set("risk_180", _with(t, "risk_180", 4, 1.5))(t),
        r"column 'risk_180': expected risks from 0 to 1, found 1\.5 \(entry 4\)",
    ),
    "a row twice": (
        lambda t: _set("row", _with(t, "row", 1, 0))(t),
        r"column 'row': a row of the training dataset appears twice",
    ),
    "a negative row": (
        lambda t: _set("row", _with(t, "row", 0, -1))(t),
        r"column 'row': expected positions from 0, found -1 \(entry 0\)",
    ),
    "a missing risk score": (
        lambda t: _set("risk_score", _with(t, "risk_score", 2, None))(t),
        r"column 'risk_score': expected numbers, found missing values",
    ),
    "rows as decimals": (
        lambda t: _set("row", [float(v) for v in t.column("row").to_pylist()])(t),
        r"column 'row': expected integers, found values of type double",
    ),
    "a time of 0": (
        lambda t: _set("time", _with(t, "time", 3, 0.0))(t),
        r"column 'time': expected times above 0 days, found 0\.0 \(entry 3\)",
    ),
    "a person id added": (
        lambda t: t.append_column("person_id", pa.array(range(t.num_rows))),
        r"expected the columns row, fold, time, event, risk_score, risk_180, risk_365, found "
        r"row, .*, risk_365, person_id",
    ),
    "no fold": (
        lambda t: t.drop_columns(["fold"]),
        r"expected the columns row, fold, .* found row, time,",
    ),
    "no metadata": (
        lambda t: t.replace_schema_metadata({}),
        r"schema metadata prognosis\.validation is missing",
    ),
    "an unknown design": (
        _header(design="bootstrap"),
        r"design 'bootstrap' is not one of cv, temporal",
    ),
    "another design than model.json's": (
        _header(design="temporal"),
        r"predictions of a temporal validation, but model\.json says .* by cv",
    ),
    "horizons that are not numbers": (
        _header(horizons=["180", 365]),
        r"horizons must be a list of positive numbers of days",
    ),
}


@pytest.mark.parametrize("case", list(ILL_FORMED))
def test_an_ill_formed_validation_file_is_refused_naming_the_file_and_column(
    validated_copy: Path, case: str
) -> None:
    change, message = ILL_FORMED[case]
    path = validated_copy / VALIDATION
    pq.write_table(change(pq.read_table(path)), path)
    _rehash(validated_copy)
    with pytest.raises(
        ModelDirectoryError, match=rf"{VALIDATION.replace('.', '[.]')}: .*{message}"
    ):
        load_model(validated_copy)


def test_garbage_in_the_validation_file_is_refused_naming_it(validated_copy: Path) -> None:
    (validated_copy / VALIDATION).write_bytes(np.random.default_rng(0).bytes(300))
    _rehash(validated_copy)
    with pytest.raises(
        ModelDirectoryError, match=rf"{VALIDATION.replace('.', '[.]')}: cannot read"
    ):
        load_model(validated_copy)
