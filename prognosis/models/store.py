"""Model directories: a fitted pipeline saved as data, with everything needed to use and audit it.

Layout of ``MODEL_DIR/`` (format ``prognosis-model/2``)::

    model.json            what the model is: family, parameters, horizons, seed, split, target kind
    feature_schema.json   the columns the model expects, in order, with dtypes
    features.json         the cohort's feature descriptions (labels, concepts, windows)
    training_manifest.json  the manifest of the dataset it was trained on
    training_target.parquet time and event of the training rows (IPCW weights need them)
    metrics.json          validation metrics (out-of-fold, temporal or none)
    validation_predictions.parquet  the predictions those metrics measured, one row per
                          validated row (its position in the training dataset, fold, time,
                          event, risk score, risk at each horizon; no person id); absent for
                          ``--split none`` (:class:`~prognosis.artifacts.ValidationPredictions`)
    preprocess.skops      the fitted preprocessing steps, a skops file (scikit-learn's imputers,
                          encoders and scalers, and ours)
    estimator.json        the fitted estimator's class, parameters and learned values that are
                          not arrays (its ``to_state()``)
    estimator.npz         its arrays (numpy): coefficients, baselines, summary tables; for xgboost
                          models the booster in xgboost's own JSON model format (``booster``, as
                          bytes); for scikit-survival models a skops file (``model``, as bytes)
    manifest.json         the format, when it was written, and the SHA-256 of every file above
    manifest.hmac         only when signed (below): HMAC-SHA256 of the bytes of manifest.json

Every file is owner-only (0600, in a 0700 folder: :func:`prognosis.outputs.atomic_directory`
of a private output), as the training target and validation predictions are person-level data.

Nothing in a model directory runs code when it is loaded. There is no pickle: JSON is read as
JSON; ``estimator.npz`` with ``allow_pickle=False`` (an array that would need pickle is an
error); skops files with an explicit allow-list of types (skops' defaults, plus
:data:`prognosis.models.preprocess.TRUSTED_TYPES` and each family's own list), so that a file
naming any other type is refused before anything is built; xgboost boosters by xgboost's JSON
reader; the estimator class comes from the registry of model names, never from a name in a file.
A file replaced by a pickle (or anything else) fails to parse, with a
:class:`~prognosis.exceptions.ModelDirectoryError` naming it.

Loading checks, in this order and before anything is parsed beyond the manifest: the format
(``prognosis-model/1`` directories, which held a pickled ``pipeline.joblib``, are refused with
the command that refits them); the signature, when a key is set; the SHA-256 of every file (a
file changed, removed or added is refused by name).

Origin. The hashes prove that the files are those the manifest lists, not who wrote them:
anyone who can write the directory can also rewrite the manifest. To prove origin, set the
environment variable ``PROGNOSIS_MODEL_KEY`` (a secret shared by whoever fits and whoever loads
models; its UTF-8 bytes are the key; an empty value counts as unset). Then :func:`save_model`
writes ``manifest.hmac``, the HMAC-SHA256 of ``manifest.json`` (which covers every hash and
the manifest's own fields, such as ``created_at``), and :func:`load_model` refuses a directory
that is unsigned or signed with another key. Without the variable, ``manifest.hmac`` is not
checked, and a directory is only as trustworthy as whoever could write it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io
from sklearn.pipeline import Pipeline
from skops.io.exceptions import UntrustedTypesFoundException

from prognosis.artifacts import (
    MODEL_FORMAT,
    DatasetManifest,
    Feature,
    MetricsFile,
    ModelInfo,
    ModelManifest,
    ValidationPredictions,
    read_features,
    read_manifest,
    read_metrics,
    read_model_info,
    read_validation_predictions,
    write_features,
    write_manifest,
    write_metrics,
    write_model_info,
    write_model_manifest,
    write_validation_predictions,
)
from prognosis.exceptions import ModelDirectoryError, PrognosisError
from prognosis.json_files import json_kind, parse_json, read_json
from prognosis.models.base import SurvivalPipeline
from prognosis.models.preprocess import TRUSTED_TYPES
from prognosis.models.registry import estimator_class
from prognosis.output_folders import OutputKind, claim_output, output_kind_of
from prognosis.outputs import atomic_directory, sha256_file, write_json

__all__ = [
    "KEY_VARIABLE",
    "MODEL_FORMAT",
    "ModelDirectoryError",
    "SavedModel",
    "load_model",
    "load_model_set",
    "model_set_members",
    "save_model",
]

#: The environment variable whose value signs and verifies model directories.
KEY_VARIABLE = "PROGNOSIS_MODEL_KEY"

_OLD_FORMATS = ("prognosis-model/1",)
_MANIFEST = "manifest.json"
_SIGNATURE = "manifest.hmac"
_PREPROCESS = "preprocess.skops"
_ESTIMATOR = "estimator.json"
_ARRAYS = "estimator.npz"
_VALIDATION = "validation_predictions.parquet"


@dataclass
class SavedModel:
    """A model directory's contents, loaded and verified; its JSON files as their types
    (:mod:`prognosis.artifacts`). ``validation`` holds the predictions the validation measured
    (``None`` for a model fitted with ``--split none``, or saved before they were kept)."""

    pipeline: Any
    info: ModelInfo
    feature_schema: list[dict[str, str]]
    features: tuple[Feature, ...]
    training_manifest: DatasetManifest
    training_target: np.ndarray
    metrics: MetricsFile
    validation: ValidationPredictions | None = None

    @property
    def feature_names(self) -> list[str]:
        return [column["name"] for column in self.feature_schema]


# -- saving ------------------------------------------------------------------------------------
def save_model(model_dir: Path, model: SavedModel) -> None:
    """Write ``model`` atomically into ``model_dir``; signed when ``PROGNOSIS_MODEL_KEY`` is set.

    Parameters
    ----------
    model_dir : Path
        The model directory to create or replace.
    model : SavedModel
        A fitted pipeline (preprocessing steps, then one survival estimator) and what goes
        with it.
    """
    with (
        claim_output(Path(model_dir), OutputKind.MODEL, overwrite=True),
        atomic_directory(Path(model_dir)) as folder,
    ):
        write_model_info(folder / "model.json", model.info)
        write_json(folder / "feature_schema.json", model.feature_schema)
        write_features(folder / "features.json", model.features)
        write_manifest(folder / "training_manifest.json", model.training_manifest)
        write_metrics(folder / "metrics.json", model.metrics)
        target = pd.DataFrame(
            {"time": model.training_target["time"], "event": model.training_target["event"]}
        )
        target.to_parquet(folder / "training_target.parquet", index=False)
        if model.validation is not None:
            write_validation_predictions(folder / _VALIDATION, model.validation)
        _save_pipeline(folder, model.pipeline)
        files = sorted(path.name for path in folder.iterdir())
        write_model_manifest(
            folder / _MANIFEST,
            ModelManifest(
                format=MODEL_FORMAT,
                created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                files={name: sha256_file(folder / name) for name in files},
            ),
        )
        key = _key()
        if key is not None:
            digest = _signature(key, (folder / _MANIFEST).read_bytes())
            (folder / _SIGNATURE).write_text(digest + "\n", encoding="ascii")


def _save_pipeline(folder: Path, pipeline: Any) -> None:
    *steps, (name, estimator) = pipeline.steps
    skops.io.dump(Pipeline(steps), folder / _PREPROCESS)
    state, arrays = estimator.to_state()
    write_json(folder / _ESTIMATOR, {"step": name, "state": state})
    np.savez(folder / _ARRAYS, allow_pickle=False, **arrays)


def _key() -> bytes | None:
    value = os.environ.get(KEY_VARIABLE, "")
    return value.encode("utf-8") if value else None


def _signature(key: bytes, manifest: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


# -- loading -----------------------------------------------------------------------------------
def load_model(model_dir: Path) -> SavedModel:
    """Load and verify a model directory; raise :class:`ModelDirectoryError` on any mismatch.

    Parameters
    ----------
    model_dir : Path
        A directory written by :func:`save_model`.

    Raises
    ------
    ModelDirectoryError
        When the directory is missing, of an old or unknown format, unsigned or wrongly signed
        while ``PROGNOSIS_MODEL_KEY`` is set, does not match its manifest, or holds a file that
        does not parse as what it should be; the message names the file.
    """
    folder = Path(model_dir)
    _verify(folder)
    info = read_model_info(folder / "model.json", error=ModelDirectoryError)
    return SavedModel(
        pipeline=_load_pipeline(folder, info),
        info=info,
        feature_schema=_feature_schema(folder / "feature_schema.json"),
        features=read_features(folder / "features.json", error=ModelDirectoryError),
        training_manifest=read_manifest(
            folder / "training_manifest.json", error=ModelDirectoryError
        ),
        training_target=_training_target(folder / "training_target.parquet"),
        metrics=read_metrics(folder / "metrics.json", error=ModelDirectoryError),
        validation=_validation(folder / _VALIDATION, info),
    )


def model_set_members(folder: Path) -> list[Path]:
    """The model directories of a folder of models, one per outcome (``prognosis fit`` on a
    dataset built from ``outcomes:``), by name; empty when ``folder`` is not one."""
    folder = Path(folder)
    if output_kind_of(folder) is not OutputKind.MODEL_SET:
        return []
    return sorted(p for p in folder.iterdir() if output_kind_of(p) is OutputKind.MODEL)


def load_model_set(folder: Path) -> list[SavedModel]:
    """The models of a folder of models, one per outcome, in the order of the outcomes in the
    definition they were fitted on; a model directory gives itself alone.

    Raises
    ------
    ModelDirectoryError
        As :func:`load_model`, for ``folder`` or any model in it.
    """
    members = model_set_members(folder)
    if not members:
        return [load_model(folder)]
    models = [load_model(member) for member in members]
    order = _outcome_order(models[0])
    return sorted(
        models, key=lambda m: order.index(m.info.outcome) if m.info.outcome in order else len(order)
    )


def _outcome_order(model: SavedModel) -> list[str | None]:
    recorded = model.training_manifest.definition
    outcomes = recorded.content.get("outcomes") if recorded else None
    if not isinstance(outcomes, list):
        return []
    return [o.get("name") for o in outcomes if isinstance(o, dict)]


def _verify(folder: Path) -> None:
    """Format, signature and hashes: all of it before any other file is read."""
    if not folder.is_dir():
        raise ModelDirectoryError(f"{folder}: no such model directory")
    path = folder / _MANIFEST
    members = model_set_members(folder)
    if members and not path.is_file():
        names = ", ".join(member.name for member in members)
        raise ModelDirectoryError(
            f"{folder}: a folder of models, one per outcome ({names}); give one of them, "
            f"e.g. {members[0]}"
        )
    if not path.is_file():
        raise ModelDirectoryError(f"{folder}: not a model directory (no {_MANIFEST})")
    raw = _read_bytes(path)
    manifest = parse_json(path, raw, dict, ModelDirectoryError)
    _check_format(folder, manifest.get("format"))
    _check_signature(folder, raw)
    expected = manifest.get("files")
    if not isinstance(expected, dict) or not all(isinstance(h, str) for h in expected.values()):
        raise ModelDirectoryError(
            f"{path}: 'files' must be an object of file names to SHA-256 hashes, "
            f"found {json_kind(expected)}"
        )
    present = {p.name for p in folder.iterdir() if p.name not in (_MANIFEST, _SIGNATURE)}
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


def _check_format(folder: Path, found: Any) -> None:
    if found == MODEL_FORMAT:
        return
    if found in _OLD_FORMATS or (found is None and (folder / "pipeline.joblib").exists()):
        raise ModelDirectoryError(
            f"{folder}: a model directory of the old format {found or _OLD_FORMATS[0]}, whose "
            "pipeline.joblib is a pickle (it could run code when loaded); this version of "
            f"prognosis refuses to load it. Refit the model from its dataset: "
            f"{_refit_command(folder)}"
        )
    raise ModelDirectoryError(
        f"{folder / _MANIFEST}: unknown model format {found!r} (expected {MODEL_FORMAT})"
    )


def _refit_command(folder: Path) -> str:
    """``prognosis fit ...`` with the old directory's model and horizons where readable."""
    try:
        info = json.loads((folder / "model.json").read_bytes())
        model = str(info["model"])
        horizons = " ".join(f"--horizon {float(h):g}" for h in info["horizons"])
    except (OSError, ValueError, TypeError, KeyError):
        model, horizons = "NAME", "--horizon DAYS"
    return f"prognosis fit DATASET_DIR --model {model} {horizons} --out {folder}"


def _check_signature(folder: Path, manifest: bytes) -> None:
    key = _key()
    if key is None:
        return
    path = folder / _SIGNATURE
    if not path.is_file():
        raise ModelDirectoryError(
            f"{folder}: {KEY_VARIABLE} is set but this model directory is not signed (no "
            f"{_SIGNATURE}); refusing to load it. Save it again with the key set, or unset "
            f"{KEY_VARIABLE} only if you trust whoever could write {folder}"
        )
    if not hmac.compare_digest(_read_bytes(path).strip(), _signature(key, manifest).encode()):
        raise ModelDirectoryError(
            f"{path}: the HMAC-SHA256 of {_MANIFEST} does not match {KEY_VARIABLE}: the "
            "directory was signed with another key, or its manifest or signature was changed; "
            "refusing to load it"
        )


def _load_pipeline(folder: Path, info: ModelInfo) -> SurvivalPipeline:
    """The preprocessing steps (skops) then the estimator rebuilt from its state."""
    try:
        family = estimator_class(info.model)
    except PrognosisError as error:
        raise ModelDirectoryError(f"{folder / 'model.json'}: {error}") from None
    steps = _preprocessing(folder / _PREPROCESS)
    document = _read_json(folder / _ESTIMATOR, dict)
    arrays = _read_arrays(folder / _ARRAYS)
    try:
        estimator = family.from_state(document["state"], arrays)
        name = str(document["step"])
    except Exception as error:  # whatever a malformed state makes the family's code raise
        raise ModelDirectoryError(
            f"{folder}: cannot rebuild the {info.model} estimator from {_ESTIMATOR} and "
            f"{_ARRAYS} ({type(error).__name__}: {error})"
        ) from None
    return SurvivalPipeline([*steps, (name, estimator)])


def _preprocessing(path: Path) -> list[tuple[str, Any]]:
    try:
        pipeline = skops.io.load(path, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as error:
        raise ModelDirectoryError(
            f"{path}: refusing to load types outside the allow-list ({error})"
        ) from None
    except Exception as error:  # skops raises what its zip and JSON readers raise
        raise ModelDirectoryError(
            f"{path}: cannot read (not a skops file: {type(error).__name__}: {error})"
        ) from None
    if not isinstance(pipeline, Pipeline):
        raise ModelDirectoryError(
            f"{path}: expected a scikit-learn Pipeline, found {type(pipeline).__name__}"
        )
    return list(pipeline.steps)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"a single {type(archive).__name__}, not an .npz archive")
        with archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ModelDirectoryError(f"{path}: cannot read ({error})") from None


def _training_target(path: Path) -> np.ndarray:
    try:
        frame = pd.read_parquet(path)
        target = np.empty(len(frame), dtype=[("event", "<i8"), ("time", "<f8")])
        target["event"], target["time"] = frame["event"], frame["time"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelDirectoryError(
            f"{path}: cannot read ({type(error).__name__}: {error})"
        ) from None
    return target


def _validation(path: Path, info: ModelInfo) -> ValidationPredictions | None:
    """The validation predictions, of the design ``model.json`` names (none: ``None``)."""
    if not path.is_file():  # --split none, or a model saved before they were kept
        return None
    validation = read_validation_predictions(path, error=ModelDirectoryError)
    if validation.design != info.split.kind:
        raise ModelDirectoryError(
            f"{path}: predictions of a {validation.design} validation, but model.json says "
            f"the model was validated by {info.split.kind}"
        )
    return validation


def _feature_schema(path: Path) -> list[dict[str, str]]:
    schema = _read_json(path, list)
    for column in schema:
        if not (isinstance(column, dict) and isinstance(column.get("name"), str)):
            raise ModelDirectoryError(
                f"{path}: each entry must be an object with a string 'name', found "
                f"{json.dumps(column)[:80]}"
            )
    return schema


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ModelDirectoryError(f"{path}: cannot read ({error})") from None


def _read_json(path: Path, kind: type) -> Any:
    return read_json(path, kind, ModelDirectoryError)
