"""Bad sources fail clearly and leave no partial output; data problems are warned about.

Every CDM here is written by hand (``tests/support/cdm.py``), so each expected value is known:
two persons observed 2000-01-01 to 2010-12-31; person 1 starts the drug on 2005-01-01 and bleeds
on 2005-03-01 (day 59); person 2 starts on 2006-01-01 and never bleeds, so is censored at the end
of the 1000-day time at risk.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow.parquet as pq
import pytest

from prognosis.cohort import (
    BuildResult,
    CohortDefinition,
    CohortError,
    build_cohort,
    parse_definition,
    parse_source,
)
from prognosis.exceptions import DataQualityWarning, PrognosisError, SourceError
from tests.support.cdm import TABLES, write_cdm

TODAY = dt.date(2020, 1, 1)  # the build date; every date in BASE is before it

TINY: dict[str, Any] = {
    "name": "tiny",
    "concept_sets": {"drug": [1], "bleed": [2], "ulcer": [3]},
    "index": {"concept_set": "drug", "domain": "drug_exposure"},
    "outcome": {
        "concept_set": "bleed",
        "domain": "condition_occurrence",
        "time_at_risk": [1, 1000],
    },
    "features": {
        "windows": {"before": [None, -1]},
        "items": [
            {
                "kind": "concept_set",
                "name": "ulcer",
                "concept_set": "ulcer",
                "domain": "condition_occurrence",
                "windows": ["before"],
                "statistics": ["presence", "count"],
            }
        ],
    },
}


def _period(person_id: int, start: str = "2000-01-01", end: str = "2010-12-31") -> dict:
    return {
        "person_id": person_id,
        "observation_period_start_date": start,
        "observation_period_end_date": end,
    }


def _drug(person_id: int, date: str, **more: Any) -> dict:
    return {"person_id": person_id, "drug_concept_id": 1, "drug_exposure_start_date": date, **more}


def _condition(person_id: int, concept_id: int, date: str, **more: Any) -> dict:
    return {
        "person_id": person_id,
        "condition_concept_id": concept_id,
        "condition_start_date": date,
        **more,
    }


BASE: dict[str, list[dict[str, Any]]] = {
    "person": [
        {"person_id": 1, "year_of_birth": 1950, "gender_concept_id": 8507},
        {"person_id": 2, "year_of_birth": 1960, "gender_concept_id": 8532},
    ],
    "observation_period": [_period(1), _period(2)],
    "concept": [
        {"concept_id": 1, "concept_name": "drug"},
        {"concept_id": 2, "concept_name": "bleed"},
        {"concept_id": 3, "concept_name": "ulcer"},
    ],
    "drug_exposure": [_drug(1, "2005-01-01"), _drug(2, "2006-01-01")],
    "condition_occurrence": [_condition(1, 2, "2005-03-01")],
}

EXPECTED = [
    {"person_id": 1, "index_date": dt.date(2005, 1, 1), "time": 59, "event": 1,
     "censor_reason": "", "ulcer_before": 0, "ulcer_before_count": 0},
    {"person_id": 2, "index_date": dt.date(2006, 1, 1), "time": 1000, "event": 0,
     "censor_reason": "time_at_risk_end", "ulcer_before": 0, "ulcer_before_count": 0},
]  # fmt: skip

EUNOMIA_DEATH = {f"column{i}": "VARCHAR" for i in range(7)}
EUNOMIA_DEATH_HEADER = [
    "PERSON_ID",
    "DEATH_DATE",
    "DEATH_DATETIME",
    "DEATH_TYPE_CONCEPT_ID",
    "CAUSE_CONCEPT_ID",
    "CAUSE_SOURCE_VALUE",
    "CAUSE_SOURCE_CONCEPT_ID",
]


def _definition(**changes: Any) -> CohortDefinition:
    data = copy.deepcopy(TINY)
    data.update(changes)
    return parse_definition(data)


def _tables(**extra: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """BASE with rows appended to some tables."""
    tables = copy.deepcopy(BASE)
    for table, rows in extra.items():
        tables.setdefault(table, []).extend(rows)
    return tables


def _cdm(tmp_path: Path, tables: dict[str, list[dict[str, Any]]], **options: Any) -> str:
    """Write a DuckDB CDM and return its ``--source`` string."""
    return f"duckdb://{write_cdm(tmp_path / 'cdm.duckdb', tables, **options)}"


def _build(
    source: str, out: Path, definition: CohortDefinition | None = None
) -> tuple[BuildResult, list[str]]:
    """Build, returning the result and the data-quality warnings it gave (in order)."""
    with pytest.warns(DataQualityWarning) as record:
        result = build_cohort(definition or _definition(), parse_source(source), out, today=TODAY)
    return result, [str(warning.message) for warning in record]


def _build_clean(source: str, out: Path, definition: CohortDefinition | None = None) -> BuildResult:
    """Build where no warning is expected (pytest turns any warning into an error)."""
    return build_cohort(definition or _definition(), parse_source(source), out, today=TODAY)


def _rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "dataset.parquet").to_pylist()


def _assert_fails_leaving_nothing(
    tmp_path: Path,
    source: str,
    error: type[PrognosisError],
    match: str,
    definition: CohortDefinition | None = None,
) -> None:
    """The build fails with ``error``; a new out dir is not created, an old one is untouched."""
    definition = definition or _definition()
    before = set(tmp_path.iterdir())
    fresh = tmp_path / "fresh"
    with pytest.raises(error, match=match):
        build_cohort(definition, parse_source(source), fresh, today=TODAY)
    assert not fresh.exists()

    old = tmp_path / "old"  # a previous dataset, to be replaced (--overwrite)
    old.mkdir()
    previous = {
        "dataset.parquet": "previous build",
        "manifest.json": '{"cohort": "tiny", "files": {"dataset.parquet": ""}}',
    }
    for name, text in previous.items():
        (old / name).write_text(text, encoding="utf-8")
    with pytest.raises(error, match=match):
        build_cohort(definition, parse_source(source), old, today=TODAY, overwrite=True)
    assert {p.name: p.read_text(encoding="utf-8") for p in old.iterdir()} == previous
    assert set(tmp_path.iterdir()) == before | {old}  # no temporary folders left behind


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_hand_made_cdm_builds_the_hand_computed_dataset(tmp_path: Path) -> None:
    result = _build_clean(_cdm(tmp_path, BASE), tmp_path / "out")
    assert _rows(tmp_path / "out") == EXPECTED
    assert result.findings == []


# --- sources that cannot be read --------------------------------------------------------------


def test_nonexistent_source_path_raises(tmp_path: Path) -> None:
    missing = tmp_path / "no_cdm_here"
    _assert_fails_leaving_nothing(
        tmp_path, str(missing), SourceError, f"source '{missing}': no such file or folder"
    )


def test_unknown_url_scheme_raises(tmp_path: Path) -> None:
    _assert_fails_leaving_nothing(
        tmp_path,
        "mysql://user@localhost/cdm",
        SourceError,
        r"source 'mysql://user@localhost/cdm': unknown scheme 'mysql://'; use eunomia, duckdb:///",
    )


def test_duckdb_url_to_a_missing_file_raises(tmp_path: Path) -> None:
    missing = tmp_path / "cdm.duckdb"
    _assert_fails_leaving_nothing(
        tmp_path, f"duckdb://{missing}", SourceError, f"no DuckDB database file at .* or {missing}$"
    )


def test_duckdb_url_to_a_file_that_is_not_duckdb_raises(tmp_path: Path) -> None:
    path = tmp_path / "cdm.duckdb"
    path.write_text("person_id,year_of_birth\n1,1950\n", encoding="utf-8")
    _assert_fails_leaving_nothing(
        tmp_path, f"duckdb://{path}", SourceError, f"{path}.*cannot open.*not a valid DuckDB"
    )


def test_duckdb_source_is_named_as_it_was_given(tmp_path: Path) -> None:
    path = tmp_path / "cdm.duckdb"
    path.write_text("not a database", encoding="utf-8")
    with pytest.raises(SourceError, match=f"^source duckdb://{path}: cannot open"):
        _build_clean(f"duckdb://{path}", tmp_path / "out")


def test_unreachable_postgres_raises_without_leaking_the_password(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql://alice:s3cret-pw@127.0.0.1:{port}/cdm?schema=cdm&connect_timeout=5"
    _assert_fails_leaving_nothing(
        tmp_path,
        url,
        SourceError,
        rf"^source postgresql://alice:\*\*\*@127\.0\.0\.1:{port}/cdm\?schema=cdm.*: "
        r"cannot connect \(",
    )
    with pytest.raises(SourceError) as raised:
        _build_clean(url, tmp_path / "out")
    assert "s3cret-pw" not in str(raised.value)


def test_unreachable_postgres_hides_a_password_given_as_query_parameter(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql://alice@127.0.0.1:{port}/cdm?password=s3cret-pw&connect_timeout=5"
    with pytest.raises(SourceError, match="cannot connect") as raised:
        _build_clean(url, tmp_path / "out")
    assert "s3cret-pw" not in str(raised.value)


@pytest.mark.postgres
def test_postgres_schema_without_tables_raises(tmp_path: Path, postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    query = urlencode([*parse_qsl(parts.query), ("schema", "no_cdm_here")])
    url = urlunsplit(parts._replace(query=query))
    _assert_fails_leaving_nothing(
        tmp_path,
        url,
        SourceError,
        r"schema 'no_cdm_here' holds no tables \(set \?schema=NAME",
    )


def test_duckdb_schema_without_tables_names_the_schema(tmp_path: Path) -> None:
    source = _cdm(tmp_path, BASE) + "?schema=cdm"
    with pytest.raises(SourceError, match="schema 'cdm' holds no tables"):
        _build_clean(source, tmp_path / "out")


# --- tables and columns -----------------------------------------------------------------------


def test_missing_table_raises_naming_it(tmp_path: Path) -> None:
    source = _cdm(tmp_path, BASE, omit=("observation_period",))
    _assert_fails_leaving_nothing(
        tmp_path,
        source,
        SourceError,
        r"table 'observation_period' is missing from the source \(tables found: concept, ",
    )


def test_missing_column_raises_naming_table_and_column(tmp_path: Path) -> None:
    layout = {k: v for k, v in TABLES["drug_exposure"].items() if k != "drug_exposure_start_date"}
    tables = _tables()
    for row in tables["drug_exposure"]:
        del row["drug_exposure_start_date"]
    source = _cdm(tmp_path, tables, columns={"drug_exposure": layout})
    _assert_fails_leaving_nothing(
        tmp_path,
        source,
        SourceError,
        r"table 'drug_exposure' has no column 'drug_exposure_start_date' \(columns found: "
        r"drug_exposure_id, person_id, drug_concept_id, ",
    )


def test_duplicate_person_id_raises(tmp_path: Path) -> None:
    source = _cdm(tmp_path, _tables(person=[{"person_id": 2, "year_of_birth": 1970}]))
    _assert_fails_leaving_nothing(
        tmp_path,
        source,
        SourceError,
        r"table 'person', column 'person_id': 1 duplicate values; each person must appear once",
    )


def _upper_case(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The same rows under upper-case table and column names, record ids filled in."""
    upper = {}
    for table, rows in tables.items():
        id_column = f"{table}_id"
        numbered = [
            {id_column: number, **row} if id_column in TABLES[table] else row
            for number, row in enumerate(rows, start=1)
        ]
        upper[table.upper()] = [{k.upper(): v for k, v in row.items()} for row in numbered]
    return upper


def test_upper_case_table_and_column_names_are_matched(tmp_path: Path) -> None:
    layouts = {t.upper(): {c.upper(): k for c, k in cols.items()} for t, cols in TABLES.items()}
    source = _cdm(tmp_path, _upper_case(BASE), columns=layouts, omit=tuple(TABLES))
    _build_clean(source, tmp_path / "out")
    assert _rows(tmp_path / "out") == EXPECTED


# --- the death table --------------------------------------------------------------------------


def _malformed_death(tmp_path: Path) -> str:
    """Death as Eunomia ships it: seven VARCHAR columns holding a CSV header as a data row."""
    header = {f"column{i}": name for i, name in enumerate(EUNOMIA_DEATH_HEADER)}
    return _cdm(tmp_path, _tables(death=[header]), columns={"death": EUNOMIA_DEATH})


def test_malformed_death_used_only_for_censoring_warns_and_counts_as_empty(
    tmp_path: Path,
) -> None:
    _, messages = _build(_malformed_death(tmp_path), tmp_path / "out")
    assert messages == [
        "table 'death', column '*': table 'death' is malformed: no column person_id, "
        "death_date; columns are column0, column1, column2, column3, column4, column5, "
        "column6 (it looks like a CSV header imported as a data row); treated as empty"
    ]
    assert _rows(tmp_path / "out") == EXPECTED


def test_missing_death_table_warns_and_counts_as_empty(tmp_path: Path) -> None:
    _, messages = _build(_cdm(tmp_path, BASE, omit=("death",)), tmp_path / "out")
    assert messages == [
        "table 'death', column '*': table 'death' is missing from the source; treated as empty"
    ]
    assert _rows(tmp_path / "out") == EXPECTED


@pytest.mark.parametrize(
    "change",
    [
        {"competing_events": [{"name": "death", "domain": "death"}]},
        {"outcome": {"domain": "death", "time_at_risk": [1, 1000]}},
    ],
    ids=["competing-event", "outcome"],
)
def test_malformed_death_used_as_an_event_raises(tmp_path: Path, change: dict) -> None:
    _assert_fails_leaving_nothing(
        tmp_path,
        _malformed_death(tmp_path),
        SourceError,
        r"table 'death' is malformed: no column person_id, death_date; .*this definition uses "
        r"death as an outcome or competing event",
        definition=_definition(**change),
    )


# --- data quality -----------------------------------------------------------------------------


def test_orphan_rows_warn_with_table_column_and_count(tmp_path: Path) -> None:
    tables = _tables(
        observation_period=[_period(98), _period(99)],
        drug_exposure=[_drug(99, "2005-01-01")],
    )
    _, messages = _build(_cdm(tmp_path, tables), tmp_path / "out")
    assert messages == [
        "table 'observation_period', column 'person_id': 2 rows for persons not in table "
        "'person' are ignored",
        "table 'drug_exposure', column 'person_id': 1 rows for persons not in 'person' are ignored",
    ]
    assert _rows(tmp_path / "out") == EXPECTED


def test_events_outside_observation_periods_warn_with_table_column_and_count(
    tmp_path: Path,
) -> None:
    tables = _tables(
        drug_exposure=[_drug(2, "1999-06-01"), _drug(2, "2015-01-01")],
        condition_occurrence=[_condition(1, 3, "2011-01-01")],
    )
    _, messages = _build(_cdm(tmp_path, tables), tmp_path / "out")
    assert messages == [
        "table 'condition_occurrence', column 'condition_start_date': 1 of 2 rows fall outside "
        "every observation period of their person: they cannot be index events but still "
        "count as history",
        "table 'drug_exposure', column 'drug_exposure_start_date': 2 of 4 rows fall outside "
        "every observation period of their person: they cannot be index events but still "
        "count as history",
    ]
    # person 2's first drug record (1999) is outside observation: the first-occurrence index is
    # not inside a period, so person 2 drops out rather than moving to the 2006 record
    assert _rows(tmp_path / "out") == EXPECTED[:1]


def test_events_outside_observation_are_warned_even_beside_orphans(tmp_path: Path) -> None:
    tables = _tables(
        observation_period=[_period(99)],
        drug_exposure=[_drug(99, "2005-01-01"), _drug(2, "2015-01-01")],
    )
    _, messages = _build(_cdm(tmp_path, tables), tmp_path / "out")
    outside = (
        r"table 'drug_exposure', column 'drug_exposure_start_date': 1 of \d+ rows fall outside"
    )
    assert any(re.match(outside, message) for message in messages), messages


def test_future_dated_rows_warn_with_table_column_and_count(tmp_path: Path) -> None:
    tables = _tables(
        observation_period=[],
        condition_occurrence=[_condition(2, 3, "2021-01-01"), _condition(2, 3, "2022-01-01")],
    )
    tables["observation_period"] = [_period(1), _period(2, end="2022-12-31")]
    _, messages = _build(_cdm(tmp_path, tables), tmp_path / "out")
    advice = "set censoring.data_cutoff to the last date the data are complete"
    assert messages == [
        "table 'observation_period', column 'observation_period_end_date': 1 rows are dated "
        f"after today (2020-01-01); {advice}",
        "table 'condition_occurrence', column 'condition_start_date': 2 rows are dated after "
        f"today (2020-01-01); {advice}",
    ]


def test_exact_duplicate_rows_warn_and_count_once(tmp_path: Path) -> None:
    ulcer = _condition(1, 3, "2004-01-01", condition_occurrence_id=10)
    tables = _tables(
        condition_occurrence=[
            ulcer,
            dict(ulcer),  # the same record twice
            _condition(1, 3, "2004-06-01", condition_occurrence_id=11),
        ]
    )
    _, messages = _build(_cdm(tmp_path, tables), tmp_path / "out")
    assert messages == [
        "table 'condition_occurrence', column '*': 1 duplicate rows (same record id, person, "
        "concept, date and value) are counted once"
    ]
    person_1 = _rows(tmp_path / "out")[0]
    assert (person_1["ulcer_before"], person_1["ulcer_before_count"]) == (1, 2)


def test_manifest_lists_the_data_quality_findings(tmp_path: Path) -> None:
    ulcer = _condition(1, 3, "2004-01-01", condition_occurrence_id=10)
    tables = _tables(
        drug_exposure=[_drug(99, "2005-01-01")], condition_occurrence=[ulcer, dict(ulcer)]
    )
    result, messages = _build(_cdm(tmp_path, tables), tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert len(messages) == 2
    assert manifest["data_quality"] == messages
    assert [str(finding) for finding in result.findings] == messages


def test_empty_cohort_raises_listing_attrition(tmp_path: Path) -> None:
    definition = _definition(
        index={"concept_set": "drug", "domain": "drug_exposure", "min_prior_observation": 3650}
    )
    _assert_fails_leaving_nothing(
        tmp_path,
        _cdm(tmp_path, BASE),
        CohortError,
        r"^cohort 'tiny' is empty; attrition:\n"
        r"  Index events: drug in drug_exposure: 2 persons\n"
        r"  First occurrence per person: 2 persons\n"
        r"  Index date inside an observation period: 2 persons\n"
        r"  At least 3650 days of prior observation: 0 persons\n"
        r"  Still observed and alive on day 1: 0 persons$",
        definition=definition,
    )
