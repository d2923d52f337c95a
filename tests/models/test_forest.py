"""The scikit-survival forest shells: the same data and seed give the same numbers."""

from __future__ import annotations

import numpy as np

from prognosis.models.forest import RandomSurvivalForest
from tests.support.planted import planted_survival

TIMES = np.array([2.0, 5.0, 10.0])


def _forest() -> tuple[RandomSurvivalForest, np.ndarray]:
    data = planted_survival(1500, seed=4, base_hazard=0.05)
    model = RandomSurvivalForest(n_estimators=40, min_samples_leaf=10, n_jobs=2, random_state=0)
    return model.fit(data.X, data.y), data.X


def test_a_forest_fitted_on_two_threads_predicts_the_same_bits_every_time() -> None:
    # scikit-learn adds the trees' predictions up in the order its threads finish: with
    # n_jobs=2 the last bits moved from call to call (4e-16 on this data) before the shell
    # made predictions serial
    model, X = _forest()
    first = model.predict_survival(X, TIMES)
    for _ in range(4):
        assert np.array_equal(model.predict_survival(X, TIMES), first)
    assert model.n_jobs == 2  # the parameter the user set is untouched


def test_two_fits_with_one_seed_and_a_restored_forest_agree_exactly() -> None:
    model, X = _forest()
    twin, _ = _forest()
    restored = RandomSurvivalForest.from_state(*model.to_state())
    expected = model.predict_survival(X, TIMES)
    for other in (twin, restored, restored):
        assert np.array_equal(other.predict_survival(X, TIMES), expected)
        assert np.array_equal(other.predict(X), model.predict(X))
