"""A bad cohort definition fails with a DefinitionError naming the file and the field at fault."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from prognosis.cli import main
from prognosis.cohort import load_definition, parse_definition
from prognosis.exceptions import DefinitionError

COHORTS = Path(__file__).resolve().parents[2] / "cohorts"

# A small valid definition; each test breaks one thing in a copy of it.
VALID: dict[str, Any] = {
    "name": "tiny",
    "concept_sets": {"drugs": [1], "bleed": [2], "ulcer": {"include": [3], "descendants": True}},
    "index": {"concept_set": "drugs", "domain": "drug_exposure", "min_prior_observation": 365},
    "rules": [
        {
            "name": "no_prior_bleed",
            "concept_set": "bleed",
            "domain": "condition_occurrence",
            "window": [None, -1],
            "max_count": 0,
        }
    ],
    "outcome": {
        "concept_set": "bleed",
        "domain": "condition_occurrence",
        "time_at_risk": [1, 365],
    },
    "features": {
        "windows": {"prior_year": [-365, -1], "all_before": [None, -1]},
        "items": [
            {
                "kind": "concept_set",
                "name": "ulcer",
                "concept_set": "ulcer",
                "domain": "condition_occurrence",
                "windows": ["prior_year"],
                "statistics": ["presence", "count"],
            }
        ],
    },
}


def _changed(*changes: tuple[tuple[Any, ...], Any]) -> dict[str, Any]:
    """A copy of VALID with the value at each key path replaced (``...`` as value: removed)."""
    data = copy.deepcopy(VALID)
    for keys, value in changes:
        parent = data
        for key in keys[:-1]:
            parent = parent[key]
        if value is ...:
            del parent[keys[-1]]
        else:
            parent[keys[-1]] = value
    return data


def _write(tmp_path: Path, content: dict[str, Any] | list[Any] | str) -> Path:
    path = tmp_path / "cohort.yaml"
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def _says(path: Path, pattern: str) -> str:
    """A pattern for a message that starts with the file's path and later matches ``pattern``."""
    return rf"(?s)^{re.escape(str(path))}: .*{pattern}"


def test_valid_definition_loads(tmp_path: Path) -> None:
    definition = load_definition(_write(tmp_path, VALID))
    assert definition.name == "tiny"
    assert definition.rules[0].window.start is None
    assert definition.rules[0].window.end == -1


@pytest.mark.parametrize("path", sorted(COHORTS.glob("*.yaml")), ids=lambda path: path.name)
def test_every_cohort_in_the_repository_loads(path: Path) -> None:
    assert load_definition(path).name


def test_cohorts_folder_is_not_empty() -> None:
    assert sorted(COHORTS.glob("*.yaml")), f"no definitions in {COHORTS}"


def test_missing_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(DefinitionError, match=_says(path, "no such cohort definition file")):
        load_definition(path)


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (
            "name: tiny\nindex:\n  domain: drug_exposure\n   concept_set: drugs\n",
            "line 4, column 15",
            "mapping values are not allowed here",
        ),
        (
            "name: tiny\nconcept_sets:\n\tdrugs: [1]\n",
            "line 3, column 1",
            "found character '\\t' that cannot start any token",
        ),
    ],
    ids=["bad-indentation", "tab"],
)
def test_malformed_yaml_names_line_and_column(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    path = _write(tmp_path, text)
    expected = _says(path, f"malformed YAML at {where}: {re.escape(problem)}")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_definition_that_is_not_a_mapping_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, ["name", "tiny"])
    with pytest.raises(DefinitionError, match=_says(path, "a cohort definition is a YAML mapping")):
        load_definition(path)


def test_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    path = _write(tmp_path, "# nothing here yet\n")
    with pytest.raises(DefinitionError, match=_says(path, "empty")):
        load_definition(path)


def test_unknown_top_level_field_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("outcomse",), {"domain": "death"})))
    expected = _says(path, r"\n  - outcomse: unknown field \(check its spelling and indentation\)")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_unknown_nested_field_names_its_full_path(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("index", "min_prior_obs"), 365)))
    with pytest.raises(DefinitionError, match=_says(path, r"index\.min_prior_obs: unknown field")):
        load_definition(path)


def test_unknown_field_in_a_rule_names_the_rule_position(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("rules", 0, "windw"), [None, -1])))
    with pytest.raises(
        DefinitionError, match=_says(path, r"rules\[0\] \('no_prior_bleed'\)\.windw: unknown field")
    ):
        load_definition(path)


def test_unknown_domain_lists_the_known_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("index", "domain"), "drug_exposures")))
    expected = _says(
        path, r"index\.domain: unknown value 'drug_exposures'; expected 'condition_occurrence'"
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@pytest.mark.parametrize("empty", [[], {"include": []}], ids=["list", "include"])
def test_empty_concept_set_raises(tmp_path: Path, empty: Any) -> None:
    path = _write(tmp_path, _changed((("concept_sets", "bleed"), empty)))
    expected = _says(path, r"concept_sets\.bleed\.include: must not be empty")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (
            ("rules", 0, "window"),
            [30, -1],
            r"rules\[0\] \('no_prior_bleed'\)\.window: window start 30 is after end -1",
        ),
        (
            ("features", "windows", "prior_year"),
            [-1, -365],
            r"features\.windows\.prior_year: window start -1 is after end -365",
        ),
        (
            ("outcome", "time_at_risk"),
            [365, 30],
            r"outcome\.time_at_risk: time_at_risk start 365 is after end 30",
        ),
    ],
    ids=["rule", "feature-window", "time-at-risk"],
)
def test_window_start_after_end_raises(
    tmp_path: Path, keys: tuple[Any, ...], value: list[int], message: str
) -> None:
    path = _write(tmp_path, _changed((keys, value)))
    with pytest.raises(DefinitionError, match=_says(path, message)):
        load_definition(path)


def test_rule_naming_an_undefined_concept_set_names_both(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("rules", 0, "concept_set"), "bleeding")))
    expected = _says(
        path,
        r"rule 'no_prior_bleed' names concept set 'bleeding', which is not defined under "
        r"concept_sets \(defined: \['bleed', 'drugs', 'ulcer'\]\)",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_feature_naming_an_undefined_window_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("features", "items", 0, "windows"), ["last_year"])))
    expected = _says(
        path,
        r"features: feature 'ulcer' uses window 'last_year', which is not defined under "
        r"features\.windows \(defined: \['all_before', 'prior_year'\]\)",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_feature_naming_an_undefined_window_names_the_feature(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("features", "items", 0, "windows"), ["last_year"])))
    with pytest.raises(DefinitionError, match=_says(path, r"feature 'ulcer'.*'last_year'")):
        load_definition(path)


def test_feature_window_ending_on_index_day_needs_include_index_day(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("features", "windows", "prior_year"), [-365, 0])))
    expected = _says(
        path,
        r"features: feature window 'prior_year' ends at day 0; features may only use data up to "
        r"day -1 relative to index \(set include_index_day: true to use day 0\)",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_feature_window_ending_on_index_day_is_accepted_with_include_index_day(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        _changed(
            (("features", "windows", "prior_year"), [-365, 0]),
            (("features", "include_index_day"), True),
        ),
    )
    features = load_definition(path).features
    assert features.include_index_day is True
    assert features.windows["prior_year"].end == 0


@pytest.mark.parametrize("include_index_day", [False, True])
def test_feature_window_ending_after_index_raises(tmp_path: Path, include_index_day: bool) -> None:
    path = _write(
        tmp_path,
        _changed(
            (("features", "windows", "prior_year"), [-365, 5]),
            (("features", "include_index_day"), include_index_day),
        ),
    )
    latest = 0 if include_index_day else -1
    expected = _says(
        path,
        f"feature window 'prior_year' ends at day 5; features may only use data up to day {latest}",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_last_statistic_on_a_domain_without_values_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("features", "items", 0, "statistics"), ["last"])))
    expected = _says(
        path,
        r"feature 'ulcer': 'last' needs a domain with values \(measurement, observation\)",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@pytest.mark.parametrize(
    ("keys", "value", "field"),
    [
        (("features", "items", 0, "statistics"), ["last"], r"features\.items\[0\] \('ulcer'\): "),
        (
            ("features", "items", 0, "windos"),
            ["prior_year"],
            r"features\.items\[0\] \('ulcer'\)\.windos: ",
        ),
    ],
    ids=["last-statistic", "unknown-field"],
)
def test_error_in_a_feature_item_names_the_item_not_its_kind(
    tmp_path: Path, keys: tuple[Any, ...], value: Any, field: str
) -> None:
    path = _write(tmp_path, _changed((keys, value)))
    with pytest.raises(DefinitionError, match=_says(path, r"\n  - " + field)):
        load_definition(path)


def test_duplicate_rule_names_raise(tmp_path: Path) -> None:
    rule = VALID["rules"][0]
    path = _write(tmp_path, _changed((("rules",), [rule, {**rule, "window": [-30, -1]}])))
    with pytest.raises(
        DefinitionError, match=_says(path, "rule name 'no_prior_bleed' is used twice")
    ):
        load_definition(path)


@pytest.mark.parametrize(
    ("keys", "bad", "field"),
    [
        (("name",), "GI_bleed", "name"),
        (("name",), "gi bleed", "name"),
        (("rules", 0, "name"), "No_prior_bleed", r"rules\[0\] \('No_prior_bleed'\)\.name"),
        (("rules", 0, "name"), "no prior bleed", r"rules\[0\] \('no prior bleed'\)\.name"),
    ],
    ids=["cohort-upper", "cohort-space", "rule-upper", "rule-space"],
)
def test_invalid_name_raises(tmp_path: Path, keys: tuple[Any, ...], bad: str, field: str) -> None:
    path = _write(tmp_path, _changed((keys, bad)))
    expected = _says(
        path,
        rf"{field}: '{bad}' is not a valid name: use lower-case letters, digits and underscores",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_invalid_concept_set_name_raises(tmp_path: Path) -> None:
    data = _changed((("concept_sets", "Bleed Set"), [4]))
    path = _write(tmp_path, data)
    expected = _says(path, r"concept_sets\.Bleed Set.*'Bleed Set' is not a valid name")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_death_as_index_domain_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("index", "domain"), "death")))
    with pytest.raises(
        DefinitionError, match=_says(path, "index.domain: death cannot be an index")
    ):
        load_definition(path)


def test_rule_without_min_or_max_count_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("rules", 0, "max_count"), ...)))
    expected = _says(
        path,
        r"rules\[0\] \('no_prior_bleed'\): rule 'no_prior_bleed' needs min_count and/or max_count",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _changed((("index", "domain"), "drugs"), (("outcome", "time_at_risk"), [30, 1])),
    )
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    message = str(raised.value)
    assert "index.domain: unknown value 'drugs'" in message
    assert "outcome.time_at_risk: time_at_risk start 30 is after end 1" in message


# --- YAML: duplicate keys, YAML 1.2 meaning, dates, encodings, odd files ----------------------

GI_BLEED = COHORTS / "gi_bleed_nsaid.yaml"
PLACEHOLDER = "placeholder_value"
DOMAIN_FEATURE = {"kind": "domain", "domain": "drug_exposure", "windows": ["prior_year"]}
INT_FIELD = ("index", "min_prior_observation")
BOOL_FIELD = ("concept_sets", "ulcer", "descendants")
FLOAT_FIELD = ("features", "items", 1, "min_prevalence")
TEXT_FIELD = ("concept_sets", "ulcer", "label")


def _line_of(text: str, line: str, start: int = 1) -> int:
    """The 1-based number of the first line equal to ``line`` at or after line ``start``."""
    lines = text.splitlines()
    return lines.index(line, start - 1) + 1


def _written_as(tmp_path: Path, keys: tuple[Any, ...], written: str) -> Path:
    """VALID (with a domain feature as features.items[1]) as YAML, the value at ``keys``
    spelled exactly ``written``."""
    items = [*VALID["features"]["items"], DOMAIN_FEATURE]
    data = copy.deepcopy(_changed((("features", "items"), items)))
    parent = data
    for key in keys[:-1]:
        parent = parent[key]
    parent[keys[-1]] = PLACEHOLDER
    text = yaml.safe_dump(data, sort_keys=False)
    assert text.count(PLACEHOLDER) == 1
    return _write(tmp_path, text.replace(PLACEHOLDER, written))


def _at(data: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        data = data[key]
    return data


def test_second_concept_set_of_the_same_name_is_refused_naming_both_lines(tmp_path: Path) -> None:
    # The case: a second `gi_bleed:` silently turned the outcome into peptic ulcer.
    text = GI_BLEED.read_text(encoding="utf-8")
    text = text.replace("  peptic_ulcer:\n", "  gi_bleed:\n", 1)
    first = _line_of(text, "  gi_bleed:")
    second = _line_of(text, "  gi_bleed:", first + 1)
    path = _write(tmp_path, text)
    expected = _says(
        path, rf"key 'gi_bleed' appears twice in concept_sets \(lines {first} and {second}\)"
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_trailing_empty_rules_is_refused_instead_of_removing_the_rules(tmp_path: Path) -> None:
    text = GI_BLEED.read_text(encoding="utf-8") + "rules: []\n"
    first, last = _line_of(text, "rules:"), len(text.splitlines())
    path = _write(tmp_path, text)
    expected = _says(
        path, rf"key 'rules' appears twice at the top level \(lines {first} and {last}\)"
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules:\n- name: no_prior_bleed\n  max_count: 0\n  max_count: 1\n",
            r"key 'max_count' appears twice in rules\[0\] \('no_prior_bleed'\) \(lines 3 and 4\)",
        ),
        (
            "concept_sets:\n  ulcer: {include: [3], descendants: true, include: [4]}\n",
            r"key 'include' appears twice in concept_sets\.ulcer \(lines 2 and 2\)",
        ),
        (
            "features:\n  items:\n  - kind: domain\n    windows: [a]\n    kind: concept_set\n",
            r"key 'kind' appears twice in features\.items\[0\] \(lines 3 and 5\)",
        ),
        (
            "shared: &shared\n  start: -365\n  start: -30\nfeatures:\n  windows:\n"
            "    prior_year: *shared\n",
            r"key 'start' appears twice in shared \(lines 2 and 3\)",
        ),
        (
            'name: tiny\n"name": other\n',
            r"key 'name' appears twice at the top level \(lines 1 and 2\)",
        ),
    ],
    ids=["rule", "flow-mapping", "feature-item", "behind-an-alias", "quoted"],
)
def test_duplicate_key_at_any_depth_names_the_key_the_mapping_and_both_lines(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DefinitionError, match=_says(path, message)):
        load_definition(path)


WHOLE_NUMBER = r"expected a whole number; write plain decimal digits"


@pytest.mark.parametrize(
    ("keys", "written", "message"),
    [
        (
            ("rules", 0, "max_count"),
            "no",
            rf"rules\[0\] \('no_prior_bleed'\)\.max_count: got 'no' \(text\), {WHOLE_NUMBER}",
        ),
        (
            ("rules", 0, "window"),
            "[null, true]",
            rf"rules\[0\] \('no_prior_bleed'\)\.window\.end: got true \(a boolean\), "
            rf"{WHOLE_NUMBER}",
        ),
        (INT_FIELD, "0777", rf"index\.min_prior_observation: got '0777' \(text\), {WHOLE_NUMBER}"),
        (INT_FIELD, "0o17", r"index\.min_prior_observation: got '0o17' \(text\)"),
        (INT_FIELD, "0x1F", r"index\.min_prior_observation: got '0x1F' \(text\)"),
        (INT_FIELD, "1_000", r"index\.min_prior_observation: got '1_000' \(text\)"),
        (INT_FIELD, "1:30", r"index\.min_prior_observation: got '1:30' \(text\)"),
        (INT_FIELD, "'365'", r"index\.min_prior_observation: got '365' \(text\)"),
        (INT_FIELD, "365.0", r"index\.min_prior_observation: got 365\.0 \(a decimal number\)"),
        (INT_FIELD, ".inf", r"index\.min_prior_observation: got '\.inf' \(text\)"),
        (INT_FIELD, "yes", r"index\.min_prior_observation: got 'yes' \(text\)"),
        (("concept_sets", "drugs"), "[1, on]", r"concept_sets\.drugs\.include\[1\]: got 'on'"),
        (
            BOOL_FIELD,
            "yes",
            r"concept_sets\.ulcer\.descendants: got 'yes' \(text\), expected true or false; "
            r"YAML 1\.2 reads yes, no, on, off, y and n as text",
        ),
        (BOOL_FIELD, "off", r"descendants: got 'off' \(text\)"),
        (BOOL_FIELD, "y", r"descendants: got 'y' \(text\)"),
        (BOOL_FIELD, "n", r"descendants: got 'n' \(text\)"),
        (
            BOOL_FIELD,
            "1",
            r"descendants: got 1 \(a whole number\), expected true or false",
        ),
        (
            FLOAT_FIELD,
            ".nan",
            r"features\.items\[1\]\.min_prevalence: got '\.nan' \(text\), expected a number",
        ),
        (
            TEXT_FIELD,
            "123",
            r"concept_sets\.ulcer\.label: got 123 \(a whole number\), expected text; put it in "
            r"quotes",
        ),
    ],
    ids=[
        "max-count-no",
        "window-true",
        "leading-zero",
        "octal",
        "hex",
        "underscore",
        "sexagesimal",
        "quoted-number",
        "float-for-int",
        "inf",
        "yes-for-int",
        "on-in-concept-ids",
        "yes-for-bool",
        "off",
        "y",
        "n",
        "number-for-bool",
        "nan",
        "number-for-text",
    ],
)
def test_value_of_the_wrong_type_names_field_value_and_expectation(
    tmp_path: Path, keys: tuple[Any, ...], written: str, message: str
) -> None:
    path = _written_as(tmp_path, keys, written)
    with pytest.raises(DefinitionError, match=_says(path, message)):
        load_definition(path)


@pytest.mark.parametrize(
    ("keys", "written", "value"),
    [
        (INT_FIELD, "+30", 30),
        (INT_FIELD, "0", 0),
        (BOOL_FIELD, "True", True),
        (BOOL_FIELD, "FALSE", False),
        (TEXT_FIELD, "no", "no"),
        (TEXT_FIELD, "2018-01-01", "2018-01-01"),
        (("name",), "yes", "yes"),
        (("rules", 0, "window"), "[~, -1]", {"start": None, "end": -1}),
        (FLOAT_FIELD, "1", 1.0),
        (FLOAT_FIELD, "5e-2", 0.05),
        (
            ("index", "dates"),
            "{start: 2005-01-01, end: '2018-12-31'}",
            {"start": dt.date(2005, 1, 1), "end": dt.date(2018, 12, 31)},
        ),
    ],
    ids=[
        "plus-sign",
        "zero",
        "True",
        "FALSE",
        "no-as-text",
        "date-as-text",
        "yes-as-name",
        "tilde-is-null",
        "int-for-float",
        "exponent",
        "dates-plain-and-quoted",
    ],
)
def test_yaml_1_2_values_keep_their_meaning(
    tmp_path: Path, keys: tuple[Any, ...], written: str, value: Any
) -> None:
    got = _at(load_definition(_written_as(tmp_path, keys, written)).model_dump(), keys)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    ("keys", "written", "message"),
    [
        (
            ("censoring",),
            "{data_cutoff: 2018-02-30}",
            r"censoring\.data_cutoff: '2018-02-30' is not a date: day is out of range for month "
            r"\(write YYYY-MM-DD\)",
        ),
        (
            ("index", "dates"),
            "{start: 2018-13-01}",
            r"index\.dates\.start: '2018-13-01' is not a date: month must be in 1\.\.12",
        ),
        (
            ("index", "dates"),
            "{end: 2018/01/31}",
            r"index\.dates\.end: expected a date written YYYY-MM-DD, got '2018/01/31' \(text\)",
        ),
        (
            ("index", "dates"),
            "{end: 20180131}",
            r"index\.dates\.end: expected a date written YYYY-MM-DD, got 20180131 "
            r"\(a whole number\)",
        ),
        (
            ("censoring",),
            "{data_cutoff: 2018-01-31 12:00:00}",
            r"censoring\.data_cutoff: expected a date written YYYY-MM-DD, got "
            r"'2018-01-31 12:00:00' \(text\)",
        ),
    ],
    ids=["february-30", "month-13", "slashes", "digits-only", "with-a-time"],
)
def test_impossible_or_misspelled_date_names_field_and_value(
    tmp_path: Path, keys: tuple[Any, ...], written: str, message: str
) -> None:
    path = _written_as(tmp_path, keys, written)
    with pytest.raises(DefinitionError, match=_says(path, message)):
        load_definition(path)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("!!timestamp 2018-02-30", r"the tag 'tag:yaml\.org,2002:timestamp' is not allowed"),
        ("!!int 0x1F", r"'0x1F' is not a YAML 1\.2 int"),
        ("!!bool yes", r"'yes' is not a YAML 1\.2 bool"),
        ("!!float .inf", r"'\.inf' is not a YAML 1\.2 float"),
        ("!!python/object/apply:os.system [echo hacked]", r"the tag 'tag:yaml\.org,2002:python/"),
        ("!!binary aGVsbG8=", r"the tag 'tag:yaml\.org,2002:binary' is not allowed"),
        ("!custom 1", r"the tag '!custom' is not allowed"),
        ("1" * 41, r"the number '1{40}' is too long"),
        ("1e999", r"the number '1e999' is too long"),
    ],
    ids=["timestamp", "hex", "bool", "inf", "python", "binary", "local-tag", "long", "huge"],
)
def test_tags_and_values_outside_yaml_1_2_core_are_refused_with_their_line(
    tmp_path: Path, written: str, message: str
) -> None:
    path = _written_as(tmp_path, INT_FIELD, written)
    line = _line_of(path.read_text(encoding="utf-8"), f"  min_prior_observation: {written}")
    expected = _says(path, rf"unsupported YAML at line {line}, column 26: {message}")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_merge_key_is_an_unknown_field_not_a_merge(tmp_path: Path) -> None:
    path = _written_as(tmp_path, ("index",), "{<<: {min_prior_observation: 30}}")
    with pytest.raises(DefinitionError, match=_says(path, r"index\.<<: unknown field")):
        load_definition(path)


def test_latin_1_file_names_the_byte_offset_and_line(tmp_path: Path) -> None:
    raw = yaml.safe_dump(
        _changed((("description",), "Névralgie")), sort_keys=False, allow_unicode=True
    )
    data = raw.encode("latin-1")
    path = tmp_path / "cohort.yaml"
    path.write_bytes(data)
    offset, line = data.index(b"\xe9"), raw.splitlines().index("description: Névralgie") + 1
    expected = _says(
        path,
        rf"not UTF-8 text: byte 0xe9 at byte offset {offset} \(line {line}\) cannot be decoded; "
        "save the file as UTF-8",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_utf_16_file_is_refused_at_its_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "cohort.yaml"
    path.write_bytes(yaml.safe_dump(VALID).encode("utf-16"))
    with pytest.raises(
        DefinitionError, match=_says(path, r"byte 0xff at byte offset 0 \(line 1\)")
    ):
        load_definition(path)


def test_utf_8_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "cohort.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(VALID).encode("utf-8"))
    assert load_definition(path).name == "tiny"


def test_control_character_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: tiny\ndescription: a\x07b\n")
    expected = _says(path, r"character #x0007 at line 2 is not allowed in YAML")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "--- ~\n"], ids=repr)
def test_file_without_content_says_it_is_empty(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DefinitionError, match=_says(path, "the file is empty")):
        load_definition(path)


@pytest.mark.parametrize(
    ("text", "got"),
    [("- name: tiny\n", "a list"), ("tiny\n", "text"), ("365\n", "a whole number")],
    ids=["list", "text", "number"],
)
def test_top_level_value_that_is_not_a_mapping_says_what_it_is(
    tmp_path: Path, text: str, got: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DefinitionError, match=_says(path, f"is a YAML mapping .*, got {got}$")):
        load_definition(path)


def test_folder_given_as_definition_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "cohorts.yaml"
    folder.mkdir()
    expected = _says(folder, "is a folder, not a cohort definition file")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(folder)


def test_two_documents_in_one_file_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: tiny\n---\nname: other\n")
    expected = _says(path, r"malformed YAML at line 2, column 1: but found another document")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_deep_nesting_is_refused_before_python_recursion_fails(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: " + "[" * 5000 + "]" * 5000 + "\n")
    expected = _says(path, r"malformed YAML at line 1, column \d+: nested more than 64 levels deep")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_alias_bomb_fails_fast_with_a_short_message(tmp_path: Path) -> None:
    # Nine levels of ten aliases each: a billion leaves if anything expanded them.
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    path = _write(tmp_path, "\n".join(lines) + "\nname: *a8\nconcept_sets: {x: *a8}\n")
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    message = str(raised.value)
    assert "  - name: got [[" in message
    assert "(a list), expected text" in message
    assert len(message) < 5000


def test_alias_to_itself_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: &loop [*loop]\n")
    with pytest.raises(DefinitionError, match=_says(path, r"name: got \[\[\.\.\.\]\] \(a list\)")):
        load_definition(path)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_text("concept_sets: {a: [1]}\nconcept_sets: {}\n"), "appears twice"),
        (
            lambda p: p.write_text(GI_BLEED.read_text().replace("max_count: 0", "max_count: no")),
            r"max_count: got 'no' \(text\), expected a whole number",
        ),
        (
            lambda p: p.write_text("censoring: {data_cutoff: 2018-02-30}\n"),
            "'2018-02-30' is not a date",
        ),
        (lambda p: p.write_bytes("label: café\n".encode("latin-1")), "not UTF-8 text"),
        (lambda p: p.write_text(""), "the file is empty"),
        (lambda p: p.write_text("- a\n- b\n"), "a cohort definition is a YAML mapping"),
        (lambda p: None, "no such cohort definition file"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_text("name: [" * 100), "nested more than 64 levels deep"),
    ],
    ids=[
        "duplicate-key",
        "max-count-no",
        "february-30",
        "latin-1",
        "empty",
        "list",
        "missing",
        "folder",
        "deep",
    ],
)
def test_cli_prints_the_message_and_exits_1_without_a_traceback(
    tmp_path: Path, write: Any, message: str
) -> None:
    path = tmp_path / "cohort.yaml"
    write(path)
    result = CliRunner().invoke(main, ["cohort", "sql", str(path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert re.search(rf"(?s)^error: {re.escape(str(path))}: .*{message}", result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", sorted(COHORTS.glob("*.yaml")), ids=lambda path: path.name)
def test_shipped_cohort_means_the_same_as_pyyaml_reads_it(path: Path) -> None:
    # The shipped files use no YAML 1.1 quirk, so their meaning (and definition_hash, recorded
    # in every dataset manifest) is the one PyYAML's YAML 1.1 safe_load gave them before.
    assert load_definition(path) == parse_definition(yaml.safe_load(path.read_text("utf-8")))
