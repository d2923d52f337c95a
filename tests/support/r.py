"""Run R scripts for reference values: the real ``Rscript`` with Debian's ``r-cran-*`` packages.

Tests marked ``r`` use the ``rscript`` fixture (tests/conftest.py); without R they are skipped,
unless ``PROGNOSIS_REQUIRE_R=1`` (as in CI), when they fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd

__all__ = ["find_rscript", "run_r"]

PACKAGES = ("survival", "riskRegression", "prodlim", "cmprsk")


def find_rscript() -> str | None:
    """Path of ``Rscript`` when it and every package in :data:`PACKAGES` are installed."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    check = "; ".join(f"suppressMessages(library({name}))" for name in PACKAGES)
    done = subprocess.run([rscript, "-e", check], capture_output=True, text=True, timeout=120)
    return rscript if done.returncode == 0 else None


def run_r(rscript: str, script: str, data: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """Write ``data`` to ``folder/input.csv``, run ``script`` (which reads ``input.csv`` and
    writes ``output.csv`` in the working directory) and return ``output.csv``."""
    data.to_csv(folder / "input.csv", index=False)
    (folder / "script.R").write_text(script, encoding="utf-8")
    done = subprocess.run(
        [rscript, "script.R"], cwd=folder, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"Rscript failed:\n{done.stderr}")
    return pd.read_csv(folder / "output.csv")
