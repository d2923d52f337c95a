"""The benchmark cohort built in plain pandas: the speed reference, and an independent oracle.

It reads the OMOP tables from the DuckDB file into pandas DataFrames (reading counts in the
time), then does in pandas what ``prognosis cohort build`` does in SQL: the data-quality checks,
index events, first occurrence, observation period and prior observation, outcome and competing
death, censoring, attrition, every feature (concept-set presence, last value and count;
domain-wide concepts above a minimum prevalence, pivoted wide), and writes ``dataset.parquet``
with the same schema. It shares no code with ``prognosis.cohort`` beyond loading the YAML.

Run as a script (``cohort_build.py`` runs it in a subprocess to measure its peak memory)::

    python tests/benchmarks/pandas_reference.py DEFINITION CDM.duckdb OUT_DIR

It prints one JSON object: step timings in seconds, rows, features and findings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from prognosis.cohort.definition import (
    CohortDefinition,
    ConceptSetFeature,
    DemographicsFeature,
    Domain,
    DomainFeature,
    Occurrence,
    Statistic,
    Window,
    load_definition,
)

__all__ = ["build"]

EPOCH = pd.Timestamp("1970-01-01")
BIG = 999_999
MALE, FEMALE = 8507, 8532
KEY = ["person_id", "index_day"]


@dataclass(frozen=True)
class _Table:
    """Where an OMOP event table keeps its concept, date, record id and value."""

    name: str
    concept: str | None
    date: str
    record_id: str | None
    value: str | None = None
    prefix: str = ""


_EVENTS = {
    Domain.CONDITION: _Table(
        "condition_occurrence",
        "condition_concept_id",
        "condition_start_date",
        "condition_occurrence_id",
        prefix="condition",
    ),
    Domain.DRUG: _Table(
        "drug_exposure",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_exposure_id",
        prefix="drug",
    ),
    Domain.MEASUREMENT: _Table(
        "measurement",
        "measurement_concept_id",
        "measurement_date",
        "measurement_id",
        "value_as_number",
        prefix="measurement",
    ),
    Domain.DEATH: _Table("death", "cause_concept_id", "death_date", None),
}


@dataclass
class _Timer:
    """Seconds per named step, in order."""

    steps: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(now - self.started, 3)
        self.started = now


def _days(dates: pd.Series) -> pd.Series:
    """Whole days since 1970-01-01 as float64 (NaN where the date is missing)."""
    return (dates - EPOCH).dt.days.astype("float64")


# --- reading ---------------------------------------------------------------------------------


def read_tables(con: duckdb.DuckDBPyConnection, domains: set[Domain]) -> dict[str, pd.DataFrame]:
    """Every table the build needs, as DataFrames with dates turned into day numbers."""
    frames = {
        "person": con.execute(
            "SELECT person_id, gender_concept_id, year_of_birth FROM person"
        ).df(),
        "observation_period": con.execute(
            "SELECT person_id, observation_period_start_date AS start_date, "
            "observation_period_end_date AS end_date FROM observation_period"
        ).df(),
        "concept": con.execute("SELECT concept_id, concept_name FROM concept").df(),
        "concept_ancestor": con.execute(
            "SELECT ancestor_concept_id, descendant_concept_id FROM concept_ancestor"
        ).df(),
    }
    periods = frames["observation_period"]
    periods["start"] = _days(periods.pop("start_date"))
    periods["end"] = _days(periods.pop("end_date"))
    for domain in domains:
        table = _EVENTS[domain]
        columns = [
            "person_id",
            f"{table.concept} AS concept_id",
            f"{table.date} AS event_date",
            f"{table.record_id} AS record_id" if table.record_id else "NULL AS record_id",
        ]
        if table.value:
            columns.append(f"{table.value} AS value")
        frame = con.execute(f"SELECT {', '.join(columns)} FROM {table.name}").df()
        frame["day"] = _days(frame.pop("event_date"))
        frames[domain.value] = frame
    return frames


# --- data quality ----------------------------------------------------------------------------


def check_sources(frames: dict[str, pd.DataFrame], today: dt.date) -> list[str]:
    """The same checks as ``prognosis.cohort.quality``; de-duplicates event tables in place."""
    person = frames["person"]
    if person["person_id"].isna().any() or not person["person_id"].is_unique:
        raise ValueError("table 'person': missing or duplicate person_id")
    today_day = float((pd.Timestamp(today) - EPOCH).days)
    periods = frames["observation_period"]
    known = periods["person_id"].isin(person["person_id"])
    findings = [
        f"observation_period: {int((~known).sum())} orphan rows, "
        f"{int((periods['end'] > today_day).sum())} in the future, "
        f"{int((periods['end'] < periods['start']).sum())} reversed"
    ]
    for domain in _EVENTS:
        if domain.value in frames:
            findings.append(_check_events(frames, domain, today_day))
    return findings


def _check_events(frames: dict[str, pd.DataFrame], domain: Domain, today_day: float) -> str:
    events = frames[domain.value]
    person_ids = frames["person"]["person_id"]
    known = events["person_id"].isin(person_ids)
    outside = ~_inside_a_period(events, frames["observation_period"]) & known
    findings = (
        f"{domain.value}: {len(events)} rows, {int((~known).sum())} orphans, "
        f"{int(outside.sum())} outside every observation period, "
        f"{int((events['day'] > today_day).sum())} in the future"
    )
    ids = events["record_id"]
    if ids.notna().any() and ids.nunique() < ids.notna().sum():
        duplicated = events.duplicated()
        if duplicated.any():
            frames[domain.value] = events[~duplicated].reset_index(drop=True)
            findings += f", {int(duplicated.sum())} exact duplicates removed"
    return findings


def _inside_a_period(events: pd.DataFrame, periods: pd.DataFrame) -> pd.Series:
    """Whether each event's date lies inside one of its person's observation periods."""
    if periods["person_id"].is_unique:  # one period per person: look the bounds up
        bounds = periods.set_index("person_id")
        start = events["person_id"].map(bounds["start"])
        end = events["person_id"].map(bounds["end"])
        return (events["day"] >= start) & (events["day"] <= end)
    pairs = events[["person_id", "day"]].reset_index().merge(periods, on="person_id")
    pairs["inside"] = (pairs["day"] >= pairs["start"]) & (pairs["day"] <= pairs["end"])
    inside = pairs.groupby("index")["inside"].any()
    return inside.reindex(events.index, fill_value=False)


def missing_concepts(definition: CohortDefinition, concept: pd.DataFrame) -> list[int]:
    listed = {cid for cs in definition.concept_sets.values() for cid in cs.include + cs.exclude}
    return sorted(listed - set(concept["concept_id"]))


# --- concept sets and the cohort -------------------------------------------------------------


def resolve_concept_sets(
    definition: CohortDefinition, ancestor: pd.DataFrame
) -> dict[str, set[int]]:
    """Each concept set's member concept ids (descendants and exclusions applied)."""

    def below(ids: list[int]) -> set[int]:
        rows = ancestor[ancestor["ancestor_concept_id"].isin(ids)]
        return set(rows["descendant_concept_id"].dropna().astype("int64"))

    resolved = {}
    for name, concept_set in definition.concept_sets.items():
        members = set(concept_set.include)
        if concept_set.descendants:
            members |= below(concept_set.include)
        excluded = set(concept_set.exclude)
        if concept_set.exclude_descendants:
            excluded |= below(concept_set.exclude)
        resolved[name] = members - excluded
    return resolved


def index_events(
    definition: CohortDefinition, frames: dict[str, pd.DataFrame], sets: dict[str, set[int]]
) -> pd.DataFrame:
    """Candidate index events with occurrence number, observation period, age and sex."""
    index = definition.index
    person = frames["person"]
    events = frames[index.domain.value]
    chosen = events["concept_id"].isin(sets[index.concept_set]) & events["day"].notna()
    chosen &= events["person_id"].isin(person["person_id"])
    found = events.loc[chosen, ["person_id", "day"]].drop_duplicates()
    found = found.rename(columns={"day": "index_day"}).sort_values(KEY)
    found["occurrence"] = found.groupby("person_id").cumcount() + 1
    pairs = found[KEY].merge(frames["observation_period"], on="person_id")
    pairs = pairs[(pairs["start"] <= pairs["index_day"]) & (pairs["index_day"] <= pairs["end"])]
    periods = pairs.groupby(KEY).agg(obs_start=("start", "min"), obs_end=("end", "max"))
    found = found.merge(periods.reset_index(), on=KEY, how="left").merge(person, on="person_id")
    year = pd.to_datetime(found["index_day"], unit="D").dt.year
    found["age"] = year - found["year_of_birth"]
    return found.reset_index(drop=True)


def index_conditions(definition: CohortDefinition, found: pd.DataFrame) -> list[tuple[str, Any]]:
    """(name, boolean mask) per attrition step on the index events, in order."""
    index = definition.index
    steps: list[tuple[str, Any]] = [("index_events", np.ones(len(found), dtype=bool))]
    if index.occurrence is Occurrence.FIRST:
        steps.append(("first_occurrence", found["occurrence"] == 1))
    steps.append(("in_observation", found["obs_start"].notna()))
    if index.min_prior_observation:
        prior = found["index_day"] - found["obs_start"]
        steps.append(("prior_observation", prior >= index.min_prior_observation))
    if index.age.min is not None or index.age.max is not None:
        steps.append(("age", _inside(found["age"], Window(start=index.age.min, end=index.age.max))))
    if index.dates.start is not None or index.dates.end is not None:
        mask = pd.Series(True, index=found.index)
        if index.dates.start:
            mask &= found["index_day"] >= (pd.Timestamp(index.dates.start) - EPOCH).days
        if index.dates.end:
            mask &= found["index_day"] <= (pd.Timestamp(index.dates.end) - EPOCH).days
        steps.append(("index_dates", mask))
    return steps


def _inside(values: pd.Series, window: Window) -> pd.Series:
    mask = pd.Series(True, index=values.index)
    if window.start is not None:
        mask &= values >= window.start
    if window.end is not None:
        mask &= values <= window.end
    return mask


def _first_day(
    base: pd.DataFrame, events: pd.DataFrame, concepts: set[int] | None, start: int, end: int
) -> pd.Series:
    """Per index event, the first day offset of a matching record in [start, end] (or NaN)."""
    if concepts is not None:
        events = events[events["concept_id"].isin(concepts)]
    pairs = base[KEY].merge(events[["person_id", "day"]], on="person_id")
    offset = pairs["day"] - pairs["index_day"]
    pairs = pairs.assign(offset=offset)[(offset >= start) & (offset <= end)]
    return pairs.groupby(KEY)["offset"].min()


def follow_up(
    definition: CohortDefinition,
    frames: dict[str, pd.DataFrame],
    sets: dict[str, set[int]],
    found: pd.DataFrame,
    base: pd.Series,
) -> pd.DataFrame:
    """Time, event and censoring reason for every candidate index event."""
    if definition.rules or definition.outcome.exclude_prior is not None:
        raise NotImplementedError("the pandas reference has no rules or prior-outcome exclusion")
    tar = definition.outcome.time_at_risk
    events = [(definition.outcome.domain, definition.outcome.concept_set)]
    events += [(event.domain, event.concept_set) for event in definition.competing_events]
    keyed = found.set_index(KEY)
    index_day = found["index_day"].to_numpy()
    in_base = found.loc[base, KEY]
    event_days = []
    for domain, concept_set in events:
        concepts = sets[concept_set] if concept_set else None
        first = _first_day(in_base, frames[domain.value], concepts, tar.start, tar.end)
        event_days.append(first.reindex(keyed.index).to_numpy())
    deaths = frames[Domain.DEATH.value].dropna(subset=["day"]).groupby("person_id")["day"].min()
    death_days = found["person_id"].map(deaths).to_numpy("float64") - index_day
    obs_end_days = found["obs_end"].to_numpy("float64") - index_day
    cutoff = definition.censoring.data_cutoff
    cutoff_days = np.full(len(found), np.nan)
    if cutoff:
        cutoff_days = (pd.Timestamp(cutoff) - EPOCH).days - index_day
    ends = np.vstack([obs_end_days, np.full(len(found), float(tar.end)), death_days, cutoff_days])
    follow = np.nanmin(ends, axis=0)
    firsts = np.vstack([np.nan_to_num(d, nan=BIG) for d in event_days])
    first_event = firsts.min(axis=0)
    cause = np.zeros(len(found), dtype="int32")
    for number in range(len(event_days), 0, -1):  # the lowest number wins a tie
        cause[event_days[number - 1] == first_event] = number
    has_event = first_event <= follow
    reason = np.select(
        [has_event, follow == death_days, follow == obs_end_days, follow == cutoff_days],
        ["", "death", "observation_end", "data_cutoff"],
        "time_at_risk_end",
    )
    return pd.DataFrame(
        {
            "time": np.minimum(first_event, follow),
            "event": np.where(has_event, cause, 0),
            "censor_reason": reason,
            "follow_up": follow,
        },
        index=found.index,
    )


def attrition(
    steps: list[tuple[str, Any]], found: pd.DataFrame
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Persons and index events left after each cumulative step; the final mask."""
    rows, mask = [], np.ones(len(found), dtype=bool)
    for name, condition in steps:
        mask = mask & np.asarray(condition, dtype=bool)
        rows.append(
            {
                "step": name,
                "persons": int(found.loc[mask, "person_id"].nunique()),
                "index_events": int(mask.sum()),
            }
        )
    return rows, mask


# --- features --------------------------------------------------------------------------------


def long_table(
    events: pd.DataFrame,
    cohort: pd.DataFrame,
    window: Window,
    concepts: set[int] | None,
    statistics: list[Statistic],
) -> pd.DataFrame:
    """Records in the window: count and last value per index event (and concept if domain-wide)."""
    if concepts is not None:
        events = events[events["concept_id"].isin(concepts)]
    wanted = [c for c in ("person_id", "concept_id", "day", "value") if c in events]
    pairs = events[wanted].merge(cohort[KEY], on="person_id")
    pairs = pairs[_inside(pairs["day"] - pairs["index_day"], window)]
    key = KEY if concepts is not None else [*KEY, "concept_id"]
    table = pairs.groupby(key, dropna=False).size().rename("n").to_frame()
    if Statistic.LAST in statistics:
        ordered = pairs.assign(missing=pairs["value"].isna()).sort_values(
            ["missing", "day", "value"], ascending=[True, False, False]
        )
        last = ordered.drop_duplicates(key).set_index(key)["value"].rename("last_value")
        table = table.join(last)
    return table


def _columns(
    table: pd.DataFrame, cohort_index: pd.MultiIndex, name: str, statistics: list[Statistic]
) -> dict[str, np.ndarray]:
    aligned = table.reindex(cohort_index)
    columns = {}
    for statistic in statistics:
        if statistic is Statistic.PRESENCE:
            columns[name] = (aligned["n"].fillna(0) > 0).to_numpy("int32")
        elif statistic is Statistic.COUNT:
            columns[f"{name}_count"] = aligned["n"].fillna(0).to_numpy("int32")
        else:
            columns[f"{name}_last"] = aligned["last_value"].to_numpy("float64")
    return columns


def domain_columns(
    long: pd.DataFrame,
    cohort_index: pd.MultiIndex,
    item: DomainFeature,
    window_name: str,
) -> dict[str, np.ndarray]:
    """One column per concept seen in at least ``min_prevalence`` of the cohort, per statistic."""
    size = len(cohort_index)
    threshold = max(1, math.ceil(round(item.min_prevalence * size, 9)))
    flat = long.reset_index()
    per_concept = flat.dropna(subset=["concept_id"]).groupby("concept_id").size()
    chosen = sorted(int(cid) for cid in per_concept.index[per_concept >= threshold])
    flat = flat[flat["concept_id"].isin(chosen)]
    values = ["n", "last_value"] if "last_value" in flat else ["n"]
    wide = flat.pivot(index=KEY, columns="concept_id", values=values).reindex(cohort_index)
    prefix = _EVENTS[item.domain].prefix
    columns = {}
    for concept_id in chosen:
        per = pd.DataFrame({value: wide[(value, concept_id)] for value in values})
        name = f"{prefix}_{concept_id}_{window_name}"
        columns.update(_columns(per, cohort_index, name, item.statistics))
    return columns


def features(
    definition: CohortDefinition,
    frames: dict[str, pd.DataFrame],
    sets: dict[str, set[int]],
    cohort: pd.DataFrame,
) -> dict[str, np.ndarray]:
    """Every feature column, in definition order, aligned with ``cohort``'s rows."""
    cohort_index = pd.MultiIndex.from_frame(cohort[KEY])
    columns: dict[str, np.ndarray] = {}
    for item in definition.features.items:
        if isinstance(item, DemographicsFeature):
            columns.update(_demographics(item, cohort))
            continue
        if not isinstance(item, ConceptSetFeature | DomainFeature):
            raise NotImplementedError(f"the pandas reference has no '{item.kind}' features")
        for window_name in item.windows:
            window = definition.features.windows[window_name]
            events = frames[item.domain.value]
            if isinstance(item, ConceptSetFeature):
                long = long_table(events, cohort, window, sets[item.concept_set], item.statistics)
                name = f"{item.name}_{window_name}"
                columns.update(_columns(long, cohort_index, name, item.statistics))
            else:
                long = long_table(events, cohort, window, None, item.statistics)
                columns.update(domain_columns(long, cohort_index, item, window_name))
    return columns


def _demographics(item: DemographicsFeature, cohort: pd.DataFrame) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    if item.age:
        columns["age"] = cohort["age"].to_numpy("int32")
    if item.sex:
        sex = cohort["gender_concept_id"].map({MALE: 1, FEMALE: 0})
        columns["sex_male"] = pd.array(sex, dtype="Int32")
    return columns


# --- the whole build -------------------------------------------------------------------------


def build(definition_path: Path, cdm: Path, out_dir: Path, today: dt.date) -> dict[str, Any]:
    """Build the cohort in pandas; write ``dataset.parquet`` and ``attrition.json``."""
    timer = _Timer()
    definition = load_definition(definition_path)
    with duckdb.connect(str(cdm), read_only=True) as con:
        frames = read_tables(con, definition.used_domains())
    timer.lap("read tables into pandas")
    findings = check_sources(frames, today)
    missing = missing_concepts(definition, frames["concept"])
    timer.lap("check data quality")
    sets = resolve_concept_sets(definition, frames["concept_ancestor"])
    found = index_events(definition, frames, sets)
    timer.lap("index events")
    steps = index_conditions(definition, found)
    _, base = attrition(steps, found)
    outcome = follow_up(definition, frames, sets, found, pd.Series(base, index=found.index))
    steps.append(("at_risk", outcome["follow_up"] >= definition.outcome.time_at_risk.start))
    rows, kept = attrition(steps, found)
    cohort = pd.concat([found, outcome], axis=1)[kept].sort_values(KEY).reset_index(drop=True)
    timer.lap("outcome, censoring, attrition")
    columns = features(definition, frames, sets, cohort)
    timer.lap("features")
    dataset = pd.DataFrame(
        {
            "person_id": cohort["person_id"].to_numpy("int64"),
            "index_date": pd.to_datetime(cohort["index_day"], unit="D"),
            "time": cohort["time"].to_numpy("int32"),
            "event": cohort["event"].to_numpy("int32"),
            "censor_reason": cohort["censor_reason"].to_numpy(),
            **columns,
        }
    )
    _write(dataset, rows, out_dir)
    timer.lap("write dataset")
    return {
        "steps": timer.steps,
        "rows": len(dataset),
        "features": len(columns),
        "findings": findings,
        "missing_concepts": missing,
    }


def _write(dataset: pd.DataFrame, rows: list[dict[str, Any]], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(dataset, preserve_index=False)
    position = table.schema.get_field_index("index_date")
    table = table.set_column(position, "index_date", table["index_date"].cast(pa.date32()))
    pq.write_table(table.replace_schema_metadata(None), out_dir / "dataset.parquet")
    (out_dir / "attrition.json").write_text(json.dumps(rows, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    definition, cdm, out_dir = (Path(arg) for arg in (argv or sys.argv[1:]))
    print(json.dumps(build(definition, cdm, out_dir, dt.date.today())))


if __name__ == "__main__":
    main()
