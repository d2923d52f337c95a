"""The ``prognosis`` command line, driven through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner, Result
from rich.console import Console

import prognosis.cli
from prognosis.cli import main

DEFINITION = Path(__file__).resolve().parents[2] / "cohorts" / "gi_bleed_nsaid.yaml"
DIALECTS = ["duckdb", "postgres", "spark", "bigquery", "snowflake", "tsql"]
EUNOMIA_PERSONS = 2630  # established by hand-written SQL in tests/cohort/test_eunomia.py
OUTPUTS = {"dataset.parquet", "features.json", "attrition.json", "manifest.json"}
RED = "\x1b[31m"


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def colour_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI's console emit ANSI colours although CliRunner is not a terminal."""
    console = Console(stderr=True, highlight=False, force_terminal=True, color_system="standard")
    monkeypatch.setattr(prognosis.cli, "console", console)


@pytest.fixture
def bad_definition(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    text = DEFINITION.read_text(encoding="utf-8").replace("max_count: 0", "max_count: -1")
    path.write_text(text, encoding="utf-8")
    return path


def test_help_lists_the_cohort_commands() -> None:
    result = _run("--help")
    assert result.exit_code == 0, result.output
    assert "cohort" in result.output
    result = _run("cohort", "--help")
    assert result.exit_code == 0, result.output
    assert "build" in result.output
    assert "sql" in result.output


@pytest.mark.parametrize("dialect", DIALECTS)
def test_cohort_sql_output_parses_back_in_its_dialect(dialect: str) -> None:
    result = _run("cohort", "sql", str(DEFINITION), "--dialect", dialect)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert f"-- prognosis cohort 'gi_bleed_nsaid', SQL for {dialect}" in result.stdout
    statements = sqlglot.parse(result.stdout, read=dialect)
    assert len(statements) > 10
    assert all(statement is not None for statement in statements)


def test_cohort_sql_rejects_an_unknown_dialect() -> None:
    result = _run("cohort", "sql", str(DEFINITION), "--dialect", "oracle")
    assert result.exit_code == 2
    assert "'oracle' is not one of" in result.output


def test_cohort_build_prints_attrition_and_writes_the_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run("cohort", "build", str(DEFINITION), "--source", "eunomia", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert "Attrition" in result.output
    for step in ("First occurrence per person", "At least 365 days of prior observation"):
        assert step in result.output
    assert f"{EUNOMIA_PERSONS} persons" in result.output
    assert "warning: table 'death', column '*': table 'death' is malformed" in result.output
    assert "Traceback" not in result.output


def test_cohort_build_json_prints_the_result_as_json(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run("cohort", "build", str(DEFINITION), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["persons"] == EUNOMIA_PERSONS
    assert summary["out_dir"] == str(out)
    assert summary["attrition"][-1]["persons"] == EUNOMIA_PERSONS
    assert len(summary["data_quality"]) == 4
    assert {p.name for p in out.iterdir()} == OUTPUTS


def test_cohort_build_quiet_prints_nothing_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run("cohort", "build", str(DEFINITION), "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert {p.name for p in out.iterdir()} == OUTPUTS


@pytest.mark.usefixtures("colour_console")
@pytest.mark.parametrize("command", ["sql", "build"])
def test_bad_definition_exits_1_with_a_red_error_naming_the_file(
    command: str, bad_definition: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["cohort", command, str(bad_definition)]
    if command == "build":
        args += ["--out", str(out)]
    result = _run(*args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr.startswith(f"{RED}error:")
    assert f"{bad_definition}: invalid cohort definition" in result.stderr
    assert (
        "rules[0] ('no_prior_gi_bleed').max_count: Input should be greater than or equal to 0"
        in result.stderr
    )
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_definition_file_exits_1_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = _run("cohort", "sql", str(missing))
    assert result.exit_code == 1
    assert result.stderr == f"error: {missing}: no such cohort definition file\n"


def test_bad_source_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = tmp_path / "no_cdm_here"
    result = _run("cohort", "build", str(DEFINITION), "--source", str(source), "--out", str(out))
    assert result.exit_code == 1
    assert f"error: source '{source}': no such file or folder" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_error_message_is_printed_verbatim_even_with_square_brackets(tmp_path: Path) -> None:
    path = tmp_path / "[draft] cohort.yaml"
    path.write_text("- not a mapping\n", encoding="utf-8")
    result = _run("cohort", "sql", str(path))
    assert result.exit_code == 1
    assert f"error: {path}: a cohort definition is a YAML mapping" in result.stderr
