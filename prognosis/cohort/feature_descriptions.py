"""Human labels for features, from the source's ``concept`` table: what ``features.json`` holds."""

from __future__ import annotations

from prognosis.artifacts import Concept, Feature, FeatureWindow
from prognosis.cohort.definition import CohortDefinition, Window
from prognosis.cohort.engines import Engine
from prognosis.cohort.features import FeatureColumn
from prognosis.cohort.sql import render

__all__ = ["describe_features", "feature_label"]


def describe_features(
    engine: Engine, definition: CohortDefinition, columns: list[FeatureColumn]
) -> tuple[Feature, ...]:
    """One entry per feature column: name, meaning, concepts, window and a readable label."""
    names = _concept_names(engine, {cid for c in columns for cid in c.concept_ids})
    described = []
    for column in columns:
        window = None
        if column.window_days is not None:
            start, end = column.window_days
            window = FeatureWindow(name=str(column.window), start=start, end=end)
        described.append(
            Feature(
                name=column.name,
                kind=column.kind,
                statistic=column.statistic,
                dtype=column.dtype,
                domain=column.domain,
                concept_set=column.concept_set,
                concepts=tuple(Concept(cid, names.get(cid)) for cid in column.concept_ids),
                window=window,
                label=feature_label(definition, column, names),
            )
        )
    return tuple(described)


def _concept_names(engine: Engine, concept_ids: set[int]) -> dict[int, str]:
    if not concept_ids:
        return {}
    ids = ", ".join(map(str, sorted(concept_ids)))
    sql = f"SELECT concept_id, concept_name FROM stg_concept WHERE concept_id IN ({ids})"
    return {int(cid): str(name) for cid, name in engine.fetch_rows(render(sql, engine.dialect))}


_STATISTIC = {
    "presence": "{what} {when}",
    "count": "Number of {what} records {when}",
    "last": "Last value of {what} {when}",
    "trend": "Trend of {what} {when}, per year",
}

_TREATMENT = {
    "status": "On {what} at index",
    "days": "Days on {what} at index",
}


def feature_label(
    definition: CohortDefinition, column: FeatureColumn, names: dict[int, str]
) -> str:
    """A plain-language label, e.g. 'Peptic ulcer from 365 days before index to 1 day before'."""
    if column.statistic == "age":
        return "Age at index (years)"
    if column.statistic == "sex":
        return "Male sex"
    if column.kind == "time_since_entry":
        return "Time since entry (days from the entry date to the landmark)"
    what = _what(definition, column, names)
    if column.kind == "index_concept":
        return f"Index {column.domain or 'event'}: {what}"
    if column.kind == "treatment":
        allowed = f" (gaps of up to {_days(column.gap)} allowed)" if column.gap else ""
        return _TREATMENT[column.statistic].format(what=what) + allowed
    if column.kind == "since_entry":
        return _STATISTIC[column.statistic].format(
            what=what, when="from entry to the day before the landmark"
        )
    assert column.window_days is not None
    window = Window(start=column.window_days[0], end=column.window_days[1])
    return _STATISTIC[column.statistic].format(what=what, when=window.describe())


def _days(count: int | None) -> str:
    return f"{count} day{'s' if count != 1 else ''}"


def _what(definition: CohortDefinition, column: FeatureColumn, names: dict[int, str]) -> str:
    if column.kind in ("concept_set", "treatment", "since_entry") and column.concept_set:
        label = definition.concept_sets[column.concept_set].label
        if label:
            return label
    found = [names.get(cid, f"concept {cid}") for cid in column.concept_ids]
    return " or ".join(found)
