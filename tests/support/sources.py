"""Helpers for the source tests: the tiny hand-made cohort, and building it through the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from prognosis.cli import main
from tests.cohort.test_source_errors import TINY

__all__ = ["cli_build", "tiny_yaml"]


def tiny_yaml(folder: Path) -> Path:
    """The tiny definition of ``tests/cohort/test_source_errors.py`` written as YAML."""
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY, sort_keys=False), encoding="utf-8")
    return path


def cli_build(tmp_path: Path, source: str, out: Path | None = None) -> Result:
    """``prognosis cohort build tiny.yaml --source SOURCE --out OUT`` through click's runner."""
    out = out or tmp_path / "out"
    args = ["cohort", "build", str(tiny_yaml(tmp_path)), "--source", source, "--out", str(out)]
    return CliRunner().invoke(main, args)


def assert_clean_failure(result: Result, *expected: str) -> str:
    """The command failed with exit 1 and a message (no traceback) holding each ``expected``."""
    output = result.output
    assert result.exit_code == 1, output
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    for text in expected:
        assert text in " ".join(output.split()), output
    return output
