"""Clinical words for a feature and its value, from the cohort's ``features.json`` entries.

An entry (written by :func:`prognosis.cohort.feature_descriptions.describe_features`) holds the
feature's ``name``, ``kind``, ``statistic``, ``domain``, ``concepts`` and ``window``, and a
``label`` that
already names the concepts and the window ("Peptic ulcer from 365 days before index to 1 day
before index"). Here the label gets the patient's value in words: "...: yes", "...: 3 records",
"Age at index: 67 years". Strings are plain text: escaping them is the renderer's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from prognosis.artifacts import Feature

__all__ = ["clinical_label", "feature_entries", "feature_title", "value_words"]

_DOMAIN_WORDS = {
    "condition_occurrence": "condition",
    "drug_exposure": "drug",
    "procedure_occurrence": "procedure",
    "measurement": "measurement",
    "observation": "observation",
    "visit_occurrence": "visit",
    "device_exposure": "device",
}
_COUNT_LABEL = re.compile(r"^Number of (?P<what>.+?) records (?P<when>.+)$")


def feature_entries(features: Iterable[Feature]) -> dict[str, Feature]:
    """``features.json`` entries by feature name."""
    return {entry.name: entry for entry in features}


def feature_title(entry: Feature) -> str:
    """What the feature is, without a value: "Age at index", "Index drug: celecoxib"."""
    statistic = entry.statistic
    label = str(entry.label or entry.name)
    if statistic == "age":
        return "Age at index"
    if statistic == "sex":
        return "Sex"
    if entry.kind == "index_concept":
        domain = entry.domain
        word = _DOMAIN_WORDS.get(str(domain), str(domain or "event").replace("_", " "))
        return f"Index {word}: {_concepts(entry) or label}"
    if statistic == "count":
        match = _COUNT_LABEL.match(label)
        return f"{match['what']} {match['when']}" if match else label
    return label


def value_words(entry: Feature, value: float) -> str:
    """The value in words: "yes", "3 records", "67 years", "female", "7.2", "not measured"."""
    statistic = entry.statistic
    number = math.nan if value is None else float(value)
    if math.isnan(number):
        return "not measured" if statistic in ("last", "trend") else "unknown"
    if statistic == "age":
        return f"{number:.0f} years"
    if statistic == "sex":
        return "male" if number >= 0.5 else "female"
    if statistic in ("presence", "status"):
        return "yes" if number >= 0.5 else "no"
    if statistic == "count":
        count = round(number)
        return "no records" if count == 0 else f"{count} record{'s' if count != 1 else ''}"
    if statistic == "days":
        return f"{round(number)} day{'s' if round(number) != 1 else ''}"
    return f"{number:.4g}"


def clinical_label(entry: Feature, value: float) -> str:
    """A feature and its value in clinical words.

    Parameters
    ----------
    entry : Feature
        The feature's ``features.json`` entry. A feature without an entry can pass
        ``Feature(column)``.
    value : float
        The patient's value of the feature (NaN when missing).

    Examples
    --------
    >>> clinical_label(Feature("age", statistic="age", label="Age at index (years)"), 67)
    'Age at index: 67 years'
    """
    return f"{feature_title(entry)}: {value_words(entry, value)}"


def _concepts(entry: Feature) -> str:
    return " or ".join(str(c.name or f"concept {c.concept_id}") for c in entry.concepts)
