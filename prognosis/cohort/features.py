"""Compile feature items into SQL over the ``cohort`` table, and describe every column.

Each domain that features read is joined to the cohort once, into a scan table grouped by cohort
row and concept (``fx_<domain>``); each (item, window) then becomes one long work table
``(row_id[, concept_id], n[, last_value][, trend])`` aggregated from that scan; ``row_id``
numbers the cohort's rows in dataset order (person, then index date). Concept-set and
demographic features are known at compile time; domain-wide features need the cohort first, to
find the concepts seen in at least ``min_prevalence`` of it, and then become one column per
concept: pivoted in SQL (engines that keep the data, such as Spark) or filled from the long
table on the client (see ``assemble``).
Absent records give presence 0 and count 0; a measurement with no value in the window gives a
missing ``last`` (the model layer decides what to do with it), and one with values on fewer than
two distinct days a missing ``trend`` (the least-squares slope per year, from sums the scan keeps).
A ``treatment`` item is one work table ``(row_id, on_treatment, days_on)`` of its own, from the
drug exposures as spans (:func:`_treatment_select`); a row without an exposure gives 0 and 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from prognosis.artifacts import Feature
from prognosis.cohort.definition import (
    VALUED_STATISTICS,
    CohortDefinition,
    ConceptSetFeature,
    DemographicsFeature,
    Domain,
    DomainFeature,
    IndexConceptFeature,
    SinceEntryFeature,
    Statistic,
    TimeSinceEntryFeature,
    TreatmentFeature,
    TreatmentStatistic,
    Window,
)
from prognosis.cohort.outcome_columns import survival_names
from prognosis.cohort.sql import Step, between, days, in_set
from prognosis.cohort.staging import SPANS_VIEW
from prognosis.exceptions import CohortError

__all__ = [
    "DomainSlot",
    "FeatureColumn",
    "FeaturePlan",
    "FeatureTable",
    "TrainedColumns",
    "dataset_query",
    "plan_features",
    "prevalence_query",
    "resolve_domain",
    "work_table_name",
]

MALE, FEMALE = 8507, 8532

# PostgreSQL cuts identifiers to 63 bytes (NAMEDATALEN - 1), so two long names could become one
_MAX_NAME = 63
_DIGEST = 10  # hex digits of SHA-256 kept in a shortened name
MAX_INDEX_FLAGS = 1000  # index_concept columns, one per concept listed in the index set


def work_table_name(name: str) -> str:
    """``name`` when it fits in 63 bytes; else its start, ``_`` and 10 hex digits of its SHA-256.

    Deterministic (the same definition gives the same names on every run and engine), and two
    different long names keep different short ones, where PostgreSQL's own truncation would
    make ``fx_3_<60 shared characters>a`` and ``..b`` the same table.
    """
    encoded = name.encode()
    if len(encoded) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:_DIGEST]
    return f"{encoded[: _MAX_NAME - _DIGEST - 1].decode(errors='ignore')}_{digest}"


_PREFIX = {
    Domain.CONDITION: "condition",
    Domain.DRUG: "drug",
    Domain.PROCEDURE: "procedure",
    Domain.MEASUREMENT: "measurement",
    Domain.OBSERVATION: "observation",
    Domain.VISIT: "visit",
}


@dataclass(frozen=True)
class FeatureColumn:
    """One dataset column: its SQL, and what it means (written to ``features.json``)."""

    name: str
    expression: str
    kind: str
    statistic: str
    dtype: str  # "int32" or "float64"
    domain: str | None = None
    concept_ids: tuple[int, ...] = ()
    concept_set: str | None = None
    window: str | None = None
    window_days: tuple[int | None, int | None] | None = None
    # where the value comes from, for assembling the dataset outside SQL: the work table
    # keyed by ``row_id``, its column, and (long domain tables) the concept it is filtered to
    table: str | None = None
    source: str | None = None
    concept_id: int | None = None
    # a ``treatment`` column: the days without the drug allowed within one exposure
    gap: int | None = None


@dataclass(frozen=True)
class FeatureTable:
    """A work table joined onto ``cohort`` in the final query."""

    name: str
    alias: str


@dataclass(frozen=True)
class DomainSlot:
    """A domain-wide item and window, waiting for its concepts to be chosen by prevalence."""

    item: DomainFeature
    window_name: str
    window: Window
    long_table: str


@dataclass
class FeaturePlan:
    """Feature work tables, and the column layout in definition order."""

    steps: list[Step] = field(default_factory=list)
    tables: list[FeatureTable] = field(default_factory=list)
    layout: list[FeatureColumn | DomainSlot] = field(default_factory=list)
    # work tables that only feed other steps, dropped once ``steps`` have run
    scratch: list[str] = field(default_factory=list)
    # each (item, window) table -> the domain scan (in ``scratch``) it is aggregated from
    reads: dict[str, str] = field(default_factory=dict)

    def schedule(self) -> list[Step]:
        """:attr:`steps` with each domain scan followed at once by the tables aggregated from
        it: a scan can be dropped, and its tables used, before the next scan runs.

        Returns
        -------
        list[Step]
            Every step of :attr:`steps` once; steps that read no scan keep their order.
        """
        ordered: list[Step] = []
        for step in self.steps:
            if step.name in self.reads:
                continue  # placed after its scan
            ordered.append(step)
            ordered += [later for later in self.steps if self.reads.get(later.name) == step.name]
        return ordered


@dataclass(frozen=True)
class TrainedColumns:
    """The feature columns of a fitted model, which a build on another source reproduces.

    ``names`` come from the model's ``feature_schema.json`` (in order); ``concepts`` gives,
    for each domain-wide item and window (``(domain, window)``), the concept ids the model was
    trained on (from its ``features.json``), chosen instead of a new prevalence selection.
    """

    names: tuple[str, ...]
    concepts: dict[tuple[str, str], tuple[int, ...]]
    origin: str

    @classmethod
    def of(cls, names: list[str], features: Sequence[Feature], *, origin: str) -> TrainedColumns:
        """From a model's feature names and ``features.json`` entries."""
        kept = set(names)
        concepts: dict[tuple[str, str], set[int]] = {}
        for feature in features:
            if feature.kind != "domain" or feature.name not in kept:
                continue
            key = (str(feature.domain), str(feature.window.name if feature.window else None))
            ids = {int(concept.concept_id) for concept in feature.concepts}
            concepts.setdefault(key, set()).update(ids)
        return cls(
            tuple(names),
            {key: tuple(sorted(ids)) for key, ids in concepts.items()},
            origin,
        )

    def choose(self, slot: DomainSlot) -> list[int]:
        """The trained concepts of a domain slot, whether or not the new source has them."""
        return list(self.concepts.get((slot.item.domain.value, slot.window_name), ()))

    def select(self, columns: list[FeatureColumn]) -> list[FeatureColumn]:
        """``columns`` reduced to the model's, in its order; a model column the definition
        does not make is an error naming it."""
        by_name = {column.name: column for column in columns}
        missing = [name for name in self.names if name not in by_name]
        if missing:
            raise CohortError(
                f"{self.origin}: the definition does not make {len(missing)} of the model's "
                f"feature columns ({', '.join(missing[:10])}); build with the definition the "
                "model was trained on"
            )
        return [by_name[name] for name in self.names]


def plan_features(definition: CohortDefinition) -> FeaturePlan:
    """Steps and columns for every feature item of the definition.

    Each domain that concept-set or domain-wide features read is joined to the cohort once
    (:func:`_scan_step`); every (item, window) table is then aggregated from that scan, so a
    definition with sixteen concept-set windows on three domains makes three joins, not
    nineteen. The scans are :attr:`FeaturePlan.scratch`, dropped once the tables exist.
    """
    plan = FeaturePlan()
    features = definition.features
    scans = _domain_scans(definition)
    for position, item in enumerate(features.items):
        if isinstance(item, DemographicsFeature):
            plan.layout += _demographics(item)
        elif isinstance(item, IndexConceptFeature):
            _index_concept(definition, plan)
        elif isinstance(item, TreatmentFeature):
            _treatment(definition, item, position, plan)
        elif isinstance(item, TimeSinceEntryFeature):
            plan.layout.append(_time_since_entry())
        elif isinstance(item, SinceEntryFeature):
            _since_entry(definition, item, position, plan)
        else:
            scan = scans[item.domain]
            if scan.table not in plan.scratch:
                plan.steps.append(_scan_step(scan, item.domain))
                plan.scratch.append(scan.table)
            for window_name in item.windows:
                window = features.windows[window_name]
                table = work_table_name(f"fx_{position}_{window_name}")
                plan.steps.append(
                    _long_step(table, item, window_name, scan, _one_concept(definition, item))
                )
                plan.reads[table] = scan.table
                if isinstance(item, ConceptSetFeature):
                    plan.tables.append(FeatureTable(table, table))
                    plan.layout += _concept_set_columns(
                        definition, item, window_name, window, table
                    )
                else:
                    plan.layout.append(DomainSlot(item, window_name, window, table))
    return plan


def _demographics(item: DemographicsFeature) -> list[FeatureColumn]:
    columns = []
    if item.age:
        columns.append(
            FeatureColumn("age", "CAST(c.age AS INTEGER)", "demographics", "age", "int32")
        )
    if item.sex:
        sex = (
            f"CAST(CASE c.gender_concept_id WHEN {MALE} THEN 1 WHEN {FEMALE} THEN 0 END AS INTEGER)"
        )
        columns.append(FeatureColumn("sex_male", sex, "demographics", "sex", "int32"))
    return columns


def _index_concept(definition: CohortDefinition, plan: FeaturePlan) -> None:
    index = definition.index
    roots = definition.concept_sets[index.concept_set].include
    if len(roots) > MAX_INDEX_FLAGS:
        raise CohortError(
            f"feature 'index_concept' would add {len(roots)} columns, one per concept listed in "
            f"concept set '{index.concept_set}' (the index concept set); at most "
            f"{MAX_INDEX_FLAGS} are allowed: drop the index_concept feature, or list fewer "
            "concepts and set descendants: true"
        )
    flags = ", ".join(
        f"MAX(CASE WHEN s.root_id = {root} THEN 1 ELSE 0 END) AS index_{root}" for root in roots
    )
    # the entry's concept, at every landmark
    entry = "entry_date" if definition.landmarks is not None else "index_date"
    select = f"""
SELECT c.row_id, {flags}
FROM cohort AS c
JOIN stg_{index.domain.value} AS e ON e.person_id = c.person_id AND e.event_date = c.{entry}
JOIN concept_sets AS s ON s.concept_set = '{index.concept_set}' AND s.concept_id = e.concept_id
GROUP BY c.row_id"""
    plan.steps.append(Step("fx_index_concept", "which index concept", select))
    plan.tables.append(FeatureTable("fx_index_concept", "fx_index_concept"))
    for root in roots:
        plan.layout.append(
            FeatureColumn(
                f"index_{root}",
                f"CAST(COALESCE(fx_index_concept.index_{root}, 0) AS INTEGER)",
                "index_concept",
                "presence",
                "int32",
                domain=index.domain.value,
                concept_ids=(root,),
                concept_set=index.concept_set,
                window="index",
                window_days=(0, 0),
                table="fx_index_concept",
                source=f"index_{root}",
            )
        )


def _treatment(
    definition: CohortDefinition, item: TreatmentFeature, position: int, plan: FeaturePlan
) -> None:
    """A ``treatment`` item: one work table ``(row_id, on_treatment, days_on)`` with a row for
    each cohort row with an exposure of the set, and its columns (0 for rows without one)."""
    table = work_table_name(f"fx_{position}_{item.name}")
    latest = 0 if definition.features.include_index_day else -1
    plan.steps.append(Step(table, f"feature {item.name}", _treatment_select(item, latest)))
    plan.tables.append(FeatureTable(table, table))
    sources = {TreatmentStatistic.STATUS: "on_treatment", TreatmentStatistic.DAYS: "days_on"}
    suffixes = {TreatmentStatistic.STATUS: "", TreatmentStatistic.DAYS: "_days"}
    for statistic in item.statistics:
        plan.layout.append(
            FeatureColumn(
                f"{item.name}{suffixes[statistic]}",
                f"CAST(COALESCE({table}.{sources[statistic]}, 0) AS INTEGER)",
                "treatment",
                statistic.value,
                "int32",
                domain=Domain.DRUG.value,
                concept_ids=tuple(definition.concept_sets[item.concept_set].include),
                concept_set=item.concept_set,
                table=table,
                source=sources[statistic],
                gap=item.gap,
            )
        )


def _treatment_select(item: TreatmentFeature, latest: int) -> str:
    """Each cohort row's latest continuous exposure to the set, from the exposures started by
    day ``latest``: an exposure ends on its ``end_date``, else on day start + days_supply - 1
    (a days_supply of 1 or more), else on its start day, and never before its start.

    Sorted by start (then end), an exposure opens a new continuous exposure when more than
    ``gap`` days without the drug lie between it and the latest end of those before it; the
    latest continuous exposure then starts at the last opening exposure's start and ends at
    the latest end of all (continuous exposures are disjoint and ordered). The row is on the
    treatment when that end is at most ``gap`` days before the index date (day 0)."""
    start = days("e.event_date", "c.index_date")
    recorded = days("e.end_date", "c.index_date")
    supplied = f"CASE WHEN e.days_supply >= 1 THEN {start} + e.days_supply - 1 END"
    end = f"GREATEST({start}, COALESCE({recorded}, {supplied}, {start}))"
    exposures = (
        f"SELECT c.row_id, {start} AS start_day, {end} AS end_day "
        f"FROM cohort AS c JOIN {SPANS_VIEW} AS e ON e.person_id = c.person_id "
        f"WHERE {in_set('e.concept_id', item.concept_set)} AND {start} <= {latest}"
    )
    # neither sort key is NULL; NULLS FIRST is every dialect's default, so none is told it
    reach = (
        "SELECT row_id, start_day, end_day, MAX(end_day) OVER (PARTITION BY row_id "
        "ORDER BY start_day NULLS FIRST, end_day NULLS FIRST ROWS BETWEEN UNBOUNDED PRECEDING "
        "AND 1 PRECEDING) "
        f"AS reach FROM ({exposures}) AS x"
    )
    eras = (
        "SELECT row_id, MAX(CASE WHEN reach IS NULL OR start_day - reach - 1 > "
        f"{item.gap} THEN start_day END) AS era_start, MAX(end_day) AS era_end "
        f"FROM ({reach}) AS y GROUP BY row_id"
    )
    on = f"era_end >= {-item.gap}"
    return (
        f"SELECT row_id, CASE WHEN {on} THEN 1 ELSE 0 END AS on_treatment, "
        f"CASE WHEN {on} THEN -era_start ELSE 0 END AS days_on FROM ({eras}) AS z"
    )


@dataclass
class _Scan:
    """What the feature items of one domain read: each window, with the concept sets read
    in it (``None``: every concept, for a domain-wide item) and whether a last value is."""

    table: str
    windows: dict[str, Window] = field(default_factory=dict)
    concept_sets: dict[str, set[str] | None] = field(default_factory=dict)
    valued: set[str] = field(default_factory=set)
    trended: set[str] = field(default_factory=set)

    def column(self, prefix: str, window_name: str) -> str:
        """The scan's column for a window: ``n_<i>`` (records), ``last_<i>`` (the
        ``[day, value]`` pair of the last valued record) or one of the sums a trend is
        computed from (``tn_<i>``, ``tx_<i>``, ...), ``i`` the window's position."""
        return f"{prefix}_{list(self.windows).index(window_name)}"

    def sums(self, window_name: str) -> tuple[str, ...]:
        """The columns of a trended window's sums, in :data:`_TREND_SUMS` order."""
        return tuple(self.column(prefix, window_name) for prefix in _TREND_SUMS)


def _domain_scans(definition: CohortDefinition) -> dict[Domain, _Scan]:
    scans: dict[Domain, _Scan] = {}
    for item in definition.features.items:
        if not isinstance(item, ConceptSetFeature | DomainFeature):
            continue
        scan = scans.setdefault(item.domain, _Scan(work_table_name(f"fx_{item.domain.value}")))
        for window_name in item.windows:
            scan.windows[window_name] = definition.features.windows[window_name]
            read = scan.concept_sets.setdefault(window_name, set())
            if isinstance(item, DomainFeature) or read is None:
                scan.concept_sets[window_name] = None
            else:
                read.add(item.concept_set)
            if Statistic.LAST in item.statistics:
                scan.valued.add(window_name)
            if Statistic.TREND in item.statistics:
                scan.trended.add(window_name)
    return scans


def _members(concept_sets: set[str]) -> str:
    names = ", ".join(f"'{name}'" for name in sorted(concept_sets))
    return f"SELECT concept_id FROM concept_sets WHERE concept_set IN ({names})"


# the day of an undated record (read only by windows open at both ends): before every date,
# as ``ORDER BY event_date DESC`` puts it last
_NO_DAY = -1e300


def _scan_step(scan: _Scan, domain: Domain) -> Step:
    """Every record of the domain inside a window someone reads, joined to the cohort once and
    grouped by cohort row and concept: per window, the records (``n_i``) and, where a last
    value is read, the ``[day, value]`` pair of the latest valued one (``last_i``; MAX of the
    pair gives the latest day, then the largest value, the order of the ranking it replaces)."""
    offset = days("e.event_date", "c.index_date")
    aggregates, reads = [], []
    for window_name, window in scan.windows.items():
        inside = between(offset, window)
        count = scan.column("n", window_name)
        aggregates.append(f"COUNT(CASE WHEN {inside} THEN 1 END) AS {count}")
        if window_name in scan.valued:
            day = f"COALESCE(CAST({offset} AS DOUBLE), {_NO_DAY})"
            aggregates.append(
                f"MAX(CASE WHEN {inside} AND e.value IS NOT NULL THEN [{day}, e.value] END) "
                f"AS {scan.column('last', window_name)}"
            )
        if window_name in scan.trended:
            aggregates += _trend_sums(offset, inside, scan.sums(window_name))
        concept_sets = scan.concept_sets[window_name]
        member = "TRUE" if concept_sets is None else f"e.concept_id IN ({_members(concept_sets)})"
        reads.append(f"(({inside}) AND {member})")
    where = " OR ".join(reads)
    if all(sets is not None for sets in scan.concept_sets.values()):
        # only concept sets are read: their members, filtered before the join
        every = set().union(*(sets or set() for sets in scan.concept_sets.values()))
        where = f"e.concept_id IN ({_members(every)}) AND ({where})"
    select = (
        f"SELECT c.row_id, e.concept_id, {', '.join(aggregates)} "
        f"FROM cohort AS c JOIN stg_{domain.value} AS e ON e.person_id = c.person_id "
        f"WHERE {where} GROUP BY c.row_id, e.concept_id"
    )
    return Step(scan.table, f"read {domain.value} records in the feature windows", select)


def _one_concept(definition: CohortDefinition, item: ConceptSetFeature | DomainFeature) -> bool:
    """Whether a concept-set item's set has at most one member (one listed id, no
    descendants; exclusions only remove), so its scan rows need no summing."""
    if not isinstance(item, ConceptSetFeature):
        return False
    concept_set = definition.concept_sets[item.concept_set]
    return not concept_set.descendants and len(set(concept_set.include)) == 1


def _long_step(
    table: str,
    item: ConceptSetFeature | DomainFeature,
    window_name: str,
    scan: _Scan,
    one_concept: bool = False,
) -> Step:
    """The (item, window) table from the domain's scan: ``(row_id, n[, last_value])`` summed
    over a concept set's members, or ``(row_id, concept_id, n[, last_value])`` per concept.
    A set of ``one_concept`` has one scan row per cohort row at most: taken as it is."""
    count, last = scan.column("n", window_name), scan.column("last", window_name)
    valued = Statistic.LAST in item.statistics
    trended = Statistic.TREND in item.statistics
    where = f"{count} > 0"
    if isinstance(item, ConceptSetFeature):
        where += f" AND {in_set('concept_id', item.concept_set)}"
    if isinstance(item, DomainFeature) or one_concept:
        value = f", {last}[2] AS last_value" if valued else ""
        value += f", {_slope(scan.sums(window_name))} AS trend" if trended else ""
        concept = " concept_id," if isinstance(item, DomainFeature) else ""
        select = f"SELECT row_id,{concept} {count} AS n{value} FROM {scan.table} WHERE {where}"
    else:
        sums = ", ".join(
            f"SUM({column}) AS {prefix}"
            for prefix, column in zip(_TREND_SUMS, scan.sums(window_name), strict=True)
        )
        grouped = (
            f"SELECT row_id, CAST(SUM({count}) AS BIGINT) AS n"
            f"{f', MAX({last}) AS last_pair' if valued else ''}"
            f"{f', {sums}' if trended else ''} "
            f"FROM {scan.table} WHERE {where} GROUP BY row_id"
        )
        outer = ", last_pair[2] AS last_value" if valued else ""
        outer += f", {_slope(_TREND_SUMS)} AS trend" if trended else ""
        select = f"SELECT row_id, n{outer} FROM ({grouped}) AS g" if outer else grouped
    what = getattr(item, "name", item.domain.value)
    return Step(table, f"feature {what} in window {window_name}", select)


_SUFFIX = {
    Statistic.PRESENCE: "",
    Statistic.COUNT: "_count",
    Statistic.LAST: "_last",
    Statistic.TREND: "_trend",
}
_SOURCE = {
    Statistic.PRESENCE: "n",
    Statistic.COUNT: "n",
    Statistic.LAST: "last_value",
    Statistic.TREND: "trend",
}

#: Days in a year: a ``trend`` is the least-squares slope per day times this.
DAYS_PER_YEAR = 365.25

# the sums a trend is computed from: records, then the sums of day, value, day x value, day^2
_TREND_SUMS = ("tn", "tx", "ty", "txy", "txx")


def _trend_sums(offset: str, inside: str, names: tuple[str, ...]) -> list[str]:
    """Scan aggregates of a trended window: over the window's dated records with a value,
    their number and the sums of day, value, day x value and day squared (days as offsets
    from the index date: whole numbers, so the sums of days are exact in a double)."""
    kept = f"{inside} AND e.event_date IS NOT NULL AND e.value IS NOT NULL"
    day = f"CAST({offset} AS DOUBLE)"
    terms = (None, day, "e.value", f"{day} * e.value", f"{day} * {day}")
    aggregates = [f"COUNT(CASE WHEN {kept} THEN 1 END) AS {names[0]}"]
    aggregates += [
        f"SUM(CASE WHEN {kept} THEN {term} END) AS {name}"
        for term, name in zip(terms[1:], names[1:], strict=True)
    ]
    return aggregates


def _slope(sums: tuple[str, ...]) -> str:
    """The least-squares slope of value on day, per year, from the sums of
    :func:`_trend_sums`: ``(n Sxy - Sx Sy) / (n Sxx - Sx^2)`` x 365.25; NULL when the
    records lie on fewer than two distinct days (the denominator is then exactly 0)."""
    n, x, y, xy, xx = sums
    spread = f"({n} * {xx} - {x} * {x})"
    return f"CASE WHEN {spread} > 0 THEN {DAYS_PER_YEAR} * ({n} * {xy} - {x} * {y}) / {spread} END"


def _value(statistic: Statistic, count: str, last: str) -> tuple[str, str]:
    if statistic is Statistic.PRESENCE:
        return f"CAST(CASE WHEN COALESCE({count}, 0) > 0 THEN 1 ELSE 0 END AS INTEGER)", "int32"
    if statistic is Statistic.COUNT:
        return f"CAST(COALESCE({count}, 0) AS INTEGER)", "int32"
    return f"CAST({last} AS DOUBLE)", "float64"


def _concept_set_columns(
    definition: CohortDefinition,
    item: ConceptSetFeature,
    window_name: str,
    window: Window,
    table: str,
) -> list[FeatureColumn]:
    columns = []
    for statistic in item.statistics:
        expression, dtype = _value(statistic, f"{table}.n", f"{table}.{_SOURCE[statistic]}")
        columns.append(
            FeatureColumn(
                f"{item.name}_{window_name}{_SUFFIX[statistic]}",
                expression,
                "concept_set",
                statistic.value,
                dtype,
                domain=item.domain.value,
                concept_ids=tuple(definition.concept_sets[item.concept_set].include),
                concept_set=item.concept_set,
                window=window_name,
                window_days=(window.start, window.end),
                table=table,
                source=_SOURCE[statistic],
            )
        )
    return columns


# -- landmark features: time since entry, records since entry ---------------------------------
def _time_since_entry() -> FeatureColumn:
    """The landmark (days after entry) as a feature: what a model of stacked landmark rows
    sees of the time since entry (the ``landmark`` key column is no feature)."""
    return FeatureColumn(
        "time_since_entry",
        "CAST(c.landmark AS INTEGER)",
        "time_since_entry",
        "days",
        "int32",
    )


def _since_entry(
    definition: CohortDefinition, item: SinceEntryFeature, position: int, plan: FeaturePlan
) -> None:
    """Records of ``item``'s concept set from the entry date to the day before the landmark
    date (none at landmark 0), per cohort row: presence and/or count columns."""
    table = work_table_name(f"fx_since_{position}_{item.name}")
    select = f"""
SELECT c.row_id, COUNT(*) AS n
FROM cohort AS c JOIN stg_{item.domain.value} AS e ON e.person_id = c.person_id
WHERE {in_set("e.concept_id", item.concept_set)}
  AND e.event_date >= c.entry_date AND e.event_date < c.index_date
GROUP BY c.row_id"""
    plan.steps.append(Step(table, f"feature {item.name} since entry", select))
    plan.tables.append(FeatureTable(table, table))
    for statistic in item.statistics:
        expression, dtype = _value(statistic, f"{table}.n", f"{table}.n")
        plan.layout.append(
            FeatureColumn(
                f"{item.name}{_SUFFIX[statistic]}",
                expression,
                "since_entry",
                statistic.value,
                dtype,
                domain=item.domain.value,
                concept_ids=tuple(definition.concept_sets[item.concept_set].include),
                concept_set=item.concept_set,
                window="since_entry",
                table=table,
                source="n",
            )
        )


def prevalence_query(slot: DomainSlot, min_persons: int) -> str:
    """Concept ids recorded for at least ``min_persons`` index events in the window."""
    return (
        f"SELECT concept_id FROM {slot.long_table} WHERE concept_id IS NOT NULL "
        "AND concept_id <> 0 "
        f"GROUP BY concept_id HAVING COUNT(*) >= {min_persons} ORDER BY concept_id"
    )


def resolve_domain(
    slot: DomainSlot, concept_ids: list[int]
) -> tuple[Step | None, FeatureTable | None, list[FeatureColumn]]:
    """Pivot a domain slot to one column per chosen concept and statistic."""
    if not concept_ids:
        return None, None, []
    item = slot.item
    wide = work_table_name(f"{slot.long_table}_wide")
    prefix = _PREFIX[item.domain]
    aggregates, columns = [], []
    for concept_id in concept_ids:
        for statistic in item.statistics:
            name = f"{prefix}_{concept_id}_{slot.window_name}{_SUFFIX[statistic]}"
            if statistic in VALUED_STATISTICS:
                aggregates.append(
                    f"MAX(CASE WHEN concept_id = {concept_id} THEN {_SOURCE[statistic]} END) "
                    f"AS {name}"
                )
            else:
                aggregates.append(
                    f"CAST(SUM(CASE WHEN concept_id = {concept_id} THEN n ELSE 0 END) AS INTEGER) "
                    f"AS {name}"
                )
            expression, dtype = _value(statistic, f"{wide}.{name}", f"{wide}.{name}")
            columns.append(
                FeatureColumn(
                    name,
                    expression,
                    "domain",
                    statistic.value,
                    dtype,
                    domain=item.domain.value,
                    concept_ids=(concept_id,),
                    window=slot.window_name,
                    window_days=(slot.window.start, slot.window.end),
                    table=slot.long_table,
                    source=_SOURCE[statistic],
                    concept_id=concept_id,
                )
            )
    ids = ", ".join(map(str, concept_ids))
    select = (
        f"SELECT row_id, {', '.join(aggregates)} FROM {slot.long_table} "
        f"WHERE concept_id IN ({ids}) GROUP BY row_id"
    )
    step = Step(wide, f"pivot {item.domain.value} features in window {slot.window_name}", select)
    return step, FeatureTable(wide, wide), columns


def dataset_query(
    columns: list[FeatureColumn],
    tables: list[FeatureTable],
    *,
    row_id: bool = False,
    outcomes: Sequence[str] = (),
    landmarks: bool = False,
) -> str:
    """The final SELECT: survival columns (``time``, ``event``, ``censor_reason``, or each of
    ``outcomes``' own: :mod:`prognosis.cohort.outcome_columns`), then every feature, ordered
    by person and index (``row_id`` order); ``row_id=True`` keeps that column first; with
    ``landmarks``, ``entry_date`` and ``landmark`` follow ``index_date``."""
    items = ["c.row_id"] if row_id else []
    items += ["c.person_id", "c.index_date"]
    if landmarks:
        items += ["c.entry_date", "CAST(c.landmark AS INTEGER) AS landmark"]
    for name in survival_names(outcomes):
        text = name.startswith("censor_reason")
        items.append(f"c.{name}" if text else f"CAST(c.{name} AS INTEGER) AS {name}")
    items += [f"{column.expression} AS {column.name}" for column in columns]
    joins = [f"LEFT JOIN {t.name} AS {t.alias} ON {t.alias}.row_id = c.row_id" for t in tables]
    return f"SELECT {', '.join(items)} FROM cohort AS c {' '.join(joins)} ORDER BY c.row_id"
