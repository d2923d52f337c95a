"""A TRIPOD+AI-style checklist: what the tool knows, filled in; what a human must add, marked.

The items follow the topics of the TRIPOD+AI statement (Collins et al., BMJ 2024) for the
development and validation of a prediction model; the wording here is ours. Each item says what
prognosis recorded (data source, eligibility, outcome, predictors, missing data, sample size,
model, validation, performance) and, where the authors must write something (objectives,
intended use, fairness, ethics, funding, registration, ...), a marker saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prognosis.artifacts import DatasetManifest, Interval, Metrics, ModelInfo
from prognosis.dataset import SURVIVAL_COLUMNS
from prognosis.models.registry import model_spec
from prognosis.report.describe import Statement
from prognosis.report.privacy import MIN_CELL, SUPPRESSED, redact_source, suppress

__all__ = ["TODO", "TripodItem", "tripod_items"]

TODO = "To be completed by the authors"


@dataclass(frozen=True)
class TripodItem:
    topic: str
    known: list[str] = field(default_factory=list)
    todo: str | None = None  # what the authors must add; None when the tool covers it


@dataclass(frozen=True)
class _Facts:
    info: ModelInfo
    manifest: DatasetManifest
    statements: dict[str, str]
    frame: pd.DataFrame
    sizes: dict[str, str]
    n_features: int
    metrics: Metrics | None
    metrics_origin: str


def tripod_items(
    *,
    info: ModelInfo,
    manifest: DatasetManifest,
    statements: list[Statement] | None,
    frame: pd.DataFrame,
    metrics: Metrics | None,
    metrics_origin: str,
    sizes: dict[str, str] | None = None,
) -> list[TripodItem]:
    """The checklist for a model (``info``) trained on the cohort of ``manifest``; ``sizes``
    are the group sizes as Table 1 publishes them (protected), by column name."""
    facts = _Facts(
        info=info,
        manifest=manifest,
        statements={s.topic: s.text for s in statements or []},
        frame=frame,
        sizes=sizes or {},
        n_features=len([c for c in frame.columns if c not in SURVIVAL_COLUMNS]),
        metrics=metrics,
        metrics_origin=metrics_origin,
    )
    return [
        TripodItem(
            "Title and abstract",
            [],
            "a title naming the model, population and outcome, and a structured abstract",
        ),
        TripodItem(
            "Background and objectives",
            _purpose(facts),
            "the clinical context, the intended use and users, and why a model is needed",
        ),
        TripodItem(
            "Data source",
            _source(facts),
            "where and when the data were collected, and the care setting",
        ),
        TripodItem(
            "Participants (eligibility)",
            _eligibility(facts),
            "the care setting and any treatments received at or after index",
        ),
        TripodItem(
            "Outcome",
            _outcome(facts),
            "how the outcome is recorded in the source and "
            "whether its assessment was blinded to the predictors",
        ),
        TripodItem(
            "Predictors",
            _predictors(facts),
            "why these predictors, and how they are measured in practice",
        ),
        TripodItem(
            "Sample size and events",
            _sample(facts),
            "a justification of the sample size (e.g. Riley et al.'s criteria)",
        ),
        TripodItem("Missing data", _missing(facts)),
        TripodItem("Model and analysis", _model(facts)),
        TripodItem(
            "Validation and performance",
            _validation(facts),
            "the interpretation of these figures for the intended use",
        ),
        TripodItem(
            "Fairness and subgroups",
            _subgroups(facts),
            "performance in other relevant subgroups (e.g. ethnicity, site) and any unequal "
            "treatment found",
        ),
        TripodItem(
            "Model output and intended use",
            [
                "Output: the probability of the outcome by each horizon ("
                + ", ".join(f"{h:g} days" for h in info.horizons)
                + ")."
            ],
            "how predictions are to be used, by whom, and at what decision thresholds",
        ),
        TripodItem(
            "Open science",
            _open(facts),
            "protocol, registration, and where data and code can be obtained",
        ),
        TripodItem(
            "Ethics, funding and conflicts of interest",
            [],
            "ethical approval, funding and competing interests",
        ),
        TripodItem(
            "Patient and public involvement",
            [],
            "how patients and the public were involved, or that they were not",
        ),
        TripodItem(
            "Limitations",
            [
                "Observational routine-care data: recording is incomplete and outcome dates are "
                "dates of recording."
            ],
            "the limitations of this study and how they affect use",
        ),
    ]


def _purpose(facts: _Facts) -> list[str]:
    text = facts.statements.get("Purpose")
    return [f"Cohort description (from the definition): {text}"] if text else []


def _source(facts: _Facts) -> list[str]:
    manifest = facts.manifest
    known = [f"OMOP Common Data Model, source: {redact_source(manifest.source)}"]
    if manifest.engine:
        known.append(
            f"Cohort built with the {manifest.engine} engine on "
            f"{manifest.build_date or 'an unrecorded date'}."
        )
    years = _index_years(facts.frame)
    if years:
        known.append(f"Index dates from {years[0]} to {years[1]}.")
    return known


def _index_years(frame: pd.DataFrame) -> tuple[int, int] | None:
    if "index_date" not in frame.columns:
        return None
    dates = pd.to_datetime(frame["index_date"], errors="coerce").dropna()
    return (int(dates.min().year), int(dates.max().year)) if len(dates) else None


def _eligibility(facts: _Facts) -> list[str]:
    texts = facts.statements
    known = [texts[key] for key in texts if key == "Entry (index date)" or key.startswith("Rule")]
    return known or ["The cohort definition is not recorded with the data."]


def _outcome(facts: _Facts) -> list[str]:
    known = [
        f"{k}: {facts.statements[k]}"
        for k in ("Outcome", "Competing events", "Follow-up")
        if k in facts.statements
    ]
    return known or ["The outcome definition is not recorded with the data."]


def _predictors(facts: _Facts) -> list[str]:
    known = [f"{facts.n_features} candidate predictors (listed in Table 1)."]
    if "Predictors" in facts.statements:
        known.append(facts.statements["Predictors"])
    return known


def _sample(facts: _Facts) -> list[str]:
    event = facts.frame["event"].to_numpy()
    events = int(np.sum(event == 1))
    sizes = facts.sizes or {
        "Overall": suppress(len(event)),
        "Outcome": suppress(events),
        "Competing event": suppress(int(np.sum(event >= 2))),
    }
    known = [
        f"{sizes['Overall']} persons, {sizes['Outcome']} outcome events"
        + (f", {sizes['Competing event']} competing events" if np.any(event >= 2) else "")
        + " in this dataset."
    ]
    if sizes["Outcome"] == f"{events:,}" and events >= 5 and facts.n_features:
        known.append(f"{events / facts.n_features:.1f} outcome events per candidate predictor.")
    return known


def _missing(facts: _Facts) -> list[str]:
    features = facts.frame[[c for c in facts.frame.columns if c not in SURVIVAL_COLUMNS]]
    missing = features.isna().sum()
    missing = missing[missing > 0]
    if missing.empty:
        known = [
            "No predictor has missing values: presence and count features are 0 when "
            "there is no record (absence of a record is read as absence of the condition)."
        ]
    else:
        most = int(missing.max())  # a percentage of a shown total would give a small count
        share = f"{100 * most / len(features):.1f}%" if most >= MIN_CELL else SUPPRESSED
        known = [f"{len(missing)} predictors have missing values (up to {share} of persons)."]
    known.append(_missing_handling(str(facts.info.model)))
    return known


def _missing_handling(model: str) -> str:
    """How the fitted model's preprocessing treats a missing value (from the registry)."""
    if model_spec(model).native_missing:
        return (
            "The model reads missing values itself (xgboost), without imputation: at each split "
            "of a tree, a row with a missing value goes the way learned in training. Zeros of "
            "presence and count features are read as missing too, which loses no split."
        )
    return (
        "The model imputes the training median and adds a missing-indicator column "
        "for every feature with missing values."
    )


def _model(facts: _Facts) -> list[str]:
    info = facts.info
    settings = ", ".join(f"{k}={v}" for k, v in info.params.items()) or "default settings"
    return [
        f"Model family: {info.model} ({settings}), seed {info.seed}.",
        f"Trained on {suppress(info.training_rows)} rows with "
        f"{suppress(info.training_events)} outcome events"
        + (" (competing risks)." if info.competing else "."),
    ]


def _validation(facts: _Facts) -> list[str]:
    metrics = facts.metrics
    if not metrics:
        return [f"No performance figures: {facts.metrics_origin}."]
    c = metrics.harrell_c
    known = [f"Metrics: {facts.metrics_origin}."]
    if c.estimate is not None:
        known.append(
            f"Harrell's C {c.estimate:.3f} "
            f"({_ci(c)}; percentile bootstrap, {metrics.bootstrap.n_boot} resamples)."
        )
    known.append(
        "Calibration, time-dependent AUC, Brier scores and decision curves: see the sections above."
    )
    return known


def _subgroups(facts: _Facts) -> list[str]:
    groups = facts.metrics.subgroups if facts.metrics else None
    if not groups:
        return []
    variables = ", ".join(dict.fromkeys(s.variable for s in groups))
    return [
        f"Performance by {variables} (Harrell's C, time-dependent AUC, calibration in the "
        "large, with intervals; groups under 5 events not measured): see Subgroups."
    ]


def _ci(value: Interval) -> str:
    if value.lower is None or value.upper is None:
        return "no interval"
    return f"95% CI {value.lower:.3f} to {value.upper:.3f}"


def _open(facts: _Facts) -> list[str]:
    definition = facts.manifest.definition
    known = []
    if definition is not None and definition.sha256:
        known.append(
            f"Cohort definition {definition.path} (SHA-256 "
            f"{definition.sha256[:16]}…), reproducible with prognosis."
        )
    versions = facts.info.versions
    if versions:
        known.append("Software: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    return known
