"""Source data read right, or refused with one message naming where the bad value is.

The CDM is the tiny hand-made one of ``test_source_errors.py`` (its hand-computed dataset is
``EXPECTED``), written here as CSV files by hand, so every date's spelling is chosen by the test.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from prognosis.cohort import build_cohort, parse_source
from prognosis.exceptions import DataQualityWarning, SourceError
from tests.cohort.test_source_errors import (
    BASE,
    EXPECTED,
    TODAY,
    _condition,
    _definition,
    _rows,
    _tables,
)
from tests.support.cdm import TABLES, write_cdm
from tests.support.postgres import load_duckdb_into_postgres
from tests.support.sources import assert_clean_failure, cli_build


def _us(iso: str) -> str:
    """An ISO date written month first, as US exports do: 2005-03-01 -> 03/01/2005."""
    day = dt.date.fromisoformat(iso)
    return f"{day.month:02d}/{day.day:02d}/{day.year}"


def _write_csvs(
    folder: Path,
    tables: dict[str, list[dict[str, Any]]],
    *,
    dates: Callable[[str], str] = str,
    only: tuple[str, ...] = tuple(TABLES),
) -> Path:
    """One CSV per OMOP table (all of ``TABLES``), record ids numbered, dates written via
    ``dates`` in the tables ``only`` (ISO in the others)."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, layout in TABLES.items():
        with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(layout))
            writer.writeheader()
            for number, row in enumerate(tables.get(table, []), start=1):
                values = {f"{table}_id": number} if f"{table}_id" in layout else {}
                for column, value in row.items():
                    is_date = layout[column] == "DATE" and isinstance(value, str)
                    is_date = is_date and table in only
                    values[column] = dates(value) if is_date and "-" in value else value
                writer.writerow(values)
    return folder


def _build(source: str, out: Path) -> list[dict[str, Any]]:
    build_cohort(_definition(), parse_source(source), out, today=TODAY)
    return _rows(out)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- date formats -----------------------------------------------------------------------------


def test_us_dates_with_a_dateformat_build_the_hand_computed_dataset(tmp_path: Path) -> None:
    folder = _write_csvs(tmp_path / "csv", BASE, dates=_us)
    assert _build(f"{folder}?dateformat=%m/%d/%Y", tmp_path / "out") == EXPECTED


def test_us_dates_without_a_format_warn_naming_file_column_and_format(tmp_path: Path) -> None:
    """Every day here is <= 12 in drug_exposure and condition_occurrence: both D/M and M/D
    parse, and DuckDB reads day first, so 03/01/2005 would silently become 3 January."""
    us = ("drug_exposure", "condition_occurrence")
    folder = _write_csvs(tmp_path / "csv", BASE, dates=_us, only=us)
    with pytest.warns(DataQualityWarning) as record:
        build_cohort(_definition(), parse_source(str(folder)), tmp_path / "out", today=TODAY)
    ambiguous = sorted(str(w.message) for w in record if "reads both" in str(w.message))
    # read day first, the bleed of 03/01/2005 (1 March) falls on 3 January: day 2, not 59
    assert _rows(tmp_path / "out")[0]["time"] == 2
    advice = (
        "read as %d/%m/%Y. If that is wrong, give the format on the source, e.g. "
        "FOLDER?dateformat=%m/%d/%Y"
    )
    assert ambiguous == [
        "table 'condition_occurrence', column 'condition_start_date': every date in file "
        f"'{folder / 'condition_occurrence.csv'}' reads both as %d/%m/%Y and as %m/%d/%Y; {advice}",
        "table 'drug_exposure', column 'drug_exposure_start_date': every date in file "
        f"'{folder / 'drug_exposure.csv'}' reads both as %d/%m/%Y and as %m/%d/%Y; {advice}",
    ]


def test_cli_takes_the_dateformat_and_prints_the_ambiguity_warning(tmp_path: Path) -> None:
    folder = _write_csvs(tmp_path / "csv", BASE, dates=_us, only=("condition_occurrence",))
    warned = cli_build(tmp_path, str(folder), tmp_path / "guessed")
    folder = _write_csvs(tmp_path / "us", BASE, dates=_us)
    assert warned.exit_code == 0, warned.output
    assert "Traceback" not in warned.output
    assert (
        "table 'condition_occurrence', column 'condition_start_date': every date in file"
        in " ".join(warned.output.split())
    )
    given = cli_build(tmp_path, f"{folder}?dateformat=%m/%d/%Y", tmp_path / "given")
    assert given.exit_code == 0, given.output
    assert "reads both" not in given.output
    assert _rows(tmp_path / "given") == EXPECTED


def test_iso_dates_give_no_format_warning(tmp_path: Path) -> None:
    folder = _write_csvs(tmp_path / "csv", BASE)
    assert _build(str(folder), tmp_path / "out") == EXPECTED  # any warning fails the test


def test_us_dates_a_file_cannot_read_day_first_name_the_value_and_the_way_out(
    tmp_path: Path,
) -> None:
    """observation_period.csv starts 01/01/2000 (read day first) and ends 12/31/2010."""
    folder = _write_csvs(tmp_path / "csv", BASE, dates=_us)
    file = folder / "observation_period.csv"
    result = cli_build(tmp_path, str(folder))
    assert_clean_failure(
        result,
        f"file '{file}', column 'observation_period_end_date', line 2: value '12/31/2010' is not "
        "a date in the format read from the file's first rows (%d/%m/%Y); if the file uses "
        "another, give it on the source (FOLDER?dateformat=%m/%d/%Y)",
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?dateformat=mm/dd/yyyy", r"dateformat='mm/dd/yyyy' is no strptime format"),
        ("?datefmt=%m/%d/%Y", r"unknown key\(s\) 'datefmt' after '\?'; a folder takes dateformat"),
    ],
)
def test_bad_folder_query_is_refused(tmp_path: Path, query: str, message: str) -> None:
    folder = _write_csvs(tmp_path / "csv", BASE)
    with pytest.raises(SourceError, match=message):
        parse_source(f"{folder}{query}")


# --- text in a date column --------------------------------------------------------------------


def _with_text_date(value: str = "unknown") -> dict[str, list[dict[str, Any]]]:
    return _tables(condition_occurrence=[_condition(2, 3, value)])


@pytest.mark.parametrize("value", ["unknown", "2018-02-30"])
def test_text_in_a_csv_date_column_names_file_column_and_value(tmp_path: Path, value: str) -> None:
    folder = _write_csvs(tmp_path / "csv", _with_text_date(value))
    file = folder / "condition_occurrence.csv"
    with pytest.raises(SourceError) as raised:
        _build(str(folder), tmp_path / "out")
    assert re.fullmatch(
        rf"source {re.escape(str(folder))}: file '{re.escape(str(file))}'.*, column "
        rf"'condition_start_date'.*: value '{value}' is not a date.* correct it, or leave it "
        "empty to mark it missing",
        _one_line(str(raised.value)),
    ), raised.value
    assert not (tmp_path / "out").exists()


def test_text_among_many_in_a_csv_date_column_names_the_file(tmp_path: Path) -> None:
    """Text early in the file: DuckDB types the column as text, the staging cast fails."""
    folder = _write_csvs(
        tmp_path / "csv",
        _tables(
            condition_occurrence=[_condition(2, 3, v) for v in ("n/a", "unknown", "2004-01-01")]
        ),
    )
    file = folder / "condition_occurrence.csv"
    with pytest.raises(SourceError, match=f"file '{re.escape(str(file))}'"):
        _build(str(folder), tmp_path / "out")


def test_text_far_down_a_csv_date_column_names_the_line(tmp_path: Path) -> None:
    """Past DuckDB's 20,480-row sample the column was typed DATE: the reader fails there."""
    ulcers = [_condition(1, 3, "2004-01-01") for _ in range(25_000)]
    folder = _write_csvs(
        tmp_path / "csv", _tables(condition_occurrence=[*ulcers, _condition(2, 3, "unknown")])
    )
    file = folder / "condition_occurrence.csv"
    with pytest.raises(SourceError) as raised:
        _build(str(folder), tmp_path / "out")
    assert re.search(
        rf"file '{re.escape(str(file))}', column 'condition_start_date', line 2500\d: value "
        r"'unknown' is not a date; correct it",
        _one_line(str(raised.value)),
    ), raised.value


def test_iso_dates_in_a_folder_given_another_dateformat_name_value_and_format(
    tmp_path: Path,
) -> None:
    folder = _write_csvs(tmp_path / "csv", BASE)
    file = folder / "observation_period.csv"
    result = cli_build(tmp_path, f"{folder}?dateformat=%m/%d/%Y")
    assert_clean_failure(
        result,
        f"file '{file}', column 'observation_period_start_date', line 2: value '2000-01-01' is "
        "not a date in the source's dateformat (%m/%d/%Y): correct it",
    )


def test_text_in_a_csv_date_column_with_a_dateformat_names_the_format(tmp_path: Path) -> None:
    folder = _write_csvs(tmp_path / "csv", _with_text_date("03/40/2005"), dates=_us)
    with pytest.raises(
        SourceError, match=r"value '03/40/2005' is not a date \(expected %m/%d/%Y\)"
    ):
        _build(f"{folder}?dateformat=%m/%d/%Y", tmp_path / "out")


@pytest.mark.parametrize("value", ["unknown", "2018-02-30"])
def test_text_in_a_duckdb_date_column_names_table_column_and_value(
    tmp_path: Path, value: str
) -> None:
    layout = {**TABLES["condition_occurrence"], "condition_start_date": "VARCHAR"}
    path = write_cdm(
        tmp_path / "cdm.duckdb", _with_text_date(), columns={"condition_occurrence": layout}
    )
    with duckdb.connect(str(path)) as con:  # write_cdm itself refuses an impossible date
        con.execute(
            "UPDATE condition_occurrence SET condition_start_date = ? "
            "WHERE condition_start_date = 'unknown'",
            [value],
        )
    result = cli_build(tmp_path, f"duckdb://{path}")
    assert_clean_failure(
        result,
        f"table 'condition_occurrence', column 'condition_start_date': value '{value}' is not a "
        "date (expected YYYY-MM-DD)",
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.postgres
def test_text_in_a_postgres_date_column_names_table_column_and_value(
    tmp_path: Path, postgres_url: str
) -> None:
    layout = {**TABLES["condition_occurrence"], "condition_start_date": "VARCHAR"}
    path = write_cdm(
        tmp_path / "cdm.duckdb", _with_text_date(), columns={"condition_occurrence": layout}
    )
    load_duckdb_into_postgres(path, postgres_url, "text_dates")
    result = cli_build(tmp_path, f"{postgres_url}?schema=text_dates")
    assert_clean_failure(
        result,
        "table 'condition_occurrence', column 'condition_start_date': value 'unknown' is not a "
        "date (expected YYYY-MM-DD)",
    )


# --- files that cannot be read as one table each ----------------------------------------------


def test_non_utf8_csv_names_the_file(tmp_path: Path) -> None:
    folder = _write_csvs(tmp_path / "csv", BASE)
    concept = folder / "concept.csv"
    concept.write_bytes(concept.read_bytes().replace(b"ulcer", "ulc\xe8re".encode("latin-1")))
    result = cli_build(tmp_path, str(folder))
    assert_clean_failure(result, f"file '{concept}' is not UTF-8 text, line ", "save it as UTF-8")


def test_non_utf8_far_down_a_csv_names_the_file_and_line(tmp_path: Path) -> None:
    """Past DuckDB's sample the bad byte is met while reading, not while detecting types."""
    extra = [{"concept_id": 100 + n, "concept_name": f"c{n}"} for n in range(25_000)]
    folder = _write_csvs(tmp_path / "csv", _tables(concept=extra))
    concept = folder / "concept.csv"
    concept.write_bytes(concept.read_bytes().replace(b"c24999", "caf\xe9".encode("latin-1")))
    with pytest.raises(SourceError) as raised:
        _build(str(folder), tmp_path / "out")
    assert re.search(
        rf"file '{re.escape(str(concept))}' is not UTF-8 text, line 2500\d; save it as UTF-8",
        str(raised.value),
    ), raised.value


def test_two_files_for_one_table_are_refused_naming_both(tmp_path: Path) -> None:
    folder = _write_csvs(tmp_path / "csv", BASE)
    (folder / "PERSON.csv").write_bytes((folder / "person.csv").read_bytes())
    result = cli_build(tmp_path, str(folder))
    assert_clean_failure(
        result,
        f"source {folder}: files 'PERSON.csv' and 'person.csv' both hold table 'person' (table "
        "names are matched case-insensitively); keep one of them",
    )


# --- ids that are not integers ----------------------------------------------------------------


def test_fractional_person_id_in_a_csv_is_not_rounded_to_another_person(tmp_path: Path) -> None:
    """person_id 2.5 rounds to 3 (or 2): it must stay no one's id, never become another."""
    tables = _tables(person=[{"person_id": 2.5, "year_of_birth": 1970, "gender_concept_id": 8507}])
    folder = _write_csvs(tmp_path / "csv", tables)
    with pytest.warns(DataQualityWarning, match=r"1 rows have no person_id \(missing, or not an"):
        assert _build(str(folder), tmp_path / "out") == EXPECTED  # counted, ignored


def test_fractional_event_person_id_in_a_double_column_is_not_rounded(tmp_path: Path) -> None:
    """A drug record for person 1.5 on 2004-01-01 would become person 2's index if rounded."""
    layout = {**TABLES["drug_exposure"], "person_id": "DOUBLE"}
    tables = _tables(
        drug_exposure=[
            {"person_id": 1.5, "drug_concept_id": 1, "drug_exposure_start_date": "2004-01-01"}
        ]
    )
    path = write_cdm(tmp_path / "cdm.duckdb", tables, columns={"drug_exposure": layout})
    with pytest.warns(DataQualityWarning):
        assert _build(f"duckdb://{path}", tmp_path / "out") == EXPECTED


def _text_ids(tmp_path: Path, person_2: str) -> Path:
    """The CDM with person ids stored as text, person 2 spelled ``person_2``."""
    layout = {**TABLES["person"], "person_id": "VARCHAR"}
    path = write_cdm(tmp_path / "cdm.duckdb", BASE, columns={"person": layout})
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE person SET person_id = ? WHERE person_id = '2'", [person_2])
    return path


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_whole_number_text_ids_are_read_and_fractional_ones_are_not(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    def source(person_2: str, schema: str) -> str:
        path = _text_ids(tmp_path / schema, person_2)
        if engine == "duckdb":
            return f"duckdb://{path}"
        url = request.getfixturevalue("postgres_url")
        load_duckdb_into_postgres(path, url, schema)
        return f"{url}?schema={schema}"

    (tmp_path / "whole").mkdir()
    (tmp_path / "fraction").mkdir()
    assert _build(source(" 2.0 ", "whole"), tmp_path / "out") == EXPECTED
    with pytest.warns(DataQualityWarning) as record:  # person 2.5 is no one, not person 2
        assert _build(source("2.5", "fraction"), tmp_path / "out2") == EXPECTED[:1]
    assert any("'person_id': 1 rows have no person_id" in str(w.message) for w in record)


def test_semicolon_csv_with_ambiguous_dates_is_warned_about_too(tmp_path: Path) -> None:
    folder = _write_csvs(tmp_path / "csv", BASE, dates=_us, only=("drug_exposure",))
    drugs = folder / "drug_exposure.csv"
    drugs.write_text(drugs.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")
    with pytest.warns(DataQualityWarning, match="'drug_exposure_start_date': every date in file"):
        _build(str(folder), tmp_path / "out")
