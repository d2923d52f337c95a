"""Benchmark: accuracy of every single-event model family, by 5-fold cross-validation.

Datasets: scikit-survival's shipped real datasets (``gbsg2``, ``whas500``, ``flchain``,
``veterans_lung_cancer``) and the ``gi_bleed_nsaid`` cohort built on Eunomia
(``data/bench/gi_bleed_nsaid``, built when missing). For each dataset and family:

* the folds are ``split_rows(parse_split("cv"), frame, seed=0)`` (5 folds stratified on the
  event, as ``prognosis fit --split cv`` uses); each fold fits ``make_model(family, seed=0)`` on
  the training rows (the package's preprocessing one-hot encodes categorical columns inside
  the fold) and predicts the held-out rows;
* Harrell's C per fold (mean and SD: what ``cross_val_score`` reports as "5-fold C") and the
  package's out-of-fold metrics (``evaluate_predictions`` on the pooled held-out predictions,
  exactly as ``fit_model(..., split=cv, n_boot=0)`` computes them): Harrell's C, the
  integrated Brier score and, for ``gi_bleed_nsaid``, the time-dependent AUC at 365 days;
* the seconds each fit takes (training only), and the 1-minute load average around the run.

The published numbers and the reference-run anchors are printed beside (see ``DATASETS``).
Where the best family misses its anchor, :data:`TUNING` grids are tried by *nested*
cross-validation: within each outer training fold an inner 3-fold CV picks the parameters by
mean Harrell's C, the chosen model is refit on the outer training fold and scored on the
outer test fold, so the test folds never choose anything.

    .venv/bin/python tests/benchmarks/models_accuracy.py [--datasets gbsg2,whas500] [--no-tune]

Results go to ``data/bench/models_accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sksurv import datasets as sksurv_datasets
from sksurv.nonparametric import kaplan_meier_estimator

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from prognosis.cohort.build import build_cohort  # noqa: E402
from prognosis.cohort.definition import load_definition  # noqa: E402
from prognosis.cohort.sources import parse_source  # noqa: E402
from prognosis.dataset import load_dataset  # noqa: E402
from prognosis.evaluation.metrics import harrell_c, time_dependent_auc  # noqa: E402
from prognosis.evaluation.summary import evaluate_predictions  # noqa: E402
from prognosis.evaluation.validation import parse_split, split_rows  # noqa: E402
from prognosis.models.registry import make_model  # noqa: E402
from prognosis.models.survival import step_function  # noqa: E402
from prognosis.models.target import make_target  # noqa: E402
from prognosis.training import fit_model  # noqa: E402

__all__ = ["DATASETS", "FAMILIES", "TUNING", "cross_validate", "main"]

BENCH = ROOT / "data" / "bench"
GI_BLEED = BENCH / "gi_bleed_nsaid"
SEED = 0
FAMILIES = ("cox", "coxnet", "weibull", "rsf", "gbsa", "xgb-cox", "xgb-aft")
REPEAT_SEEDS = (0, 1, 2, 3, 4)  # fold shuffles for the best family's repeat
ZERO_TIME = 0.5  # days: flchain has 3 deaths on the day of enrolment; prognosis needs time > 0

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

# --- the datasets and what they are compared with --------------------------------------------

SKSURV_DOCS = "https://scikit-survival.readthedocs.io/en/stable/user_guide"


@dataclass(frozen=True)
class Reference:
    """A published figure: who, how it was measured, the numbers, where it is printed."""

    what: str
    c_index: float | None
    ibs: float | None
    source: str


@dataclass(frozen=True)
class Data:
    """One benchmark dataset, ready for the folds."""

    name: str
    X: pd.DataFrame  # features; categorical columns keep their dtype (the pipeline encodes them)
    y: np.ndarray  # prognosis target (event bool, time float)
    frame: pd.DataFrame  # what split_rows reads (``event``)
    horizon: float  # IBS from the 10th outcome event up to here; AUC here for gi_bleed
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """How to load a dataset, its anchor and its published references."""

    load: Callable[[], Data]
    anchor: float | None = None
    anchor_note: str = ""
    published: tuple[Reference, ...] = ()
    skip: dict[str, str] = field(default_factory=dict)
    auc_anchor: float | None = None  # gi_bleed: time-dependent AUC at the horizon to beat


def _sksurv(name: str, *, drop: tuple[str, ...] = (), quantile: float = 0.9) -> Data:
    X, y = getattr(sksurv_datasets, f"load_{name}")()
    event_field, time_field = y.dtype.names
    time = np.asarray(y[time_field], dtype=float)
    notes = [f"{X.shape[0]} rows, {int(y[event_field].sum())} events"]
    if drop:
        X = X.drop(columns=list(drop))
        notes.append(f"dropped {', '.join(drop)}")
    if (time <= 0).any():
        notes.append(
            f"{int((time <= 0).sum())} rows with time 0 set to {ZERO_TIME} day "
            "(prognosis needs time > 0)"
        )
        time = np.where(time <= 0, ZERO_TIME, time)
    target = make_target(y[event_field], time)
    frame = pd.DataFrame({"event": target["event"].astype(np.int32), "time": time})
    horizon = float(np.quantile(time, quantile))
    notes.append(f"IBS up to the {quantile:.0%} quantile of follow-up, {horizon:g} days")
    return Data(name, X.reset_index(drop=True), target, frame, horizon, tuple(notes))


def _gi_bleed() -> Data:
    if not (GI_BLEED / "dataset.parquet").is_file():
        definition = ROOT / "cohorts" / "gi_bleed_nsaid.yaml"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Eunomia's data-quality findings go to the manifest
            build_cohort(
                load_definition(definition),
                parse_source("eunomia"),
                GI_BLEED,
                definition_path=str(definition.relative_to(ROOT)),
            )
    dataset = load_dataset(GI_BLEED)
    y = dataset.y
    notes = (
        f"{len(y)} rows, {int(np.sum(y['event']))} events (all within 365 days), "
        f"{len(dataset.feature_names)} features; IBS and AUC at 365 days",
    )
    return Data("gi_bleed_nsaid", dataset.X, y, dataset.frame, 365.0, notes)


DATASETS: dict[str, Spec] = {
    "gbsg2": Spec(
        lambda: _sksurv("gbsg2"),
        anchor=0.688,
        anchor_note="random survival forest, 5-fold Harrell C (reference run)",
        published=(
            Reference(
                "RSF (1000 trees, leaf 15), one 75/25 split",
                0.675,
                None,
                f"{SKSURV_DOCS}/random-survival-forest.html",
            ),
            Reference(
                "RSF (max_depth 2), one 75/25 split; IBS 10th-90th pct",
                0.692,
                0.192,
                f"{SKSURV_DOCS}/evaluating-survival-models.html",
            ),
            Reference(
                "Coxnet (l1_ratio 0.99), same split",
                0.688,
                0.189,
                f"{SKSURV_DOCS}/evaluating-survival-models.html",
            ),
            Reference(
                "Kaplan-Meier, same split",
                None,
                0.217,
                f"{SKSURV_DOCS}/evaluating-survival-models.html",
            ),
        ),
    ),
    "whas500": Spec(
        lambda: _sksurv("whas500"),
        anchor=0.773,
        anchor_note="scikit-survival gradient boosting, 5-fold Harrell C (reference run)",
    ),
    "flchain": Spec(
        lambda: _sksurv("flchain", drop=("chapter",)),
        anchor=0.800,
        anchor_note="xgboost Cox, chapter dropped, 5-fold Harrell C (reference run)",
        published=(
            Reference(
                "xgbse benchmark, Weibull AFT, one split (pycox flchain: no chapter, "
                "no missing creatinine)",
                0.789,
                0.099,
                "https://loft-br.github.io/xgboost-survival-embeddings/benchmarks/benchmarks.html",
            ),
            Reference("same, Cox-PH", 0.788, 0.099, "(same page)"),
            Reference("same, XGB - Cox (early stopping)", 0.775, None, "(same page)"),
            Reference("same, XGB - AFT (early stopping)", 0.772, None, "(same page)"),
        ),
        skip={"gbsa": "skipped: slow baseline"},
    ),
    "veterans_lung_cancer": Spec(
        lambda: _sksurv("veterans_lung_cancer"),
        published=(
            Reference(
                "CoxPH, all 8 encoded features, 3-fold CV (mean)",
                0.715,
                None,
                f"{SKSURV_DOCS}/00-introduction.html",
            ),
            Reference(
                "FastSurvivalSVM, 100 x 50% shuffle splits (best alpha)",
                0.720,
                None,
                f"{SKSURV_DOCS}/survival-svm.html",
            ),
        ),
    ),
    "gi_bleed_nsaid": Spec(
        _gi_bleed,
        auc_anchor=0.645,
        anchor_note=(
            "PatientLevelPrediction LASSO logistic regression, test AUC 0.645 on the same "
            "Eunomia population (The Book of OHDSI, prediction exercise)"
        ),
    ),
}

#: Nested-CV grids tried for a family when the best family misses the dataset's anchor
#: (xgboost with one thread: the same trees, and no thread contention on a busy machine).
TUNING: dict[str, dict[str, list[dict[str, Any]]]] = {
    "gbsg2": {
        "rsf": [
            {"n_estimators": 500, "min_samples_leaf": leaf, "max_features": features}
            for leaf in (5, 15, 30)
            for features in ("sqrt", 0.5)
        ],
    },
    "whas500": {
        "gbsa": [
            {"n_estimators": n, "learning_rate": rate, "max_depth": depth}
            for n, rate in ((100, 0.1), (300, 0.05))
            for depth in (2, 3)
        ],
        "xgb-cox": [
            {"n_estimators": n, "learning_rate": 0.05, "max_depth": depth, "n_jobs": 1}
            for n in (200, 500)
            for depth in (2, 3, 4)
        ],
    },
    "flchain": {
        "xgb-cox": [
            {
                "n_estimators": n,
                "learning_rate": rate,
                "max_depth": depth,
                "min_child_weight": weight,
                "n_jobs": 1,
            }
            for n, rate in ((300, 0.05), (1000, 0.02))
            for depth in (1, 2, 3)
            for weight in (1.0, 10.0)
        ],
    },
}


# --- cross-validation ------------------------------------------------------------------------


class KaplanMeier:
    """The null model: the training fold's Kaplan-Meier curve for everyone (C = 0.5)."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> KaplanMeier:
        self.times_, self.survival_ = kaplan_meier_estimator(y["event"], y["time"])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(X))

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        curve = step_function(self.times_, self.survival_, np.atleast_1d(times), before=1.0)
        return np.tile(curve, (len(X), 1))


@dataclass
class Result:
    """One family on one dataset: per-fold C, out-of-fold metrics, fit seconds."""

    family: str
    params: str = "defaults"
    fold_c: list[float] = field(default_factory=list)
    fold_auc: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    oof_c: float | None = None
    oof_ibs: float | None = None
    ibs_span: tuple[float, float] | None = None
    oof_auc: float | None = None
    chosen: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""
    error: str = ""

    @property
    def mean_c(self) -> float | None:
        return float(np.mean(self.fold_c)) if self.fold_c else None


def _make(family: str, params: dict[str, Any]) -> Any:
    return KaplanMeier() if family == "kaplan-meier" else make_model(family, seed=SEED, **params)


def _fit_predict(
    family: str, params: dict[str, Any], data: Data, train: np.ndarray
) -> tuple[Any, float]:
    started = time.perf_counter()
    model = _make(family, params).fit(data.X.iloc[train], data.y[train])
    return model, time.perf_counter() - started


@dataclass(frozen=True)
class FoldPredictions:
    """A fitted fold's held-out predictions: risk scores and S(t) on the data's time grid.

    Models are not kept (a random survival forest on flchain holds gigabytes); S(t) is stored
    at every distinct observed time up to the horizon and read as a step function, which is
    exact for the step-function models (Cox, coxnet, forests, boosted Cox: they jump only at
    training event times) and within one inter-observation gap for the parametric ones.
    """

    test: np.ndarray
    risk: np.ndarray
    grid: np.ndarray
    survival: np.ndarray  # (len(test), len(grid))

    def at(self, times: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self.grid, np.atleast_1d(times), side="right") - 1
        return np.where(index >= 0, self.survival[:, np.maximum(index, 0)], 1.0)


def _predict_fold(
    result: Result, model: Any, data: Data, train: np.ndarray, test: np.ndarray
) -> FoldPredictions:
    X_test = data.X.iloc[test]
    times = data.y["time"]
    grid = np.unique(np.r_[times[times <= data.horizon], data.horizon])
    fold = FoldPredictions(test, model.predict(X_test), grid, model.predict_survival(X_test, grid))
    result.fold_c.append(harrell_c(data.y[test], fold.risk))
    if data.name == "gi_bleed_nsaid":
        at = 1.0 - fold.at([data.horizon])
        result.fold_auc.append(
            float(time_dependent_auc(data.y[train], data.y[test], at, [data.horizon])[0][0])
        )
    return fold


def _pooled(result: Result, data: Data, folds: list[FoldPredictions]) -> None:
    """The package's out-of-fold metrics (what fit_model with split cv stores)."""
    order = np.concatenate([fold.test for fold in folds])
    risk = np.concatenate([fold.risk for fold in folds])

    def survival(times: np.ndarray) -> np.ndarray:
        return np.vstack([fold.at(times) for fold in folds])

    metrics = evaluate_predictions(
        data.y, data.y[order], risk, survival, [data.horizon], n_boot=0, seed=SEED
    )
    result.oof_c = metrics.harrell_c.estimate
    ibs = metrics.integrated_brier
    if ibs is not None:
        result.oof_ibs, result.ibs_span = ibs.estimate, (ibs.start, ibs.stop)
    if metrics.horizons:
        result.oof_auc = metrics.horizons[0].time_dependent_auc.estimate


def cross_validate(
    data: Data, family: str, params: dict[str, Any] | None = None, *, seed: int = SEED
) -> Result:
    """5-fold CV of one family on the package's folds; per-fold and out-of-fold metrics."""
    params = dict(params or {})
    result = Result(family, ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults")
    folds = []
    for train, test in split_rows(parse_split("cv"), data.frame, seed=seed):
        model, seconds = _fit_predict(family, params, data, train)
        result.fit_seconds.append(seconds)
        folds.append(_predict_fold(result, model, data, train, test))
        del model
    _pooled(result, data, folds)
    return result


def _inner_c(data: Data, family: str, params: dict[str, Any], rows: np.ndarray) -> float:
    inner = split_rows(parse_split("cv:3"), data.frame.iloc[rows], seed=SEED)
    scores = []
    for train, test in inner:
        model = _make(family, params).fit(data.X.iloc[rows[train]], data.y[rows[train]])
        scores.append(harrell_c(data.y[rows[test]], model.predict(data.X.iloc[rows[test]])))
    return float(np.mean(scores))


def nested_cv(data: Data, family: str, grid: list[dict[str, Any]]) -> Result:
    """Outer 5-fold CV; inside each training fold, 3-fold CV picks the parameters."""
    result = Result(family, f"nested CV over {len(grid)} settings")
    folds = []
    for train, test in split_rows(parse_split("cv"), data.frame, seed=SEED):
        scores = [_inner_c(data, family, params, train) for params in grid]
        best = grid[int(np.argmax(scores))]
        result.chosen.append({**best, "inner_c": round(max(scores), 4)})
        model, seconds = _fit_predict(family, best, data, train)
        result.fit_seconds.append(seconds)
        folds.append(_predict_fold(result, model, data, train, test))
        del model
    _pooled(result, data, folds)
    return result


def check_against_fit_model(data: Data, family: str = "cox") -> tuple[float, float]:
    """Out-of-fold C from this loop and from ``prognosis.training.fit_model`` (must agree)."""
    ours = cross_validate(data, family).oof_c
    dataset = load_dataset(GI_BLEED)
    saved = fit_model(dataset, family, [data.horizon], parse_split("cv"), seed=SEED, n_boot=0)
    assert saved.metrics.results is not None
    return float(ours), float(saved.metrics.results.harrell_c.estimate)


# --- running and printing --------------------------------------------------------------------


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def run_dataset(name: str, families: tuple[str, ...], tune: bool) -> dict[str, Any]:
    spec = DATASETS[name]
    data = spec.load()
    load_before = _load()
    results = []
    for family in ("kaplan-meier", *families):
        if family in spec.skip:
            results.append(Result(family, skipped=spec.skip[family]))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results.append(cross_validate(data, family))
        except Exception as error:  # a benchmark reports a failing family and goes on
            results.append(Result(family, error=f"{type(error).__name__}: {error}"[:200]))
        console.print(f"  {name}: {family} done (load {_load():.1f})")
    repeats = _repeat_best(spec, data, results)
    tuned = _tune(name, data, results, repeats) if tune else []
    return {
        "dataset": name,
        "notes": list(data.notes),
        "load_before": load_before,
        "load_after": _load(),
        "results": results,
        "repeats": repeats,
        "tuned": tuned,
    }


def _best(results: list[Result], metric: str = "mean_c") -> Result | None:
    scored = [r for r in results if getattr(r, metric) is not None and r.family != "kaplan-meier"]
    return max(scored, key=lambda r: getattr(r, metric)) if scored else None


def _repeat_best(spec: Spec, data: Data, results: list[Result]) -> dict[str, Any]:
    """The anchor's metric for the best family again, with the folds shuffled by other seeds.

    Only the fold assignment changes (the model seed stays 0): the spread shows how much of a
    difference to an anchor is the luck of one split into folds.
    """
    metric = "oof_auc" if spec.auc_anchor is not None else "mean_c"
    best = _best(results, metric)
    if best is None:
        return {}
    values = [getattr(best, metric)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in REPEAT_SEEDS[1:]:
            values.append(getattr(cross_validate(data, best.family, seed=seed), metric))
    return {"family": best.family, "metric": metric, "seeds": list(REPEAT_SEEDS), "values": values}


def _tune(name: str, data: Data, results: list[Result], repeats: dict[str, Any]) -> list[Result]:
    """Nested CV of :data:`TUNING` when the best family, or its repeated mean, misses."""
    anchor, best = DATASETS[name].anchor, _best(results)
    if anchor is None or best is None or name not in TUNING:
        return []
    repeated = float(np.mean(repeats["values"])) if repeats else best.mean_c
    if min(best.mean_c, repeated) >= anchor:
        return []
    tuned = []
    for family, grid in TUNING[name].items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tuned.append(nested_cv(data, family, grid))
        console.print(f"  {name}: nested CV of {family} done (load {_load():.1f})")
    return tuned


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _result_row(result: Result, anchor: float | None, auc: bool) -> list[str]:
    if result.skipped or result.error:
        return [result.family, result.params, result.skipped or result.error, *[""] * (5 + auc)]
    spread = f"{result.mean_c:.4f} ± {np.std(result.fold_c):.3f}"
    reaches = (
        ""
        if anchor is None or result.family == "kaplan-meier"
        else ("yes" if result.mean_c >= anchor else "no")
    )
    row = [
        result.family,
        result.params,
        spread,
        _fmt(result.oof_c),
        _fmt(result.oof_ibs),
        f"{np.mean(result.fit_seconds):.2f}",
        reaches,
    ]
    if auc:
        row.insert(5, f"{_fmt(result.oof_auc)} ({np.mean(result.fold_auc):.3f})")
    return row


def print_dataset(outcome: dict[str, Any]) -> None:
    name = outcome["dataset"]
    spec = DATASETS[name]
    auc = spec.auc_anchor is not None
    title = (
        f"{name}: 5-fold CV, seed {SEED} (load {outcome['load_before']:.1f}→"
        f"{outcome['load_after']:.1f}); " + "; ".join(outcome["notes"])
    )
    table = Table(title=title, title_justify="left")
    columns = ["family", "params", "C per fold (mean ± SD)", "OOF C", "OOF IBS", "fit s/fold"]
    if auc:
        columns.insert(5, "AUC@365 OOF (fold mean)")
    columns.append(f"≥ anchor {spec.anchor}" if spec.anchor else "")
    for column in columns:
        table.add_column(column, justify="left" if column in ("family", "params") else "right")
    for result in [*outcome["results"], *outcome["tuned"]]:
        table.add_row(*_result_row(result, spec.anchor, auc))
    console.print(table)
    for result in outcome["tuned"]:
        console.print(f"  {result.family} nested CV chose per outer fold: {result.chosen}")
    _print_references(spec, outcome)


def _print_references(spec: Spec, outcome: dict[str, Any]) -> None:
    lines = [
        f"  published: {ref.what}: C {_fmt(ref.c_index) or '-'}, IBS {_fmt(ref.ibs) or '-'} "
        f"({ref.source})"
        for ref in spec.published
    ]
    best = _best([*outcome["results"], *outcome["tuned"]])
    if spec.anchor is not None and best is not None:
        verdict = "REACHED" if best.mean_c >= spec.anchor else "MISSED"
        lines.append(
            f"  anchor {spec.anchor:.3f} ({spec.anchor_note}): best family {best.family} "
            f"[{best.params}] {best.mean_c:.4f} → {verdict}"
        )
    if spec.auc_anchor is not None:
        top = _best(outcome["results"], "oof_auc")
        verdict = "BEATEN" if top.oof_auc > spec.auc_anchor else "NOT beaten"
        lines.append(
            f"  anchor AUC {spec.auc_anchor:.3f} ({spec.anchor_note}): best {top.family} "
            f"OOF AUC@365 {top.oof_auc:.3f} → {verdict}"
        )
    lines.extend(_repeat_line(spec, outcome["repeats"]))
    if lines:
        console.print("\n".join(lines), soft_wrap=True)


def _repeat_line(spec: Spec, repeats: dict[str, Any]) -> list[str]:
    if not repeats:
        return []
    values = np.asarray(repeats["values"], dtype=float)
    anchor = spec.auc_anchor if repeats["metric"] == "oof_auc" else spec.anchor
    what = "OOF AUC@365" if repeats["metric"] == "oof_auc" else "mean fold C"
    line = (
        f"  {repeats['family']} with folds shuffled by seeds {repeats['seeds']}: {what} "
        f"{', '.join(f'{v:.4f}' for v in values)}; mean {values.mean():.4f} "
        f"(range {values.min():.4f}-{values.max():.4f})"
    )
    if anchor is not None:
        line += f" → mean {'≥' if values.mean() >= anchor else '<'} anchor {anchor:.3f}"
    return [line]


def _jsonable(outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        **outcome,
        "results": [asdict(r) | {"mean_c": r.mean_c} for r in outcome["results"]],
        "tuned": [asdict(r) | {"mean_c": r.mean_c} for r in outcome["tuned"]],
    }


def main(
    datasets: list[str] | None = None, families: list[str] | None = None, tune: bool = True
) -> list[dict[str, Any]]:
    """Run the accuracy benchmark, print a table per dataset, save models_accuracy.json."""
    chosen = tuple(families or FAMILIES)
    console.print(
        f"Model accuracy; {os.cpu_count()} CPUs; load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    outcomes = []
    for name in datasets or list(DATASETS):
        outcome = run_dataset(name, chosen, tune)
        print_dataset(outcome)
        outcomes.append(outcome)
    if "gi_bleed_nsaid" in (datasets or list(DATASETS)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours, package = check_against_fit_model(_gi_bleed())
        agree = "agree" if abs(ours - package) < 1e-12 else "DIFFER"
        console.print(
            f"check: gi_bleed_nsaid cox out-of-fold C, this loop {ours:.6f}, "
            f"prognosis.training.fit_model {package:.6f} → {agree}"
        )
    BENCH.mkdir(parents=True, exist_ok=True)
    payload = [_jsonable(o) for o in outcomes]
    (BENCH / "models_accuracy.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return payload


def _cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", help=f"comma-separated, of {', '.join(DATASETS)}")
    parser.add_argument("--families", help=f"comma-separated, of {', '.join(FAMILIES)}")
    parser.add_argument("--no-tune", action="store_true", help="skip the nested-CV tuning")
    args = parser.parse_args(argv)
    main(
        args.datasets.split(",") if args.datasets else None,
        args.families.split(",") if args.families else None,
        tune=not args.no_tune,
    )


if __name__ == "__main__":
    _cli()
