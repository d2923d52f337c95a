"""Read a cohort dataset folder: ``dataset.parquet``, and ``features.json``, ``attrition.json``
and ``manifest.json`` as their types (:mod:`prognosis.artifacts`)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from prognosis.artifacts import (
    AttritionStep,
    DatasetManifest,
    Feature,
    read_attrition,
    read_features,
    read_manifest,
)
from prognosis.cohort.definition import parse_recorded_definition
from prognosis.cohort.outcome_columns import (
    outcome_column,
    outcome_names_in,
    parse_outcome_column,
)
from prognosis.cohort.yaml_loader import spelled
from prognosis.exceptions import DatasetError
from prognosis.models.target import target_from_frame
from prognosis.outputs import sha256_file

__all__ = [
    "SURVIVAL_COLUMNS",
    "CohortDataset",
    "DatasetError",
    "feature_frame",
    "load_dataset",
    "outcomes_of",
]

# the columns that are not features: the row key (a landmark dataset's has its entry date and
# landmark, days after entry: a model sees the landmark through ``time_since_entry``), and the
# survival columns
SURVIVAL_COLUMNS = (
    "person_id",
    "index_date",
    "entry_date",
    "landmark",
    "time",
    "event",
    "censor_reason",
)
_FILES = ("features.json", "manifest.json", "attrition.json")


@dataclass
class CohortDataset:
    """A built cohort: the rows, the features' descriptions, the build manifest and the
    attrition table (empty where the folder has no such file)."""

    path: Path
    frame: pd.DataFrame
    features: tuple[Feature, ...] = ()
    manifest: DatasetManifest = dataclasses.field(default_factory=DatasetManifest)
    attrition: tuple[AttritionStep, ...] = ()
    #: The outcome this is the view of (:meth:`for_outcome`); ``None`` for a one-outcome
    #: dataset, or for a dataset of several outcomes before one is chosen.
    outcome: str | None = None

    @functools.cached_property
    def file_sha256(self) -> str:
        """SHA-256 of the folder's ``dataset.parquet`` (a file, or a folder of part files),
        read once per dataset: what tells whether a model was fitted on these very rows."""
        return sha256_file(self.path / "dataset.parquet")

    @property
    def feature_names(self) -> list[str]:
        return [
            c
            for c in self.frame.columns
            if c not in SURVIVAL_COLUMNS and parse_outcome_column(c) is None
        ]

    @property
    def outcome_names(self) -> list[str]:
        """The outcomes of a dataset built from ``outcomes:``, in definition order; empty for
        a one-outcome dataset (and for the view of one outcome)."""
        return outcome_names_in(self.frame.columns)

    def for_outcome(self, name: str | None) -> CohortDataset:
        """The dataset of outcome ``name``: its ``time``, ``event`` and ``censor_reason`` in
        place of every outcome's columns, and only the rows at risk of it (a row with a prior
        record of an outcome that excludes them is not). ``None`` on a one-outcome dataset
        gives the dataset itself.

        Raises
        ------
        DatasetError
            When the dataset has no outcome ``name`` (the message names those it has), or has
            several and ``name`` is ``None``.
        """
        outcomes = self.outcome_names
        where = self.path / "dataset.parquet"
        if not outcomes:
            if name is None or name == self.outcome:
                return self
            raise DatasetError(
                f"{where}: a one-outcome dataset (its definition has outcome:, not outcomes:), "
                f"so it has no outcome {spelled(name)}; use a dataset built from a definition "
                "whose outcomes: names it, or fit without --outcome"
            )
        if name not in outcomes:
            what = "no outcome " + spelled(name) if name is not None else "several outcomes"
            raise DatasetError(
                f"{where}: {what}; it has {', '.join(outcomes)}: choose one with --outcome "
                "NAME (a model fitted on one of them uses its own)"
            )
        frame = _outcome_frame(self.frame, name)
        attrition = self._attrition_of(name, frame)
        return dataclasses.replace(self, frame=frame, outcome=name, attrition=attrition)

    def _attrition_of(self, name: str, frame: pd.DataFrame) -> tuple[AttritionStep, ...]:
        """The attrition, with a last step for the rows not at risk of outcome ``name`` (those
        with a record of it before the time at risk), when there are some."""
        if not self.attrition or len(frame) == len(self.frame):
            return self.attrition
        persons, last = int(frame["person_id"].nunique()), self.attrition[-1]
        step = AttritionStep(
            step=f"at_risk_of_{name}",
            description=f"At risk of {self._label(name)}: no record of it before the time at risk",
            persons=persons,
            index_events=len(frame),
            persons_dropped=last.persons - persons,
            index_events_dropped=last.index_events - len(frame),
        )
        return (*self.attrition, step)

    @property
    def X(self) -> pd.DataFrame:
        return feature_frame(self.frame, self.feature_names)

    @property
    def y(self) -> np.ndarray:
        self.for_outcome(self.outcome)  # a dataset of several outcomes needs one chosen
        return target_from_frame(self.frame, origin=str(self.path / "dataset.parquet"))

    @property
    def competing(self) -> bool:
        self.for_outcome(self.outcome)
        return bool((self.frame["event"] > 1).any())

    def competing_censored(self) -> CohortDataset:
        """The same rows with competing events (event 2+) recoded as censored at their time,
        ``censor_reason`` 'competing_event': the data of a cause-specific model of the
        outcome, whose risks ignore that the competing events remove persons from risk."""
        frame = self.frame.copy(deep=False)  # new columns replace, never write into, the old
        competing = frame["event"].to_numpy() > 1
        frame["event"] = np.where(competing, 0, frame["event"].to_numpy())
        frame["censor_reason"] = np.where(
            competing, "competing_event", frame["censor_reason"].to_numpy(dtype=object)
        )
        return dataclasses.replace(self, frame=frame)

    def _label(self, outcome: str) -> str:
        """The outcome's label in the recorded definition, else its name."""
        definition = parse_recorded_definition(self.manifest)
        specs = {s.name: s for s in definition.outcome_specs()} if definition else {}
        spec = specs.get(outcome)
        return (spec.outcome.label if spec else None) or outcome.replace("_", " ")

    def subset(self, rows: np.ndarray) -> CohortDataset:
        return dataclasses.replace(self, frame=self.frame.iloc[rows])


def _outcome_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows at risk of outcome ``name``, with its survival columns under the one-outcome
    names, and no other outcome's."""
    at_risk = frame[outcome_column("time", name)].notna().to_numpy()
    rows = frame.loc[at_risk] if not at_risk.all() else frame
    survival = {
        "time": rows[outcome_column("time", name)].astype("int32"),
        "event": rows[outcome_column("event", name)].astype("int32"),
        "censor_reason": rows[outcome_column("censor_reason", name)].astype(object),
    }
    features = [c for c in frame.columns if parse_outcome_column(c) is None]
    keys = [c for c in features if c in SURVIVAL_COLUMNS]
    view = pd.concat(
        [rows[keys], pd.DataFrame(survival), rows[[c for c in features if c not in keys]]],
        axis=1,
    )
    return view.reset_index(drop=True)


def feature_frame(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The feature columns ``names`` of ``frame``: numbers (and booleans) as float64, NaN for
    missing; categorical (string, object, category) columns as they are, for the models'
    preprocessing to one-hot encode."""
    columns = {name: frame[name] for name in names}
    numeric = [
        name
        for name, column in columns.items()
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
    ]
    if len(numeric) < len(names):
        return frame[names].astype(dict.fromkeys(numeric, "float64"))
    # one column-major float block, filled column by column: a single copy of the data
    # (``frame[names].astype`` copies twice, seconds at a million rows)
    values = np.empty((len(frame), len(names)), dtype=np.float64, order="F")
    for position, column in enumerate(columns.values()):
        if isinstance(column.dtype, np.dtype):  # NumPy ints, floats (NaN), bools
            values[:, position] = column.to_numpy()
        else:  # pandas' nullable types: NA becomes NaN
            values[:, position] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(values, index=frame.index, columns=names, copy=False)


def outcomes_of(path: str | Path) -> list[str]:
    """The outcomes of the dataset folder ``path`` when it was built from ``outcomes:``, read
    from its Parquet schema alone; empty for a one-outcome dataset, or where there is no
    readable ``dataset.parquet`` (:func:`load_dataset` then says why)."""
    import pyarrow.dataset as ds

    try:
        names = ds.dataset(Path(path) / "dataset.parquet", format="parquet").schema.names
    except (OSError, ValueError):
        return []
    return outcome_names_in(names)


def load_dataset(path: str | Path, outcome: str | None = None) -> CohortDataset:
    """Load a dataset folder written by ``prognosis cohort build``.

    Parameters
    ----------
    path
        The dataset folder.
    outcome
        For a dataset of several outcomes, the one to load (:meth:`CohortDataset.for_outcome`);
        ``None`` loads them all (each outcome's columns, no ``time``/``event``).

    Raises
    ------
    DatasetError
        When the folder, ``dataset.parquet`` or a JSON file is missing, unreadable, corrupt or
        of the wrong shape, or the dataset has no outcome ``outcome``; the message names the
        file.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(
            f"{folder}: no such dataset folder; build one with `prognosis cohort build`"
        )
    parquet = folder / "dataset.parquet"
    if not parquet.exists():  # a file, or a folder of part files (large Spark builds)
        raise DatasetError(
            f"{folder}: no dataset.parquet here; build one with `prognosis cohort build`"
        )
    try:
        frame = pq.read_table(parquet).to_pandas()
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise DatasetError(
            f"{parquet}: not a readable Parquet dataset ({_first_line(error)}); rebuild it with "
            "`prognosis cohort build ... --overwrite`"
        ) from None
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # an index stored by pandas
        frame = frame.reset_index(drop=True)
    missing = [c for c in ("time", "event") if c not in frame.columns]
    if missing and not outcome_names_in(frame.columns):
        raise DatasetError(
            f"{parquet}: no column {', '.join(missing)}; a survival dataset needs 'time' "
            "(days, > 0) and 'event' (0 censored, 1 outcome, 2+ competing events)"
        )
    hint = "rebuild the dataset with `prognosis cohort build ... --overwrite`"
    options = {"error": DatasetError, "hint": hint}
    features, manifest, attrition = (folder / name for name in _FILES)
    dataset = CohortDataset(
        path=folder,
        frame=frame,
        features=read_features(features, **options) if features.is_file() else (),
        manifest=read_manifest(manifest, **options) if manifest.is_file() else DatasetManifest(),
        attrition=read_attrition(attrition, **options) if attrition.is_file() else (),
    )
    return dataset if outcome is None else dataset.for_outcome(outcome)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
