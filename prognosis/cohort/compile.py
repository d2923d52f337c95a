"""Compile a :class:`CohortDefinition` into SQL steps.

Steps are written once, in DuckDB's dialect, parsed by sqlglot and rendered for the engine
(DuckDB, PostgreSQL, Spark, ...). Each step creates one work table. Day offsets are always
``DATE_DIFF('day', index_date, event_date)``, so windows are integer comparisons everywhere.

Follow-up, event and censoring (all in days after index, both ends of windows inclusive):

* follow-up ends at the earliest of observation-period end, death, time-at-risk end and the
  data cut-off; a person whose follow-up ends before the time-at-risk start is not at risk;
* the event is the first outcome (1) or competing event (2, 3, ... in definition order) inside
  ``[time_at_risk.start, follow-up end]``; on the same day the outcome wins, then the listed order;
* ``time`` is the day of that event, else the follow-up end; ``censor_reason`` names what ended
  follow-up (ties: death, observation_end, data_cutoff, time_at_risk_end).

With ``landmarks:``, the index events above are the *entries*; each entry that meets every
criterion becomes one row per landmark ``s`` at which it is still at risk, whose
``index_date`` is the landmark date (entry + ``s``, with ``entry_date`` and ``landmark``
kept): its events, follow-up and features are then computed from that date, as above.
"""

from __future__ import annotations

from dataclasses import dataclass

from prognosis.cohort.catalog import MAX_AGE
from prognosis.cohort.definition import (
    CohortDefinition,
    CompetingEvent,
    Domain,
    Occurrence,
    Outcome,
    Rule,
    Window,
)
from prognosis.cohort.outcome_columns import outcome_column
from prognosis.cohort.sql import Step, between, days, id_array, in_set

__all__ = [
    "AttritionStep",
    "all_attrition",
    "attrition_query",
    "cohort_steps",
    "concept_steps",
    "landmark_attrition_query",
    "landmark_list",
]

BIG = 999_999  # days; later than any time-at-risk end


@dataclass(frozen=True)
class AttritionStep:
    """A row of the attrition table: a condition on the candidates table, applied cumulatively.

    A ``quality`` step removes rows that cannot be used (no index date, no plausible year of
    birth); it is listed only when it removes some, so clean data keep their attrition table.
    """

    name: str
    description: str
    condition: str
    quality: bool = False


def cohort_steps(definition: CohortDefinition, *, person_periods: bool = False) -> list[Step]:
    """The steps from staging views to the ``cohort`` table (one row per person and index).

    Parameters
    ----------
    definition
        The cohort definition.
    person_periods
        Whether the work table ``person_periods`` exists: one row per person with their
        observation period, if any, made by the data-quality checks when nobody has two
        periods. The index events then take the person and the period from it in one join;
        otherwise (and in the printed SQL) they group the periods that hold each record.

    Returns
    -------
    list of Step
        In the order they run.
    """
    index = _index_events(definition, person_periods=person_periods)
    steps = [*concept_steps(definition), index, _base(definition)]
    steps += [_rule_counts(definition, i) for i in range(len(definition.rules))]
    if definition.several_outcomes:
        steps += [*_several_outcome_steps(definition), _death_days()]
        steps.append(_candidates_of_outcomes(definition))
        if definition.landmarks is not None:
            return [*steps, *_landmark_steps(definition)]
        return [*steps, _cohort(definition)]
    outcome = _the_outcome(definition)
    steps.append(_event_days("outcome_days", "first outcome", outcome, definition))
    if outcome.exclude_prior is not None:
        steps.append(_prior_outcome("prior_outcome", outcome))
    for number, event in enumerate(definition.competing_events, start=2):
        steps.append(
            _event_days(f"competing_{number}_days", f"first {event.name}", event, definition)
        )
    steps += [_death_days(), _candidates(definition)]
    if definition.landmarks is not None:
        return [*steps, *_landmark_steps(definition)]
    return [*steps, _cohort(definition)]


def _the_outcome(definition: CohortDefinition) -> Outcome:
    (spec,) = definition.outcome_specs()
    return spec.outcome


def concept_steps(definition: CohortDefinition) -> list[Step]:
    """The concept ids listed in the definition (``concept_ids``), then the resolved sets."""
    return [_concept_ids(definition), _concept_sets(definition)]


def _concept_ids(definition: CohortDefinition) -> Step:
    """One row per listed id: ``(concept_set, role, concept_id)``, ``role`` include or exclude.

    Each list is one array literal, unnested: a 100,000-id set is one short statement, where a
    ``SELECT`` per id took minutes and ran DuckDB out of memory (see :class:`Step` ``arrays``).
    """
    parts: list[str] = []
    arrays: list[tuple[int, ...]] = []
    for name, concept_set in definition.concept_sets.items():
        for role, ids in (("include", concept_set.include), ("exclude", concept_set.exclude)):
            if not ids:
                continue
            parts.append(
                f"SELECT '{name}' AS concept_set, '{role}' AS role, "
                "CAST(t.concept_id AS BIGINT) AS concept_id "
                f"FROM UNNEST([{id_array(len(arrays))}]) AS t(concept_id)"
            )
            arrays.append(tuple(ids))
    return Step("concept_ids", "list concept ids", " UNION ALL ".join(parts), tuple(arrays))


def _listed(name: str, role: str) -> str:
    return f"SELECT concept_id FROM concept_ids WHERE concept_set = '{name}' AND role = '{role}'"


def _concept_sets(definition: CohortDefinition) -> Step:
    parts = []
    for name, concept_set in definition.concept_sets.items():
        included = _listed(name, "include")
        members = f"(SELECT concept_id AS root_id, concept_id FROM ({included}) AS i)"
        if concept_set.descendants:
            members = (
                f"(SELECT concept_id AS root_id, concept_id FROM ({included}) AS i "
                "UNION ALL SELECT ancestor_concept_id AS root_id, "
                "descendant_concept_id AS concept_id FROM stg_concept_ancestor "
                f"WHERE ancestor_concept_id IN ({included}) AND descendant_concept_id IS NOT NULL)"
            )
        excluded = _excluded(name, bool(concept_set.exclude), concept_set.exclude_descendants)
        parts.append(
            f"SELECT DISTINCT '{name}' AS concept_set, m.root_id, m.concept_id "
            f"FROM {members} AS m WHERE {excluded}"
        )
    return Step("concept_sets", "resolve concept sets", " UNION ALL ".join(parts))


def _excluded(name: str, any_excluded: bool, descendants: bool) -> str:
    if not any_excluded:
        return "TRUE"
    listed = _listed(name, "exclude")
    condition = f"m.concept_id NOT IN ({listed})"
    if descendants:
        condition += (
            " AND m.concept_id NOT IN (SELECT descendant_concept_id FROM stg_concept_ancestor "
            f"WHERE ancestor_concept_id IN ({listed}) AND descendant_concept_id IS NOT NULL)"
        )
    return condition


def _index_events(definition: CohortDefinition, *, person_periods: bool) -> Step:
    index = definition.index
    table = f"stg_{index.domain.value}"
    ranked = f"""
WITH records AS (
  SELECT e.person_id, e.event_date AS index_date
  FROM {table} AS e
  WHERE {in_set("e.concept_id", index.concept_set)}
  GROUP BY e.person_id, e.event_date
), ranked AS (
  SELECT person_id, index_date,
    ROW_NUMBER() OVER (PARTITION BY person_id
      ORDER BY CASE WHEN index_date IS NULL THEN 1 ELSE 0 END, index_date) AS occurrence
  FROM records
)"""
    if person_periods:  # one row per person: the period, if it holds the index date
        inside = "p.start_date <= r.index_date AND r.index_date <= p.end_date"
        select = f"""{ranked}
SELECT r.person_id, r.index_date, r.occurrence,
  CASE WHEN {inside} THEN p.start_date END AS obs_start,
  CASE WHEN {inside} THEN p.end_date END AS obs_end,
  p.year_of_birth, p.gender_concept_id,
  EXTRACT(YEAR FROM r.index_date) - p.year_of_birth AS age
FROM ranked AS r
JOIN person_periods AS p ON p.person_id = r.person_id"""
        return Step("index_events", "find index events", select)
    select = f"""{ranked}, periods AS (
  SELECT r.person_id, r.index_date, r.occurrence,
    MIN(op.start_date) AS obs_start, MAX(op.end_date) AS obs_end
  FROM ranked AS r LEFT JOIN stg_observation_period AS op
    ON op.person_id = r.person_id AND op.start_date <= r.index_date
    AND r.index_date <= op.end_date
  GROUP BY r.person_id, r.index_date, r.occurrence
)
SELECT r.person_id, r.index_date, r.occurrence, r.obs_start, r.obs_end,
  p.year_of_birth, p.gender_concept_id,
  EXTRACT(YEAR FROM r.index_date) - p.year_of_birth AS age
FROM periods AS r
JOIN stg_person AS p ON p.person_id = r.person_id"""
    return Step("index_events", "find index events", select)


def index_flags(definition: CohortDefinition) -> list[AttritionStep]:
    """Conditions on ``index_events`` alone, in attrition order."""
    index = definition.index
    steps = [
        AttritionStep(
            "index_events",
            f"Index events: {index.concept_set} in {index.domain.value}",
            "TRUE",
        ),
        # an undated record sorts after every dated one, so it is never a first occurrence
        # while the person has a dated one
        AttritionStep(
            "index_date", "Index record has a date", "index_date IS NOT NULL", quality=True
        ),
    ]
    if index.occurrence is Occurrence.FIRST:
        steps.append(
            AttritionStep("first_occurrence", "First occurrence per person", "occurrence = 1")
        )
    steps.append(
        AttritionStep(
            "birth_year",
            f"Year of birth known, not after the index year nor more than {MAX_AGE} years before",
            f"age IS NOT NULL AND age >= 0 AND age <= {MAX_AGE}",
            quality=True,
        )
    )
    steps.append(
        AttritionStep(
            "in_observation", "Index date inside an observation period", "obs_start IS NOT NULL"
        )
    )
    if index.min_prior_observation:
        steps.append(
            AttritionStep(
                "prior_observation",
                f"At least {index.min_prior_observation} days of prior observation",
                f"{days('index_date', 'obs_start')} >= {index.min_prior_observation}",
            )
        )
    if index.age.min is not None or index.age.max is not None:
        window = Window(start=index.age.min, end=index.age.max)
        steps.append(AttritionStep("age", f"Age at index {_range(window)}", between("age", window)))
    if index.dates.start is not None or index.dates.end is not None:
        conditions = []
        if index.dates.start:
            conditions.append(f"index_date >= DATE '{index.dates.start.isoformat()}'")
        if index.dates.end:
            conditions.append(f"index_date <= DATE '{index.dates.end.isoformat()}'")
        steps.append(
            AttritionStep(
                "index_dates",
                f"Index date from {index.dates.start or 'any'} to {index.dates.end or 'any'}",
                " AND ".join(conditions),
            )
        )
    return steps


def _range(window: Window) -> str:
    low = "" if window.start is None else str(window.start)
    high = "" if window.end is None else str(window.end)
    return f"[{low}, {high}]"


def _base(definition: CohortDefinition) -> Step:
    condition = " AND ".join(f"({s.condition})" for s in index_flags(definition))
    return Step(
        "base",
        "apply index criteria",
        f"SELECT person_id, index_date FROM index_events WHERE {condition}",
    )


def _count_in_window(
    name: str, description: str, domain: Domain, concept_set: str | None, window: Window
) -> Step:
    select = f"""
SELECT b.person_id, b.index_date, COUNT(*) AS n
FROM base AS b JOIN stg_{domain.value} AS e ON e.person_id = b.person_id
WHERE {in_set("e.concept_id", concept_set)} AND e.event_date IS NOT NULL
  AND {between(days("e.event_date", "b.index_date"), window)}
GROUP BY b.person_id, b.index_date"""
    return Step(name, description, select)


def _rule_counts(definition: CohortDefinition, position: int) -> Step:
    rule = definition.rules[position]
    return _count_in_window(
        f"rule_{position}", f"rule '{rule.name}'", rule.domain, rule.concept_set, rule.window
    )


def _prior_outcome(name: str, outcome: Outcome) -> Step:
    """Records of ``outcome`` before its risk window, counted per index event (table ``name``)."""
    lookback = outcome.exclude_prior.lookback if outcome.exclude_prior else None
    # up to the day before the risk window opens (the index day included), as OHDSI's
    # PatientLevelPrediction removes "subjects with the outcome prior to the risk window start"
    end = outcome.time_at_risk.start - 1
    window = Window(start=None if lookback is None else -lookback, end=end)
    return _count_in_window(
        name,
        "outcome before the risk window",
        outcome.domain,
        outcome.concept_set,
        window,
    )


def _event_days(
    name: str,
    description: str,
    event: Outcome | CompetingEvent,
    definition: CohortDefinition,
    rows: str = "base",
) -> Step:
    """The first day of ``event`` inside the time at risk, per index event (table ``name``);
    the index events are the table ``rows`` (``landmark_events``: each landmark row)."""
    tar = definition.risk_window
    offset = days("e.event_date", "b.index_date")
    select = f"""
SELECT b.person_id, b.index_date, MIN({offset}) AS days
FROM {rows} AS b JOIN stg_{event.domain.value} AS e ON e.person_id = b.person_id
WHERE {in_set("e.concept_id", event.concept_set)} AND {offset} >= {tar.start}
  AND {offset} <= {tar.end}
GROUP BY b.person_id, b.index_date"""
    return Step(name, description, select)


def _death_days() -> Step:
    return Step(
        "death_dates",
        "death dates",
        "SELECT person_id, MIN(event_date) AS death_date FROM stg_death "
        "WHERE event_date IS NOT NULL GROUP BY person_id",
    )


def follow_up_flags(definition: CohortDefinition) -> list[AttritionStep]:
    """Conditions that need rules, prior outcomes and follow-up, in attrition order."""
    steps = []
    for position, rule in enumerate(definition.rules):
        conditions = []
        if rule.min_count is not None:
            conditions.append(f"COALESCE(rule_{position}, 0) >= {rule.min_count}")
        if rule.max_count is not None:
            conditions.append(f"COALESCE(rule_{position}, 0) <= {rule.max_count}")
        text = rule.description or _rule_text(rule)
        steps.append(AttritionStep(rule.name, text, " AND ".join(conditions)))
    if not definition.several_outcomes and _the_outcome(definition).exclude_prior is not None:
        steps.append(
            AttritionStep(
                "no_prior_outcome",
                "No outcome before the time at risk",
                "COALESCE(prior_outcome, 0) = 0",
            )
        )
    tar = definition.risk_window
    steps.append(
        AttritionStep(
            "at_risk", f"Still observed and alive on day {tar.start}", f"follow_up >= {tar.start}"
        )
    )
    return steps


def _rule_text(rule: Rule) -> str:
    counts = []
    if rule.min_count is not None:
        counts.append(f"at least {rule.min_count}")
    if rule.max_count is not None:
        counts.append(f"at most {rule.max_count}")
    return (
        f"{' and '.join(counts)} records of {rule.concept_set} in {rule.domain.value} "
        f"{rule.window.describe()}"
    )


def _cutoff_days(definition: CohortDefinition) -> str:
    """The data cut-off in days after index (``i.index_date``), or a typed NULL."""
    cutoff = definition.censoring.data_cutoff
    if cutoff:
        return days(f"DATE '{cutoff.isoformat()}'", "i.index_date")
    return "CAST(NULL AS INTEGER)"


def _rule_columns(definition: CohortDefinition) -> tuple[list[str], list[str]]:
    """The joins of the rule counts onto ``index_events AS i``, and their columns."""
    joins, columns = [], []
    for position in range(len(definition.rules)):
        joins.append(_join(f"rule_{position}", f"r{position}"))
        columns.append(f"r{position}.n AS rule_{position}")
    return joins, columns


def _candidates(definition: CohortDefinition, *, landmarks: bool = False) -> Step:
    """Follow-up, event and censoring of each index event (``candidates``) or, with
    ``landmarks``, of each landmark row (``landmark_candidates``, from ``landmark_events``,
    whose entries met the rules already)."""
    prefix = "landmark_" if landmarks else ""
    joins, columns = _base_columns(definition, landmarks=landmarks)
    joins.append(_join(f"{prefix}outcome_days", "o1"))
    columns.append("o1.days AS event_1_days")
    if _the_outcome(definition).exclude_prior is not None and not landmarks:
        joins.append(_join("prior_outcome", "po"))
        columns.append("po.n AS prior_outcome")
    for number in range(2, len(definition.competing_events) + 2):
        joins.append(_join(f"{prefix}competing_{number}_days", f"o{number}"))
        columns.append(f"o{number}.days AS event_{number}_days")
    numbers = range(1, len(definition.competing_events) + 2)
    earliest = [f"COALESCE(event_{n}_days, {BIG})" for n in numbers]
    # Spark's LEAST needs two arguments or more
    first_event = earliest[0] if len(earliest) == 1 else f"LEAST({', '.join(earliest)})"
    which = " ".join(f"WHEN event_{n}_days = first_event THEN {n}" for n in numbers)
    selected = [
        f"CASE WHEN first_event > follow_up THEN 0 {which} END AS event",
        "LEAST(first_event, follow_up) AS time",
        f"{_censor_reason('first_event')} AS censor_reason",
    ]
    return _follow_up_step(
        definition,
        (joins, columns),
        [f"{first_event} AS first_event"],
        selected,
        landmarks=landmarks,
        description="compute follow-up, events and censoring",
    )


def _base_columns(definition: CohortDefinition, *, landmarks: bool) -> tuple[list[str], list[str]]:
    """The joins and columns every candidates query starts with: death dates, and the rule
    counts of index events (landmark rows' entries met the rules already)."""
    joins = ["LEFT JOIN death_dates AS d ON d.person_id = i.person_id"]
    columns: list[str] = []
    if not landmarks:
        rule_joins, rule_items = _rule_columns(definition)
        joins += rule_joins
        columns += rule_items
    return joins, columns


def _censor_reason(first: str) -> str:
    """What ended the follow-up of a row whose first event is on day ``first`` (empty for an
    event); ties: death, observation end, data cut-off, time-at-risk end."""
    return (
        f"CASE WHEN {first} <= follow_up THEN '' WHEN follow_up = death_days THEN 'death' "
        "WHEN follow_up = obs_end_days THEN 'observation_end' "
        "WHEN follow_up = cutoff_days THEN 'data_cutoff' ELSE 'time_at_risk_end' END"
    )


def _follow_up_step(
    definition: CohortDefinition,
    joined: tuple[list[str], list[str]],
    firsts: list[str],
    selected: list[str],
    *,
    landmarks: bool,
    description: str,
) -> Step:
    """The candidates step: each row (an index event, or a landmark row) with the ``joined``
    (joins, columns), its days to observation end, death and the data cut-off, its follow-up
    (their earliest and the time-at-risk end), its ``firsts`` (first event days) and the
    ``selected`` event, time and censor reason."""
    joins, columns = joined
    select = f"""
WITH days AS (
  SELECT i.*, {", ".join(columns) + "," if columns else ""}
    {days("i.obs_end", "i.index_date")} AS obs_end_days,
    {days("d.death_date", "i.index_date")} AS death_days,
    {_cutoff_days(definition)} AS cutoff_days
  FROM {"landmark_events" if landmarks else "index_events"} AS i
  {" ".join(joins)}
), follow AS (
  SELECT *, LEAST(obs_end_days, {definition.risk_window.end}, death_days, cutoff_days) AS follow_up,
    {", ".join(firsts)}
  FROM days
)
SELECT *, {", ".join(selected)}
FROM follow"""
    if landmarks:
        return Step("landmark_candidates", f"{description} per landmark", select)
    return Step("candidates", description, select)


# -- landmarks: one row per entry and landmark at which the person is still at risk ------------
def _landmark_steps(definition: CohortDefinition) -> list[Step]:
    """From the entries that meet every criterion (``candidates``) to the ``cohort`` of
    landmark rows: each landmark row's index date is its landmark date, so its events,
    follow-up and (later) features are measured from there."""
    steps = [_landmark_events(definition)]
    for table, event in _followed_events(definition):
        name = event.name if isinstance(event, CompetingEvent) else "outcome"
        steps.append(
            _event_days(
                f"landmark_{table}",
                f"first {name} after each landmark",
                event,
                definition,
                rows="landmark_events",
            )
        )
    if definition.several_outcomes:
        steps.append(_candidates_of_outcomes(definition, landmarks=True))
    else:
        steps.append(_candidates(definition, landmarks=True))
    return [*steps, _landmark_cohort(definition)]


def _followed_events(definition: CohortDefinition) -> list[tuple[str, Outcome | CompetingEvent]]:
    """The event-day tables of the follow-up (``outcome_days``, ``competing_2_days``, ... for
    one outcome; ``days_<name>`` for several), and the event each holds."""
    if definition.several_outcomes:
        return [(f"days_{name}", event) for name, event in _events_of_outcomes(definition).items()]
    tables: list[tuple[str, Outcome | CompetingEvent]] = [
        ("outcome_days", _the_outcome(definition))
    ]
    for number, event in enumerate(definition.competing_events, start=2):
        tables.append((f"competing_{number}_days", event))
    return tables


def landmark_list(definition: CohortDefinition) -> str:
    """The landmarks as a one-column table ``landmark`` (days after entry)."""
    listed = ", ".join(map(str, definition.landmark_days()))
    return f"SELECT CAST(t.landmark AS INTEGER) AS landmark FROM UNNEST([{listed}]) AS t(landmark)"


def _landmark_events(definition: CohortDefinition) -> Step:
    """Each entry that meets every criterion, once per landmark ``s``: index date
    ``entry + s``, age in that year. With one outcome, only while the entry is still free of
    the outcome and of every competing event (its first event, counted from the time-at-risk
    start, comes after day ``s``); with several, every landmark, each outcome's first event
    after entry (``entry_first__k``) and prior records (``prior_k``) carried along, to tell
    whether the row is at risk of that outcome (:func:`_at_risk_columns`). Whether the
    person is still observed and alive is the landmark row's own follow-up
    (:func:`_landmark_cohort`)."""
    condition = " AND ".join(f"({s.condition})" for s in all_attrition(definition))
    landmark_date = "CAST(c.index_date + l.landmark AS DATE)"
    carried, free = "", "\nWHERE c.first_event > l.landmark"
    if definition.several_outcomes:
        items = []
        for spec in definition.outcome_specs():
            first = outcome_column("first", spec.name)
            items.append(f"c.{first} AS entry_{first}")
            if spec.outcome.exclude_prior is not None:
                items.append(f"c.prior_{spec.name}")
        carried, free = ", " + ", ".join(items), ""
    select = f"""
SELECT c.person_id, {landmark_date} AS index_date, c.index_date AS entry_date, l.landmark,
  c.obs_start, c.obs_end, c.year_of_birth, c.gender_concept_id,
  EXTRACT(YEAR FROM {landmark_date}) - c.year_of_birth AS age{carried}
FROM (SELECT * FROM candidates WHERE {condition}) AS c
CROSS JOIN ({landmark_list(definition)}) AS l{free}"""
    return Step("landmark_events", "expand entries to landmarks", select)


def _landmark_cohort(definition: CohortDefinition) -> Step:
    """The landmark rows still observed and alive on the time-at-risk start after the
    landmark (with several outcomes, those not at risk of one have its columns NULL)."""
    tar = definition.risk_window
    survival = "time, event, censor_reason"
    if definition.several_outcomes:
        survival = ", ".join(_at_risk_columns(definition, landmarks=True))
    return Step(
        "cohort",
        "select the landmark rows at risk",
        f"SELECT person_id, index_date, entry_date, landmark, {survival}, age, "
        f"gender_concept_id FROM landmark_candidates WHERE follow_up >= {tar.start}",
        row_id=("person_id", "index_date"),
    )


def landmark_attrition_query(definition: CohortDefinition) -> str:
    """Persons and rows of the built ``cohort`` at each landmark, in landmark order (a
    landmark nobody reaches counts 0)."""
    return f"""
SELECT l.landmark, COUNT(DISTINCT c.person_id) AS persons, COUNT(c.person_id) AS row_count
FROM ({landmark_list(definition)}) AS l
LEFT JOIN cohort AS c ON c.landmark = l.landmark
GROUP BY l.landmark ORDER BY l.landmark"""


# -- several outcomes: one time/event pair per outcome, from the same follow-up ----------------
def _several_outcome_steps(definition: CohortDefinition) -> list[Step]:
    """The first day of every outcome and competing event (``days_<name>``, each once), and
    the records before the risk window of each outcome that excludes its prior ones."""
    steps = []
    for event in _events_of_outcomes(definition).values():
        steps.append(_event_days(f"days_{event.name}", f"first {event.name}", event, definition))
    for spec in definition.outcome_specs():
        if spec.outcome.exclude_prior is not None:
            steps.append(_prior_outcome(f"prior_{spec.name}", spec.outcome))
    return steps


def _events_of_outcomes(definition: CohortDefinition) -> dict[str, CompetingEvent]:
    """Every event some outcome needs, by name, in definition order (outcomes first)."""
    events: dict[str, CompetingEvent] = {}
    for spec in definition.outcome_specs():
        own = CompetingEvent(
            name=spec.name, domain=spec.outcome.domain, concept_set=spec.outcome.concept_set
        )
        for event in (own, *spec.competing):
            events.setdefault(event.name, event)
    return events


def _candidates_of_outcomes(definition: CohortDefinition, *, landmarks: bool = False) -> Step:
    """Follow-up as for one outcome; then, per outcome ``k``, ``event__k`` (1 the outcome,
    2, 3, ... its competing events in listed order; the outcome wins ties, then that order),
    ``time__k`` and ``censor_reason__k``, as :func:`_candidates` computes them for one; with
    ``landmarks``, of each landmark row (``landmark_candidates``; the entry's rules and prior
    records come with the rows)."""
    prefix = "landmark_" if landmarks else ""
    joins, columns = _base_columns(definition, landmarks=landmarks)
    for position, name in enumerate(_events_of_outcomes(definition)):
        joins.append(_join(f"{prefix}days_{name}", f"e{position}"))
        columns.append(f"e{position}.days AS days_{name}")
    firsts, selected = [], []
    for spec in definition.outcome_specs():
        if spec.outcome.exclude_prior is not None and not landmarks:
            joins.append(_join(f"prior_{spec.name}", f"p_{spec.name}"))
            columns.append(f"p_{spec.name}.n AS prior_{spec.name}")
        names = [spec.name, *(event.name for event in spec.competing)]
        earliest = [f"COALESCE(days_{name}, {BIG})" for name in names]
        first = earliest[0] if len(earliest) == 1 else f"LEAST({', '.join(earliest)})"
        firsts.append(f"{first} AS {outcome_column('first', spec.name)}")
        selected += _outcome_pair(spec.name, names)
    return _follow_up_step(
        definition,
        (joins, columns),
        firsts,
        selected,
        landmarks=landmarks,
        description="compute follow-up, events and censoring per outcome",
    )


def _outcome_pair(name: str, events: list[str]) -> list[str]:
    """``event__k``, ``time__k`` and ``censor_reason__k`` of outcome ``name``, whose events
    (the outcome, then its competing ones) are ``events``."""
    first = outcome_column("first", name)
    which = " ".join(
        f"WHEN days_{event} = {first} THEN {code}" for code, event in enumerate(events, start=1)
    )
    return [
        f"CASE WHEN {first} > follow_up THEN 0 {which} END AS {outcome_column('event', name)}",
        f"LEAST({first}, follow_up) AS {outcome_column('time', name)}",
        f"{_censor_reason(first)} AS {outcome_column('censor_reason', name)}",
    ]


def _at_risk_columns(definition: CohortDefinition, *, landmarks: bool = False) -> list[str]:
    """Each outcome's time, event and censor reason; NULL where an outcome that excludes its
    prior records has one (that row is not at risk of that outcome) and, at a landmark,
    where the outcome or one of its competing events came by the landmark day."""
    items = []
    for spec in definition.outcome_specs():
        conditions = []
        if spec.outcome.exclude_prior is not None:
            conditions.append(f"COALESCE(prior_{spec.name}, 0) = 0")
        if landmarks:
            conditions.append(f"entry_{outcome_column('first', spec.name)} > landmark")
        for part in ("time", "event", "censor_reason"):
            column = outcome_column(part, spec.name)
            if not conditions:
                items.append(column)
            else:
                at_risk = " AND ".join(conditions)
                items.append(f"CASE WHEN {at_risk} THEN {column} END AS {column}")
    return items


def _join(table: str, alias: str) -> str:
    return (
        f"LEFT JOIN {table} AS {alias} ON {alias}.person_id = i.person_id "
        f"AND {alias}.index_date = i.index_date"
    )


def all_attrition(definition: CohortDefinition) -> list[AttritionStep]:
    return index_flags(definition) + follow_up_flags(definition)


def _cohort(definition: CohortDefinition) -> Step:
    condition = " AND ".join(f"({s.condition})" for s in all_attrition(definition))
    survival = "time, event, censor_reason"
    if definition.several_outcomes:
        survival = ", ".join(_at_risk_columns(definition))
    return Step(
        "cohort",
        "select the cohort",
        f"SELECT person_id, index_date, {survival}, age, gender_concept_id "
        f"FROM candidates WHERE {condition}",
        # row_id numbers the rows in dataset order; feature tables are keyed by it
        row_id=("person_id", "index_date"),
    )


def attrition_query(definition: CohortDefinition) -> tuple[list[AttritionStep], str]:
    """One query counting persons and index events left after each cumulative step.

    Each candidate row gets its ``depth``, the number of leading steps whose condition it
    meets (a NULL condition is not met); each person their deepest row. The persons left
    after step ``k`` are those reaching depth ``k + 1``: one grouping by person instead of a
    ``COUNT(DISTINCT person_id)`` per step.
    """
    steps = all_attrition(definition)
    cases = " ".join(
        f"WHEN NOT COALESCE(({step.condition}), FALSE) THEN {position}"
        for position, step in enumerate(steps)
    )
    rows, items = [], []
    for position in range(len(steps)):
        rows.append(f"COUNT(CASE WHEN depth > {position} THEN 1 END) AS e{position}")
        items.append(f"COUNT(CASE WHEN reach > {position} THEN 1 END) AS p{position}")
        items.append(f"COALESCE(SUM(e{position}), 0) AS e{position}")
    sql = f"""
WITH depths AS (
  SELECT person_id, CASE {cases} ELSE {len(steps)} END AS depth FROM candidates
), persons AS (
  SELECT MAX(depth) AS reach, {", ".join(rows)} FROM depths GROUP BY person_id
)
SELECT {", ".join(items)} FROM persons"""
    return steps, sql
