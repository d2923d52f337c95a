"""Fitted state as data: the helpers that estimators' ``to_state``/``from_state`` share.

An estimator's state is a JSON-ready dict plus named numeric arrays (see
:meth:`prognosis.models.base.SurvivalEstimator.to_state`); nothing in either can run code when
it is read back. Three kinds of value need a helper to travel that way:

* tables (``summary_`` and the like): the labels go into the dict, the numbers into an array
  (:func:`put_table`, :func:`get_table`);
* scikit-learn and scikit-survival objects: the bytes of a ``skops`` file, read back with an
  explicit allow-list of the types it may contain (:func:`skops_bytes`, :func:`from_skops`);
  skops builds only those types and refuses a file naming any other one;
* raw documents such as an xgboost booster in xgboost's own JSON format: their bytes as a
  ``uint8`` array (:func:`as_bytes`, :func:`bytes_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import skops.io

__all__ = ["as_bytes", "bytes_of", "from_skops", "get_table", "put_table", "skops_bytes"]


def put_table(
    state: dict[str, Any], arrays: dict[str, np.ndarray], key: str, table: pd.DataFrame
) -> None:
    """Add a float table to a state: its labels under ``state[key]``, values in ``arrays``."""
    state[key] = {
        "columns": [str(column) for column in table.columns],
        "index": [list(label) if isinstance(label, tuple) else label for label in table.index],
        "index_names": list(table.index.names),
    }
    arrays[key] = table.to_numpy(dtype=np.float64)


def get_table(state: dict[str, Any], arrays: dict[str, np.ndarray], key: str) -> pd.DataFrame:
    """The table :func:`put_table` stored under ``key``."""
    labels = state[key]
    names = labels["index_names"]
    if len(names) > 1:
        index = pd.MultiIndex.from_tuples([tuple(label) for label in labels["index"]], names=names)
    else:
        index = pd.Index(labels["index"], name=names[0])
    values = np.asarray(arrays[key], dtype=np.float64)
    return pd.DataFrame(values, index=index, columns=pd.Index(labels["columns"]))


def as_bytes(data: bytes | bytearray) -> np.ndarray:
    """Raw bytes (a document in some other format) as a ``uint8`` array."""
    return np.frombuffer(bytes(data), dtype=np.uint8).copy()


def bytes_of(array: np.ndarray) -> bytes:
    """The bytes that :func:`as_bytes` stored."""
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ValueError(f"expected a 1-d uint8 array of bytes, found {array.dtype} {array.shape}")
    return array.tobytes()


def skops_bytes(obj: Any) -> np.ndarray:
    """A scikit-learn or scikit-survival object as the bytes of a skops file (``uint8``)."""
    return as_bytes(skops.io.dumps(obj))


def from_skops(array: np.ndarray, trusted: Sequence[str]) -> Any:
    """Rebuild an object from :func:`skops_bytes`, allowing only skops' defaults and ``trusted``.

    ``trusted`` lists the fully qualified type names (beyond the scikit-learn and numpy types
    skops trusts by default) that the object may contain; a file naming any other type raises
    ``skops.io.exceptions.UntrustedTypesFoundException`` before anything is built.
    """
    return skops.io.loads(bytes_of(array), trusted=list(trusted))
