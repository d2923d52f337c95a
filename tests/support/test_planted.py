"""The planted-survival generator draws what it says it plants: checked against the
exponential distribution's own moments, not against prognosis."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.planted import Cause, Planted, planted_survival


def test_uncensored_times_have_the_planted_exponential_mean() -> None:
    data = planted_survival(
        20_000, seed=0, features={}, beta={}, base_hazard=0.02, censor_between=None
    )
    assert (data.event == 1).all() and np.array_equal(data.time, data.event_time)
    assert data.time.mean() == pytest.approx(50.0, rel=0.03)  # 1 / hazard; sd / sqrt(n) 0.7%


def test_the_hazard_ratio_of_a_binary_feature_is_planted() -> None:
    data = planted_survival(
        20_000, seed=1, features={"flag": 0.5}, beta={"flag": np.log(2.0)}, censor_between=None
    )
    flag = data.X["flag"].to_numpy() == 1
    assert abs(flag.mean() - 0.5) < 0.02
    ratio = data.time[~flag].mean() / data.time[flag].mean()  # exponential: mean 1 / hazard
    assert ratio == pytest.approx(2.0, rel=0.05)


def test_competing_causes_split_the_first_events_by_their_hazards() -> None:
    data = planted_survival(
        20_000, seed=2, features={}, beta={}, base_hazard=0.03, competing=Cause(0.01),
        censor_between=None,
    )  # fmt: skip
    assert set(np.unique(data.event)) == {1, 2}
    assert (data.event == 1).mean() == pytest.approx(0.75, abs=0.015)
    assert data.time.mean() == pytest.approx(25.0, rel=0.03)
    # the cumulative incidence of cause 1 at t: 3/4 (1 - exp(-0.04 t))
    assert data.risk(10.0)[0] == pytest.approx(0.75 * (1 - np.exp(-0.4)))
    assert (data.time <= 10.0)[data.event == 1].sum() / len(data.time) == pytest.approx(
        data.risk(10.0)[0], abs=0.01
    )


def test_censoring_end_whole_days_and_missing_values() -> None:
    data = planted_survival(
        2000, seed=3, censor_between=(5.0, 10.0), end=8.0, whole_days=True, missing={"x": 0.25}
    )
    assert data.censor_time.max() <= 8.0 and data.time.max() <= 8.0
    assert np.array_equal(data.time, np.ceil(data.time))
    assert ((data.event == 1) == (data.event_time <= data.censor_time)).all()
    assert data.X["x"].isna().mean() == pytest.approx(0.25, abs=0.03)
    assert not np.isnan(data.log_hazard).any()  # hazards use the values before blanking


def test_the_target_is_a_structured_array_of_the_right_kind() -> None:
    single, competing = planted_survival(10), planted_survival(10, competing=Cause(0.1))
    assert single.y.dtype.names == ("event", "time") and single.y["event"].dtype == bool
    assert competing.y["event"].dtype == np.int64
    assert isinstance(single, Planted) and list(single.frame().columns) == ["x", "time", "event"]


def test_the_same_seed_gives_the_same_draws() -> None:
    assert np.array_equal(planted_survival(50, seed=7).time, planted_survival(50, seed=7).time)
    with pytest.raises(ValueError, match="feature 'x': 'normal' or a probability"):
        planted_survival(5, features={"x": "uniform"})


def test_the_fixture_takes_its_shape_indirectly(planted_survival: Planted) -> None:
    assert len(planted_survival.time) == 400 and not planted_survival.competing


@pytest.mark.parametrize(
    "planted_survival", [{"n": 30, "competing": Cause(0.05), "whole_days": True}], indirect=True
)
def test_the_fixture_is_parametrized_with_the_functions_options(planted_survival: Planted) -> None:
    assert len(planted_survival.time) == 30 and planted_survival.competing


def test_censoring_can_depend_on_a_feature() -> None:
    data = planted_survival(
        20_000, seed=4, features={"z": 0.5}, beta={}, base_hazard=0.001,
        censor_by=Cause(0.01, {"z": np.log(4.0)}),
    )  # fmt: skip
    z = data.X["z"].to_numpy() == 1
    ratio = data.censor_time[~z].mean() / data.censor_time[z].mean()
    assert ratio == pytest.approx(4.0, rel=0.05)
