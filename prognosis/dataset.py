"""Read a cohort dataset folder (``dataset.parquet``, ``features.json``, ``manifest.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prognosis.exceptions import PrognosisError
from prognosis.models.target import target_from_frame

__all__ = ["SURVIVAL_COLUMNS", "CohortDataset", "DatasetError", "load_dataset"]

SURVIVAL_COLUMNS = ("person_id", "index_date", "time", "event", "censor_reason")


class DatasetError(PrognosisError):
    """A dataset folder is missing files or columns."""


@dataclass
class CohortDataset:
    """A built cohort: the rows, the features' descriptions and the build manifest."""

    path: Path
    frame: pd.DataFrame
    features: list[dict[str, Any]]
    manifest: dict[str, Any]

    @property
    def feature_names(self) -> list[str]:
        return [c for c in self.frame.columns if c not in SURVIVAL_COLUMNS]

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[self.feature_names].astype("float64")

    @property
    def y(self) -> np.ndarray:
        return target_from_frame(self.frame, origin=str(self.path / "dataset.parquet"))

    @property
    def competing(self) -> bool:
        return bool((self.frame["event"] > 1).any())

    def subset(self, rows: np.ndarray) -> CohortDataset:
        return CohortDataset(self.path, self.frame.iloc[rows], self.features, self.manifest)


def load_dataset(path: str | Path) -> CohortDataset:
    """Load a dataset folder written by ``prognosis cohort build``."""
    folder = Path(path)
    parquet = folder / "dataset.parquet"
    if not parquet.exists():  # a file, or a folder of part files (large Spark builds)
        raise DatasetError(
            f"{folder}: no dataset.parquet here; build one with `prognosis cohort build`"
        )
    frame = pd.read_parquet(parquet)
    missing = [c for c in ("time", "event") if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{parquet}: no column {', '.join(missing)}; a survival dataset needs 'time' "
            "(days, > 0) and 'event' (0 censored, 1 outcome, 2+ competing events)"
        )
    return CohortDataset(
        path=folder,
        frame=frame.reset_index(drop=True),
        features=_read_json(folder / "features.json", default=[]),
        manifest=_read_json(folder / "manifest.json", default={}),
    )


def _read_json(path: Path, *, default: Any) -> Any:
    if not path.is_file():
        return default
    return json.loads(path.read_text(encoding="utf-8"))
