"""The command group itself: help and version."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from prognosis.cli import main


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["fit", "-h"], ["report", "model", "-h"]])
def test_short_and_long_help_options_print_the_usage(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert "-h, --help" in result.output


def test_version_is_printed() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "version" in result.output
