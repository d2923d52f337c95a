"""The cohort definition in words, checked on the repository's gi_bleed_nsaid definition."""

from __future__ import annotations

from pathlib import Path

from prognosis.artifacts import Concept, DatasetManifest, Feature, RecordedDefinition
from prognosis.cohort import load_definition
from prognosis.report.describe import (
    cause_names,
    describe_definition,
    parse_recorded_definition,
)

ROOT = Path(__file__).resolve().parents[2]
FEATURES = [Feature("x", concepts=(Concept(1118084, "celecoxib"),))]


def _words() -> dict[str, str]:
    definition = load_definition(ROOT / "cohorts" / "gi_bleed_nsaid.yaml")
    return {s.topic: s.text for s in describe_definition(definition, FEATURES)}


def test_entry_names_the_concepts_and_prior_observation() -> None:
    entry = _words()["Entry (index date)"]
    assert entry.startswith("Persons enter the cohort on the first ever record of celecoxib or")
    assert "1118084 celecoxib, 1124300, with descendants" in entry
    assert "in drug exposures, with at least 365 days of prior observation." in entry


def test_exclusion_rule_outcome_and_follow_up() -> None:
    words = _words()
    assert words["Rule: no_prior_gi_bleed"].startswith(
        "Excluded: persons with any record of gi bleed (concept 192671, with descendants) in "
        "condition records any time up to the index date"
    )
    assert words["Outcome"] == (
        "The first record of gi bleed (concept 192671, with descendants) in condition records, "
        "from day 1 to day 1825 after index."
    )
    assert words["Competing events"] == "none"
    assert "the end of the time at risk (day 1825)" in words["Follow-up"]


def test_missing_or_invalid_definition_in_manifest_gives_none() -> None:
    assert parse_recorded_definition(DatasetManifest()) is None
    bad = RecordedDefinition(path=None, sha256="0" * 64, content={"name": "BAD NAME"})
    assert parse_recorded_definition(DatasetManifest(definition=bad)) is None


def test_cause_names_follow_the_definitions_outcome_and_competing_events() -> None:
    definition = load_definition(ROOT / "cohorts" / "synth_af_stroke.yaml")
    assert cause_names(definition, [1, 2, 3]) == {
        1: "stroke",  # the concept set's name: neither outcome nor set has a label
        2: "death",
        3: "competing event 2",  # a code the definition does not name
    }
    assert cause_names(None, [1, 2]) == {1: "the outcome", 2: "competing event 1"}
