"""Subgroup performance: each group's metrics recomputed from the predictions by lifelines and
scikit-survival on the group's rows, small groups suppressed, their counts protected.

The data are planted (tests/support/planted.py): continuous times, so there are no ties, and
scikit-survival's cumulative/dynamic AUC (weights G(T)) equals ours (G(T-)) exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifelines import AalenJohansenFitter, KaplanMeierFitter
from lifelines.utils import concordance_index
from rich.console import Console
from sksurv.metrics import cumulative_dynamic_auc
from sksurv.util import Surv

from prognosis.artifacts import Concept, Feature, Metrics, Subgroup, from_json, to_json
from prognosis.evaluation.subgroups import (
    check_subgroup_columns,
    grouping_frame,
    subgroup_metrics,
)
from prognosis.evaluation.summary import evaluate_predictions, format_subgroups
from prognosis.exceptions import SubgroupError
from tests.report.linear_audit import System, exposed
from tests.support.planted import Cause, planted_survival

HORIZONS = [2.0, 5.0]
FEATURES = (
    Feature("age", kind="demographics", statistic="age"),
    Feature("sex_male", kind="demographics", statistic="sex"),
    *(
        Feature(f"index_{k}", kind="index_concept", statistic="presence", concepts=(concept,))
        for k, concept in ((1, Concept(1, "aspirin")), (2, Concept(2, "ibuprofen")))
    ),
    Feature("ulcer", kind="concept_set", statistic="presence", label="Peptic ulcer before index"),
    Feature("ulcer_count", kind="concept_set", statistic="count"),
)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = rng.random(n) < 0.6
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "age": rng.integers(30, 95, size=n),
            "sex_male": (rng.random(n) < 0.5).astype(int),
            "index_1": index.astype(int),
            "index_2": (~index).astype(int),
            "ulcer": (rng.random(n) < 0.3).astype(int),
            "ulcer_count": rng.poisson(1.0, size=n),
        }
    )


@pytest.fixture(scope="module")
def planted():
    X = _frame(1200, seed=3)
    data = planted_survival(1200, seed=4, X=X, beta={"x": 0.8, "ulcer": 0.5})
    return X, data


@pytest.fixture(scope="module")
def results(planted) -> Metrics:
    X, data = planted
    grouping = grouping_frame(X, FEATURES, ["ulcer"])
    return evaluate_predictions(
        data.y, data.y, data.log_hazard, data.survival, HORIZONS, n_boot=20, subgroups=grouping
    )


def _rows(X: pd.DataFrame, entry: Subgroup) -> np.ndarray:
    labels = grouping_frame(X, FEATURES, ["ulcer"])[entry.variable].to_numpy()
    return labels == entry.group


def test_the_groups_are_sex_age_bands_index_concept_and_the_named_column(
    results: Metrics,
) -> None:
    found = [(s.variable, s.group) for s in results.subgroups]
    assert found == [
        ("Sex", "female"),
        ("Sex", "male"),
        ("Age (years)", "<50"),
        ("Age (years)", "50-64"),
        ("Age (years)", "65-79"),
        ("Age (years)", "80+"),
        ("Index concept", "aspirin"),
        ("Index concept", "ibuprofen"),
        ("Peptic ulcer before index", "no"),
        ("Peptic ulcer before index", "yes"),
    ]


def test_each_groups_c_and_auc_equal_lifelines_and_sksurv_on_its_rows(
    planted, results: Metrics
) -> None:
    X, data = planted
    for entry in results.subgroups:
        rows = _rows(X, entry)
        event, time = data.event[rows] == 1, data.time[rows]
        assert entry.n == rows.sum() and entry.events == event.sum()
        assert entry.events_at_horizon == np.sum(event & (time <= HORIZONS[0]))
        c = concordance_index(time, -data.log_hazard[rows], event)
        assert entry.harrell_c.estimate == pytest.approx(c, abs=1e-12)
        assert entry.harrell_c.lower <= c <= entry.harrell_c.upper
        y = Surv.from_arrays(event, time)
        for horizon, at in zip(HORIZONS, entry.horizons, strict=True):
            risk = data.risk(horizon)[rows]
            auc, _ = cumulative_dynamic_auc(y, y, risk, [horizon])
            assert at.horizon == horizon
            assert at.time_dependent_auc.estimate == pytest.approx(auc[0], abs=1e-12)


def test_calibration_in_the_large_is_the_mean_risk_against_kaplan_meier(
    planted, results: Metrics
) -> None:
    X, data = planted
    for entry in results.subgroups:
        rows = _rows(X, entry)
        km = KaplanMeierFitter().fit(data.time[rows], data.event[rows] == 1)
        for horizon, at in zip(HORIZONS, entry.horizons, strict=True):
            observed = 1.0 - float(km.survival_function_at_times(horizon).iloc[0])
            predicted = float(np.mean(data.risk(horizon)[rows]))
            assert at.observed.estimate == pytest.approx(observed, abs=1e-12)
            assert at.mean_predicted.estimate == pytest.approx(predicted, abs=1e-12)
            assert at.difference.estimate == pytest.approx(predicted - observed, abs=1e-12)
            for interval in (at.observed, at.mean_predicted, at.difference):
                assert interval.lower <= interval.estimate <= interval.upper


def test_the_overall_metrics_do_not_move(planted, results: Metrics) -> None:
    _, data = planted
    alone = evaluate_predictions(
        data.y, data.y, data.log_hazard, data.survival, HORIZONS, n_boot=20
    )
    assert alone.subgroups is None
    assert results.harrell_c == alone.harrell_c and results.horizons == alone.horizons


def test_subgroups_survive_metrics_json(results: Metrics) -> None:
    text = json.dumps(to_json(results), allow_nan=False)
    assert from_json(Metrics, json.loads(text)) == results


def test_competing_risks_observed_risk_is_aalen_johansen_in_the_group() -> None:
    X = _frame(800, seed=5)
    data = planted_survival(
        800, seed=6, X=X, beta={"x": 1.0}, base_hazard=0.06, competing=Cause(0.05)
    )
    grouping = grouping_frame(X, FEATURES)
    results = evaluate_predictions(
        data.y, data.y, data.log_hazard, data.survival, [3.0], competing=True, n_boot=5,
        subgroups=grouping,
    )  # fmt: skip
    entry = next(s for s in results.subgroups if s.group == "male")
    rows = X["sex_male"].to_numpy() == 1
    fitter = AalenJohansenFitter(calculate_variance=False).fit(
        data.time[rows], data.event[rows], event_of_interest=1
    )
    expected = float(fitter.cumulative_density_.loc[:3.0].iloc[-1, 0])
    assert entry.horizons[0].observed.estimate == pytest.approx(expected, abs=1e-12)


# -- suppression -----------------------------------------------------------------------------
def _with_site(events_in_b: int, *, all_events: bool = False) -> Metrics:
    """Planted data with a column ``site``: A (most rows), B (40 rows) and C; B holds exactly
    ``events_in_b`` outcome events by the first horizon (or, ``all_events``, only 3 rows
    without one)."""
    X = _frame(900, seed=7)
    data = planted_survival(900, seed=8, X=X, beta={"x": 0.8})
    event, time = data.event.copy(), data.time.copy()
    b = np.arange(40)
    event[b], time[b] = 0, 10.0
    if all_events:
        event[b[3:]], time[b[3:]] = 1, 1.0
    else:
        event[b[:events_in_b]], time[b[:events_in_b]] = 1, 1.0
    site = np.where(np.arange(900) < 40, "B", np.where(np.arange(900) % 2 == 0, "A", "C"))
    X = X.assign(site=site)
    y = Surv.from_arrays(event == 1, time)
    survival = data.survival
    return evaluate_predictions(
        y, y, data.log_hazard, survival, HORIZONS, n_boot=5,
        subgroups=grouping_frame(X, FEATURES, ["site"]),
    )  # fmt: skip


def _site(results: Metrics) -> dict[str, Subgroup]:
    return {s.group: s for s in results.subgroups if s.variable == "site"}


def test_a_group_with_fewer_than_5_events_is_suppressed_and_its_count_not_derivable() -> None:
    groups = _site(_with_site(3))
    b = groups["B"]
    assert b.suppressed == "fewer than 5 events"
    assert b.harrell_c is None and b.horizons == ()
    assert b.events_at_horizon is None and "events_at_horizon" in b.small
    # the overall count minus the other groups would give it: a second group's is hidden
    hidden = [g for g in ("A", "C") if groups[g].events_at_horizon is None]
    assert hidden and all("events_at_horizon" not in groups[g].small for g in hidden)
    assert groups["A"].harrell_c is not None and groups["C"].harrell_c is not None


def test_a_group_with_5_events_is_measured() -> None:
    b = _site(_with_site(5))["B"]
    assert b.suppressed is None and b.events_at_horizon == 5 and b.small == ()
    assert b.harrell_c.estimate is not None


def test_a_group_with_fewer_than_5_rows_without_the_event_is_suppressed() -> None:
    groups = _site(_with_site(0, all_events=True))
    b = groups["B"]
    assert b.suppressed == "fewer than 5 rows without the event"
    # its rows minus its events (3) must not be readable: one of the two is withheld
    assert b.n is None or b.events is None


def test_the_terminal_table_shows_suppressed_groups_and_small_counts() -> None:
    console = Console(width=160, record=True)
    console.print(format_subgroups(_with_site(3), title="Validation"))
    text = console.export_text()
    row = next(line for line in text.splitlines() if "  B " in line)
    assert "fewer than 5 events" in row and "<5" in row
    assert "hidden" in text and "Harrell's C" in text


def test_the_terminal_tables_fit_80_columns_uncut() -> None:
    console = Console(width=80, record=True)
    console.print(format_subgroups(_with_site(3), title="Validation"))
    text = console.export_text()
    assert "\u2026" not in text  # nothing cut to an ellipsis
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "discrimination by subgroup" in text and "calibration in the large" in text


# -- the groups ------------------------------------------------------------------------------
def test_age_bands_sex_and_index_concept_labels() -> None:
    frame = pd.DataFrame(
        {
            "age": [49, 50, 64, 65, 79, 80, np.nan],
            "sex_male": [1, 0, np.nan, 1, 0, 1, 0],
            "index_1": [1, 0, 1, 0, 0, 1, 1],
            "index_2": [0, 1, 1, 0, 1, 0, 0],
            "ulcer": [0, 1, 0, 1, 0, 1, 0],
            "ulcer_count": [0, 1, 2, 3, 4, 5, 6],
        }
    )
    grouping = grouping_frame(frame, FEATURES)
    assert grouping["Age (years)"].tolist() == [
        "<50", "50-64", "50-64", "65-79", "65-79", "80+", "missing",
    ]  # fmt: skip
    sexes = ["male", "female", "missing", "male", "female", "male", "female"]
    assert grouping["Sex"].tolist() == sexes
    assert grouping["Index concept"].tolist()[:4] == [
        "aspirin", "ibuprofen", "several", "none of the listed",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("nope", r"--subgroup 'nope': no such column in the dataset"),
        ("age", r"--subgroup 'age': is continuous \(statistic 'age'.*age bands are always"),
        ("ulcer_count", r"--subgroup 'ulcer_count': is continuous \(statistic 'count'"),
        ("x", r"--subgroup 'x': is continuous \(float64 values other than 0 and 1\)"),
        ("time", r"--subgroup 'time': is part of the outcome"),
    ],
)
def test_an_unknown_or_continuous_column_is_refused_naming_it(column: str, message: str) -> None:
    frame = _frame(50, seed=0).assign(time=1.0, event=0)
    with pytest.raises(SubgroupError, match=message):
        check_subgroup_columns(frame, FEATURES, [column])


def test_a_column_with_too_many_values_is_refused() -> None:
    frame = pd.DataFrame({"site": [f"s{k}" for k in range(30)]})
    with pytest.raises(SubgroupError, match=r"'site': has 30 distinct values; at most 20"):
        check_subgroup_columns(frame, (), ["site"])


# -- the counts, as an attacker reads them (tests/report/linear_audit.py) ---------------------
def _audit(sizes: list[tuple[int, int]]) -> list[str]:
    """Groups of ``(rows, outcome events)`` (events at day 1, the others censored at day 10;
    horizon 2): the counts ``subgroup_metrics`` publishes, solved for the small ones."""
    site = np.repeat([f"s{k}" for k in range(len(sizes))], [n for n, _ in sizes])
    event = np.concatenate([np.arange(n) < e for n, e in sizes])
    y = Surv.from_arrays(event, np.where(event, 1.0, 10.0))
    risk = np.random.default_rng(0).random(event.size)
    entries, _ = subgroup_metrics(
        y, risk, 1.0 - risk[:, None], [2.0], pd.DataFrame({"site": site}), n_boot=0
    )
    system, truth = System(), {}
    for name, total in (("n", event.size), ("events", event.sum()), ("at", event.sum())):
        system.read(name, f"{total}")
    for k, (entry, (n, e)) in enumerate(zip(entries, sizes, strict=True)):
        for cell, field in (("n", "n"), ("events", "events"), ("at", "events_at_horizon")):
            value = entry[field]
            text = (
                f"{value}" if value is not None else "<5" if field in entry["small"] else "hidden"
            )
            system.read(f"{cell}{k}", text)
        system.sum_of(f"n{k}", [f"events{k}", f"without{k}"])
        system.not_less(f"events{k}", f"at{k}")
        truth |= {f"n{k}": n, f"events{k}": e, f"at{k}": e, f"without{k}": n - e}
    for cell in ("n", "events", "at"):
        system.sum_of(cell, [f"{cell}{k}" for k in range(len(sizes))])
    return exposed(system, truth)


def test_one_group_of_3_events_beside_two_larger_is_not_solvable() -> None:
    assert _audit([(40, 3), (200, 30), (220, 35)]) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(1, 30), st.integers(0, 30)).map(lambda t: (t[0], min(t))),
        min_size=2,
        max_size=5,
    ).filter(lambda groups: min(sum(e for _, e in groups), sum(n - e for n, e in groups)) >= 5)
)
def test_no_small_count_of_random_groups_can_be_worked_out(sizes: list[tuple[int, int]]) -> None:
    # the totals (5 or more events and rows without one, as the overall metrics show) are
    # published; every group's counts beside them are solved for
    assert _audit(sizes) == []


def test_treatment_days_and_trends_are_continuous_and_a_treatment_status_is_yes_no() -> None:
    """days on treatment and trends are refused as subgroups, though a column of whole days
    that happens to be 0/1 only would pass as categorical; a status reads yes/no."""
    features = (
        Feature("on_ac", kind="treatment", statistic="status", label="On an anticoagulant"),
        Feature("on_ac_days", kind="treatment", statistic="days"),
        Feature("egfr_trend", kind="concept_set", statistic="trend"),
    )
    frame = pd.DataFrame({"on_ac": [1, 0, 1], "on_ac_days": [1, 0, 1], "egfr_trend": [1.0, 0, 1]})
    for column, statistic in (("on_ac_days", "days"), ("egfr_trend", "trend")):
        with pytest.raises(
            SubgroupError, match=rf"'{column}': is continuous \(statistic '{statistic}'"
        ):
            check_subgroup_columns(frame, features, [column])
    check_subgroup_columns(frame, features, ["on_ac"])
    grouping = grouping_frame(frame, features, ["on_ac"])
    assert grouping["On an anticoagulant"].tolist() == ["yes", "no", "yes"]
