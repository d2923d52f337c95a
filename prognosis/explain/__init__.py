"""SHAP explanations of fitted models, in clinical words and in risks at the horizons."""

from prognosis.explain.effects import Effect, effect_sentence, risk_effects
from prognosis.explain.explanation import Explanation, ExplanationError, SurvivalExplanation
from prognosis.explain.labels import clinical_label, feature_entries, feature_title, value_words
from prognosis.explain.shap_values import explain_model
from prognosis.explain.timedep import explain_survival

__all__ = [
    "Effect",
    "Explanation",
    "ExplanationError",
    "SurvivalExplanation",
    "clinical_label",
    "effect_sentence",
    "explain_model",
    "explain_survival",
    "feature_entries",
    "feature_title",
    "risk_effects",
    "value_words",
]
