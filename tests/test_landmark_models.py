"""Models on stacked landmark rows (issue 14): validation keeps each person's rows together, and
the metrics are reported overall and at each landmark.

cohorts/synth_af_dynamic.yaml on a 3,000-person synthetic CDM: up to 8 landmark rows per person.
The per-landmark figures are recomputed here from the saved out-of-fold predictions with
scikit-survival (Harrell's C of each landmark's rows), not with the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored

from prognosis import workflow
from prognosis.dataset import load_dataset
from prognosis.evaluation.subgroups import LANDMARK_VARIABLE
from prognosis.models.store import load_model

DEFINITION = Path(__file__).resolve().parent.parent / "cohorts" / "synth_af_dynamic.yaml"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory, synth_af_dynamic: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("landmark_models")
    dataset = synth_af_dynamic
    options = workflow.FitOptions(
        "xgb-cox", (365.0,), split="cv:3", n_boot=10, censor_competing=True
    )
    workflow.fit(dataset, options, root / "model")
    return dataset, root / "model"


def test_every_persons_landmark_rows_sit_in_one_fold(fitted) -> None:
    dataset, model = fitted
    frame = load_dataset(dataset).frame
    validation = load_model(model).validation
    assert validation is not None
    folds = np.empty(len(frame), dtype=np.int64)
    folds[validation.row] = validation.fold
    persons = frame["person_id"].to_numpy()
    per_person = {p: set(folds[persons == p]) for p in np.unique(persons)}
    assert all(len(found) == 1 for found in per_person.values())
    assert frame.groupby("person_id").size().max() > 1  # people do have several rows


def test_metrics_are_reported_at_each_landmark(fitted) -> None:
    dataset, model = fitted
    frame = load_dataset(dataset).frame
    saved = load_model(model)
    results = saved.metrics.results
    assert results is not None and results.subgroups is not None
    by_landmark = [s for s in results.subgroups if s.variable == LANDMARK_VARIABLE]
    assert [s.group for s in by_landmark] == [f"day {d}" for d in range(0, 1261, 180)]
    validation = saved.validation
    assert validation is not None
    score = np.empty(len(frame))
    score[validation.row] = validation.risk_score
    landmark, event = frame["landmark"].to_numpy(), frame["event"].to_numpy()
    time = frame["time"].to_numpy().astype(float)
    measured = [s for s in by_landmark if s.harrell_c is not None]
    assert len(measured) >= 4
    for group in measured:
        rows = landmark == int(group.group.removeprefix("day "))
        expected = concordance_index_censored(event[rows] == 1, time[rows], score[rows])[0]
        assert group.harrell_c.estimate == pytest.approx(expected, abs=1e-6), group.group
        assert group.horizons and group.horizons[0].time_dependent_auc.estimate is not None
