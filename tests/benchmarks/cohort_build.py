"""Benchmark: build a cohort of about 100 features on synthetic CDMs of N persons.

For each size it measures, each in its own subprocess (so the peak RSS is that process's,
from ``os.wait4``), with the 1-minute load average before and after:

* ``prognosis cohort build`` (the CLI, as a user runs it), with its per-step timings;
* the same build in plain pandas (``pandas_reference.py``), whose dataset is compared with
  prognosis' value by value;
* the floor: one bare DuckDB statement that scans the same event rows, joins them to each
  person's index date and aggregates them by person, concept and window (docs/benchmarks.md).

CDMs are ``data/bench/cdm_<N>.duckdb`` (seed 42), generated when missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from prognosis.cohort.definition import (
    CohortDefinition,
    ConceptSetFeature,
    Domain,
    DomainFeature,
    Window,
    load_definition,
)

__all__ = ["Measurement", "compare_datasets", "floor_sql", "main", "measure"]

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "data" / "bench"
DEFINITION = ROOT / "tests" / "benchmarks" / "bench_cohort.yaml"
PYTHON = Path(sys.executable)
PROGNOSIS = PYTHON.parent / "prognosis"
SEED = 42
TARGET_SECONDS, TARGET_GB, TARGET_PANDAS, TARGET_FLOOR = 30.0, 4.0, 10.0, 2.5

console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)


@dataclass
class Measurement:
    """One subprocess run: wall time, peak RSS, exit status, machine load around it."""

    what: str
    wall_s: float
    cpu_s: float  # user + system, all threads: less sensitive to other jobs than wall time
    peak_rss_mb: float
    returncode: int
    load_before: float
    load_after: float
    stdout: str = ""
    stderr: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def measure(what: str, command: list[str], log_dir: Path) -> Measurement:
    """Run ``command``; wall time and peak RSS of that process alone (``os.wait4``)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"\W+", "_", what).strip("_")
    out_path, err_path = log_dir / f"{slug}.stdout", log_dir / f"{slug}.stderr"
    env = {**os.environ, "COLUMNS": "250"}  # rich: one progress line per step
    load_before = os.getloadavg()[0]
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(
        what,
        round(wall, 2),
        round(usage.ru_utime + usage.ru_stime, 2),
        round(usage.ru_maxrss / 1024, 1),  # kilobytes on Linux
        process.returncode,
        round(load_before, 2),
        round(os.getloadavg()[0], 2),
        out_path.read_text(),
        err_path.read_text(),
    )


def best_of(repeat: int, run) -> Measurement:
    """The fastest of ``repeat`` runs (all wall times kept in ``detail['walls']``)."""
    runs = [run() for _ in range(repeat)]
    best = min(runs, key=lambda m: (not m.ok, m.wall_s))
    best.detail["walls"] = [m.wall_s for m in runs]
    best.detail["loads"] = [(m.load_before, m.load_after) for m in runs]
    return best


# --- the four things measured ----------------------------------------------------------------


def ensure_cdm(persons: int, log_dir: Path) -> tuple[Path, Measurement | None]:
    """``data/bench/cdm_<persons>.duckdb``, generated (and timed) when missing."""
    path = BENCH / f"cdm_{persons}.duckdb"
    if path.is_file():
        return path, None
    command = [str(PROGNOSIS), "synth", "--persons", str(persons), "--seed", str(SEED)]
    generated = measure("generate CDM", [*command, "--out", str(path), "--quiet"], log_dir)
    if not generated.ok:
        raise RuntimeError(f"generating {path} failed:\n{generated.stderr}")
    return path, generated


_STEP = re.compile(r"✓ (?P<step>.+?) (?P<seconds>[0-9.]+) s$")


def run_prognosis(definition: Path, cdm: Path, out: Path, log_dir: Path) -> Measurement:
    """``prognosis cohort build`` with ``--json``; its step timings come from stderr."""
    command = [str(PROGNOSIS), "cohort", "build", str(definition)]
    command += ["--source", f"duckdb:///{cdm}", "--out", str(out), "--json", "--overwrite"]
    run = measure("prognosis", command, log_dir)
    steps: dict[str, float] = {}
    for line in run.stderr.splitlines():
        if found := _STEP.search(line.strip()):
            steps[found["step"]] = steps.get(found["step"], 0.0) + float(found["seconds"])
    run.detail["steps"] = steps
    if run.ok:
        summary = json.loads(run.stdout)
        run.detail |= {"rows": summary["index_events"], "features": summary["features"]}
        run.detail["build_seconds"] = summary["seconds"]
    return run


def run_pandas(definition: Path, cdm: Path, out: Path, log_dir: Path) -> Measurement:
    script = ROOT / "tests" / "benchmarks" / "pandas_reference.py"
    run = measure(
        "pandas", [str(PYTHON), str(script), str(definition), str(cdm), str(out)], log_dir
    )
    if run.ok:
        result = json.loads(run.stdout)
        run.detail |= {k: result[k] for k in ("steps", "rows", "features")}
    return run


_FLOOR_CHILD = """
import sys, time, duckdb
sql, cdm = open(sys.argv[1]).read(), sys.argv[2]
started = time.perf_counter()
con = duckdb.connect(":memory:")
con.execute("SET preserve_insertion_order = false")
con.execute("SET enable_progress_bar = false")
con.execute(f"ATTACH '{cdm}' AS src (READ_ONLY)")
con.execute(sql)
rows, persons = con.execute("SELECT COUNT(*), COUNT(DISTINCT person_id) FROM floor").fetchone()
print(rows, persons, round(time.perf_counter() - started, 3))
"""


def run_floor(definition: CohortDefinition, cdm: Path, log_dir: Path) -> Measurement:
    """The bare DuckDB statement of :func:`floor_sql`, in a process that imports only duckdb."""
    sql_path = log_dir / "floor.sql"
    sql_path.write_text(floor_sql(definition))
    run = measure("floor", [str(PYTHON), "-c", _FLOOR_CHILD, str(sql_path), str(cdm)], log_dir)
    if run.ok:
        rows, persons, seconds = run.stdout.split()[-3:]
        run.detail |= {"groups": int(rows), "persons": int(persons), "query_s": float(seconds)}
    return run


# --- the floor -------------------------------------------------------------------------------

_COLUMNS = {
    Domain.CONDITION: ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    Domain.DRUG: ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    Domain.MEASUREMENT: ("measurement", "measurement_concept_id", "measurement_date"),
}


def floor_sql(definition: CohortDefinition) -> str:
    """One statement: index dates, then the feature rows of every domain and window, aggregated.

    Each person's index is their first record of the index concepts, kept when it lies in an
    observation period with ``min_prior_observation`` days before it. Every event row of the
    feature domains inside a feature window is joined to it and grouped by person, concept and
    window: ``COUNT(*)``, plus ``arg_max(value, date)`` for measurements. A (domain, window)
    that a domain-wide feature reads keeps every concept; one read only by concept-set features
    keeps only the concept-set members. Windows of one domain must not overlap.
    """
    index = definition.index
    table, concept, date = _COLUMNS[index.domain]
    members = _members_sql(definition, index.concept_set)
    parts = [
        _domain_floor(definition, domain, reads)
        for domain, reads in _floor_reads(definition).items()
    ]
    return f"""CREATE TEMPORARY TABLE floor AS
WITH first_index AS (
  SELECT person_id, MIN({date}) AS index_date FROM src.{table}
  WHERE {concept} IN ({members}) GROUP BY person_id
), idx AS (
  SELECT i.person_id, i.index_date FROM first_index AS i
  JOIN src.observation_period AS op ON op.person_id = i.person_id
   AND op.observation_period_start_date <= i.index_date
   AND i.index_date <= op.observation_period_end_date
   AND DATE_DIFF('day', op.observation_period_start_date, i.index_date)
       >= {index.min_prior_observation}
)
{" UNION ALL ".join(parts)}"""


def _floor_reads(definition: CohortDefinition) -> dict[Domain, dict[str, set[str] | None]]:
    """domain -> window -> concept sets read there (None: every concept)."""
    reads: dict[Domain, dict[str, set[str] | None]] = {}
    for item in definition.features.items:
        if not isinstance(item, ConceptSetFeature | DomainFeature):
            continue
        for window in item.windows:
            by_window = reads.setdefault(item.domain, {})
            if isinstance(item, DomainFeature) or by_window.get(window, set()) is None:
                by_window[window] = None
            else:
                current = by_window.setdefault(window, set())
                assert current is not None
                current.add(item.concept_set)
    return reads


def _domain_floor(
    definition: CohortDefinition, domain: Domain, reads: dict[str, set[str] | None]
) -> str:
    table, concept, date = _COLUMNS[domain]
    offset = f"DATE_DIFF('day', i.index_date, e.{date})"
    conditions, cases = [], []
    for name, concept_sets in reads.items():
        inside = _between(offset, definition.features.windows[name])
        if concept_sets is not None:
            ids = " UNION ".join(_members_sql(definition, cs) for cs in sorted(concept_sets))
            inside += f" AND e.{concept} IN ({ids})"
        conditions.append(f"({inside})")
        cases.append(f"WHEN {_between(offset, definition.features.windows[name])} THEN '{name}'")
    last = ", arg_max(e.value_as_number, e.measurement_date) AS last_value"
    return f"""SELECT '{domain.value}' AS domain, e.person_id, e.{concept} AS concept_id,
  CASE {" ".join(cases)} END AS window_name, COUNT(*) AS n
  {last if domain is Domain.MEASUREMENT else ", CAST(NULL AS DOUBLE) AS last_value"}
FROM src.{table} AS e JOIN idx AS i ON i.person_id = e.person_id
WHERE {" OR ".join(conditions)}
GROUP BY ALL"""


def _between(expression: str, window: Window) -> str:
    return f"{expression} BETWEEN {window.start} AND {window.end}"


def _members_sql(definition: CohortDefinition, name: str) -> str:
    """The concept set's members as a SELECT on the source's own concept_ancestor."""
    concept_set = definition.concept_sets[name]
    ids = ", ".join(map(str, concept_set.include))
    select = f"SELECT UNNEST([{ids}])"
    if concept_set.descendants:
        select += (
            " UNION SELECT descendant_concept_id FROM src.concept_ancestor "
            f"WHERE ancestor_concept_id IN ({ids})"
        )
    if concept_set.exclude:
        excluded = ", ".join(map(str, concept_set.exclude))
        select = f"SELECT * FROM ({select}) EXCEPT SELECT UNNEST([{excluded}])"
    return select


# --- comparing the two datasets --------------------------------------------------------------


def compare_datasets(prognosis: Path, pandas: Path) -> list[str]:
    """Differences between the two ``dataset.parquet`` files (empty: identical)."""
    ours, theirs = pq.read_table(prognosis), pq.read_table(pandas)
    if ours.schema.names != theirs.schema.names:
        only_ours = sorted(set(ours.schema.names) - set(theirs.schema.names))
        only_theirs = sorted(set(theirs.schema.names) - set(ours.schema.names))
        return [f"columns differ: only prognosis {only_ours}, only pandas {only_theirs}"]
    if ours.num_rows != theirs.num_rows or not ours["person_id"].equals(theirs["person_id"]):
        persons = set(ours["person_id"].to_pylist()) ^ set(theirs["person_id"].to_pylist())
        return [
            f"rows differ: prognosis {ours.num_rows}, pandas {theirs.num_rows}; "
            f"{len(persons)} persons in one only, e.g. {sorted(persons)[:5]}"
        ]
    problems = []
    ids = ours["person_id"].to_pylist()
    for name in ours.schema.names:
        a, b = ours[name], theirs[name]
        if a.type != b.type:
            problems.append(f"{name}: type {a.type} (prognosis) vs {b.type} (pandas)")
        elif not a.equals(b):
            x, y = a.to_pylist(), b.to_pylist()
            rows = [r for r in range(len(x)) if x[r] != y[r] and not _both_nan(x[r], y[r])]
            if not rows:
                continue
            examples = ", ".join(f"person {ids[r]}: {x[r]} vs {y[r]}" for r in rows[:3])
            problems.append(f"{name}: {len(rows)} rows differ (prognosis vs pandas: {examples})")
    return problems


def _both_nan(x: Any, y: Any) -> bool:
    return isinstance(x, float) and isinstance(y, float) and x != x and y != y


def compare_attrition(prognosis: Path, pandas: Path) -> list[str]:
    ours = json.loads((prognosis / "attrition.json").read_text())
    theirs = json.loads((pandas / "attrition.json").read_text())
    pairs = [(o["step"], o["persons"], o["index_events"]) for o in ours]
    other = [(t["step"], t["persons"], t["index_events"]) for t in theirs]
    return [] if pairs == other else [f"attrition differs: prognosis {pairs}, pandas {other}"]


# --- one size, all sizes, printing -----------------------------------------------------------


def bench_size(persons: int, definition_path: Path, repeat: int, pandas: bool) -> dict[str, Any]:
    log_dir = BENCH / "out" / str(persons)
    cdm, generated = ensure_cdm(persons, log_dir)
    definition = load_definition(definition_path)
    ours_dir, pandas_dir = log_dir / "prognosis", log_dir / "pandas"
    result: dict[str, Any] = {"persons": persons, "cdm": _shown(cdm)}
    result["generate"] = generated
    result["prognosis"] = best_of(
        repeat, lambda: run_prognosis(definition_path, cdm, ours_dir, log_dir)
    )
    result["floor"] = best_of(repeat, lambda: run_floor(definition, cdm, log_dir))
    result["pandas"] = None
    result["differences"] = None
    if pandas:
        result["pandas"] = best_of(
            repeat, lambda: run_pandas(definition_path, cdm, pandas_dir, log_dir)
        )
        if result["pandas"].ok and result["prognosis"].ok:
            result["differences"] = compare_datasets(
                ours_dir / "dataset.parquet", pandas_dir / "dataset.parquet"
            ) + compare_attrition(ours_dir, pandas_dir)
    return result


_COLUMNS_SHOWN = ("what", "wall", "CPU", "peak RSS", "rows", "features", "load 1-min", "target")


def _row(run: Measurement | None, target: str = "") -> list[str]:
    if run is None:
        return ["not run", "", "", "", "", "", target]
    if not run.ok:
        tail = (run.stderr.strip().splitlines() or ["(no message)"])[-1][:60]
        wall = f"failed (exit {run.returncode}) after {run.wall_s:.1f} s: {tail}"
        return [wall, "", f"{run.peak_rss_mb / 1024:.2f} GB", "", "", _load(run), target]
    walls = run.detail.get("walls", [run.wall_s])
    wall = f"{run.wall_s:.1f} s" + (f" (of {', '.join(map(str, walls))})" if len(walls) > 1 else "")
    rows = run.detail.get("rows")
    groups = run.detail.get("groups")
    return [
        wall,
        f"{run.cpu_s:.1f} s",
        f"{run.peak_rss_mb / 1024:.2f} GB",
        f"{rows:,}" if rows is not None else f"{groups:,} groups" if groups is not None else "",
        str(run.detail.get("features", "")),
        _load(run),
        target,
    ]


def _load(run: Measurement) -> str:
    loads = run.detail.get("loads", [(run.load_before, run.load_after)])
    return " ".join(f"{a:.1f}→{b:.1f}" for a, b in loads)


def print_size(result: dict[str, Any]) -> None:
    persons = result["persons"]
    table = Table(
        title=f"Cohort build, {persons:,} persons ({result['cdm']})", title_justify="left"
    )
    for name in _COLUMNS_SHOWN:
        table.add_column(name, justify="left" if name in ("what", "wall") else "right")
    generated = result["generate"]
    present = ["present"] + [""] * (len(_COLUMNS_SHOWN) - 2)
    table.add_row("generate CDM", *(_row(generated) if generated else present))
    target = f"< {TARGET_SECONDS:.0f} s, < {TARGET_GB:.0f} GB" if persons >= 1_000_000 else ""
    table.add_row("prognosis cohort build", *_row(result["prognosis"], target))
    table.add_row("pandas reference", *_row(result["pandas"]))
    table.add_row("floor (bare DuckDB)", *_row(result["floor"]))
    console.print(table)
    for line in ratios(result):
        console.print(line)
    if result["differences"] is not None:
        if result["differences"]:
            console.print("[red]pandas and prognosis datasets DIFFER:[/red]")
            for line in result["differences"]:
                console.print(f"  {line}", soft_wrap=True)
        else:
            console.print("pandas and prognosis datasets: identical (schema, rows, every value)")
    _print_steps(result)


def ratios(result: dict[str, Any]) -> list[str]:
    """pandas / prognosis and prognosis / floor, in wall time and in CPU time."""
    ours, floor, pandas = result["prognosis"], result["floor"], result["pandas"]
    lines = []
    if ours.ok and pandas is not None and pandas.ok:
        lines.append(
            f"pandas / prognosis = {pandas.wall_s / ours.wall_s:.2f}x wall, "
            f"{pandas.cpu_s / ours.cpu_s:.2f}x CPU (aim ≥ {TARGET_PANDAS:.0f}x)"
        )
    elif pandas is not None:
        lines.append("pandas / prognosis: n/a (the pandas build failed)")
    if ours.ok and floor.ok:
        lines.append(
            f"prognosis / floor = {ours.wall_s / floor.wall_s:.2f}x wall, "
            f"{ours.cpu_s / floor.cpu_s:.2f}x CPU (aim ≤ {TARGET_FLOOR:g}x)"
        )
    return lines


def _print_steps(result: dict[str, Any], top: int = 12) -> None:
    steps = result["prognosis"].detail.get("steps", {})
    if not steps:
        return
    ranked = sorted(steps.items(), key=lambda kv: -kv[1])
    total = sum(steps.values())
    lines = [f"{seconds:6.2f} s  {name}" for name, seconds in ranked[:top]]
    rest = sum(seconds for _, seconds in ranked[top:])
    lines.append(f"{rest:6.2f} s  ({len(ranked) - top} other steps)")
    console.print(f"prognosis steps, slowest first (sum {total:.1f} s):\n  " + "\n  ".join(lines))
    pandas = result["pandas"]
    if pandas is not None and pandas.ok:
        console.print(
            "pandas steps: "
            + ", ".join(
                f"{name} {seconds:.1f} s" for name, seconds in pandas.detail["steps"].items()
            )
        )


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in result.items():
        if isinstance(value, Measurement):
            value = {k: v for k, v in asdict(value).items() if k not in ("stdout", "stderr")}
        out[key] = value
    return out


def main(
    sizes: list[int],
    *,
    definition: Path = DEFINITION,
    repeat: int = 1,
    pandas: bool = True,
) -> list[dict[str, Any]]:
    """Run the cohort benchmark at each size, print the figures, save data/bench/cohort.json."""
    console.print(
        f"definition {_shown(definition)}; {os.cpu_count()} CPUs; "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    results = []
    for persons in sizes:
        result = bench_size(persons, definition, repeat, pandas)
        print_size(result)
        results.append(_jsonable(result))
    BENCH.mkdir(parents=True, exist_ok=True)
    (BENCH / "cohort.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
