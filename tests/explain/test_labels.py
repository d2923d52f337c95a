"""Features and values in clinical words, from hand-written features.json entries."""

from __future__ import annotations

import dataclasses
import math

import pytest

from prognosis.artifacts import Concept, Feature, from_json
from prognosis.explain import clinical_label, feature_entries, feature_title

PRIOR_YEAR = {"name": "prior_year", "start": -365, "end": -1}
FEATURES = [
    {
        "name": "age",
        "kind": "demographics",
        "statistic": "age",
        "dtype": "int32",
        "domain": None,
        "concept_set": None,
        "concepts": [],
        "window": None,
        "label": "Age at index (years)",
    },
    {
        "name": "sex_male",
        "kind": "demographics",
        "statistic": "sex",
        "dtype": "int32",
        "domain": None,
        "concept_set": None,
        "concepts": [],
        "window": None,
        "label": "Male sex",
    },
    {
        "name": "index_1118084",
        "kind": "index_concept",
        "statistic": "presence",
        "dtype": "int32",
        "domain": "drug_exposure",
        "concept_set": "nsaids",
        "concepts": [{"concept_id": 1118084, "name": "celecoxib"}],
        "window": {"name": "index", "start": 0, "end": 0},
        "label": "Index drug_exposure: celecoxib",
    },
    {
        "name": "peptic_ulcer_prior_year",
        "kind": "concept_set",
        "statistic": "presence",
        "dtype": "int32",
        "domain": "condition_occurrence",
        "concept_set": "peptic_ulcer",
        "concepts": [{"concept_id": 4027663, "name": "Peptic ulcer"}],
        "window": PRIOR_YEAR,
        "label": "Peptic ulcer from 365 days before index to 1 day before index",
    },
    {
        "name": "peptic_ulcer_prior_year_count",
        "kind": "concept_set",
        "statistic": "count",
        "dtype": "int32",
        "domain": "condition_occurrence",
        "concept_set": "peptic_ulcer",
        "concepts": [{"concept_id": 4027663, "name": "Peptic ulcer"}],
        "window": PRIOR_YEAR,
        "label": "Number of Peptic ulcer records from 365 days before index to 1 day before index",
    },
    {
        "name": "measurement_3004410_prior_year_last",
        "kind": "domain",
        "statistic": "last",
        "dtype": "float64",
        "domain": "measurement",
        "concept_set": None,
        "concepts": [{"concept_id": 3004410, "name": "HbA1c"}],
        "window": PRIOR_YEAR,
        "label": "Last value of HbA1c from 365 days before index to 1 day before index",
    },
    {
        "name": "egfr_prior_year_trend",
        "kind": "concept_set",
        "statistic": "trend",
        "dtype": "float64",
        "domain": "measurement",
        "concept_set": "egfr",
        "concepts": [{"concept_id": 3049187, "name": "eGFR"}],
        "window": PRIOR_YEAR,
        "label": "Trend of eGFR from 365 days before index to 1 day before index, per year",
    },
    {
        "name": "on_anticoagulant",
        "kind": "treatment",
        "statistic": "status",
        "dtype": "int32",
        "domain": "drug_exposure",
        "concept_set": "anticoagulant",
        "concepts": [{"concept_id": 1310149, "name": "Warfarin"}],
        "window": None,
        "label": "On an anticoagulant at index",
    },
    {
        "name": "on_anticoagulant_days",
        "kind": "treatment",
        "statistic": "days",
        "dtype": "int32",
        "domain": "drug_exposure",
        "concept_set": "anticoagulant",
        "concepts": [{"concept_id": 1310149, "name": "Warfarin"}],
        "window": None,
        "label": "Days on an anticoagulant at index",
    },
]
ENTRIES = feature_entries(from_json(tuple[Feature, ...], FEATURES))
WINDOW = "from 365 days before index to 1 day before index"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("age", 67.0, "Age at index: 67 years"),
        ("sex_male", 1.0, "Sex: male"),
        ("sex_male", 0.0, "Sex: female"),
        ("sex_male", math.nan, "Sex: unknown"),
        ("index_1118084", 1.0, "Index drug: celecoxib: yes"),
        ("index_1118084", 0.0, "Index drug: celecoxib: no"),
        ("peptic_ulcer_prior_year", 1.0, f"Peptic ulcer {WINDOW}: yes"),
        ("peptic_ulcer_prior_year", 0.0, f"Peptic ulcer {WINDOW}: no"),
        ("peptic_ulcer_prior_year_count", 3.0, f"Peptic ulcer {WINDOW}: 3 records"),
        ("peptic_ulcer_prior_year_count", 1.0, f"Peptic ulcer {WINDOW}: 1 record"),
        ("peptic_ulcer_prior_year_count", 0.0, f"Peptic ulcer {WINDOW}: no records"),
        ("measurement_3004410_prior_year_last", 7.2, f"Last value of HbA1c {WINDOW}: 7.2"),
        (
            "measurement_3004410_prior_year_last",
            math.nan,
            f"Last value of HbA1c {WINDOW}: not measured",
        ),
        ("egfr_prior_year_trend", -14.61, f"Trend of eGFR {WINDOW}, per year: -14.61"),
        ("egfr_prior_year_trend", math.nan, f"Trend of eGFR {WINDOW}, per year: not measured"),
        ("on_anticoagulant", 1.0, "On an anticoagulant at index: yes"),
        ("on_anticoagulant", 0.0, "On an anticoagulant at index: no"),
        (
            "on_anticoagulant_days",
            120.0,
            "Days on an anticoagulant at index: 120 days",
        ),
        (
            "on_anticoagulant_days",
            1.0,
            "Days on an anticoagulant at index: 1 day",
        ),
    ],
)
def test_every_statistic_reads_as_words(name, value, expected):
    assert clinical_label(ENTRIES[name], value) == expected


def test_feature_without_an_entry_is_named_as_is():
    assert clinical_label(Feature("bmi"), 27.25) == "bmi: 27.25"


def test_markup_in_a_concept_name_is_passed_through_as_plain_text():
    entry = dataclasses.replace(
        ENTRIES["peptic_ulcer_prior_year"],
        concepts=(Concept(1, "<script>alert(1)</script>"),),
        label=f"<script>alert(1)</script> {WINDOW}",
    )
    label = clinical_label(entry, 1.0)
    assert label == f"<script>alert(1)</script> {WINDOW}: yes"  # escaping is the renderer's job
    index = dataclasses.replace(ENTRIES["index_1118084"], concepts=entry.concepts)
    assert feature_title(index) == "Index drug: <script>alert(1)</script>"
