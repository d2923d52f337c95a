"""Pseudonyms, small-cell suppression, escaping, and no identifier in any report file."""

from __future__ import annotations

import hashlib
import hmac
import re
import stat
from pathlib import Path

import pandas as pd
import pytest

from prognosis.exceptions import PrognosisError
from prognosis.report import write_patient_reports
from prognosis.report.privacy import (
    CountTable,
    exposed,
    percent_of,
    protect,
    redact_source,
    suppress,
    suppress_small_counts_in_text,
)
from prognosis.report.pseudonyms import load_key, pseudonym
from tests.report.cohort_data import (
    DISTINCT_BIRTH,
    DISTINCT_PERSON,
    DISTINCT_SOURCE,
    RARE_NAME,
    SCRIPT_NAME,
)
from tests.report.conftest import KEY, Built


def _report_files(built: Built) -> dict[Path, str]:
    folder = built.model_report.parent
    return {path: path.read_text(encoding="utf-8") for path in folder.rglob("*") if path.is_file()}


def test_pseudonym_is_the_keyed_hmac_of_the_person_id() -> None:
    expected = hmac.new(KEY, b"987654321", hashlib.sha256).hexdigest()[:16]
    assert pseudonym(DISTINCT_PERSON, KEY) == f"P-{expected}"
    assert pseudonym(DISTINCT_PERSON, KEY) != pseudonym(DISTINCT_PERSON, bytes(32))
    assert pseudonym(1, KEY) != pseudonym(2, KEY)


def test_short_key_is_refused() -> None:
    with pytest.raises(PrognosisError, match="at least 16 bytes"):
        pseudonym(1, b"short")


def test_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "pseudonym.key"
    first = load_key(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == first
    assert load_key(tmp_path / "other.key") != first


def test_counts_from_one_to_four_show_as_less_than_five_and_zero_is_shown() -> None:
    assert [suppress(n) for n in (0, 1, 4, 5, 12345)] == ["0", "<5", "<5", "5", "12,345"]
    assert suppress(None) == "n/a"
    assert percent_of(3, 10) == "<5"
    assert percent_of(5, 20) == "5 (25.0%)"
    assert suppress_small_counts_in_text("3 rows for persons; 80 of 67707 rows; 2 of 9") == (
        "<5 rows for persons; 80 of 67707 rows; <5 of 9"
    )
    assert suppress_small_counts_in_text("0 rows for persons") == "0 rows for persons"


def test_source_url_loses_its_credentials() -> None:
    assert redact_source("postgresql://alice:secret@db:5432/ehr?schema=cdm") == (
        "postgresql://db:5432/ehr?schema=cdm"
    )
    assert redact_source("eunomia") == "eunomia"
    assert redact_source(None) == "not recorded"


def test_no_identifier_appears_in_any_report_file(built: Built) -> None:
    files = _report_files(built)
    # model report, patient index, five patients, the patient folder's prognosis-output.json
    # and report.json
    assert len(files) == 1 + 1 + 5 + 1 + 1
    frame = pd.read_parquet(built.dataset / "dataset.parquet")
    dates = set(frame["index_date"].astype(str))
    forbidden = [str(DISTINCT_PERSON), DISTINCT_SOURCE, DISTINCT_BIRTH.isoformat(), "SRC0"]
    for path, text in files.items():
        for value in forbidden:
            assert value not in text, f"{value} found in {path.name}"
        assert not dates & set(re.findall(r"\d{4}-\d{2}-\d{2}", text)), path.name
        assert "person_id" not in text, path.name


def test_no_report_names_a_network_address(built: Built) -> None:
    for path, text in _report_files(built).items():
        assert not re.search(r"(?i)\b(?:https?|ftp|wss?):|//[a-z0-9.-]+\.[a-z]{2,}/", text), path
        assert "<script" not in text.lower(), path
        assert "@import" not in text, path
        assert re.findall(r"url\(([^)]*)\)", text) == re.findall(r"url\((#[\w-]+)\)", text), path
        assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', text)), path


def test_concept_name_with_markup_is_escaped(built: Built) -> None:
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; Zzyzx"
    files = _report_files(built)
    assert escaped in files[built.model_report]  # Table 1, SHAP charts
    for page in built.pages:
        assert escaped in files[page]  # inputs table
    assert all(SCRIPT_NAME not in text for text in files.values())


def test_rare_condition_is_suppressed_in_table_one(built: Built) -> None:
    row = next(r for r in built.report.table1.rows if r.label.startswith(RARE_NAME))
    assert row.cells == ["<5", "<5", "0 (0.0%)"]  # 3 persons in all, none without an event
    html = built.model_report.read_text(encoding="utf-8")
    rendered = re.search(rf"<tr><td>{RARE_NAME}[^<]*</td>(.*?)</tr>", html, re.DOTALL)
    assert rendered and rendered.group(1).count("&lt;5") == 2


def test_mapping_is_written_apart_and_never_linked(built: Built) -> None:
    mapping = built.mapping_dir / "mapping.csv"
    rows = pd.read_csv(mapping)
    assert stat.S_IMODE(mapping.stat().st_mode) == 0o600
    assert not mapping.resolve().is_relative_to(built.model_report.parent.resolve())
    assert dict(zip(rows["person_id"], rows["pseudonym"], strict=True))[DISTINCT_PERSON] == (
        pseudonym(DISTINCT_PERSON, KEY)
    )
    pages = {page.name for page in built.pages} | {"index.html"}
    for path, text in _report_files(built).items():
        assert "mapping" not in text and "pseudonym.key" not in text, path
        for target in re.findall(r'href="([^"]*)"', text):
            assert target.startswith(("#", "data:image/")) or target in pages, (path, target)


def test_mapping_inside_the_report_folder_is_refused(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "patients"
    with pytest.raises(PrognosisError, match="inside the report folder"):
        write_patient_reports(built.model, built.dataset, out, mapping_dir=out / "private")


def test_protect_hides_the_smallest_other_count_of_the_total() -> None:
    # 3 + 40 + 60 = 103: hiding the 3 alone would leave 103 - 40 - 60; the 40 goes too
    table = CountTable({"all": 103, "a": 3, "b": 40, "c": 60}, sums=[("all", ("a", "b", "c"))])
    published = protect(table)
    assert [published.text(c) for c in table.values] == ["103", "<5", "hidden", "60"]
    assert published.percent("c", "all") == "60 (58.3%)"
    assert published.percent("b", "all") == "hidden"


def test_protect_hides_a_kept_count_only_when_nothing_else_can_go() -> None:
    table = CountTable(
        {"all": 103, "a": 3, "b": 100}, sums=[("all", ("a", "b"))], keep=frozenset({"b"})
    )
    assert [protect(table).text(c) for c in table.values] == ["hidden", "<5", "100"]


def test_structural_zero_is_shown_and_a_table_without_small_counts_untouched() -> None:
    table = CountTable(
        {"all": 10, "a": 0, "b": 10}, sums=[("all", ("a", "b"))], structural=frozenset({"a"})
    )
    assert [protect(table).text(c) for c in table.values] == ["10", "0", "10"]


def test_exposed_small_count_is_one_that_the_shown_figures_pin() -> None:
    table = CountTable({"all": 103, "a": 3, "b": 100}, sums=[("all", ("a", "b"))])
    assert exposed(table, "a", small={"a"}, hidden=set())  # 103 - 100
    assert not exposed(table, "a", small={"a"}, hidden={"b"})  # 103 - (5 or more): 0 to 4
