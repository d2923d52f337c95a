"""Read a cohort dataset folder: ``dataset.parquet``, and ``features.json``, ``attrition.json``
and ``manifest.json`` as their types (:mod:`prognosis.artifacts`)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from prognosis.artifacts import (
    AttritionStep,
    DatasetManifest,
    Feature,
    read_attrition,
    read_features,
    read_manifest,
)
from prognosis.exceptions import DatasetError
from prognosis.models.target import target_from_frame
from prognosis.outputs import sha256_file

__all__ = ["SURVIVAL_COLUMNS", "CohortDataset", "DatasetError", "feature_frame", "load_dataset"]

SURVIVAL_COLUMNS = ("person_id", "index_date", "time", "event", "censor_reason")
_FILES = ("features.json", "manifest.json", "attrition.json")


@dataclass
class CohortDataset:
    """A built cohort: the rows, the features' descriptions, the build manifest and the
    attrition table (empty where the folder has no such file)."""

    path: Path
    frame: pd.DataFrame
    features: tuple[Feature, ...] = ()
    manifest: DatasetManifest = dataclasses.field(default_factory=DatasetManifest)
    attrition: tuple[AttritionStep, ...] = ()

    @functools.cached_property
    def file_sha256(self) -> str:
        """SHA-256 of the folder's ``dataset.parquet`` (a file, or a folder of part files),
        read once per dataset: what tells whether a model was fitted on these very rows."""
        return sha256_file(self.path / "dataset.parquet")

    @property
    def feature_names(self) -> list[str]:
        return [c for c in self.frame.columns if c not in SURVIVAL_COLUMNS]

    @property
    def X(self) -> pd.DataFrame:
        return feature_frame(self.frame, self.feature_names)

    @property
    def y(self) -> np.ndarray:
        return target_from_frame(self.frame, origin=str(self.path / "dataset.parquet"))

    @property
    def competing(self) -> bool:
        return bool((self.frame["event"] > 1).any())

    def competing_censored(self) -> CohortDataset:
        """The same rows with competing events (event 2+) recoded as censored at their time,
        ``censor_reason`` 'competing_event': the data of a cause-specific model of the
        outcome, whose risks ignore that the competing events remove persons from risk."""
        frame = self.frame.copy(deep=False)  # new columns replace, never write into, the old
        competing = frame["event"].to_numpy() > 1
        frame["event"] = np.where(competing, 0, frame["event"].to_numpy())
        frame["censor_reason"] = np.where(
            competing, "competing_event", frame["censor_reason"].to_numpy(dtype=object)
        )
        return dataclasses.replace(self, frame=frame)

    def subset(self, rows: np.ndarray) -> CohortDataset:
        return dataclasses.replace(self, frame=self.frame.iloc[rows])


def feature_frame(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The feature columns ``names`` of ``frame``: numbers (and booleans) as float64, NaN for
    missing; categorical (string, object, category) columns as they are, for the models'
    preprocessing to one-hot encode."""
    columns = {name: frame[name] for name in names}
    numeric = [
        name
        for name, column in columns.items()
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
    ]
    if len(numeric) < len(names):
        return frame[names].astype(dict.fromkeys(numeric, "float64"))
    # one column-major float block, filled column by column: a single copy of the data
    # (``frame[names].astype`` copies twice, seconds at a million rows)
    values = np.empty((len(frame), len(names)), dtype=np.float64, order="F")
    for position, column in enumerate(columns.values()):
        if isinstance(column.dtype, np.dtype):  # NumPy ints, floats (NaN), bools
            values[:, position] = column.to_numpy()
        else:  # pandas' nullable types: NA becomes NaN
            values[:, position] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(values, index=frame.index, columns=names, copy=False)


def load_dataset(path: str | Path) -> CohortDataset:
    """Load a dataset folder written by ``prognosis cohort build``.

    Raises
    ------
    DatasetError
        When the folder, ``dataset.parquet`` or a JSON file is missing, unreadable, corrupt or
        of the wrong shape; the message names the file.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(
            f"{folder}: no such dataset folder; build one with `prognosis cohort build`"
        )
    parquet = folder / "dataset.parquet"
    if not parquet.exists():  # a file, or a folder of part files (large Spark builds)
        raise DatasetError(
            f"{folder}: no dataset.parquet here; build one with `prognosis cohort build`"
        )
    try:
        frame = pq.read_table(parquet).to_pandas()
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise DatasetError(
            f"{parquet}: not a readable Parquet dataset ({_first_line(error)}); rebuild it with "
            "`prognosis cohort build ... --overwrite`"
        ) from None
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # an index stored by pandas
        frame = frame.reset_index(drop=True)
    missing = [c for c in ("time", "event") if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{parquet}: no column {', '.join(missing)}; a survival dataset needs 'time' "
            "(days, > 0) and 'event' (0 censored, 1 outcome, 2+ competing events)"
        )
    hint = "rebuild the dataset with `prognosis cohort build ... --overwrite`"
    options = {"error": DatasetError, "hint": hint}
    features, manifest, attrition = (folder / name for name in _FILES)
    return CohortDataset(
        path=folder,
        frame=frame,
        features=read_features(features, **options) if features.is_file() else (),
        manifest=read_manifest(manifest, **options) if manifest.is_file() else DatasetManifest(),
        attrition=read_attrition(attrition, **options) if attrition.is_file() else (),
    )


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
