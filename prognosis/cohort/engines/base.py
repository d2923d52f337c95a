"""What every engine offers the build: open a source, list its tables, run SQL, materialise
a work table, and hold the assembled dataset until it is counted and written.

An engine knows nothing of cohorts: it executes SQL already rendered for its dialect and
returns results as Arrow tables. The build calls only the methods here, so it holds no
branch on the engine; an engine overrides :meth:`Engine.create_table` or
:meth:`Engine.dataset` where it materialises or keeps data its own way (Spark).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prognosis.cohort.catalog import Finding, PhysicalTable
from prognosis.cohort.outcome_columns import event_columns, event_count_key
from prognosis.cohort.source_errors import first_line, locate_value, offending_value
from prognosis.cohort.sql import Step, create_table
from prognosis.exceptions import SourceError

if TYPE_CHECKING:
    import pandas as pd

    from prognosis.cohort.sources import Source

__all__ = ["ArrowDataset", "AssembledDataset", "Engine", "data_error"]


class AssembledDataset(Protocol):
    """A cohort dataset as the build assembled it, wherever its rows are held."""

    schema: pa.Schema

    def counts(self, survival: Sequence[str]) -> dict[str, Any]:
        """Persons, index events, events by code and number of features (as the manifest has);
        ``survival`` names the leading columns that are not features."""
        ...

    def write_parquet(self, path: Path) -> None:
        """Write the rows, in dataset order, to ``path``."""
        ...

    def start_writing(self, path: Path) -> Callable[[], None]:
        """Start :meth:`write_parquet`; the function returned waits until it is done and
        raises what it met (a dataset that cannot write in the background writes at once)."""
        ...

    def to_pandas(self) -> pd.DataFrame:
        """The rows as a DataFrame (for one-person scoring, never for a whole cohort)."""
        ...


@dataclass(frozen=True)
class ArrowDataset:
    """A dataset held in this process as an Arrow table (DuckDB, PostgreSQL)."""

    table: pa.Table

    @property
    def schema(self) -> pa.Schema:
        """The dataset's columns and types."""
        return self.table.schema

    def counts(self, survival: Sequence[str]) -> dict[str, Any]:
        """Persons, index events, events by code and number of features (as the manifest has).

        Parameters
        ----------
        survival
            The leading columns that are survival columns rather than features.

        Returns
        -------
        dict
            ``persons``, ``index_events``, ``events`` (code as text -> count, by outcome when
            there are several: :func:`~prognosis.cohort.outcome_columns.event_count_key`) and
            ``features``.
        """
        persons = pc.count_distinct(self.table.column("person_id"), mode="all").as_py()
        by_code = {
            event_count_key(column, pair["values"]): pair["counts"]
            for column in event_columns(survival)
            for pair in pc.value_counts(self.table.column(column)).to_pylist()
        }
        return {
            "persons": persons,
            "index_events": self.table.num_rows,
            "events": dict(sorted(by_code.items())),
            "features": self.table.num_columns - len(survival),
        }

    def write_parquet(self, path: Path) -> None:
        """Write the table to one Parquet file at ``path``."""
        pq.write_table(self.table, path)

    def start_writing(self, path: Path) -> Callable[[], None]:
        """Write ``path`` on a worker thread (pyarrow encodes without holding the GIL, so the
        build's last steps run meanwhile).

        Parameters
        ----------
        path
            The Parquet file to write.

        Returns
        -------
        Callable[[], None]
            Waits for the file and raises what the writing met.
        """
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prognosis-write")
        writing = worker.submit(self.write_parquet, path)
        worker.shutdown(wait=False)
        return writing.result

    def to_pandas(self) -> pd.DataFrame:
        """The rows as a DataFrame."""
        return self.table.to_pandas()


class Engine:
    """The base of every engine: the methods the build calls, and their shared defaults.

    Subclasses set :attr:`dialect`, call ``super().__init__(source)``, and implement
    :meth:`tables`, :meth:`execute`, :meth:`fetch_arrow`, :meth:`fetch_rows` and
    :meth:`close`.
    """

    dialect: ClassVar[str]
    # True: the build fetches work tables and assembles the dataset on the client (fast for
    # engines on this machine); False: it pivots and joins in SQL (:meth:`dataset`)
    assemble_locally: ClassVar[bool] = True

    def __init__(self, source: Source) -> None:
        self.source = source
        # data-quality findings met while opening the source (ambiguous CSV dates), warned then
        self.findings: list[Finding] = []

    def tables(self) -> dict[str, PhysicalTable]:
        """The source's tables by lower-case name."""
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        """Run one statement (rendered for :attr:`dialect`) that returns nothing."""
        raise NotImplementedError

    def fetch_arrow(self, sql: str) -> pa.Table:
        """A query's result as an Arrow table."""
        raise NotImplementedError

    def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """A query's result as rows."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection and anything the engine made."""
        raise NotImplementedError

    def create_table(self, step: Step) -> None:
        """Materialise ``step`` as the work table ``step.name`` (its rows numbered into
        ``row_id`` when the step asks for that)."""
        self.execute(create_table(step, self.dialect))

    def dataset(self, sql: str, schema: pa.Schema) -> AssembledDataset:
        """The dataset that ``sql`` (rendered for :attr:`dialect`) assembles, cast to ``schema``.

        Parameters
        ----------
        sql
            The query that pivots and joins the work tables into the dataset, in row order.
        schema
            The dataset's columns and types.

        Returns
        -------
        AssembledDataset
            The rows, here fetched into this process.
        """
        return ArrowDataset(self.fetch_arrow(sql).select(schema.names).cast(schema))

    def holds(self, table: PhysicalTable, column: str, value: str) -> bool:
        """Whether text ``column`` of ``table`` holds ``value`` (to name a bad value's place);
        an engine that cannot tell says False."""
        return False


def data_error(engine: Engine, error: Exception, csv: str | None) -> SourceError:
    """A SourceError naming the file or table, column and value a conversion failed on.

    Parameters
    ----------
    engine
        The engine that met the error (its tables are searched for the value).
    error
        The database's error.
    csv
        The CSV reader's complaint, already made one sentence, if the error is one.

    Returns
    -------
    SourceError
        The error to raise.
    """
    origin = f"source {engine.source.describe()}"
    if csv is not None:
        return SourceError(f"{origin}: {csv}")
    value = offending_value(str(error))
    place = None if value is None else locate_value(engine.tables(), value, engine.holds)
    if place is None:
        return SourceError(
            f"{origin}: a value could not be read ({first_line(error)}); correct it in the "
            "source, or leave it empty to mark it missing"
        )
    table, column = place
    where = f"{table.origin} (table '{table.name}')" if table.origin else f"table '{table.name}'"
    expected = table.date_format or "YYYY-MM-DD"
    return SourceError(
        f"{origin}: {where}, column '{column}': value {value!r} is not a date (expected "
        f"{expected}); correct it, or leave it empty to mark it missing"
    )
