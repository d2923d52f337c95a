"""The ``prognosis`` command line: each command parses options, calls the library, prints."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prognosis.cohort import build_cohort, compile_script, load_definition, parse_source
from prognosis.cohort.build import source_paths
from prognosis.cohort.sql import DIALECTS
from prognosis.exceptions import DataQualityWarning, PrognosisError
from prognosis.output_folders import OutputKind, claim_output
from prognosis.outputs import write_parquet_output

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


_OVERWRITE = click.option(
    "--overwrite", is_flag=True, help="Replace a previous output of this command at --out."
)


def _n_boot(default: int, help: str) -> Callable[[F], F]:
    """``--n-boot``: a number of bootstrap resamples, 0 or more."""
    return click.option(
        "--n-boot", type=click.IntRange(min=0), default=default, show_default=True, help=help
    )


def _fail(error: PrognosisError) -> None:
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
            for warning in [] if quiet else caught:
                message = escape(str(warning.message))
                console.print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True)


class _Steps:
    """Prints each build step with its duration (unless quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.current: str | None = None
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        self._finish()
        self.current, self.started = message, time.perf_counter()

    def _finish(self) -> None:
        if self.current is not None and not self.quiet:
            elapsed = time.perf_counter() - self.started
            console.print(f"  [green]✓[/green] {self.current} [dim]{elapsed:.2f} s[/dim]")
        self.current = None

    def close(self) -> None:
        self._finish()


@click.group()
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
    try:
        click.echo(compile_script(load_definition(definition), dialect))
    except PrognosisError as error:
        _fail(error)


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
    steps = _Steps(quiet)
    try:
        parsed, where = load_definition(definition), parse_source(source)
        out = out or Path("data/cohorts") / parsed.name
        protect = source_paths(where) + ([features_of] if features_of else [])
        with (
            claim_output(out, OutputKind.DATASET, overwrite=overwrite, protect=protect),
            _data_warnings(quiet),
        ):
            result = build_cohort(
                parsed,
                where,
                out,
                progress=steps,
                definition_path=str(definition),
                features_of=features_of,
            )
        steps.close()
    except PrognosisError as error:
        steps.close()
        _fail(error)
    if as_json:
        click.echo(json.dumps(_summary(result), indent=2))
    elif not quiet:
        _print_attrition(result.attrition)
        results.print(
            f"[bold]{result.persons}[/bold] persons, {result.index_events} index events, "
            f"events {result.events}, {result.features} features → {result.out_dir} "
            f"({result.seconds:.1f} s)"
        )


def _summary(result) -> dict:
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
@click.option("--quiet", is_flag=True)
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
    quiet: bool,
) -> None:
    """Fit a survival model on DATASET_DIR and save it, with its validation metrics, to OUT."""
    from prognosis import training
    from prognosis.dataset import load_dataset
    from prognosis.evaluation.censoring import parse_censoring_model
    from prognosis.evaluation.summary import format_table
    from prognosis.evaluation.validation import parse_split
    from prognosis.models.store import save_model

    steps = _Steps(quiet)
    try:
        with claim_output(out, OutputKind.MODEL, overwrite=overwrite, protect=[dataset_dir]):
            saved = training.fit_model(
                load_dataset(dataset_dir),
                model_name,
                horizons,
                parse_split(split),
                seed=seed,
                n_boot=n_boot,
                progress=steps,
                censor_competing=censor_competing,
                censoring_covariates=parse_censoring_model(censoring_model),
            )
            save_model(out, saved)
    except PrognosisError as error:
        steps.close()
        _fail(error)
    steps.close()
    if not quiet and saved.metrics.results is not None:
        results.print(format_table(saved.metrics.results))
    results.print(f"model → {out}")


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
def evaluate(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    overwrite: bool,
    seed: int,
    n_boot: int,
    censoring_model: str,
) -> None:
    """Measure a saved model on DATASET_DIR (held-out or external data)."""
    from prognosis import training
    from prognosis.artifacts import write_metrics
    from prognosis.dataset import load_dataset
    from prognosis.evaluation.censoring import parse_censoring_model
    from prognosis.evaluation.summary import format_table
    from prognosis.models.store import load_model

    try:
        protect = [model_dir, dataset_dir]
        with claim_output(out, OutputKind.METRICS, overwrite=overwrite, protect=protect):
            metrics = training.evaluate_model(
                load_model(model_dir),
                load_dataset(dataset_dir),
                n_boot=n_boot,
                seed=seed,
                censoring_covariates=parse_censoring_model(censoring_model),
            )
            write_metrics(out, metrics)
    except PrognosisError as error:
        _fail(error)
    if metrics.results is not None:
        results.print(format_table(metrics.results))
    results.print(f"metrics → {out}")


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("dataset_dir", required=False)
@click.option("--out", type=click.Path(path_type=Path), help="predictions.parquet to write.")
@_OVERWRITE
@click.option("--source", help="Score one person straight from this CDM (see cohort build).")
@click.option("--person-id", type=int, help="The person to score (with --source).")
@click.option("--index-date", type=click.DateTime(["%Y-%m-%d"]), help="Score as of this date.")
def predict(
    model_dir: Path,
    dataset_dir: str | None,
    out: Path | None,
    overwrite: bool,
    source: str | None,
    person_id: int | None,
    index_date: dt.datetime | None,
) -> None:
    """Risk at each horizon for every row of DATASET_DIR, or for one person of a CDM.

    DATASET_DIR is a dataset folder, or spark://MASTER?path=DATASET_DIR to score on Spark.
    """
    from prognosis import scoring, training
    from prognosis.dataset import load_dataset
    from prognosis.models.store import load_model
    from prognosis.spark_scoring import is_spark_url, score_on_spark

    try:
        if dataset_dir is not None and out is not None:
            protect = [model_dir] if is_spark_url(dataset_dir) else [model_dir, Path(dataset_dir)]
            with claim_output(out, OutputKind.PREDICTIONS, overwrite=overwrite, protect=protect):
                if is_spark_url(dataset_dir):
                    rows = score_on_spark("predict", model_dir, dataset_dir, out)
                    results.print(f"{rows} predictions (on Spark) → {out}")
                    return
                saved, loaded = load_model(model_dir), load_dataset(dataset_dir)
                frame = training.predict_frame(saved, loaded.frame, origin=str(dataset_dir))
                write_parquet_output(frame, out, OutputKind.PREDICTIONS)
            results.print(f"{len(frame)} predictions → {out}")
            return
        saved = load_model(model_dir)
        if source is None or person_id is None:
            raise PrognosisError(
                "give DATASET_DIR and --out, or --source and --person-id to score one person"
            )
        with _data_warnings(quiet=False):
            frame = scoring.score_person(
                saved, parse_source(source), person_id, index_date.date() if index_date else None
            )
    except PrognosisError as error:
        _fail(error)
    click.echo(frame.drop(columns=["person_id"]).to_string(index=False))


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("dataset")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="shap.parquet.")
@_OVERWRITE
@click.option("--background-rows", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Picks the background.")
def explain(
    model_dir: Path, dataset: str, out: Path, overwrite: bool, background_rows: int, seed: int
) -> None:
    """SHAP values of every row of DATASET (a dataset folder, or spark://MASTER?path=DIR).

    Writes person_id, index_date, base_value and shap_<feature> per feature, in the model's
    output unit, against BACKGROUND_ROWS reference rows of the dataset.
    """
    from prognosis import scoring
    from prognosis.dataset import load_dataset
    from prognosis.models.store import load_model
    from prognosis.spark_scoring import is_spark_url, score_on_spark

    try:
        protect = [model_dir] if is_spark_url(dataset) else [model_dir, Path(dataset)]
        with claim_output(out, OutputKind.SHAP_VALUES, overwrite=overwrite, protect=protect):
            if is_spark_url(dataset):
                rows = score_on_spark(
                    "explain", model_dir, dataset, out, background_rows=background_rows, seed=seed
                )
            else:
                loaded = load_dataset(dataset)
                background = scoring.background_rows(loaded.frame, background_rows, seed)
                frame = scoring.explain_frame(
                    load_model(model_dir), loaded.frame, background=background, origin=str(dataset)
                )
                write_parquet_output(frame, out, OutputKind.SHAP_VALUES)
                rows = len(frame)
    except PrognosisError as error:
        _fail(error)
    results.print(f"SHAP values of {rows} rows → {out}")


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--models", required=True, help="Comma-separated, e.g. cox,rsf,xgb-cox")
@click.option("--horizon", "horizons", type=float, multiple=True, required=True)
@click.option("--split", default="cv", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@_n_boot(0, "Bootstrap resamples; 0: no intervals.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON on stdout.")
def compare(
    dataset_dir: Path,
    models: str,
    horizons: tuple[float, ...],
    split: str,
    seed: int,
    n_boot: int,
    as_json: bool,
) -> None:
    """Fit several models on the same folds and print one table."""
    from prognosis import training
    from prognosis.dataset import load_dataset
    from prognosis.evaluation.validation import parse_split

    names = [name.strip() for name in models.split(",") if name.strip()]
    from prognosis.models.registry import MODEL_NAMES

    unknown = [name for name in names if name not in MODEL_NAMES]
    try:
        if unknown:
            raise PrognosisError(
                f"unknown model(s) {unknown}; choose from {', '.join(MODEL_NAMES)}"
            )
        rows = training.compare_models(
            load_dataset(dataset_dir), names, horizons, parse_split(split), seed=seed, n_boot=n_boot
        )
    except PrognosisError as error:
        _fail(error)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Models on {dataset_dir} ({split})")
    for column in rows[0]:
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        table.add_row(*(_cell(value) for value in row.values()))
    results.print(table)


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@main.command()
@click.option("--persons", type=click.IntRange(min=1), required=True, help="Number of persons.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="DuckDB file to write.")
@_OVERWRITE
@click.option("--quiet", is_flag=True, help="Print only errors.")
def synth(persons: int, seed: int, out: Path, overwrite: bool, quiet: bool) -> None:
    """Write a synthetic OMOP CDM with planted hazards (truth in OUT's .truth.json)."""
    from prognosis.synth import generate_cdm, truth_path

    steps = _Steps(quiet)
    try:
        truth = generate_cdm(out, persons=persons, seed=seed, progress=steps, overwrite=overwrite)
    except PrognosisError as error:
        steps.close()
        _fail(error)
    steps.close()
    if not quiet:
        results.print(f"{persons} persons → {out}; planted model in {truth_path(out)}")
        results.print(f"counts: {truth.counts}")


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
def report_model(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    overwrite: bool,
    metrics_path: Path | None,
    n_boot: int,
    seed: int,
) -> None:
    """Write OUT/index.html: the model in MODEL_DIR on the cohort in DATASET_DIR."""
    from prognosis.report import write_model_report

    try:
        path = write_model_report(
            model_dir,
            dataset_dir,
            out,
            metrics_path=metrics_path,
            n_boot=n_boot,
            seed=seed,
            overwrite=overwrite,
        )
    except PrognosisError as error:
        _fail(error)
    results.print(f"model report → {path}", soft_wrap=True)


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
def report_patients(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    overwrite: bool,
    ids: tuple[str, ...],
    sample: int | None,
    seed: int,
    mapping_dir: Path | None,
) -> None:
    """One page per patient plus OUT/index.html, patients named by pseudonyms."""
    from prognosis.report import write_patient_reports

    try:
        persons = [int(p) for text in ids for p in text.split(",") if p.strip()]
    except ValueError:
        _fail(PrognosisError(f"--ids takes whole numbers separated by commas, got {ids}"))
    try:
        written = write_patient_reports(
            model_dir,
            dataset_dir,
            out,
            ids=persons or None,
            sample=sample,
            seed=seed,
            mapping_dir=mapping_dir or Path("data/pseudonyms") / Path(dataset_dir).name,
            overwrite=overwrite,
        )
    except PrognosisError as error:
        _fail(error)
    for page in written.pages if len(written.pages) <= 20 else []:
        results.print(str(page), soft_wrap=True)
    results.print(f"{len(written.pages)} patient reports, index → {written.index}", soft_wrap=True)
    results.print(f"private pseudonym mapping (not linked) → {written.mapping}", soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    main()
