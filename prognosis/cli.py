"""The ``prognosis`` command line: each command parses options, calls the library, prints."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prognosis.cohort import build_cohort, compile_script, load_definition, parse_source
from prognosis.exceptions import DataQualityWarning, PrognosisError

__all__ = ["main"]

DIALECTS = ["duckdb", "postgres", "spark", "bigquery", "snowflake", "tsql"]

console = Console(stderr=True, highlight=False)  # progress, warnings, errors
results = Console(highlight=False)  # what a command produces


def _fail(error: PrognosisError) -> None:
    console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
    sys.exit(1)


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
    help="eunomia, duckdb:///PATH, a folder of CSV/Parquet files, or "
    "postgresql://USER@HOST:PORT/DB?schema=SCHEMA",
)
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [data/cohorts/NAME]")
@click.option("--quiet", is_flag=True, help="Print only errors.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def cohort_build(
    definition: Path, source: str, out: Path | None, quiet: bool, as_json: bool
) -> None:
    """Build DEFINITION on SOURCE into a time-to-event dataset."""
    steps = _Steps(quiet)
    try:
        parsed = load_definition(definition)
        out = out or Path("data/cohorts") / parsed.name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataQualityWarning)
            result = build_cohort(
                parsed, parse_source(source), out, progress=steps, definition_path=str(definition)
            )
        steps.close()
    except PrognosisError as error:
        steps.close()
        _fail(error)
    for warning in caught:
        if not quiet:
            message = escape(str(warning.message))
            console.print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True)
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
@click.option("--persons", type=click.IntRange(min=1), required=True, help="Number of persons.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="DuckDB file to write.")
@click.option("--quiet", is_flag=True, help="Print only errors.")
def synth(persons: int, seed: int, out: Path, quiet: bool) -> None:
    """Write a synthetic OMOP CDM with planted hazards (truth in OUT's .truth.json)."""
    from prognosis.synth import generate_cdm, truth_path

    steps = _Steps(quiet)
    truth = generate_cdm(out, persons=persons, seed=seed, progress=steps)
    steps.close()
    if not quiet:
        results.print(f"{persons} persons → {out}; planted model in {truth_path(out)}")
        results.print(f"counts: {truth.counts}")


if __name__ == "__main__":  # pragma: no cover
    main()
