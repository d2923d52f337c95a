"""Features of one concept and window grouped into one driver, from features.json metadata."""

from __future__ import annotations

import numpy as np

from prognosis.artifacts import Concept, Feature, FeatureWindow
from prognosis.explain import feature_groups, group_label, group_sums

YEAR = FeatureWindow("prior_year", -365, -1)
EVER = FeatureWindow("all_before", None, -1)
INDEX = FeatureWindow("index", 0, 0)
ULCER = dict(kind="concept_set", domain="condition_occurrence", concept_set="peptic_ulcer")
ENTRIES = [
    Feature("age", kind="demographics", statistic="age", label="Age at index (years)"),
    Feature("ulcer_ever", statistic="presence", window=EVER, label="Peptic ulcer ever", **ULCER),
    Feature(
        "ulcer_ever_count",
        statistic="count",
        window=EVER,
        label="Number of Peptic ulcer records ever",
        **ULCER,
    ),
    Feature(
        "ulcer_year", statistic="presence", window=YEAR, label="Peptic ulcer last year", **ULCER
    ),
    # named like a count of the ulcer, but of another concept: not grouped by its name
    Feature(
        "ulcer_year_count",
        kind="domain",
        statistic="count",
        domain="condition_occurrence",
        concepts=(Concept(30753, "Esophagitis"),),
        window=YEAR,
        label="Number of Esophagitis records last year",
    ),
    Feature(
        "index_1",
        kind="index_concept",
        statistic="presence",
        domain="drug_exposure",
        concept_set="nsaids",
        concepts=(Concept(1, "celecoxib"),),
        window=INDEX,
    ),
    Feature(
        "index_2",
        kind="index_concept",
        statistic="presence",
        domain="drug_exposure",
        concept_set="nsaids",
        concepts=(Concept(2, "diclofenac"),),
        window=INDEX,
    ),
]
NAMES = [entry.name for entry in ENTRIES] + ["unlisted"]
BY_NAME = {entry.name: entry for entry in ENTRIES}


def test_presence_and_count_of_one_concept_and_window_are_one_group() -> None:
    groups = feature_groups(NAMES, BY_NAME)
    assert [[NAMES[j] for j in g.members] for g in groups] == [
        ["age"],
        ["ulcer_ever", "ulcer_ever_count"],
        ["ulcer_year"],  # another window
        ["ulcer_year_count"],  # another concept, whatever its name says
        ["index_1", "index_2"],  # the index concept's levels
        ["unlisted"],  # no features.json entry: its own group
    ]


def test_a_groups_value_is_the_sum_of_its_members() -> None:
    groups = feature_groups(NAMES, BY_NAME)
    values = np.arange(16.0).reshape(2, 8)
    sums = group_sums(values, groups)
    assert sums.tolist() == [[0, 3, 3, 4, 11, 7], [8, 19, 11, 12, 27, 15]]


def test_group_labels_name_the_concept_once_with_every_value() -> None:
    groups = feature_groups(NAMES, BY_NAME)
    assert group_label(groups[0], [67.0]) == "Age at index: 67 years"
    assert group_label(groups[1], [1.0, 3.0]) == "Peptic ulcer ever: yes, 3 records"
    assert group_label(groups[1], [0.0, 0.0]) == "Peptic ulcer ever: no, no records"
    assert group_label(groups[4], [0.0, 1.0]) == "Index drug: diclofenac"
    both = group_label(groups[4], [0.0, 0.0])
    assert both == "Index drug: celecoxib: no; Index drug: diclofenac: no"
    assert group_label(groups[5], [2.5]) == "unlisted: 2.5"
