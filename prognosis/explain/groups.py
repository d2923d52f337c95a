"""Dataset features that describe one thing, grouped into one driver.

A cohort's features come in families (``features.json``): the presence of a condition and its
number of records in one window, or one presence column per level of the index concept. Shown
apart, they read as two drivers of the same condition with their own signs; grouped, the
driver is the condition in that window, and its contribution the sum of its members' (SHAP
values are additive, so the sum is the group's exact contribution).

The grouping reads the entries' metadata, never the column names: features of one ``kind``,
``domain``, concept set (or, without one, the same concepts) and window are one group; the
index concept's columns (``kind == "index_concept"``) are one group per domain and concept
set. A feature without concepts and a window (age, sex) or without an entry is a group of its
own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from prognosis.artifacts import Feature
from prognosis.explain.labels import clinical_label, feature_title, value_words

__all__ = ["FeatureGroup", "feature_groups", "group_label", "group_sums"]


@dataclass(frozen=True)
class FeatureGroup:
    """Features that make one driver.

    Attributes
    ----------
    members : tuple of int
        Positions of the member features (columns of the explanation), in dataset order.
    entries : tuple of Feature
        Their ``features.json`` entries (``Feature(name)`` for a column without one).
    """

    members: tuple[int, ...]
    entries: tuple[Feature, ...]

    @property
    def name(self) -> str:
        """The first member's column name."""
        return self.entries[0].name


def _key(entry: Feature) -> tuple[object, ...]:
    window = entry.window.name if entry.window is not None else None
    if entry.kind == "index_concept":
        return ("index", entry.domain, entry.concept_set, window)
    concepts = entry.concept_set or tuple(sorted(c.concept_id for c in entry.concepts))
    if window is None or not concepts:
        return ("feature", entry.name)
    return (entry.kind, entry.domain, concepts, window)


def feature_groups(names: Sequence[str], entries: Mapping[str, Feature]) -> list[FeatureGroup]:
    """The features ``names`` grouped by what they describe (see the module notes).

    Parameters
    ----------
    names : sequence of str
        The explanation's feature columns.
    entries : mapping of str to Feature
        ``features.json`` entries by name (a column without one is its own group).

    Returns
    -------
    list of FeatureGroup
        In the order of each group's first member; every column in exactly one group.
    """
    grouped: dict[tuple[object, ...], list[int]] = {}
    for j, name in enumerate(names):
        grouped.setdefault(_key(entries.get(name, Feature(name))), []).append(j)
    return [
        FeatureGroup(tuple(js), tuple(entries.get(names[j], Feature(names[j])) for j in js))
        for js in grouped.values()
    ]


def group_sums(values: np.ndarray, groups: Sequence[FeatureGroup]) -> np.ndarray:
    """Sum ``values`` (n, p) over each group's members: an array (n, len(groups))."""
    return np.column_stack([values[:, list(g.members)].sum(axis=1) for g in groups])


def group_label(group: FeatureGroup, values: Sequence[float]) -> str:
    """The group and the patient's values in clinical words.

    One feature: :func:`~prognosis.explain.labels.clinical_label`. Presence and count of one
    condition: "Peptic ulcer any time up to 1 day before index: yes, 3 records". Levels of the
    index concept: the level the patient has ("Index drug: celecoxib"), or all of them with
    "no" when none is set.
    """
    if len(group.entries) == 1:
        return clinical_label(group.entries[0], values[0])
    if group.entries[0].kind == "index_concept":
        chosen = [e for e, v in zip(group.entries, values, strict=True) if v >= 0.5]
        if len(chosen) == 1:
            return feature_title(chosen[0])
        return "; ".join(clinical_label(e, v) for e, v in zip(group.entries, values, strict=True))
    order = sorted(range(len(group.entries)), key=lambda k: group.entries[k].statistic == "count")
    title = feature_title(group.entries[order[0]])
    words = ", ".join(_grouped_words(group.entries[k], values[k]) for k in order)
    return f"{title}: {words}"


def _grouped_words(entry: Feature, value: float) -> str:
    """A value beside the group's others: a trend says it is one ("trend -14.6 per year")."""
    words = value_words(entry, value)
    if entry.statistic != "trend":
        return words
    return "no trend" if words == "not measured" else f"trend {float(value):+.4g} per year"
