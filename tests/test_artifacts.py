"""The files passed between stages: parsed once into their types, and written back byte for byte.

The round trips read the files of a real build (``cohorts/gi_bleed_nsaid.yaml`` on Eunomia) and
of a real Cox fit and evaluation, and write them again through the typed writers: the bytes must
not move. The malformed files are written here by hand.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prognosis.artifacts import (
    MODEL_FORMAT,
    AttritionStep,
    CalibrationGroup,
    Concept,
    DatasetManifest,
    EvaluatedOn,
    Feature,
    FeatureWindow,
    Interval,
    MetricsFile,
    Subgroup,
    from_json,
    read_attrition,
    read_features,
    read_manifest,
    read_metrics,
    read_model_info,
    read_model_manifest,
    to_json,
    write_attrition,
    write_features,
    write_manifest,
    write_metrics,
    write_model_info,
    write_model_manifest,
)
from prognosis.dataset import load_dataset
from prognosis.evaluation.validation import parse_split
from prognosis.exceptions import DatasetError, ModelDirectoryError, PrognosisError
from prognosis.models.store import load_model, save_model
from prognosis.training import evaluate_model, fit_model

Reader = Callable[..., Any]
Writer = Callable[[Path, Any], None]
DATASET_FILES = {
    "manifest.json": (read_manifest, write_manifest),
    "features.json": (read_features, write_features),
    "attrition.json": (read_attrition, write_attrition),
}
MODEL_FILES = {
    "model.json": (read_model_info, write_model_info),
    "manifest.json": (read_model_manifest, write_model_manifest),
    "metrics.json": (read_metrics, write_metrics),
    "features.json": (read_features, write_features),
    "training_manifest.json": (read_manifest, write_manifest),
}


@pytest.fixture(scope="module")
def cox(gi_bleed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Cox model fitted on the Eunomia cohort (3-fold validation) and its evaluation."""
    folder = tmp_path_factory.mktemp("cox")
    dataset = load_dataset(gi_bleed)
    saved = fit_model(dataset, "cox", [365, 730], parse_split("cv:3"), n_boot=3)
    save_model(folder / "model", saved)
    evaluation = folder / "evaluation.json"
    write_metrics(evaluation, evaluate_model(load_model(folder / "model"), dataset, n_boot=3))
    return {"model": folder / "model", "evaluation": evaluation}


def _round_trip(path: Path, reader: Reader, writer: Writer, tmp_path: Path) -> None:
    copy = tmp_path / path.name
    writer(copy, reader(path))
    assert copy.read_bytes() == path.read_bytes()


# -- byte for byte -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DATASET_FILES))
def test_a_built_datasets_files_round_trip_byte_for_byte(
    gi_bleed: Path, tmp_path: Path, name: str
) -> None:
    _round_trip(gi_bleed / name, *DATASET_FILES[name], tmp_path)


@pytest.mark.parametrize("name", sorted(MODEL_FILES))
def test_a_fitted_models_files_round_trip_byte_for_byte(
    cox: dict[str, Path], tmp_path: Path, name: str
) -> None:
    _round_trip(cox["model"] / name, *MODEL_FILES[name], tmp_path)


def test_an_evaluations_metrics_round_trip_byte_for_byte(
    cox: dict[str, Path], tmp_path: Path
) -> None:
    _round_trip(cox["evaluation"], read_metrics, write_metrics, tmp_path)


def test_the_evaluation_file_leads_with_what_was_evaluated(cox: dict[str, Path]) -> None:
    keys = list(json.loads(cox["evaluation"].read_text(encoding="utf-8")))
    assert keys[:5] == ["model", "dataset", "source", "in_sample", "n_train"]
    assert keys[-2:] == ["notes", "subgroups"]
    assert "split" not in keys and "fit_seconds" not in keys
    stored = list(json.loads((cox["model"] / "metrics.json").read_text(encoding="utf-8")))
    assert (stored[0], stored[1], stored[-1]) == ("split", "n_train", "fit_seconds")


# -- what the files hold, as values --------------------------------------------------------------
def test_the_dataset_exposes_its_typed_files(gi_bleed: Path) -> None:
    dataset = load_dataset(gi_bleed)
    raw = json.loads((gi_bleed / "attrition.json").read_text(encoding="utf-8"))
    assert dataset.attrition[0] == AttritionStep(**raw[0])
    assert dataset.attrition[-1].persons == len(dataset.frame)  # one index event per person
    assert dataset.manifest.cohort == "gi_bleed_nsaid"
    assert dataset.manifest.counts is not None
    assert dataset.manifest.counts.persons == len(dataset.frame)
    assert [f.name for f in dataset.features] == dataset.feature_names
    index = next(f for f in dataset.features if f.name == "index_1118084")
    assert index.concepts == (Concept(1118084, "celecoxib"),)
    assert index.window == FeatureWindow("index", 0, 0)


def test_a_hand_written_metrics_file_reads_as_values() -> None:
    interval = {
        "estimate": 0.7,
        "lower": 0.6,
        "upper": 0.8,
        "failed_resamples": 0,
        "extended_to_estimate": False,
    }
    none = {"split": "none (fitted on all rows, not validated)", "fit_seconds": 1.5}
    assert from_json(MetricsFile, none) == MetricsFile(split=none["split"], fit_seconds=1.5)
    assert to_json(from_json(MetricsFile, none)) == none  # absent, not null
    assert from_json(Interval, interval) == Interval(0.7, 0.6, 0.8, 0, False)


def test_a_calibration_group_written_before_its_predicted_range_still_reads() -> None:
    old = {
        "group": 1,
        "n": 40,
        "mean_predicted": 0.1,
        "observed": 0.12,
        "observed_lower": 0.05,
        "observed_upper": 0.2,
    }
    group = from_json(CalibrationGroup, old)
    assert (group.predicted_min, group.predicted_max) == (None, None)
    assert to_json(group) == old  # absent, not null: the old file's bytes do not move
    new = from_json(CalibrationGroup, {**old, "predicted_min": 0.02, "predicted_max": 0.3})
    assert (new.predicted_min, new.predicted_max) == (0.02, 0.3)


def test_whole_numbers_stay_whole_so_the_bytes_do_not_move() -> None:
    entry = {"step": "s", "description": "d", "persons": 5, "index_events": 5}
    step = from_json(AttritionStep, {**entry, "persons_dropped": 0, "index_events_dropped": 0})
    manifest = from_json(DatasetManifest, {"build_seconds": 2})
    assert to_json(manifest) == {"build_seconds": 2}  # never 2.0
    assert isinstance(step.persons, int)


def test_a_feature_needs_only_its_name_in_code_and_every_key_in_the_file() -> None:
    assert to_json(Feature("bmi")) == {
        "name": "bmi",
        "kind": None,
        "statistic": None,
        "dtype": None,
        "domain": None,
        "concept_set": None,
        "concepts": [],
        "window": None,
        "label": None,
    }
    with pytest.raises(PrognosisError, match=r"features\.json: field \[0\]\.kind: missing"):
        from_json(tuple[Feature, ...], [{"name": "bmi"}], origin="features.json")


def test_a_metrics_file_from_before_subgroups_still_reads(
    cox: dict[str, Path], tmp_path: Path
) -> None:
    data = json.loads(cox["evaluation"].read_text(encoding="utf-8"))
    assert [s["variable"] for s in data["subgroups"]][:2] == ["Sex", "Sex"]
    del data["subgroups"]
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    old = read_metrics(path)
    assert old.results.subgroups is None
    assert old.results.harrell_c == read_metrics(cox["evaluation"]).results.harrell_c
    assert "subgroups" not in to_json(old)  # written back as it was: absent, not null


def test_subgroups_read_as_values(cox: dict[str, Path]) -> None:
    subgroups = read_metrics(cox["evaluation"]).results.subgroups
    assert all(isinstance(s, Subgroup) for s in subgroups)
    female = next(s for s in subgroups if (s.variable, s.group) == ("Sex", "female"))
    assert female.harrell_c.estimate is not None and female.horizons[0].horizon == 365


# -- malformed files: the file and the field --------------------------------------------------
def test_a_wrong_kind_of_value_names_the_file_and_the_field(
    cox: dict[str, Path], tmp_path: Path
) -> None:
    data = json.loads((cox["model"] / "metrics.json").read_text(encoding="utf-8"))
    data["horizons"][1]["brier"]["estimate"] = "0.1"
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(
        ModelDirectoryError,
        match=r"metrics\.json: field horizons\[1\]\.brier\.estimate: expected a number, "
        r"found a string",
    ):
        read_metrics(path, error=ModelDirectoryError)


def test_a_missing_field_names_it(cox: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads((cox["model"] / "model.json").read_text(encoding="utf-8"))
    del data["horizons"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PrognosisError, match=r"model\.json: field horizons: missing"):
        read_model_info(path)


def test_an_unexpected_field_is_refused_rather_than_dropped(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"cohort": "c", "colour": "blue"}), encoding="utf-8")
    with pytest.raises(PrognosisError, match=r"manifest\.json: unexpected field\(s\) 'colour'"):
        read_manifest(path)


def test_a_model_json_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": "prognosis-model/9"}), encoding="utf-8")
    with pytest.raises(
        ModelDirectoryError,
        match=rf"unknown model format 'prognosis-model/9' \(expected {MODEL_FORMAT}\)",
    ):
        read_model_info(path, error=ModelDirectoryError)


def test_a_malformed_dataset_file_fails_to_load_naming_it(gi_bleed: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(gi_bleed, tmp_path / "dataset"))
    features = json.loads((folder / "features.json").read_text(encoding="utf-8"))
    features[2]["concepts"][0]["concept_id"] = "1118084"
    (folder / "features.json").write_text(json.dumps(features), encoding="utf-8")
    with pytest.raises(
        DatasetError,
        match=r"features\.json: field \[2\]\.concepts\[0\]\.concept_id: expected an integer, "
        r"found a string; rebuild the dataset",
    ):
        load_dataset(folder)


def test_an_evaluation_names_the_model_the_dataset_and_its_source(
    cox: dict[str, Path], gi_bleed: Path
) -> None:
    evaluated = read_metrics(cox["evaluation"]).evaluated
    # evaluated on the rows it was fitted on: apparent figures, and the file says so
    assert evaluated == EvaluatedOn("cox", str(gi_bleed), "eunomia", in_sample=True)
