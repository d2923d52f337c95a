"""The engines by source kind: the only place that knows which engine opens which source.

Each engine module is imported when a source of its kind is opened, so a DuckDB build never
imports the Spark engine, and pyspark or psycopg are imported only by their engine.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator

from prognosis.cohort.engines.base import Engine
from prognosis.cohort.sources import Source, SourceKind

__all__ = ["ENGINES", "engine_class", "open_engine"]

#: Source kind -> (module, class) of the engine that opens it.
ENGINES: dict[SourceKind, tuple[str, str]] = {
    SourceKind.DUCKDB: ("prognosis.cohort.engines.duckdb", "DuckDBEngine"),
    SourceKind.FILES: ("prognosis.cohort.engines.duckdb", "DuckDBEngine"),
    SourceKind.POSTGRES: ("prognosis.cohort.engines.postgres", "PostgresEngine"),
    SourceKind.SPARK: ("prognosis.cohort.engines.spark", "SparkEngine"),
}


def engine_class(kind: SourceKind) -> type[Engine]:
    """The engine class that opens sources of ``kind`` (its module imported now).

    Parameters
    ----------
    kind
        The kind of source.

    Returns
    -------
    type of Engine
        The class, called with the source to open it.
    """
    module, name = ENGINES[kind]
    found: type[Engine] = getattr(importlib.import_module(module), name)
    return found


@contextlib.contextmanager
def open_engine(source: Source) -> Iterator[Engine]:
    """Open the engine a source needs; always closed on exit.

    Parameters
    ----------
    source
        The parsed ``--source``.

    Yields
    ------
    Engine
        The open engine.
    """
    engine = engine_class(source.kind)(source)
    try:
        yield engine
    finally:
        engine.close()
