"""Survival targets (prognosis.models.target): built as scikit-survival's structured arrays,
read from cohort datasets, and checked once with a message naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv

from prognosis.models.target import (
    TargetError,
    check_target,
    make_competing_target,
    make_target,
    target_from_frame,
)


def test_make_target_is_what_scikit_survival_builds() -> None:
    ours = make_target([1, 0, 1], [3, 5.5, 7])
    theirs = Surv.from_arrays(event=[True, False, True], time=[3.0, 5.5, 7.0])
    assert ours.dtype.names == theirs.dtype.names == ("event", "time")
    assert ours["event"].dtype == bool and ours["time"].dtype == np.float64
    assert ours.tolist() == theirs.tolist()


def test_a_competing_target_keeps_integer_codes() -> None:
    y = make_competing_target([0, 1, 2, 3], [1, 2, 3, 4])
    assert y["event"].dtype == np.int64 and y["event"].tolist() == [0, 1, 2, 3]


def test_a_dataset_with_codes_above_one_gives_a_competing_target() -> None:
    frame = pd.DataFrame({"time": [5, 6, 7], "event": [0, 2, 1]})
    y = target_from_frame(frame)
    assert y["event"].dtype == np.int64 and y["event"].tolist() == [0, 2, 1]
    single = target_from_frame(frame.assign(event=[0, 1, 1]))
    assert single["event"].dtype == bool and single["event"].tolist() == [False, True, True]
    assert single["time"].tolist() == [5.0, 6.0, 7.0]


@pytest.mark.parametrize("column", ["time", "event"])
def test_a_dataset_without_time_or_event_names_the_column_and_the_origin(column: str) -> None:
    frame = pd.DataFrame({"time": [1.0], "event": [1]}).drop(columns=column)
    with pytest.raises(TargetError, match=rf"data/x.parquet has no column '{column}'; a survival"):
        target_from_frame(frame, origin="data/x.parquet")


def test_a_checked_target_lists_its_causes_and_each_as_a_single_event() -> None:
    checked = check_target(make_competing_target([0, 2, 1, 2], [1, 2, 3, 4]), competing=True)
    assert checked.causes == [1, 2]
    assert checked.for_cause(2)["event"].tolist() == [False, True, False, True]
    assert checked.for_cause(2)["time"].tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([1.0, 2.0]), r"y must be a structured array with fields 'event' and 'time'"),
        (make_target([1, 0], [np.nan, 2.0]), r"y\['time'\] holds missing or infinite values"),
        (make_target([1, 0], [np.inf, 2.0]), r"y\['time'\] holds missing or infinite values"),
        (
            make_target([1, 0, 1], [0.0, -2.0, 3.0]),
            r"y\['time'\] must be > 0; 2 rows have time <= 0 \(minimum -2\)",
        ),
        (
            make_competing_target([-1, 1], [1.0, 2.0]),
            r"y\['event'\] must be 0 \(censored\) or a positive cause code",
        ),
        (make_target([0, 0], [1.0, 2.0]), r"y has no events \(all rows censored\)"),
        (
            make_competing_target([1, 2, 3, 0], [1.0, 2.0, 3.0, 4.0]),
            r"y has competing events \(codes \[2, 3\]\); use a competing-risks model "
            r"\(cause-specific-cox\), or recode them as censored",
        ),
    ],
    ids=["plain array", "nan", "inf", "non-positive", "negative code", "no event", "competing"],
)
def test_a_bad_target_is_refused_with_what_is_wrong(y: np.ndarray, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        check_target(y)


def test_a_target_error_is_a_value_error_for_scikit_learn_callers() -> None:
    with pytest.raises(ValueError, match="no events"):
        check_target(make_target([0], [1.0]))
