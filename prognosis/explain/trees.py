"""Exact TreeSHAP for scikit-survival's tree ensembles, through shap's tree dictionary format.

``shap.TreeExplainer`` refuses scikit-survival's ``RandomSurvivalForest`` and
``GradientBoostingSurvivalAnalysis`` as they are, but accepts any ensemble written as a
dictionary of trees. Each fitted ``estimator.tree_`` supplies its structure; what a node
predicts is chosen here:

* random survival forest, risk score: the node's cumulative hazard summed over the training
  event times (what ``predict`` returns), averaged over the trees;
* random survival forest, S(t): the node's survival column at t (several times at once make a
  multi-output tree), averaged over the trees;
* gradient boosting: the regression tree's value times the learning rate (the margin, a log
  hazard ratio, adds them up from zero).

scikit-learn routes a row left when ``float32(x) <= threshold`` and sends missing values to
``missing_go_to_left``; the dictionary says the same (``input_dtype`` float32,
``children_default``). Every array handed to shap's compiled code is made C-contiguous: it reads
them as raw memory, and a strided view gives wrong values without any error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prognosis.explain.backend import shap_module
from prognosis.explain.explanation import ExplanationError

__all__ = ["boosting_shap", "forest_risk_shap", "forest_survival_shap", "tree_dictionary"]


def tree_dictionary(tree: Any, values: np.ndarray) -> dict[str, np.ndarray]:
    """One fitted scikit-learn ``Tree`` in shap's dictionary format, with node ``values``.

    Parameters
    ----------
    tree : sklearn.tree._tree.Tree
        ``estimator.tree_`` of a fitted tree.
    values : ndarray (n_nodes,) or (n_nodes, n_outputs)
        What each node predicts (only the leaves matter: shap recomputes inner nodes).
    """
    left = tree.children_left.astype(np.int32)
    right = tree.children_right.astype(np.int32)
    missing_left = getattr(tree, "missing_go_to_left", None)
    default = left if missing_left is None else np.where(missing_left != 0, left, right)
    node_values = np.asarray(values, dtype=np.float64)
    if node_values.ndim == 1:
        node_values = node_values[:, None]
    return {
        "children_left": np.ascontiguousarray(left, dtype=np.int32),
        "children_right": np.ascontiguousarray(right, dtype=np.int32),
        "children_default": np.ascontiguousarray(default, dtype=np.int32),
        "features": np.ascontiguousarray(tree.feature, dtype=np.int32),
        "thresholds": np.ascontiguousarray(tree.threshold, dtype=np.float64),
        "values": np.ascontiguousarray(node_values),
        "node_sample_weight": np.ascontiguousarray(tree.weighted_n_node_samples, dtype=np.float64),
    }


def forest_risk_shap(forest: Any, X: np.ndarray) -> tuple[np.ndarray, float]:
    """SHAP values of a scikit-survival random survival forest's risk score (``predict``).

    Returns ``values`` (n, q) and the base value; ``base + values.sum(1) == forest.predict(X)``.
    """
    scale = 1.0 / len(forest.estimators_)
    event = np.asarray(forest.is_event_time_, dtype=bool)
    trees = [
        tree_dictionary(e.tree_, e.tree_.value[:, event, 0].sum(axis=1) * scale)
        for e in _full_trees(forest)
    ]
    values, base = _explain(trees, X)
    return values[:, :, 0], float(base[0])


def forest_survival_shap(
    forest: Any, X: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values of a random survival forest's S(t) at each of ``times``.

    S is the forest's step function on ``forest.unique_times_`` (1 before the first). Returns
    ``values`` (n, q, m) and ``base`` (m,); ``base + values.sum(1)`` is S at each time.
    """
    grid = np.asarray(forest.unique_times_, dtype=float)
    column = np.searchsorted(grid, np.asarray(times, dtype=float), side="right") - 1
    scale = 1.0 / len(forest.estimators_)
    trees = []
    for estimator in _full_trees(forest):
        survival = estimator.tree_.value[:, np.clip(column, 0, None), 1]
        survival = np.where(column >= 0, survival, 1.0)  # before the first time, S = 1
        trees.append(tree_dictionary(estimator.tree_, survival * scale))
    return _explain(trees, X)


def boosting_shap(model: Any, X: np.ndarray) -> tuple[np.ndarray, float]:
    """SHAP values of scikit-survival gradient boosting's margin (``predict``, a log hazard)."""
    if not (isinstance(model.init_, str) and model.init_ == "zero"):
        raise ExplanationError(
            f"gradient boosting with init={model.init_!r} is not supported (expected 'zero')"
        )
    if getattr(model, "dropout_rate", 0.0) > 0:
        raise ExplanationError("gradient boosting fitted with dropout is not supported")
    trees = [
        tree_dictionary(e.tree_, e.tree_.value[:, 0, 0] * model.learning_rate)
        for e in model.estimators_[:, 0]
    ]
    values, base = _explain(trees, X)
    return values[:, :, 0], float(base[0])


def _full_trees(forest: Any) -> list[Any]:
    if getattr(forest, "low_memory", False):
        raise ExplanationError(
            "a random survival forest fitted with low_memory=True keeps no survival curves "
            "in its trees; refit it with low_memory=False to explain it"
        )
    return list(forest.estimators_)


def _explain(trees: list[dict[str, np.ndarray]], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Path-dependent TreeSHAP of a tree dictionary: values (n, q, k) and base (k,)."""
    model = {
        "trees": trees,
        "base_offset": 0.0,
        "input_dtype": np.float32,  # scikit-learn compares float32 inputs
        "internal_dtype": np.float64,
        "tree_output": "raw_value",
    }
    explainer = shap_module().TreeExplainer(model, feature_perturbation="tree_path_dependent")
    data = np.ascontiguousarray(X, dtype=np.float32)
    values = np.asarray(explainer.shap_values(data), dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    return values, np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
