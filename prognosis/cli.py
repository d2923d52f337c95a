"""The ``prognosis`` command line: each command parses options, calls one function of
:mod:`prognosis.workflow`, and prints its result."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from rich.console import Console, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from prognosis import workflow
from prognosis.cohort.sql import DIALECTS
from prognosis.exceptions import DataQualityWarning, PrognosisError

if TYPE_CHECKING:
    from prognosis.artifacts import MetricsFile
    from prognosis.cohort import BuildResult
    from prognosis.evaluation.verdict import Verdict

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


console = Console(stderr=True, highlight=False)  # progress, warnings, errors
results = Console(highlight=False)  # what a command produces


class _ModelChoice(click.Choice):
    """The registry's model names as a ``click.Choice``, read when first needed: the registry
    imports scikit-learn, which ``prognosis --help`` and ``cohort build`` do without."""

    def __init__(self) -> None:
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from prognosis.models.registry import MODEL_NAMES

        return MODEL_NAMES


_SUBGROUP = click.option(
    "--subgroup",
    "subgroups",
    multiple=True,
    metavar="COLUMN",
    help="A categorical feature column whose groups are also measured (repeatable); sex, age "
    "bands and index concept always are.",
)

_OVERWRITE = click.option(
    "--overwrite", is_flag=True, help="Replace a previous output of this command at --out."
)


def _n_boot(default: int, help: str) -> Callable[[F], F]:
    """``--n-boot``: a number of bootstrap resamples, 0 or more."""
    return click.option(
        "--n-boot", type=click.IntRange(min=0), default=default, show_default=True, help=help
    )


def _fail(error: PrognosisError) -> NoReturn:
    console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
    sys.exit(1)


@contextlib.contextmanager
def _data_warnings(quiet: bool) -> Iterator[None]:
    """Print data-quality warnings raised inside the block (after it, once)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        try:
            yield
        finally:
            # once each: a fit warns again in every cross-validation fold
            for message in [] if quiet else dict.fromkeys(str(w.message) for w in caught):
                console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


class _Steps:
    """Progress on stderr (unless quiet): each step's line as it starts, its duration as it
    ends, and, along a long step (bootstrap, pages), a bar with a time estimate.

    The bar is drawn only on a terminal: in a log (stderr redirected) it would be a stream of
    redraws, so there each step's two lines are all.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.current: str | None = None
        self.started = time.perf_counter()
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, message: str) -> None:
        self._finish()
        self.current, self.started = message, time.perf_counter()
        if not self.quiet:
            console.print(f"  [cyan]…[/cyan] {escape(message)}", soft_wrap=True)

    def count(self, done: int, total: int) -> None:
        """Advance the current step's bar to ``done`` of ``total``."""
        if self.quiet or not console.is_terminal:
            return
        if self.bar is None or self.task is None:
            self.bar = Progress(
                TextColumn("    {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(escape(self.current or ""), total=total)
        self.bar.update(self.task, completed=done, total=total)

    def _finish(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = self.task = None
        if self.current is not None and not self.quiet:
            elapsed = time.perf_counter() - self.started
            console.print(
                f"  [green]✓[/green] {escape(self.current)} [dim]{elapsed:.2f} s[/dim]",
                soft_wrap=True,
            )
        self.current = None

    def close(self) -> None:
        self._finish()


def _print_verdict(verdict: Verdict) -> None:
    """The verdict's warnings on stderr, whatever ``--quiet`` says."""
    from prognosis.evaluation.verdict import warning_lines

    for line in warning_lines(verdict):
        console.print(f"[bold yellow]{escape(line)}[/bold yellow]", soft_wrap=True)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Print a :class:`PrognosisError` raised inside the block in red, and exit 1."""
    try:
        yield
    except PrognosisError as error:
        _fail(error)


@contextlib.contextmanager
def _steps(quiet: bool) -> Iterator[_Steps]:
    """Progress of the steps inside the block; the last one closes before an error prints."""
    steps = _Steps(quiet)
    try:
        yield steps
    except PrognosisError as error:
        steps.close()
        _fail(error)
    steps.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="prognosis")
def main() -> None:
    """Prognosis models from OMOP CDM health records: cohorts, models, reports."""


@main.group()
def cohort() -> None:
    """Compile and build cohort definitions (cohorts/*.yaml)."""


@cohort.command("sql")
@click.argument("definition", type=click.Path(path_type=Path))
@click.option("--dialect", type=click.Choice(DIALECTS), default="duckdb", show_default=True)
def cohort_sql(definition: Path, dialect: str) -> None:
    """Print the SQL that builds DEFINITION, in the chosen dialect."""
    with _errors():
        click.echo(workflow.cohort_sql(definition, dialect))


@cohort.command("build")
@click.argument("definition", type=click.Path(path_type=Path))
@click.option(
    "--source",
    default="eunomia",
    show_default=True,
    help="eunomia, duckdb:///PATH, a folder of CSV/Parquet files, "
    "postgresql://USER@HOST:PORT/DB?schema=SCHEMA, or spark://MASTER?path=DIR|schema=SCHEMA",
)
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [data/cohorts/NAME]")
@click.option(
    "--features-of",
    type=click.Path(path_type=Path),
    help="A fitted model's folder: build exactly its feature columns (external validation "
    "on another source).",
)
@_OVERWRITE
@click.option("--quiet", is_flag=True, help="Print only errors.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def cohort_build(
    definition: Path,
    source: str,
    out: Path | None,
    features_of: Path | None,
    overwrite: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Build DEFINITION on SOURCE into a time-to-event dataset."""
    with _steps(quiet) as steps, _data_warnings(quiet):
        result = workflow.build_dataset(
            definition,
            source,
            out=out,
            features_of=features_of,
            overwrite=overwrite,
            progress=steps,
        )
    if as_json:
        click.echo(json.dumps(_summary(result), indent=2))
    elif not quiet:
        _print_build(result)


def _print_build(result: BuildResult) -> None:
    _print_attrition(result.attrition)
    results.print(
        f"[bold]{result.persons}[/bold] persons, {result.index_events} index events, "
        f"events {result.events}, {result.features} features → {result.out_dir} "
        f"({result.seconds:.1f} s)"
    )


def _summary(result: BuildResult) -> dict[str, Any]:
    return {
        "out_dir": str(result.out_dir),
        "persons": result.persons,
        "index_events": result.index_events,
        "events": result.events,
        "features": result.features,
        "attrition": result.attrition,
        "data_quality": [str(f) for f in result.findings],
        "seconds": round(result.seconds, 3),
    }


def _print_attrition(attrition: list[dict]) -> None:
    table = Table(title="Attrition", title_justify="left")
    for name in ("step", "persons", "index events", "dropped"):
        table.add_column(name, justify="left" if name == "step" else "right")
    for row in attrition:
        table.add_row(
            row["description"],
            str(row["persons"]),
            str(row["index_events"]),
            str(row["persons_dropped"]),
        )
    results.print(table)


_OUTCOME = click.option(
    "--outcome",
    help="Of a dataset built from outcomes:, the one outcome to model (default: each of them).",
)


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--model", "model_name", type=_ModelChoice(), required=True)
@click.option("--horizon", "horizons", type=float, multiple=True, required=True, help="Days.")
@click.option("--split", default="cv", show_default=True, help="cv, cv:K, temporal:DATE or none")
@click.option("--seed", type=int, default=0, show_default=True)
@_n_boot(200, "Bootstrap resamples.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model directory.")
@_OVERWRITE
@click.option(
    "--censoring-model",
    default="km",
    show_default=True,
    help="Censoring weights of the validation: km (Kaplan-Meier), or cox:COL,COL (a Cox model "
    "of the censoring time on those columns, when censoring depends on them).",
)
@click.option(
    "--censor-competing",
    is_flag=True,
    help="Treat competing events as censoring at their date (a cause-specific model of the "
    "outcome, for single-event models; its risks ignore the competing events).",
)
@_SUBGROUP
@_OUTCOME
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="An estimator parameter, e.g. --param penalizer=0.1 (repeatable; see docs/models.md).",
)
@click.option("--quiet", is_flag=True, help="No progress or metrics table (warnings still print).")
def fit(
    dataset_dir: Path,
    model_name: str,
    horizons: tuple[float, ...],
    split: str,
    seed: int,
    n_boot: int,
    out: Path,
    overwrite: bool,
    censoring_model: str,
    censor_competing: bool,
    subgroups: tuple[str, ...],
    outcome: str | None,
    params: tuple[str, ...],
    quiet: bool,
) -> None:
    """Fit a survival model on DATASET_DIR and save it, with its validation metrics, to OUT.

    A dataset built from outcomes: gets one model per outcome, in OUT/<outcome>, unless
    --outcome names one.
    """
    options = workflow.FitOptions(
        model_name,
        horizons,
        split,
        seed,
        n_boot,
        censoring_model,
        censor_competing,
        subgroups,
        outcome,
        params,
    )
    with _steps(quiet) as steps, _data_warnings(quiet=False):
        fitted = workflow.fit_outcomes(
            dataset_dir, options, out, overwrite=overwrite, progress=steps, count=steps.count
        )
    for model in fitted:
        if not quiet and model.validated:
            results.print(_metrics_table(model.saved.metrics))
        named = f" (outcome {model.outcome})" if model.outcome else ""
        results.print(f"model{named} → {model.out}")
        _print_verdict(model.verdict)


def _metrics_table(metrics: MetricsFile) -> Group | str:
    from prognosis.evaluation.summary import format_subgroups, format_table, performance_title

    if metrics.results is None:
        return ""
    title = performance_title(metrics)
    by_group = format_subgroups(metrics.results, title=title)
    table = format_table(metrics.results, title=title)
    return table if by_group is None else Group(table, by_group)


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Metrics JSON file.")
@_OVERWRITE
@click.option("--seed", type=int, default=0, show_default=True)
@_n_boot(200, "Bootstrap resamples.")
@click.option(
    "--censoring-model", default="km", show_default=True, help="km or cox:COL,COL (see fit)."
)
@_SUBGROUP
@click.option("--quiet", is_flag=True, help="No progress (errors and warnings still print).")
def evaluate(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    overwrite: bool,
    seed: int,
    n_boot: int,
    censoring_model: str,
    subgroups: tuple[str, ...],
    quiet: bool,
) -> None:
    """Measure a saved model on DATASET_DIR (held-out or external data)."""
    with _steps(quiet) as steps:
        metrics = workflow.evaluate(
            model_dir,
            dataset_dir,
            out,
            overwrite=overwrite,
            seed=seed,
            n_boot=n_boot,
            censoring_model=censoring_model,
            subgroups=subgroups,
            progress=steps,
            count=steps.count,
        )
        verdict = workflow.verdict(model_dir, metrics)
    results.print(_metrics_table(metrics))
    results.print(f"metrics → {out}")
    _print_verdict(verdict)


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("dataset_dir", required=False)
@click.option("--out", type=click.Path(path_type=Path), help="predictions.parquet to write.")
@_OVERWRITE
@click.option("--source", help="Score one person straight from this CDM (see cohort build).")
@click.option("--person-id", type=int, help="The person to score (with --source).")
@click.option("--index-date", type=click.DateTime(["%Y-%m-%d"]), help="Score as of this date.")
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="A landmark model: score the person on this day of their course (features as of it).",
)
def predict(
    model_dir: Path,
    dataset_dir: str | None,
    out: Path | None,
    overwrite: bool,
    source: str | None,
    person_id: int | None,
    index_date: dt.datetime | None,
    as_of: dt.datetime | None,
) -> None:
    """Risk at each horizon for every row of DATASET_DIR, or for one person of a CDM.

    DATASET_DIR is a dataset folder, or spark://MASTER?path=DATASET_DIR to score on Spark.
    """
    if dataset_dir is not None and out is not None:
        with _errors():
            scored = workflow.predict_dataset(model_dir, dataset_dir, out, overwrite=overwrite)
        where = " (on Spark)" if scored.on_spark else ""
        results.print(f"{scored.rows} predictions{where} → {out}")
        return
    day = index_date.date() if index_date else None
    with _errors(), _data_warnings(quiet=False):
        frame = workflow.predict_person(
            model_dir, source, person_id, day, as_of=as_of.date() if as_of else None
        )
    click.echo(frame.drop(columns=["person_id"]).to_string(index=False))


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("dataset")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="shap.parquet.")
@_OVERWRITE
@click.option("--background-rows", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Picks the background.")
@click.option("--quiet", is_flag=True, help="No progress (errors and warnings still print).")
def explain(
    model_dir: Path,
    dataset: str,
    out: Path,
    overwrite: bool,
    background_rows: int,
    seed: int,
    quiet: bool,
) -> None:
    """SHAP values of every row of DATASET (a dataset folder, or spark://MASTER?path=DIR).

    Writes person_id, index_date, base_value and shap_<feature> per feature, in the model's
    output unit, against BACKGROUND_ROWS reference rows of the dataset.
    """
    with _steps(quiet) as steps:
        scored = workflow.explain(
            model_dir,
            dataset,
            out,
            overwrite=overwrite,
            background_rows=background_rows,
            seed=seed,
            progress=steps,
            count=steps.count,
        )
    results.print(f"SHAP values of {scored.rows} rows → {out}")


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--models", required=True, help="Comma-separated, e.g. cox,rsf,xgb-cox")
@click.option("--horizon", "horizons", type=float, multiple=True, required=True)
@click.option("--split", default="cv", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@_n_boot(0, "Bootstrap resamples; 0: no intervals.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON on stdout.")
@_OUTCOME
@click.option("--quiet", is_flag=True, help="No progress (errors and warnings still print).")
def compare(
    dataset_dir: Path,
    models: str,
    horizons: tuple[float, ...],
    split: str,
    seed: int,
    n_boot: int,
    as_json: bool,
    outcome: str | None,
    quiet: bool,
) -> None:
    """Fit several models on the same folds and print one table, under the row of the
    "marginal incidence (no model)" reference (everyone given the training rows' risk): its
    Brier score is the one to beat, and ipa is 1 - Brier(model) / Brier(reference).

    A dataset built from outcomes: gets one table per outcome (--json: rows by outcome),
    unless --outcome names one.
    """
    from prognosis.evaluation.summary import format_comparison

    names = [name.strip() for name in models.split(",") if name.strip()]
    with _steps(quiet) as steps, _data_warnings(quiet=False):
        compared = workflow.compare_outcomes(
            dataset_dir,
            names,
            horizons,
            split=split,
            seed=seed,
            n_boot=n_boot,
            outcomes=None if outcome is None else [outcome],
            progress=steps,
        )
    if as_json:
        by_outcome = list(compared) != [None]
        click.echo(json.dumps(compared if by_outcome else compared[None], indent=2))
        return
    for name, rows in compared.items():
        of = "" if name is None else f", outcome {name}"
        results.print(format_comparison(rows, title=f"Models on {dataset_dir} ({split}{of})"))


@main.command()
@click.option("--persons", type=click.IntRange(min=1), required=True, help="Number of persons.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="DuckDB file to write.")
@_OVERWRITE
@click.option("--quiet", is_flag=True, help="Print only errors.")
def synth(persons: int, seed: int, out: Path, overwrite: bool, quiet: bool) -> None:
    """Write a synthetic OMOP CDM with planted hazards (truth in OUT's .truth.json)."""
    with _steps(quiet) as steps:
        written = workflow.synthesize(
            out, persons=persons, seed=seed, overwrite=overwrite, progress=steps
        )
    if not quiet:
        results.print(f"{persons} persons → {out}; planted model in {written.truth_path}")
        results.print(f"counts: {written.truth.counts}")


# --- report ---------------------------------------------------------------------------------


@main.group()
def report() -> None:
    """Write HTML reports: one on a model, and one per patient."""


@report.command("model")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Report folder.")
@_OVERWRITE
@click.option(
    "--metrics",
    "metrics_path",
    type=click.Path(path_type=Path),
    help="metrics.json from `prognosis evaluate`, shown instead of the stored ones.",
)
@_n_boot(200, "Bootstrap resamples, when the model must be evaluated on DATASET_DIR.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress (errors and warnings still print).")
def report_model(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    overwrite: bool,
    metrics_path: Path | None,
    n_boot: int,
    seed: int,
    quiet: bool,
) -> None:
    """Write OUT/index.html: the model in MODEL_DIR on the cohort in DATASET_DIR."""
    with _steps(quiet) as steps:
        written = workflow.report_model(
            model_dir,
            dataset_dir,
            out,
            metrics_path=metrics_path,
            n_boot=n_boot,
            seed=seed,
            overwrite=overwrite,
            progress=steps,
            count=steps.count,
        )
    results.print(f"model report → {written.page}", soft_wrap=True)
    _print_verdict(written.verdict)


@report.command("patients")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder of pages.")
@_OVERWRITE
@click.option("--ids", multiple=True, help="person_ids, comma-separated (repeatable).")
@click.option("--sample", type=int, help="Report on this many persons drawn at random.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--mapping-dir",
    type=click.Path(path_type=Path),
    help="Private folder for the pseudonym key and mapping "
    "[data/pseudonyms/DATASET_DIR name]; never inside --out.",
)
@click.option(
    "--source", help="A landmark model: the CDM to score each patient from on --as-of too."
)
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="With --source: the day the course ends on [today].",
)
@click.option("--quiet", is_flag=True, help="No progress (errors and warnings still print).")
def report_patients(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    overwrite: bool,
    ids: tuple[str, ...],
    sample: int | None,
    seed: int,
    mapping_dir: Path | None,
    source: str | None,
    as_of: dt.datetime | None,
    quiet: bool,
) -> None:
    """One page per patient plus OUT/index.html, patients named by pseudonyms.

    MODEL_DIR may be a folder of models, one per outcome (`prognosis fit` on a dataset of
    several outcomes): each page then shows a panel of the outcomes."""
    from prognosis.evaluation.verdict import warning_lines

    with _steps(quiet) as steps:
        written = workflow.report_patients(
            model_dir,
            dataset_dir,
            out,
            ids=_person_ids(ids),
            sample=sample,
            seed=seed,
            mapping_dir=mapping_dir,
            overwrite=overwrite,
            progress=steps,
            count=steps.count,
            source=source,
            as_of=as_of.date() if as_of else None,
        )
    for page in written.pages if len(written.pages) <= 20 else []:
        results.print(str(page), soft_wrap=True)
    results.print(f"{len(written.pages)} patient reports, index → {written.index}", soft_wrap=True)
    results.print(f"private pseudonym mapping (not linked) → {written.mapping}", soft_wrap=True)
    if written.verdict is not None:
        _print_verdict(written.verdict)
    for verdict in written.verdicts:  # a folder of models: each outcome's, named
        for line in warning_lines(verdict):
            text = f"{verdict.outcome}: {line}"
            console.print(f"[bold yellow]{escape(text)}[/bold yellow]", soft_wrap=True)


def _person_ids(texts: tuple[str, ...]) -> list[int]:
    """The person_ids of ``--ids 12,13 --ids 14``."""
    try:
        return [int(p) for text in texts for p in text.split(",") if p.strip()]
    except ValueError:
        raise PrognosisError(
            f"--ids takes whole numbers separated by commas, got {texts}"
        ) from None


if __name__ == "__main__":  # pragma: no cover
    main()
