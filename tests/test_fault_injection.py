"""Fault injection: ``kill -9`` of ``cohort build``, ``fit`` and ``report patients`` at random
moments and inside the final renames. After each kill the previous output is intact or the new one
complete (nothing partial is visible at the output path), and the next run succeeds and removes
what the killed runs left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from prognosis.models.store import load_model
from prognosis.outputs import sha256_file

pytestmark = pytest.mark.slow

DEFINITION = Path(__file__).resolve().parents[1] / "cohorts" / "gi_bleed_nsaid.yaml"

# Runs the CLI with os.replace wrapped so that the process kills itself at one point of the final
# renames: "before-renames" (the new output complete beside the old, nothing renamed yet),
# "after-aside" (the previous output moved aside, the new one not yet in place), "after-swap" (the
# new one in place, the previous one not yet removed).
_RUNNER = textwrap.dedent(
    """
    import os, signal, sys
    point, args = sys.argv[1], sys.argv[2:]
    real = os.replace

    def replace(src, dst):
        src, dst = str(src), str(dst)
        final = os.path.isdir(src)  # the output folder's renames (its JSON files, written
        swap = final and ".tmp-" in os.path.basename(src)  # atomically, are renamed before)
        if point == "before-renames" and final:
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst)
        if (point == "after-aside" and ".old-" in dst) or (point == "after-swap" and swap):
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    from prognosis.cli import main
    main(args)
    """
)
RENAME_POINTS = ("before-renames", "after-aside", "after-swap")
RANDOM_KILLS = 2


def _start(point: str, args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _RUNNER, point, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _run(args: list[str]) -> float:
    started = time.perf_counter()
    process = _start("none", args)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    return time.perf_counter() - started


def _dataset_complete(out: Path) -> str:
    manifest = json.loads((out / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert sha256_file(out / name) == digest, name
    return manifest["files"]["dataset.parquet"]


def _model_complete(out: Path) -> str:
    load_model(out)  # verifies every file against the manifest
    return (out / "manifest.json").read_text()


def _reports_complete(out: Path) -> str:
    assert json.loads((out / "prognosis-output.json").read_text()) == {"kind": "patient_reports"}
    pages = sorted(p.name for p in out.glob("P-*.html"))
    assert len(pages) == 3 and (out / "index.html").is_file()
    numbers = json.loads((out / "report.json").read_text(encoding="utf-8"))  # complete JSON
    assert len(numbers["report"]["patients"]) == 3
    return " ".join(pages)


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*"))


def _kill_everywhere(
    args: list[str], out: Path, complete: Callable[[Path], str], seed: int
) -> None:
    duration = _run(args)  # the previous output
    previous = complete(out)
    rng = np.random.default_rng(seed)
    delays = [float(d) for d in rng.uniform(0.3, 1.0, RANDOM_KILLS) * duration]
    for point in (*RENAME_POINTS, *delays):
        process = _start(point if isinstance(point, str) else "none", args)
        if isinstance(point, float):
            time.sleep(point)
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=300)
        assert process.returncode in (-signal.SIGKILL, 0), point
        # The output path shows the previous output or a complete new one, never a partial one;
        # only between the two renames is it absent (the next run puts the previous one back).
        if out.exists():
            assert complete(out) in (previous, complete(out))  # raises on a partial output
        else:
            assert point == "after-aside" and any(".old-" in name for name in _leftovers(out))
    _run(args)
    complete(out)
    assert _leftovers(out) == []


def test_cohort_build_survives_kill_9(tmp_path: Path) -> None:
    out = tmp_path / "gi"
    args = ["cohort", "build", str(DEFINITION), "--out", str(out), "--overwrite", "--quiet"]
    _kill_everywhere(args, out, _dataset_complete, seed=0)


def test_fit_survives_kill_9(gi_bleed: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    args = [
        "fit", str(gi_bleed), "--model", "cox", "--horizon", "365", "--split", "none",
        "--n-boot", "0", "--out", str(out), "--overwrite", "--quiet",
    ]  # fmt: skip
    _kill_everywhere(args, out, _model_complete, seed=1)


def test_report_patients_survives_kill_9(gi_bleed: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    _run(["fit", str(gi_bleed), "--model", "cox", "--horizon", "365", "--split", "none",
          "--n-boot", "0", "--out", str(model), "--quiet"])  # fmt: skip
    out = tmp_path / "patients"
    args = [
        "report", "patients", str(model), str(gi_bleed), "--out", str(out), "--sample", "3",
        "--mapping-dir", str(tmp_path / "private"), "--overwrite",
    ]  # fmt: skip
    _kill_everywhere(args, out, _reports_complete, seed=2)
