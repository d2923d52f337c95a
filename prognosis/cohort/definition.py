"""The cohort definition schema: YAML in, a frozen, validated :class:`CohortDefinition` out.

Validation happens here, once. Everything downstream (compiler, engines) trusts the object.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from prognosis.cohort.yaml_loader import read_yaml, spelled
from prognosis.exceptions import DefinitionError, PrognosisError

if TYPE_CHECKING:
    from prognosis.artifacts import DatasetManifest

__all__ = [
    "VALUED_STATISTICS",
    "CohortDefinition",
    "ConceptSet",
    "Domain",
    "Landmarks",
    "OutcomeSpec",
    "TreatmentFeature",
    "TreatmentStatistic",
    "Window",
    "definition_hash",
    "load_definition",
    "parse_definition",
    "parse_recorded_definition",
]

_NAME = r"^[a-z][a-z0-9_]{0,62}$"
NameStr = Annotated[str, Field(pattern=_NAME)]


def _iso_date(value: Any) -> Any:
    """A date written ``YYYY-MM-DD`` (YAML 1.2 reads it as text), or a ``date`` object."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"expected a date written YYYY-MM-DD, got {_written(value)}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a date: {error} (write YYYY-MM-DD)") from None


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


class Domain(StrEnum):
    """OMOP CDM event tables a definition can draw records from."""

    CONDITION = "condition_occurrence"
    DRUG = "drug_exposure"
    PROCEDURE = "procedure_occurrence"
    MEASUREMENT = "measurement"
    OBSERVATION = "observation"
    VISIT = "visit_occurrence"
    DEATH = "death"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """Days relative to the index date, both ends inclusive; ``None`` leaves an end open."""

    start: StrictInt | None = None
    end: StrictInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError(
                    f"a window is [start, end] (two numbers or null), got {_written(value)}"
                )
            return {"start": value[0], "end": value[1]}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"window start {self.start} is after end {self.end}")
        return self

    def describe(self) -> str:
        """Words for the window, e.g. 'in the 365 to 1 days before index'."""
        start, end = self.start, self.end
        if start is None and end is None:
            return "at any time"
        if start is None:
            return f"any time up to {_day(end)}"
        if end is None:
            return f"from {_day(start)} onwards"
        return f"from {_day(start)} to {_day(end)}"


def _day(offset: int | None) -> str:
    if offset == 0:
        return "the index date"
    assert offset is not None
    side = "before" if offset < 0 else "after"
    return f"{abs(offset)} day{'s' if abs(offset) != 1 else ''} {side} index"


class ConceptSet(_Model):
    """OMOP concept ids, optionally with all their descendants, minus some."""

    include: list[StrictInt] = Field(min_length=1)
    descendants: StrictBool = False
    exclude: list[StrictInt] = Field(default_factory=list)
    exclude_descendants: StrictBool = False
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"include": value} if isinstance(value, list) else value


class Occurrence(StrEnum):
    FIRST = "first"
    ALL = "all"


class AgeRange(_Model):
    min: StrictInt | None = Field(default=None, ge=0, le=130)
    max: StrictInt | None = Field(default=None, ge=0, le=130)

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"age min {self.min} is above max {self.max}")
        return self


class DateRange(_Model):
    start: IsoDate | None = None
    end: IsoDate | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"date range start {self.start} is after end {self.end}")
        return self


class IndexEvent(_Model):
    """The event that puts a person into the cohort, and the conditions on it."""

    concept_set: NameStr
    domain: Domain
    occurrence: Occurrence = Occurrence.FIRST
    min_prior_observation: StrictInt = Field(default=0, ge=0)
    age: AgeRange = AgeRange()
    dates: DateRange = DateRange()

    @field_validator("domain")
    @classmethod
    def _not_death(cls, value: Domain) -> Domain:
        if value is Domain.DEATH:
            raise ValueError("death cannot be an index event")
        return value


class Rule(_Model):
    """A named inclusion (min_count) or exclusion (max_count: 0) criterion."""

    name: NameStr
    concept_set: NameStr
    domain: Domain
    window: Window
    min_count: StrictInt | None = Field(default=None, ge=0)
    max_count: StrictInt | None = Field(default=None, ge=0)
    description: str | None = None

    @model_validator(mode="after")
    def _counts(self) -> Rule:
        if self.min_count is None and self.max_count is None:
            raise ValueError(f"rule '{self.name}' needs min_count and/or max_count")
        if (
            self.min_count is not None
            and self.max_count is not None
            and self.min_count > self.max_count
        ):
            raise ValueError(
                f"rule '{self.name}': min_count {self.min_count} is above max_count "
                f"{self.max_count}"
            )
        return self


class TimeAtRisk(_Model):
    start: StrictInt = Field(default=1, ge=1)
    end: StrictInt = Field(ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        return Window._from_pair(value)  # type: ignore[operator]

    @model_validator(mode="after")
    def _ordered(self) -> TimeAtRisk:
        if self.start > self.end:
            raise ValueError(f"time_at_risk start {self.start} is after end {self.end}")
        return self


class PriorOutcomeExclusion(_Model):
    """Drop persons with an outcome record from ``lookback`` days before index (``None``: all
    time) up to the day before the time at risk starts."""

    lookback: StrictInt | None = Field(default=None, ge=1)


class Outcome(_Model):
    """The outcome: first record of a concept set (or death) inside the time-at-risk window."""

    concept_set: NameStr | None = None
    domain: Domain
    time_at_risk: TimeAtRisk
    exclude_prior: PriorOutcomeExclusion | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _concepts(self) -> Outcome:
        _check_event_concepts(self.domain, self.concept_set, "outcome")
        return self


class NamedOutcome(_Model):
    """One of several outcomes (complications) of a definition's ``outcomes:`` list: the first
    record of a concept set (or death) inside the shared time at risk, with the events that
    compete with it (names of other outcomes or of ``competing_events`` entries)."""

    name: NameStr
    concept_set: NameStr | None = None
    domain: Domain
    label: str | None = None
    competing: list[NameStr] = Field(default_factory=list)
    exclude_prior: PriorOutcomeExclusion | None = None

    @model_validator(mode="after")
    def _concepts(self) -> NamedOutcome:
        _check_event_concepts(self.domain, self.concept_set, f"outcome '{self.name}'")
        if self.name in self.competing:
            raise ValueError(f"outcome '{self.name}' cannot compete with itself")
        _check_unique(self.competing, f"outcome '{self.name}': competing event")
        return self


class CompetingEvent(_Model):
    """An event that makes the outcome impossible (or changes its meaning), e.g. death."""

    name: NameStr
    domain: Domain
    concept_set: NameStr | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _concepts(self) -> CompetingEvent:
        _check_event_concepts(self.domain, self.concept_set, f"competing event '{self.name}'")
        return self


def _check_event_concepts(domain: Domain, concept_set: str | None, what: str) -> None:
    if domain is not Domain.DEATH and concept_set is None:
        raise ValueError(f"{what} in {domain.value} needs a concept_set")


class Censoring(_Model):
    """Follow-up ends at the earliest of observation end, death, time-at-risk end and cut-off."""

    data_cutoff: IsoDate | None = None


class Landmarks(_Model):
    """Landmarks every ``every`` days after entry, from day 0 up to ``until`` (inclusive)."""

    every: StrictInt = Field(gt=0)
    until: StrictInt = Field(ge=0)

    def days(self) -> tuple[int, ...]:
        """The landmarks, in days after entry: 0, every, 2 * every, ... up to ``until``."""
        return tuple(range(0, self.until + 1, self.every))


def _landmark_list(value: Any) -> Any:
    """A list of landmarks: whole days after entry, from 0 up, each once, in order."""
    if not isinstance(value, list):
        return value
    if not value:
        raise ValueError("the list is empty; give days after entry, e.g. [0, 180, 365]")
    for day in value:
        if isinstance(day, int) and not isinstance(day, bool) and day < 0:
            raise ValueError(f"day {day} is negative; landmarks are days after entry")
    numbers = [day for day in value if isinstance(day, int) and not isinstance(day, bool)]
    for earlier, later in itertools.pairwise(numbers):
        if later == earlier:
            raise ValueError(f"day {later} is listed twice")
        if later < earlier:
            raise ValueError(
                f"day {later} comes after day {earlier}; list the days in "
                f"increasing order, e.g. {sorted(set(numbers))}"
            )
    return value


LandmarkList = Annotated[list[StrictInt], BeforeValidator(_landmark_list)]


def _landmark_form(value: Any) -> str:
    """Which form of ``landmarks:`` was written: a mapping (every/until) or a list of days."""
    return "form-every" if isinstance(value, dict | Landmarks) else "form-list"


LandmarkSpec = Annotated[
    Annotated[Landmarks, Tag("form-every")] | Annotated[LandmarkList, Tag("form-list")],
    Discriminator(_landmark_form),
]


class Statistic(StrEnum):
    PRESENCE = "presence"
    COUNT = "count"
    LAST = "last"
    TREND = "trend"


#: The statistics that read ``value_as_number`` (measurement and observation only).
VALUED_STATISTICS = (Statistic.LAST, Statistic.TREND)


class TreatmentStatistic(StrEnum):
    """What a ``treatment`` feature says about the exposure covering the index date."""

    STATUS = "status"
    DAYS = "days"


class _Feature(_Model):
    windows: list[NameStr] = Field(min_length=1)


class DemographicsFeature(_Model):
    kind: Literal["demographics"]
    age: StrictBool = True
    sex: StrictBool = True


class IndexConceptFeature(_Model):
    """One 0/1 column per concept listed in the index concept set: which drug, which diagnosis."""

    kind: Literal["index_concept"]


class ConceptSetFeature(_Feature):
    kind: Literal["concept_set"]
    name: NameStr
    concept_set: NameStr
    domain: Domain
    statistics: list[Statistic] = Field(default=[Statistic.PRESENCE], min_length=1)

    @model_validator(mode="after")
    def _stats(self) -> ConceptSetFeature:
        _check_statistics(self.domain, self.statistics, f"feature '{self.name}'")
        return self


class DomainFeature(_Feature):
    """Every concept of a domain recorded in the window for at least ``min_prevalence`` of the
    cohort's index events (concept 0, "no matching concept", is never a feature)."""

    kind: Literal["domain"]
    domain: Domain
    min_prevalence: StrictFloat = Field(default=0.01, gt=0, le=1)
    statistics: list[Statistic] = Field(default=[Statistic.PRESENCE], min_length=1)

    @model_validator(mode="after")
    def _stats(self) -> DomainFeature:
        if self.domain is Domain.DEATH:
            raise ValueError("death is not a feature domain")
        _check_statistics(self.domain, self.statistics, f"domain feature '{self.domain.value}'")
        return self


def _check_statistics(domain: Domain, statistics: list[Statistic], what: str) -> None:
    if len(set(statistics)) != len(statistics):
        raise ValueError(f"{what} lists a statistic twice")
    valued = domain in (Domain.MEASUREMENT, Domain.OBSERVATION)
    for statistic in VALUED_STATISTICS:
        if statistic in statistics and not valued:
            raise ValueError(
                f"{what}: '{statistic.value}' needs a domain with values (measurement, "
                f"observation), not {domain.value}"
            )


class TreatmentFeature(_Model):
    """Whether a drug exposure of the concept set covers the index date (``status``), and the
    days since the start of that continuous exposure (``days``).

    Exposures of the set started on or before the last feature day (day -1, or the index day
    with ``include_index_day``) are joined into continuous exposures when at most ``gap`` days
    without the drug lie between them; the person is on the treatment when the latest one
    starts on or before the index date and ends no more than ``gap`` days before it.
    """

    kind: Literal["treatment"]
    name: NameStr
    concept_set: NameStr
    gap: StrictInt = Field(default=0, ge=0)
    statistics: list[TreatmentStatistic] = Field(default=[TreatmentStatistic.STATUS], min_length=1)

    @property
    def domain(self) -> Domain:
        """The table read: ``drug_exposure``."""
        return Domain.DRUG

    @model_validator(mode="after")
    def _stats(self) -> TreatmentFeature:
        if len(set(self.statistics)) != len(self.statistics):
            raise ValueError(f"feature '{self.name}' lists a statistic twice")
        return self


class TimeSinceEntryFeature(_Model):
    """The column ``time_since_entry``: the landmark, in days after entry (needs landmarks)."""

    kind: Literal["time_since_entry"]


class SinceEntryFeature(_Model):
    """Records of a concept set from the entry date to the day before the landmark date
    (days ``[entry, landmark - 1]``; none at landmark 0): presence (column ``name``) and/or
    count (``name_count``). Needs landmarks."""

    kind: Literal["since_entry"]
    name: NameStr
    concept_set: NameStr
    domain: Domain
    statistics: list[Statistic] = Field(default=[Statistic.PRESENCE], min_length=1)

    @model_validator(mode="after")
    def _stats(self) -> SinceEntryFeature:
        if self.domain is Domain.DEATH:
            raise ValueError(f"feature '{self.name}': death is not a feature domain")
        if Statistic.LAST in self.statistics:
            raise ValueError(
                f"feature '{self.name}': a since_entry feature counts records "
                "(presence, count), it has no 'last'"
            )
        _check_statistics(self.domain, self.statistics, f"feature '{self.name}'")
        return self


#: Feature kinds that read the landmark (``time_since_entry``, ``since_entry``).
LANDMARK_FEATURES = (TimeSinceEntryFeature, SinceEntryFeature)

Feature = Annotated[
    DemographicsFeature
    | IndexConceptFeature
    | ConceptSetFeature
    | DomainFeature
    | TreatmentFeature
    | TimeSinceEntryFeature
    | SinceEntryFeature,
    Field(discriminator="kind"),
]


class Features(_Model):
    include_index_day: StrictBool = False
    windows: dict[NameStr, Window] = Field(default_factory=dict)
    items: list[Feature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _windows_before_index(self) -> Features:
        latest = 0 if self.include_index_day else -1
        for name, window in self.windows.items():
            if window.end is None or window.end > latest:
                hint = (
                    "" if self.include_index_day else " (set include_index_day: true to use day 0)"
                )
                ends = "has no end" if window.end is None else f"ends at day {window.end}"
                raise ValueError(
                    f"feature window '{name}' {ends}; features may only use data "
                    f"up to day {latest} relative to index{hint}"
                )
        for item in self.items:
            for window_name in getattr(item, "windows", []):
                if window_name not in self.windows:
                    what = getattr(item, "name", None) or getattr(item, "domain", item.kind)
                    raise ValueError(
                        f"feature '{what}' uses window '{window_name}', which is not defined "
                        f"under features.windows (defined: {sorted(self.windows)})"
                    )
        return self


class CohortDefinition(_Model):
    """A whole cohort definition, as written in ``cohorts/NAME.yaml``."""

    name: NameStr
    description: str = ""
    concept_sets: dict[NameStr, ConceptSet] = Field(min_length=1)
    index: IndexEvent
    rules: list[Rule] = Field(default_factory=list)
    outcome: Outcome | None = None
    time_at_risk: TimeAtRisk | None = None
    outcomes: list[NamedOutcome] = Field(default_factory=list)
    competing_events: list[CompetingEvent] = Field(default_factory=list)
    censoring: Censoring = Censoring()
    features: Features = Features()
    landmarks: LandmarkSpec | None = None

    @model_validator(mode="after")
    def _one_outcome_form(self) -> CohortDefinition:
        if self.outcomes:
            if self.outcome is not None:
                raise ValueError(
                    "give either outcome: (one outcome) or outcomes: (several), not both"
                )
            if self.time_at_risk is None:
                raise ValueError(
                    "outcomes: needs time_at_risk: [start, end] beside it, shared by every outcome"
                )
            self._check_outcome_names()
        elif self.outcome is None:
            raise ValueError("an outcome is required: outcome: (one) or outcomes: (several)")
        elif self.time_at_risk is not None:
            raise ValueError(
                "time_at_risk: at the top level goes with outcomes:; with one outcome write it "
                "under outcome:"
            )
        return self

    def _check_outcome_names(self) -> None:
        outcomes = [outcome.name for outcome in self.outcomes]
        _check_unique(outcomes, "outcome")
        both = sorted(set(outcomes) & {event.name for event in self.competing_events})
        if both:
            raise ValueError(f"'{both[0]}' names both an outcome and a competing event")
        known = set(outcomes) | {event.name for event in self.competing_events}
        for outcome in self.outcomes:
            for name in outcome.competing:
                if name not in known:
                    raise ValueError(
                        f"outcome '{outcome.name}' lists competing event '{name}', which is "
                        f"neither an outcome nor under competing_events (known: {sorted(known)})"
                    )

    @model_validator(mode="after")
    def _references(self) -> CohortDefinition:
        for where, name in self._concept_set_references():
            if name not in self.concept_sets:
                raise ValueError(
                    f"{where} names concept set '{name}', which is not defined under "
                    f"concept_sets (defined: {sorted(self.concept_sets)})"
                )
        _check_unique([rule.name for rule in self.rules], "rule")
        _check_unique([event.name for event in self.competing_events], "competing event")
        named = [f.name for f in self.features.items if isinstance(f, _NAMED_FEATURES)]
        _check_unique(named, "feature")
        return self

    def _concept_set_references(self) -> list[tuple[str, str]]:
        refs = [("index", self.index.concept_set)]
        refs += [(f"rule '{rule.name}'", rule.concept_set) for rule in self.rules]
        if self.outcome is not None and self.outcome.concept_set:
            refs.append(("outcome", self.outcome.concept_set))
        refs += [(f"outcome '{o.name}'", o.concept_set) for o in self.outcomes if o.concept_set]
        refs += [
            (f"competing event '{e.name}'", e.concept_set)
            for e in self.competing_events
            if e.concept_set
        ]
        refs += [
            (f"feature '{f.name}'", f.concept_set)
            for f in self.features.items
            if isinstance(f, _NAMED_FEATURES)
        ]
        return refs

    @model_validator(mode="after")
    def _landmarks(self) -> CohortDefinition:
        landmark_items = [f for f in self.features.items if isinstance(f, LANDMARK_FEATURES)]
        if self.landmarks is None:
            if landmark_items:
                raise ValueError(
                    f"feature kind '{landmark_items[0].kind}' needs landmarks: (e.g. landmarks: "
                    "{every: 90, until: 730}); without landmarks every row is the entry"
                )
            return self
        _check_landmarks(self, self.landmark_days(), landmark_items)
        return self

    def landmark_days(self) -> tuple[int, ...]:
        """The landmarks in days after entry; empty when the definition has none."""
        if self.landmarks is None:
            return ()
        if isinstance(self.landmarks, Landmarks):
            return self.landmarks.days()
        return tuple(self.landmarks)

    def used_domains(self) -> set[Domain]:
        """Every CDM event table this definition reads."""
        domains = {self.index.domain, Domain.DEATH}
        domains |= {spec.outcome.domain for spec in self.outcome_specs()}
        domains |= {rule.domain for rule in self.rules}
        domains |= {event.domain for event in self.competing_events}
        domains |= {f.domain for f in self.features.items if hasattr(f, "domain")}
        return domains

    def uses_descendants(self) -> bool:
        return any(cs.descendants or cs.exclude_descendants for cs in self.concept_sets.values())

    @property
    def several_outcomes(self) -> bool:
        """Whether the definition lists ``outcomes:`` (one time/event pair per outcome)."""
        return bool(self.outcomes)

    @property
    def risk_window(self) -> TimeAtRisk:
        """The time at risk: the outcome's, or the one shared by all ``outcomes:``."""
        window = self.outcome.time_at_risk if self.outcome is not None else self.time_at_risk
        assert window is not None  # the validator requires one
        return window

    def outcome_specs(self) -> list[OutcomeSpec]:
        """Every outcome with the events competing with it, in definition order; a definition
        with one ``outcome:`` has one, named ``outcome``, with all ``competing_events``."""
        if self.outcome is not None:
            return [OutcomeSpec(SINGLE_OUTCOME, self.outcome, tuple(self.competing_events))]
        events = {event.name: event for event in self.competing_events}
        for outcome in self.outcomes:
            events[outcome.name] = CompetingEvent(
                name=outcome.name,
                domain=outcome.domain,
                concept_set=outcome.concept_set,
                label=outcome.label,
            )
        return [
            OutcomeSpec(
                outcome.name,
                Outcome(
                    concept_set=outcome.concept_set,
                    domain=outcome.domain,
                    time_at_risk=self.risk_window,
                    exclude_prior=outcome.exclude_prior,
                    label=outcome.label,
                ),
                tuple(events[name] for name in outcome.competing),
            )
            for outcome in self.outcomes
        ]

    def outcome_names(self) -> list[str]:
        """The names of :meth:`outcome_specs`."""
        return [spec.name for spec in self.outcome_specs()]

    def for_outcome(self, name: str | None) -> CohortDefinition:
        """The one-outcome definition of outcome ``name`` (``None``: this definition when it
        has one outcome): what a model of that outcome was fitted on.

        Raises
        ------
        DefinitionError
            When the definition has no outcome ``name``; the message lists the ones it has.
        """
        if name is None and not self.several_outcomes:
            return self
        specs = {spec.name: spec for spec in self.outcome_specs()}
        if name not in specs:
            raise DefinitionError(
                f"cohort '{self.name}' has no outcome {spelled(name)}; it has {', '.join(specs)}"
            )
        if not self.several_outcomes:
            return self
        spec = specs[name]
        return self.model_copy(
            update={
                "outcome": spec.outcome,
                "outcomes": [],
                "time_at_risk": None,
                "competing_events": list(spec.competing),
            }
        )

    def canonical(self) -> dict[str, Any]:
        """The definition as JSON-ready data, as recorded in a dataset manifest: the fields
        of the other outcome form are left out, so a one-outcome definition records (and
        hashes) as it did before ``outcomes:`` existed."""
        return self.model_dump(mode="json", exclude=self._other_form())

    def _other_form(self) -> set[str]:
        other = {"outcome"} if self.several_outcomes else {"outcomes", "time_at_risk"}
        # a definition without landmarks records (and hashes) as it did before they existed
        return other if self.landmarks is not None else other | {"landmarks"}


def _check_landmarks(
    definition: CohortDefinition,
    days: tuple[int, ...],
    items: list[TimeSinceEntryFeature | SinceEntryFeature],
) -> None:
    """Landmarks that a build can honour: inside the time at risk, one entry per person, and
    the landmark time among the features when there are several landmarks."""
    tar = definition.risk_window
    field = "outcome.time_at_risk" if definition.outcome is not None else "time_at_risk"
    if days[-1] > tar.end:
        raise ValueError(
            f"landmarks: day {days[-1]} is after the end of {field} (day {tar.end}); "
            f"landmarks must lie inside the time at risk (at most day {tar.end})"
        )
    if definition.index.occurrence is Occurrence.ALL:
        raise ValueError(
            "landmarks: cannot be combined with index.occurrence: all (a landmark of one entry "
            "could be the date of another entry); use occurrence: first"
        )
    if len(days) > 1 and not any(item.kind == "time_since_entry" for item in items):
        raise ValueError(
            f"landmarks: {len(days)} landmarks need the landmark time as a covariate: add "
            "'- kind: time_since_entry' under features.items"
        )


# feature items with a name and a concept set
_NAMED_FEATURES = (ConceptSetFeature, TreatmentFeature, SinceEntryFeature)

#: The name of the outcome of a definition with one ``outcome:``.
SINGLE_OUTCOME = "outcome"


@dataclass(frozen=True)
class OutcomeSpec:
    """An outcome of a definition in the one-outcome shape, with its competing events (event
    codes 2, 3, ... in this order)."""

    name: str
    outcome: Outcome
    competing: tuple[CompetingEvent, ...]


def _check_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} name '{name}' is used twice")
        seen.add(name)


def definition_hash(definition: CohortDefinition) -> str:
    """SHA-256 of the definition's canonical JSON: equal definitions hash equal."""
    canonical = definition.model_dump_json(exclude_none=False, exclude=definition._other_form())
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_definition(data: Any, *, origin: str = "<definition>") -> CohortDefinition:
    """Validate an already-parsed mapping; errors name ``origin`` and the offending field."""
    if data is None:
        raise DefinitionError(f"{origin}: the file is empty; a cohort definition is a YAML mapping")
    if not isinstance(data, dict):
        raise DefinitionError(
            f"{origin}: a cohort definition is a YAML mapping (name:, concept_sets:, index:, "
            f"outcome:, ...), got {_kind(data)}"
        )
    try:
        return CohortDefinition.model_validate(data)
    except ValidationError as error:
        raise DefinitionError(_describe_errors(error, origin, data)) from None


def load_definition(path: str | Path) -> CohortDefinition:
    """Read and validate a cohort definition YAML file.

    The file must be UTF-8 and is read with YAML 1.2 meaning, strictly: only ``true``/``false``
    are booleans and only plain decimal digits are numbers, and a key given twice in one
    mapping is an error (:mod:`prognosis.cohort.yaml_loader`).

    Parameters
    ----------
    path
        The definition file, e.g. ``cohorts/gi_bleed_nsaid.yaml``.

    Returns
    -------
    CohortDefinition
        The validated, frozen definition.

    Raises
    ------
    DefinitionError
        The file is missing, unreadable, not UTF-8, not valid YAML, has a duplicate key, or
        does not describe a valid cohort; the message names the file and the place.
    """
    path = Path(path)
    return parse_definition(read_yaml(path), origin=str(path))


def _describe_errors(error: ValidationError, origin: str, data: Any) -> str:
    lines = [f"{origin}: invalid cohort definition"]
    for item in error.errors(include_url=False):
        field = _field_path(item["loc"], data)
        message = _message(item)
        lines.append(f"  - {field}: {message}" if field else f"  - {message}")
    return "\n".join(lines)


def _field_path(loc: tuple[Any, ...], data: Any) -> str:
    """``rules[0] ('no_prior_gi_bleed').window`` from pydantic's location and the input."""
    parts: list[str] = []
    node, after_index = data, False
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            name = node.get("name") if isinstance(node, dict) else None
            parts.append(f"[{part}]" + (f" ({spelled(name)})" if isinstance(name, str) else ""))
            after_index = True
            continue
        tag = after_index and isinstance(node, dict) and node.get("kind") == part
        after_index = False
        if tag or re.fullmatch(r"[a-z_]+\[.*\]|function-.*|form-.*", str(part)):
            # pydantic's names for union members (the 'kind' tag, the landmarks' form) and
            # validators
            continue
        parts.append(("." if parts else "") + str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


# What a strictly typed field expects, and a hint shown when a scalar of another type came.
_EXPECTED = {
    "int_type": (
        "a whole number",
        "write plain decimal digits, e.g. 365 (no quotes, leading zeros, 0o/0x prefixes, "
        "_ separators or 1:30)",
    ),
    "float_type": ("a number", "write decimal notation, e.g. 0.01 (no quotes, .inf or .nan)"),
    "bool_type": ("true or false", "YAML 1.2 reads yes, no, on, off, y and n as text"),
    "string_type": ("text", "put it in quotes, e.g. '123'"),
    "list_type": ("a list", "write [a, b] or one '- item' per line"),
    "dict_type": ("a mapping", "write one 'name: value' per line"),
}


def _message(item: Any) -> str:
    kind, message = item["type"], item["msg"]
    message = message.removeprefix("Value error, ")
    if kind in _EXPECTED:
        expected, hint = _EXPECTED[kind]
        scalar = isinstance(item["input"], str | int | float | dt.date)
        return f"got {_written(item['input'])}, expected {expected}" + (
            f"; {hint}" if scalar else ""
        )
    if kind == "extra_forbidden":
        return "unknown field (check its spelling and indentation)"
    if kind == "enum":
        expected = item.get("ctx", {}).get("expected", "")
        return f"unknown value {spelled(item['input'])}; expected {expected}"
    if kind == "union_tag_invalid":
        return (
            f"unknown feature kind {spelled(item['input'].get('kind'))}; " + message.split(";")[-1]
        )
    if kind == "string_pattern_mismatch":
        return (
            f"{spelled(item['input'])} is not a valid name: use lower-case letters, digits and "
            "underscores, starting with a letter"
        )
    if kind == "too_short" and item["input"] in ([], {}):
        return "must not be empty"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{message}, got {spelled(item['input'])}"
    return message


_KINDS = [
    (bool, "a boolean"),
    (int, "a whole number"),
    (float, "a decimal number"),
    (dt.date, "a date"),
    (str, "text"),
    (list, "a list"),
    (dict, "a mapping"),
]


def _kind(value: Any) -> str:
    """What YAML 1.2 read a value as: ``text``, ``a boolean``, ``a list``, ..."""
    return next((name for type_, name in _KINDS if isinstance(value, type_)), type(value).__name__)


def _written(value: Any) -> str:
    """A value and what YAML 1.2 read it as: ``'0777' (text)``, ``true (a boolean)``."""
    return spelled(value) if value is None else f"{spelled(value)} ({_kind(value)})"


def parse_recorded_definition(
    manifest: DatasetManifest, outcome: str | None = None
) -> CohortDefinition | None:
    """The definition stored in a dataset manifest, or ``None`` when absent or unreadable;
    with ``outcome`` (a model's), the one-outcome definition of that outcome
    (:meth:`CohortDefinition.for_outcome`)."""
    if manifest.definition is None:
        return None
    try:
        definition = parse_definition(manifest.definition.content, origin="manifest.json")
        return definition.for_outcome(outcome)
    except PrognosisError:
        return None
