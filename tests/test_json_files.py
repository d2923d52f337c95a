"""The one JSON reader: the caller's error type, the file named, the fix suggested."""

from __future__ import annotations

from pathlib import Path

import pytest

from prognosis.exceptions import DatasetError, ModelDirectoryError
from prognosis.json_files import json_kind, parse_json, read_json


def test_reads_an_object_and_an_array(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"x": [1, 2]}', encoding="utf-8")
    (tmp_path / "b.json").write_text("[1, 2]", encoding="utf-8")
    assert read_json(tmp_path / "a.json", dict, DatasetError) == {"x": [1, 2]}
    assert read_json(tmp_path / "b.json", list, DatasetError) == [1, 2]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"[1, 2]", r"a\.json: expected a JSON object, found an array; rebuild it"),
        (b'{"x": ', r"a\.json: cannot read \(Expecting value.*\); rebuild it"),
        (b'\xff{"x": 1}', r"a\.json: cannot read \('utf-8' codec.*\); rebuild it"),
    ],
)
def test_bad_content_raises_the_callers_error_naming_the_file(
    tmp_path: Path, content: bytes, match: str
) -> None:
    (tmp_path / "a.json").write_bytes(content)
    with pytest.raises(DatasetError, match=match):
        read_json(tmp_path / "a.json", dict, DatasetError, hint="rebuild it")


def test_a_missing_file_is_the_callers_error(tmp_path: Path) -> None:
    with pytest.raises(ModelDirectoryError, match=r"none\.json: cannot read \(No such file"):
        read_json(tmp_path / "none.json", list, ModelDirectoryError)


def test_parse_json_takes_bytes_already_read(tmp_path: Path) -> None:
    assert parse_json(tmp_path / "m.json", b'{"a": 1}', dict, ModelDirectoryError) == {"a": 1}
    with pytest.raises(ModelDirectoryError, match=r"m\.json: expected a JSON array, found null"):
        parse_json(tmp_path / "m.json", b"null", list, ModelDirectoryError)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({}, "an object"),
        ([], "an array"),
        ("s", "a string"),
        (1.5, "a number"),
        (True, "a boolean"),
    ],
)
def test_json_kind_words(value: object, words: str) -> None:
    assert json_kind(value) == words
