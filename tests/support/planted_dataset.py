"""A cohort dataset folder of planted survival data, as ``prognosis cohort build`` writes one.

The rows come from :func:`tests.support.planted.planted_survival`: exponential times with a
baseline hazard of 1/900 per day times ``exp(beta x)`` (``noise`` has no effect), uniform
censoring between days 100 and 1500, whole days. ``beta=0`` gives an outcome that depends on
no feature: any model of it is no better than chance.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.support.planted import planted_survival

__all__ = ["write_planted_dataset"]


def write_planted_dataset(folder: Path, *, beta: float, seed: int, n: int = 300) -> Path:
    """Write ``dataset.parquet`` (person_id, index_date, time, event, censor_reason, x, noise)
    and a ``manifest.json`` with its SHA-256 (so that ``evaluate`` recognises the training
    rows) into the new folder ``folder``; return it."""
    data = planted_survival(
        n,
        seed=seed,
        features={"x": "normal", "noise": "normal"},
        beta={"x": beta, "noise": 0.0},
        base_hazard=1 / 900,
        censor_between=(100.0, 1500.0),
        whole_days=True,
    )
    frame = pd.DataFrame(
        {
            "person_id": np.arange(1, n + 1),
            "index_date": [dt.date(2016, 1, 1)] * n,
            "time": np.maximum(data.time, 1).astype(int),
            "event": data.event,
            "censor_reason": np.where(data.event == 1, None, "end_of_observation"),
            "x": data.X["x"],
            "noise": data.X["noise"],
        }
    )
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "dataset.parquet", index=False)
    digest = hashlib.sha256((folder / "dataset.parquet").read_bytes()).hexdigest()
    manifest = {"cohort": "planted", "files": {"dataset.parquet": digest}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder
