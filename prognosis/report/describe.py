"""A cohort definition in words: the sentences the model report shows under "Cohort"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prognosis.artifacts import Feature
from prognosis.cohort.definition import (
    CohortDefinition,
    ConceptSet,
    ConceptSetFeature,
    DemographicsFeature,
    Domain,
    DomainFeature,
    IndexConceptFeature,
    Rule,
    parse_recorded_definition,
)

__all__ = [
    "Statement",
    "cause_names",
    "describe_definition",
    "outcome_and_entry",
    "outcome_words",
    "parse_recorded_definition",
]

DOMAIN_WORDS = {
    Domain.CONDITION: "condition records",
    Domain.DRUG: "drug exposures",
    Domain.PROCEDURE: "procedures",
    Domain.MEASUREMENT: "measurements",
    Domain.OBSERVATION: "observations",
    Domain.VISIT: "visits",
    Domain.DEATH: "death records",
}


@dataclass(frozen=True)
class Statement:
    """One part of the definition (``topic``) and what it says (``text``)."""

    topic: str
    text: str


def describe_definition(
    definition: CohortDefinition, features: Sequence[Feature]
) -> list[Statement]:
    """Sentences for the index event, each rule, the outcome, competing events, follow-up and
    predictors; concept names come from ``features.json`` where the build recorded them."""
    names = _concept_names(features)
    sets = {name: _concept_set(name, cs, names) for name, cs in definition.concept_sets.items()}
    statements = []
    if definition.description:
        statements.append(Statement("Purpose", definition.description.strip()))
    statements.append(Statement("Entry (index date)", _index(definition, sets)))
    for rule in definition.rules:
        statements.append(Statement(f"Rule: {rule.name}", _rule(rule, sets)))
    statements.append(Statement("Outcome", _outcome(definition, sets)))
    competing = [
        _event_name(e.label or e.name, e.domain, e.concept_set, sets)
        for e in definition.competing_events
    ]
    statements.append(
        Statement(
            "Competing events",
            ("; ".join(competing) + " (coded 2, 3, … in this order)") if competing else "none",
        )
    )
    statements.append(Statement("Follow-up", _follow_up(definition)))
    statements.append(Statement("Predictors", _predictors(definition, sets)))
    return statements


def outcome_words(definition: CohortDefinition | None) -> str:
    """The outcome in words: its label, its concept set's label or name ("upper GI bleed"),
    or "the outcome" without a definition."""
    if definition is None:
        return "the outcome"
    out = definition.outcome
    named = definition.concept_sets.get(out.concept_set or "")
    return str(
        out.label
        or (named.label if named and named.label else None)
        or ((out.concept_set or "death").replace("_", " "))
    )


def _concept_names(features: Sequence[Feature]) -> dict[int, str]:
    names: dict[int, str] = {}
    for feature in features:
        for concept in feature.concepts:
            if concept.name:
                names[int(concept.concept_id)] = str(concept.name)
    return names


def _concept_set(name: str, cs: ConceptSet, names: dict[int, str]) -> str:
    ids = ", ".join(f"{i} {names[i]}" if i in names else str(i) for i in cs.include)
    text = f"{cs.label or name.replace('_', ' ')} (concept{'s' if len(cs.include) > 1 else ''} "
    text += ids + (", with descendants" if cs.descendants else "")
    if cs.exclude:
        excluded = ", ".join(str(i) for i in cs.exclude)
        text += f"; excluding {excluded}" + (" and descendants" if cs.exclude_descendants else "")
    return text + ")"


def _index(definition: CohortDefinition, sets: dict[str, str]) -> str:
    index = definition.index
    which = "first ever" if index.occurrence == "first" else "every"
    parts = [f"the {which} record of {sets[index.concept_set]} in {DOMAIN_WORDS[index.domain]}"]
    if index.min_prior_observation:
        parts.append(f"with at least {index.min_prior_observation} days of prior observation")
    if index.age.min is not None or index.age.max is not None:
        parts.append(f"aged {_range(index.age.min, index.age.max, 'years')} at index")
    if index.dates.start or index.dates.end:
        parts.append(f"index dates {_range(index.dates.start, index.dates.end, '')}".rstrip())
    return "Persons enter the cohort on " + ", ".join(parts) + "."


def _range(low: Any, high: Any, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low} to {high} {unit}".strip()
    if low is not None:
        return f"{low} {unit} or more".strip() if unit else f"from {low}"
    return f"up to {high} {unit}".strip()


def _rule(rule: Rule, sets: dict[str, str]) -> str:
    where = f"{sets[rule.concept_set]} in {DOMAIN_WORDS[rule.domain]} {rule.window.describe()}"
    if rule.max_count == 0:
        text = f"Excluded: persons with any record of {where}"
    elif rule.max_count is None:
        text = f"Required: at least {rule.min_count} record(s) of {where}"
    elif rule.min_count in (None, 0):
        text = f"Required: at most {rule.max_count} record(s) of {where}"
    else:
        text = f"Required: {rule.min_count} to {rule.max_count} records of {where}"
    return text + (f" ({rule.description})." if rule.description else ".")


def _event_name(label: str, domain: Domain, concept_set: str | None, sets: dict[str, str]) -> str:
    if domain is Domain.DEATH:
        return f"{label}: death from any cause"
    return f"{label}: {sets[concept_set]} in {DOMAIN_WORDS[domain]}" if concept_set else label


def _outcome(definition: CohortDefinition, sets: dict[str, str]) -> str:
    outcome = definition.outcome
    tar = outcome.time_at_risk
    what = (
        "death from any cause"
        if outcome.domain is Domain.DEATH
        else f"the first record of {sets[outcome.concept_set or '']} in "
        f"{DOMAIN_WORDS[outcome.domain]}"
    )
    text = f"{what}, from day {tar.start} to day {tar.end} after index"
    if outcome.label:
        text = f"{outcome.label}: {text}"
    if outcome.exclude_prior is not None:
        lookback = outcome.exclude_prior.lookback
        since = f"in the {lookback} days before index" if lookback else "at any time before index"
        text += f"; persons with the outcome {since} are excluded"
    return text[0].upper() + text[1:] + "."


def _follow_up(definition: CohortDefinition) -> str:
    ends = [
        "the end of the observation period",
        "death",
        f"the end of the time at risk (day {definition.outcome.time_at_risk.end})",
    ]
    if definition.censoring.data_cutoff:
        ends.append(f"the data cut-off ({definition.censoring.data_cutoff.isoformat()})")
    return (
        "Follow-up ends at the earliest of " + ", ".join(ends[:-1]) + f" and {ends[-1]}; "
        "persons without the outcome or a competing event by then are censored."
    )


def _predictors(definition: CohortDefinition, sets: dict[str, str]) -> str:
    features = definition.features
    windows = {name: w.describe() for name, w in features.windows.items()}
    items = []
    for item in features.items:
        if isinstance(item, DemographicsFeature):
            parts = [p for p, on in (("age", item.age), ("sex", item.sex)) if on]
            items.append(" and ".join(parts) + " at index")
        elif isinstance(item, IndexConceptFeature):
            items.append("which concept of the index concept set started the index event")
        elif isinstance(item, ConceptSetFeature):
            stats = "/".join(s.value for s in item.statistics)
            items.append(
                f"{sets[item.concept_set]} in {DOMAIN_WORDS[item.domain]} ({stats}) "
                + ", ".join(windows[w] for w in item.windows)
            )
        elif isinstance(item, DomainFeature):
            stats = "/".join(s.value for s in item.statistics)
            items.append(
                f"every concept of {DOMAIN_WORDS[item.domain]} recorded for at least "
                f"{100 * item.min_prevalence:g}% of the cohort ({stats}) "
                + ", ".join(windows[w] for w in item.windows)
            )
    day = "on or before the index date" if features.include_index_day else "before the index date"
    if not items:
        return "No predictors are defined."
    return f"Measured only from records {day}: " + "; ".join(items) + "."


def cause_names(definition: CohortDefinition | None, codes: Sequence[int]) -> dict[int, str]:
    """What each event code stands for, in words: 1 the outcome, 2, 3, ... the competing events
    in definition order (their label, else their name), ``competing event k`` when the
    definition is not recorded or names fewer."""
    names: dict[int, str] = {}
    competing = list(definition.competing_events) if definition is not None else []
    for code in codes:
        if code == 1:
            names[code] = outcome_words(definition)
        elif 0 <= code - 2 < len(competing):
            event = competing[code - 2]
            names[code] = str(event.label or event.name.replace("_", " "))
        else:
            names[code] = f"competing event {code - 1}"
    return names


def outcome_and_entry(definition: CohortDefinition | None) -> tuple[str, str]:
    """What the model predicts, in words: the outcome, and the entry its time runs from.

    ``("test bleed", "the first record of test drug A or B in drug exposures")``; generic
    words when the definition is not recorded.
    """
    if definition is None:
        return "the outcome", "entry into the cohort (the index date)"
    index = definition.index
    start = definition.concept_sets[index.concept_set]
    entry = (
        f"the {'first ' if index.occurrence == 'first' else ''}record of "
        f"{start.label or index.concept_set.replace('_', ' ')} in "
        f"{DOMAIN_WORDS[index.domain]}"
    )
    return outcome_words(definition), entry
