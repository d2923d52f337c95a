"""Fitted state as data (prognosis.models.state): tables and bytes survive a real trip through
JSON and an ``.npz`` file read without pickle, and skops rebuilds only allowed types."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from skops.io.exceptions import UntrustedTypesFoundException

from prognosis.models.state import as_bytes, bytes_of, from_skops, get_table, put_table, skops_bytes


def _round_trip(state: dict, arrays: dict[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
    """Through JSON text and an ``.npz`` archive read with ``allow_pickle=False``."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return json.loads(json.dumps(state)), {key: loaded[key] for key in loaded.files}


@pytest.mark.parametrize(
    "index",
    [
        pd.Index(["age", "ulcer"], name="covariate"),
        pd.MultiIndex.from_tuples([("age", 1), ("age", 2)], names=["covariate", "cause"]),
    ],
    ids=["flat", "multi"],
)
def test_a_table_comes_back_equal(index: pd.Index) -> None:
    table = pd.DataFrame({"coef": [0.5, -0.25], "se": [0.1, 0.2]}, index=index)
    state, arrays = {}, {}
    put_table(state, arrays, "summary", table)
    state, arrays = _round_trip(state, arrays)
    pd.testing.assert_frame_equal(get_table(state, arrays, "summary"), table)


def test_bytes_come_back_equal_and_other_arrays_are_refused() -> None:
    document = b'{"learner": {"trees": []}}\x00\xff'
    _, arrays = _round_trip({}, {"booster": as_bytes(document)})
    assert bytes_of(arrays["booster"]) == document
    with pytest.raises(ValueError, match=r"expected a 1-d uint8 array of bytes, found float64"):
        bytes_of(np.zeros(3))


def test_skops_rebuilds_allowed_types_and_refuses_a_function_that_would_run() -> None:
    scaler = StandardScaler().fit(np.array([[1.0], [3.0]]))
    rebuilt = from_skops(skops_bytes(scaler), trusted=[])
    np.testing.assert_array_equal(rebuilt.mean_, [2.0])
    dangerous = skops_bytes(FunctionTransformer(os.system))
    with pytest.raises(UntrustedTypesFoundException):
        from_skops(dangerous, trusted=[])
