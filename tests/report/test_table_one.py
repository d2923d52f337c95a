"""Table 1 on a hand-made frame: every cell worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prognosis.artifacts import Feature
from prognosis.report.table_one import (
    TableOne,
    TableOneRow,
    standardized_difference,
    table_one,
)

FEATURES = [
    Feature("age", label="Age at index (years)", statistic="age"),
    Feature("male", label="Male sex", statistic="sex"),
    Feature("visits", label="Visits", statistic="count"),
    Feature("lab", label="Last lab value", statistic="last"),
]


def _frame() -> pd.DataFrame:
    # 12 persons: 6 with the outcome (event 1), 6 without (event 0).
    return pd.DataFrame(
        {
            "person_id": range(12),
            "time": [10, 20, 30, 40, 50, 60, 100, 100, 100, 100, 100, 100],
            "event": [1] * 6 + [0] * 6,
            "age": [50, 52, 54, 56, 58, 60, 40, 42, 44, 46, 48, 50],
            "male": [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
            "visits": [0, 0, 0, 1, 2, 9, 0, 0, 0, 0, 1, 1],
            "lab": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0],
        }
    )


def _row(table: TableOne, label: str) -> TableOneRow:
    return next(row for row in table.rows if row.label == label)


def test_columns_are_overall_then_by_outcome() -> None:
    table = table_one(_frame(), FEATURES)
    assert table.columns == ["Overall", "Outcome", "No event (censored)"]
    # 6 and 6: with both sizes shown, the 0 outcome persons without male sex (6 - 6) and the
    # 1 man without it could be worked out; so the sizes are hidden
    assert table.sizes == ["hidden"] * 3
    ten_times = pd.concat([_frame()] * 10, ignore_index=True)
    assert table_one(ten_times, FEATURES).sizes == ["120", "60", "60"]


def test_binary_feature_shows_n_and_percent_with_small_counts_hidden() -> None:
    row = _row(table_one(_frame(), FEATURES), "Male sex")
    # no event 1 of 6: under 5; 7 overall and 6 with the outcome would give it away (7 - 6)
    assert (row.statistic, row.cells) == ("n (%)", ["hidden", "hidden", "<5"])
    ten_times = pd.concat([_frame()] * 10, ignore_index=True)
    # overall 70 of 120 = 58.3%; outcome 60 of 60: that 0 are not male identifies no one
    assert _row(table_one(ten_times, FEATURES), "Male sex").cells == [
        "70 (58.3%)",
        "60 (100.0%)",
        "10 (16.7%)",
    ]


def test_symmetric_number_shows_mean_and_sd() -> None:
    row = _row(table_one(_frame(), FEATURES), "Age at index (years)")
    # outcome ages 50..60 by 2: mean 55, SD sqrt(70/5) = 3.74; no event 40..50: 45, 3.74
    assert row.statistic == "mean (SD)"
    assert row.cells[1:] == ["55.0 (3.74)", "45.0 (3.74)"]


def test_count_feature_shows_median_and_iqr() -> None:
    row = _row(table_one(_frame(), FEATURES), "Visits")
    # outcome 0,0,0,1,2,9: median 0.5, Q1 0, Q3 1.75 (linear interpolation)
    assert row.statistic == "median [IQR]"
    assert row.cells[1] == "0.50 [0.00\u20131.75]"


def test_missing_values_get_their_own_row_and_few_values_no_summary() -> None:
    table = table_one(_frame(), FEATURES)
    lab = table.rows.index(_row(table, "Last lab value"))
    missing = table.rows[lab + 1]
    # 1 to 4 missing overall and with the outcome; none missing without an event: shown
    assert (missing.label, missing.indent, missing.cells) == ("missing", True, ["<5", "<5", "0"])
    few = table_one(_frame().iloc[[0, 1, 2, 6, 7, 8, 9, 10, 11]], FEATURES)
    # outcome column: 3 persons, 2 lab values: no mean shown, and not their number either
    assert _row(few, "Last lab value").cells[1] == "n hidden"
    # 9 = 3 + 6, and the outcome column's shown zeros (no visits, none missing): with any size
    # shown the 3 could be worked out, so all three are hidden
    assert few.sizes == ["hidden", "hidden", "hidden"]


def test_standardized_differences_equal_austins_formulas_by_hand() -> None:
    table = table_one(_frame(), FEATURES)
    assert table.smd_columns == ("Outcome", "No event (censored)")
    # age: means 55 and 45, both SDs sqrt(14): 10 / sqrt(14) = 2.6726
    assert _row(table, "Age at index (years)").smd == "+2.67"
    # visits (a median row, compared by means): 0,0,0,1,2,9 (mean 2, var 12.4) against
    # 0,0,0,0,1,1 (mean 1/3, var 4/15): (5/3) / sqrt((12.4 + 4/15) / 2) = 0.6623
    assert _row(table, "Visits").smd == "+0.66"
    # lab: 1,2,4,5,6 (mean 3.6, var 4.3) against 7..12 (mean 9.5, var 3.5); the missing value
    # left out: -5.9 / sqrt(3.9) = -2.9876
    assert _row(table, "Last lab value").smd == "-2.99"
    # follow-up is not a baseline characteristic, a missing row no comparison
    assert _row(table, "Follow-up, days").smd == ""
    assert _row(table, "missing").smd == ""


def test_binary_standardized_difference_uses_proportions_and_hides_beside_hidden_counts() -> None:
    # 1 of 6 men without an event is under 5: the counts are hidden, and so is the SMD
    assert _row(table_one(_frame(), FEATURES), "Male sex").smd == "hidden"
    ten_times = pd.concat([_frame()] * 10, ignore_index=True)
    # p1 = 60/60, p2 = 10/60: (5/6) / sqrt((0 + (1/6)(5/6)) / 2) = sqrt(10) = 3.1623
    assert _row(table_one(ten_times, FEATURES), "Male sex").smd == "+3.16"


def test_standardized_difference_is_hidden_beside_a_summary_of_few_values() -> None:
    few = table_one(_frame().iloc[[0, 1, 2, 6, 7, 8, 9, 10, 11]], FEATURES)
    # 3 outcome persons: no mean shown, so no SMD either
    assert _row(few, "Age at index (years)").smd == "hidden"


def test_standardized_difference_of_identical_or_constant_groups() -> None:
    same = np.array([1.0, 1.0, 1.0])
    # neither group varies: undefined, shown as a dash
    assert np.isnan(standardized_difference(same, same, binary=False))
    assert np.isnan(standardized_difference(same, same + 1, binary=False))
    assert np.isnan(standardized_difference(np.zeros(9), np.zeros(7), binary=True))
    assert np.isnan(standardized_difference(np.ones(4), np.zeros(4), binary=True))


def test_a_feature_nobody_has_gets_a_dash_not_a_zero_difference() -> None:
    frame = pd.concat([_frame()] * 10, ignore_index=True).assign(never=0.0)
    row = _row(table_one(frame, [*FEATURES, Feature("never", label="Never seen")]), "Never seen")
    assert row.cells == ["0 (0.0%)"] * 3 and row.smd == "\u2014"
