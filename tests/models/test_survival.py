"""Pure survival mathematics against values worked out by hand (in the comments)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from prognosis.models.survival import (
    aalen_johansen,
    breslow_cumulative_hazard,
    competing_risk_curves,
    cumulative_incidence,
    step_function,
)


# -- step functions -----------------------------------------------------------------------------
def test_step_function_is_right_continuous_with_a_value_before_the_first_step() -> None:
    # S = 0.9 from t=1, 0.6 from t=3, 0.2 from t=5; 1 before t=1; 0.2 after the last step
    grid, values = np.array([1.0, 3.0, 5.0]), np.array([0.9, 0.6, 0.2])
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.9, 5.0, 10.0])

    got = step_function(grid, values, times, before=1.0)

    np.testing.assert_array_equal(got, [1.0, 0.9, 0.9, 0.6, 0.6, 0.2, 0.2])


def test_step_function_evaluates_one_curve_per_row() -> None:
    grid = np.array([1.0, 3.0, 5.0])
    values = np.array([[0.9, 0.6, 0.2], [0.8, 0.5, 0.1]])
    # t=0.5 is before the first step, t=3 on the second, t=7 past the last
    got = step_function(grid, values, np.array([0.5, 3.0, 7.0]), before=1.0)

    np.testing.assert_array_equal(got, [[1.0, 0.6, 0.2], [1.0, 0.5, 0.1]])


def test_step_function_without_steps_is_the_value_before() -> None:
    empty = np.array([])
    times = np.array([1.0, 2.0])

    np.testing.assert_array_equal(step_function(empty, empty, times, before=0.0), [0.0, 0.0])
    rows = step_function(empty, np.empty((2, 0)), times, before=1.0)
    np.testing.assert_array_equal(rows, [[1.0, 1.0], [1.0, 1.0]])


# -- Breslow ------------------------------------------------------------------------------------
def test_breslow_matches_hand_computation_with_ties() -> None:
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    event = np.array([1, 1, 1, 0, 1])
    log_hazard = np.log([1.0, 2.0, 1.0, 3.0, 1.0])
    # t=1: 1 event / (1+2+1+3+1); t=2: 2 tied events / (2+1+3+1); t=3 censored; t=4: 1 / 1
    expected = np.cumsum([1 / 8, 2 / 7, 1 / 1])

    times, cumulative = breslow_cumulative_hazard(time, event, log_hazard)

    np.testing.assert_array_equal(times, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(cumulative, expected, rtol=1e-12)


# -- cumulative incidence from cause-specific hazards -------------------------------------------
S1, S2 = math.exp(-0.4), math.exp(-0.6)
# one row; causes 1, 2; two event times with hazard jumps cause 1: 0.1, 0.2; cause 2: 0.3, 0.0.
# S falls to exp(-0.4), then exp(-0.6); each fall is shared in proportion to the causes' jumps:
# at the first time 1/4 : 3/4, at the second all to cause 1.
CIF1 = [0.25 * (1 - S1), 0.25 * (1 - S1) + (S1 - S2)]
CIF2 = [0.75 * (1 - S1), 0.75 * (1 - S1)]


def test_competing_risk_curves_match_hand_computation() -> None:
    jumps = np.array([[[0.1, 0.2], [0.3, 0.0]]])

    survival, incidence = competing_risk_curves(jumps)

    np.testing.assert_allclose(survival, [[S1, S2]], rtol=1e-12)
    np.testing.assert_allclose(incidence, [[CIF1, CIF2]], rtol=1e-12)


def test_cumulative_incidence_reads_the_curves_as_steps() -> None:
    # baseline jumps cause 1: 0.1, 0.2; cause 2: 0.15, 0 at days 2 and 4; the row's cause-2
    # hazard ratio is 2, so its jumps are those of the hand computation above
    log_hazard = np.array([[0.0, math.log(2.0)]])
    baseline = np.array([[0.1, 0.2], [0.15, 0.0]])
    grid = np.array([2.0, 4.0])
    times = np.array([1.0, 2.0, 3.0, 4.0, 9.0])  # before, on, between, on, after the steps

    survival, incidence = cumulative_incidence(log_hazard, baseline, grid, times)

    np.testing.assert_allclose(survival, [[1.0, S1, S1, S2, S2]], rtol=1e-12)
    expected = [
        [0.0, CIF1[0], CIF1[0], CIF1[1], CIF1[1]],
        [0.0, CIF2[0], CIF2[0], CIF2[1], CIF2[1]],
    ]
    np.testing.assert_allclose(incidence, [expected], rtol=1e-12)


def test_cumulative_incidence_before_the_first_event_time() -> None:
    # no grid time by t=1: event-free survival 1, no incidence, for every row
    log_hazard = np.zeros((3, 2))
    baseline = np.array([[0.1, 0.2], [0.15, 0.0]])

    survival, incidence = cumulative_incidence(
        log_hazard, baseline, np.array([2.0, 4.0]), np.array([1.0])
    )

    np.testing.assert_array_equal(survival, np.ones((3, 1)))
    np.testing.assert_array_equal(incidence, np.zeros((3, 2, 1)))


# -- Aalen-Johansen -----------------------------------------------------------------------------
def test_aalen_johansen_matches_hand_computation_with_ties() -> None:
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0])
    event = np.array([1, 2, 1, 0, 1, 0, 2])
    # S(t-) x (events of the cause / at risk):
    # t=1: 1 x 1/7; t=2: 6/7 x 1/6 each cause (S -> 4/7); t=3 censored;
    # t=4: 4/7 x 1/3 for cause 1 (S -> 8/21); t=5: 8/21 x 1/1 for cause 2
    expected = {
        1: [1 / 7, 2 / 7, 2 / 7, 2 / 7 + 4 / 21, 2 / 7 + 4 / 21],
        2: [0, 1 / 7, 1 / 7, 1 / 7, 1 / 7 + 8 / 21],
    }

    for cause, incidence in expected.items():
        times, cif = aalen_johansen(event, time, cause)
        np.testing.assert_array_equal(times, [1, 2, 3, 4, 5])
        np.testing.assert_allclose(cif, incidence, rtol=1e-12)


def test_aalen_johansen_unknown_cause_raises() -> None:
    with pytest.raises(ValueError, match=r"cause 3 is not an event code in the data \[1, 2\]"):
        aalen_johansen(np.array([1, 2, 0]), np.array([1.0, 2.0, 3.0]), cause=3)


# -- imports ------------------------------------------------------------------------------------
def test_lifelines_models_skip_xgboost_and_no_model_imports_shap() -> None:
    code = (
        "import sys\n"
        "import prognosis.models.survival\n"
        "assert 'lifelines' not in sys.modules, 'survival imports lifelines'\n"
        "import prognosis.models.cox, prognosis.models.competing, prognosis.models.parametric\n"
        "assert 'xgboost' not in sys.modules, 'a lifelines model imports xgboost'\n"
        "import prognosis.models.boosting, prognosis.models.forest\n"
        "assert 'shap' not in sys.modules, 'a model imports shap before it explains'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
