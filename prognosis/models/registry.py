"""Model names and the pipelines behind them: preprocessing plus one survival estimator."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prognosis.exceptions import UnknownModelError
from prognosis.models.base import SurvivalEstimator, SurvivalPipeline
from prognosis.models.preprocess import make_preprocessor

__all__ = [
    "MODEL_NAMES",
    "ModelSpec",
    "UnknownModelError",
    "estimator_class",
    "make_model",
    "model_spec",
    "parse_params",
]


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's estimator lives and what preprocessing it needs."""

    module: str
    estimator: str
    scale: bool = False  # penalised linear models need standardised inputs
    # Unpenalised models with a baseline cannot identify a full set of one-hot levels.
    drop: Literal["if_binary", "first"] = "if_binary"
    drop_collinear: bool = False  # unpenalised linear models cannot fit collinear columns
    native_missing: bool = False  # xgboost: no imputation, and zeros read as missing


_SPECS: dict[str, ModelSpec] = {
    "cox": ModelSpec("prognosis.models.cox", "CoxPH", drop="first", drop_collinear=True),
    "coxnet": ModelSpec("prognosis.models.cox", "CoxNet", scale=True),
    "weibull": ModelSpec(
        "prognosis.models.parametric", "WeibullAFT", drop="first", drop_collinear=True
    ),
    "rsf": ModelSpec("prognosis.models.forest", "RandomSurvivalForest"),
    "gbsa": ModelSpec("prognosis.models.forest", "GradientBoostingBaseline"),
    "xgb-cox": ModelSpec("prognosis.models.boosting", "XGBCox", native_missing=True),
    "xgb-aft": ModelSpec("prognosis.models.boosting", "XGBAFT", native_missing=True),
    "cause-specific-cox": ModelSpec(
        "prognosis.models.competing", "CauseSpecificCox", drop="first", drop_collinear=True
    ),
    "fine-gray": ModelSpec(
        "prognosis.models.fine_gray", "FineGray", drop="first", drop_collinear=True
    ),
    "xgb-cause-specific": ModelSpec(
        "prognosis.models.boosted_competing", "XGBCauseSpecific", native_missing=True
    ),
}

#: Every name :func:`make_model` accepts.
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)


def make_model(name: str, *, seed: int = 0, **params: Any) -> SurvivalPipeline:
    """An unfitted pipeline (``preprocess`` then ``model``) for a named model.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    seed : int
        Passed as ``random_state`` to estimators that take one (unless ``params`` sets it).
    **params
        Keyword arguments of the estimator.

    Raises
    ------
    UnknownModelError
        When ``name`` is not a known model; the message lists the valid names.
    """
    spec = _spec(name)
    estimator = estimator_class(name)
    if "random_state" in inspect.signature(estimator).parameters:
        params.setdefault("random_state", seed)
    return SurvivalPipeline(
        [
            (
                "preprocess",
                make_preprocessor(
                    scale=spec.scale,
                    drop=spec.drop,
                    drop_collinear=spec.drop_collinear,
                    native_missing=spec.native_missing,
                ),
            ),
            ("model", estimator(**params)),
        ]
    )


def estimator_class(name: str) -> type[SurvivalEstimator]:
    """The estimator class behind a model name (one of :data:`MODEL_NAMES`).

    Raises
    ------
    UnknownModelError
        When ``name`` is not a known model; the message lists the valid names.
    """
    spec = _spec(name)
    return getattr(importlib.import_module(spec.module), spec.estimator)


def model_spec(name: str) -> ModelSpec:
    """What a model name stands for: its estimator and the preprocessing it needs.

    Raises
    ------
    UnknownModelError
        When ``name`` is not a known model; the message lists the valid names.
    """
    return _spec(name)


def _spec(name: str) -> ModelSpec:
    spec = _SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise UnknownModelError(f"unknown model {name!r}; valid names are {', '.join(MODEL_NAMES)}")
    return spec


def parse_params(name: str, items: Sequence[str]) -> dict[str, Any]:
    """Estimator parameters of model ``name`` from ``NAME=VALUE`` texts (``--param``): a value
    that reads as JSON (``0.1``, ``true``, ``null``, ``[1, 2]``) is that value, anything else
    the text itself.

    Raises
    ------
    UnknownModelError
        When an item is not ``NAME=VALUE``, or names no parameter of the estimator; the message
        lists the ones it has.
    """
    accepted = [
        parameter
        for parameter in inspect.signature(estimator_class(name)).parameters
        if parameter != "self"
    ]
    params: dict[str, Any] = {}
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise UnknownModelError(f"--param {item!r}: write NAME=VALUE, e.g. penalizer=0.1")
        if key not in accepted:
            raise UnknownModelError(
                f"--param {item!r}: {name} has no parameter {key!r}; it has {', '.join(accepted)}"
            )
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params
