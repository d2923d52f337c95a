"""The model report: everything ``reports/NAME/index.html`` shows, assembled as data.

:func:`build_model_report` gathers the cohort definition in words, attrition, Table 1, observed
risk curves, the metrics with their intervals, calibration, time-dependent AUC and decision
curves per horizon, global SHAP, the TRIPOD+AI checklist and provenance into a
:class:`ModelReport`; :func:`write_model_report` renders it into one self-contained HTML file.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from prognosis.artifacts import (
    AttritionStep,
    DatasetManifest,
    DecisionCurve,
    HorizonMetrics,
    Interval,
    Metrics,
    MetricsFile,
    read_metrics,
    read_model_manifest,
    to_json,
)
from prognosis.dataset import CohortDataset, load_dataset
from prognosis.evaluation.metrics import observed_risk
from prognosis.exceptions import ModelDirectoryError, PrognosisError
from prognosis.horizons import horizon_text
from prognosis.models.store import SavedModel, load_model
from prognosis.output_folders import OutputKind, claim_output, write_marker
from prognosis.report import charts, shap_drivers, svg
from prognosis.report.calibration_context import calibration_group_sizes
from prognosis.report.coefficients import Coefficients, coefficient_table
from prognosis.report.describe import (
    Statement,
    describe_definition,
    outcome_and_entry,
    parse_recorded_definition,
)
from prognosis.report.patient_report import risk_words
from prognosis.report.privacy import (
    HIDDEN,
    CountTable,
    protect,
    redact_source,
    suppress,
    suppress_small_counts_in_text,
)
from prognosis.report.render import render_page, write_page
from prognosis.report.report_json import Predicts, predicts, write_report_json
from prognosis.report.table_one import TableOne, table_one
from prognosis.report.tripod import TODO, TripodItem, tripod_items
from prognosis.training import check_schema, evaluate_model, is_training_data

__all__ = ["ModelReport", "build_model_report", "write_model_report"]

_CALIBRATION = (
    ("slope", "Calibration slope"),
    ("intercept", "Calibration intercept"),
    ("ici", "ICI"),
    ("e50", "E50"),
    ("e90", "E90"),
)


@dataclass(frozen=True)
class AttritionRow:
    description: str
    persons: str
    index_events: str
    dropped: str


@dataclass(frozen=True)
class RiskCurves:
    chart: charts.Chart
    caption: str
    at_risk_times: list[str]
    at_risk: list[tuple[str, list[str]]]
    observed: list[charts.Curve]  # the curves drawn: times, estimate, pointwise interval


class MetricRow(NamedTuple):
    """One row of the performance table."""

    metric: str
    horizon: str
    value: Interval


@dataclass(frozen=True)
class CalibrationRow:
    """One group of the calibration table as shown: its persons protected (text)."""

    group: int
    n: str
    mean_predicted: float | None
    observed: float | None
    observed_lower: float | None
    observed_upper: float | None
    predicted_min: float | None
    predicted_max: float | None


@dataclass(frozen=True)
class HorizonPanel:
    horizon: str
    calibration: charts.Chart
    summary: list[tuple[str, Interval]]
    groups: list[CalibrationRow]
    decision: charts.Chart
    smoothed: tuple[
        tuple[float | None, ...], ...
    ]  # the calibration curve drawn: (predicted, observed)
    net_benefit: DecisionCurve  # the decision curve drawn, with its interval


@dataclass(frozen=True)
class MetricSection:
    origin: str
    n_test: str
    n_events: str
    level: int
    rows: list[MetricRow]
    auc: charts.Chart | None
    panels: list[HorizonPanel]
    notes: list[str]


@dataclass(frozen=True)
class Shap:
    bars: charts.Chart
    swarm: charts.Chart
    importance: list[shap_drivers.Importance]
    scale: str
    n_rows: int


@dataclass(frozen=True)
class Provenance:
    generated: str
    facts: list[tuple[str, str]]
    versions: list[tuple[str, str]]
    model_files: list[tuple[str, str]]
    dataset_files: list[tuple[str, str]]
    data_quality: list[str]


@dataclass(frozen=True)
class ModelReport:
    title: str
    predicts: Predicts
    summary: list[tuple[str, str]]
    definition: list[Statement] | None
    attrition: list[AttritionRow]
    table1: TableOne
    curves: RiskCurves
    metrics: MetricSection | None
    metrics_missing: str
    coefficients: Coefficients | None
    shap: Shap | shap_drivers.Unavailable
    tripod: list[TripodItem]
    todo: str
    provenance: Provenance


def build_model_report(
    model_dir: Path,
    dataset: CohortDataset,
    *,
    metrics: MetricsFile | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> ModelReport:
    """Assemble the model report of the model in ``model_dir`` on ``dataset``.

    Parameters
    ----------
    model_dir : a model directory (``prognosis fit``)
    dataset : the cohort to describe; when it is the training dataset the report shows the
        validation metrics stored with the model, otherwise the model is evaluated on it
    metrics : metrics from ``prognosis evaluate`` to show instead
    n_boot, seed : bootstrap of that evaluation, when one is needed
    """
    saved = load_model(model_dir)
    X = check_schema(saved, dataset.frame, origin=str(dataset.path))
    chosen, origin = _metrics(saved, dataset, metrics, n_boot, seed)
    definition = parse_recorded_definition(saved.training_manifest) or parse_recorded_definition(
        dataset.manifest
    )
    statements = describe_definition(definition, saved.features) if definition else None
    risk = saved.pipeline.predict_risk(X, saved.info.horizons[0])
    cohort = saved.info.cohort or dataset.manifest.cohort or dataset.path.name
    table1 = table_one(dataset.frame, saved.features)
    outcome, entry = outcome_and_entry(definition)
    return ModelReport(
        title=f"{cohort}: {saved.info.model} prognosis model",
        predicts=predicts(
            saved.info,
            cohort=str(cohort),
            outcome=outcome,
            entry=entry,
            quantity=risk_words(saved.info),
        ),
        summary=_summary(saved, table1, cohort),
        definition=statements,
        attrition=attrition_rows(dataset.attrition),
        table1=table1,
        curves=_curves(dataset, risk, saved.info.horizons[0]),
        metrics=_metric_section(chosen, origin) if chosen else None,
        metrics_missing=origin,
        coefficients=coefficient_table(
            saved.pipeline.steps[-1][1],
            {feature.name: feature.label or feature.name for feature in saved.features},
        ),
        shap=_shap(saved, dataset.frame, seed),
        tripod=tripod_items(
            info=saved.info,
            manifest=saved.training_manifest
            if saved.training_manifest != DatasetManifest()
            else dataset.manifest,
            statements=statements,
            frame=dataset.frame,
            sizes=dict(zip(table1.columns, table1.sizes, strict=True)),
            metrics=chosen,
            metrics_origin=origin,
        ),
        todo=TODO,
        provenance=_provenance(Path(model_dir), saved, dataset),
    )


def write_model_report(
    model_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    *,
    metrics_path: Path | None = None,
    n_boot: int = 200,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Render the model report into ``out_dir/index.html`` (atomically); return its path.

    Its numbers go beside it into ``out_dir/report.json``
    (:func:`~prognosis.report.report_json.write_report_json`, written just before, also
    atomically).
    ``out_dir`` is checked first: new, empty, holding only other prognosis outputs (the patient
    reports), or a previous model report (replaced only with ``overwrite``).
    """
    out_dir = Path(out_dir)
    with claim_output(
        out_dir, OutputKind.MODEL_REPORT, overwrite=overwrite, protect=[model_dir, dataset_dir]
    ):
        return _write_model_report(model_dir, dataset_dir, out_dir, metrics_path, n_boot, seed)


def _write_model_report(
    model_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    metrics_path: Path | None,
    n_boot: int,
    seed: int,
) -> Path:
    metrics = None
    if metrics_path is not None:
        hint = "pass the metrics.json that `prognosis evaluate --out` wrote"
        metrics = read_metrics(Path(metrics_path), error=PrognosisError, hint=hint)
    report = build_model_report(
        Path(model_dir), load_dataset(dataset_dir), metrics=metrics, n_boot=n_boot, seed=seed
    )
    html = render_page("model.html.jinja2", report=report, title=report.title)
    write_report_json(out_dir / "report.json", "model", report.predicts, report)
    page = write_page(out_dir / "index.html", html)
    write_marker(out_dir, OutputKind.MODEL_REPORT)
    return page


def _metrics(
    saved: SavedModel,
    dataset: CohortDataset,
    given: MetricsFile | None,
    n_boot: int,
    seed: int,
) -> tuple[Metrics | None, str]:
    if given is not None:
        where = (given.evaluated and given.evaluated.dataset) or (
            "the dataset given to prognosis evaluate"
        )
        if given.evaluated is not None and given.evaluated.in_sample:
            return given.results, (
                f"apparent (in-sample) performance, from prognosis evaluate on {where}, the "
                "rows the model was fitted on: optimistic, not a validation"
            )
        return given.results, f"from prognosis evaluate on {where}"
    if is_training_data(saved, dataset):
        if saved.metrics.results is not None:
            return (
                saved.metrics.results,
                f"{saved.metrics.split or 'validation'} on the training cohort",
            )
        return None, (
            "the model was fit without validation (--split none); run prognosis "
            "evaluate on held-out or external data and pass --metrics"
        )
    measured = evaluate_model(saved, dataset, n_boot=n_boot, seed=seed).results
    source = redact_source(dataset.manifest.source)
    return measured, f"the saved model evaluated on this dataset (source: {source})"


def _summary(saved: SavedModel, table1: TableOne, cohort: str) -> list[tuple[str, str]]:
    sizes = dict(zip(table1.columns, table1.sizes, strict=True))
    summary = [
        ("Cohort", str(cohort)),
        ("Model", str(saved.info.model)),
        ("Horizons", ", ".join(horizon_text(h) for h in saved.info.horizons)),
        ("Persons in this dataset", sizes["Overall"]),
        ("Outcome events", sizes["Outcome"]),
        ("Validation", str(saved.metrics.split or "none")),
    ]
    if saved.info.competing_censored:
        summary.append(
            (
                "What its risks are",
                "risk ignoring competing events: fitted with competing events censored, it "
                "overstates the probability of the outcome; its validation compares it with the "
                "observed cumulative incidence (Aalen-Johansen). Use cause-specific-cox for "
                "that probability.",
            )
        )
    return summary


def attrition_rows(steps: Sequence[AttritionStep]) -> list[AttritionRow]:
    """The attrition table of ``steps`` (attrition.json), its small counts protected.

    Persons and index events left after each step, and persons dropped by it, go through
    :func:`~prognosis.report.privacy.protect` with what every reader knows: each row's
    figures equal the row above minus what the step dropped (index events dropped are not
    shown, yet implied), and there are at least as many index events as persons. So a step
    that drops fewer than 5 shows ``<5`` and hides (``hidden``) the persons left before or
    after it, and what else would let the subtraction through. The last row (the dataset) is
    hidden only when nothing else can be; ``first_occurrence`` drops no person by construction.
    """
    values: dict[str, int] = {}
    sums: list[tuple[str, tuple[str, ...]]] = []
    at_least: list[tuple[str, str]] = []
    implicit, structural = set(), set()
    for i, step in enumerate(steps):
        values[f"p{i}"] = int(step.persons)
        values[f"e{i}"] = int(step.index_events)
        at_least.append((f"e{i}", f"p{i}"))
        if i == 0:
            continue
        values[f"d{i}"] = values[f"p{i - 1}"] - values[f"p{i}"]
        values[f"x{i}"] = values[f"e{i - 1}"] - values[f"e{i}"]
        implicit.add(f"x{i}")
        sums += [(f"p{i - 1}", (f"p{i}", f"d{i}")), (f"e{i - 1}", (f"e{i}", f"x{i}"))]
        at_least.append((f"x{i}", f"d{i}"))
        if step.step == "first_occurrence" and values[f"d{i}"] == 0:
            structural.add(f"d{i}")
    last = len(steps) - 1
    published = protect(
        CountTable(
            values,
            sums=sums,
            at_least=at_least,
            implicit=frozenset(implicit),
            structural=frozenset(structural),
            keep=frozenset({f"p{last}", f"e{last}"}),
        )
    )
    return [
        AttritionRow(
            description=str(step.description or step.step),
            persons=published.text(f"p{i}"),
            index_events=published.text(f"e{i}"),
            dropped="—" if i == 0 else published.text(f"d{i}"),
        )
        for i, step in enumerate(steps)
    ]


def _curves(dataset: CohortDataset, risk: np.ndarray, horizon: float) -> RiskCurves:
    frame = dataset.frame
    y = dataset.y
    competing = dataset.competing
    times = np.linspace(0.0, float(frame["time"].max()), 150)
    groups: list[tuple[str, np.ndarray]] = [("All persons", np.ones(len(frame), dtype=bool))]
    if np.unique(risk).size >= 3:
        thirds = np.quantile(risk, [1 / 3, 2 / 3])
        bands = np.digitize(risk, thirds, right=True)
        names = ("Lowest", "Middle", "Highest")
        groups += [(f"{names[k]} third of predicted risk", bands == k) for k in range(3)]
    step = svg.day_step(float(times[-1]))
    marks = np.arange(0.0, float(times[-1]) + 1e-9, step)
    at_risk = at_risk_rows(groups, frame["time"].to_numpy(float), marks)
    curves: list[charts.Curve] = []
    for (name, mask), (_, counts) in zip(groups, at_risk, strict=True):
        if not np.any(y["event"][mask] == 1):
            continue
        followed = times[times <= y["time"][mask].max()]  # each curve ends with its follow-up
        estimate, lower, upper = observed_risk(y[mask], followed)
        curves.append(charts.Curve(f"{name} (n = {counts[0]})", followed, estimate, lower, upper))
    what = "Cumulative incidence (Aalen-Johansen)" if competing else "1 \u2212 Kaplan-Meier"
    # the estimator is named in the caption: an axis label that long is cut off
    ylabel = "Observed cumulative incidence" if competing else "Observed risk"
    chart = charts.risk_curves_chart(curves, ylabel=ylabel, name="observed")
    return RiskCurves(
        chart=chart,
        caption=(
            f"Observed risk of the outcome since index ({what}), with pointwise 95% intervals, "
            f"for all persons and by thirds of the model's predicted risk at "
            f"{horizon_text(horizon)} (predictions of the saved model on these rows)."
        ),
        at_risk_times=[f"{t:g}" for t in marks],
        at_risk=at_risk,
        observed=curves,
    )


def at_risk_rows(
    groups: list[tuple[str, np.ndarray]], time: np.ndarray, marks: np.ndarray
) -> list[tuple[str, list[str]]]:
    """Persons still followed at each of ``marks`` in each group, small counts protected.

    A reader knows that the groups after the first split it (all persons into thirds), and
    that the persons who left between two marks (never shown) are the difference of the two
    counts; :func:`~prognosis.report.privacy.protect` hides what would reveal a small one.
    """
    values: dict[str, int] = {}
    sums: list[tuple[str, tuple[str, ...]]] = []
    implicit = set()
    for g, (_, mask) in enumerate(groups):
        for k, t in enumerate(marks):
            values[f"{g}|{k}"] = int(np.sum(time[mask] >= t))
        for k in range(len(marks) - 1):
            values[f"{g}|{k}|left"] = values[f"{g}|{k}"] - values[f"{g}|{k + 1}"]
            implicit.add(f"{g}|{k}|left")
            sums.append((f"{g}|{k}", (f"{g}|{k + 1}", f"{g}|{k}|left")))
    if len(groups) > 1:
        sums += [
            (f"0|{k}", tuple(f"{g}|{k}" for g in range(1, len(groups)))) for k in range(len(marks))
        ]
    published = protect(
        CountTable(values, sums=sums, implicit=frozenset(implicit), keep=frozenset({"0|0"}))
    )
    return [
        (name, [published.text(f"{g}|{k}") for k in range(len(marks))])
        for g, (name, _) in enumerate(groups)
    ]


def _metric_section(metrics: Metrics, origin: str) -> MetricSection:
    level = round(100 * (1 - metrics.bootstrap.alpha))
    rows = [MetricRow("Harrell's C", "", metrics.harrell_c)]
    uno = metrics.uno_c
    rows.append(MetricRow("Uno's C", f"up to {uno.tau:g} days" if uno.tau else "", uno))
    ibs = metrics.integrated_brier
    if ibs:
        rows.append(MetricRow("Integrated Brier score", f"{ibs.start:g} to {ibs.stop:g} days", ibs))
    panels, auc_rows = [], []
    for entry in metrics.horizons:
        label = horizon_text(entry.horizon)
        rows.append(MetricRow("Time-dependent AUC", label, entry.time_dependent_auc))
        rows.append(MetricRow("Brier score", label, entry.brier))
        auc = entry.time_dependent_auc
        auc_rows.append((label, auc.estimate, auc.lower, auc.upper))
        panels.append(_panel(entry, label, metrics.n_test))
    auc_chart = (
        charts.interval_chart(
            auc_rows,
            xlabel="Time-dependent AUC (95% CI)",
            name="auc",
            reference=0.5,
            reference_label="No discrimination (0.5)",
        )
        if len(auc_rows) > 1  # one horizon: the performance table says all a chart would
        else None
    )
    return MetricSection(
        origin=origin,
        n_test=_evaluated(metrics),
        n_events=suppress(metrics.n_outcome_events),
        level=level,
        rows=rows,
        auc=auc_chart,
        panels=panels,
        notes=[suppress_small_counts_in_text(str(n)) for n in metrics.notes],
    )


def _evaluated(metrics: Metrics) -> str:
    """The persons evaluated, hidden where a calibration table would give a small group away."""
    total = metrics.n_test
    shown = {
        calibration_group_sizes(entry.calibration.table, total)[1] for entry in metrics.horizons
    }
    return HIDDEN if HIDDEN in shown else suppress(total)


def _panel(entry: HorizonMetrics, label: str, total: int | None) -> HorizonPanel:
    key = f"{entry.horizon:g}"
    calibration = entry.calibration
    sizes, _ = calibration_group_sizes(calibration.table, total)
    groups = [
        CalibrationRow(
            group=int(g.group),
            n=size,
            mean_predicted=g.mean_predicted,
            observed=g.observed,
            observed_lower=g.observed_lower,
            observed_upper=g.observed_upper,
            predicted_min=g.predicted_min,
            predicted_max=g.predicted_max,
        )
        for g, size in zip(calibration.table, sizes, strict=True)
    ]
    return HorizonPanel(
        horizon=label,
        calibration=charts.calibration_chart(
            calibration.table,
            calibration.curve,
            horizon=label,
            name=f"calibration-{key}",
        ),
        summary=[(title, getattr(calibration, name)) for name, title in _CALIBRATION],
        groups=groups,
        decision=charts.decision_chart(
            entry.decision_curve,
            horizon=label,
            name=f"decision-{key}",
            up_to=max(0.1, 1.5 * max((g.mean_predicted for g in calibration.table), default=0.5)),
        ),
        smoothed=calibration.curve,
        net_benefit=entry.decision_curve,
    )


def _shap(saved: SavedModel, frame: pd.DataFrame, seed: int) -> Shap | shap_drivers.Unavailable:
    found = shap_drivers.global_explanation(saved, frame, seed=seed)
    if isinstance(found, shap_drivers.Unavailable):
        return found
    scale = f"mean |SHAP value| ({found.scale})"
    return Shap(
        bars=charts.importance_chart(
            [i.label for i in found.importance],
            [i.mean_abs for i in found.importance],
            xlabel=scale,
            name="shap-bars",
        ),
        swarm=charts.beeswarm_chart(
            found.swarm_labels,
            found.swarm_values,
            found.swarm_data,
            xlabel=f"SHAP value ({found.scale}; right = higher risk)",
            name="shap-swarm",
        ),
        importance=found.importance,
        scale=found.scale,
        n_rows=found.n_rows,
    )


def _settings(saved: SavedModel) -> str:
    """The fitted estimator's hyperparameters as they were (defaults included), as JSON."""
    params = saved.pipeline.steps[-1][1].get_params(deep=False)
    return json.dumps(params, default=str)


def _provenance(model_dir: Path, saved: SavedModel, dataset: CohortDataset) -> Provenance:
    training = saved.training_manifest
    definition = training.definition
    info = saved.info
    facts = [
        ("Model directory", model_dir.name),
        ("Model created", str(info.created_at)),
        ("Model family and settings", f"{info.model} {_settings(saved)}"),
        ("Seed", str(info.seed)),
        ("Validation design", json.dumps(to_json(info.split))),
        ("Training cohort", _recorded(training.cohort)),
        (
            "Cohort definition",
            f"{definition.path if definition else 'not recorded'} (SHA-256 "
            f"{definition.sha256 if definition else 'not recorded'})",
        ),
        ("Data source", redact_source(training.source)),
        (
            "Engine and build date",
            f"{_recorded(training.engine, 'n/a')}, {_recorded(training.build_date, 'n/a')}",
        ),
        (
            "Dataset of this report",
            f"{dataset.path.name} (source {redact_source(dataset.manifest.source)})",
        ),
        ("Same rows as training", "yes" if is_training_data(saved, dataset) else "no"),
    ]
    versions = {**(training.versions or {}), **info.versions}
    model_manifest = read_model_manifest(model_dir / "manifest.json", error=ModelDirectoryError)
    dataset_files = dict(dataset.manifest.files or {})
    dataset_files.setdefault("dataset.parquet", dataset.file_sha256)
    return Provenance(
        generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        + f" by prognosis {_version()}",
        facts=facts,
        versions=sorted(versions.items()),
        model_files=sorted(model_manifest.files.items()),
        dataset_files=sorted(dataset_files.items()),
        data_quality=[suppress_small_counts_in_text(str(f)) for f in training.data_quality or ()],
    )


def _recorded(value: str | None, missing: str = "not recorded") -> str:
    return missing if value is None else str(value)


def _version() -> str:
    try:
        return metadata.version("prognosis")
    except metadata.PackageNotFoundError:
        return "unknown"
