"""Benchmark: ``xgb-cox`` on the synthetic 1,000,000-person cohort, and against scikit-survival;
``xgb-cause-specific`` against ``xgb-cox`` on the same cohort.

The cohort is the atrial-fibrillation/stroke benchmark cohort (``bench_cohort.yaml``) on
``data/bench/cdm_1000000.duckdb``: the cohort benchmark's dataset is reused when it left one
(``data/bench/out/1000000/prognosis``), otherwise it is built here (and the CDM generated,
seed 42, when missing). Death is a competing event; ``xgb-cox`` is a single-event model, so
death counts as censoring at the death date (a cause-specific model for stroke).

Measured, each fit in its own subprocess (wall time of the fit alone, peak RSS of the process
from ``os.wait4``, 1-minute load average before and after):

* ``pipeline``: ``make_model("xgb-cox", seed=0).fit(dataset.X, y)`` (default parameters), the
  dense DataFrame path that ``prognosis fit`` takes: no imputation for xgboost, zeros of
  non-negative columns read as missing (``ZeroAsMissing``), so xgboost skips them;
* ``sparse``: the same pipeline given a ``scipy.sparse`` CSR matrix of the features;
* with ``n_jobs`` 2 (the default) and 1;
* ``cli``: ``prognosis fit DATASET --model xgb-cox --horizon 365 --split none
  --censor-competing --out DIR`` exactly as a user runs it (start-up, reading the dataset,
  the fit and writing the model directory; wall time of the whole process);
* for comparison, not the package: xgboost given the CSR matrix directly (``xgboost-csr``,
  :class:`NativeSparse`), where entries the matrix does not store read as missing;
* ``competing``: ``make_model("xgb-cause-specific", seed=0).fit(dataset.X, y)`` with death
  as a competing event (one booster for stroke, one for death), and the ratio of its fit time
  to that of the ``pipeline`` fit of ``xgb-cox`` with n_jobs 2 (the target: under 2x).

Then, on random training subsamples both can run, ``gbsa`` (scikit-survival
``GradientBoostingSurvivalAnalysis``: 100 trees, learning rate 0.1, depth 3, no subsampling)
and ``xgb-cox`` with the same settings (the fastest of three fits: they take under a second,
so a busy machine's stalls dominate a single one); the fit-time ratio, and Harrell's C of both
on 50,000 held-out rows.

    .venv/bin/python tests/benchmarks/models_speed.py [--subsamples 5000,10000] [--repeat 1]

Results go to ``data/bench/models_speed.json``. A smaller cohort for a quick look:
``--persons 100000 --cdm PATH`` (an existing CDM of that size, opened read-only; the cohort is
built under ``data/bench/models/``) and ``--competing-only`` (only the ``competing`` and
``pipeline`` fits and their ratio); results then go to ``data/bench/models_speed_N.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from prognosis.dataset import SURVIVAL_COLUMNS, feature_frame  # noqa: E402
from prognosis.evaluation.metrics import harrell_c  # noqa: E402
from prognosis.models.registry import make_model  # noqa: E402
from prognosis.models.target import make_competing_target, make_target  # noqa: E402
from tests.benchmarks.cohort_build import Measurement, measure  # noqa: E402

__all__ = ["COMPARABLE", "competing_ratio", "dataset_dir", "main", "sparse_features"]

BENCH = ROOT / "data" / "bench"
PERSONS = 1_000_000
DEFINITION = ROOT / "tests" / "benchmarks" / "bench_cohort.yaml"
LOG_DIR = BENCH / "out" / "models_speed"
TARGET_SECONDS = 60.0
TARGET_RATIO = 2.0  # xgb-cause-specific fit time over that of one xgb-cox fit
HELD_OUT = 50_000
XGB_TRIES = 3  # xgb-cox subsample fits take well under a second: the fastest of three
SUBSAMPLES = (5_000, 10_000)
#: (input, n_jobs) of the timed fits on every row; n_jobs=2 is XGBCox's default
FULL_RUNS = (
    ("pipeline", 2),
    ("pipeline", 1),
    ("sparse", 2),
    ("cli", 2),
    ("xgboost-csr", 2),
    ("competing", 2),
)
#: the two fits whose ratio is the competing-risk target
RATIO_RUNS = (("pipeline", 2), ("competing", 2))
#: scikit-survival's GradientBoostingSurvivalAnalysis defaults, and xgb-cox set to match them
COMPARABLE = {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3}
XGB_MATCHED = {**COMPARABLE, "subsample": 1.0, "colsample_bytree": 1.0}

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


# --- the data --------------------------------------------------------------------------------


def dataset_dir(persons: int = PERSONS, cdm: Path | None = None) -> Path:
    """The benchmark cohort of ``persons`` persons: the cohort benchmark's, or built here from
    ``cdm`` (read-only), or from ``data/bench/cdm_<persons>.duckdb`` (generated when missing)."""
    built = BENCH / "models" / f"bench_af_stroke_{persons}"
    for folder in (BENCH / "out" / str(persons) / "prognosis", built):
        if (folder / "dataset.parquet").is_file():
            return folder
    if cdm is None:
        cdm = BENCH / f"cdm_{persons}.duckdb"
        if not cdm.is_file():
            from prognosis.synth import generate_cdm

            generate_cdm(cdm, persons=persons, seed=42)
    from prognosis.cohort.build import build_cohort
    from prognosis.cohort.definition import load_definition
    from prognosis.cohort.sources import parse_source

    build_cohort(
        load_definition(DEFINITION),
        parse_source(f"duckdb:///{cdm}"),
        built,
        definition_path=str(DEFINITION.relative_to(ROOT)),
    )
    return built


def _frame(folder: Path) -> pd.DataFrame:
    return pq.read_table(folder / "dataset.parquet").to_pandas()


def feature_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in SURVIVAL_COLUMNS]


def stroke_target(frame: pd.DataFrame) -> np.ndarray:
    """Stroke (event 1) as the event; death (event 2) and end of follow-up as censoring."""
    return make_target(frame["event"].to_numpy() == 1, frame["time"].to_numpy())


def competing_target(frame: pd.DataFrame) -> np.ndarray:
    """Stroke (event 1) and death (event 2, competing) as they happened."""
    return make_competing_target(frame["event"].to_numpy(), frame["time"].to_numpy())


def sparse_features(frame: pd.DataFrame, names: list[str]) -> sp.csr_matrix:
    """The features as CSR, column by column (never a dense copy); NaN stays stored."""
    data, indices, indptr = [], [], [0]
    for name in names:
        values = frame[name].to_numpy(dtype=np.float64)
        rows = np.flatnonzero(values != 0)  # NaN != 0: missing values are stored
        data.append(values[rows])
        indices.append(rows)
        indptr.append(indptr[-1] + rows.size)
    matrix = sp.csc_matrix(
        (np.concatenate(data), np.concatenate(indices).astype(np.int64), np.asarray(indptr)),
        shape=(len(frame), len(names)),
    )
    return matrix.tocsr()


# --- child processes (one fit each) ----------------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class NativeSparse:
    """Not the package: xgboost fed the CSR matrix as is, with XGBCox's default parameters.

    xgboost then reads every entry the matrix does not store as *missing* (the package
    densifies row blocks so that they read as zeros; see ``prognosis.models.boosting``). Timed
    to show what handing xgboost the sparse matrix directly would gain.
    """

    def __init__(self, n_jobs: int) -> None:
        estimator = make_model("xgb-cox", seed=0).named_steps["model"].set_params(n_jobs=n_jobs)
        self.params = estimator._booster_params()  # the exact booster parameters XGBCox uses
        self.rounds = estimator.n_estimators

    def fit(self, X: sp.csr_matrix, y: np.ndarray) -> NativeSparse:
        import xgboost as xgb

        from prognosis.models.boosting import cox_labels
        from prognosis.models.survival import breslow_cumulative_hazard

        labels = cox_labels(y["event"], y["time"])
        matrix = xgb.QuantileDMatrix(X, label=labels, nthread=self.params["nthread"])
        self.booster_ = xgb.train(self.params, matrix, self.rounds)
        margin = self.booster_.inplace_predict(X, predict_type="margin")
        self.baseline_ = breslow_cumulative_hazard(y["time"], y["event"], margin)
        return self


def child(mode: str, folder: str, n_jobs: int) -> dict[str, Any]:
    """One timed fit on every row; printed as JSON for the parent."""
    started = time.perf_counter()
    frame = _frame(Path(folder))
    names = feature_names(frame)
    y = competing_target(frame) if mode == "competing" else stroke_target(frame)
    if mode in ("pipeline", "competing"):
        X: Any = feature_frame(frame, names)
        family = "xgb-cause-specific" if mode == "competing" else "xgb-cox"
        model: Any = make_model(family, seed=0, n_jobs=n_jobs)
    else:
        X = sparse_features(frame, names)
        model = (
            NativeSparse(n_jobs)
            if mode == "xgboost-csr"
            else make_model("xgb-cox", seed=0, n_jobs=n_jobs)
        )
    del frame
    prepared, rss_before = time.perf_counter() - started, _peak_mb()
    fit_started = time.perf_counter()
    model.fit(X, y)
    fit_seconds = time.perf_counter() - fit_started
    return {
        "mode": mode,
        "n_jobs": n_jobs,
        "rows": X.shape[0],
        "features": X.shape[1],
        "nonzero_share": round(X.nnz / np.prod(X.shape), 4) if sp.issparse(X) else None,
        "events": int((y["event"] == 1).sum()),
        "prepare_s": round(prepared, 2),
        "fit_s": round(fit_seconds, 2),
        "peak_rss_before_fit_mb": round(rss_before, 1),
    }


def run_cli(folder: Path) -> Measurement:
    """``prognosis fit`` as a user runs it; the whole process is the fit."""
    out = LOG_DIR / "cli_model"
    shutil.rmtree(out, ignore_errors=True)
    command = [str(Path(sys.executable).with_name("prognosis")), "fit", str(folder)]
    command += ["--model", "xgb-cox", "--horizon", "365", "--split", "none"]
    command += ["--censor-competing", "--quiet", "--out", str(out)]
    run = measure("prognosis fit --model xgb-cox (CLI)", command, LOG_DIR)
    if run.ok:
        info = json.loads((out / "model.json").read_text())
        run.detail |= {
            "mode": "cli",
            "n_jobs": 2,
            "rows": info.get("training_rows", 0),
            "features": len(json.loads((out / "feature_schema.json").read_text())),
            "events": info.get("training_events", 0),
            "prepare_s": 0.0,
            "fit_s": round(run.wall_s, 2),
            "peak_rss_before_fit_mb": 0.0,
        }
    return run


def run_child(mode: str, folder: Path, n_jobs: int) -> Measurement:
    if mode == "cli":
        return run_cli(folder)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    command += ["--folder", str(folder), "--n-jobs", str(n_jobs)]
    family = "xgb-cause-specific" if mode == "competing" else "xgb-cox"
    run = measure(f"{family} {mode} n_jobs={n_jobs}", command, LOG_DIR)
    if run.ok:
        run.detail |= json.loads(run.stdout.strip().splitlines()[-1])
    return run


def competing_ratio(full: list[Measurement]) -> float | None:
    """Fit time of ``xgb-cause-specific`` over that of ``xgb-cox`` (both n_jobs 2, every row),
    or None when either did not run."""
    fits = {(r.detail.get("mode"), r.detail.get("n_jobs")): r for r in full if r.ok}
    cox, competing = (fits.get(key) for key in RATIO_RUNS)
    if cox is None or competing is None:
        return None
    return competing.detail["fit_s"] / cox.detail["fit_s"]


# --- the subsample comparison ----------------------------------------------------------------


def compare(folder: Path, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """gbsa against xgb-cox (same trees, depth, learning rate) on training subsamples."""
    frame = _frame(folder)
    names = feature_names(frame)
    order = np.random.default_rng(0).permutation(len(frame))
    held_out = order[:HELD_OUT]
    X_test, y_test = (
        frame.iloc[held_out][names].astype("float64"),
        stroke_target(frame.iloc[held_out]),
    )
    out = []
    for size in sizes:
        rows = order[HELD_OUT : HELD_OUT + size]
        X, y = frame.iloc[rows][names].astype("float64"), stroke_target(frame.iloc[rows])
        fits = {
            "gbsa": make_model("gbsa", seed=0, **COMPARABLE),
            "xgb-cox n_jobs=1": make_model("xgb-cox", seed=0, **XGB_MATCHED, n_jobs=1),
            "xgb-cox n_jobs=2": make_model("xgb-cox", seed=0, **XGB_MATCHED, n_jobs=2),
        }
        for what, model in fits.items():
            load_before = os.getloadavg()[0]
            tries = 1 if what == "gbsa" else XGB_TRIES
            seconds = []
            for _ in range(tries):
                started = time.perf_counter()
                model.fit(X, y)
                seconds.append(round(time.perf_counter() - started, 2))
            out.append(
                {
                    "rows": size,
                    "events": int(y["event"].sum()),
                    "model": what,
                    "fit_s": min(seconds),
                    "fit_walls": seconds,
                    "held_out_c": round(harrell_c(y_test, model.predict(X_test)), 4),
                    "load": (round(load_before, 2), round(os.getloadavg()[0], 2)),
                }
            )
            console.print(f"  subsample {size:,}: {what} {seconds} s")
    return out


# --- printing --------------------------------------------------------------------------------


def _full_row(run: Measurement) -> list[str]:
    d = run.detail
    if not run.ok:
        tail = (run.stderr.strip().splitlines() or ["(no message)"])[-1][:70]
        return [run.what, f"failed (exit {run.returncode}): {tail}", "", "", "", "", ""]
    verdict = "yes" if d["fit_s"] < TARGET_SECONDS else "no"
    walls = d.get("fit_walls", [])
    return [
        run.what,
        f"{d['fit_s']:.1f} s" + (f" (of {', '.join(map(str, walls))})" if len(walls) > 1 else ""),
        f"{d['prepare_s']:.1f} s",
        f"{run.peak_rss_mb / 1024:.2f} GB ({d['peak_rss_before_fit_mb'] / 1024:.2f} before fit)",
        f"{d['rows']:,} x {d['features']}",
        f"{run.load_before:.1f}→{run.load_after:.1f}",
        verdict,
    ]


def print_results(folder: Path, full: list[Measurement], subsample: list[dict[str, Any]]) -> None:
    first = next((r.detail for r in full if r.ok), {})
    table = Table(
        title=(
            f"xgb-cox on every row of {folder.relative_to(ROOT)} ({first.get('events', '?'):,} "
            "stroke events; death censored; "
            f"non-zero share {first.get('nonzero_share', '?')})"
        ),
        title_justify="left",
    )
    for name in ("what", "fit", "load data + build X", "peak RSS", "rows x features", "load"):
        table.add_column(name, justify="left" if name == "what" else "right")
    table.add_column(f"< {TARGET_SECONDS:.0f} s")
    for run in full:
        table.add_row(*_full_row(run))
    console.print(table)
    ratio = competing_ratio(full)
    if ratio is not None:
        verdict = "yes" if ratio < TARGET_RATIO else "no"
        console.print(
            f"xgb-cause-specific / xgb-cox fit time (n_jobs=2, every row, death competing): "
            f"{ratio:.2f}x (target < {TARGET_RATIO:.0f}x: {verdict})"
        )
    if subsample:
        _print_subsample(subsample)


def _print_subsample(rows: list[dict[str, Any]]) -> None:
    table = Table(
        title=(
            f"gbsa vs xgb-cox, {COMPARABLE}; xgb-cox subsample=1, colsample=1; "
            f"Harrell C on {HELD_OUT:,} held-out rows"
        ),
        title_justify="left",
    )
    for name in ("training rows", "events", "model", "fit", "gbsa / this", "held-out C", "load"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for row in rows:
        gbsa = next(r for r in rows if r["rows"] == row["rows"] and r["model"] == "gbsa")
        table.add_row(
            f"{row['rows']:,}",
            str(row["events"]),
            row["model"],
            f"{row['fit_s']:.2f} s",
            f"{gbsa['fit_s'] / row['fit_s']:.0f}x" if row["model"] != "gbsa" else "",
            f"{row['held_out_c']:.4f}",
            f"{row['load'][0]:.1f}→{row['load'][1]:.1f}",
        )
    console.print(table)


def main(
    subsamples: tuple[int, ...] = SUBSAMPLES,
    repeat: int = 1,
    *,
    persons: int = PERSONS,
    cdm: Path | None = None,
    competing_only: bool = False,
) -> dict[str, Any]:
    """Run the speed benchmark, print the tables, save data/bench/models_speed.json
    (``models_speed_<persons>.json`` for another cohort size).

    ``competing_only`` runs only the fits of :data:`RATIO_RUNS` and no subsample comparison.
    """
    console.print(
        f"Model speed; {os.cpu_count()} CPUs; load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    folder = dataset_dir(persons, cdm)
    full = []
    for mode, n_jobs in RATIO_RUNS if competing_only else FULL_RUNS:
        runs = [run_child(mode, folder, n_jobs) for _ in range(max(1, repeat))]
        best = min(runs, key=lambda r: (not r.ok, r.detail.get("fit_s", r.wall_s)))
        best.detail["fit_walls"] = [r.detail.get("fit_s") for r in runs]
        full.append(best)
    subsample = [] if competing_only else compare(folder, subsamples)
    print_results(folder, full, subsample)
    result = {
        "dataset": str(folder.relative_to(ROOT)),
        "full": [{k: v for k, v in vars(r).items() if k not in ("stdout", "stderr")} for r in full],
        "subsample": subsample,
        "competing_ratio": competing_ratio(full),
    }
    BENCH.mkdir(parents=True, exist_ok=True)
    name = "models_speed.json" if persons == PERSONS else f"models_speed_{persons}.json"
    (BENCH / name).write_text(json.dumps(result, indent=1) + "\n")
    return result


def _cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subsamples", default=",".join(map(str, SUBSAMPLES)))
    parser.add_argument("--repeat", type=int, default=1, help="runs per full fit; fastest shown")
    parser.add_argument("--persons", type=int, default=PERSONS, help="cohort size of the CDM")
    parser.add_argument("--cdm", type=Path, help="an existing CDM of --persons persons")
    parser.add_argument(
        "--competing-only",
        action="store_true",
        help="only xgb-cause-specific and xgb-cox on every row, and their ratio",
    )
    parser.add_argument(
        "--child",
        choices=("sparse", "pipeline", "xgboost-csr", "competing"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--n-jobs", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.folder, args.n_jobs)))
        return
    main(
        tuple(int(s) for s in args.subsamples.split(",") if s),
        repeat=args.repeat,
        persons=args.persons,
        cdm=args.cdm,
        competing_only=args.competing_only,
    )


if __name__ == "__main__":
    _cli()
