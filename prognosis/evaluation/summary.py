"""Every metric of a set of test predictions, as one :class:`~prognosis.artifacts.Metrics`
value, and a terminal table.

:func:`evaluate_predictions` assembles the pure functions of this package: discrimination
(Harrell's and Uno's C, time-dependent AUC), accuracy (Brier score per horizon, integrated
Brier score), calibration (table, slope, intercept, ICI, E50, E90) and decision curves, each
with a percentile bootstrap interval where one applies, plus notes on everything that was not
evaluated as asked (horizons clipped or dropped, resamples skipped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from prognosis.artifacts import Interval, Metrics, MetricsFile, Subgroup, from_json
from prognosis.evaluation.bootstrap import BootstrapResult, bootstrap_ci
from prognosis.evaluation.calibration import calibration_at, calibration_summary
from prognosis.evaluation.censoring import CensoringModel, CoxCensoring, fit_cox_censoring
from prognosis.evaluation.decision import DEFAULT_THRESHOLDS, decision_curve, net_benefit
from prognosis.evaluation.metrics import (
    REFERENCE,
    EvaluationError,
    EvaluationTimes,
    brier_scores,
    evaluation_times,
    harrell_c,
    integrated_brier,
    marginal_incidence,
    observed_risk,
    time_dependent_auc,
    uno_c,
)
from prognosis.evaluation.subgroups import MIN_EVENTS, subgroup_metrics
from prognosis.models.target import check_target

__all__ = [
    "evaluate_predictions",
    "format_comparison",
    "format_subgroups",
    "format_table",
    "performance_title",
]

Survival = Callable[[np.ndarray], np.ndarray] | np.ndarray
_IBS_POINTS = 100  # most times on the integrated Brier score's grid
_CALIBRATION = ("slope", "intercept", "ici", "e50", "e90")  # calibration_summary's order

_CENSORING = (
    "Kaplan-Meier of the censoring times of the rows evaluated (re-estimated on each bootstrap "
    "resample); assumes censoring independent of the covariates"
)

_COMPETING_NOTE = (
    "competing risks: Harrell's and Uno's C count competing events as censored "
    "(cause-specific concordance); the Brier score and time-dependent AUC count them as "
    "non-events weighted by inverse probability of censoring; observed risks are "
    "Aalen-Johansen cumulative incidences of cause 1"
)


def evaluate_predictions(
    y_train: np.ndarray,
    y_test: np.ndarray,
    risk_score: np.ndarray,
    survival: Survival,
    horizons: Sequence[float],
    *,
    competing: bool = False,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    min_at_risk: int = 10,
    groups: np.ndarray | None = None,
    censoring_covariates: pd.DataFrame | None = None,
    model_follow_up: float | None = None,
    subgroups: pd.DataFrame | None = None,
    null_survival: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Metrics:
    """Evaluate test predictions: a :class:`~prognosis.artifacts.Metrics` (NaN becomes None).

    Parameters
    ----------
    y_train : training target (its follow-up bounds the horizons that can be evaluated)
    y_test : test target; the censoring distribution of the IPCW metrics (Uno's C, AUC, Brier
        scores) is the Kaplan-Meier estimate on these rows (on each bootstrap resample: every
        weight is estimated on the data it weights), as ``riskRegression::Score`` does
    risk_score : one risk score per test row, higher = worse (the concordance indices)
    survival : P(no outcome by t) for the test rows, 1 - cumulative incidence of cause 1 under
        competing risks: a callable ``times -> array (n_rows, n_times)`` (a model's
        ``predict_survival`` bound to X), or an array (n_rows, len(horizons)) of predictions
        at the requested horizons. Only a callable can be evaluated at a clipped horizon or
        on the grid of the integrated Brier score.
    horizons : the times to evaluate at (days); clipped to the follow-up, see ``notes``
    competing : the targets use integer event codes (0 censored, 1 outcome, 2+ competing)
    n_boot, seed, alpha : bias-corrected percentile bootstrap (:func:`bootstrap_ci`)
    groups : the person of each test row: the bootstrap resamples persons (None: rows)
    censoring_covariates : one row per test row: the weights of the AUC and Brier scores then
        come from a Cox model of the censoring time on these columns, fitted once on the test
        rows (its linear predictor is resampled with its rows), as
        ``riskRegression::Score(cens.model = "cox")``; None: Kaplan-Meier
    model_follow_up : the shortest training follow-up of the models that made the
        predictions, when shorter than ``y_train``'s (the fold models of a cross-validation);
        the horizons and the integrated Brier grid stay inside it (:func:`evaluation_times`)
    subgroups : one group label per test row and grouping variable
        (:func:`prognosis.evaluation.subgroups.grouping_frame`): the same predictions are then
        also measured within each group (:func:`~prognosis.evaluation.subgroups.subgroup_metrics`)
        at the evaluated horizons; None: no subgroups
    null_survival : the "marginal incidence (no model)" reference, scored like the model at
        every horizon and on the integrated Brier grid: ``times -> array (n_rows, n_times)``
        of 1 - the outcome's Aalen-Johansen incidence in the rows each test row's model was
        trained on (each fold's under cross-validation). None: that of ``y_train``
        (:func:`~prognosis.evaluation.metrics.marginal_incidence`) for every row
    thresholds : threshold probabilities of the decision curves
    min_at_risk : horizons are clipped where fewer test rows remain followed
        (:func:`evaluation_times`); the integrated Brier score starts at the time of this
        many outcome events, so that resamples reach it
    progress : called as ``progress(done, total)`` after each bootstrap resample of every
        metric (``total``: all the resamples of this evaluation), e.g. to advance a
        progress bar

    Returns
    -------
    Metrics
        ``n_train``, ``n_test``, ``n_outcome_events``, ``competing``, ``bootstrap``,
        ``follow_up``, ``harrell_c``, ``uno_c``, ``integrated_brier``, ``horizons`` (one entry
        per evaluated horizon: time-dependent AUC, Brier score, the mean predicted against the
        observed risk (Kaplan-Meier, or Aalen-Johansen under competing risks) as ``marginal``,
        calibration, decision curve, and ``null_model``: the reference's risk and Brier score,
        and the model's IPA; ``integrated_brier.null_model``: the reference's), ``notes`` and,
        with ``subgroups``, ``subgroups``.
    """
    train = check_target(y_train, competing=competing)
    test = check_target(y_test, competing=competing)
    risk = np.asarray(risk_score, dtype=float)
    times = evaluation_times(
        y_train, y_test, horizons, min_at_risk=min_at_risk, model_follow_up=model_follow_up
    )
    source = _Source.build(survival, times, test.time.size)
    reference = _reference(null_survival, y_train, test.time.size)
    tick = _ticker(progress, n_boot, len(source.evaluated))
    boot = partial(
        bootstrap_ci, n_boot=n_boot, seed=seed, alpha=alpha, groups=groups, progress=tick
    )
    weights = _Weights.build(test, censoring_covariates)
    notes = [*times.notes, *source.notes]
    tau = max(source.evaluated) if source.evaluated else None
    result: dict[str, Any] = {
        "n_train": int(train.time.size),
        "n_test": int(test.time.size),
        "n_outcome_events": int(np.sum(test.event == 1)),
        "competing": competing,
        "bootstrap": {
            "n_boot": n_boot,
            "seed": seed,
            "alpha": alpha,
            "method": "bias-corrected percentile",
            "unit": "person" if groups is not None else "row",
        },
        "censoring_weights": weights.description,
        "follow_up": {"lower": times.lower, "upper": times.upper},
        "harrell_c": _interval(boot(harrell_c, y_test, risk)),
        "uno_c": {
            **_interval(boot(lambda y, r: uno_c(y, y, r, tau=tau), y_test, risk)),
            "tau": tau,
        },
        "integrated_brier": _integrated(
            y_test, source, reference, min_at_risk, boot, weights, notes
        ),
        "horizons": _horizons(y_test, source, reference, boot, weights, thresholds),
    }
    if competing:
        notes.append(_COMPETING_NOTE)
    notes.extend(_skipped(result))
    result["notes"] = notes
    if subgroups is not None:  # after _skipped: a group's intervals carry their own counts
        times = np.array(sorted(source.evaluated))
        result["subgroups"], more = subgroup_metrics(
            y_test,
            risk,
            source.at(times) if times.size else np.empty((risk.size, 0)),
            times,
            subgroups,
            n_boot=n_boot,
            seed=seed,
            alpha=alpha,
            groups=groups,
        )
        notes.extend(more)
    if progress is not None:  # the integrated Brier score may have been skipped
        total = _bootstrap_calls(len(source.evaluated)) * n_boot
        progress(total, total)
    # one value from here on: the dict above has the keys and order of metrics.json
    return from_json(
        Metrics, _json_ready(result), origin="evaluate_predictions", error=EvaluationError
    )


def _bootstrap_calls(horizons: int) -> int:
    """How many metrics are bootstrapped: the two C indices; with horizons, the AUC, the Brier
    scores, the integrated Brier score, and calibration and net benefit per horizon."""
    return 2 + (3 + 2 * horizons if horizons else 0)


def _ticker(
    progress: Callable[[int, int], None] | None, n_boot: int, horizons: int
) -> Callable[[], None] | None:
    """A callback for :func:`bootstrap_ci` that counts every resample of the evaluation."""
    if progress is None:
        return None
    total, done = _bootstrap_calls(horizons) * n_boot, [0]

    def tick() -> None:
        done[0] += 1
        progress(done[0], total)

    return tick


def performance_title(metrics: MetricsFile) -> str:
    """What a ``metrics.json``'s figures are: validation (with its design), apparent (measured
    on the rows the model was fitted on), or performance on another dataset."""
    evaluated = metrics.evaluated
    if evaluated is None:
        return f"Validation performance: {metrics.split or 'validation'}"
    if evaluated.in_sample:
        return "Apparent (in-sample) performance: the rows the model was fitted on, optimistic"
    return f"Performance on {evaluated.dataset} (not the rows the model was fitted on)"


def format_table(results: Metrics, *, title: str = "Performance") -> Table:
    """A terminal table of :func:`evaluate_predictions` results: metric, horizon, estimate, CI,
    under ``title`` (see :func:`performance_title`); under each Brier score, that of the
    "marginal incidence (no model)" reference and the model's IPA."""
    level = round(100 * (1 - results.bootstrap.alpha))
    table = Table(title=title, caption="\n".join(results.notes) or None)
    table.add_column("Metric")
    table.add_column("Horizon", justify="right")
    table.add_column("Estimate", justify="right")
    table.add_column(f"{level}% CI", justify="right")
    table.add_row("Harrell's C", "", *_cells(results.harrell_c))
    tau = results.uno_c.tau
    table.add_row("Uno's C", "" if tau is None else f"< {tau:.4g}", *_cells(results.uno_c))
    if results.integrated_brier is not None:
        ibs = results.integrated_brier
        span = f"{ibs.start:.4g}-{ibs.stop:.4g}"
        table.add_row("Integrated Brier score", span, *_cells(ibs))
        if ibs.null_model is not None:
            table.add_row(f"  {REFERENCE}", span, *_cells(ibs.null_model))
    for entry in results.horizons:
        horizon = f"{entry.horizon:.4g}"
        calibration = entry.calibration
        reference = entry.null_model
        rows = [
            ("Time-dependent AUC", entry.time_dependent_auc),
            ("Brier score", entry.brier),
            *(
                [(f"  {REFERENCE}", reference.brier), ("Scaled Brier score (IPA)", reference.ipa)]
                if reference is not None
                else []
            ),
            ("Calibration slope", calibration.slope),
            ("Calibration intercept", calibration.intercept),
            ("ICI", calibration.ici),
            ("E50", calibration.e50),
            ("E90", calibration.e90),
        ]
        table.add_section()
        for name, value in rows:
            table.add_row(name, horizon, *_cells(value))
    return table


#: The columns of ``compare``'s terminal table: a row's key and its header (the horizon is
#: in the title).
_COMPARISON = {
    "harrell_c": "Harrell C",
    "uno_c": "Uno C",
    "integrated_brier": "IBS",
    "brier": "Brier",
    "ipa": "IPA",
    "calibration_slope": "Slope",
    "fit_seconds": "Fit s",
}


def format_comparison(rows: Sequence[dict[str, Any]], *, title: str) -> Table:
    """The terminal table of ``prognosis compare``: one line per row of
    :func:`prognosis.training.compare_models`, the "marginal incidence (no model)" reference
    first; what a row lacks (the reference's slope and fit time) is left blank."""
    horizon = next((row["horizon"] for row in rows if row.get("horizon") is not None), None)
    at = "" if horizon is None else f"; Brier, IPA and slope at {horizon:g} days"
    table = Table(
        title=f"{title}{at}",
        caption=(
            f"{REFERENCE}: everyone given the training rows' risk (C 0.5 by construction); "
            "IPA = 1 - Brier / its Brier"
        ),
    )
    longest = max((len(str(row["model"])) for row in rows if row["model"] != REFERENCE), default=5)
    table.add_column("Model", min_width=longest)
    for header in _COMPARISON.values():
        table.add_column(header, justify="right")
    for row in rows:
        cells = [row.get(key) for key in _COMPARISON]
        table.add_row(escape(str(row["model"])), *("" if v is None else f"{v:.3f}" for v in cells))
    return table


def format_subgroups(results: Metrics, *, title: str = "Performance") -> Group | None:
    """Terminal tables of the subgroups of ``results`` (None when there are none).

    Two tables, so that each fits an 80-column terminal: discrimination (rows, events by the
    first horizon, Harrell's C and the AUC there) and calibration in the large at the first
    horizon (mean predicted risk against the observed risk), one section per variable and one
    row per group, with intervals; counts as ``metrics.json`` publishes them (``<5``,
    ``hidden``), and why a group was suppressed.
    """
    if not results.subgroups:
        return None
    level = round(100 * (1 - results.bootstrap.alpha))
    horizon = next((h.horizon for s in results.subgroups for h in s.horizons), None)
    at = "" if horizon is None else f" at {horizon:.4g}"
    discrimination = _subgroup_table(
        f"{title}: discrimination by subgroup",
        f"{level}% CI in parentheses; events and AUC{at}; every horizon in metrics.json and the "
        "model report",
        ("Rows", f"Events{at}", "Harrell's C", f"AUC{at}"),
    )
    calibration = _subgroup_table(
        f"{title}: calibration in the large by subgroup",
        f"{level}% CI in parentheses; the mean predicted risk and the observed risk{at}",
        ("Predicted", "Observed"),
    )
    variable = None
    for entry in results.subgroups:
        if entry.variable != variable:
            if variable is not None:
                discrimination.add_section()
                calibration.add_section()
            variable = entry.variable
            discrimination.add_row(f"[bold]{escape(variable)}[/bold]")
            calibration.add_row(f"[bold]{escape(variable)}[/bold]")
        group = f"  {escape(entry.group)}"
        counts = (_count(entry, "n"), _count(entry, "events_at_horizon"))
        if entry.harrell_c is None:
            discrimination.add_row(group, *counts, entry.suppressed or "n/a")
            calibration.add_row(group, entry.suppressed or "n/a")
            continue
        first = entry.horizons[0] if entry.horizons else None
        auc = _with_ci(first.time_dependent_auc, "{:.3f}") if first else "n/a"
        discrimination.add_row(group, *counts, _with_ci(entry.harrell_c, "{:.3f}"), auc)
        if first is None:
            calibration.add_row(group, "n/a", "n/a")
            continue
        observed = _with_ci(first.observed, "{:.1%}").replace("%-", "-").replace("%)", ")")
        calibration.add_row(
            group, _with_ci(first.mean_predicted, "{:.1%}", interval=False), observed
        )
    return Group(discrimination, calibration)


def _subgroup_table(title: str, caption: str, columns: Sequence[str]) -> Table:
    table = Table(title=title, caption=caption)
    table.add_column("Group")
    for name in columns:
        table.add_column(name, justify="right")
    return table


def _count(entry: Subgroup, name: str) -> str:
    value = getattr(entry, name)
    if value is not None:
        return f"{value:,}"
    return f"<{MIN_EVENTS}" if name in entry.small else "hidden"


def _with_ci(value: Interval, form: str, *, interval: bool = True) -> str:
    if value.estimate is None:
        return "n/a"
    text = form.format(value.estimate)
    if not interval or value.lower is None or value.upper is None:
        return text
    return f"{text} ({form.format(value.lower)}-{form.format(value.upper)})"


@dataclass(frozen=True)
class _Source:
    """Survival predictions at the evaluated times, and how they were obtained."""

    at: Callable[[np.ndarray], np.ndarray]  # times -> (n_rows, n_times)
    evaluated: tuple[float, ...]
    from_callable: bool
    notes: tuple[str, ...]

    @classmethod
    def build(cls, survival: Survival, times: EvaluationTimes, n: int) -> _Source:
        if callable(survival):
            evaluated = tuple(float(t) for t in times.times)
            return cls(_checked_call(survival, n), evaluated, True, ())
        matrix = np.asarray(survival, dtype=float)
        requested = [h.requested for h in times.horizons]
        if matrix.shape != (n, len(requested)):
            raise EvaluationError(
                f"survival predictions must have shape (rows, horizons) = ({n}, "
                f"{len(requested)}); got {matrix.shape}"
            )
        columns = {h.requested: j for j, h in enumerate(times.horizons) if h.used is not None}
        usable = tuple(sorted({h.requested for h in times.horizons if h.used == h.requested}))
        notes = tuple(
            f"horizon {h.requested:g} not evaluated at {h.used:g}: survival predictions were "
            "given only at the requested horizons (pass a callable to evaluate there)"
            for h in times.horizons
            if h.clipped
        )

        def at(values: np.ndarray) -> np.ndarray:
            return matrix[:, [columns[float(t)] for t in np.atleast_1d(values)]]

        return cls(at, usable, False, notes)


def _checked_call(
    survival: Callable[[np.ndarray], np.ndarray], n: int
) -> Callable[[np.ndarray], np.ndarray]:
    def at(times: np.ndarray) -> np.ndarray:
        grid = np.atleast_1d(np.asarray(times, dtype=float))
        matrix = np.asarray(survival(grid), dtype=float)
        if matrix.shape != (n, grid.size):
            raise EvaluationError(
                f"survival(times) must return shape (rows, times) = ({n}, {grid.size}); "
                f"got {matrix.shape}"
            )
        return matrix

    return at


def _reference(
    null_survival: Callable[[np.ndarray], np.ndarray] | None, y_train: np.ndarray, n: int
) -> Callable[[np.ndarray], np.ndarray]:
    """The "marginal incidence (no model)" reference's survival: given, or ``y_train``'s."""
    if null_survival is not None:
        return _checked_call(null_survival, n)

    def at(times: np.ndarray) -> np.ndarray:
        risk = marginal_incidence(y_train, np.atleast_1d(times))
        return np.tile(1.0 - risk, (n, 1))

    return at


def _with_reference(
    score: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """``score(y, survival, lp)`` of the model and of the reference on one resample: the model's
    scores, the reference's, and 1 - model / reference (IPA), concatenated."""

    def both(y: np.ndarray, model: np.ndarray, null: np.ndarray, lp: np.ndarray) -> np.ndarray:
        ours, theirs = np.atleast_1d(score(y, model, lp)), np.atleast_1d(score(y, null, lp))
        scaled = np.divide(ours, theirs, out=np.full(ours.shape, np.nan), where=theirs > 0)
        return np.r_[ours, theirs, 1.0 - scaled]

    return both


def _horizons(
    y_test: np.ndarray,
    source: _Source,
    reference: Callable[[np.ndarray], np.ndarray],
    boot: Callable[..., BootstrapResult],
    weights: _Weights,
    thresholds: Sequence[float],
) -> list[dict[str, Any]]:
    """One entry per evaluated horizon; AUC and Brier resampled for all horizons at once (the
    Brier scores of the model and of the reference on the same resamples)."""
    if not source.evaluated:
        return []
    times = np.array(sorted(source.evaluated))
    survival = source.at(times)
    null = reference(times)
    auc = boot(
        lambda y, r, lp: time_dependent_auc(y, y, r, times, censoring=weights.model(lp))[0],
        y_test,
        1.0 - survival,
        weights.linear,
    )
    brier = boot(
        _with_reference(lambda y, s, lp: brier_scores(y, y, s, times, censoring=weights.model(lp))),
        y_test,
        survival,
        null,
        weights.linear,
    )
    k = times.size
    return [
        {
            "horizon": float(horizon),
            "time_dependent_auc": _part(auc, j),
            "brier": _part(brier, j),
            **_at_horizon(y_test, 1.0 - survival[:, j], float(horizon), boot, thresholds),
            "null_model": {
                "risk": float(np.mean(1.0 - null[:, j])),
                "brier": _part(brier, k + j),
                "ipa": _part(brier, 2 * k + j),
            },
        }
        for j, horizon in enumerate(times)
    ]


def _at_horizon(
    y_test: np.ndarray,
    risk: np.ndarray,
    horizon: float,
    boot: Callable[..., BootstrapResult],
    thresholds: Sequence[float],
) -> dict[str, Any]:
    table = calibration_at(y_test, risk, horizon)
    summary = boot(lambda y, r: calibration_summary(y, r, horizon), y_test, risk)
    observed, lower, upper = observed_risk(y_test, [horizon])
    curve = decision_curve(y_test, risk, horizon, thresholds)
    benefit = boot(lambda y, r: net_benefit(y, r, horizon, thresholds), y_test, risk)
    return {
        "marginal": {  # calibration in the large: the model's mean risk against the observed
            "mean_predicted": float(np.mean(risk)),
            "observed": float(observed[0]),
            "observed_lower": float(lower[0]),
            "observed_upper": float(upper[0]),
        },
        "calibration": {
            **{name: _part(summary, i) for i, name in enumerate(_CALIBRATION)},
            "table": [asdict(group) for group in table.groups],
            "curve": [list(point) for point in table.curve],
        },
        "decision_curve": {
            **asdict(curve),
            "model_lower": benefit.lower,
            "model_upper": benefit.upper,
            "failed_resamples": benefit.n_failed,
        },
    }


def _integrated(
    y_test: np.ndarray,
    source: _Source,
    reference: Callable[[np.ndarray], np.ndarray],
    min_at_risk: int,
    boot: Callable[..., BootstrapResult],
    weights: _Weights,
    notes: list[str],
) -> dict[str, Any] | None:
    """IBS from the ``min_at_risk``-th test outcome event to the last evaluated horizon, with
    that of the reference on the same grid (``null_model``)."""
    if not source.evaluated:
        return None
    if source.from_callable:
        test = check_target(y_test, competing=True)
        stop = max(source.evaluated)
        events = np.unique(test.time[(test.event == 1) & (test.time <= stop)])
        start = events[min(max(min_at_risk, 1), events.size) - 1]
        grid = np.quantile(events[events >= start], np.linspace(0, 1, _IBS_POINTS))
        grid = np.unique(np.r_[grid, stop])
    else:
        grid = np.asarray(source.evaluated)
    if grid.size < 2:
        notes.append("integrated Brier score not computed: it needs two or more times")
        return None
    if not source.from_callable:
        notes.append("integrated Brier score over the evaluated horizons only (no callable)")
    result = boot(
        _with_reference(
            lambda y, s, lp: integrated_brier(y, y, s, grid, censoring=weights.model(lp))
        ),
        y_test,
        source.at(grid),
        reference(grid),
        weights.linear,
    )
    return {
        **_part(result, 0),
        "start": float(grid[0]),
        "stop": float(grid[-1]),
        "null_model": _part(result, 1),
    }


@dataclass(frozen=True)
class _Weights:
    """How the AUC and Brier scores' censoring weights are estimated on the rows scored."""

    description: str
    linear: np.ndarray  # the Cox censoring model's linear predictor per row (zeros for KM)
    baseline: tuple[np.ndarray, np.ndarray] | None  # Cox: baseline times and H0; KM: None

    @classmethod
    def build(cls, test: Any, covariates: pd.DataFrame | None) -> _Weights:
        if covariates is None:
            return cls(_CENSORING, np.zeros(test.time.size), None)
        grid, hazard, linear = fit_cox_censoring(test.event > 0, test.time, covariates)
        names = ", ".join(str(c) for c in covariates.columns)
        description = (
            f"Cox model of the censoring time on {names}, fitted on the rows evaluated "
            "(its linear predictor resampled with its rows); Uno's C keeps Kaplan-Meier "
            "weights; assumes censoring independent of the outcome given these covariates"
        )
        return cls(description, linear, (grid, hazard))

    def model(self, linear: np.ndarray) -> CensoringModel | None:
        """The censoring model of one (resampled) set of rows; None: Kaplan-Meier on them."""
        if self.baseline is None:
            return None
        return CoxCensoring(*self.baseline, linear)


def _interval(result: BootstrapResult) -> dict[str, Any]:
    return {
        "estimate": result.estimate,
        "lower": result.lower,
        "upper": result.upper,
        "failed_resamples": result.n_failed,
        "extended_to_estimate": result.extended,
    }


def _part(result: BootstrapResult, index: int) -> dict[str, Any]:
    return {
        "estimate": result.estimate[index],  # type: ignore[index]
        "lower": result.lower[index],  # type: ignore[index]
        "upper": result.upper[index],  # type: ignore[index]
        "failed_resamples": result.n_failed,
        "extended_to_estimate": result.extended[index],  # type: ignore[index]
    }


def _skipped(result: dict[str, Any]) -> list[str]:
    """A note for every interval that rests on fewer resamples than asked for, or that was
    widened to reach its estimate."""
    n_boot = result["bootstrap"]["n_boot"]
    found = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("failed_resamples"):
                found.append(
                    f"{path}: {node['failed_resamples']} of {n_boot} bootstrap resamples "
                    "could not be computed and were skipped"
                )
            if node.get("extended_to_estimate"):
                found.append(
                    f"{path}: nearly every bootstrap replicate lies on one side of the "
                    "estimate (a biased statistic); the interval was widened to reach it"
                )
            for key, value in node.items():
                visit(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                visit(value, f"{path}[{i}]")

    visit(result, "")
    return found


def _json_ready(node: Any) -> Any:
    """Plain Python values; NaN and infinities become None."""
    if isinstance(node, dict):
        return {str(key): _json_ready(value) for key, value in node.items()}
    if isinstance(node, list | tuple | np.ndarray):
        return [_json_ready(value) for value in node]
    if isinstance(node, bool | np.bool_):
        return bool(node)
    if isinstance(node, int | np.integer):
        return int(node)
    if isinstance(node, float | np.floating):
        return float(node) if math.isfinite(node) else None
    return node


def _cells(value: Interval) -> tuple[str, str]:
    estimate, lower, upper = value.estimate, value.lower, value.upper
    text = "n/a" if estimate is None else f"{estimate:.3f}"
    interval = "n/a" if lower is None or upper is None else f"{lower:.3f} to {upper:.3f}"
    return text, interval
