"""Evaluation of survival predictions: metrics, calibration, decision curves, bootstrap."""

from prognosis.evaluation.bootstrap import BootstrapResult, bootstrap_ci
from prognosis.evaluation.calibration import (
    Calibration,
    CalibrationGroup,
    calibration_at,
    calibration_summary,
    pseudo_values,
)
from prognosis.evaluation.decision import DecisionCurve, decision_curve, net_benefit
from prognosis.evaluation.metrics import (
    EvaluationError,
    EvaluationTimes,
    Horizon,
    brier_scores,
    evaluation_times,
    harrell_c,
    integrated_brier,
    observed_risk,
    time_dependent_auc,
    uno_c,
)
from prognosis.evaluation.summary import evaluate_predictions, format_table

__all__ = [
    "BootstrapResult",
    "Calibration",
    "CalibrationGroup",
    "DecisionCurve",
    "EvaluationError",
    "EvaluationTimes",
    "Horizon",
    "bootstrap_ci",
    "brier_scores",
    "calibration_at",
    "calibration_summary",
    "decision_curve",
    "evaluate_predictions",
    "evaluation_times",
    "format_table",
    "harrell_c",
    "integrated_brier",
    "net_benefit",
    "observed_risk",
    "pseudo_values",
    "time_dependent_auc",
    "uno_c",
]
