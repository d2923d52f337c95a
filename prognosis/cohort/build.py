"""Build a cohort: run the compiled SQL inside the source's engine and write the outputs.

Outputs (written atomically into ``out_dir``): ``dataset.parquet``, ``features.json``,
``attrition.json`` and ``manifest.json``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from prognosis.artifacts import (
    AttritionStep,
    BuildCounts,
    DatasetManifest,
    Feature,
    FeaturesOf,
    RecordedDefinition,
    write_attrition,
    write_features,
    write_manifest,
)
from prognosis.cohort.assemble import ColumnFiller
from prognosis.cohort.catalog import Finding, PhysicalTable, standard_tables
from prognosis.cohort.compile import attrition_query, cohort_steps, landmark_attrition_query
from prognosis.cohort.definition import CohortDefinition, definition_hash
from prognosis.cohort.engines import ArrowDataset, AssembledDataset, Engine, open_engine
from prognosis.cohort.feature_descriptions import describe_features
from prognosis.cohort.features import (
    DomainSlot,
    FeatureColumn,
    FeaturePlan,
    TrainedColumns,
    dataset_query,
    plan_features,
    prevalence_query,
    resolve_domain,
)
from prognosis.cohort.outcome_columns import survival_names
from prognosis.cohort.quality import check_index_events, check_sources
from prognosis.cohort.sources import Source, source_paths
from prognosis.cohort.sql import Step, create_table, render
from prognosis.cohort.staging import StagingView, plan_staging
from prognosis.exceptions import CohortError, DataQualityWarning, SourceError
from prognosis.output_folders import OutputKind, check_output, claim_output
from prognosis.outputs import atomic_directory, package_versions, sha256_file

__all__ = ["BuildResult", "CohortError", "build_cohort", "compile_script", "model_columns"]

Progress = Callable[[str], None]
ConceptChooser = Callable[[DomainSlot], list[int]]

_ROW_KEY = [("person_id", pa.int64()), ("index_date", pa.date32())]
# a landmark dataset's row key goes on: the entry date and the landmark (days after entry)
_LANDMARK_KEY = [("entry_date", pa.date32()), ("landmark", pa.int32())]


def survival_schema(definition: CohortDefinition) -> list[tuple[str, pa.DataType]]:
    """The dataset's leading columns: the row key (with landmarks, ``entry_date`` and
    ``landmark`` after ``index_date``, the landmark date), then each outcome's time, event
    and censor reason (:mod:`prognosis.cohort.outcome_columns`)."""
    names = survival_names(_outcomes(definition))
    types = [pa.string() if n.startswith("censor_reason") else pa.int32() for n in names]
    key = _ROW_KEY + (_LANDMARK_KEY if definition.landmarks is not None else [])
    return key + list(zip(names, types, strict=True))


def _has_landmarks(definition: CohortDefinition) -> bool:
    return definition.landmarks is not None


def _outcomes(definition: CohortDefinition) -> list[str]:
    """The outcomes whose columns the dataset has by name: none for one outcome."""
    return definition.outcome_names() if definition.several_outcomes else []


_DTYPES = {"int32": pa.int32(), "float64": pa.float64()}


@dataclass(frozen=True)
class BuildResult:
    """What a build produced, for the CLI to print and tests to check."""

    out_dir: Path
    persons: int
    index_events: int
    events: dict[int | str, int]  # by code; by "outcome:code" for several outcomes
    features: int
    attrition: list[dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


def compile_script(
    definition: CohortDefinition,
    dialect: str,
    tables: dict[str, PhysicalTable] | None = None,
) -> str:
    """The whole build as one SQL script in ``dialect`` (for reading, or running elsewhere).

    Domain-wide features choose their concepts from the built cohort, so the script shows the
    prevalence query that picks them; ``prognosis cohort build`` runs it and pivots the result.
    """
    views, _ = plan_staging(definition, tables or standard_tables())
    plan = plan_features(definition)
    parts = []
    for view in views:
        parts.append(f"-- staging: {view.table}\n" + _create_view(view.name, view.select, dialect))
    for step in cohort_steps(definition) + plan.steps:
        parts.append(f"-- {step.description}\n" + create_table(step, dialect))
    _, attrition_sql = attrition_query(definition)
    parts.append("-- attrition\n" + render(attrition_sql, dialect))
    for slot in plan.layout:
        if isinstance(slot, DomainSlot):
            parts.append(
                f"-- {slot.item.domain.value} concepts in window {slot.window_name} seen in at "
                f"least {slot.item.min_prevalence:.2%} of the cohort (the build pivots these to "
                "one column each)\n" + render(prevalence_query(slot, 0), dialect)
            )
    columns = [c for c in plan.layout if isinstance(c, FeatureColumn)]
    query = dataset_query(
        columns, plan.tables, outcomes=_outcomes(definition), landmarks=_has_landmarks(definition)
    )
    if definition.landmarks is not None:
        parts.append(
            "-- attrition per landmark\n" + render(landmark_attrition_query(definition), dialect)
        )
    parts.append("-- dataset\n" + render(query, dialect))
    header = f"-- prognosis cohort '{definition.name}', SQL for {dialect}\n\n"
    return header + ";\n\n".join(parts) + ";\n"


def _create_view(name: str, select: str, dialect: str) -> str:
    return render(f"CREATE TEMPORARY VIEW {name} AS {select}", dialect)


def build_cohort(
    definition: CohortDefinition,
    source: Source,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    definition_path: str | None = None,
    today: dt.date | None = None,
    overwrite: bool = False,
    features_of: Path | str | None = None,
) -> BuildResult:
    """Build ``definition`` on ``source`` and write the outputs atomically into ``out_dir``.

    ``out_dir`` is checked before any work (:func:`prognosis.output_folders.check_output`): it
    must be new, empty, or a previous dataset (replaced only with ``overwrite``), and may not
    overlap the source's files.

    With ``features_of`` (a model directory), the dataset gets exactly that model's feature
    columns, in its order, for external validation on another source: domain-wide features
    take the model's concepts instead of choosing by prevalence here, and a concept this
    source lacks gives the column a person without records gets (presence and count 0,
    ``last`` missing). The definition must be the model's (same ``definition_hash``); the
    manifest records the model under ``features_of``.
    """
    protect = source_paths(source) + ([Path(features_of)] if features_of is not None else [])
    check_output(out_dir, OutputKind.DATASET, overwrite=overwrite, protect=protect)
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    today = today or dt.date.today()
    plan_features(definition)  # a definition that cannot be built fails before any work
    trained, trained_record = (
        model_columns(Path(features_of), definition) if features_of is not None else (None, None)
    )
    say(f"open {source.describe()}")
    with contextlib.ExitStack() as output:
        with open_engine(source) as engine:
            runner = StepRunner(engine, say)
            findings = runner.stage(definition, today)
            runner.run_steps(cohort_steps(definition, person_periods=runner.person_periods))
            findings += runner.cohort_findings(definition)
            attrition = runner.attrition(definition)
            columns, dataset = runner.features(definition, columns_of=trained)
            _warn(runner.unseen)
            findings += runner.unseen
            folder = output.enter_context(_output_folder(Path(out_dir)))
            # dataset.parquet is encoded while the features are labelled and the engine
            # closes; leaving early (an error) waits for it before the folder is removed
            written = dataset.start_writing(folder / "dataset.parquet")
            output.callback(_settle, written)
            say("label features")
            features = describe_features(engine, definition, columns)
            # inside the engine's block: a Spark dataset is counted and written by the session
            counts = dataset.counts([name for name, _ in survival_schema(definition)])
            seconds = time.perf_counter() - started
            manifest = _manifest(definition, definition_path, source, engine.dialect, today, counts)
            manifest = replace(
                manifest,
                data_quality=tuple(str(finding) for finding in findings),
                features_of=trained_record,
                build_seconds=round(seconds, 3),
            )
        say(f"write {out_dir}")
        written()
        _write(folder, features, attrition, manifest)
    return BuildResult(
        out_dir=Path(out_dir),
        persons=counts["persons"],
        index_events=counts["index_events"],
        events={int(k) if k.isdigit() else k: v for k, v in counts["events"].items()},
        features=len(columns),
        attrition=attrition,
        findings=findings,
        seconds=seconds,
    )


_COUNT_PERSONS = "SELECT COUNT(*) FROM stg_person"


class StepRunner:
    """Runs a definition's steps on one engine, reporting each (shared with person scoring)."""

    def __init__(self, engine: Engine, say: Progress) -> None:
        self.engine = engine
        self.say = say
        # a model's domain concepts with no record in their window here (``columns_of``), in
        # layout order; by long table while the slots are resolved
        self.unseen: list[Finding] = []
        self._unseen: dict[str, Finding] = {}
        # the data-quality checks made the work table ``person_periods`` (:meth:`stage`)
        self.person_periods = False

    def _run(self, description: str, sql: str) -> None:
        with self._naming(description):
            self.engine.execute(sql)

    @contextlib.contextmanager
    def _naming(self, description: str) -> Iterator[None]:
        try:
            yield
        except Exception as error:  # engines raise their own types; name the step
            raise SourceError(
                f"step '{description}' failed on {self.engine.dialect}: {error}"
            ) from None

    def stage(
        self, definition: CohortDefinition, today: dt.date, *, person_id: int | None = None
    ) -> list[Finding]:
        """Create the staging views (for one person only, when ``person_id`` is given)."""
        self.say("check tables and columns")
        views, findings = plan_staging(definition, self.engine.tables())
        if person_id is not None:
            views = [_for_person(view, person_id) for view in views]
        for view in views:
            self._run(
                f"staging {view.table}", _create_view(view.name, view.select, self.engine.dialect)
            )
        if person_id is not None and not self.engine.fetch_rows(_COUNT_PERSONS)[0][0]:
            raise CohortError(f"person {person_id} is not in table 'person' of the source")
        self.say("check data quality")
        quality, duplicated, self.person_periods = check_sources(self.engine, views, today)
        findings += quality
        for view in views:
            if view.name in duplicated:
                self._dedupe(view)
        _warn(findings)
        return [*self.engine.findings, *findings]  # the engine's were warned when it opened

    def cohort_findings(self, definition: CohortDefinition, *, index: bool = True) -> list[Finding]:
        """Findings once the concept sets (and, with ``index``, the index events) exist:
        listed concepts missing from the vocabulary, implausible years of birth; warned."""
        findings = self._missing_concepts(definition)
        if index:
            findings += check_index_events(self.engine)
        _warn(findings)
        return findings

    def _dedupe(self, view: StagingView) -> None:
        dialect = self.engine.dialect
        self._run(f"staging {view.table}", render(f"DROP VIEW {view.name}", dialect))
        self._run(
            f"staging {view.table}",
            _create_view(view.name, f"SELECT DISTINCT * FROM ({view.select}) AS rows", dialect),
        )

    def _missing_concepts(self, definition: CohortDefinition) -> list[Finding]:
        """Listed concept ids absent from ``concept``: each one named while a set has at most
        :data:`_NAMED_MISSING`, else counted with examples (a set of 100,000 made-up ids
        gives one finding, not 100,000)."""
        rows = self.engine.fetch_rows(
            render(
                "SELECT DISTINCT i.concept_set, i.concept_id FROM concept_ids AS i "
                "WHERE NOT EXISTS (SELECT 1 FROM stg_concept AS c "
                "WHERE c.concept_id = i.concept_id)",
                self.engine.dialect,
            )
        )
        missing: dict[str, list[int]] = {}
        for name, cid in rows:
            missing.setdefault(str(name), []).append(int(cid))
        findings = []
        for name in definition.concept_sets:
            ids = sorted(missing.get(name, []))
            if len(ids) > _NAMED_MISSING:
                examples = ", ".join(map(str, ids[:3]))
                findings.append(
                    Finding(
                        "concept",
                        "concept_id",
                        f"{len(ids)} concept ids of concept set '{name}' are not in the vocabulary",
                        count=len(ids),
                        example=examples,
                    )
                )
                continue
            findings += [
                Finding(
                    "concept",
                    "concept_id",
                    f"concept {cid}, used in concept set '{name}', is not in the vocabulary",
                )
                for cid in ids
            ]
        return findings

    def run_steps(self, steps: list[Step]) -> None:
        for step in steps:
            self.say(step.description)
            with self._naming(step.description):
                self.engine.create_table(step)

    def attrition(self, definition: CohortDefinition) -> list[dict[str, Any]]:
        self.say("count attrition")
        steps, sql = attrition_query(definition)
        row = self.engine.fetch_rows(render(sql, self.engine.dialect))[0]
        table, persons_before, events_before = [], None, None
        for position, step in enumerate(steps):
            persons, events = int(row[2 * position]), int(row[2 * position + 1])
            if step.quality and (persons, events) == (persons_before, events_before):
                continue  # a data-quality step that removed nothing
            table.append(
                {
                    "step": step.name,
                    "description": step.description,
                    "persons": persons,
                    "index_events": events,
                    "persons_dropped": 0 if persons_before is None else persons_before - persons,
                    "index_events_dropped": 0 if events_before is None else events_before - events,
                }
            )
            persons_before, events_before = persons, events
        if persons_before == 0:
            lines = "\n".join(f"  {s['description']}: {s['persons']} persons" for s in table)
            raise CohortError(f"cohort '{definition.name}' is empty; attrition:\n{lines}")
        if definition.landmarks is not None:
            table += self._landmark_attrition(definition, table[-1])
        return table

    def _landmark_attrition(
        self, definition: CohortDefinition, entries: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """One row per landmark after the entry steps: the persons (and rows, one each) still
        at risk there; what each drops is counted from the row above, as for the entry steps
        (at risk at a landmark implies at risk at every earlier one)."""
        rows = self.engine.fetch_rows(
            render(landmark_attrition_query(definition), self.engine.dialect)
        )
        table, persons_before, events_before = [], entries["persons"], entries["index_events"]
        for landmark, persons, events in rows:
            persons, events = int(persons), int(events)
            table.append(
                {
                    "step": f"landmark_{int(landmark)}",
                    "description": f"At risk at day {int(landmark)} after entry",
                    "persons": persons,
                    "index_events": events,
                    "persons_dropped": persons_before - persons,
                    "index_events_dropped": events_before - events,
                }
            )
            persons_before, events_before = persons, events
        return table

    def features(
        self,
        definition: CohortDefinition,
        choose: ConceptChooser | None = None,
        *,
        columns_of: TrainedColumns | None = None,
    ) -> tuple[list[FeatureColumn], AssembledDataset]:
        """Feature steps, then the dataset. ``choose`` picks domain-wide concepts (default: by
        prevalence in the cohort); ``columns_of`` gives a model's concepts and columns."""
        plan = plan_features(definition)
        if columns_of is not None:
            choose = self._trained(columns_of)
        choose = choose or self._by_prevalence
        if not self.engine.assemble_locally:
            self.run_steps(plan.steps)
            for scratch in plan.scratch:  # the domain scans have served: free their memory
                self._drop(scratch)
            return self._assemble_in_sql(definition, plan, choose, columns_of)
        base = [slot for slot in plan.layout if isinstance(slot, FeatureColumn) and not slot.table]
        filler = ColumnFiller(
            self._fetch,
            base,
            outcomes=_outcomes(definition),
            landmarks=_has_landmarks(definition),
        )
        try:
            chosen = self._run_and_fill(plan, choose, filler)
            self._note_unseen(plan)
            columns = _kept(definition, _laid_out(plan, chosen), columns_of)
            self.say("assemble dataset")
            table = filler.table(_schema(definition, columns))
        finally:
            filler.close()
        return columns, ArrowDataset(table)

    def _run_and_fill(
        self, plan: FeaturePlan, choose: ConceptChooser, filler: ColumnFiller
    ) -> dict[str, list[FeatureColumn]]:
        """Run the feature steps, each domain scan followed by its tables, and fill each table's
        columns as soon as it exists (the filler places them while the next step runs); a scan
        is dropped once its tables exist. Returns each domain slot's columns by long table."""
        slots = {slot.long_table: slot for slot in plan.layout if isinstance(slot, DomainSlot)}
        fixed = [slot for slot in plan.layout if isinstance(slot, FeatureColumn) and slot.table]
        readers = Counter(plan.reads.values())
        chosen: dict[str, list[FeatureColumn]] = {}
        for step in plan.schedule():
            self.run_steps([step])
            if step.name in slots:
                chosen[step.name] = self._fill_domain(slots[step.name], choose, filler)
            else:
                filler.fill(step.name, [c for c in fixed if c.table == step.name])
            scan = plan.reads.get(step.name)
            if scan is not None:
                readers[scan] -= 1
                if not readers[scan]:  # the scan has served: free its memory
                    self._drop(scan)
        return chosen

    def _fill_domain(
        self, slot: DomainSlot, choose: ConceptChooser, filler: ColumnFiller
    ) -> list[FeatureColumn]:
        """A domain slot's concepts chosen, its columns filled from its long table, which is
        then dropped."""
        _, _, resolved = resolve_domain(slot, choose(slot))
        self.say(f"fill {slot.item.domain.value} features in window {slot.window_name}")
        filler.fill(slot.long_table, resolved)
        self._drop(slot.long_table)
        return resolved

    def _drop(self, table: str) -> None:
        self._run("drop work table", render(f"DROP TABLE {table}", self.engine.dialect))

    def _assemble_in_sql(
        self,
        definition: CohortDefinition,
        plan: FeaturePlan,
        choose: ConceptChooser,
        columns_of: TrainedColumns | None,
    ) -> tuple[list[FeatureColumn], AssembledDataset]:
        """Pivot and join in the engine; the engine holds the result (Spark keeps it there,
        to count and write it without collecting it to the driver)."""
        columns = _kept(definition, self._resolve(plan, choose), columns_of)
        self.say("assemble dataset")
        query = dataset_query(
            columns,
            plan.tables,
            outcomes=_outcomes(definition),
            landmarks=_has_landmarks(definition),
        )
        return columns, self.engine.dataset(
            render(query, self.engine.dialect), _schema(definition, columns)
        )

    def _trained(self, columns_of: TrainedColumns) -> ConceptChooser:
        """A model's concepts, kept whether or not this source records them; those with no
        record in the window for anyone in the cohort are noted in :attr:`unseen`."""

        def choose(slot: DomainSlot) -> list[int]:
            chosen = columns_of.choose(slot)
            if not chosen:
                return chosen
            sql = (
                f"SELECT DISTINCT concept_id FROM {slot.long_table} "
                f"WHERE concept_id IN ({', '.join(map(str, chosen))})"
            )
            seen = {int(row[0]) for row in self.engine.fetch_rows(render(sql, self.engine.dialect))}
            absent = [concept_id for concept_id in chosen if concept_id not in seen]
            if absent:
                self._unseen[slot.long_table] = _unseen_finding(slot, absent)
            return chosen

        return choose

    def _fetch(self, sql: str) -> pa.Table:
        return self.engine.fetch_arrow(render(sql, self.engine.dialect))

    def _by_prevalence(self, slot: DomainSlot) -> list[int]:
        (size,) = self.engine.fetch_rows("SELECT COUNT(*) FROM cohort")[0]
        threshold = _min_persons(slot.item.min_prevalence, int(size))
        sql = render(prevalence_query(slot, threshold), self.engine.dialect)
        return [int(row[0]) for row in self.engine.fetch_rows(sql)]

    def _resolve(self, plan: FeaturePlan, choose: ConceptChooser) -> list[FeatureColumn]:
        """Columns in layout order; domain slots get their concepts, then are pivoted in SQL."""
        chosen: dict[str, list[FeatureColumn]] = {}
        for slot in plan.layout:
            if not isinstance(slot, DomainSlot):
                continue
            step, table, resolved = resolve_domain(slot, choose(slot))
            if step is not None and table is not None:
                self.run_steps([step])
                plan.tables.append(table)
            self._drop(slot.long_table)  # it has served (prevalence, pivot): free its memory
            chosen[slot.long_table] = resolved
        self._note_unseen(plan)
        return _laid_out(plan, chosen)

    def _note_unseen(self, plan: FeaturePlan) -> None:
        """:attr:`unseen` in layout order, whatever order the slots were resolved in."""
        tables = [slot.long_table for slot in plan.layout if isinstance(slot, DomainSlot)]
        self.unseen = [self._unseen[table] for table in tables if table in self._unseen]


_NAMED_MISSING = 5  # missing concepts of one set named one by one; more are counted


def _warn(findings: list[Finding]) -> None:
    for finding in findings:
        warnings.warn(str(finding), DataQualityWarning, stacklevel=4)


def _for_person(view: StagingView, person_id: int) -> StagingView:
    if view.table in ("concept", "concept_ancestor"):
        return view
    select = f"SELECT * FROM ({view.select}) AS v WHERE v.person_id = {int(person_id)}"
    return replace(view, select=select)


def _laid_out(plan: FeaturePlan, chosen: dict[str, list[FeatureColumn]]) -> list[FeatureColumn]:
    """The columns in layout order, each domain slot replaced by its ``chosen`` columns."""
    columns: list[FeatureColumn] = []
    for slot in plan.layout:
        columns += chosen[slot.long_table] if isinstance(slot, DomainSlot) else [slot]
    return columns


def _min_persons(fraction: float, size: int) -> int:
    """Smallest count of index events that reaches prevalence ``fraction`` (at least 1)."""
    return max(1, -(-round(fraction * size * 1e9) // 10**9))


def _schema(definition: CohortDefinition, columns: list[FeatureColumn]) -> pa.Schema:
    return pa.schema(survival_schema(definition) + [(c.name, _DTYPES[c.dtype]) for c in columns])


def _unseen_finding(slot: DomainSlot, absent: list[int]) -> Finding:
    table = slot.item.domain.value
    examples = ", ".join(map(str, absent[:5])) + (", ..." if len(absent) > 5 else "")
    return Finding(
        table,
        f"{table.split('_')[0]}_concept_id",
        f"{len(absent)} of the --features-of model's concepts ({examples}) have no record in "
        f"window '{slot.window_name}' for anyone in the cohort; their columns are kept, 0 or "
        "missing for everyone: check how this source codes them",
    )


def _kept(
    definition: CohortDefinition, columns: list[FeatureColumn], columns_of: TrainedColumns | None
) -> list[FeatureColumn]:
    """The columns to write, names checked: all of them, or exactly a model's."""
    _check_names(definition, columns)
    return columns if columns_of is None else columns_of.select(columns)


def model_columns(
    model_dir: Path, definition: CohortDefinition
) -> tuple[TrainedColumns, FeaturesOf]:
    """The feature columns of the model in ``model_dir``, and what the manifest records of it.

    Raises
    ------
    ModelDirectoryError
        When ``model_dir`` is not a valid model directory (see ``load_model``).
    CohortError
        When the model was trained on another cohort definition than ``definition``, or its
        training manifest names none; the message gives both hashes.
    """
    from prognosis.models.store import load_model  # models sit above the cohort layer

    saved = load_model(model_dir)
    recorded = saved.training_manifest.definition
    trained = recorded.sha256 if recorded else None
    expected = definition_hash(definition)
    if trained != expected:
        what = f"definition {trained}" if trained else "no definition hash"
        raise CohortError(
            f"--features-of {model_dir}: the model was trained on a dataset with {what} "
            f"(its training_manifest.json), but cohort '{definition.name}' has definition "
            f"{expected}; build with the definition the model was trained on, or drop "
            "--features-of"
        )
    columns = TrainedColumns.of(saved.feature_names, saved.features, origin=f"model {model_dir}")
    record = FeaturesOf(
        model=str(model_dir),
        training_manifest_sha256=sha256_file(Path(model_dir) / "training_manifest.json"),
        model_name=saved.info.model,
        columns=len(columns.names),
    )
    return columns, record


def _check_names(definition: CohortDefinition, columns: list[FeatureColumn]) -> None:
    seen = {name for name, _ in survival_schema(definition)}
    for column in columns:
        if column.name in seen:
            raise CohortError(
                f"two features would both be called '{column.name}'; rename a concept-set feature"
            )
        seen.add(column.name)


def _manifest(
    definition: CohortDefinition,
    definition_path: str | None,
    source: Source,
    dialect: str,
    today: dt.date,
    counts: dict[str, Any],
) -> DatasetManifest:
    return DatasetManifest(
        cohort=definition.name,
        definition=RecordedDefinition(
            path=definition_path,
            sha256=definition_hash(definition),
            content=definition.canonical(),
        ),
        source=source.describe(),
        engine=dialect,
        build_date=today.isoformat(),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        counts=BuildCounts(**counts),
        versions=package_versions(
            ("prognosis", "duckdb", "sqlglot", "pyarrow", "pydantic", "psycopg")
        ),
    )


@contextlib.contextmanager
def _output_folder(out_dir: Path) -> Iterator[Path]:
    """The temporary folder the outputs are written into; on success it replaces ``out_dir``."""
    with (
        claim_output(out_dir, OutputKind.DATASET, overwrite=True),
        atomic_directory(out_dir) as folder,
    ):
        yield folder


def _settle(written: Callable[[], None]) -> None:
    """Wait for ``dataset.parquet`` whatever happened (its error, if any, was raised already
    or is overtaken by the build's)."""
    with contextlib.suppress(Exception):
        written()


def _write(
    folder: Path,
    features: tuple[Feature, ...],
    attrition: list[dict[str, Any]],
    manifest: DatasetManifest,
) -> None:
    """The JSON outputs beside ``dataset.parquet``, and the manifest with every file's hash."""
    write_features(folder / "features.json", features)
    write_attrition(folder / "attrition.json", [AttritionStep(**row) for row in attrition])
    files = {
        name: sha256_file(folder / name)
        for name in ("dataset.parquet", "features.json", "attrition.json")
    }
    write_manifest(folder / "manifest.json", replace(manifest, files=files))
