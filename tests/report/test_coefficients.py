"""The model report's hazard-ratio table, on models fitted to planted hazards."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prognosis.models.registry import estimator_class
from prognosis.report.coefficients import coefficient_table
from tests.report.conftest import Built
from tests.support.planted import Cause, planted_survival

LABELS = {"a": "Planted risk factor", "b": "Planted protective factor"}


def _data(competing: bool = False):
    return planted_survival(
        600,
        seed=11,
        features={"a": "normal", "b": "normal", "noise": "normal"},
        beta={"a": 0.7, "b": -0.5},
        base_hazard=0.01,
        competing=Cause(0.005) if competing else None,
        censor_between=(20.0, 300.0),
    )


def test_cox_rows_are_its_hazard_ratios_with_intervals_and_the_ph_test() -> None:
    data = _data()
    model = estimator_class("cox")().fit(data.X, data.y)
    table = coefficient_table(model, LABELS)
    assert table is not None and table.intervals and table.proportional_hazards
    rows = {row.covariate: row for row in table.rows}
    assert rows["a"].label == "Planted risk factor" and rows["noise"].label == "noise"
    # the planted log hazard ratios lie inside the intervals shown
    assert rows["a"].lower < np.exp(0.7) < rows["a"].upper
    assert rows["b"].lower < np.exp(-0.5) < rows["b"].upper
    summary = model.summary_table()
    assert rows["a"].hazard_ratio == summary.loc["a", "hazard_ratio"]
    assert rows["a"].proportional_hazards_p == model.proportional_hazards_test_.loc["a", "p"]


def test_coxnet_lists_only_the_inputs_it_kept() -> None:
    data = _data()
    model = estimator_class("coxnet")(l1_ratio=1.0, n_alphas=20, cv=3).fit(data.X, data.y)
    coef = pd.Series(model.linear_coefficients(), index=["a", "b", "noise"])
    table = coefficient_table(model, LABELS)
    assert table is not None and not table.intervals and not table.proportional_hazards
    assert [row.covariate for row in table.rows] == list(coef.index[coef != 0])
    assert table.dropped == int((coef == 0).sum())


def test_cause_specific_rows_are_grouped_by_cause() -> None:
    data = _data(competing=True)
    model = estimator_class("cause-specific-cox")().fit(data.X, data.y)
    table = coefficient_table(model, LABELS)
    assert table is not None and table.grouped
    assert {row.group for row in table.rows} == {"1", "2"}


def test_families_without_hazard_ratios_have_no_table() -> None:
    data = _data()
    forest = estimator_class("rsf")(n_estimators=5, n_jobs=1).fit(data.X, data.y)
    assert coefficient_table(forest, LABELS) is None


def test_the_report_shows_the_table(built: Built) -> None:
    page = built.model_report.read_text(encoding="utf-8")
    assert '<section id="coefficients">' in page and "Proportional hazards p" in page
    section = page.split('<section id="coefficients">')[1].split("</section>")[0]
    assert "0.000<" not in section  # tiny p values read "<0.001"
    assert built.report.coefficients is not None
