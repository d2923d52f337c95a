"""Spark as a cohort engine: the compiled Spark SQL runs where the OMOP tables already are.

OMOP tables come from a folder (one Parquet file or folder, CSV file or Delta table per OMOP
table, registered as temporary views) or from a schema of the session's catalog. Work tables
(``CACHE TABLE name AS SELECT`` in the printed Spark SQL) are materialised at once with their
lineage cut (``localCheckpoint``), so no step recomputes or re-plans the chain before it. The
dataset is assembled in Spark SQL and written by Spark's own Parquet writer
(:class:`SparkDataset`); nothing of its size is collected to the driver. The cohort's row
ids are numbered without a window over all rows (:func:`number_rows`).

pyspark is an optional dependency (``pip install 'prognosis[spark]'``) and needs Java; both are
imported or started only when a Spark source is opened.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from prognosis.cohort.catalog import OMOP_TABLES, PhysicalTable, group_columns, quote
from prognosis.cohort.engines.base import Engine
from prognosis.cohort.outcome_columns import event_columns, event_count_key
from prognosis.cohort.sources import Source
from prognosis.cohort.sql import Step, render_select
from prognosis.exceptions import SourceError
from prognosis.output_folders import is_private

__all__ = [
    "ROWS_PER_FILE",
    "SparkDataset",
    "SparkEngine",
    "collect_arrow",
    "number_rows",
    "open_session",
    "spark_type",
    "write_parquet",
]

#: A dataset of more rows is written as a folder ``dataset.parquet/`` of part files.
ROWS_PER_FILE = 1_000_000

_INSTALL = "pip install 'prognosis[spark]'"
_DEFAULTS = {
    "spark.app.name": "prognosis",
    "spark.sql.session.timeZone": "UTC",  # dates never shift with the machine's time zone
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
_VIEW_PREFIX = "prognosis_src_"


def _pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError:
        raise SourceError(
            f"Spark sources need pyspark, an optional dependency: {_INSTALL} "
            "(pyspark also needs Java 17: e.g. apt-get install openjdk-17-jre-headless)"
        ) from None
    return pyspark.sql


def _check_java() -> None:
    home = os.environ.get("JAVA_HOME")
    if (home and Path(home, "bin", "java").is_file()) or shutil.which("java"):
        return
    raise SourceError(
        "Spark needs Java (17 or 11), but no `java` is on PATH and JAVA_HOME is not set; "
        "install a JRE (Debian: apt-get install openjdk-17-jre-headless)"
    )


def open_session(master: str, conf: dict[str, str] | None = None) -> tuple[Any, bool]:
    """A SparkSession on ``master`` and whether this call started it (then the caller stops it).

    A session already active in this process is reused as it is (Spark allows one per process).
    """
    sql = _pyspark()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        return active, False
    _check_java()
    builder = sql.SparkSession.builder.master(master)
    if master.startswith("local"):  # workers import prognosis: run them in this environment
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in {**_DEFAULTS, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # py4j/pyspark raise their own types when the JVM fails
        raise SourceError(
            f"Spark session on {master} could not start: {_first_line(error)}"
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    return session, True


def spark_type(arrow_type: pa.DataType) -> str:
    """The Spark SQL type that writes ``arrow_type`` to Parquet."""
    types = {
        pa.int64(): "BIGINT",
        pa.int32(): "INT",
        pa.date32(): "DATE",
        pa.string(): "STRING",
        pa.float64(): "DOUBLE",
    }
    if arrow_type not in types:
        raise TypeError(f"no Spark type for Arrow type {arrow_type}")
    return types[arrow_type]


class SparkEngine(Engine):
    """Runs the cohort SQL in a SparkSession (opened from the source, or the caller's own)."""

    dialect = "spark"
    assemble_locally = False  # the dataset stays in Spark and is written by Spark

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        options = dict(source.options)
        if source.session is not None:
            self.session, self._owned = source.session, False
        else:
            conf = {k: v for k, v in options.items() if k.startswith("spark.")}
            self.session, self._owned = open_session(source.location, conf)
        self._before = self._temp_views()
        self._files: dict[str, str] = {}  # OMOP table -> temporary view of its files
        try:
            if source.schema is None:
                self._register(Path(options["path"]), options.get("format"))
            elif not self.session.catalog.databaseExists(source.schema):
                raise SourceError(
                    f"source {source.describe()}: the Spark catalog has no schema "
                    f"'{source.schema}' (set ?schema=NAME to the schema of the OMOP CDM)"
                )
        except BaseException:
            self.close()
            raise

    def _temp_views(self) -> set[str]:
        return {t.name for t in self.session.catalog.listTables() if t.isTemporary}

    def _register(self, folder: Path, fmt: str | None) -> None:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith((".", "_")):
                continue
            found = fmt or _file_format(entry)
            if found is None:
                continue
            table = entry.name.split(".")[0].lower()
            if table not in OMOP_TABLES:  # read only what a build can use
                continue
            if table in self._files:
                raise SourceError(
                    f"source {self.source.describe()}: two entries for table '{table}' "
                    f"(one is {entry.name}); keep one file or folder per OMOP table"
                )
            view = _VIEW_PREFIX + table
            self._read(entry, found).createOrReplaceTempView(view)
            self._files[table] = view
        if not self._files:
            raise SourceError(
                f"source {self.source.describe()}: the folder holds no Parquet, CSV or Delta "
                "tables (expected one file or folder per OMOP table, e.g. person.parquet)"
            )

    def _read(self, path: Path, fmt: str) -> Any:
        reader = self.session.read
        try:
            if fmt == "csv":  # all text: the staging views cast every column to its OMOP type
                return reader.option("header", "true").csv(str(path))
            return reader.format(fmt).load(str(path))
        except Exception as error:
            hint = ""
            if fmt == "delta":
                hint = " (Delta tables need the delta-spark package on the session)"
            raise SourceError(
                f"source {self.source.describe()}: cannot read {path} as {fmt}{hint}: "
                f"{_first_line(error)}"
            ) from None

    def tables(self) -> dict[str, PhysicalTable]:
        if self.source.schema is None:
            references = {table: quote(view) for table, view in self._files.items()}
        else:
            schema = self.source.schema
            references = {
                t.name.lower(): f"{quote(schema)}.{quote(t.name)}"
                for t in self.session.catalog.listTables(schema)
                if not t.isTemporary
            }
        if not references:
            raise SourceError(
                f"source {self.source.describe()}: schema '{self.source.schema}' holds no "
                "tables (set ?schema=NAME to the schema of the OMOP CDM)"
            )
        rows = []
        for table, reference in references.items():
            fields = self.session.table(reference.replace('"', "`")).schema.fields
            rows += [(table, f.name, _type_name(f.dataType)) for f in fields]
        tables = group_columns(rows, f"source {self.source.describe()}")
        return {key: PhysicalTable(t.name, references[key], t.columns) for key, t in tables.items()}

    def execute(self, sql: str) -> None:
        self.session.sql(sql)

    def create_table(self, step: Step) -> None:
        """The work table materialised now, its lineage cut (a cached view would refer to the
        views before it by name, and dropping one would uncache or break the later ones); its
        rows numbered by :func:`number_rows`, without a global window, when the step asks."""
        frame = self.session.sql(render_select(step, self.dialect))
        if step.row_id:
            frame = number_rows(frame, step.row_id)
        frame.localCheckpoint(eager=True).createOrReplaceTempView(step.name)

    def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]:
        with _quiet_sockets():
            return [tuple(row) for row in self.session.sql(sql).collect()]

    def fetch_arrow(self, sql: str) -> pa.Table:
        """A small result as an Arrow table (through the driver: not for the dataset)."""
        return collect_arrow(self.session.sql(sql))

    def dataset(self, sql: str, schema: pa.Schema) -> SparkDataset:
        """The assembled dataset, cast to ``schema`` and materialised in Spark (its lineage
        cut, as for the work tables)."""
        casts = [f"CAST(`{f.name}` AS {spark_type(f.type)}) AS `{f.name}`" for f in schema]
        frame = _nullable(self.session.sql(sql).selectExpr(*casts))
        return SparkDataset(frame.localCheckpoint(eager=True), schema)

    def close(self) -> None:
        """Drop every temporary view this build made, then stop the session if it was started
        here."""
        for name in sorted(self._temp_views() - self._before):
            self.session.catalog.dropTempView(name)
        if self._owned:
            self.session.stop()


def number_rows(frame: Any, keys: tuple[str, ...]) -> Any:
    """``frame`` with a first column ``row_id``: 0 … n-1 in the order of ``keys``, ascending
    with nulls last, as ``ROW_NUMBER() OVER (ORDER BY keys) - 1`` numbers them in DuckDB.

    No window spans all rows (Spark would run it in one partition): the rows are range
    partitioned by ``keys`` and sorted within each partition, so a row's id is its place in
    its partition plus the number of rows in the partitions before it, a sum over a table of
    one row per partition.
    """
    _pyspark()  # a clear error without pyspark
    from pyspark.sql import functions

    order = [functions.col(key).asc_nulls_last() for key in keys]
    ordered = frame.repartitionByRange(*order).sortWithinPartitions(*order)
    placed = ordered.select(
        functions.spark_partition_id().alias("_part"),
        # the partition in the upper 31 bits, the place in the partition in the lower 33
        functions.monotonically_increasing_id().alias("_place"),
        *frame.columns,
    ).localCheckpoint(eager=True)  # computed once: the places must not be recomputed
    sizes = placed.groupBy("_part").count()
    earlier = sizes.alias("b")
    before = (
        sizes.alias("a")
        .join(earlier, functions.col("b._part") < functions.col("a._part"), "left")
        .groupBy(functions.col("a._part").alias("_part"))
        .agg(functions.coalesce(functions.sum("b.count"), functions.lit(0)).alias("_before"))
    )
    place = functions.col("_place").bitwiseAND(functions.lit((1 << 33) - 1))
    row_id = (functions.col("_before") + place).alias("row_id")
    return placed.join(functions.broadcast(before), "_part").select(row_id, *frame.columns)


class SparkDataset:
    """A cohort dataset held by Spark: counted and written without collecting its rows."""

    def __init__(self, frame: Any, schema: pa.Schema) -> None:
        self.frame = frame
        self.schema = schema

    @property
    def num_rows(self) -> int:
        return int(self.frame.count())

    def counts(self, survival: Sequence[str]) -> dict[str, Any]:
        """Persons, index events, events by code and number of features (as the manifest has)."""
        columns = event_columns(survival)
        with _quiet_sockets():
            by_event = {c: self.frame.groupBy(c).count().collect() for c in columns}
            (persons,) = self.frame.selectExpr("COUNT(DISTINCT person_id)").first()
        events = {
            event_count_key(column, row[column]): int(row["count"])
            for column, rows in by_event.items()
            for row in rows
        }
        return {
            "persons": int(persons),
            "index_events": sum(int(row["count"]) for row in by_event[columns[0]]),
            "events": dict(sorted(events.items())),
            "features": len(self.schema) - len(survival),
        }

    def to_pandas(self) -> Any:
        """Collect the rows (for one-person scoring, never for a whole cohort)."""
        return collect_arrow(self.frame).cast(self.schema).to_pandas()

    def write_parquet(self, path: Path) -> None:
        """Write the rows to ``path`` with :func:`write_parquet`."""
        write_parquet(self.frame, path, rows=self.num_rows)

    def start_writing(self, path: Path) -> Callable[[], None]:
        """Write the rows now (the session's jobs stay on the caller's thread); the function
        returned has nothing to wait for."""
        self.write_parquet(path)
        return lambda: None


def write_parquet(frame: Any, path: Path, *, rows: int, rows_per_file: int = ROWS_PER_FILE) -> None:
    """Write ``frame`` to ``path`` sorted by ``person_id`` and ``index_date``, atomically.

    Up to ``rows_per_file`` rows (``rows`` is the caller's count: counting ``frame`` here could
    compute it twice) make one Parquet file; more make a folder of part files
    ``part-00000.parquet``, ... whose name order is the row order. A previous file or folder at
    ``path`` is replaced only once the new one is complete.
    """
    path = Path(path)
    files = max(1, math.ceil(rows / rows_per_file))
    keys = ["person_id", "index_date"]
    if files == 1:
        ordered = frame.repartition(1).sortWithinPartitions(*keys)
    else:
        ordered = frame.repartitionByRange(files, *keys).sortWithinPartitions(*keys)
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        ordered.write.parquet(str(scratch / "spark"))
        parts = sorted((scratch / "spark").glob("part-*.parquet"))
        result = parts[0] if files == 1 else scratch / "parts"
        if files > 1:
            result.mkdir()
            for number, part in enumerate(parts):
                os.replace(part, result / f"part-{number:05d}.parquet")
        if is_private(path):  # Spark writes with its own permissions (0644)
            for entry in (result, *(result.iterdir() if result.is_dir() else ())):
                os.chmod(entry, 0o700 if entry.is_dir() else 0o600)
        if path.is_dir():
            os.replace(path, scratch / "previous")
        os.replace(result, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _file_format(entry: Path) -> str | None:
    """The format of one entry of a source folder, or None when it is no table."""
    name = entry.name.lower()
    if entry.is_file():
        if name.endswith(".parquet"):
            return "parquet"
        return "csv" if name.endswith((".csv", ".csv.gz")) else None
    if (entry / "_delta_log").is_dir():
        return "delta"
    inside = {p.name.lower() for p in entry.iterdir()}
    if name.endswith(".parquet") or any(n.endswith(".parquet") for n in inside):
        return "parquet"
    return "csv" if any(n.endswith((".csv", ".csv.gz")) for n in inside) else None


def _type_name(data_type: Any) -> str:
    """Spark's type name as the staging views expect it (text types as VARCHAR)."""
    name = data_type.simpleString().upper()
    return "VARCHAR" if name.startswith(("STRING", "VARCHAR", "CHAR")) else name


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _nullable(frame: Any) -> Any:
    """The same rows with every column nullable. Spark writes a column it knows has no nulls
    as a Parquet REQUIRED field, the other engines write every column OPTIONAL. A union's
    column is nullable when either side's is, and the optimizer drops the empty side, so this
    costs nothing (``DataFrame.to`` keeps non-null columns non-null)."""
    types = _pyspark().types
    fields = [types.StructField(f.name, f.dataType, True) for f in frame.schema]
    empty = frame.sparkSession.createDataFrame([], types.StructType(fields))
    return frame.unionByName(empty)


def collect_arrow(frame: Any) -> pa.Table:
    """A small DataFrame on the driver as an Arrow table (pyspark 3.5 has no public
    ``toArrow``; its own ``toPandas`` uses this)."""
    with _quiet_sockets():
        batches = frame._collect_as_arrow()
    return pa.Table.from_batches(batches) if batches else _empty_arrow(frame)


def _empty_arrow(frame: Any) -> pa.Table:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(frame.schema).empty_table()


@contextlib.contextmanager
def _quiet_sockets() -> Iterator[None]:
    """pyspark 3.5 leaves the local socket of a collect to the garbage collector, which then
    warns ``ResourceWarning: unclosed <socket.socket ...>``; silence exactly that."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"unclosed <socket\.socket", ResourceWarning)
        yield
