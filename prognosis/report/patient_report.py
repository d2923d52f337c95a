"""Patient risk reports: one page per patient and an index page, named by pseudonyms.

:func:`write_patient_reports` predicts every row of the cohort once (for percentiles and the
cohort's average curve), explains the chosen rows in one call, and renders one page each into
``out_dir`` (written atomically as a whole), with the index and ``report.json`` (every page's
numbers: :mod:`prognosis.report.report_json`). Each page sets the patient's risk against the
model's validation calibration table (:mod:`prognosis.report.calibration_context`).
The mapping from pseudonym to ``person_id`` goes to
``mapping_dir/mapping.csv``, with the pseudonym key beside it: the folder is owner-only (0700),
both files are owner-only (0600) from their creation, and the mapping is merged under a lock
(:func:`~prognosis.report.pseudonyms.update_mapping`), so concurrent runs lose nothing.
``mapping_dir`` must lie outside ``out_dir``, and no page links to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from prognosis.artifacts import Feature, ModelInfo
from prognosis.dataset import CohortDataset, load_dataset
from prognosis.evaluation.metrics import observed_risk
from prognosis.evaluation.verdict import Verdict, verdict_of
from prognosis.exceptions import PrognosisError
from prognosis.horizons import horizon_text
from prognosis.models.store import SavedModel, load_model, model_set_members
from prognosis.output_folders import OutputKind, claim_output, write_marker
from prognosis.outputs import atomic_directory
from prognosis.report import shap_drivers, svg
from prognosis.report.calibration_context import (
    CalibrationContext,
    NoCalibrationContext,
    ValidationCalibration,
)
from prognosis.report.describe import outcome_and_entry, parse_recorded_definition
from prognosis.report.incidence import PatientIncidence, patient_incidence
from prognosis.report.privacy import redact_source, suppress
from prognosis.report.pseudonyms import load_key, private_folder, pseudonym, update_mapping
from prognosis.report.render import render_page
from prognosis.report.report_json import predicts, write_report_json
from prognosis.report.today import TodaySource, latest_rows, todays_of
from prognosis.report.trajectory import TrajectoryStep, trajectories
from prognosis.scoring import background_rows
from prognosis.training import check_schema

__all__ = ["PatientReports", "write_patient_reports"]

KEY_FILE = "pseudonym.key"
_GRID_POINTS = 61
_BACKGROUND_ROWS = 100  # the default of `prognosis explain --background-rows`


@dataclass(frozen=True)
class HorizonRisk:
    horizon: str
    risk: float
    cohort_mean: float
    lower_share: int  # percent of the cohort with a lower predicted risk
    interval: tuple[float, float] | None = None  # the risk's 95% interval, where there is one


@dataclass(frozen=True)
class Input:
    label: str
    value: str


@dataclass(frozen=True)
class PatientPage:
    pseudonym: str
    risks: list[HorizonRisk]
    curve: Markup
    drivers: shap_drivers.Waterfall | shap_drivers.Unavailable
    waterfall: Markup | None
    driver_horizon: str
    inputs: list[Input]
    incidence: list[PatientIncidence] = field(default_factory=list)  # competing risks: each cause
    interval_note: str = ""
    # what validation observed for risks like this one, at each horizon
    calibration: list[CalibrationContext | NoCalibrationContext] = field(default_factory=list)
    # a landmark model: the risk at each earlier landmark of this patient, and what moved it
    trajectory: list[TrajectoryStep] = field(default_factory=list)
    today_note: str = ""  # why the patient has no "today" step (scored with --source)


@dataclass(frozen=True)
class Context:
    """What every page of one run shares."""

    model: str
    cohort: str
    outcome: str
    entry: str
    risk_word: str
    horizons: list[str]
    note: list[str]
    observed: list[tuple[str, float]]  # (horizon, Aalen-Johansen incidence) when risks ignore
    verdict: Verdict  # shown at the top of every page


@dataclass(frozen=True)
class PatientReports:
    out_dir: Path
    index: Path
    pages: list[Path]
    mapping: Path
    verdict: Verdict | None = None
    # a folder of models, one per outcome: each outcome's verdict, in definition order
    verdicts: list[Verdict] = field(default_factory=list)


def write_patient_reports(
    model_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    *,
    mapping_dir: Path,
    ids: Sequence[int] | None = None,
    sample: int | None = None,
    seed: int = 0,
    key: bytes | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    count: Callable[[int, int], None] | None = None,
    today: TodaySource | None = None,
) -> PatientReports:
    """Write one page per chosen patient, ``index.html`` and ``report.json`` into ``out_dir``.

    Parameters
    ----------
    model_dir, dataset_dir : a model directory and a cohort dataset with its features; or a
        folder of models, one per outcome, and the dataset of several outcomes they were
        fitted on: every page then has a panel of the outcomes (:mod:`prognosis.report.panel`)
    out_dir : the folder of pages: new, empty, or a previous one (replaced as a whole, only
        with ``overwrite``)
    mapping_dir : where ``mapping.csv`` (pseudonym → person_id) and, unless ``key`` is given,
        the key file ``pseudonym.key`` live; outside ``out_dir``
    ids : person_ids to report on; ``sample`` : or this many rows drawn at random (``seed``);
        neither: every row
    seed : also picks the 100 reference rows the drivers are explained against, the same rows
        as ``prognosis explain --seed`` (:func:`prognosis.scoring.background_rows`)
    key : the pseudonym key (bytes), instead of the key file
    progress : called with a message as each step starts
    count : called as ``count(done, total)`` after each page is rendered
    today : for a model of a landmark cohort, the CDM and the day to score each patient on
        besides their landmarks (their latest landmark's page ends its course with it)

    Returns
    -------
    PatientReports
        The pages, the index, the mapping file and the model's verdict (shown on every page).
    """
    out_dir, mapping_dir = Path(out_dir), Path(mapping_dir)
    protect = [model_dir, dataset_dir]
    with claim_output(out_dir, OutputKind.PATIENT_REPORTS, overwrite=overwrite, protect=protect):
        return _write_patient_reports(
            model_dir,
            dataset_dir,
            out_dir,
            mapping_dir,
            ids,
            sample,
            seed,
            key,
            progress or (lambda _message: None),
            count or (lambda _done, _total: None),
            today=today,
        )


def _write_patient_reports(
    model_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    mapping_dir: Path,
    ids: Sequence[int] | None,
    sample: int | None,
    seed: int,
    key: bytes | None,
    say: Callable[[str], None],
    count: Callable[[int, int], None],
    *,
    today: TodaySource | None = None,
) -> PatientReports:
    if mapping_dir.resolve().is_relative_to(out_dir.resolve()):
        raise PrognosisError(
            f"the pseudonym mapping folder {mapping_dir} lies inside the report folder "
            f"{out_dir}; keep it apart so that sharing the reports does not share the mapping"
        )
    if model_set_members(model_dir):
        from prognosis.report.panel import write_panel_reports

        choice = (ids, sample, seed)
        return write_panel_reports(
            model_dir, dataset_dir, out_dir, mapping_dir, choice, key, say, count
        )
    say("read the model and the dataset")
    saved = load_model(model_dir)
    dataset = load_dataset(dataset_dir, saved.info.outcome)
    X = check_schema(saved, dataset.frame, origin=str(dataset.path))
    rows = _select(dataset.frame, ids, sample, seed)
    private_folder(mapping_dir)
    key = key if key is not None else load_key(mapping_dir / KEY_FILE)
    names = _pseudonyms(dataset.frame, rows, key)
    context = _context(saved, dataset)
    # the reference rows of `prognosis explain --seed SEED` (its default of 100 rows)
    background = check_schema(
        saved, background_rows(dataset.frame, _BACKGROUND_ROWS, seed), origin="the background rows"
    )
    say(f"predict every row and explain {len(rows)} patients (SHAP values)")
    pages = _pages(saved, X, rows, names, background)
    todays = todays_of(saved, dataset.frame, rows, today, say) if today else []
    courses = trajectories(saved, dataset.frame, X, rows, background, todays)
    pages = [dataclasses.replace(p, trajectory=c) for p, c in zip(pages, courses, strict=True)]
    if today is not None:
        pages = [_noted(page, rows[k], dataset.frame, todays[k]) for k, page in enumerate(pages)]
    ordered = sorted(pages, key=lambda p: (-p.risks[0].risk, p.pseudonym))  # highest first
    what = predicts(
        saved.info,
        cohort=context.cohort,
        outcome=context.outcome,
        entry=context.entry,
        quantity=context.risk_word,
    )
    say(f"write {len(pages)} patient pages")
    written = write_pages(
        out_dir,
        Templates("patient.html.jinja2", "patients_index.html.jinja2"),
        pages,
        ordered,
        context,
        what,
        count,
    )
    mapping = _write_mapping(mapping_dir, dataset.frame, rows, names)
    return PatientReports(out_dir, out_dir / "index.html", written, mapping, context.verdict)


def _noted(page: PatientPage, row: int, frame: pd.DataFrame, today: object) -> PatientPage:
    """A latest landmark's page without a "today" step says why (no date, no reason that
    would give one away)."""
    if today is not None or row not in latest_rows(frame):
        return page
    note = (
        "Not scored on the day of this report: on that day this patient was not at risk (the "
        "outcome or a competing event had come, follow-up had ended) or it lies past the last "
        "landmark the model was fitted on."
    )
    return dataclasses.replace(page, today_note=note)


@dataclass(frozen=True)
class Templates:
    """The templates of a patient report folder: one per patient, and the index."""

    page: str
    index: str


def write_pages(
    out_dir: Path,
    templates: Templates,
    pages: Sequence[Any],
    ordered: Sequence[Any],
    context: Any,
    what: Any,
    count: Callable[[int, int], None],
) -> list[Path]:
    """Write the folder ``out_dir`` as a whole (atomically): one page per patient (named by its
    ``pseudonym``), ``index.html`` listing ``ordered``, ``report.json`` (``what`` the pages
    predict, and their numbers) and the marker; return the pages' paths."""
    written = []
    with atomic_directory(out_dir) as folder:
        for done, page in enumerate(pages, start=1):
            html = render_page(
                templates.page, page=page, context=context, title=f"Risk report {page.pseudonym}"
            )
            (folder / f"{page.pseudonym}.html").write_text(html, encoding="utf-8")
            written.append(out_dir / f"{page.pseudonym}.html")
            count(done, len(pages))
        index = render_page(
            templates.index,
            context=context,
            pages=ordered,
            title=f"Patient risk reports: {context.cohort}",
        )
        (folder / "index.html").write_text(index, encoding="utf-8")
        write_report_json(
            folder / "report.json", "patients", what, {"context": context, "patients": ordered}
        )
        write_marker(folder, OutputKind.PATIENT_REPORTS)
    return written


def _select(
    frame: pd.DataFrame, ids: Sequence[int] | None, sample: int | None, seed: int
) -> np.ndarray:
    if ids:
        wanted = {int(i) for i in ids}
        person = frame["person_id"].to_numpy()
        missing = sorted(wanted - {int(p) for p in person})
        if missing:
            shown = ", ".join(str(m) for m in missing[:10])
            raise PrognosisError(f"{len(missing)} person_id(s) are not in the dataset: {shown}")
        return np.flatnonzero(np.isin(person, list(wanted)))
    if sample is not None:
        if sample < 1:
            raise PrognosisError(f"--sample must be 1 or more, got {sample}")
        size = min(sample, len(frame))
        return np.sort(np.random.default_rng(seed).choice(len(frame), size=size, replace=False))
    return np.arange(len(frame))


def _pseudonyms(frame: pd.DataFrame, rows: np.ndarray, key: bytes) -> list[str]:
    """One name per row: the person's pseudonym, with -2, -3, ... for later index dates."""
    chosen = frame.iloc[rows]
    order = chosen.sort_values(
        ["person_id", "index_date"] if "index_date" in chosen else ["person_id"], kind="stable"
    )
    rank = order.groupby("person_id").cumcount().reindex(chosen.index).to_numpy()
    names = [
        pseudonym(person, key) + (f"-{r + 1}" if r else "")
        for person, r in zip(chosen["person_id"].to_numpy(), rank, strict=True)
    ]
    if len(set(names)) != len(names):
        raise PrognosisError("two persons share a pseudonym; use a new key file")
    return names


def _risk_curves(saved: SavedModel, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    if saved.info.competing:
        return saved.pipeline.predict_cumulative_incidence(X, 1, times)
    return 1.0 - saved.pipeline.predict_survival(X, times)


def _pages(
    saved: SavedModel, X: pd.DataFrame, rows: np.ndarray, names: list[str], background: pd.DataFrame
) -> list[PatientPage]:
    horizons = [float(h) for h in saved.info.horizons]
    times = np.linspace(0.0, max(horizons), _GRID_POINTS)
    curves = _risk_curves(saved, X, times)
    cohort_curve = curves.mean(axis=0)
    at_horizons = _risk_curves(saved, X, np.asarray(horizons))
    ordered = np.sort(at_horizons, axis=0)
    explained = shap_drivers.explain_rows(saved, X.iloc[rows], background=background)
    inputs = _input_rows(saved, X.iloc[rows])
    incidence = patient_incidence(saved, X.iloc[rows])
    risk_word = risk_words(saved.info)
    intervals = [saved.pipeline.predict_risk_interval(X.iloc[rows], h) for h in horizons]
    validation = ValidationCalibration.of(saved.metrics)
    pages = []
    for k, row in enumerate(rows):
        risks = [
            HorizonRisk(
                horizon=horizon_text(h),
                risk=float(at_horizons[row, j]),
                cohort_mean=float(ordered[:, j].mean()),
                lower_share=round(
                    100 * np.searchsorted(ordered[:, j], at_horizons[row, j], side="left") / len(X)
                ),
                interval=_interval(intervals[j], k),
            )
            for j, h in enumerate(horizons)
        ]
        drivers: shap_drivers.Waterfall | shap_drivers.Unavailable = (
            explained
            if isinstance(explained, shap_drivers.Unavailable)
            else explained.waterfall(k, horizons[0])
        )
        pages.append(
            PatientPage(
                pseudonym=names[k],
                risks=risks,
                curve=svg.risk_curve_svg(
                    times,
                    curves[row],
                    cohort_curve,
                    horizons,
                    ylabel="Cumulative incidence" if risk_word != "risk" else "Predicted risk",
                    horizon_labels=[horizon_text(h) for h in horizons],
                ),
                drivers=drivers,
                waterfall=_waterfall(drivers, risk_word),
                driver_horizon=horizon_text(horizons[0], before_noun=True),
                inputs=inputs[k],
                incidence=incidence[k],
                interval_note=_interval_note(intervals[0] is not None, saved.info.model),
                calibration=validation.contexts(horizons, at_horizons[row]),
            )
        )
    return pages


def _interval(bounds: np.ndarray | None, k: int) -> tuple[float, float] | None:
    return None if bounds is None else (float(bounds[k, 0]), float(bounds[k, 1]))


def _interval_note(available: bool, model: str) -> str:
    if available:
        return (
            "The 95% interval beside each risk reflects the uncertainty in the model's "
            "coefficients (their estimated covariance, the baseline held fixed); it is not "
            "the range of outcomes for this patient."
        )
    return f"No interval for this model family ({model}): it does not estimate one."


def _waterfall(
    drivers: shap_drivers.Waterfall | shap_drivers.Unavailable, risk_word: str
) -> Markup | None:
    if isinstance(drivers, shap_drivers.Unavailable):
        return None
    shown = [v / 100 for v in drivers.shown]  # rounded to add up as printed
    bars = [
        svg.WaterfallBar(d.label, d.contribution, shown[k]) for k, d in enumerate(drivers.drivers)
    ]
    if drivers.n_other:
        other = f"{drivers.n_other} other factors together"
        bars.append(svg.WaterfallBar(other, drivers.other, shown[-1]))
    horizon = horizon_text(drivers.horizon, before_noun=True)
    return svg.waterfall_svg(
        drivers.reference,
        bars,
        drivers.risk,
        scale=f"{horizon} {risk_word}, percentage points",
        points=True,
        start_label=f"Reference {risk_word}",
    )


def _input_rows(saved: SavedModel, X: pd.DataFrame) -> list[list[Input]]:
    entries = {f.name: f for f in saved.features}
    columns = []
    for name in X.columns:
        entry = entries.get(name, Feature(name))
        values = X[name].to_numpy(float)
        columns.append([Input(str(entry.label or name), _value(v, entry)) for v in values])
    return [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in X.index]


def _value(value: float, entry: Feature) -> str:
    if not np.isfinite(value):
        return "not recorded (the model used the cohort's typical value)"
    statistic = entry.statistic
    if statistic in ("presence", "sex") and value in (0.0, 1.0):
        return "yes" if value == 1.0 else "no"
    if statistic == "age":
        return f"{value:g} years"
    return f"{value:g}"


def _context(saved: SavedModel, dataset: CohortDataset) -> Context:
    info = saved.info
    outcome, entry = outcome_and_entry(
        parse_recorded_definition(saved.training_manifest, saved.info.outcome)
    )
    cohort = str(info.cohort or dataset.manifest.cohort or dataset.path.name)
    horizons = [horizon_text(h) for h in info.horizons]
    validation = str(saved.metrics.split or "no validation")
    note = [
        f"What this is: the {info.model} model's estimate of the probability of "
        f"{outcome} within {', '.join(horizons)} of {entry}, for a person like those in the "
        f"{cohort} cohort ({suppress(info.training_rows)} persons, source "
        f"{redact_source(saved.training_manifest.source)}).",
        f"How well it did: {validation}; its discrimination, calibration and warnings are in "
        "the verdict at the top of this page.",
        "What it is for: to inform, not replace, clinical judgement and a conversation with "
        "the patient about risk.",
        "What it is not: a diagnosis, a treatment recommendation, or a statement about "
        "causes. The factors on each patient's page show what moved the model's estimate, "
        "not what would change the patient's risk if it changed. It knows only what was "
        "recorded before the index date, and it has not been shown to work for people unlike "
        "this cohort or in "
        "other settings.",
    ]
    return Context(
        model=str(info.model),
        cohort=cohort,
        outcome=str(outcome),
        entry=entry,
        risk_word=risk_words(info),
        horizons=horizons,
        note=note,
        observed=_observed(saved, dataset),
        verdict=verdict_of(saved.metrics, info, outcome=str(outcome), cohort=cohort),
    )


def risk_words(info: ModelInfo) -> str:
    """What the model's number is: a cumulative incidence (competing risks), a risk, or, for a
    model fitted with competing events censored, a risk ignoring them."""
    if info.competing:
        return "cumulative incidence"
    return "risk ignoring competing events" if info.competing_censored else "risk"


def _observed(saved: SavedModel, dataset: CohortDataset) -> list[tuple[str, float]]:
    """For a model whose risks ignore competing events: the cohort's observed cumulative
    incidence at each horizon (Aalen-Johansen, competing events as they happened)."""
    if not saved.info.competing_censored or not dataset.competing:
        return []
    horizons = [float(h) for h in saved.info.horizons]
    incidence = observed_risk(dataset.y, horizons)[0]
    return [(horizon_text(h), float(v)) for h, v in zip(horizons, incidence, strict=True)]


def _write_mapping(
    mapping_dir: Path, frame: pd.DataFrame, rows: np.ndarray, names: list[str]
) -> Path:
    """Merge the new pseudonyms into the private mapping file, under the folder's lock."""
    dates = frame["index_date"].astype(str).to_numpy() if "index_date" in frame else None
    entries = {
        names[k]: {
            "pseudonym": names[k],
            "person_id": str(int(frame["person_id"].iat[row])),
            "index_date": "" if dates is None else str(dates[row]),
        }
        for k, row in enumerate(rows)
    }
    return update_mapping(mapping_dir, entries, ["pseudonym", "person_id", "index_date"])
