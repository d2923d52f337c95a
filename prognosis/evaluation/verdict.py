"""The verdict on a model: what it predicts, how well, on which rows, and whether to trust it.

:func:`judge` reads a :class:`~prognosis.artifacts.Metrics` (or ``None`` for a model fitted
without validation) and says, as one :class:`Verdict` value that the terminal, the model report
and every patient page show:

- what the model predicts: the outcome, the horizons, for whom (the cohort);
- its discrimination: Harrell's C and the time-dependent AUC at the first evaluated horizon,
  with their intervals;
- its calibration at that horizon: the calibration slope with its interval, calibration in the
  large (the mean predicted risk against the observed risk, ``marginal``) and the ICI;
- whether these figures are validated (out-of-fold, after a temporal cut-off, or on another
  dataset) or apparent (measured on the rows the model was fitted on);
- warnings, by the rules below (thresholds are the named constants of this module; the reasons
  for each are in docs/validation.md, "The verdict"):

  * **no better than chance**: the interval of Harrell's C includes :data:`CHANCE` (0.5), or its
    estimate is below it (without an interval: the estimate is at or below 0.5);
  * **poorly calibrated** at a horizon: the slope's interval lies wholly below
    :data:`SLOPE_TOO_LOW` (risks too extreme: overfitting) or wholly above
    :data:`SLOPE_TOO_HIGH` (risks too moderate), the estimate compared where there is no
    interval; or the ICI is larger than :data:`ICI_SHARE` times the observed risk;
  * **not validated**: there are no out-of-sample figures (fitted with ``--split none``, or
    the figures are apparent).

Pure: no files are read here, and nothing is printed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from prognosis.artifacts import HorizonMetrics, Interval, Marginal, Metrics, MetricsFile, ModelInfo
from prognosis.horizons import horizon_text

__all__ = [
    "CHANCE",
    "ICI_SHARE",
    "SLOPE_TOO_HIGH",
    "SLOPE_TOO_LOW",
    "Basis",
    "Verdict",
    "VerdictWarning",
    "basis_of",
    "judge",
    "verdict_of",
    "warning_lines",
]

#: Harrell's C of a model that orders persons at random.
CHANCE = 0.5
#: A calibration slope interval wholly below this: the predicted risks are too extreme.
SLOPE_TOO_LOW = 0.8
#: A calibration slope interval wholly above this (1 / 0.8): the risks are too moderate.
SLOPE_TOO_HIGH = 1.25
#: An ICI above this share of the observed risk: the typical error is large next to the risk.
ICI_SHARE = 0.5


class Basis(enum.StrEnum):
    """What the figures of a verdict rest on (a string: a verdict converts to JSON with
    :func:`prognosis.artifacts.to_json`)."""

    VALIDATED = "validated"  # out-of-fold, after a temporal cut-off, or on another dataset
    APPARENT = "apparent"  # the rows the model was fitted on: optimistic
    NONE = "none"  # no figures: fitted without validation


@dataclass(frozen=True)
class VerdictWarning:
    """One warning: its ``kind`` (``chance``, ``calibration``, ``not_validated``) and a sentence
    with the figures behind it and what to do."""

    kind: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """What a model predicts, how well, on which rows, and its warnings (see :func:`judge`).

    ``basis_text`` says in words where the figures come from; ``level`` is the intervals'
    confidence level in percent. ``horizon`` is the horizon of ``auc``, ``slope``,
    ``marginal`` and ``ici`` (the first evaluated one; ``None`` when none was evaluated).
    """

    model: str
    outcome: str
    cohort: str
    horizons: tuple[float, ...]
    basis: Basis
    basis_text: str
    level: int
    harrell_c: Interval | None
    horizon: float | None
    auc: Interval | None
    slope: Interval | None
    marginal: Marginal | None
    ici: Interval | None
    warnings: tuple[VerdictWarning, ...]

    @property
    def validated(self) -> bool:
        """Whether the figures are out-of-sample."""
        return self.basis is Basis.VALIDATED

    @property
    def horizons_text(self) -> str:
        """The horizons in words ("1 year, 2 years")."""
        return ", ".join(horizon_text(h) for h in self.horizons)


def basis_of(metrics: MetricsFile) -> tuple[Basis, str]:
    """What the figures of a ``metrics.json`` rest on, and that in words.

    A model's own metrics are validated unless it was fitted with ``--split none``; those of
    ``prognosis evaluate`` are apparent when it measured the training rows (``in_sample``),
    validated otherwise (files written before ``in_sample`` was recorded count as another
    dataset, as ``evaluate`` was meant for).
    """
    if metrics.results is None:
        return Basis.NONE, "none: the model was fitted without validation (--split none)"
    evaluated = metrics.evaluated
    if evaluated is None:
        return Basis.VALIDATED, f"validated: {metrics.split or 'validation'}"
    if evaluated.in_sample:
        return Basis.APPARENT, (
            f"apparent (in-sample): measured on {evaluated.dataset}, the rows the model was "
            "fitted on, which overstates how well it does"
        )
    return Basis.VALIDATED, f"validated on {evaluated.dataset} (not the rows it was fitted on)"


def judge(
    metrics: Metrics | None,
    *,
    basis: Basis,
    basis_text: str,
    model: str,
    outcome: str,
    cohort: str,
    horizons: Sequence[float],
) -> Verdict:
    """The verdict on a model from its metrics (``None``: no metrics at all).

    Parameters
    ----------
    metrics : the metrics shown with the model (validation, ``evaluate``'s, or apparent)
    basis, basis_text : what they rest on (:func:`basis_of`)
    model : the model family ("cox")
    outcome : the outcome in words ("upper GI bleeding")
    cohort : the cohort's name, for whom the model predicts
    horizons : the model's horizons (days)

    Returns
    -------
    Verdict
        Its warnings in the order: chance, calibration (per horizon), not validated.
    """
    if metrics is None:
        basis = Basis.NONE
    first = metrics.horizons[0] if metrics is not None and metrics.horizons else None
    found: list[VerdictWarning] = []
    if metrics is not None:
        level = round(100 * (1 - metrics.bootstrap.alpha))
        found += _chance(metrics.harrell_c, level)
        for entry in metrics.horizons:
            found += _calibration(entry, level)
    if basis is not Basis.VALIDATED:
        found.append(_not_validated(basis))
    return Verdict(
        model=model,
        outcome=outcome,
        cohort=cohort,
        horizons=tuple(float(h) for h in horizons),
        basis=basis,
        basis_text=basis_text,
        level=round(100 * (1 - metrics.bootstrap.alpha)) if metrics is not None else 95,
        harrell_c=metrics.harrell_c if metrics is not None else None,
        horizon=first.horizon if first else None,
        auc=first.time_dependent_auc if first else None,
        slope=first.calibration.slope if first else None,
        marginal=first.marginal if first else None,
        ici=first.calibration.ici if first else None,
        warnings=tuple(found),
    )


def verdict_of(
    metrics: MetricsFile, info: ModelInfo, *, outcome: str, cohort: str | None = None
) -> Verdict:
    """The verdict on a model from a ``metrics.json`` (its own, or ``evaluate``'s) and its
    ``model.json``; ``cohort`` defaults to the training cohort's name."""
    basis, text = basis_of(metrics)
    return judge(
        metrics.results,
        basis=basis,
        basis_text=text,
        model=info.model,
        outcome=outcome,
        cohort=cohort or info.cohort or "the training cohort",
        horizons=info.horizons,
    )


def warning_lines(verdict: Verdict) -> list[str]:
    """The verdict's warnings as terminal lines: ``WARNING: ...``, one each."""
    return [f"WARNING: {warning.message}" for warning in verdict.warnings]


def _ci(value: Interval, level: int, digits: int = 2) -> str:
    """``0.43, 95 % CI 0.38 to 0.49`` (the estimate alone without an interval)."""
    text = f"{value.estimate:.{digits}f}"
    if value.lower is None or value.upper is None:
        return f"{text}, no interval"
    return f"{text}, {level} % CI {value.lower:.{digits}f} to {value.upper:.{digits}f}"


def _chance(c: Interval, level: int) -> list[VerdictWarning]:
    estimate, lower, upper = c.estimate, c.lower, c.upper
    if estimate is None:
        return []
    if lower is None or upper is None:
        useless = estimate <= CHANCE
    else:
        useless = estimate < CHANCE or lower <= CHANCE <= upper
    if not useless:
        return []
    return [
        VerdictWarning(
            "chance",
            f"discrimination is no better than chance (Harrell's C {_ci(c, level)}): "
            "do not use these risks for decisions",
        )
    ]


def _calibration(entry: HorizonMetrics, level: int) -> list[VerdictWarning]:
    at = horizon_text(entry.horizon)
    found = []
    slope = entry.calibration.slope
    if slope.estimate is not None:
        low = slope.upper if slope.upper is not None else slope.estimate
        high = slope.lower if slope.lower is not None else slope.estimate
        if low < SLOPE_TOO_LOW or high > SLOPE_TOO_HIGH:
            way = (
                f"too extreme (slope below {SLOPE_TOO_LOW:g}: high risks overstated, low risks "
                "understated)"
                if low < SLOPE_TOO_LOW
                else f"too moderate (slope above {SLOPE_TOO_HIGH:g}: the risks are closer "
                "together than what was observed)"
            )
            found.append(
                VerdictWarning(
                    "calibration",
                    f"poorly calibrated at {at}: calibration slope {_ci(slope, level)}, the "
                    f"predicted risks are {way}; do not read them as probabilities",
                )
            )
    ici, observed = entry.calibration.ici.estimate, entry.marginal.observed
    if ici is not None and observed is not None and ici > ICI_SHARE * observed:
        predicted = entry.marginal.mean_predicted
        mean = "" if predicted is None else f", mean predicted {100 * predicted:.1f} %"
        found.append(
            VerdictWarning(
                "calibration",
                f"poorly calibrated at {at}: the mean distance between predicted and observed "
                f"risk (ICI {100 * ici:.1f} percentage points) is more than "
                f"{ICI_SHARE:g} times the observed risk ({100 * observed:.1f} %{mean}); "
                "do not read the risks as probabilities",
            )
        )
    return found


def _not_validated(basis: Basis) -> VerdictWarning:
    if basis is Basis.APPARENT:
        reason = (
            "these figures are apparent (measured on the rows the model was fitted on) and "
            "overstate how well it does on new patients"
        )
    else:
        reason = "the model was fitted without validation (--split none)"
    return VerdictWarning(
        "not_validated",
        f"not validated: {reason}; validate it (prognosis fit --split cv, or prognosis "
        "evaluate on held-out or external data) before using its risks",
    )
