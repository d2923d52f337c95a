"""Model directories: save a fitted pipeline with everything needed to use and audit it.

Layout of ``MODEL_DIR/`` (format ``prognosis-model/1``)::

    model.json            what the model is: family, parameters, horizons, seed, split, target kind
    feature_schema.json   the columns the model expects, in order, with dtypes
    features.json         the cohort's feature descriptions (labels, concepts, windows)
    training_manifest.json  the manifest of the dataset it was trained on
    training_target.parquet time and event of the training rows (IPCW weights need them)
    metrics.json          validation metrics (out-of-fold, temporal or none)
    pipeline.joblib       the fitted scikit-learn pipeline (joblib pickle), without boosters
    xgboost_model.json    for xgboost models: the booster in xgboost's own JSON format
    manifest.json         SHA-256 of every file above

Loading verifies every hash before anything is unpickled, and refuses a directory whose files
were changed, removed or added. Only load model directories from people you trust: a pickle can
run code, and the hashes prove integrity, not origin.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from prognosis.exceptions import PrognosisError
from prognosis.outputs import atomic_directory, sha256_file, write_json

__all__ = ["MODEL_FORMAT", "ModelDirectoryError", "SavedModel", "load_model", "save_model"]

MODEL_FORMAT = "prognosis-model/1"
_BOOSTER = "xgboost_model.json"


class ModelDirectoryError(PrognosisError):
    """A model directory is missing, incomplete, tampered with or of an unknown format."""


@dataclass
class SavedModel:
    """A model directory's contents, loaded and verified."""

    pipeline: Any
    info: dict[str, Any]
    feature_schema: list[dict[str, str]]
    features: list[dict[str, Any]]
    training_manifest: dict[str, Any]
    training_target: np.ndarray
    metrics: dict[str, Any]

    @property
    def feature_names(self) -> list[str]:
        return [column["name"] for column in self.feature_schema]


def save_model(model_dir: Path, model: SavedModel) -> None:
    """Write ``model`` atomically into ``model_dir``."""
    with atomic_directory(Path(model_dir)) as folder:
        write_json(folder / "model.json", {"format": MODEL_FORMAT, **model.info})
        write_json(folder / "feature_schema.json", model.feature_schema)
        write_json(folder / "features.json", model.features)
        write_json(folder / "training_manifest.json", model.training_manifest)
        write_json(folder / "metrics.json", model.metrics)
        target = pd.DataFrame(
            {"time": model.training_target["time"], "event": model.training_target["event"]}
        )
        target.to_parquet(folder / "training_target.parquet", index=False)
        _save_pipeline(folder, model.pipeline)
        files = sorted(path.name for path in folder.iterdir())
        write_json(
            folder / "manifest.json",
            {
                "format": MODEL_FORMAT,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "files": {name: sha256_file(folder / name) for name in files},
            },
        )


def _save_pipeline(folder: Path, pipeline: Any) -> None:
    estimator = pipeline.steps[-1][1]
    booster = getattr(estimator, "booster_", None)
    if booster is None:
        joblib.dump(pipeline, folder / "pipeline.joblib")
        return
    booster.save_model(str(folder / _BOOSTER))
    estimator.booster_ = None  # the booster travels as JSON, not in the pickle
    try:
        joblib.dump(pipeline, folder / "pipeline.joblib")
    finally:
        estimator.booster_ = booster


def load_model(model_dir: Path) -> SavedModel:
    """Load and verify a model directory; raise :class:`ModelDirectoryError` on any mismatch."""
    folder = Path(model_dir)
    manifest = _verified_manifest(folder)
    info = _load(folder / "model.json")
    for name, found in (
        ("manifest.json", manifest.get("format")),
        ("model.json", info.get("format")),
    ):
        if found != MODEL_FORMAT:
            raise ModelDirectoryError(
                f"{folder / name}: unknown model format {found!r} (expected {MODEL_FORMAT})"
            )
    pipeline = joblib.load(folder / "pipeline.joblib")
    if (folder / _BOOSTER).exists():
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(str(folder / _BOOSTER))
        pipeline.steps[-1][1].booster_ = booster
    target_frame = pd.read_parquet(folder / "training_target.parquet")
    target = np.empty(len(target_frame), dtype=[("event", "<i8"), ("time", "<f8")])
    target["event"], target["time"] = target_frame["event"], target_frame["time"]
    info.pop("format")
    return SavedModel(
        pipeline=pipeline,
        info=info,
        feature_schema=_load(folder / "feature_schema.json"),
        features=_load(folder / "features.json"),
        training_manifest=_load(folder / "training_manifest.json"),
        training_target=target,
        metrics=_load(folder / "metrics.json"),
    )


def _verified_manifest(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise ModelDirectoryError(f"{folder}: no such model directory")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ModelDirectoryError(f"{folder}: not a model directory (no manifest.json)")
    manifest = _load(manifest_path)
    expected = manifest.get("files", {})
    present = {path.name for path in folder.iterdir() if path.name != "manifest.json"}
    problems = [f"{name} is missing" for name in sorted(set(expected) - present)]
    problems += [f"{name} is not in the manifest" for name in sorted(present - set(expected))]
    problems += [
        f"{name} was modified (SHA-256 differs)"
        for name in sorted(set(expected) & present)
        if sha256_file(folder / name) != expected[name]
    ]
    if problems:
        raise ModelDirectoryError(
            f"{folder}: refusing to load a model directory that does not match its manifest: "
            + "; ".join(problems)
        )
    return manifest


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelDirectoryError(f"{path}: cannot read ({error})") from None
