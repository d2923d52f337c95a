"""SHAP explanations of fitted models, in clinical words and in risks at the horizons."""

from prognosis.explain.effects import Effect, effect_sentence, risk_effects
from prognosis.explain.explanation import Explanation, ExplanationError, SurvivalExplanation
from prognosis.explain.groups import FeatureGroup, feature_groups, group_label, group_sums
from prognosis.explain.labels import clinical_label, feature_entries, feature_title, value_words
from prognosis.explain.risk_points import RiskExplanation, explain_risk
from prognosis.explain.shap_values import explain_model
from prognosis.explain.timedep import explain_survival

__all__ = [
    "Effect",
    "Explanation",
    "ExplanationError",
    "FeatureGroup",
    "RiskExplanation",
    "SurvivalExplanation",
    "clinical_label",
    "effect_sentence",
    "explain_model",
    "explain_risk",
    "explain_survival",
    "feature_entries",
    "feature_groups",
    "feature_title",
    "group_label",
    "group_sums",
    "risk_effects",
    "value_words",
]
