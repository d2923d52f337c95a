"""From the model's input columns back to the dataset's features.

The preprocessing (:func:`prognosis.models.preprocess.make_preprocessor`) turns each dataset
feature into one or more model columns: the feature itself, ``missingindicator_<feature>``, or
one one-hot column per level of a categorical feature; constant and collinear columns are then
dropped. SHAP values are additive, so summing a feature's columns gives that feature's exact
contribution, and every explanation is reported per dataset feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from prognosis.explain.explanation import ExplanationError

__all__ = ["ModelInputs", "aggregate", "model_inputs", "source_features"]

_INDICATOR = "missingindicator_"


@dataclass(frozen=True, eq=False)
class ModelInputs:
    """Rows to explain, before and after the pipeline's preprocessing.

    Attributes
    ----------
    data : DataFrame
        The rows, with the dataset's feature columns in the order the pipeline was fitted on.
    transformed : DataFrame
        The preprocessing's output (the model's input), float64.
    sources : list of str
        For each column of ``transformed``, the column of ``data`` it came from.
    """

    data: pd.DataFrame
    transformed: pd.DataFrame
    sources: list[str]

    @property
    def array(self) -> np.ndarray:
        """``transformed`` as a C-contiguous float64 array (compiled code reads it raw)."""
        return np.ascontiguousarray(self.transformed.to_numpy(dtype=np.float64))


def model_inputs(pipeline: Any, X: pd.DataFrame) -> ModelInputs:
    """Preprocess ``X`` as the fitted ``pipeline`` does, keeping track of each column's source.

    ``X`` must hold the columns the pipeline was fitted on (in any order; nothing else):
    :func:`prognosis.training.check_schema` selects them from a dataset.
    """
    preprocess = pipeline[:-1]
    expected = [str(c) for c in getattr(preprocess, "feature_names_in_", X.columns)]
    missing = [c for c in expected if c not in X.columns]
    extra = [str(c) for c in X.columns if c not in set(expected)]
    if missing or extra:
        raise ExplanationError(
            f"the rows to explain do not have the model's feature columns (missing "
            f"{missing[:10]}, unexpected {extra[:10]}); select them with "
            "prognosis.training.check_schema"
        )
    data = X[expected]
    transformed = preprocess.transform(data)
    if not isinstance(transformed, pd.DataFrame):
        transformed = pd.DataFrame(np.asarray(transformed), index=data.index)
    origins = source_features(preprocess, expected)
    sources = []
    for column in map(str, transformed.columns):
        if column not in origins:
            raise ExplanationError(
                f"cannot tell which dataset feature the model column {column!r} comes from"
            )
        sources.append(origins[column])
    return ModelInputs(data, transformed.astype("float64"), sources)


def source_features(preprocess: Any, inputs: Sequence[str]) -> dict[str, str]:
    """Map each column a fitted preprocessing can output to the input column it came from.

    Reads the fitted ``ColumnTransformer`` of the preprocessing: a numeric column keeps its
    name or becomes ``missingindicator_<name>``; a categorical column becomes one column per
    one-hot level (counted from the encoder's categories, as names can be ambiguous). Without
    a ``ColumnTransformer``, only those numeric names are recognised.
    """
    columns = _column_transformer(preprocess)
    if columns is None:
        return _numeric_origins(inputs, inputs)
    origins: dict[str, str] = {}
    for _, transformer, selected in columns.transformers_:
        if isinstance(transformer, str) or len(selected) == 0:
            continue  # "drop", "passthrough" of nothing, or an empty selection
        names = [str(n) for n in transformer.get_feature_names_out(list(selected))]
        encoder = _find(transformer, OneHotEncoder)
        if encoder is None:
            origins.update(_numeric_origins(names, [str(s) for s in selected]))
        else:
            origins.update(_one_hot_origins(encoder, names, [str(s) for s in selected]))
    return origins


def aggregate(values: np.ndarray, sources: Sequence[str], features: Sequence[str]) -> np.ndarray:
    """Sum columns of ``values`` (..., n_columns, ...) on axis 1 into one per feature.

    ``values`` has the model columns on axis 1 (shape (n, q) or (n, q, m)); the result has
    ``len(features)`` there, in that order; a feature without a model column gets zeros.
    """
    position = {name: i for i, name in enumerate(features)}
    shape = (values.shape[0], len(features), *values.shape[2:])
    out = np.zeros(shape, dtype=np.float64)
    for column, source in enumerate(sources):
        out[:, position[source]] += values[:, column]
    return out


def _column_transformer(preprocess: Any) -> ColumnTransformer | None:
    steps = [step for _, step in preprocess.steps] if isinstance(preprocess, Pipeline) else []
    for step in steps:
        inner = getattr(step, "transformer_", None)  # EncodeCategoricals, when it encoded
        if isinstance(inner, ColumnTransformer):
            return inner
        found = step if isinstance(step, ColumnTransformer) else _column_transformer(step)
        if found is not None:
            return found
    return None


def _find(transformer: Any, kind: type) -> Any:
    if isinstance(transformer, kind):
        return transformer
    if isinstance(transformer, Pipeline):
        return next((s for _, s in transformer.steps if isinstance(s, kind)), None)
    return None


def _numeric_origins(names: Sequence[str], inputs: Sequence[str]) -> dict[str, str]:
    known = set(inputs)
    origins = {}
    for name in names:
        if name in known:
            origins[name] = name
        elif name.startswith(_INDICATOR) and name[len(_INDICATOR) :] in known:
            origins[name] = name[len(_INDICATOR) :]
    return origins


def _one_hot_origins(
    encoder: OneHotEncoder, names: Sequence[str], inputs: Sequence[str]
) -> dict[str, str]:
    drop = encoder.drop_idx_
    counts = [
        len(levels) - int(drop is not None and drop[i] is not None)
        for i, levels in enumerate(encoder.categories_)
    ]
    if sum(counts) != len(names):
        raise ExplanationError(
            f"the one-hot encoder makes {len(names)} columns from {list(inputs)}, but its "
            f"categories account for {sum(counts)}"
        )
    sources = [str(s) for s in np.repeat(list(inputs), counts)]
    return dict(zip(names, sources, strict=True))
