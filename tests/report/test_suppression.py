"""Small counts cannot be worked out: each table kind, as published, solved for its hidden cells.

The solver (tests/report/linear_audit.py) reads only the rendered text and the relations any
reader knows; the truth comes from the data the table was made of, counted here with pandas.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from prognosis.artifacts import AttritionStep, CalibrationGroup, from_json
from prognosis.report.calibration_context import calibration_group_sizes
from prognosis.report.model_report import at_risk_rows, attrition_rows
from prognosis.report.table_one import TableOne, table_one
from tests.report.conftest import Built
from tests.report.linear_audit import System, exposed

_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # shrinking MILPs takes minutes
GROUPS = {"Overall": None, "Outcome": 1, "Competing event": 2, "No event (censored)": 0}


# --- attrition --------------------------------------------------------------------------------


def _steps(persons: list[int], events: list[int] | None = None) -> list[dict]:
    """attrition.json entries (as the file holds them) for these persons and index events."""
    events = events or persons
    return [
        {
            "step": f"s{i}",
            "description": f"step {i}",
            "persons": p,
            "index_events": e,
            "persons_dropped": persons[i - 1] - p if i else 0,
            "index_events_dropped": events[i - 1] - e if i else 0,
        }
        for i, (p, e) in enumerate(zip(persons, events, strict=True))
    ]


def _rows(steps: list[dict]) -> list:
    return attrition_rows(from_json(tuple[AttritionStep, ...], steps))


def _attrition_system(steps: list[dict]) -> tuple[System, dict[str, int]]:
    rows = _rows(steps)
    system, truth = System(), {}
    for i, (row, step) in enumerate(zip(rows, steps, strict=True)):
        system.read(f"p{i}", row.persons)
        system.read(f"e{i}", row.index_events)
        system.not_less(f"e{i}", f"p{i}")
        truth[f"p{i}"], truth[f"e{i}"] = step["persons"], step["index_events"]
        if i:
            system.read(f"d{i}", row.dropped)
            system.sum_of(f"p{i - 1}", [f"p{i}", f"d{i}"])
            system.sum_of(f"e{i - 1}", [f"e{i}", f"x{i}"])  # index events dropped: not shown
            system.not_less(f"x{i}", f"d{i}")
            truth[f"d{i}"] = steps[i - 1]["persons"] - step["persons"]
            truth[f"x{i}"] = steps[i - 1]["index_events"] - step["index_events"]
    return system, truth


def test_attrition_dropping_three_hides_what_would_give_them_away() -> None:
    # issue 9 item 8: 2,630 -> 2,627 with "dropped <5"
    steps = _steps([2630, 2627])
    rows = _rows(steps)
    assert rows[1].dropped == "<5"
    assert rows[1].persons == "2,627"  # the dataset's size, shown everywhere else anyway
    assert rows[0].persons == "hidden" and rows[0].index_events == "hidden"
    system, truth = _attrition_system(steps)
    assert exposed(system, truth) == []
    assert system.range_of("d1") == (1, 4)


def test_attrition_as_published_before_could_be_solved() -> None:
    # the solver finds the old publication out: both counts shown beside "<5"
    system = System()
    system.read("p0", "2,630")
    system.read("p1", "2,627")
    system.read("d1", "<5")
    system.sum_of("p0", ["p1", "d1"])
    assert system.range_of("d1") == (3, 3)


def test_attrition_with_steps_that_drop_nobody_is_protected() -> None:
    steps = _steps([2694, 2694, 2630, 2630, 2630, 2630])
    steps[1]["step"] = "first_occurrence"  # drops no person by construction: shown as 0
    rows = _rows(steps)
    assert rows[1].dropped == "0"
    system, truth = _attrition_system(steps)
    assert exposed(system, truth, structural={"d1"}) == []
    assert rows[-1].persons == "2,630"


def test_attrition_without_small_steps_is_shown_in_full() -> None:
    rows = _rows(_steps([1000, 900, 850], [1200, 1000, 850]))
    assert [(r.persons, r.index_events, r.dropped) for r in rows] == [
        ("1,000", "1,200", "—"),
        ("900", "1,000", "100"),
        ("850", "850", "50"),
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=_NO_SHRINK
)
@given(
    start=st.integers(0, 400),
    drops=st.lists(st.integers(0, 40), min_size=1, max_size=5),
    extra=st.lists(st.integers(0, 8), min_size=6, max_size=6),
)
def test_attrition_of_random_chains_hides_every_small_drop(
    start: int, drops: list[int], extra: list[int]
) -> None:
    persons = [start + sum(drops)]
    for drop in drops:
        persons.append(persons[-1] - drop)
    # index events: persons plus a non-increasing surplus
    surplus = sorted(extra[: len(persons)], reverse=True)
    events = [p + s for p, s in zip(persons, surplus, strict=True)]
    system, truth = _attrition_system(_steps(persons, events))
    assert exposed(system, truth) == []


# --- Table 1 ----------------------------------------------------------------------------------


def _table_system(table: TableOne) -> System:
    """Table 1 as a reader sees it: each column's persons split by every row of counts."""
    system = System()
    columns = table.columns
    for column, text in zip(columns, table.sizes, strict=True):
        system.read(f"n|{column}", text)
    system.sum_of("n|Overall", [f"n|{c}" for c in columns[1:]])
    rows = table.rows
    for k, row in enumerate(rows):
        if row.indent:
            continue
        parts = ["yes", "no"] if row.statistic == "n (%)" else ["present"]
        if k + 1 < len(rows) and rows[k + 1].indent:
            parts.append("missing")
            for column, text in zip(columns, rows[k + 1].cells, strict=True):
                system.read(f"{k}|missing|{column}", text, of=f"n|{column}")
        for column, text in zip(columns, row.cells, strict=True):
            _read_cell(system, f"{k}|{parts[0]}|{column}", text, f"n|{column}")
        for column in columns:
            system.sum_of(f"n|{column}", [f"{k}|{part}|{column}" for part in parts])
        for part in parts:
            system.sum_of(f"{k}|{part}|Overall", [f"{k}|{part}|{c}" for c in columns[1:]])
    return system


def _read_cell(system: System, name: str, text: str, size: str) -> None:
    if name.split("|")[1] == "yes":
        system.read(name, text, of=size)
    elif text in ("n <5", "n hidden", "n 0"):
        system.read(name, text)
    else:  # a mean or median is shown only over 5 or more persons
        system.unknown(name)
        system.lower[name] = 5


def _table_truth(frame: pd.DataFrame, table: TableOne, names: list[str]) -> dict[str, int]:
    masks = {
        c: np.ones(len(frame), bool)
        if GROUPS[c] is None
        else frame["event"].to_numpy() == GROUPS[c]
        for c in table.columns
    }
    truth = {f"n|{c}": int(m.sum()) for c, m in masks.items()}
    labels = [row.label for row in table.rows]
    for name in names:
        k = labels.index(name)
        values = frame[name]
        has_missing = k + 1 < len(table.rows) and table.rows[k + 1].indent
        for c, mask in masks.items():
            chosen = values[mask]
            if has_missing:  # no "missing" row: no feature value is missing, by construction
                truth[f"{k}|missing|{c}"] = int(chosen.isna().sum())
            if table.rows[k].statistic == "n (%)":
                truth[f"{k}|yes|{c}"] = int((chosen == 1).sum())
                truth[f"{k}|no|{c}"] = int((chosen == 0).sum())
            else:
                truth[f"{k}|present|{c}"] = int(chosen.notna().sum())
    return truth


def _cohort(n: int, events: int, rng: np.random.Generator) -> pd.DataFrame:
    event = np.zeros(n, int)
    event[rng.choice(n, events, replace=False)] = 1
    lab = rng.normal(5, 1, n)
    lab[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "person_id": range(n),
            "time": rng.integers(1, 700, n),
            "event": event,
            "male": (rng.random(n) < 0.5).astype(int),
            "rare": (np.arange(n) < 2).astype(int),
            "lab": lab,
        }
    )


def test_table_one_outcome_of_three_beside_203_and_200_cannot_be_solved() -> None:
    # issue 9 item 8: Overall 203, No event 200, Outcome <5
    frame = _cohort(203, 3, np.random.default_rng(0))
    table = table_one(frame, [])
    assert table.sizes == ["203", "<5", "hidden"]
    truth = _table_truth(frame, table, ["male", "rare", "lab"])
    assert exposed(_table_system(table), truth) == []


def test_table_one_as_published_before_could_be_solved() -> None:
    system = System()
    for column, text in (("Overall", "203"), ("Outcome", "<5"), ("None", "200")):
        system.read(column, text)
    system.sum_of("Overall", ["Outcome", "None"])
    assert system.range_of("Outcome") == (3, 3)


def test_table_one_of_a_large_cohort_keeps_its_counts() -> None:
    frame = _cohort(2000, 300, np.random.default_rng(1)).drop(columns="rare")
    table = table_one(frame, [])
    assert table.sizes == ["2,000", "300", "1,700"]
    male = next(r for r in table.rows if r.label == "male")
    assert "hidden" not in male.cells and "<5" not in male.cells


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=_NO_SHRINK
)
@given(
    n=st.integers(5, 80),
    share=st.floats(0.0, 1.0),
    competing=st.floats(0.0, 0.3),
    seed=st.integers(0, 2**16),
)
def test_table_one_of_random_small_cohorts_hides_every_small_count(
    n: int, share: float, competing: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    frame = _cohort(n, int(share * n * (1 - competing)), rng)
    zero = np.flatnonzero(frame["event"].to_numpy() == 0)
    frame.loc[zero[rng.random(zero.size) < competing], "event"] = 2
    frame["common"] = (rng.random(n) < 0.95).astype(int)
    table = table_one(frame, [])
    truth = _table_truth(frame, table, ["male", "rare", "lab", "common"])
    assert exposed(_table_system(table), truth) == []


# --- numbers at risk --------------------------------------------------------------------------


def _at_risk_check(time: np.ndarray, risk: np.ndarray, marks: np.ndarray) -> list[str]:
    thirds = np.digitize(risk, np.quantile(risk, [1 / 3, 2 / 3]), right=True)
    groups = [("All", np.ones(time.size, bool))] + [(f"T{k}", thirds == k) for k in range(3)]
    rows = at_risk_rows(groups, time, marks)
    system, truth = System(), {}
    for g, ((_, mask), (_, counts)) in enumerate(zip(groups, rows, strict=True)):
        for k, text in enumerate(counts):
            system.read(f"{g}|{k}", text)
            truth[f"{g}|{k}"] = int(np.sum(time[mask] >= marks[k]))
        for k in range(len(marks) - 1):  # those who left between two marks: not shown
            system.sum_of(f"{g}|{k}", [f"{g}|{k + 1}", f"{g}|{k}|left"])
            truth[f"{g}|{k}|left"] = truth[f"{g}|{k}"] - int(np.sum(time[mask] >= marks[k + 1]))
    for k in range(len(marks)):
        system.sum_of(f"0|{k}", [f"{g}|{k}" for g in (1, 2, 3)])
    return exposed(system, truth)


def test_numbers_at_risk_with_a_thin_tail_are_protected() -> None:
    rng = np.random.default_rng(3)
    time = np.concatenate([rng.integers(1, 200, 90), [350, 360, 700]])
    assert _at_risk_check(time, rng.random(time.size), np.arange(0, 701, 100.0)) == []


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=_NO_SHRINK
)
@given(n=st.integers(9, 60), seed=st.integers(0, 2**16))
def test_numbers_at_risk_of_random_cohorts_are_protected(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 400, n)
    assert _at_risk_check(time, rng.random(n), np.arange(0, 401, 100.0)) == []


# --- the whole report -------------------------------------------------------------------------


def test_model_report_tables_leave_no_small_count_solvable(built: Built) -> None:
    frame = pd.read_parquet(built.dataset / "dataset.parquet")
    table = built.report.table1
    names = [r.label for r in table.rows if not r.indent and r.label in frame.columns]
    assert exposed(_table_system(table), _table_truth(frame, table, names)) == []
    steps = json.loads(Path(built.dataset / "attrition.json").read_text(encoding="utf-8"))
    system, truth = _attrition_system(steps)
    by_construction = {f"d{i}" for i, s in enumerate(steps) if s["step"] == "first_occurrence"}
    assert exposed(system, truth, structural=by_construction) == []
    summary = dict(built.report.summary)
    assert summary["Persons in this dataset"] == table.sizes[0]
    assert summary["Outcome events in all follow-up (up to 730 days)"] == table.sizes[1]


# --- calibration groups -----------------------------------------------------------------------


def _calibration_check(sizes: list[int]) -> tuple[list[str], list[str]]:
    groups = [CalibrationGroup(k, n, None, None, None, None) for k, n in enumerate(sizes)]
    shown, total = calibration_group_sizes(groups, sum(sizes))
    system = System()
    system.read("total", total)  # "Metrics ...: N persons" above the table
    for k, text in enumerate(shown):
        system.read(f"g{k}", text)
    system.sum_of("total", [f"g{k}" for k in range(len(sizes))])
    truth = {f"g{k}": n for k, n in enumerate(sizes)} | {"total": sum(sizes)}
    return shown, exposed(system, truth)


def test_calibration_group_of_three_hides_another_group() -> None:
    shown, weak = _calibration_check([3, 20, 21, 22])
    assert (shown, weak) == (["<5", "hidden", "21", "22"], [])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 30), min_size=2, max_size=10))
def test_calibration_groups_of_random_sizes_are_protected(sizes: list[int]) -> None:
    assert _calibration_check(sizes)[1] == []


def test_solver_reads_a_percentage_beside_a_hidden_total() -> None:
    # "6 (85.7%)" of a hidden group: 6 / n rounds to 85.7% only for n = 7
    system = System()
    system.read("n", "hidden")
    system.read("yes", "6 (85.7%)", of="n")
    assert system.range_of("n") == (7, 7)
