"""Explaining in chunks (what ``prognosis explain`` does to show progress) gives the same values."""

from __future__ import annotations

import numpy as np
import pytest

import prognosis.explain.shap_values as shap_module
from prognosis.explain import explain_model


@pytest.mark.parametrize("family", ["cox", "xgb-cox", "rsf", "cause-specific-cox"])
def test_chunked_shap_values_equal_one_call(fitted, X, family, monkeypatch) -> None:
    pipeline = fitted(family)
    background = X.iloc[:50]
    whole = explain_model(pipeline, X, background=background)
    monkeypatch.setattr(shap_module, "CHUNK_ROWS", 37)  # several chunks and a short last one
    calls: list[tuple[int, int]] = []
    chunked = explain_model(
        pipeline, X, background=background, progress=lambda d, t: calls.append((d, t))
    )
    np.testing.assert_array_equal(chunked.values, whole.values)
    np.testing.assert_array_equal(chunked.base_values, whole.base_values)
    n = len(X)
    assert calls == [(min(k + 37, n), n) for k in range(0, n, 37)]
