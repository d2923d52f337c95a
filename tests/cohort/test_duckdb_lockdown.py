"""A DuckDB source cannot read the machine's files: hostile views fail, named, leaking nothing.

The hostile CDMs are the hand-made tiny CDM of ``test_source_errors.py`` with one table replaced
by a view whose column calls a DuckDB file function on a secret file beside it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from prognosis.cohort import build_cohort, parse_source
from prognosis.cohort.engines.duckdb import DuckDBEngine
from prognosis.exceptions import SourceError
from tests.cohort.test_source_errors import BASE, EXPECTED, TODAY, _definition, _rows
from tests.support.cdm import write_cdm, write_cdm_files
from tests.support.sources import assert_clean_failure, cli_build

SECRET = "TOP-SECRET-8f3a1c"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


def _hostile(tmp_path: Path, table: str, column: str, expression: str) -> str:
    """A CDM whose ``table`` is a view over its data with ``column`` replaced by ``expression``."""
    path = write_cdm(tmp_path / "hostile.duckdb", BASE)
    con = duckdb.connect(str(path))
    try:
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_data")
        con.execute(
            f"CREATE VIEW {table} AS SELECT * REPLACE ({expression} AS {column}) FROM {table}_data"
        )
    finally:
        con.close()
    return f"duckdb://{path}"


HOSTILE = {
    "read_text": ("concept", "concept_name", "(SELECT content FROM read_text('{secret}'))"),
    "read_csv": (
        "condition_occurrence",
        "condition_source_value",
        "(SELECT string_agg(column0) FROM read_csv('{secret}', header = false))",
    ),
    "glob": ("concept", "concept_name", "(SELECT string_agg(file) FROM glob('{folder}/*'))"),
    "read_blob": (
        "person",
        "person_source_value",
        "(SELECT content::VARCHAR FROM read_blob('{secret}'))",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_view_reading_a_file_fails_naming_the_view(tmp_path: Path, secret: Path, case: str) -> None:
    table, column, template = HOSTILE[case]
    expression = template.format(secret=secret, folder=secret.parent)
    source = _hostile(tmp_path, table, column, expression)
    with pytest.raises(SourceError, match=f"view '{table}' reads outside the database") as raised:
        build_cohort(_definition(), parse_source(source), tmp_path / "out", today=TODAY)
    assert SECRET not in str(raised.value)
    assert "file access" in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_hostile_view_through_the_cli_prints_one_message_and_no_secret(
    tmp_path: Path, secret: Path
) -> None:
    table, column, template = HOSTILE["read_text"]
    source = _hostile(tmp_path, table, column, template.format(secret=secret))
    result = cli_build(tmp_path, source)
    output = assert_clean_failure(result, "view 'concept' reads outside the database")
    assert SECRET not in output
    assert not (tmp_path / "out").exists()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".duckdb"]
    assert all(SECRET not in p.read_text(errors="replace") for p in leftovers if p != secret)


def test_engine_of_a_duckdb_file_reads_no_file_and_changes_no_setting(
    tmp_path: Path, secret: Path
) -> None:
    engine = DuckDBEngine(parse_source(f"duckdb://{write_cdm(tmp_path / 'cdm.duckdb', BASE)}"))
    try:
        assert engine.fetch_rows("SELECT COUNT(*) FROM src.main.person") == [(2,)]
        for sql in (
            f"SELECT content FROM read_text('{secret}')",
            f"SELECT * FROM read_csv('{secret}')",
            f"COPY (SELECT 1) TO '{tmp_path / 'leak.csv'}'",
            f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        ):
            with pytest.raises(SourceError, match="file access switched off"):
                engine.fetch_rows(sql)
        for sql in ("SET enable_external_access = true", "SET lock_configuration = false"):
            with pytest.raises(
                SourceError,
                match=r"^source .*: Invalid Input Error: Cannot change configuration option "
                r".* the configuration has been locked$",
            ):
                engine.fetch_rows(sql)
        with pytest.raises(SourceError, match="file access switched off"):
            engine.fetch_rows("LOAD httpfs")
        with pytest.raises(SourceError, match="getenv does not exist"):  # not in Python DuckDB
            engine.fetch_rows("SELECT getenv('HOME')")
        settings = dict(
            engine.fetch_rows(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ("
                "'enable_external_access', 'lock_configuration', 'autoload_known_extensions', "
                "'autoinstall_known_extensions')"
            )
        )
        assert settings == {
            "enable_external_access": "false",
            "lock_configuration": "true",
            "autoload_known_extensions": "false",
            "autoinstall_known_extensions": "false",
        }
    finally:
        engine.close()
    assert not (tmp_path / "leak.csv").exists()
    assert not (tmp_path / "other.duckdb").exists()


def test_folder_source_reads_its_own_files_and_nothing_else(tmp_path: Path, secret: Path) -> None:
    folder = write_cdm_files(tmp_path / "csv", write_cdm(tmp_path / "cdm.duckdb", BASE))
    engine = DuckDBEngine(parse_source(str(folder)))
    try:
        assert engine.fetch_rows("SELECT COUNT(*) FROM src.person") == [(2,)]
        with pytest.raises(SourceError, match="file access switched off"):
            engine.fetch_rows(f"SELECT content FROM read_text('{secret}')")
        with pytest.raises(SourceError, match="file access switched off"):
            engine.fetch_rows(f"SELECT * FROM read_csv('{tmp_path / 'elsewhere.csv'}')")
    finally:
        engine.close()
    build_cohort(_definition(), parse_source(str(folder)), tmp_path / "out", today=TODAY)
    assert _rows(tmp_path / "out") == EXPECTED


def test_spill_folder_is_private_and_removed_on_close(tmp_path: Path) -> None:
    engine = DuckDBEngine(parse_source(f"duckdb://{write_cdm(tmp_path / 'cdm.duckdb', BASE)}"))
    try:
        ((spill,),) = engine.fetch_rows("SELECT current_setting('temp_directory')")
        assert stat.S_IMODE(os.stat(spill).st_mode) == 0o700
        assert Path(spill).name.startswith("prognosis-duckdb-")
    finally:
        engine.close()
    assert not Path(spill).exists()


def test_spill_folder_is_removed_when_the_source_cannot_be_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    bad = tmp_path / "cdm.duckdb"
    bad.write_text("not a database", encoding="utf-8")
    with pytest.raises(SourceError, match="cannot open"):
        DuckDBEngine(parse_source(f"duckdb://{bad}"))
    assert list(temp.iterdir()) == []


def test_spill_folders_of_killed_builds_are_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that has ended
    gone.wait()
    stale = temp / f"prognosis-duckdb-{gone.pid}-abcd1234"  # left by a build killed with -9
    stale.mkdir()
    (stale / "duckdb_temp_block-1.block").write_bytes(b"spilled rows")
    running = temp / f"prognosis-duckdb-{os.getpid()}-efgh5678"  # a build still running
    running.mkdir()
    engine = DuckDBEngine(parse_source(f"duckdb://{write_cdm(tmp_path / 'cdm.duckdb', BASE)}"))
    engine.close()
    assert sorted(p.name for p in temp.iterdir()) == [running.name]
