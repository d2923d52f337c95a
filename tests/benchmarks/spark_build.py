"""Benchmark: the cohort build on Spark local[2] against the same build on DuckDB.

For each size N, on the synthetic CDM ``data/bench/cdm_<N>.duckdb`` (seed 42):

* the CDM is exported once to Parquet, one file per table (``data/bench/cdm_<N>_parquet/``,
  timed, then reused by later runs);
* ``prognosis cohort build`` runs on DuckDB (the DuckDB file) and on Spark
  (``spark://local[2]?path=<the Parquet folder>``), each through the CLI in a subprocess;
* wall time, CPU time and the peak RSS of the whole process tree (Python driver, Spark's JVM,
  Python workers) are printed, with the ratio Spark / DuckDB, and the two datasets are compared
  value by value.

Spark on one small machine is slower than DuckDB: the figure is the cost of the distributed
path, not a claim that it is faster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from tests.benchmarks.cohort_build import (
    BENCH,
    DEFINITION,
    PROGNOSIS,
    PYTHON,
    ROOT,
    Measurement,
    compare_datasets,
    console,
    ensure_cdm,
    measure,
    run_prognosis,
)

__all__ = ["main", "measure_tree"]

SPARK_SETTINGS = "spark.driver.memory=3g&spark.sql.shuffle.partitions=8"
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")

_EXPORT_CHILD = """
import sys, duckdb, pathlib
cdm, folder = sys.argv[1], pathlib.Path(sys.argv[2])
folder.mkdir(parents=True)
con = duckdb.connect(cdm, read_only=True)
for (table,) in con.execute("SHOW TABLES").fetchall():
    con.execute(f"COPY \\"{table}\\" TO '{folder / (table + '.parquet')}' (FORMAT parquet)")
"""


def _tree(root: int) -> dict[int, tuple[int, float]]:
    """``root`` and its descendants (from /proc): pid -> (resident bytes, CPU seconds so far)."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [p for p, fields in stats.items() if int(fields[1]) == parent and p not in tree]
        tree.update(children)
        frontier += children
    found = {}
    for pid in tree & set(stats):
        fields = stats[pid]  # after the command name: state, ppid, ...; utime, stime at 11, 12
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        found[pid] = (int(fields[21]) * _PAGE, cpu)  # rss (pages) at 21
    return found


def measure_tree(what: str, command: list[str], log_dir: Path) -> Measurement:
    """As :func:`tests.benchmarks.cohort_build.measure`, but the peak RSS is that of the whole
    process tree, sampled every 0.2 s (Spark's JVM and Python workers are the command's
    descendants), and so is the CPU time."""
    log_dir.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"\W+", "_", what).strip("_")
    out_path, err_path = log_dir / f"{slug}.stdout", log_dir / f"{slug}.stderr"
    load_before = os.getloadavg()[0]
    peak, cpu, done = [0], {}, threading.Event()
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT)

        def sample() -> None:
            while not done.is_set():
                tree = _tree(process.pid)
                peak[0] = max(peak[0], sum(rss for rss, _ in tree.values()))
                cpu.update({pid: seconds for pid, (_, seconds) in tree.items()})
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    return Measurement(
        what,
        round(wall, 2),
        # each process's CPU as last sampled (a JVM the command never waits for is missed
        # by wait4); wait4's figure when larger (the last 0.2 s, short-lived children)
        round(max(usage.ru_utime + usage.ru_stime, sum(cpu.values())), 2),
        round(peak[0] / 2**20, 1),
        os.waitstatus_to_exitcode(status),
        round(load_before, 2),
        round(os.getloadavg()[0], 2),
        out_path.read_text(),
        err_path.read_text(),
    )


def ensure_parquet(cdm: Path, log_dir: Path) -> tuple[Path, Measurement | None]:
    """``data/bench/cdm_<N>_parquet/``: the CDM's tables as Parquet, exported when missing."""
    folder = cdm.with_name(cdm.stem + "_parquet")
    done = folder / ".complete"
    if done.is_file():
        return folder, None
    if folder.exists():
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    run = measure(
        "export Parquet", [str(PYTHON), "-c", _EXPORT_CHILD, str(cdm), str(folder)], log_dir
    )
    if not run.ok:
        raise RuntimeError(f"exporting {cdm} to Parquet failed:\n{run.stderr}")
    done.write_text("")
    return folder, run


def run_spark(definition: Path, parquet: Path, out: Path, log_dir: Path) -> Measurement:
    source = f"spark://local[2]?path={parquet}&{SPARK_SETTINGS}"
    command = [str(PROGNOSIS), "cohort", "build", str(definition), "--source", source]
    command += ["--out", str(out), "--json", "--overwrite"]
    run = measure_tree("prognosis on Spark", command, log_dir)
    if run.ok:
        summary = json.loads(run.stdout)
        run.detail |= {"rows": summary["index_events"], "features": summary["features"]}
    return run


def bench_size(persons: int, definition: Path) -> dict[str, Any]:
    log_dir = BENCH / "out" / str(persons) / "spark"
    cdm, generated = ensure_cdm(persons, log_dir)
    parquet, exported = ensure_parquet(cdm, log_dir)
    duck_dir, spark_dir = log_dir / "duckdb", log_dir / "spark"
    duck = run_prognosis(definition, cdm, duck_dir, log_dir)
    spark = run_spark(definition, parquet, spark_dir, log_dir)
    differences = None
    if duck.ok and spark.ok:
        differences = compare_datasets(duck_dir / "dataset.parquet", spark_dir / "dataset.parquet")
    return {
        "persons": persons,
        "generate": generated,
        "export": exported,
        "duckdb": duck,
        "spark": spark,
        "differences": differences,
    }


def _cells(run: Measurement | None) -> list[str]:
    if run is None:
        return ["cached", "", "", "", ""]
    if not run.ok:
        tail = (run.stderr.strip().splitlines() or ["(no message)"])[-1][:70]
        return [f"failed (exit {run.returncode}): {tail}", "", "", "", ""]
    rss = run.peak_rss_mb
    rows = run.detail.get("rows")
    return [
        f"{run.wall_s:.1f} s",
        f"{run.cpu_s:.1f} s",
        f"{rss / 1024:.2f} GB",
        f"{rows:,}" if rows is not None else "",
        f"{run.load_before:.1f}→{run.load_after:.1f}",
    ]


def print_size(result: dict[str, Any]) -> None:
    table = Table(title=f"Cohort build on Spark local[2], {result['persons']:,} persons")
    for name in ("what", "wall", "CPU", "peak RSS (tree)", "rows", "load 1-min"):
        table.add_column(name, justify="left" if name == "what" else "right")
    table.add_row("export CDM to Parquet", *_cells(result["export"]))
    table.add_row("prognosis cohort build, DuckDB", *_cells(result["duckdb"]))
    table.add_row("prognosis cohort build, Spark", *_cells(result["spark"]))
    console.print(table)
    duck, spark = result["duckdb"], result["spark"]
    if duck.ok and spark.ok:
        console.print(
            f"Spark / DuckDB = {spark.wall_s / duck.wall_s:.1f}x wall, "
            f"{spark.cpu_s / duck.cpu_s:.1f}x CPU"
        )
    differences = result["differences"]
    if differences is None:
        console.print("[red]datasets not compared: a build failed[/red]")
    elif differences:
        console.print("[red]DuckDB and Spark datasets DIFFER[/red] (first: DuckDB, second: Spark):")
        for line in differences:
            console.print(f"  {line}", soft_wrap=True)
    else:
        console.print("DuckDB and Spark datasets: identical (schema, rows, every value)")


def main(sizes: list[int], *, definition: Path = DEFINITION) -> list[dict[str, Any]]:
    """Run the Spark benchmark at each size; save data/bench/spark.json."""
    console.print(
        f"Spark vs DuckDB; {os.cpu_count()} CPUs; definition {definition.relative_to(ROOT)}"
    )
    results = []
    for persons in sizes:
        started = time.perf_counter()
        result = bench_size(persons, definition)
        print_size(result)
        result["bench_seconds"] = round(time.perf_counter() - started, 1)
        results.append(
            {
                key: {k: v for k, v in vars(value).items() if k not in ("stdout", "stderr")}
                if isinstance(value, Measurement)
                else value
                for key, value in result.items()
            }
        )
    BENCH.mkdir(parents=True, exist_ok=True)
    (BENCH / "spark.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
