"""Planted survival data and small fitted pipelines shared by the explanation tests.

hazard = 0.002 * exp(0.9 * age_z + 0.8 * ulcer - 0.6 * statin), lab is noise with 25% missing
(so the preprocessing adds ``missingindicator_lab``), sex is noise. Competing data add a
cause-2 event with hazard 0.001 * exp(0.5 * age_z). The event times come from the shared
generator (``tests/support/planted.py``); age_z = (age - 65) / 14.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prognosis.models.registry import make_model
from tests.support.planted import Cause, planted_survival

N_ROWS = 300
SMALL = {
    "xgb-cox": {"n_estimators": 40, "n_jobs": 1},
    "xgb-aft": {"n_estimators": 40, "n_jobs": 1},
    "rsf": {"n_estimators": 25, "min_samples_leaf": 10, "n_jobs": 1},
    "gbsa": {"n_estimators": 30},
    "coxnet": {"n_alphas": 10, "cv": 3},
}


def planted_frame(n: int = N_ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(40, 90, n).astype(float),
            "sex_male": rng.integers(0, 2, n).astype(float),
            "ulcer": (rng.random(n) < 0.3).astype(float),
            "statin": (rng.random(n) < 0.4).astype(float),
            "lab": rng.normal(7.0, 1.0, n),
        }
    )
    frame.loc[rng.random(n) < 0.25, "lab"] = np.nan
    return frame


# log hazard 0.9 (age - 65) / 14 + 0.8 ulcer - 0.6 statin: the centring is in the baseline
OUTCOME = {"age": 0.9 / 14, "ulcer": 0.8, "statin": -0.6}
OUTCOME_BASE = 0.002 * np.exp(-0.9 * 65 / 14)
OTHER = Cause(0.001 * np.exp(-0.5 * 65 / 14), {"age": 0.5 / 14})
CENSORING = (200.0, 1500.0)


@pytest.fixture(scope="session")
def X() -> pd.DataFrame:
    return planted_frame()


@pytest.fixture(scope="session")
def y(X: pd.DataFrame) -> np.ndarray:
    data = planted_survival(
        len(X), seed=1, X=X, beta=OUTCOME, base_hazard=OUTCOME_BASE, censor_between=CENSORING
    )
    return data.y


@pytest.fixture(scope="session")
def y_competing(X: pd.DataFrame) -> np.ndarray:
    data = planted_survival(
        len(X),
        seed=2,
        X=X,
        beta=OUTCOME,
        base_hazard=OUTCOME_BASE,
        competing=OTHER,
        censor_between=CENSORING,
    )
    return data.y


@pytest.fixture(scope="session")
def fitted(X: pd.DataFrame, y: np.ndarray, y_competing: np.ndarray) -> Callable[[str], Any]:
    """A fitted pipeline by model name (small settings), fitted once per session."""
    cache: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            target = (
                y_competing
                if name in ("cause-specific-cox", "fine-gray", "xgb-cause-specific")
                else y
            )
            cache[name] = make_model(name, **SMALL.get(name, {})).fit(X, target)
        return cache[name]

    return get
