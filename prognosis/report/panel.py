"""Patient pages for a folder of models, one per outcome: a panel of complications.

``prognosis fit`` on a dataset built from ``outcomes:`` writes one model per outcome
(:func:`prognosis.models.store.load_model_set`). :func:`write_panel_reports` gives each chosen
row of the whole dataset one page: the verdicts' warnings, then a **panel** with one row per
outcome in definition order (its predicted risk or cumulative incidence at each horizon with
its interval and the share of those at risk with a lower one, its three largest drivers at the
first horizon, and the model's verdict in one line), then one section per outcome with what a
one-outcome page shows (curve, risks, each cause's incidence, calibration context, waterfall),
and the inputs once. A row the patient is not at risk of (a record of the outcome before the
time at risk: the row is not in that outcome's dataset, :meth:`CohortDataset.for_outcome`)
says so and shows no number.

Each outcome's numbers are those a one-outcome page of its model shows for the row: the
same code (:func:`prognosis.report.patient_report._pages`) on the outcome's view of the
dataset, explained against the same reference rows.

Privacy as on every page (docs/security.md): pseudonyms only; no count is shown but the
cohort's size (protected), so that nobody can subtract one outcome's number of persons at risk
from another's to count the persons with a prior record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prognosis.cohort.definition import CohortDefinition, parse_recorded_definition
from prognosis.cohort.outcome_columns import parse_outcome_column
from prognosis.dataset import CohortDataset, load_dataset
from prognosis.evaluation.verdict import Verdict, verdict_of
from prognosis.exceptions import ModelDirectoryError
from prognosis.horizons import horizon_text
from prognosis.models.store import SavedModel, load_model_set
from prognosis.report import patient_report as single
from prognosis.report import shap_drivers
from prognosis.report.calibration_context import CalibrationContext
from prognosis.report.describe import cause_names, outcome_and_entry
from prognosis.report.privacy import MIN_CELL, redact_source, suppress
from prognosis.report.pseudonyms import load_key, private_folder
from prognosis.report.report_json import predicts
from prognosis.scoring import background_rows
from prognosis.training import check_schema

__all__ = ["PanelDriver", "PanelPage", "PanelRow", "exposed_outcomes", "write_panel_reports"]

_TOP = 3  # drivers shown in the panel


@dataclass(frozen=True)
class OutcomeContext:
    """What every page says of one outcome's model."""

    name: str
    label: str
    anchor: str  # the id of its section on the page
    model: str
    risk_word: str  # "cumulative incidence", "risk", ...
    predicts: str  # "cumulative incidence, death from any cause competing"
    competing: str  # "death from any cause competing", or ""
    entry: str
    horizons: list[str]
    observed: list[tuple[str, float]]
    verdict: Verdict


@dataclass(frozen=True)
class PanelDriver:
    """One of the largest drivers of an outcome's risk by the first horizon: its
    contribution (a probability) and that in percentage points as the waterfall shows it."""

    label: str
    contribution: float
    points: float


@dataclass(frozen=True)
class PanelRow:
    """One outcome on one patient's panel; ``at_risk`` false: ``not_at_risk`` says why, and
    there are no numbers. ``reference + sum(drivers) + other == risks[0].risk``, exactly, and
    in points as shown: ``reference`` and the risk rounded to one decimal, ``other_points``."""

    outcome: str
    label: str
    predicts: str
    at_risk: bool
    not_at_risk: str
    risks: list[single.HorizonRisk]
    driver_horizon: str
    drivers: list[PanelDriver]
    reference: float | None
    other: float | None
    other_points: float | None
    unavailable: str  # why there are no drivers, when there are none


@dataclass(frozen=True)
class OutcomeSection:
    """An outcome's part of the page below the panel: a one-outcome page less its inputs;
    ``None`` when the patient is not at risk of it."""

    outcome: str
    page: single.PatientPage | None


@dataclass(frozen=True)
class PanelPage:
    pseudonym: str
    panel: list[PanelRow]
    sections: list[OutcomeSection]
    inputs: list[single.Input]


@dataclass(frozen=True)
class PanelContext:
    """What every page of one run shares."""

    cohort: str
    entry: str
    horizons: list[str]
    outcomes: list[OutcomeContext]
    note: list[str]


def write_panel_reports(
    model_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    mapping_dir: Path,
    choice: tuple[Sequence[int] | None, int | None, int],
    key: bytes | None,
    say: Callable[[str], None],
    count: Callable[[int, int], None],
) -> single.PatientReports:
    """The pages of a folder of models (``model_dir``), one per outcome, for the rows of
    ``dataset_dir`` chosen by ``choice`` (ids, sample, seed as
    :func:`~prognosis.report.write_patient_reports` takes them), named with ``key`` (``None``:
    the key file in ``mapping_dir``); see the module's text.

    Raises
    ------
    ModelDirectoryError
        When a model of the set predicts an outcome the dataset does not have.
    """
    ids, sample, seed = choice
    say("read the models and the dataset")
    models = load_model_set(model_dir)
    dataset = load_dataset(dataset_dir)
    outcomes = dataset.outcome_names
    for saved in models:
        if saved.info.outcome not in outcomes:
            has = f"it has {', '.join(outcomes)}" if outcomes else "it has one outcome (outcome:)"
            raise ModelDirectoryError(
                f"{model_dir}: its model of {saved.info.outcome!r} predicts an outcome that "
                f"{dataset.path / 'dataset.parquet'} does not have ({has}); give the dataset "
                "of several outcomes the models were fitted on"
            )
    frame = dataset.frame
    rows = single._select(frame, ids, sample, seed)
    private_folder(mapping_dir)
    key = key if key is not None else load_key(mapping_dir / single.KEY_FILE)
    names = single._pseudonyms(frame, rows, key)
    context = _context(models, dataset)
    say(f"predict and explain {len(rows)} patients for {len(models)} outcomes")
    by_outcome = [_outcome_pages(saved, dataset, rows, names, seed) for saved in models]
    rows_at_risk = {saved.info.outcome: saved.info.training_rows for saved in models}
    for pages, saved in zip(by_outcome, models, strict=True):
        if saved.info.outcome in exposed_outcomes(len(frame), rows_at_risk):
            for k, page in pages.items():
                pages[k] = _without_group_sizes(page)
    inputs = single._input_rows(models[0], _features(models[0], dataset, rows))
    pages = [
        _page(names[k], [pages.get(k) for pages in by_outcome], context, inputs[k])
        for k in range(len(rows))
    ]
    what = [
        predicts(
            saved.info,
            cohort=context.cohort,
            outcome=outcome.label,
            entry=outcome.entry,
            quantity=outcome.risk_word,
        )
        for saved, outcome in zip(models, context.outcomes, strict=True)
    ]
    say(f"write {len(pages)} patient pages")
    written = single.write_pages(
        out_dir,
        single.Templates("patient_panel.html.jinja2", "patients_panel_index.html.jinja2"),
        pages,
        sorted(pages, key=lambda p: p.pseudonym),
        context,
        what,
        count,
    )
    mapping = single._write_mapping(mapping_dir, frame, rows, names)
    verdicts = [outcome.verdict for outcome in context.outcomes]
    return single.PatientReports(
        out_dir, out_dir / "index.html", written, mapping, None, verdicts=verdicts
    )


def _features(saved: SavedModel, dataset: CohortDataset, rows: np.ndarray) -> pd.DataFrame:
    """The model's features of the chosen rows of a dataset of several outcomes."""
    chosen = dataset.frame.iloc[rows]
    kept = [c for c in chosen.columns if parse_outcome_column(c) is None]
    return check_schema(saved, chosen[kept], origin=str(dataset.path))


def _outcome_pages(
    saved: SavedModel, dataset: CohortDataset, rows: np.ndarray, names: list[str], seed: int
) -> dict[int, single.PatientPage]:
    """The one-outcome pages of the chosen rows at risk of the model's outcome, by their
    position in ``rows``; the rows not at risk have none."""
    view = dataset.for_outcome(saved.info.outcome)
    X = check_schema(saved, view.frame, origin=str(view.path))
    position = _positions(dataset.frame.iloc[rows], view.frame)
    chosen = np.flatnonzero(position >= 0)
    if not len(chosen):
        return {}
    background = check_schema(
        saved, background_rows(view.frame, single._BACKGROUND_ROWS, seed), origin="background"
    )
    pages = single._pages(saved, X, position[chosen], [names[k] for k in chosen], background)
    return {int(k): page for k, page in zip(chosen, pages, strict=True)}


def exposed_outcomes(total: int, rows_at_risk: dict[str | None, int]) -> set[str | None]:
    """The outcomes whose number of persons at risk lies 1 to 4 from the cohort's ``total`` or
    from another outcome's: their calibration groups' sizes, which add up to it, would give
    away how many persons had a prior record (or the difference of two such counts), so the
    pages show them as hidden.

    Parameters
    ----------
    total : the rows of the dataset (shown, protected, on every page)
    rows_at_risk : each outcome's rows at risk (its model's training rows)
    """
    counts = [total, *rows_at_risk.values()]
    return {
        outcome
        for outcome, n in rows_at_risk.items()
        if any(0 < abs(n - other) < MIN_CELL for other in counts)
    }


def _without_group_sizes(page: single.PatientPage) -> single.PatientPage:
    contexts = [
        dataclasses.replace(c, persons="hidden") if isinstance(c, CalibrationContext) else c
        for c in page.calibration
    ]
    return dataclasses.replace(page, calibration=contexts)


def _positions(chosen: pd.DataFrame, view: pd.DataFrame) -> np.ndarray:
    """Each chosen row's position in an outcome's view, by person_id and index date; -1 for
    a row not in it (not at risk)."""
    keys = ["person_id", "index_date"] if "index_date" in view else ["person_id"]
    index = pd.MultiIndex.from_frame(view[keys])
    return np.asarray(index.get_indexer(pd.MultiIndex.from_frame(chosen[keys])))


def _page(
    name: str,
    pages: list[single.PatientPage | None],
    context: PanelContext,
    inputs: list[single.Input],
) -> PanelPage:
    panel = [_row(outcome, page) for outcome, page in zip(context.outcomes, pages, strict=True)]
    sections = [
        OutcomeSection(outcome.name, None if page is None else dataclasses.replace(page, inputs=[]))
        for outcome, page in zip(context.outcomes, pages, strict=True)
    ]
    return PanelPage(pseudonym=name, panel=panel, sections=sections, inputs=inputs)


def _row(outcome: OutcomeContext, page: single.PatientPage | None) -> PanelRow:
    common = {"outcome": outcome.name, "label": outcome.label, "predicts": outcome.predicts}
    if page is None:
        return PanelRow(
            **common,
            at_risk=False,
            not_at_risk=f"not at risk: a record of {outcome.label} before the time at risk",
            risks=[],
            driver_horizon="",
            drivers=[],
            reference=None,
            other=None,
            other_points=None,
            unavailable="",
        )
    waterfall = page.drivers
    if isinstance(waterfall, shap_drivers.Unavailable):
        drivers, reference, other, other_points = [], None, None, None
        unavailable = waterfall.reason
    else:
        drivers, other, other_points = _top_drivers(waterfall)
        reference, unavailable = waterfall.reference, ""
    return PanelRow(
        **common,
        at_risk=True,
        not_at_risk="",
        risks=page.risks,
        driver_horizon=page.driver_horizon,
        drivers=drivers,
        reference=reference,
        other=other,
        other_points=other_points,
        unavailable=unavailable,
    )


def _top_drivers(waterfall: shap_drivers.Waterfall) -> tuple[list[PanelDriver], float, float]:
    """The waterfall's :data:`_TOP` largest drivers (by size), with the points it shows for
    them, and the rest of the risk (the other drivers and factors) in probability and points."""
    shown = waterfall.shown
    sizes = [abs(d.contribution) for d in waterfall.drivers]
    top = sorted(range(len(sizes)), key=lambda i: -sizes[i])[:_TOP]  # stable: ties in order
    drivers = [
        PanelDriver(waterfall.drivers[i].label, waterfall.drivers[i].contribution, shown[i])
        for i in top
    ]
    other = waterfall.risk - waterfall.reference - sum(d.contribution for d in drivers)
    other_points = round(sum(shown) - sum(d.points for d in drivers), 1) + 0.0
    return drivers, float(other), other_points


def _context(models: list[SavedModel], dataset: CohortDataset) -> PanelContext:
    first = models[0]
    cohort = str(first.info.cohort or dataset.manifest.cohort or dataset.path.name)
    outcomes = [_outcome_context(saved, dataset, cohort) for saved in models]
    entry = outcomes[0].entry
    labels = ", ".join(o.label for o in outcomes)
    models_used = ", ".join(sorted({o.model for o in outcomes}))
    note = [
        f"What this is: for each of {labels}, a model's ({models_used}) estimate of its "
        f"probability within {', '.join(outcomes[0].horizons)} of {entry}, for a person like "
        f"those in the {cohort} cohort ({suppress(len(dataset.frame))} persons, source "
        f"{redact_source(first.training_manifest.source)}). Each outcome's model was fitted "
        "on the persons at risk of it: a person with a record of the outcome before the time "
        "at risk is not.",
        "How well they did: each outcome's discrimination, calibration and warnings are in "
        "its verdict, in the panel and in its section.",
        "What it is for: to inform, not replace, clinical judgement and a conversation with "
        "the patient about risk.",
        "What it is not: a diagnosis, a treatment recommendation, or a statement about "
        "causes. The factors show what moved each estimate, not what would change the "
        "patient's risk if it changed. The models know only what was recorded before the "
        "index date, and they have not been shown to work for people unlike this cohort or "
        "in other settings.",
    ]
    return PanelContext(
        cohort=cohort,
        entry=entry,
        horizons=outcomes[0].horizons,
        outcomes=outcomes,
        note=note,
    )


def _outcome_context(saved: SavedModel, dataset: CohortDataset, cohort: str) -> OutcomeContext:
    name = str(saved.info.outcome)
    definition = parse_recorded_definition(saved.training_manifest, name)
    label, entry = outcome_and_entry(definition)
    risk_word = single.risk_words(saved.info)
    competing = _competing(definition)
    return OutcomeContext(
        name=name,
        label=label,
        anchor=f"outcome-{name}",
        model=str(saved.info.model),
        risk_word=risk_word,
        predicts=_predicts(risk_word, competing),
        competing=competing,
        entry=entry,
        horizons=[horizon_text(h) for h in saved.info.horizons],
        observed=single._observed(saved, dataset.for_outcome(name)),
        verdict=verdict_of(saved.metrics, saved.info, outcome=label, cohort=cohort),
    )


def _competing(definition: CohortDefinition | None) -> str:
    """The competing events in words ("death from any cause competing"), or ``""``."""
    competing = list(definition.competing_events) if definition is not None else []
    if not competing:
        return ""
    names = cause_names(definition, list(range(2, 2 + len(competing))))
    return f"{' and '.join(names.values())} competing"


def _predicts(risk_word: str, competing: str) -> str:
    """What the number is ("cumulative incidence, death from any cause competing")."""
    if not competing:
        return risk_word
    if risk_word == "cumulative incidence":
        return f"{risk_word}, {competing}"
    return f"{risk_word} ({competing.removesuffix(' competing')})"
