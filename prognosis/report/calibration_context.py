"""A patient's predicted risk in the light of validation: what was observed for risks like it.

The model's ``metrics.json`` holds, at each horizon, a calibration table of the validation
predictions (out-of-fold under cross-validation, the later persons of a temporal split, the
rows of ``prognosis evaluate``): groups of persons by predicted risk, each with its smallest,
mean and largest prediction and its observed risk (Kaplan-Meier, or Aalen-Johansen under
competing risks) with a 95 % interval. :meth:`ValidationCalibration.context` places one
predicted risk in that table: the group whose range of predictions holds it (the nearest
group when it falls between two, the lowest or the highest when it lies outside every range).
Tables written before the range was recorded (``predicted_min``/``predicted_max`` absent)
give the group whose mean prediction is nearest, and say so.

The persons of each group are shown as the model report shows them
(:func:`calibration_group_sizes`): small counts and counts that would give one away hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prognosis.artifacts import CalibrationGroup, MetricsFile
from prognosis.horizons import horizon_text
from prognosis.report.privacy import CountTable, protect, suppress

__all__ = [
    "CalibrationContext",
    "NoCalibrationContext",
    "ValidationCalibration",
    "calibration_group_sizes",
]


@dataclass(frozen=True)
class CalibrationContext:
    """The validation group a predicted risk falls in, at one horizon.

    ``placement`` is ``"within"`` (the group's predictions range over the risk), ``"between"``
    (between two groups' ranges: the nearer group), ``"below"`` / ``"above"`` (outside every
    group: the lowest / highest), or ``"nearest mean"`` (no ranges recorded: the group whose
    mean prediction is nearest).
    """

    horizon: str
    risk: float
    group: int
    persons: str
    predicted_min: float | None
    predicted_max: float | None
    mean_predicted: float
    observed: float
    observed_lower: float
    observed_upper: float
    placement: str
    observed_what: str  # "observed risk", or "observed cumulative incidence" (competing risks)
    validation: str
    apparent: bool


@dataclass(frozen=True)
class NoCalibrationContext:
    """Why a page shows no calibration context at one horizon (``horizon`` "" for all)."""

    horizon: str
    reason: str


@dataclass(frozen=True)
class _Table:
    groups: tuple[CalibrationGroup, ...]
    persons: tuple[str, ...]


@dataclass(frozen=True)
class ValidationCalibration:
    """The calibration tables of one model's validation, ready to place risks in."""

    validation: str
    apparent: bool
    observed_what: str
    tables: dict[float, _Table]
    missing: str  # why there is no context at all; "" when there are tables

    @classmethod
    def of(cls, metrics: MetricsFile) -> ValidationCalibration:
        """The tables of ``metrics`` (a model's ``metrics.json``, or ``prognosis evaluate``'s)."""
        apparent = bool(metrics.evaluated is not None and metrics.evaluated.in_sample)
        results = metrics.results
        if results is None:
            return cls(
                validation="",
                apparent=False,
                observed_what="",
                tables={},
                missing="the model was fitted without validation (--split none), so there is "
                "no validated calibration to set this risk against",
            )
        if apparent:
            validation = "the apparent (in-sample) evaluation on the rows the model was fitted on"
        elif metrics.evaluated is not None:
            validation = f"validation on {metrics.evaluated.dataset}"
        else:
            validation = f"validation ({metrics.split})" if metrics.split else "validation"
        tables = {}
        for entry in results.horizons:
            groups = entry.calibration.table
            persons, _ = calibration_group_sizes(groups, results.n_test)
            tables[float(entry.horizon)] = _Table(tuple(groups), tuple(persons))
        what = "observed cumulative incidence" if results.competing else "observed risk"
        return cls(validation, apparent, what, tables, missing="")

    def contexts(
        self, horizons: Sequence[float], risks: Sequence[float]
    ) -> list[CalibrationContext | NoCalibrationContext]:
        """:meth:`context` at each horizon; one :class:`NoCalibrationContext` (``horizon``
        "") when there is no validation at all."""
        if self.missing:
            return [NoCalibrationContext("", self.missing)]
        return [self.context(h, r) for h, r in zip(horizons, risks, strict=True)]

    def context(self, horizon: float, risk: float) -> CalibrationContext | NoCalibrationContext:
        """Where ``risk`` (a predicted probability by ``horizon``) falls in the table there."""
        label = horizon_text(horizon)
        if self.missing:
            return NoCalibrationContext(label, self.missing)
        table = self.tables.get(float(horizon))
        if table is None or not table.groups:
            return NoCalibrationContext(
                label, f"the validation has no calibration table at {label}"
            )
        index, placement = _place(table.groups, risk)
        group = table.groups[index]
        return CalibrationContext(
            horizon=label,
            risk=float(risk),
            group=int(group.group),
            persons=table.persons[index],
            predicted_min=group.predicted_min,
            predicted_max=group.predicted_max,
            mean_predicted=_number(group.mean_predicted),
            observed=_number(group.observed),
            observed_lower=_number(group.observed_lower),
            observed_upper=_number(group.observed_upper),
            placement=placement,
            observed_what=self.observed_what,
            validation=self.validation,
            apparent=self.apparent,
        )


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _place(groups: Sequence[CalibrationGroup], risk: float) -> tuple[int, str]:
    """The index of the group ``risk`` belongs to, and how (see :class:`CalibrationContext`)."""
    lows = [g.predicted_min for g in groups]
    highs = [g.predicted_max for g in groups]
    if None in lows or None in highs:
        means = [abs(_number(g.mean_predicted) - risk) for g in groups]
        return means.index(min(means)), "nearest mean"
    if risk < lows[0]:
        return 0, "below"
    if risk > highs[-1]:
        return len(groups) - 1, "above"
    for k, (low, high) in enumerate(zip(lows, highs, strict=True)):
        if low <= risk <= high:
            return k, "within"
    distance = [max(low - risk, risk - high) for low, high in zip(lows, highs, strict=True)]
    return distance.index(min(distance)), "between"


def calibration_group_sizes(
    table: Sequence[CalibrationGroup], total: int | None
) -> tuple[list[str], str]:
    """The persons of each calibration group, protected, and the total as it must then show.

    With the number of persons evaluated shown, the groups' sizes add up to it when they cover
    every one of them; :func:`~prognosis.report.privacy.protect` hides what would reveal a
    small one. Returns the groups' text and the total's.
    """
    values = {f"g{k}": int(g.n) for k, g in enumerate(table)}
    sums: list[tuple[str, tuple[str, ...]]] = []
    if total is not None and sum(values.values()) == int(total):
        values["total"] = int(total)
        sums.append(("total", tuple(f"g{k}" for k in range(len(table)))))
    published = protect(CountTable(values, sums=sums, keep=frozenset({"total"})))
    shown_total = published.text("total") if "total" in values else suppress(total)
    return [published.text(f"g{k}") for k in range(len(table))], shown_total
