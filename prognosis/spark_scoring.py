"""Score and explain a cohort dataset on Spark, partition by partition (``mapInPandas``).

The model directory is read and verified once on the driver, its files are broadcast, and each
Python worker loads the model from them once (again hash-verified by
:func:`prognosis.models.store.load_model`), so executors need no shared filesystem for the model.
Each batch of rows goes through the same functions as the single-machine path
(:func:`prognosis.training.predict_frame`, :func:`prognosis.scoring.explain_frame`), so the
output has the same columns and, row for row, the same values; nothing of the dataset's size is
collected to the driver.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from prognosis.cohort.outcome_columns import outcome_column, parse_outcome_column
from prognosis.cohort.sources import Source, SourceKind, parse_source
from prognosis.exceptions import PrognosisError
from prognosis.models.store import SavedModel, load_model
from prognosis.scoring import explain_frame
from prognosis.training import check_schema, predict_frame, risk_columns

__all__ = ["explain_spark", "is_spark_url", "predict_spark", "score_on_spark"]

_MODELS: dict[str, SavedModel] = {}  # per Python worker: manifest hash -> loaded model


def is_spark_url(text: str) -> bool:
    """True when a dataset argument names a Spark source (``spark://...``)."""
    return str(text).startswith("spark://")


class _ModelFiles:
    """A model directory as bytes, broadcast to the executors and loaded there once."""

    def __init__(self, session: Any, model_dir: Path) -> None:
        folder = Path(model_dir)
        self.saved = load_model(folder)  # verified here first: errors surface on the driver
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        self.key = hashlib.sha256(files["manifest.json"]).hexdigest()
        self.broadcast = session.sparkContext.broadcast(files)

    def loader(self) -> Callable[[], SavedModel]:
        # a module-level function, pickled by reference: the cache is the worker's own
        return functools.partial(_load_model, self.key, self.broadcast)


def _load_model(key: str, broadcast: Any) -> SavedModel:
    """The broadcast model, loaded (and hash-verified) once per Python worker."""
    if key not in _MODELS:
        with tempfile.TemporaryDirectory(prefix="prognosis-model-") as folder:
            for name, content in broadcast.value.items():
                Path(folder, name).write_bytes(content)
            _MODELS[key] = load_model(Path(folder))
    return _MODELS[key]


def _check_columns(saved: SavedModel, frame: Any, origin: str) -> None:
    """Refuse, on the driver, a dataset whose columns do not match the model."""
    check_schema(saved, pd.DataFrame(columns=frame.columns), origin=origin)


def predict_spark(session: Any, model_dir: Path, frame: Any, *, origin: str = "dataset") -> Any:
    """Risks of every row of a Spark DataFrame: a lazy DataFrame with the columns of
    :func:`prognosis.training.predict_frame` (``person_id``, ``index_date``, ``risk_<h>``)."""
    model = _ModelFiles(session, model_dir)
    _check_columns(model.saved, frame, origin)
    load = model.loader()
    names = risk_columns(model.saved)
    schema = "person_id BIGINT, index_date DATE, " + ", ".join(f"`{n}` DOUBLE" for n in names)

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        saved = load()
        for batch in batches:
            yield predict_frame(saved, batch, origin=origin)

    return frame.mapInPandas(predict, schema)


def explain_spark(
    session: Any,
    model_dir: Path,
    frame: Any,
    *,
    background_rows: int = 100,
    seed: int = 0,
    origin: str = "dataset",
) -> Any:
    """SHAP values of every row of a Spark DataFrame: a lazy DataFrame with the columns of
    :func:`prognosis.scoring.explain_frame`, against the same background rows as the
    single-machine path (:func:`prognosis.scoring.background_rows`)."""
    model = _ModelFiles(session, model_dir)
    _check_columns(model.saved, frame, origin)
    load = model.loader()
    background = _background(frame, background_rows, seed)
    features = ", ".join(f"`shap_{name}` DOUBLE" for name in model.saved.feature_names)
    schema = f"person_id BIGINT, index_date DATE, base_value DOUBLE, {features}"

    def explain(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        saved = load()
        for batch in batches:
            yield explain_frame(saved, batch, background=background, origin=origin)

    return frame.mapInPandas(explain, schema)


def _background(frame: Any, rows: int, seed: int) -> pd.DataFrame:
    """The rows :func:`prognosis.scoring.background_rows` picks, drawn in Spark (SHA-256 of
    ``seed:person_id:index_date``, smallest first); only these few reach the driver."""
    from pyspark.sql import functions as F

    from prognosis.cohort.engines.spark import collect_arrow

    key = F.sha2(
        F.concat_ws(
            ":",
            F.lit(str(seed)),
            F.col("person_id").cast("string"),
            F.col("index_date").cast("string"),
        ),
        256,
    )
    chosen = frame.withColumn("_key", key).orderBy("_key").limit(rows).drop("_key")
    return collect_arrow(chosen).to_pandas()


def score_on_spark(
    what: str,
    model_dir: Path,
    dataset: str,
    out: Path,
    *,
    background_rows: int = 100,
    seed: int = 0,
) -> int:
    """``what`` = ``predict`` or ``explain``: run the model over the dataset named by
    ``spark://MASTER?path=DATASET_DIR`` and write ``out`` (Parquet, one file, or a folder of
    part files when large); return the number of rows."""
    from prognosis.cohort.engines.spark import open_session, write_parquet

    source = _dataset_source(dataset)
    parquet = Path(source.option("path") or "") / "dataset.parquet"
    if not parquet.exists():
        raise PrognosisError(
            f"{source.describe()}: no dataset.parquet in {parquet.parent}; path= names a "
            "dataset folder written by `prognosis cohort build`"
        )
    conf = {k: v for k, v in source.options if k.startswith("spark.")}
    session, owned = open_session(source.location, conf)
    try:
        frame = _rows_at_risk(session.read.parquet(str(parquet)), load_model(model_dir))
        origin = str(parquet)
        if what == "predict":
            result = predict_spark(session, model_dir, frame, origin=origin)
        else:
            result = explain_spark(
                session,
                model_dir,
                frame,
                background_rows=background_rows,
                seed=seed,
                origin=origin,
            )
        rows = frame.count()
        write_parquet(result, Path(out), rows=rows)
        return rows
    finally:
        if owned:
            session.stop()


def _rows_at_risk(frame: Any, saved: SavedModel) -> Any:
    """The rows of the model's outcome, of a dataset built from ``outcomes:`` (as
    :meth:`prognosis.dataset.CohortDataset.for_outcome` keeps them locally), without the
    outcomes' survival columns (scoring reads only the row key and the features)."""
    if saved.info.outcome is None:
        return frame
    column = outcome_column("time", saved.info.outcome)
    if column not in frame.columns:
        raise PrognosisError(
            f"the model is of outcome '{saved.info.outcome}', which this dataset lacks (no "
            f"column {column}); score the dataset the model was fitted on, or one built from "
            "the same definition"
        )
    outcomes = [name for name in frame.columns if parse_outcome_column(name) is not None]
    return frame.where(f"`{column}` IS NOT NULL").drop(*outcomes)


def _dataset_source(text: str) -> Source:
    source = parse_source(text)
    if source.kind is not SourceKind.SPARK or source.option("path") is None:
        raise PrognosisError(
            f"{source.describe()}: a dataset on Spark is spark://MASTER?path=DATASET_DIR "
            "(a folder written by `prognosis cohort build`)"
        )
    return source
