"""The verdict and the progress lines on the terminal and in the reports, through CliRunner.

Two planted cohorts (``tests/support/planted.py``): one whose outcome depends on no feature
(every planted log hazard ratio 0: any model of it is no better than chance, whatever its
figures say) and one with a strong planted effect (log hazard ratio 1.5 per SD). Each is fitted
with ``prognosis fit --split cv:3``; the no-signal model must warn on the terminal after
``fit``, ``evaluate``, ``report model`` and ``report patients``, at the top of the model report
and of every patient page and the index, while ``report patients`` still writes the pages; the
strong one must not warn.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from rich.console import Console
from sksurv.metrics import concordance_index_censored

import prognosis.cli
from prognosis.cli import _Steps, main
from prognosis.models.store import load_model
from tests.support.planted_dataset import write_planted_dataset

CHANCE_WARNING = "WARNING: discrimination is no better than chance (Harrell's C"
ALERT = re.compile(r'<p class="verdict-warning" role="alert">(.*?)</p>', re.S)


def _run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


@dataclasses.dataclass(frozen=True)
class Fitted:
    dataset: Path
    model: Path
    result: Result


def _fit(root: Path, beta: float, seed: int, *extra: str) -> Fitted:
    dataset = write_planted_dataset(root / "dataset", beta=beta, seed=seed)
    model = root / "model"
    result = _run(
        "fit", dataset, "--model", "cox", "--horizon", "365", "--split", "cv:3",
        "--n-boot", "30", "--out", model, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return Fitted(dataset, model, result)


@pytest.fixture(scope="module")
def no_signal(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    return _fit(tmp_path_factory.mktemp("no_signal"), 0.0, seed=3)


@pytest.fixture(scope="module")
def strong(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    return _fit(tmp_path_factory.mktemp("strong"), 1.5, seed=4)


def _alerts(html: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", text)) for text in ALERT.findall(html)]


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- the planted truth, independently of prognosis -----------------------------------------------
def test_the_no_signal_models_c_is_what_its_scores_give_and_near_chance(no_signal: Fitted) -> None:
    metrics = json.loads((no_signal.model / "metrics.json").read_text(encoding="utf-8"))
    c = metrics["harrell_c"]
    assert c["lower"] <= 0.5 <= c["upper"] or c["estimate"] < 0.5
    # the saved (refit) model's in-sample C: what a clean-looking apparent figure would be
    frame = pd.read_parquet(no_signal.dataset / "dataset.parquet")
    risk = load_model(no_signal.model).pipeline.predict(frame[["x", "noise"]])
    apparent = concordance_index_censored(frame["event"] == 1, frame["time"], risk)[0]
    assert apparent > c["estimate"]  # the refit model flatters itself on its own rows


# -- the terminal -----------------------------------------------------------------------------
def test_fit_of_a_model_without_signal_warns_on_stderr(no_signal: Fitted) -> None:
    metrics = json.loads((no_signal.model / "metrics.json").read_text(encoding="utf-8"))
    c = metrics["harrell_c"]
    expected = (
        f"{CHANCE_WARNING} {c['estimate']:.2f}, 95 % CI {c['lower']:.2f} to {c['upper']:.2f}): "
        "do not use these risks for decisions"
    )
    assert expected in _one_line(no_signal.result.stderr)
    assert "WARNING" not in no_signal.result.stdout
    assert "Traceback" not in no_signal.result.output


def test_fit_of_a_model_with_a_strong_signal_does_not_warn(strong: Fitted) -> None:
    metrics = json.loads((strong.model / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["harrell_c"]["lower"] > 0.6
    assert "WARNING" not in strong.result.output


def test_each_step_is_printed_as_it_starts_then_with_its_duration(no_signal: Fitted) -> None:
    lines = no_signal.result.stderr.splitlines()
    started = lines.index("  … fit fold 1 of 3")
    assert lines[started + 1].startswith("  ✓ fit fold 1 of 3 ")
    assert lines.index("  … compute metrics") < lines.index("  … fit the final model on all rows")


def test_quiet_prints_no_progress_but_still_the_warning(tmp_path: Path) -> None:
    fitted = _fit(tmp_path, 0.0, 3, "--quiet")
    stderr = fitted.result.stderr
    assert "…" not in stderr and "✓" not in stderr
    assert _one_line(stderr).startswith(CHANCE_WARNING)


def test_evaluate_warns_and_says_its_figures_are_apparent(no_signal: Fitted, tmp_path) -> None:
    out = tmp_path / "metrics.json"
    result = _run("evaluate", no_signal.model, no_signal.dataset, "--out", out, "--n-boot", "5")
    assert result.exit_code == 0, result.output
    stderr = _one_line(result.stderr)
    assert "WARNING: not validated: these figures are apparent" in stderr
    assert "  … evaluate (5 bootstrap resamples)" in result.stderr
    quiet = _run(
        "evaluate", no_signal.model, no_signal.dataset, "--out", out, "--n-boot", "5",
        "--overwrite", "--quiet",
    )  # fmt: skip
    assert quiet.exit_code == 0, quiet.output
    assert "…" not in quiet.stderr and "WARNING: not validated" in _one_line(quiet.stderr)


# -- the reports ------------------------------------------------------------------------------
def test_the_model_report_opens_with_the_warning(no_signal: Fitted, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = _run("report", "model", no_signal.model, no_signal.dataset, "--out", out)
    assert result.exit_code == 0, result.output
    assert CHANCE_WARNING in _one_line(result.stderr)
    assert "  … explain the model (SHAP values of the cohort)" in result.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    alerts = _alerts(html)
    # chance first; a model of noise is badly calibrated too (its slope far from 1)
    assert alerts[0].startswith("Warning: discrimination is no better than chance (Harrell's C")
    assert all("not validated" not in alert for alert in alerts)  # its figures are out-of-fold
    assert html.index('role="alert"') < html.index('id="summary"')  # above the Summary
    assert "Discrimination (validated, out-of-sample)" in html


def test_every_patient_page_and_the_index_show_the_warning(no_signal: Fitted, tmp_path) -> None:
    out = tmp_path / "patients"
    result = _run(
        "report", "patients", no_signal.model, no_signal.dataset, "--out", out,
        "--sample", "6", "--mapping-dir", tmp_path / "private",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert CHANCE_WARNING in _one_line(result.stderr)
    assert "  … write 6 patient pages" in result.stderr
    pages = sorted(out.glob("*.html"))
    assert len(pages) == 7  # six patients and the index: the pages are still written
    for page in pages:
        alerts = _alerts(page.read_text(encoding="utf-8"))
        assert alerts and "no better than chance" in alerts[0], page.name


def test_the_strong_models_reports_carry_no_warning(strong: Fitted, tmp_path: Path) -> None:
    result = _run("report", "model", strong.model, strong.dataset, "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert _alerts(html) == [] and "None of the warning rules applies" in html
    assert "WARNING" not in result.output
    result = _run(
        "report", "patients", strong.model, strong.dataset, "--out", tmp_path / "p",
        "--sample", "2", "--mapping-dir", tmp_path / "private", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "…" not in result.stderr and "WARNING" not in result.output
    for page in (tmp_path / "p").glob("*.html"):
        assert _alerts(page.read_text(encoding="utf-8")) == []


def test_apparent_metrics_given_to_the_report_are_labelled_and_warned(
    strong: Fitted, tmp_path: Path
) -> None:
    metrics = tmp_path / "apparent.json"
    result = _run("evaluate", strong.model, strong.dataset, "--out", metrics, "--n-boot", "5")
    assert result.exit_code == 0, result.output
    out = tmp_path / "report"
    result = _run(
        "report", "model", strong.model, strong.dataset, "--out", out, "--metrics", metrics
    )
    assert result.exit_code == 0, result.output
    assert "WARNING: not validated: these figures are apparent" in _one_line(result.stderr)
    html = (out / "index.html").read_text(encoding="utf-8")
    (alert,) = _alerts(html)
    assert alert.startswith("Warning: not validated: these figures are apparent")
    assert "Discrimination (apparent, in-sample)" in html


def test_a_good_model_on_a_dataset_without_signal_warns_with_its_c_there(
    strong: Fitted, no_signal: Fitted, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = _run(
        "report", "model", strong.model, no_signal.dataset, "--out", out, "--n-boot", "20"
    )
    assert result.exit_code == 0, result.output
    assert "  … evaluate the model on this dataset (20 bootstrap resamples)" in result.stderr
    # the strong model's C on the other rows, computed here from its scores
    frame = pd.read_parquet(no_signal.dataset / "dataset.parquet")
    risk = load_model(strong.model).pipeline.predict(frame[["x", "noise"]])
    c = concordance_index_censored(frame["event"] == 1, frame["time"], risk)[0]
    html = (out / "index.html").read_text(encoding="utf-8")
    alerts = _alerts(html)
    assert alerts[0].startswith(
        f"Warning: discrimination is no better than chance (Harrell's C {c:.2f}, 95 % CI"
    )
    assert "validated on this dataset (dataset), not the rows the model was fitted on" in html
    assert f"{CHANCE_WARNING} {c:.2f}" in _one_line(result.stderr)


# -- the progress bar ---------------------------------------------------------------------------
def test_a_long_step_draws_a_bar_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    terminal = Console(file=stream, force_terminal=True, width=100)
    monkeypatch.setattr(prognosis.cli, "console", terminal)
    steps = _Steps(quiet=False)
    steps("evaluate (4 bootstrap resamples)")
    for done in range(1, 5):
        steps.count(done, 4)
    steps.close()
    drawn = stream.getvalue()
    assert "4/4" in drawn and "eta" in drawn
    for quiet, forced in ((True, True), (False, False)):
        stream = io.StringIO()
        console = Console(file=stream, force_terminal=forced, width=100)
        monkeypatch.setattr(prognosis.cli, "console", console)
        steps = _Steps(quiet=quiet)
        steps("evaluate")
        steps.count(1, 4)
        steps.close()
        assert "1/4" not in stream.getvalue()
        assert ("evaluate" in stream.getvalue()) is not quiet
