"""The model report: everything ``reports/NAME/index.html`` shows, assembled as data.

:func:`build_model_report` gathers the cohort definition in words, attrition (a table and a
flow diagram), Table 1 (with standardized differences), observed risk curves (and, under
competing risks, the cumulative incidence of every cause), the metrics with their intervals,
calibration, time-dependent AUC and decision curves per horizon, global SHAP, the TRIPOD+AI
checklist and provenance into a :class:`ModelReport`; :func:`write_model_report` renders it
into one self-contained HTML file.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from markupsafe import Markup

from prognosis.artifacts import (
    AttritionStep,
    DatasetManifest,
    DecisionCurve,
    HorizonMetrics,
    Interval,
    Metrics,
    MetricsFile,
    Subgroup,
    SubgroupHorizon,
    ValidationPredictions,
    read_metrics,
    read_model_manifest,
    to_json,
)
from prognosis.dataset import CohortDataset, load_dataset
from prognosis.evaluation.metrics import REFERENCE, observed_risk
from prognosis.evaluation.verdict import Basis, Verdict, basis_of, judge
from prognosis.exceptions import ModelDirectoryError, PrognosisError
from prognosis.horizons import horizon_text
from prognosis.models.store import SavedModel, load_model
from prognosis.output_folders import OutputKind, claim_output, write_marker
from prognosis.report import charts, shap_drivers, svg
from prognosis.report.calibration_context import calibration_group_sizes
from prognosis.report.coefficients import Coefficients, coefficient_table
from prognosis.report.describe import (
    Statement,
    cause_names,
    describe_definition,
    outcome_and_entry,
    parse_recorded_definition,
)
from prognosis.report.incidence import CauseIncidence, observed_incidence
from prognosis.report.patient_report import risk_words
from prognosis.report.privacy import (
    HIDDEN,
    SUPPRESSED,
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

__all__ = [
    "CurvePredictions",
    "ModelReport",
    "WrittenModelReport",
    "build_model_report",
    "curve_predictions",
    "outcome_events",
    "write_model_report",
]

#: Called with a message as each step starts; called as ``(done, total)`` along a long one.
Steps = Callable[[str], None]
Count = Callable[[int, int], None]

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


@dataclass(frozen=True, eq=False)
class CurvePredictions:
    """The predictions the observed-risk curves are cut into thirds on, and what they are.

    ``rows``: positions in the report's dataset that the curves describe; ``risk``: one
    predicted risk by ``horizon`` per row of ``rows`` (the risk score where no horizon was
    evaluated: ``horizon`` None); ``kind``: "validation (out-of-fold) predictions", "temporal
    test rows", "apparent (in-sample)" or "out-of-sample (external)"; ``source``: the caption's
    sentence on where they come from; ``everyone``: the name of the curve of all ``rows``.
    """

    rows: np.ndarray
    risk: np.ndarray
    horizon: float | None
    kind: str
    source: str
    everyone: str = "All persons"


@dataclass(frozen=True, eq=False)
class RiskCurves:
    chart: charts.Chart
    caption: str
    at_risk_times: list[str]
    at_risk: list[tuple[str, list[str]]]
    predictions: str  # what the thirds are cut on (CurvePredictions.kind)
    rows: np.ndarray  # the dataset rows described
    third: np.ndarray | None  # per row of ``rows``: 0, 1, 2 (lowest to highest); None: no thirds
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
class SubgroupCells:
    auc: Interval
    predicted: str  # percentages with their intervals
    observed: str
    difference: str


@dataclass(frozen=True)
class SubgroupRow:
    variable: str
    group: str
    n: str
    events: str
    suppressed: str | None
    harrell_c: Interval | None
    horizons: list[SubgroupCells]


@dataclass(frozen=True)
class SubgroupSection:
    kind: str  # "Validation" or "Apparent (in-sample)"
    origin: str
    level: int
    horizons: list[str]
    first_horizon: str
    observed: str  # the estimator of the observed risk
    rows: list[SubgroupRow]


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
    verdict: Verdict  # the block at the top of the page
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
    subgroups: SubgroupSection | None = None
    attrition_flow: Markup | None = None  # the attrition table as boxes and arrows
    incidence: CauseIncidence | None = None  # every cause, observed (competing risks only)


@dataclass(frozen=True)
class WrittenModelReport:
    """A model report written by :func:`write_model_report`: its page and what it shows."""

    page: Path
    report: ModelReport

    @property
    def verdict(self) -> Verdict:
        """The verdict at the top of the page."""
        return self.report.verdict


def build_model_report(
    model_dir: Path,
    dataset: CohortDataset,
    *,
    metrics: MetricsFile | None = None,
    n_boot: int = 200,
    seed: int = 0,
    progress: Steps | None = None,
    count: Count | None = None,
) -> ModelReport:
    """Assemble the model report of the model in ``model_dir`` on ``dataset``.

    Parameters
    ----------
    model_dir : a model directory (``prognosis fit``)
    dataset : the cohort to describe (of the model's outcome, when it has several); when it
        is the training dataset the report shows the validation metrics stored with the
        model, otherwise the model is evaluated on it
    metrics : metrics from ``prognosis evaluate`` to show instead
    n_boot, seed : bootstrap of that evaluation, when one is needed
    progress : called with a message as each step starts
    count : called as ``count(done, total)`` after each bootstrap resample of that evaluation
    """
    say = progress or (lambda _message: None)
    saved = load_model(model_dir)
    dataset = dataset.for_outcome(saved.info.outcome)
    X = check_schema(saved, dataset.frame, origin=str(dataset.path))
    chosen, origin = _metrics(saved, dataset, metrics, n_boot, seed, say, count)
    basis, basis_text = _basis(saved, dataset, metrics)
    definition = parse_recorded_definition(
        saved.training_manifest, saved.info.outcome
    ) or parse_recorded_definition(dataset.manifest, saved.info.outcome)
    statements = describe_definition(definition, saved.features) if definition else None
    predictions = curve_predictions(saved, dataset, X, origin=Path(model_dir))
    cohort = saved.info.cohort or dataset.manifest.cohort or dataset.path.name
    say("describe the cohort: Table 1, observed risk curves")
    table1 = table_one(dataset.frame, saved.features)
    attrition = attrition_rows(dataset.attrition)
    curves = _curves(dataset, predictions)
    say("explain the model (SHAP values of the cohort)")
    shap = _shap(saved, dataset.frame, seed)
    say("assemble the report")
    outcome, entry = outcome_and_entry(definition)
    of = f" of {outcome}" if saved.info.outcome is not None else ""  # one of several outcomes
    return ModelReport(
        title=f"{cohort}: {saved.info.model} prognosis model{of}",
        verdict=judge(
            chosen,
            basis=basis,
            basis_text=basis_text,
            model=saved.info.model,
            outcome=outcome,
            cohort=str(cohort),
            horizons=saved.info.horizons,
        ),
        predicts=predicts(
            saved.info,
            cohort=str(cohort),
            outcome=outcome,
            entry=entry,
            quantity=risk_words(saved.info),
        ),
        summary=_summary(saved, table1, cohort, dataset.frame),
        definition=statements,
        attrition=attrition,
        attrition_flow=attrition_flow(attrition),
        incidence=observed_incidence(
            dataset.y, cause_names(definition, _codes(dataset)), saved.info.horizons
        ),
        table1=table1,
        curves=curves,
        metrics=_metric_section(chosen, origin) if chosen else None,
        metrics_missing=origin,
        coefficients=coefficient_table(
            saved.pipeline.steps[-1][1],
            {feature.name: feature.label or feature.name for feature in saved.features},
        ),
        shap=shap,
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
        subgroups=_subgroup_section(chosen, origin) if chosen else None,
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
    progress: Steps | None = None,
    count: Count | None = None,
) -> WrittenModelReport:
    """Render the model report into ``out_dir/index.html`` (atomically).

    Its numbers go beside it into ``out_dir/report.json``
    (:func:`~prognosis.report.report_json.write_report_json`, written just before, also
    atomically).
    ``out_dir`` is checked first: new, empty, holding only other prognosis outputs (the patient
    reports), or a previous model report (replaced only with ``overwrite``). ``progress`` and
    ``count``: see :func:`build_model_report`.

    Returns
    -------
    WrittenModelReport
        The page written and the report it shows (with its verdict).
    """
    out_dir = Path(out_dir)
    with claim_output(
        out_dir, OutputKind.MODEL_REPORT, overwrite=overwrite, protect=[model_dir, dataset_dir]
    ):
        return _write_model_report(
            model_dir, dataset_dir, out_dir, metrics_path, n_boot, seed, progress, count
        )


def _write_model_report(
    model_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    metrics_path: Path | None,
    n_boot: int,
    seed: int,
    progress: Steps | None,
    count: Count | None,
) -> WrittenModelReport:
    metrics = None
    if metrics_path is not None:
        hint = "pass the metrics.json that `prognosis evaluate --out` wrote"
        metrics = read_metrics(Path(metrics_path), error=PrognosisError, hint=hint)
    if progress is not None:
        progress("read the model and the dataset")
    report = build_model_report(
        Path(model_dir),
        load_dataset(dataset_dir),
        metrics=metrics,
        n_boot=n_boot,
        seed=seed,
        progress=progress,
        count=count,
    )
    if progress is not None:
        progress("render the page")
    html = render_page("model.html.jinja2", report=report, title=report.title)
    write_report_json(out_dir / "report.json", "model", report.predicts, report)
    page = write_page(out_dir / "index.html", html)
    write_marker(out_dir, OutputKind.MODEL_REPORT)
    return WrittenModelReport(page=page, report=report)


def _metrics(
    saved: SavedModel,
    dataset: CohortDataset,
    given: MetricsFile | None,
    n_boot: int,
    seed: int,
    say: Steps | None = None,
    count: Count | None = None,
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
    if say is not None:
        say(f"evaluate the model on this dataset ({n_boot} bootstrap resamples)")
    measured = evaluate_model(saved, dataset, n_boot=n_boot, seed=seed, bootstrap_progress=count)
    source = redact_source(dataset.manifest.source)
    return measured.results, f"the saved model evaluated on this dataset (source: {source})"


def _basis(
    saved: SavedModel, dataset: CohortDataset, given: MetricsFile | None
) -> tuple[Basis, str]:
    """What the metrics of :func:`_metrics` rest on: the verdict's basis."""
    if given is not None:
        return basis_of(given)
    if is_training_data(saved, dataset):
        return basis_of(saved.metrics)
    return Basis.VALIDATED, (
        f"validated on this dataset ({dataset.path.name}), not the rows the model was fitted on"
    )


def _summary(
    saved: SavedModel, table1: TableOne, cohort: str, frame: pd.DataFrame
) -> list[tuple[str, str]]:
    sizes = dict(zip(table1.columns, table1.sizes, strict=True))
    summary = [
        ("Cohort", str(cohort)),
        ("Model", str(saved.info.model)),
        ("Horizons", ", ".join(horizon_text(h) for h in saved.info.horizons)),
        ("Persons in this dataset", sizes["Overall"]),
        *outcome_events(frame, saved.info.horizons, sizes["Outcome"]),
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


def outcome_events(
    frame: pd.DataFrame, horizons: Sequence[float], total: str
) -> list[tuple[str, str]]:
    """The summary's outcome events: within each horizon, then in all follow-up.

    A row counts within horizon h when its outcome (event 1) happened by day h of follow-up.
    ``total``: Table 1's text of all the outcome events, repeated as it shows it. What a reader
    knows: each horizon's count = the one before + the events between the two (never shown),
    and the total = the last horizon's + the events after it; small counts (1 to 4) show as
    ``<5`` and what would give one away by subtraction as ``hidden``
    (:func:`~prognosis.report.privacy.protect`).
    """
    time = frame["time"].to_numpy(dtype=float)
    outcome = frame["event"].to_numpy() == 1
    horizons = sorted(float(h) for h in horizons)
    values = {f"h{k}": int(np.sum(outcome & (time <= h))) for k, h in enumerate(horizons)}
    values["after"] = int(outcome.sum()) - values[f"h{len(horizons) - 1}"]
    values["all"] = int(outcome.sum())
    sums = [(f"h{k}", (f"h{k - 1}", f"b{k}")) for k in range(1, len(horizons))]
    values.update({f"b{k}": values[f"h{k}"] - values[f"h{k - 1}"] for k in range(1, len(horizons))})
    sums.append(("all", (f"h{len(horizons) - 1}", "after")))
    implicit = {"after", *(f"b{k}" for k in range(1, len(horizons)))}
    # the total is Table 1's figure: fixed where shown there, unknown (hidden: 5 or more) else
    shown = total not in (HIDDEN, SUPPRESSED)
    published = protect(
        CountTable(
            values,
            sums=sums,
            implicit=frozenset(implicit if shown else {*implicit, "all"}),
            structural=frozenset({"all"} if shown else ()),
            five_or_more=frozenset({"all"} if total == HIDDEN else ()),
        )
    )
    follow_up = f"{time.max():g} days" if time.size else "0 days"
    return [
        *(
            (f"Outcome events within {horizon_text(h)}", published.text(f"h{k}"))
            for k, h in enumerate(horizons)
        ),
        (f"Outcome events in all follow-up (up to {follow_up})", total),
    ]


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


def _codes(dataset: CohortDataset) -> list[int]:
    return sorted(int(code) for code in np.unique(dataset.frame["event"]) if code > 0)


def attrition_flow(rows: Sequence[AttritionRow]) -> Markup | None:
    """The flow diagram of the attrition table: the same texts, so the same protection."""
    if not rows:
        return None
    return svg.attrition_flow_svg(
        [
            svg.FlowStep(row.description, row.persons, None if k == 0 else row.dropped)
            for k, row in enumerate(rows)
        ]
    )


def curve_predictions(
    saved: SavedModel, dataset: CohortDataset, X: pd.DataFrame, *, origin: Path
) -> CurvePredictions:
    """What the observed-risk curves of ``dataset`` are cut into thirds on.

    On the training dataset (:func:`~prognosis.training.is_training_data`): the validation
    predictions saved with the model (out-of-fold for ``cv``, the test rows of a temporal
    split), at its first horizon; without them (``--split none``) the saved model's own
    predictions, apparent (in-sample). On any other dataset: the saved model's predictions,
    out-of-sample.

    Raises
    ------
    ModelDirectoryError
        When the validation predictions (in ``origin``) name rows that are not those of
        ``dataset``: another time or event than the dataset's row, or a row past its end.
    """
    first = float(saved.info.horizons[0])
    everything = np.arange(len(dataset.frame))
    validation = saved.validation
    if not is_training_data(saved, dataset):
        return CurvePredictions(
            everything,
            saved.pipeline.predict_risk(X, first),
            first,
            "out-of-sample (external)",
            "out-of-sample predictions of the saved model on this dataset, which it was not "
            "fitted on",
        )
    if validation is None:
        return CurvePredictions(
            everything,
            saved.pipeline.predict_risk(X, first),
            first,
            "apparent (in-sample)",
            "apparent (in-sample) predictions of the saved model on the rows it was fitted on, "
            "not validated: optimistic, a separation of the thirds here does not show that the "
            "model discriminates",
        )
    _check_rows(validation, dataset, origin / "validation_predictions.parquet")
    horizon = first if first in validation.horizons else next(iter(validation.horizons), None)
    risk = validation.risk_score if horizon is None else validation.risk_at(horizon)
    if validation.design == "temporal":
        source = (
            "validation predictions on the temporal test rows (persons first indexed on or "
            f"after {saved.info.split.cutoff}) by the model fitted on those indexed before"
        )
        return CurvePredictions(
            validation.row, risk, horizon, validation.label, source, "All test persons"
        )
    source = (
        "validation (out-of-fold) predictions: each row predicted by the model of the "
        "cross-validation fold that did not see it"
    )
    return CurvePredictions(validation.row, risk, horizon, validation.label, source)


def _check_rows(validation: ValidationPredictions, dataset: CohortDataset, path: Path) -> None:
    frame = dataset.frame
    inside = validation.row < len(frame)
    rows = validation.row[inside]
    same = (
        inside.all()
        and np.array_equal(frame["time"].to_numpy(dtype=float)[rows], validation.time)
        and np.array_equal(frame["event"].to_numpy()[rows], validation.event)
    )
    if not same:
        raise ModelDirectoryError(
            f"{path}: its rows are not those of {dataset.path / 'dataset.parquet'} (a row past "
            "its end, or another time or event), though the model was fitted on that file: "
            "the model directory was changed; refit the model"
        )


def _curves(dataset: CohortDataset, predictions: CurvePredictions) -> RiskCurves:
    frame = dataset.frame.iloc[predictions.rows]
    y = dataset.subset(predictions.rows).y
    competing = dataset.competing
    risk = predictions.risk
    times = np.linspace(0.0, float(frame["time"].max()), 150)
    groups: list[tuple[str, np.ndarray]] = [(predictions.everyone, np.ones(len(frame), dtype=bool))]
    third = None
    if np.unique(risk).size >= 3:
        third = np.digitize(risk, np.quantile(risk, [1 / 3, 2 / 3]), right=True)
        names = ("Lowest", "Middle", "Highest")
        groups += [(f"{names[k]} third of predicted risk", third == k) for k in range(3)]
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
    what = (
        "cumulative incidence, Aalen-Johansen, competing events as they happened"
        if competing
        else "1 \u2212 Kaplan-Meier"
    )
    ylabel = "Cumulative incidence (Aalen-Johansen)" if competing else "Observed risk"
    chart = charts.risk_curves_chart(curves, ylabel=ylabel, name="observed")
    at = (
        f"predicted risk at {horizon_text(predictions.horizon)}"
        if predictions.horizon is not None
        else "the model's risk score"
    )
    return RiskCurves(
        chart=chart,
        caption=(
            f"Observed risk of the outcome since index ({what}), with pointwise 95% intervals, "
            f"for {predictions.everyone.lower()} and by thirds of the model's {at}, cut on "
            f"{predictions.source}."
        ),
        at_risk_times=[f"{t:g}" for t in marks],
        at_risk=at_risk,
        predictions=predictions.kind,
        rows=predictions.rows,
        third=third,
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
        span = f"{ibs.start:g} to {ibs.stop:g} days"
        rows.append(MetricRow("Integrated Brier score", span, ibs))
        if ibs.null_model is not None:
            rows.append(MetricRow(f"Integrated Brier score, {REFERENCE}", span, ibs.null_model))
    panels, auc_rows = [], []
    for entry in metrics.horizons:
        label = horizon_text(entry.horizon)
        rows.append(MetricRow("Time-dependent AUC", label, entry.time_dependent_auc))
        rows.append(MetricRow("Brier score", label, entry.brier))
        rows.extend(_reference_rows(entry, label))
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


def _reference_rows(entry: HorizonMetrics, label: str) -> list[MetricRow]:
    """The "marginal incidence (no model)" reference's Brier score at a horizon, the one to
    beat, and the model's scaled Brier score against it (none in older metrics files)."""
    if entry.null_model is None:
        return []
    return [
        MetricRow(f"Brier score, {REFERENCE}", label, entry.null_model.brier),
        MetricRow("Scaled Brier score (IPA)", label, entry.null_model.ipa),
    ]


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


def _subgroup_section(metrics: Metrics, origin: str) -> SubgroupSection | None:
    """The subgroups of ``metrics`` as the report shows them: counts as ``metrics.json``
    publishes them (``<5``, ``hidden``: :mod:`prognosis.evaluation.subgroups`), labelled
    apparent when the figures were measured on the training rows."""
    if not metrics.subgroups:
        return None
    horizons = next((s.horizons for s in metrics.subgroups if s.horizons), ())
    labels = [horizon_text(h.horizon) for h in horizons]
    return SubgroupSection(
        kind="Apparent (in-sample)" if origin.startswith("apparent") else "Validation",
        origin=origin,
        level=round(100 * (1 - metrics.bootstrap.alpha)),
        horizons=labels,
        first_horizon=labels[0] if labels else "the first horizon",
        observed="Aalen-Johansen" if metrics.competing else "Kaplan-Meier",
        rows=[_subgroup_row(entry) for entry in metrics.subgroups],
    )


def _subgroup_row(entry: Subgroup) -> SubgroupRow:
    def count(name: str) -> str:
        value = getattr(entry, name)
        if value is not None:
            return f"{value:,}"
        return "<5" if name in entry.small else HIDDEN

    return SubgroupRow(
        variable=entry.variable,
        group=entry.group,
        n=count("n"),
        events=count("events_at_horizon"),
        suppressed=entry.suppressed,
        harrell_c=entry.harrell_c,
        horizons=[_subgroup_cells(at) for at in entry.horizons],
    )


def _subgroup_cells(at: SubgroupHorizon) -> SubgroupCells:
    return SubgroupCells(
        auc=at.time_dependent_auc,
        predicted=_percent_interval(at.mean_predicted, "%"),
        observed=_percent_interval(at.observed, "%"),
        difference=_percent_interval(at.difference, " pp"),
    )


def _percent_interval(value: Interval, unit: str) -> str:
    """``18.0% (17.5% to 18.4%)``, or in percentage points ``-0.1 pp (-1.8 to 1.6)``."""
    if value.estimate is None:
        return "n/a"
    text = f"{100 * value.estimate:.1f}{unit}"
    if value.lower is None or value.upper is None:
        return text
    tail = unit if unit == "%" else ""
    return f"{text} ({100 * value.lower:.1f}{tail} to {100 * value.upper:.1f}{tail})"


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
