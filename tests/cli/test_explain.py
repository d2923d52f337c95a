"""``prognosis explain``: SHAP values of every dataset row, which add up to the model's output."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from prognosis.cli import main
from prognosis.dataset import load_dataset
from prognosis.models.store import load_model
from prognosis.scoring import background_rows
from prognosis.training import check_schema


def _run(*args: object) -> str:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("model", ["cox", "xgb-cox"])
def test_explain_values_add_up_to_each_rows_log_hazard(
    gi_bleed: Path, tmp_path: Path, model: str
) -> None:
    folder, shap = tmp_path / model, tmp_path / "shap.parquet"
    _run("fit", gi_bleed, "--model", model, "--horizon", 365, "--split", "none", "--out", folder)
    assert "SHAP values of 2630 rows" in _run("explain", folder, gi_bleed, "--out", shap)
    dataset, saved = load_dataset(gi_bleed), load_model(folder)
    explained = pd.read_parquet(shap)
    names = [f"shap_{name}" for name in saved.feature_names]
    assert list(explained.columns) == ["person_id", "index_date", "base_value", *names]
    assert explained["person_id"].tolist() == dataset.frame["person_id"].tolist()
    total = explained["base_value"] + explained[names].sum(axis=1)
    log_hazard = saved.pipeline.predict(check_schema(saved, dataset.frame, origin="test"))
    # xgboost computes margins and TreeSHAP in float32: agreement to about 1e-6
    np.testing.assert_allclose(total, log_hazard, rtol=0, atol=1e-5)


def test_background_rows_are_the_smallest_hashes_of_seed_person_and_date() -> None:
    frame = pd.DataFrame(
        {
            "person_id": [1, 2, 3, 4],
            "index_date": pd.to_datetime(["2010-01-01", "2011-02-03", "2012-03-04", "2013-04-05"]),
            "x": [10, 20, 30, 40],
        }
    )
    digest = {
        row.person_id: hashlib.sha256(
            f"7:{row.person_id}:{row.index_date:%Y-%m-%d}".encode()
        ).hexdigest()
        for row in frame.itertuples()
    }
    expected = sorted(digest, key=digest.get)[:2]
    assert background_rows(frame, 2, seed=7)["person_id"].tolist() == expected
