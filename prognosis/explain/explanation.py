"""What an explanation is: small frozen dataclasses that computation returns and reports read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from prognosis.exceptions import ExplanationError

__all__ = ["Explanation", "ExplanationError", "Output", "SurvivalExplanation"]

#: The unit a SHAP value is measured in.
Output = Literal["log hazard", "log time", "risk score"]


@dataclass(frozen=True, eq=False)
class Explanation:
    """SHAP values of one model output, one column per original dataset feature.

    For every row, ``base_values[i] + values[i].sum()`` is the model's output for that row
    (exactly, for the exact methods). A missing-indicator column made by the preprocessing
    counts towards the feature it flags, and a one-hot column towards its categorical feature.

    Attributes
    ----------
    feature_names : tuple of str
        The dataset's feature columns, in the order of ``values``' columns.
    values : ndarray (n, p)
        Contribution of each feature to each row's output, float64.
    base_values : ndarray (n,)
        The output at the reference (the expected output over the reference population).
    output : str
        The unit: ``"log hazard"``, ``"log time"``, ``"risk score"``.
    sign : int
        +1 when a higher output means a higher risk, -1 when it means a lower risk (log time:
        a positive value means longer expected survival).
    data : DataFrame
        The original feature values of the rows explained (NaN where missing).
    method : str
        How the values were computed, e.g. ``"exact TreeSHAP"``, ``"exact linear SHAP"``,
        ``"permutation SHAP (approximate)"``.
    """

    feature_names: tuple[str, ...]
    values: np.ndarray
    base_values: np.ndarray
    output: Output
    sign: int
    data: pd.DataFrame
    method: str

    @property
    def prediction(self) -> np.ndarray:
        """The explained output of each row: ``base_values + values.sum(axis=1)``."""
        return self.base_values + self.values.sum(axis=1)

    def row(self, index: int) -> Explanation:
        """The explanation of one row (by position), as a one-row :class:`Explanation`."""
        rows = slice(index, index + 1 if index != -1 else None)
        return Explanation(
            self.feature_names,
            self.values[rows],
            self.base_values[rows],
            self.output,
            self.sign,
            self.data.iloc[rows],
            self.method,
        )


@dataclass(frozen=True, eq=False)
class SurvivalExplanation:
    """SHAP values of S(t), the probability of being event-free at each time in ``times``.

    ``base_values[i, k] + values[i, :, k].sum()`` is row i's S(times[k]). A positive value
    raises survival (lowers risk) at that time.

    Attributes
    ----------
    feature_names : tuple of str
    times : ndarray (m,)
        Days since index.
    values : ndarray (n, p, m)
    base_values : ndarray (n, m)
    data : DataFrame
    method : str
    """

    feature_names: tuple[str, ...]
    times: np.ndarray
    values: np.ndarray
    base_values: np.ndarray
    data: pd.DataFrame
    method: str

    @property
    def prediction(self) -> np.ndarray:
        """S(t) of each row at each time: an array (n, m)."""
        return self.base_values + self.values.sum(axis=1)
