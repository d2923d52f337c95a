"""Assemble the dataset on the client: each feature column filled from its work table.

Every work table is keyed by the cohort's ``row_id`` (0 … n-1, in dataset order). Instead of a
SQL pivot per domain and a query joining some twenty tables, the build fetches each work table
once as Arrow and writes its values into numpy columns at their row: at 1,000,000 persons this
took about 3 s of CPU where the SQL pivots and joins took about 16 s (docs/benchmarks.md), and
the bytes written are the same. Engines that keep the data distributed (Spark) pivot and join in
SQL instead (``features.dataset_query``), so nothing large reaches the driver.

The fetches run on the caller's thread (the engine's connection); placing the values (numpy
sorts and scatters, which release the GIL) runs on one worker thread, so a column is filled
while the engine computes the next work table.

Semantics match the SQL path exactly: no record in the window gives presence 0 and count 0; no
value gives a missing ``last`` (and ``trend``); no exposure gives treatment status 0 and days 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from prognosis.cohort.features import FeatureColumn, dataset_query
from prognosis.exceptions import CohortError

__all__ = ["ColumnFiller"]

Fetch = Callable[[str], pa.Table]

# integer statistics placed as they are (the others are flags: 1 where the value is above 0)
_AMOUNTS = ("count", "days")
# work-table columns of fractional values, missing where NULL
_FRACTIONAL = ("last_value", "trend")


class ColumnFiller:
    """Collects feature columns for a cohort of known size, filled from work tables.

    :meth:`fill` returns once the table is fetched; its columns are placed in the background
    and :meth:`table` waits for them (an error met there is raised by :meth:`table`). Call
    :meth:`close` when done, also after an error.
    """

    def __init__(
        self,
        fetch: Fetch,
        base_columns: list[FeatureColumn],
        *,
        outcomes: Sequence[str] = (),
        landmarks: bool = False,
    ) -> None:
        self._fetch = fetch
        self.base = fetch(
            dataset_query(base_columns, [], row_id=True, outcomes=outcomes, landmarks=landmarks)
        )
        self.size = self.base.num_rows
        row_id = self.base.column("row_id").to_numpy()
        if not np.array_equal(row_id, np.arange(self.size)):
            raise CohortError("internal error: the cohort's row_id is not 0 … n-1 in order")
        self.columns: dict[str, pa.Array] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prognosis-fill")
        self._pending: list[Future[None]] = []

    def fill(self, table: str, columns: list[FeatureColumn]) -> None:
        """Fetch ``table`` and fill ``columns`` from it (all from this table)."""
        if not columns:
            return
        concept_ids = sorted({c.concept_id for c in columns if c.concept_id is not None})
        sources = sorted({str(c.source) for c in columns})
        select = ", ".join(["row_id", *(["concept_id"] if concept_ids else []), *sources])
        where = f" WHERE concept_id IN ({', '.join(map(str, concept_ids))})" if concept_ids else ""
        data = self._fetch(f"SELECT {select} FROM {table}{where}")
        self._pending.append(self._worker.submit(self._place, data, columns, concept_ids, sources))

    def _place(
        self,
        data: pa.Table,
        columns: list[FeatureColumn],
        concept_ids: list[int],
        sources: list[str],
    ) -> None:
        rows = _numbers(data.column("row_id"), "row_id")
        values = {name: _numbers(data.column(name), name) for name in sources}
        if not concept_ids:
            for column in columns:
                self.columns[column.name] = self._column(column, rows, values[str(column.source)])
            return
        # rows grouped by concept: each concept's position in ``concept_ids`` sorted as a small
        # integer (a radix sort), then every array reordered once and sliced per concept
        codes = np.searchsorted(concept_ids, _numbers(data.column("concept_id"), "concept_id"))
        order = np.argsort(codes.astype(_code_type(len(concept_ids))), kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(concept_ids) + 1))
        rows = rows[order]
        values = {name: array[order] for name, array in values.items()}
        for column in columns:
            at = concept_ids.index(int(column.concept_id or 0))
            where = slice(bounds[at], bounds[at + 1])
            self.columns[column.name] = self._column(
                column, rows[where], values[str(column.source)][where]
            )

    def _column(self, column: FeatureColumn, rows: np.ndarray, values: np.ndarray) -> pa.Array:
        if column.dtype == "float64":
            filled = np.full(self.size, np.nan)
            filled[rows] = values
            return pa.array(filled, mask=np.isnan(filled))
        filled = np.zeros(self.size, dtype=np.int32)
        if column.statistic in _AMOUNTS:
            filled[rows] = values
        else:
            filled[rows] = values > 0
        return pa.array(filled)

    def table(self, schema: pa.Schema) -> pa.Table:
        """The dataset: the base columns and every filled column, in ``schema`` order."""
        for placing in self._pending:
            placing.result()  # raises what the worker met
        self._pending.clear()
        arrays = [
            self.columns[name] if name in self.columns else self.base.column(name)
            for name in schema.names
        ]
        return pa.Table.from_arrays(arrays, names=schema.names).cast(schema)

    def close(self) -> None:
        """Stop the worker (after the columns it was given, which an error leaves unused)."""
        self._worker.shutdown(wait=True, cancel_futures=True)


def _code_type(count: int) -> type[np.integer]:
    """The smallest integer type for ``count`` codes (numpy sorts 16-bit ones by radix)."""
    return np.uint16 if count <= np.iinfo(np.uint16).max else np.int64


def _numbers(values: pa.ChunkedArray, source: str) -> np.ndarray:
    """A work-table column as numpy (an empty result may come untyped): ``last_value`` and
    ``trend`` as floats, missing as NaN; counts, days and flags as integers."""
    if source in _FRACTIONAL:
        return values.cast(pa.float64()).to_numpy()
    integers = values.cast(pa.int64())
    return (integers.fill_null(0) if integers.null_count else integers).to_numpy()
